//! `cargo xtask`: build and deploy the Python backend to AWS Lambda with the SAM CLI, with
//! guards against every failure mode of the seed incident report.
//!
//! This file only parses flags and dispatches; each command lives in its own module.

mod config;
mod deploy;
mod exit;
mod guards;
mod lambda_build;
mod lambda_check;
mod local_invoke;
mod lock;
mod pipeline;
mod process;
mod redact;
mod steps;
mod template;
mod tools;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", version, about = "Build and deploy the Lambda backend with guards")]
struct Cli {
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
    /// Build, run the AWS preflight, `sam deploy`, check the deployed stack, record the attempt.
    LambdaDeploy(deploy::DeployArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    process::install_signal_handlers();
    let result = match cli.command {
        Command::LambdaBuild(args) => lambda_build::run(&args),
        Command::LambdaCheck(args) => lambda_check::run(&args),
        Command::LambdaDeploy(args) => deploy::run(&args),
    };
    exit::finish(result)
}
