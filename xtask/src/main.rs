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
    let ui = match session.set_up(&cli) {
        Ok(ui) => ui,
        Err(bad_usage) => return exit::finish(Err(bad_usage)),
    };
    let result = match &cli.command {
        Command::LambdaBuild(args) => commands::build::run(&ui, args),
        Command::LambdaCheck(args) => commands::check::run(&ui, args),
        Command::LambdaInit(args) => commands::init::run(args).map(|()| Finished::without_pipeline()),
        Command::Bench(args) => commands::bench::run(&ui, args),
        Command::LambdaDeploy(args) => commands::deploy::run(&ui, args),
        Command::LambdaAudit(args) => commands::audit::run(args),
        Command::LambdaDoctor(args) => commands::doctor::run(&ui, args),
    };
    session.conclude(&ui, cli.command.name(), result)
}
