//! What a run observed, as data: each step's outcome and duration, the findings of its guard
//! steps, the step that failed, the error, and the deploy record. The pipeline fills it in;
//! `run::report` and `run::github` turn it into the report and the step summary.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::guards::Finding;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
    Interrupted,
}

#[derive(Debug, Clone)]
pub struct StepRecord {
    pub name: String,
    pub outcome: Outcome,
    pub duration: Duration,
}

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

/// What a command hands back: its pipeline's record and how the pipeline ended. The pipeline
/// has printed its failure (the error keeps its whole chain, for the exit status and the
/// report); an `Err` in place of a `Finished` is a failure before any step, not yet printed.
#[derive(Debug)]
pub struct Finished {
    pub record: RunRecord,
    pub result: anyhow::Result<()>,
}

impl Finished {
    /// A command that ran no pipeline (`--dry-run`, an up-to-date build, `bench`) and
    /// succeeded.
    pub fn without_pipeline() -> Finished {
        Finished { record: RunRecord::default(), result: Ok(()) }
    }

    /// A command that ran no pipeline and has already printed why it failed (exit 1, nothing
    /// printed after it): `lambda-audit verify` naming the first broken line.
    pub fn failed_as_printed(why: &str) -> Finished {
        Finished { record: RunRecord::default(), result: Err(anyhow::anyhow!("{why}")) }
    }
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
            crate::sys::exit::BAD_INPUT => RunOutcome::BadInput,
            crate::sys::exit::INTERRUPTED => RunOutcome::Interrupted,
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

pub fn seconds(duration: Duration) -> String {
    format!("{:.2}s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_follows_the_exit_status() {
        assert_eq!(RunOutcome::from_status(0), RunOutcome::Succeeded);
        assert_eq!(RunOutcome::from_status(1), RunOutcome::Failed);
        assert_eq!(RunOutcome::from_status(2), RunOutcome::BadInput);
        assert_eq!(RunOutcome::from_status(130), RunOutcome::Interrupted);
    }
}
