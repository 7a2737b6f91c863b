//! `lambda-xtask`: build and deploy a Python backend to AWS Lambda with the SAM CLI, with
//! guards that stop the classic broken deploy before any damage. A repository's `cargo xtask`
//! is a thin binary over this library: its `main` calls [`main`].
//!
//! The modules form a tree (checked by the `module_tree` test): `commands` use the shared
//! modules below them, and no shared module imports a command.
//!
//! - [`cli`]: every flag and command name, as clap parses them;
//! - [`commands`]: one module per command;
//! - [`extend`]: what a team's own xtask adds: steps, guards and commands of its own;
//! - [`run`]: the record of a run (exit statuses, steps, findings) and the pipeline;
//! - [`render`]: pure text from that record: the JSON report, GitHub annotations, the summary;
//! - [`ui`]: how the run talks to a terminal or a CI job;
//! - [`guards`]: pure checks from files to findings;
//! - [`evidence`]: artifact digests, SBOMs, packages and the chained audit log (issue 14);
//! - [`build`]: the build's machinery (copy, clean, sam build, fingerprint);
//! - [`project`]: the repository's configuration, layout, template and samconfig;
//! - [`python`]: parsers for Python's packaging formats;
//! - [`aws`]: the aws CLI and the local AWS (moto);
//! - [`diagnosis`]: lambda-doctor's signatures and readers, shared with lambda-deploy;
//! - [`sys`]: processes, signals, locks, redaction, tools, owned directories, atomic writes.

#![deny(clippy::print_stdout, clippy::print_stderr)]

// Everything this crate prints goes through the `Ui` (`ui::say`): `say!` is a line on stderr,
// `say_out!` one on stdout, written to the Ui the command runs under (a test's capture, or the
// process's streams) and scrubbed of registered secrets and of credentials in URLs on the way,
// whoever adds the line. std's print macros are denied by clippy outside `ui.rs`.
macro_rules! say {
    () => { $crate::ui::say(false, format_args!("")) };
    ($($arg:tt)*) => { $crate::ui::say(false, format_args!($($arg)*)) };
}

macro_rules! say_out {
    () => { $crate::ui::say(true, format_args!("")) };
    ($($arg:tt)*) => { $crate::ui::say(true, format_args!($($arg)*)) };
}

pub mod aws;
pub mod build;
pub mod cli;
pub mod commands;
pub mod diagnosis;
pub mod evidence;
pub mod guards;
pub mod project;
pub mod python;
pub mod render;
pub mod run;
pub mod sys;
pub mod ui;

mod app;
pub mod extend;
mod version;

pub use version::VERSION;

/// The whole program: parses the flags, builds the [`ui::Ui`], dispatches, concludes (the
/// `--json` report, the CI step summary, the exit status). A team that adds steps, guards or
/// commands of its own calls [`extend::Xtask`]'s `main` instead.
pub fn main() -> std::process::ExitCode {
    extend::Xtask::new().main()
}
