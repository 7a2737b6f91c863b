//! The program: the library's commands and a team's own, parsed together by clap, each run in
//! one [`Session`] that ends with the report, the step summary and the exit status.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command};
use crate::commands;
use crate::extend::{Extensions, Xtask};
use crate::run::conclude::Session;
use crate::run::record::Finished;

impl Xtask {
    /// Parses the command line, runs the command, and gives the exit status.
    pub fn main(self) -> ExitCode {
        run(self.into_extensions())
    }
}

fn run(extensions: Extensions) -> ExitCode {
    let session = Session::start();
    let mut parser = Cli::command();
    for team in extensions.commands() {
        parser = parser.subcommand(team.command.clone());
    }
    let matches = parser.get_matches();
    let team = matches
        .subcommand()
        .and_then(|(name, sub)| extensions.commands().iter().find(|c| c.command.get_name() == name).map(|c| (c, sub)));
    if let Some((team, sub)) = team {
        let ui = match session.set_up(matches.get_flag("ci"), matches.get_one::<PathBuf>("json").cloned()) {
            Ok(ui) => ui,
            Err(bad_usage) => return crate::sys::exit::finish(Err(bad_usage)),
        };
        let result = (team.run)(&ui, sub).map(|()| Finished::without_pipeline());
        return session.conclude(&ui, team.command.get_name(), result);
    }
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    let ui = match session.set_up(cli.ci, cli.json.clone()) {
        Ok(ui) => ui,
        Err(bad_usage) => return crate::sys::exit::finish(Err(bad_usage)),
    };
    let result = match &cli.command {
        Command::LambdaBuild(args) => commands::build::run(&ui, &extensions, args),
        Command::LambdaCheck(args) => commands::check::run(&ui, &extensions, args),
        Command::LambdaInit(args) => commands::init::run(args).map(|()| Finished::without_pipeline()),
        Command::LambdaDeploy(args) => commands::deploy::run(&ui, &extensions, args),
        Command::LambdaAudit(args) => commands::audit::run(args),
        Command::LambdaDoctor(args) => commands::doctor::run(&ui, args),
    };
    session.conclude(&ui, cli.command.name(), result)
}
