//! The deploy audit log: one JSON line per attempt (succeeded, failed, aborted by a check,
//! interrupted), appended to the file named in the config, and before `sam deploy` starts a
//! `started` line for the same attempt: a run killed while sam changes the stack (kill -9, a
//! lost machine) still leaves its record. It records who deployed what, where, from which
//! commit and how each step went; it never holds a secret value.
//!
//! The line is written by the hash-chained log of `evidence::audit_log`: one `write` under an
//! exclusive lock, synced, carrying the SHA-256 of the line before it.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::run::record::{Outcome, StepRecord};

/// Bumped when a field changes meaning, so readers of old logs can tell. 2: `started` lines
/// and `attempt_id`; `approval.via` says how the deploy was confirmed (`terminal` now means the
/// environment's name was typed back); `remote_branches`; every line is chained.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptResult {
    /// Written just before `sam deploy` starts; the attempt's own line follows when it ends.
    /// A `started` line with no later line of its `attempt_id` is a run that never ended.
    Started,
    /// Deployed (or, with --dry-run, the change set was created) and every check passed.
    Succeeded,
    /// A check stopped the deploy before `sam deploy` changed anything.
    Aborted,
    /// A step failed: the build, sam deploy, an aws call or a post-deploy check.
    Failed,
    /// SIGINT or SIGTERM stopped the run.
    Interrupted,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditStep {
    pub name: String,
    pub outcome: &'static str,
    pub duration_ms: u64,
}

/// One attempt. Serialisable as is, so the JSON report of the CI mode can embed it.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    pub schema: u32,
    /// Shared by an attempt's `started` line and its final line.
    pub attempt_id: String,
    pub started_at: String,
    /// `None` in a `started` line.
    pub ended_at: Option<String>,
    pub env: String,
    pub stack: String,
    pub region: Option<String>,
    /// The account the credentials belong to (from sts), when it was asked.
    pub account: Option<String>,
    /// The caller's ARN (from sts): who deployed.
    pub deployer: Option<String>,
    pub commit: Option<String>,
    pub dirty: Option<bool>,
    /// The remote branches (as git's remote-tracking refs know them) that contain `commit`:
    /// empty when none does, `None` when that cannot be told (no commit, no git).
    pub remote_branches: Option<Vec<String>>,
    pub xtask_version: &'static str,
    pub dry_run: bool,
    /// Against the local AWS of the rehearsal rather than a real account.
    pub rehearsal: bool,
    pub ci: bool,
    pub change_set_id: Option<String>,
    /// True when sam found nothing to change.
    pub no_changes: Option<bool>,
    /// Which post-deploy check ran, on what, with what answer; `None` when none was reached.
    pub health_check: Option<super::health::HealthRecord>,
    pub steps: Vec<AuditStep>,
    pub result: AttemptResult,
    /// `None` in a `started` line.
    pub exit_status: Option<u8>,
    /// The failure, one line, scrubbed of secrets.
    pub error: Option<String>,
    /// Artifact digests and SBOMs, the approver, the deployed CodeSha256 (issue 14).
    #[serde(flatten)]
    pub evidence: crate::evidence::AttemptEvidence,
}

pub fn audit_steps(steps: &[StepRecord]) -> Vec<AuditStep> {
    steps
        .iter()
        .map(|step| AuditStep {
            name: step.name.clone(),
            outcome: match step.outcome {
                Outcome::Ok => "ok",
                Outcome::Failed => "failed",
                Outcome::Interrupted => "interrupted",
            },
            duration_ms: step.duration.as_millis() as u64,
        })
        .collect()
}

/// An id for one attempt, unique enough to pair its `started` line with its final line:
/// the start time to the nanosecond, the process and the machine, hashed.
pub fn attempt_id(started_at: SystemTime) -> String {
    let nanos = started_at.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let seed = format!("{nanos}/{}/{}", std::process::id(), host.trim());
    crate::evidence::digest::sha256_hex(seed.as_bytes())[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::audit_log::LogPath;

    fn record(result: AttemptResult) -> AuditRecord {
        AuditRecord {
            schema: SCHEMA_VERSION,
            attempt_id: "0123456789abcdef".into(),
            started_at: "s".into(),
            ended_at: Some("e".into()),
            env: "dev".into(),
            stack: "stack".into(),
            region: Some("us-east-1".into()),
            account: None,
            deployer: None,
            commit: None,
            dirty: None,
            remote_branches: None,
            xtask_version: "0.1.0",
            dry_run: false,
            rehearsal: false,
            ci: false,
            change_set_id: None,
            no_changes: None,
            health_check: None,
            steps: vec![],
            result,
            exit_status: Some(1),
            error: Some("x".into()),
            evidence: Default::default(),
        }
    }

    fn log_in(dir: &std::path::Path, relative: &str) -> LogPath {
        LogPath::check_appendable(dir, std::path::Path::new(relative)).unwrap()
    }

    #[test]
    fn every_line_is_written_chained() {
        // verify refuses a line of this schema without chain fields: it must never write one.
        assert!(u64::from(SCHEMA_VERSION) >= crate::evidence::audit_log::FIRST_CHAINED_SCHEMA);
    }

    #[test]
    fn an_unwritable_log_is_bad_input_before_anything() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("log-dir")).unwrap();
        let err = LogPath::check_appendable(dir.path(), std::path::Path::new("log-dir")).unwrap_err();
        assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
        assert!(err.to_string().contains("is a directory"), "{err}");

        std::fs::write(dir.path().join("file"), "").unwrap();
        let err = LogPath::check_appendable(dir.path(), std::path::Path::new("file/log.jsonl")).unwrap_err();
        assert!(err.to_string().contains("file is not a directory"), "{err}");

        log_in(dir.path(), "new/deeper/log.jsonl");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "the probe left something behind");
    }

    #[test]
    fn each_append_adds_one_parseable_line() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_in(dir.path(), "logs/deploy.jsonl");
        log.append(&record(AttemptResult::Started)).unwrap();
        log.append(&record(AttemptResult::Interrupted)).unwrap();
        let text = std::fs::read_to_string(log.path()).unwrap();
        let results: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["result"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(results, ["started", "interrupted"]);
    }

    #[test]
    fn concurrent_appends_never_interleave() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_in(dir.path(), "deploy.jsonl");
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut big = record(AttemptResult::Failed);
                    big.error = Some("e".repeat(20_000));
                    for _ in 0..10 {
                        log.append(&big).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert_eq!(text.lines().count(), 80);
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }

    #[test]
    fn attempt_ids_differ_between_attempts() {
        let now = SystemTime::now();
        assert_eq!(attempt_id(now).len(), 16);
        assert_ne!(attempt_id(now), attempt_id(now + std::time::Duration::from_nanos(1)));
    }
}
