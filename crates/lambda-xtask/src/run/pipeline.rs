//! Ordered, timed steps. Each step prints a line when it starts and when it ends, with its
//! duration; a failure prints its cause and, as the very last line, the step that failed.
//!
//! How it prints follows `ui`: colour and "still running" heartbeats on a terminal;
//! plain lines plus a GitHub annotation per guard finding in CI mode. What it observed comes
//! back from [`Pipeline::finish`], for the `--json` report and the CI step summary.

use std::time::Instant;

use anyhow::Result;

use crate::extend::{Extensions, StepContext, TeamStep};
use crate::guards::Finding;
use crate::run::github;
use crate::run::progress::{self, Heartbeat};
use crate::run::record::{seconds, Finished, Outcome, RunRecord, StepFinding, StepRecord};
use crate::sys::exit::{error_text, status_of, BAD_INPUT, INTERRUPTED};
use crate::ui::{Tone, Ui};

pub struct Pipeline {
    ui: Ui,
    command: &'static str,
    started: Instant,
    pub steps: Vec<StepRecord>,
    failed_step: Option<String>,
    findings: Vec<StepFinding>,
    deploy_record: Option<serde_json::Value>,
    /// The team's own steps and guards, and what they are given once the command knows it.
    extensions: Extensions,
    context: Option<StepContext>,
}

impl Pipeline {
    pub fn new(ui: &Ui, command: &'static str) -> Pipeline {
        Pipeline {
            ui: ui.clone(),
            command,
            started: Instant::now(),
            steps: Vec::new(),
            failed_step: None,
            findings: Vec::new(),
            deploy_record: None,
            extensions: Extensions::default(),
            context: None,
        }
    }

    /// Runs the team's steps around the library's steps of the same name, and its guards
    /// (see [`Pipeline::team_guards`]), once `context` says what the project is.
    pub fn with_extensions(mut self, extensions: &Extensions) -> Pipeline {
        self.extensions = extensions.clone();
        self
    }

    /// What the team's steps and guards are given; set by the command once it has found the
    /// template's functions (team steps anchored before that do not run).
    pub fn set_context(&mut self, context: StepContext) {
        self.context = Some(context);
    }

    /// Runs one step, timed, with the team's steps placed before and after it.
    pub fn step<T>(&mut self, name: &str, run: impl FnOnce() -> Result<T>) -> Result<T> {
        let extensions = self.extensions.clone();
        for team in extensions.steps_at(true, name) {
            self.team_step(team)?;
        }
        let value = self.timed_step(name, run)?;
        for team in extensions.steps_at(false, name) {
            self.team_step(team)?;
        }
        Ok(value)
    }

    fn team_step(&mut self, team: &TeamStep) -> Result<()> {
        let Some(context) = self.context.clone() else {
            return Ok(());
        };
        self.timed_step(&team.name, || (team.run)(&context))
    }

    /// The team's guards, each a guard step of its own over every built function, its findings
    /// passed through `enforce` (the run's `--allow`). Every guard runs even when one fails.
    pub fn team_guards(&mut self, enforce: impl Fn(Vec<Finding>) -> Vec<Finding>) -> Result<()> {
        let Some(context) = self.context.clone() else {
            return Ok(());
        };
        let extensions = self.extensions.clone();
        let mut result = Ok(());
        for guard in extensions.guards() {
            let outcome = self.guard_step(guard.name, || {
                let mut findings = Vec::new();
                for function in context.functions.iter().filter(|f| f.build_dir.is_dir()) {
                    findings.extend((guard.check)(function)?);
                }
                Ok(enforce(findings))
            });
            result = result.and(outcome);
        }
        result
    }

