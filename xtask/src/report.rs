//! What a run did, for machines: the `--json FILE` report, and the record the CI step summary
//! is rendered from.
//!
//! The report's shape is versioned: `schema_version` is the major version of
//! `schemas/report.v1.schema.json`, which every report validates against (tested). Adding an
//! optional field keeps the version; renaming, removing or retyping one bumps it and adds a
//! new schema file beside the old one.
//!
//! A `Pipeline` hands its steps, findings and deploy record here when it finishes ([`record`]);
//! `main` then writes the report and the step summary once, with the final exit status, for
//! every command, including those that fail before any step or run none (`--dry-run`).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::ci;
use crate::exit::{status_of, BAD_INPUT};
use crate::guards::Finding;
use crate::output;
use crate::pipeline::{error_text, Outcome, StepRecord};

/// The major version of the report format; `schemas/report.v<N>.schema.json` describes it.
pub const SCHEMA_VERSION: u32 = 1;

/// A finding with the step that produced it.
#[derive(Debug, Clone)]
pub struct StepFinding {
    pub step: String,
    pub finding: Finding,
}

/// Everything a pipeline observed: its steps in order, the findings of its guard steps, the
/// step that failed, the error chain, and the deploy audit record when the command set one.
#[derive(Debug, Clone, Default)]
pub struct RunRecord {
    pub steps: Vec<StepRecord>,
    pub findings: Vec<StepFinding>,
    pub failed_step: Option<String>,
    pub error: Option<String>,
    pub deploy: Option<serde_json::Value>,
}

static RECORDED: Mutex<Option<RunRecord>> = Mutex::new(None);

/// Keeps a finished pipeline's record for `main` to report. One pipeline per command: a
/// second record replaces the first.
pub fn record(run: RunRecord) {
    *RECORDED.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(run);
}

/// The recorded run, if a pipeline finished.
pub fn take_recorded() -> Option<RunRecord> {
    RECORDED.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take()
}

/// How a run ended, as the report and the step summary state it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunOutcome {
    Succeeded,
    Failed,
    BadInput,
    Interrupted,
}

impl RunOutcome {
    pub fn from_status(status: u8) -> RunOutcome {
        match status {
            0 => RunOutcome::Succeeded,
            crate::exit::BAD_INPUT => RunOutcome::BadInput,
            crate::exit::INTERRUPTED => RunOutcome::Interrupted,
            _ => RunOutcome::Failed,
        }
    }
}

/// A finished run of one command: the record plus what only `main` knows.
#[derive(Debug, Clone)]
pub struct Conclusion {
    /// The subcommand, e.g. `lambda-build`.
    pub command: String,
    pub ci: bool,
    pub started_at: SystemTime,
    pub duration: Duration,
    pub exit_status: u8,
    pub run: RunRecord,
}

impl Conclusion {
    pub fn outcome(&self) -> RunOutcome {
        RunOutcome::from_status(self.exit_status)
    }
}

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
            tool: ToolEntry { name: "lambda-xtask", version: env!("CARGO_PKG_VERSION") },
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

/// Ends a command: writes the `--json` report and, in CI mode, appends the step summary,
/// both from the pipeline's record (or an empty one when no pipeline ran) and the final exit
/// status. A report that cannot be written fails a run that had succeeded; a step summary
/// that cannot be appended only warns (the job's log still has everything).
pub fn conclude(command: &str, started_at: SystemTime, duration: Duration, result: Result<()>) -> Result<()> {
    let out = output::get();
    let exit_status = match &result {
        Ok(()) => 0,
        Err(err) => status_of(err),
    };
    let mut run = take_recorded().unwrap_or_default();
    if let (Err(err), None) = (&result, &run.error) {
        // Failed before any pipeline: bad input, or an error setting up. The pipeline prints
        // its own failures; this one is printed by `exit::finish` after this returns.
        let error = error_text(err);
        if out.ci && exit_status != BAD_INPUT {
            ci::emit(&ci::failure_annotation(command, None, &error));
        }
        run.error = Some(error);
    }
    let conclusion = Conclusion { command: command.to_string(), ci: out.ci, started_at, duration, exit_status, run };

    if let Some(summary_path) = &out.step_summary {
        if let Err(err) = ci::append_step_summary(summary_path, &ci::step_summary(&conclusion)) {
            eprintln!("warning: {err:#}");
        }
    }
    let Some(report_path) = &out.json_report else {
        return result;
    };
    let written = Report::new(&conclusion).to_json().and_then(|text| write_atomically(report_path, &text));
    match (written, result) {
        (Ok(()), result) => result,
        (Err(err), Ok(())) => Err(err.context(format!("writing the report {}", report_path.display()))),
        (Err(err), Err(failure)) => {
            eprintln!("error: writing the report {}: {err:#}", report_path.display());
            Err(failure)
        }
    }
}

