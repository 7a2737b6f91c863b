//! How a run begins and ends, for every command alike: the output decisions and the signal
//! handlers before it, and after it the `--json` report, the CI step summary and the exit
//! status, from the pipeline's record (or an empty one when no pipeline ran).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};

use crate::bad_input;
use crate::run::github;
use crate::run::record::{Conclusion, Finished, RunRecord};
use crate::run::report::Report;
use crate::sys::atomic::write_atomically;
use crate::sys::exit::{error_text, status_of, BAD_INPUT};
use crate::sys::{process, redact};
use crate::ui::{stderr_is_terminal, Output, Ui};

/// A run of one command, from before its flags were parsed.
pub struct Session {
    started_at: SystemTime,
    started: Instant,
}

impl Session {
    pub fn start() -> Session {
        Session { started_at: SystemTime::now(), started: Instant::now() }
    }

    /// Decides how the run talks (the global flags, the environment), checks `--json`, and
    /// installs the signal handlers. An error is bad usage, to end the run with no report.
    pub fn set_up(&self, ci: bool, json: Option<PathBuf>) -> Result<Ui> {
        let ui = Ui::new(Output::detect(ci, json, |name| std::env::var(name).ok(), stderr_is_terminal()));
        ui.install();
        // Like clap's own usage errors: one line, exit 2, and no report (it has nowhere to go).
        check_report_destination(ui.output())?;
        process::install_signal_handlers();
        // Whatever echoes a credential (an error chain, a child's output) must not print it.
        redact::register_credentials_from_env();
        Ok(ui)
    }

    /// Writes the report and the step summary from what the command handed back, prints
    /// what is left to print, and gives the exit status.
    pub fn conclude(self, ui: &Ui, command: &str, outcome: Result<Finished>) -> ExitCode {
        conclude(ui, command, self.started_at, self.started.elapsed(), outcome)
    }
}

/// `--json` must name a file in an existing directory: checked before anything runs, so a typo
/// is bad usage rather than a finished build whose report is lost.
fn check_report_destination(output: &Output) -> Result<()> {
    // The report replaces its file and the step summary appends Markdown to it: either would
    // destroy an audit log's attempts, which nothing can restore.
    for (name, path) in [("--json", output.json_report.as_ref()), ("GITHUB_STEP_SUMMARY", output.step_summary.as_ref())]
    {
        if let Some(path) = path.filter(|path| is_audit_log(path)) {
            bad_input!(
                "{name} {}: is a deploy audit log (its lines carry line_sha256), which this run would overwrite; name another file, e.g. --json lambda-report.json",
                path.display()
            )
        }
    }
    let Some(path) = &output.json_report else {
        return Ok(());
    };
    if path.is_dir() {
        bad_input!("--json {}: is a directory; name a file, e.g. --json lambda-report.json", path.display())
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = parent.filter(|dir| !dir.is_dir()) {
        bad_input!("--json {}: directory {} does not exist; create it first", path.display(), dir.display())
    }
    Ok(())
}

/// A regular file whose first MiB holds a chained audit line. Never opens anything else (a
/// FIFO would block).
fn is_audit_log(path: &Path) -> bool {
    let Ok(start) = crate::sys::beneath::read_start(path, 1 << 20) else { return false };
    memchr::memmem::find(&start, b"\"line_sha256\":\"").is_some()
}

/// Ends a command: writes the `--json` report and, in CI mode, appends the step summary,
/// both from the pipeline's record (an empty one when no pipeline ran) and the final exit
/// status. A report that cannot be written fails a run that had succeeded; a step summary
/// that cannot be appended only warns (the job's log still has everything).
fn conclude(ui: &Ui, command: &str, started_at: SystemTime, duration: Duration, outcome: Result<Finished>) -> ExitCode {
    let out = ui.output();
    let (run, result, printed) = match outcome {
        Ok(Finished { record, result }) => (record, result, true),
        Err(err) => {
            // Failed before any pipeline: bad input, or an error setting up. Printed below,
            // after the report, as the last line.
            let error = error_text(&err);
            if out.ci && status_of(&err) != BAD_INPUT {
                ui.emit(&github::failure_annotation(command, None, &error));
            }
            (RunRecord { error: Some(error), ..RunRecord::default() }, Err(err), false)
        }
    };
    let exit_status = match &result {
        Ok(()) => 0,
        Err(err) => status_of(err),
    };
    if exit_status != BAD_INPUT {
        crate::sys::interpreters::keep_probes();
    }
    let conclusion = Conclusion { command: command.to_string(), ci: out.ci, started_at, duration, exit_status, run };

    if let Some(summary_path) = &out.step_summary {
        if let Err(err) = append_step_summary(summary_path, &github::step_summary(&conclusion)) {
            ui.warn(format_args!("{err:#}"));
        }
    }
    if let Some(report_path) = &out.json_report {
        let written = Report::new(&conclusion).to_json().and_then(|text| write_atomically(report_path, &text));
        if let Err(err) = written {
            let err = err.context(format!("writing the report {}", report_path.display()));
            if result.is_ok() {
                return fail(ui, err);
            }
            ui.error(format_args!("{err:#}"));
        }
    }
    match result {
        Err(err) if !printed => fail(ui, err),
        Err(err) => ExitCode::from(status_of(&err)),
        Ok(()) => ExitCode::SUCCESS,
    }
}

/// Prints a failure nothing has printed yet, as the last line, and gives its exit status.
fn fail(ui: &Ui, err: anyhow::Error) -> ExitCode {
    ui.error(error_text(&err));
    ExitCode::from(status_of(&err))
}

/// Appends the summary to `$GITHUB_STEP_SUMMARY`; other steps of the job append there too.
pub fn append_step_summary(path: &Path, markdown: &str) -> Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening the step summary {}", path.display()))?;
    file.write_all(markdown.as_bytes()).with_context(|| format!("appending to the step summary {}", path.display()))
}