    /// Runs one step, timed. Its error gains the step's name as context, so the chain reads
    /// "copy-backend: copying backend/src: permission denied". On a terminal a step that runs
    /// longer than a few seconds says so every few seconds (sam's own output streams through).
    fn timed_step<T>(&mut self, name: &str, run: impl FnOnce() -> Result<T>) -> Result<T> {
        let command = self.command;
        self.ui.line(format_args!("[{command}] {name} ..."));
        let started = Instant::now();
        let heartbeat = if self.ui.output().progress {
            let step = name.to_string();
            let ui = self.ui.clone();
            Heartbeat::start(progress::HEARTBEAT_INTERVAL, self.ui.stderr_writer(), move |elapsed| {
                ui.paint(Tone::Dim, &format!("[{command}] {step} still running ({})", progress::elapsed_label(elapsed)))
            })
        } else {
            Heartbeat::off()
        };
        // A signal that arrived between steps stops the pipeline before the next one starts.
        let result = crate::sys::process::check_interrupted().and_then(|()| run());
        drop(heartbeat);
        if let Err(err) = &result {
            self.report_findings(name, err);
        }
        let duration = started.elapsed();
        let outcome = match &result {
            Ok(_) => Outcome::Ok,
            Err(err) if status_of(err) == INTERRUPTED => Outcome::Interrupted,
            Err(_) => Outcome::Failed,
        };
        match outcome {
            Outcome::Ok => self.ui.line(format_args!(
                "[{command}] {name} {} in {}",
                self.ui.paint(Tone::Ok, "done"),
                seconds(duration)
            )),
            Outcome::Failed => self.ui.line(format_args!(
                "[{command}] {name} {} after {}",
                self.ui.paint(Tone::Bad, "FAILED"),
                seconds(duration)
            )),
            Outcome::Interrupted => self.ui.line(format_args!(
                "[{command}] {name} {} after {}",
                self.ui.paint(Tone::Bad, "INTERRUPTED"),
                seconds(duration)
            )),
        }
        if outcome != Outcome::Ok {
            self.failed_step = Some(name.to_string());
        }
        self.steps.push(StepRecord { name: name.to_string(), outcome, duration });
        result.map_err(|err| err.context(name.to_string()))
    }

    /// Runs a guard step: findings fail it (see [`Findings`]).
    pub fn guard_step(&mut self, name: &str, run: impl FnOnce() -> Result<Vec<Finding>>) -> Result<()> {
        self.step(name, || Findings::fail_on(run()?, "fix the above and run again"))
    }

    /// A step that failed with [`Findings`]: each is printed with path, symptom and fix, in
    /// CI mode also emitted as a GitHub annotation on that path, and recorded for the report
    /// and the step summary.
    fn report_findings(&mut self, step: &str, err: &anyhow::Error) {
        let Some(failed) = err.chain().find_map(|cause| cause.downcast_ref::<Findings>()) else {
            return;
        };
        let ci = self.ui.ci();
        for finding in &failed.findings {
            // Scrubbed like the report: a smoke test's failure quotes what the handler
            // printed, and a handler can print a credential it read from its parent.
            self.ui.line(crate::sys::redact::scrub(&render_finding(&self.ui, finding)));
            if ci {
                self.ui.emit(&github::finding_annotation(finding));
            }
        }
        let recorded =
            failed.findings.iter().map(|finding| StepFinding { step: step.to_string(), finding: finding.clone() });
        self.findings.extend(recorded);
    }

    /// Findings that explain a failure already reported (lambda-deploy's doctor), printed and
    /// annotated like a guard step's and recorded under `step`, without failing anything more.
    pub fn explain(&mut self, step: &str, findings: Vec<Finding>) {
        let ci = self.ui.ci();
        for finding in &findings {
            self.ui.line(crate::sys::redact::scrub(&render_finding(&self.ui, finding)));
            if ci {
                self.ui.emit(&github::finding_annotation(finding));
            }
        }
        self.findings.extend(findings.into_iter().map(|finding| StepFinding { step: step.to_string(), finding }));
    }

