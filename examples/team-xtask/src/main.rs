//! A team's own xtask over the library: what `xtask/src/main.rs` becomes when a team adds a step,
//! a guard and a command of its own, without forking anything. CI builds and runs it
//! (crates/lambda-xtask/tests/team_xtask.rs).
//!
//! - a step `unit-tests` before `sam-build`: the app's own tests (`python3 -m unittest` over
//!   `tests/` at the repository root), so a failing test stops the build before sam runs;
//! - a guard `no-test-code`: a function whose build output holds test modules ships them;
//! - a command `lambda-functions`: the template's functions, one per line.

use std::process::ExitCode;

use lambda_xtask::extend::{BuiltFunction, Place, StepContext, Xtask};
use lambda_xtask::guards::Finding;

fn main() -> ExitCode {
    Xtask::new()
        .step(Place::Before("sam-build"), "unit-tests", unit_tests)
        .guard("no-test-code", no_test_code)
        .command(clap::Command::new("lambda-functions").about("List the template's Python functions"), |ui, _| {
            let project = lambda_xtask::project::config::Project::discover()?;
            let template = lambda_xtask::project::template::Template::load(
                &project.template_path(),
                &project.config.template.display().to_string(),
            )?;
            let found = lambda_xtask::project::target::resolve_targets(&project, &template)?;
            for target in &found.targets {
                ui.line(format_args!("{} {} {}", target.logical_id(), target.runtime.name, target.dir.display()));
            }
            Ok(())
        })
        .main()
}

fn unit_tests(ctx: &StepContext) -> anyhow::Result<()> {
    if !ctx.root.join("tests").is_dir() {
        return Ok(());
    }
    let sh = xshell::Shell::new()?;
    sh.change_dir(&ctx.root);
    xshell::cmd!(sh, "python3 -m unittest discover -s tests -t .").quiet().run()?;
    Ok(())
}

fn no_test_code(function: &BuiltFunction) -> anyhow::Result<Vec<Finding>> {
    let mut findings = Vec::new();
    for entry in std::fs::read_dir(&function.build_dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name == "tests" || (name.starts_with("test_") && name.ends_with(".py")) {
            findings.push(Finding::new(
                "no-test-code",
                format!("{}/{name}", function.build_dir_shown),
                format!("function {} ships its test code {name}", function.logical_id),
                "test modules add to every cold start's unzip and import nothing the handler needs",
                "move the tests out of the function's CodeUri, e.g. into tests/ at the repository root",
            ));
        }
    }
    Ok(findings)
}
