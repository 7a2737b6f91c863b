//! The deploy audit log: one JSON line per attempt (succeeded, failed, aborted by a check,
//! interrupted), appended to the file named in the config. It records who deployed what,
//! where, from which commit and how each step went; it never holds a secret value.
//!
//! The line is written by the hash-chained log of `evidence::audit_log`: one `write` under an
//! exclusive lock, synced, carrying the SHA-256 of the line before it.

use std::fs::OpenOptions;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use serde::Serialize;

use crate::run::record::{Outcome, StepRecord};

/// Bumped when a field changes meaning, so readers of old logs can tell.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptResult {
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
    pub started_at: String,
    pub ended_at: String,
    pub env: String,
    pub stack: String,
    pub region: Option<String>,
    /// The account the credentials belong to (from sts), when it was asked.
    pub account: Option<String>,
    /// The caller's ARN (from sts): who deployed.
    pub deployer: Option<String>,
    pub commit: Option<String>,
    pub dirty: Option<bool>,
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
    pub exit_status: u8,
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

/// Bad input unless the audit log can be appended to: found only after `sam deploy`, an
/// unwritable log (a directory, read-only, immutable) would leave a changed stack with no
/// record of it. Changes nothing: a missing log's nearest existing dir is probed with a temp
/// file that is removed at once.
pub fn check_appendable(log: &Path, shown: &str) -> Result<()> {
    let fix = "make it writable, or set log in [workspace.metadata.lambda.deploy] to a file you can append to";
    match std::fs::symlink_metadata(log) {
        Ok(meta) if meta.is_dir() => {
            crate::bad_input!("the audit log {shown} is a directory, not a file: remove it, or set log in [workspace.metadata.lambda.deploy] to a file")
        }
        Ok(_) => match OpenOptions::new().append(true).open(log) {
            Ok(_) => Ok(()),
            Err(err) => crate::bad_input!("the audit log {shown} cannot be appended to ({err}): {fix}"),
        },
        Err(_) => {
            let mut dir = log.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            while std::fs::symlink_metadata(dir).is_err() {
                dir = dir.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            }
            if !dir.is_dir() {
                crate::bad_input!(
                    "the audit log {shown} cannot be created: {} is not a directory; {fix}",
                    dir.display()
                )
            }
            match tempfile::Builder::new().prefix(".xtask-audit-probe").tempfile_in(dir) {
                Ok(_) => Ok(()),
                Err(err) => {
                    crate::bad_input!("the audit log {shown} cannot be created in {} ({err}): {fix}", dir.display())
                }
            }
        }
    }
}

/// Appends the record as the next line of the hash-chained log; returns the line.
pub fn append(log: &Path, record: &AuditRecord) -> Result<String> {
    crate::evidence::audit_log::append(log, record)
}

/// `2026-01-08T14:03:09.123Z`: RFC 3339 in UTC, milliseconds.
pub fn utc_text(time: SystemTime) -> String {
    let millis = time.duration_since(UNIX_EPOCH).unwrap_or_default().subsec_millis();
    let seconds = crate::render::time::rfc3339_utc(time);
    format!("{}.{millis:03}Z", seconds.trim_end_matches('Z'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utc_text_formats_known_instants() {
        assert_eq!(utc_text(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc_text(UNIX_EPOCH + Duration::from_millis(951_782_400_250)), "2000-02-29T00:00:00.250Z");
        assert_eq!(utc_text(UNIX_EPOCH + Duration::from_secs(1_767_830_400 + 3_723)), "2026-01-08T01:02:03.000Z");
    }

    fn record(result: AttemptResult) -> AuditRecord {
        AuditRecord {
            schema: SCHEMA_VERSION,
            started_at: "s".into(),
            ended_at: "e".into(),
            env: "dev".into(),
            stack: "stack".into(),
            region: Some("us-east-1".into()),
            account: None,
            deployer: None,
            commit: None,
            dirty: None,
            xtask_version: "0.1.0",
            dry_run: false,
            rehearsal: false,
            ci: false,
            change_set_id: None,
            no_changes: None,
            health_check: None,
            steps: vec![],
            result,
            exit_status: 1,
            error: Some("x".into()),
            evidence: Default::default(),
        }
    }

    #[test]
    fn an_unwritable_log_is_bad_input_before_anything() {
        let dir = tempfile::tempdir().unwrap();
        let as_dir = dir.path().join("log-dir");
        std::fs::create_dir(&as_dir).unwrap();
        let err = check_appendable(&as_dir, "log-dir").unwrap_err();
        assert_eq!(crate::run::exit::status_of(&err), crate::run::exit::BAD_INPUT);
        assert!(err.to_string().contains("is a directory"), "{err}");

        let under_a_file = dir.path().join("file");
        std::fs::write(&under_a_file, "").unwrap();
        let err = check_appendable(&under_a_file.join("log.jsonl"), "file/log.jsonl").unwrap_err();
        assert!(err.to_string().contains("is not a directory"), "{err}");

        assert!(check_appendable(&dir.path().join("new/deeper/log.jsonl"), "log").is_ok());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "the probe left something behind");
    }

    #[test]
    fn each_append_adds_one_parseable_line() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("logs/deploy.jsonl");
        append(&log, &record(AttemptResult::Aborted)).unwrap();
        append(&log, &record(AttemptResult::Interrupted)).unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        let results: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["result"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(results, ["aborted", "interrupted"]);
    }

    #[test]
    fn concurrent_appends_never_interleave() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("deploy.jsonl");
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut big = record(AttemptResult::Failed);
                    big.error = Some("e".repeat(20_000));
                    for _ in 0..10 {
                        append(&log, &big).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(text.lines().count(), 80);
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }
}