    /// Time since the pipeline started.
    pub fn elapsed(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// Attaches the deploy audit record to this run: it becomes the report's `deploy` field
    /// (`--json`) and the "Deploy" table of the CI step summary. Call it before [`finish`],
    /// also when the deploy failed or was aborted, so the report says how far it got.
    ///
    /// The value is free-form JSON, owned by the deploy command: an object whose top-level
    /// fields read well as a table (e.g. `env`, `stack`, `region`, `account`, `commit`,
    /// `change_set_id`, `result`). It must never hold a secret value; known credential
    /// variables are masked on output as a safety net, not as a licence.
    ///
    /// [`finish`]: Pipeline::finish
    pub fn set_deploy_record(&mut self, record: serde_json::Value) {
        self.deploy_record = Some(record);
    }

    /// Prints the closing line. On failure the error chain comes first and the last line
    /// names the failed step. Returns the run's record (for the `--json` report and the CI
    /// step summary) with the result, its error chain whole.
    pub fn finish(self, result: Result<()>) -> Finished {
        let total = seconds(self.started.elapsed());
        let mut run = RunRecord {
            steps: self.steps,
            findings: self.findings,
            failed_step: self.failed_step,
            error: None,
            deploy: self.deploy_record,
        };
        match &result {
            Ok(()) => {
                let steps: Vec<String> = run
                    .steps
                    .iter()
                    .filter(|s| s.outcome == Outcome::Ok)
                    .map(|s| format!("{} {}", s.name, seconds(s.duration)))
                    .collect();
                self.ui.line(format_args!(
                    "[{}] {} in {total} ({})",
                    self.command,
                    self.ui.paint(Tone::Ok, "succeeded"),
                    steps.join(", ")
                ));
            }
            Err(err) => {
                let status = status_of(err);
                let error = error_text(err);
                // Findings already have one annotation each; any other failure gets one.
                if self.ui.ci() && run.findings.is_empty() && status != BAD_INPUT {
                    self.ui.emit(&github::failure_annotation(self.command, run.failed_step.as_deref(), &error));
                }
                self.ui.line(format_args!(
                    "{} {}",
                    self.ui.paint(Tone::Bad, "error:"),
                    crate::sys::redact::scrub(&format!("{err:#}"))
                ));
                let verb = if status == INTERRUPTED { "was interrupted" } else { "failed" };
                let last = match &run.failed_step {
                    Some(step) => format!("error: {} {verb} at step {step} after {total}", self.command),
                    None => format!("error: {} {verb} after {total}", self.command),
                };
                self.ui.line(format_args!("{}", self.ui.paint(Tone::Bad, &last)));
                run.error = Some(error);
            }
        }
        Finished { record: run, result }
    }
}

/// What fails a step that found something wrong: the findings, each with path, symptom and
/// fix, and one line for the error chain. Any step may fail with it; the pipeline then prints,
/// annotates and records each finding (a guard step is a step whose result is its findings).
#[derive(Debug)]
pub struct Findings {
    pub findings: Vec<Finding>,
    pub summary: String,
}

impl Findings {
    /// `Ok` when there are none; else fails with "N finding(s): `consequence`".
    pub fn fail_on(findings: Vec<Finding>, consequence: &str) -> Result<()> {
        if findings.is_empty() {
            return Ok(());
        }
        let noun = if findings.len() == 1 { "finding" } else { "findings" };
        let summary = format!("{} {noun}: {consequence}", findings.len());
        Findings::fail_with(findings, &summary)
    }

    /// Fails with these findings and `summary` as the error's line.
    pub fn fail_with(findings: Vec<Finding>, summary: &str) -> Result<()> {
        Err(anyhow::Error::new(Findings { findings, summary: summary.to_string() }))
    }
}

impl std::fmt::Display for Findings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary)
    }
}

impl std::error::Error for Findings {}

/// A finding as printed on stderr; the guard and path stand out in colour on a terminal.
fn render_finding(ui: &Ui, finding: &Finding) -> String {
    let place = match finding.line {
        Some(line) => format!("{}:{line}", finding.path),
        None => finding.path.clone(),
    };
    let head = format!("{} {}", ui.paint(Tone::Warn, &format!("[{}]", finding.guard)), ui.paint(Tone::Bold, &place));
    let plain = finding.to_string();
    // Same text as Display, so terminal and CI logs read alike; only the head is painted.
    match plain.split_once('\n') {
        Some((_, rest)) => format!("{head}\n{rest}"),
        None => head,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::run::record::Conclusion;
    use crate::run::report::Report;

    /// The deploy engineer's hook, end to end: a record set on the pipeline reaches the
    /// report, and a report with one validates against the committed schema.
    #[test]
    fn a_deploy_record_reaches_the_report_and_validates() {
        let mut pipeline = Pipeline::new(&Ui::capture(Default::default()).0, "lambda-deploy");
        pipeline.step("preflight", || Ok(())).unwrap();
        let record = serde_json::json!({"env": "dev", "stack": "credmate-backend-dev", "result": "failed"});
        pipeline.set_deploy_record(record.clone());
        let failed =
            pipeline.step("sam-deploy", || -> Result<()> { Err(anyhow::anyhow!("sam deploy exited with status 1")) });
        let finished = pipeline.finish(failed);
        assert!(finished.result.is_err());

        let run = finished.record;
        assert_eq!(run.deploy.as_ref(), Some(&record));
        assert_eq!(run.failed_step.as_deref(), Some("sam-deploy"));
        let conclusion = Conclusion {
            command: "lambda-deploy".to_string(),
            ci: false,
            started_at: std::time::SystemTime::now(),
            duration: Duration::from_secs(3),
            exit_status: 1,
            run,
        };
        let report: serde_json::Value = serde_json::from_str(&Report::new(&conclusion).to_json().unwrap()).unwrap();
        assert_eq!(report["deploy"], record);
        assert_eq!(report["result"]["error"], "sam-deploy: sam deploy exited with status 1");

        let schema_path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/report.v1.schema.json");
        let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
        let validator = jsonschema::draft202012::new(&schema).unwrap();
        let errors: Vec<String> = validator.iter_errors(&report).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}\n{report:#}");
    }
}
