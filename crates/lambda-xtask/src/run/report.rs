//! What a run did, for machines: the `--json FILE` report, and the record the CI step summary
//! is rendered from.
//!
//! The report's shape is versioned: `schema_version` is the major version of
//! `schemas/report.v1.schema.json`, which every report validates against (tested). Adding an
//! optional field keeps the version; renaming, removing or retyping one bumps it and adds a
//! new schema file beside the old one.
//!
//! `run::conclude` writes it once per run, with the final exit status, for every command,
//! including those that fail before any step or run none (`--dry-run`).

use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::guards::Finding;
use crate::run::record::{Conclusion, Outcome, RunOutcome, StepFinding};
use crate::sys::redact::scrub as mask_credentials;
use crate::sys::time::rfc3339_utc;

/// The major version of the report format; `schemas/report.v<N>.schema.json` describes it.
pub const SCHEMA_VERSION: u32 = 1;

// The report's JSON shape. Field names and meanings are the schema's; change both together.

#[derive(Debug, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: ToolEntry,
    pub command: String,
    pub ci: bool,
    /// UTC, RFC 3339, to the second.
    pub started_at: String,
    pub duration_seconds: f64,
    pub steps: Vec<StepEntry>,
    pub findings: Vec<FindingEntry>,
    pub result: ResultEntry,
    /// The deploy audit record, for commands that deploy; null otherwise.
    pub deploy: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct ToolEntry {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Serialize)]
pub struct StepEntry {
    pub name: String,
    pub outcome: &'static str,
    pub duration_seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct FindingEntry {
    pub step: String,
    pub guard: String,
    /// Relative to the repository root.
    pub path: String,
    pub line: Option<u32>,
    /// The whole finding as one text: problem, symptom and fix (what the CI annotation shows).
    pub message: String,
    pub problem: String,
    pub symptom: String,
    pub fix: String,
}

#[derive(Debug, Serialize)]
pub struct ResultEntry {
    pub outcome: RunOutcome,
    pub exit_status: u8,
    pub failed_step: Option<String>,
    /// The error as printed, for a run that did not succeed.
    pub error: Option<String>,
}

/// The text that describes a finding in one place: annotation, report and summary.
pub fn finding_message(finding: &Finding) -> String {
    format!("{}\nbreaks: {}\nfix: {}", finding.problem, finding.symptom, finding.fix)
}

impl Report {
    pub fn new(conclusion: &Conclusion) -> Report {
        let run = &conclusion.run;
        Report {
            schema_version: SCHEMA_VERSION,
            tool: ToolEntry { name: "lambda-xtask", version: crate::version::VERSION },
            command: conclusion.command.clone(),
            ci: conclusion.ci,
            started_at: rfc3339_utc(conclusion.started_at),
            duration_seconds: millis(conclusion.duration),
            steps: run
                .steps
                .iter()
                .map(|step| StepEntry {
                    name: step.name.clone(),
                    outcome: match step.outcome {
                        Outcome::Ok => "ok",
                        Outcome::Failed => "failed",
                        Outcome::Interrupted => "interrupted",
                    },
                    duration_seconds: millis(step.duration),
                })
                .collect(),
            findings: run
                .findings
                .iter()
                .map(|StepFinding { step, finding }| FindingEntry {
                    step: step.clone(),
                    guard: finding.guard.to_string(),
                    path: finding.path.clone(),
                    line: finding.line,
                    message: finding_message(finding),
                    problem: finding.problem.clone(),
                    symptom: finding.symptom.clone(),
                    fix: finding.fix.clone(),
                })
                .collect(),
            result: ResultEntry {
                outcome: conclusion.outcome(),
                exit_status: conclusion.exit_status,
                failed_step: run.failed_step.clone(),
                error: run.error.clone(),
            },
            deploy: run.deploy.clone(),
        }
    }

    /// Pretty JSON with every known credential value masked.
    pub fn to_json(&self) -> Result<String> {
        let text = serde_json::to_string_pretty(self).context("serialising the report")?;
        Ok(mask_credentials(&text) + "\n")
    }
}

/// Seconds, rounded to the millisecond: finer figures are noise.
fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_credentials_scrubs_every_registered_value() {
        crate::sys::redact::register("canary-mask-7c1e-credential");
        let masked = mask_credentials("{\"error\": \"denied for canary-mask-7c1e-credential\"}");
        assert_eq!(masked, "{\"error\": \"denied for [redacted]\"}");
    }
}