/// Seconds, rounded to the millisecond: finer figures are noise.
fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0).round() / 1000.0
}

/// `2026-01-08T14:03:09Z`. Hand-rolled (days-from-civil, Howard Hinnant's algorithm) rather
/// than a date crate: it is the only date the xtask formats.
pub fn rfc3339_utc(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest / 60 % 60, rest % 60)
}

/// `text` with every credential and registered secret replaced (see `redact`).
pub fn mask_credentials(text: &str) -> String {
    crate::redact::scrub(text)
}

/// Writes `text` to `path` so that a reader sees the old file or the whole new one, never a
/// half-written report: a temporary file in the same directory, flushed to disk, renamed.
pub fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = path.file_name().with_context(|| format!("{} names no file", path.display()))?;
    let temp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let written = (|| -> Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .with_context(|| format!("creating {}", temp.display()))?;
        file.write_all(text.as_bytes()).with_context(|| format!("writing {}", temp.display()))?;
        file.sync_all().with_context(|| format!("flushing {}", temp.display()))?;
        fs::rename(&temp, path).with_context(|| format!("renaming {} to {}", temp.display(), path.display()))
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_rfc3339() {
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        // The seed's deploy day, and a leap day.
        assert_eq!(rfc3339_utc(UNIX_EPOCH + Duration::from_secs(1_767_881_000)), "2026-01-08T14:03:20Z");
        assert_eq!(rfc3339_utc(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn outcome_follows_the_exit_status() {
        assert_eq!(RunOutcome::from_status(0), RunOutcome::Succeeded);
        assert_eq!(RunOutcome::from_status(1), RunOutcome::Failed);
        assert_eq!(RunOutcome::from_status(2), RunOutcome::BadInput);
        assert_eq!(RunOutcome::from_status(130), RunOutcome::Interrupted);
    }

    #[test]
    fn mask_credentials_scrubs_every_registered_value() {
        crate::redact::register("canary-mask-7c1e-credential");
        let masked = mask_credentials("{\"error\": \"denied for canary-mask-7c1e-credential\"}");
        assert_eq!(masked, "{\"error\": \"denied for [redacted]\"}");
    }

    #[test]
    fn atomic_write_replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        fs::write(&path, "old").unwrap();
        write_atomically(&path, "new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["report.json"]);
    }

    #[test]
    fn a_reader_polling_during_the_writes_never_sees_a_partial_report() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        // Large enough that a plain write would be seen half-done: several pages each.
        let reports: Vec<String> =
            (0..4).map(|n| serde_json::json!({ "n": n, "pad": "x".repeat(256 * 1024) }).to_string()).collect();
        write_atomically(&path, &reports[0]).unwrap();
        let done = AtomicBool::new(false);
        let reads = std::thread::scope(|scope| {
            let reader = scope.spawn(|| {
                let mut reads = 0;
                while !done.load(Ordering::SeqCst) {
                    let text = fs::read_to_string(&path).unwrap();
                    assert!(reports.contains(&text), "a partial report of {} bytes", text.len());
                    reads += 1;
                }
                reads
            });
            for round in 0..100 {
                write_atomically(&path, &reports[round % reports.len()]).unwrap();
            }
            done.store(true, Ordering::SeqCst);
            reader.join().unwrap()
        });
        assert!(reads > 0);
    }

    #[test]
    fn atomic_write_into_a_missing_directory_fails_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_atomically(&dir.path().join("missing/report.json"), "x").is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
