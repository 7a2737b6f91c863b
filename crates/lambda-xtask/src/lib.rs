//! `lambda-xtask`: build and deploy a Python backend to AWS Lambda with the SAM CLI, with
//! guards that stop the classic broken deploy before any damage. A repository's `cargo xtask`
//! is a thin binary over this library: its `main` calls [`main`].
//!
//! The modules form layers (checked by the `module_tree` test): each folder imports only the
//! ones below it in this list, and no shared module imports a command.
//!
//! - [`commands`]: one module per command;
//! - [`cli`]: every flag and command name, as clap parses them;
//! - [`diagnosis`]: lambda-doctor's signatures and readers, shared with lambda-deploy;
//! - [`run`]: the record of a run (steps, findings), the pipeline, and its renderings: the
//!   JSON report, GitHub annotations, the step summary;
//! - [`extend`]: what a team's own xtask adds: steps, guards and commands of its own;
//! - [`build`]: the build's machinery (copy, clean, sam build, fingerprint);
//! - [`evidence`]: artifact digests, SBOMs, packages and the chained audit log;
//! - [`guards`]: pure checks from files to findings;
//! - [`aws`]: the aws CLI and the local AWS (moto);
//! - [`project`]: the repository's configuration, template, samconfig, runtimes and targets;
//! - [`python`]: parsers for Python's packaging formats;
//! - [`ui`]: how the run talks to a terminal or a CI job;
//! - [`sys`]: processes, signals, locks, the filesystem layer, redaction, tools, owned
//!   directories, atomic writes, exit statuses, quoting, time formatting.

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
