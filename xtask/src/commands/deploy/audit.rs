//! The deploy audit log: one JSON line per attempt (succeeded, failed, aborted by a check,
//! interrupted), appended to the file named in the config. It records who deployed what,
//! where, from which commit and how each step went; it never holds a secret value.
//!
//! The line is written by the hash-chained log of `evidence::audit_log`: one `write` under an
//! exclusive lock, synced, carrying the SHA-256 of the line before it.

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
