//! `cargo xtask`: build and deploy the Python backend to AWS Lambda with the SAM CLI, with
//! guards against every failure mode of the seed incident report.
//!
//! This file only parses flags and dispatches; each command lives in its own module.

mod bench;
mod config;
mod exit;
mod fingerprint;
mod guards;
mod lambda_build;
mod lambda_check;
mod lock;
mod pipeline;
mod process;
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
enum Command {
    /// Copy the backend in, clean the function dir, run the guards and `sam build`.
    LambdaBuild(lambda_build::BuildArgs),
    /// Run the guards on the current tree and build output, without building.
    LambdaCheck(lambda_check::CheckArgs),
    /// Measure the speed targets side by side and write BENCHMARKS.md.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    process::install_signal_handlers();
    let result = match cli.command {
        Command::LambdaBuild(args) => lambda_build::run(&args),
        Command::LambdaCheck(args) => lambda_check::run(&args),
        Command::Bench(args) => bench::run(&args),
    };
    exit::finish(result)
}
