//! `cargo xtask`: build and deploy the Python backend to AWS Lambda with the SAM CLI, with
//! guards against every failure mode of the seed incident report.
//!
//! This file only parses flags and dispatches; each command lives in its own module. The
//! global flags (`--ci`, `--json`) apply to every command, so a new command gets CI mode and
//! the report without code of its own.

mod bench;
mod ci;
mod config;
mod deploy;
mod evidence;
mod exit;
mod fingerprint;
mod guards;
mod lambda_audit;
mod lambda_build;
mod lambda_check;
mod lock;
mod output;
mod pep508;
mod pipeline;
mod process;
mod progress;
mod redact;
mod report;
mod requirements_txt;
mod steps;
mod template;
mod tools;
mod wheel;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Instant, SystemTime};

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use output::Output;

#[derive(Parser)]
#[command(name = "cargo xtask", version, about = "Build and deploy the Lambda backend with guards")]
struct Cli {
    /// CI mode: never prompt, no colour or progress, GitHub annotations for findings and a
    /// step summary in $GITHUB_STEP_SUMMARY. On by itself when CI=true or GITHUB_ACTIONS=true.
    #[arg(long, global = true)]
    ci: bool,
    /// Also write a machine-readable report of the run to FILE (JSON; schema in
    /// schemas/report.v1.schema.json), whatever the outcome.
    #[arg(long, global = true, value_name = "FILE")]
    json: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::enum_variant_names)] // the variants are the command names users type: lambda-*
enum Command {
    /// Copy the backend in, clean the function dir, run the guards and `sam build`.
    LambdaBuild(lambda_build::BuildArgs),
    /// Run the guards on the current tree and build output, without building.
    LambdaCheck(lambda_check::CheckArgs),
    /// Measure the speed targets side by side and write BENCHMARKS.md.
    Bench(bench::BenchArgs),
    /// Build, run the AWS preflight, `sam deploy`, check the deployed stack, record the attempt.
    LambdaDeploy(deploy::DeployArgs),
    /// Check the audit log's hash chain, or show its attempts as a table.
    LambdaAudit(lambda_audit::AuditArgs),
}

fn main() -> ExitCode {
    let started_at = SystemTime::now();
    let started = Instant::now();
    let matches = Cli::command().get_matches();
    // The subcommand's name as typed, so commands added later are named in reports unasked.
    let command_name = matches.subcommand_name().unwrap_or_default().to_string();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    output::init(Output::detect(
        cli.ci,
        cli.json.clone(),
        |name| std::env::var(name).ok(),
        output::stderr_is_terminal(),
    ));

    if let Err(bad_destination) = check_report_destination() {
        // Like clap's own usage errors: one line, exit 2, and no report (it has nowhere to go).
        return exit::finish(Err(bad_destination));
    }
    process::install_signal_handlers();
    // Whatever echoes a credential (an error chain, a child's output) must not print it.
    redact::register_credentials_from_env();
    let result = match cli.command {
        Command::LambdaBuild(args) => lambda_build::run(&args),
        Command::LambdaCheck(args) => lambda_check::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::LambdaDeploy(args) => deploy::run(&args),
        Command::LambdaAudit(args) => lambda_audit::run(&args),
    };
    let result = report::conclude(&command_name, started_at, started.elapsed(), result);
    exit::finish(result)
}

/// `--json` must name a file in an existing directory: checked before anything runs, so a typo
/// is bad usage rather than a finished build whose report is lost.
fn check_report_destination() -> Result<()> {
    let Some(path) = &output::get().json_report else {
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
