//! `cargo xtask`: parses the flags and dispatches; everything else is in the library.

use std::process::ExitCode;

use clap::Parser;

use xtask::cli::{Cli, Command};
use xtask::commands;
use xtask::run::conclude::Session;
use xtask::run::exit;
use xtask::run::record::Finished;

fn main() -> ExitCode {
    let session = Session::start();
    let cli = Cli::parse();
    if let Err(bad_usage) = session.set_up(&cli) {
        return exit::finish(Err(bad_usage));
    }
    let result = match &cli.command {
        Command::LambdaBuild(args) => commands::build::run(args),
        Command::LambdaCheck(args) => commands::check::run(args),
        Command::LambdaInit(args) => commands::init::run(args).map(|()| Finished::without_pipeline()),
        Command::Bench(args) => commands::bench::run(args),
        Command::LambdaDeploy(args) => commands::deploy::run(args),
        Command::LambdaAudit(args) => commands::audit::run(args),
        Command::LambdaDoctor(args) => commands::doctor::run(args),
    };
    session.conclude(cli.command.name(), result)
}
