//! Ordered, timed steps. Each step prints a line when it starts and when it ends, with its
//! duration; a failure prints its cause and, as the very last line, the step that failed.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use crate::exit::{status_of, AlreadyReported, INTERRUPTED};
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

pub struct Pipeline {
    command: &'static str,
    started: Instant,
    pub steps: Vec<StepRecord>,
    failed_step: Option<String>,
}

impl Pipeline {
    pub fn new(command: &'static str) -> Pipeline {
        Pipeline { command, started: Instant::now(), steps: Vec::new(), failed_step: None }
    }

    /// Runs one step, timed. Its error gains the step's name as context, so the chain reads
    /// "copy-backend: copying backend/src: permission denied".
    pub fn step<T>(&mut self, name: &str, run: impl FnOnce() -> Result<T>) -> Result<T> {
        eprintln!("[{}] {name} ...", self.command);
        let started = Instant::now();
        // A signal that arrived between steps stops the pipeline before the next one starts.
        let result = crate::process::check_interrupted().and_then(|()| run());
        let duration = started.elapsed();
        let outcome = match &result {
            Ok(_) => Outcome::Ok,
            Err(err) if status_of(err) == INTERRUPTED => Outcome::Interrupted,
            Err(_) => Outcome::Failed,
        };
        match outcome {
            Outcome::Ok => eprintln!("[{}] {name} done in {}", self.command, seconds(duration)),
            Outcome::Failed => eprintln!("[{}] {name} FAILED after {}", self.command, seconds(duration)),
            Outcome::Interrupted => eprintln!("[{}] {name} INTERRUPTED after {}", self.command, seconds(duration)),
        }
        if outcome != Outcome::Ok {
            self.failed_step = Some(name.to_string());
        }
        self.steps.push(StepRecord { name: name.to_string(), outcome, duration });
        result.map_err(|err| err.context(name.to_string()))
    }

    /// Runs a guard step: findings fail it, each printed with path, symptom and fix.
    pub fn guard_step(&mut self, name: &str, run: impl FnOnce() -> Result<Vec<Finding>>) -> Result<()> {
        self.step(name, || {
            let findings = run()?;
            if findings.is_empty() {
                return Ok(());
            }
            for finding in &findings {
                eprintln!("{finding}");
            }
            let noun = if findings.len() == 1 { "finding" } else { "findings" };
            Err(anyhow!("{} {noun}: fix the above and run again", findings.len()))
        })
    }

    /// Prints the closing line. On failure the error chain comes first and the last line
    /// names the failed step; the returned error carries the exit status.
    pub fn finish(self, result: Result<()>) -> Result<()> {
        let total = seconds(self.started.elapsed());
        match result {
            Ok(()) => {
                let steps: Vec<String> = self
                    .steps
                    .iter()
                    .filter(|s| s.outcome == Outcome::Ok)
                    .map(|s| format!("{} {}", s.name, seconds(s.duration)))
                    .collect();
                eprintln!("[{}] succeeded in {total} ({})", self.command, steps.join(", "));
                Ok(())
            }
            Err(err) => {
                let status = status_of(&err);
                eprintln!("error: {err:#}");
                let verb = if status == INTERRUPTED { "was interrupted" } else { "failed" };
                match &self.failed_step {
                    Some(step) => eprintln!("error: {} {verb} at step {step} after {total}", self.command),
                    None => eprintln!("error: {} {verb} after {total}", self.command),
                }
                Err(anyhow::Error::new(AlreadyReported(status)))
            }
        }
    }
}

pub fn seconds(duration: Duration) -> String {
    format!("{:.2}s", duration.as_secs_f64())
}
