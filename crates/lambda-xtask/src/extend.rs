//! What a team's own xtask adds to the library without forking it: a step of its own before or
//! after one of the library's steps, a guard of its own over every built function, a command of
//! its own. The library's commands run them in their pipelines, timed and reported like their
//! own steps; `--allow` takes a team guard's name like a built-in one.
//!
//! ```no_run
//! use lambda_xtask::extend::{Xtask, Place};
//! use lambda_xtask::guards::Finding;
//!
//! fn main() -> std::process::ExitCode {
//!     Xtask::new()
//!         .step(Place::Before("sam-build"), "unit-tests", |ctx| {
//!             let sh = xshell::Shell::new()?;
//!             sh.change_dir(&ctx.root);
//!             xshell::cmd!(sh, "python3 -m pytest -q tests").run()?;
//!             Ok(())
//!         })
//!         .guard("no-test-code", |function| {
//!             let shown = format!("{}/tests", function.build_dir_shown);
//!             Ok(if function.build_dir.join("tests").is_dir() {
//!                 vec![Finding::new("no-test-code", shown, "tests ship", "slower cold starts", "move them out")]
//!             } else {
//!                 Vec::new()
//!             })
//!         })
//!         .main()
//! }
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;

use crate::guards::Finding;
use crate::project::config::Project;
use crate::project::target::Discovery;
use crate::ui::Ui;

/// Where a team step runs: before or after the library step of that name (e.g. `sam-build`,
/// `post-build-guards`, `sam-deploy`), in every command whose pipeline has that step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Before(&'static str),
    After(&'static str),
}

/// What a team step is given: the repository and each function the template builds.
#[derive(Debug, Clone)]
pub struct StepContext {
    /// The repository root (where the root Cargo.toml is).
    pub root: PathBuf,
    /// The directory sam runs in (the template's).
    pub sam_dir: PathBuf,
    pub functions: Vec<BuiltFunction>,
}

/// One function of the template, as a team guard sees it after the build.
#[derive(Debug, Clone)]
pub struct BuiltFunction {
    pub logical_id: String,
    /// `python3.12`, ...
    pub runtime: String,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    /// Its source dir (CodeUri), absolute.
    pub function_dir: PathBuf,
    /// Its build output, `.aws-sam/build/<LogicalId>`, absolute: what ships.
    pub build_dir: PathBuf,
    /// The same relative to the repository root, as a finding's `path` gives it.
    pub build_dir_shown: String,
}

impl StepContext {
    pub fn new(project: &Project, found: &Discovery) -> StepContext {
        let functions = found
            .targets
            .iter()
            .map(|t| {
                let build_dir = crate::sys::layout::artifact_dir(&project.sam_dir(), t.logical_id());
                let shown = build_dir.strip_prefix(&project.root).unwrap_or(&build_dir).display().to_string();
                BuiltFunction {
                    logical_id: t.logical_id().to_string(),
                    runtime: t.runtime.name.clone(),
                    architecture: t.template.architecture.clone(),
                    function_dir: t.function_dir.path().to_path_buf(),
                    build_dir,
                    build_dir_shown: shown,
                }
            })
            .collect();
        StepContext { root: project.root.clone(), sam_dir: project.sam_dir(), functions }
    }
}

type StepFn = dyn Fn(&StepContext) -> Result<()> + Send + Sync;
type GuardFn = dyn Fn(&BuiltFunction) -> Result<Vec<Finding>> + Send + Sync;
type CommandFn = dyn Fn(&Ui, &clap::ArgMatches) -> Result<()> + Send + Sync;

pub(crate) struct TeamStep {
    pub place: Place,
    pub name: String,
    pub run: Box<StepFn>,
}

pub(crate) struct TeamGuard {
    pub name: &'static str,
    pub check: Box<GuardFn>,
}

pub(crate) struct TeamCommand {
    pub command: clap::Command,
    pub run: Box<CommandFn>,
}

/// Everything a team added, shared by the commands of one run.
#[derive(Clone, Default)]
pub struct Extensions(Arc<Added>);

#[derive(Default)]
struct Added {
    steps: Vec<TeamStep>,
    guards: Vec<TeamGuard>,
    commands: Vec<TeamCommand>,
}

impl Extensions {
    /// The team steps placed before (or after) the library step `step`, in the order they
    /// were added.
    pub(crate) fn steps_at<'a>(&'a self, before: bool, step: &'a str) -> impl Iterator<Item = &'a TeamStep> {
        self.0.steps.iter().filter(move |s| match s.place {
            Place::Before(anchor) => before && anchor == step,
            Place::After(anchor) => !before && anchor == step,
        })
    }

    pub(crate) fn guards(&self) -> &[TeamGuard] {
        &self.0.guards
    }

    /// The team guards' names, which `--allow` accepts beside the library's.
    pub fn guard_names(&self) -> Vec<&'static str> {
        self.0.guards.iter().map(|g| g.name).collect()
    }

    pub(crate) fn commands(&self) -> &[TeamCommand] {
        &self.0.commands
    }

    pub fn is_empty(&self) -> bool {
        self.0.steps.is_empty() && self.0.guards.is_empty() && self.0.commands.is_empty()
    }
}

/// A team's xtask: the library's commands and what the team adds. [`crate::main`] is
/// `Xtask::new().main()`.
#[derive(Default)]
pub struct Xtask {
    added: Added,
}

impl Xtask {
    /// What was added, for the program to run with (`Xtask::main`, in the app module).
    pub(crate) fn into_extensions(self) -> Extensions {
        Extensions(Arc::new(self.added))
    }
}

impl Xtask {
    pub fn new() -> Xtask {
        Xtask::default()
    }

    /// A step of the team's own, timed and reported like the library's, at `place` in every
    /// command whose pipeline has that step. Its error fails the run at this step.
    pub fn step(
        mut self,
        place: Place,
        name: impl Into<String>,
        run: impl Fn(&StepContext) -> Result<()> + Send + Sync + 'static,
    ) -> Xtask {
        self.added.steps.push(TeamStep { place, name: name.into(), run: Box::new(run) });
        self
    }

    /// A guard of the team's own: run on each built function after the library's post-build
    /// guards (lambda-build, lambda-deploy, lambda-check). Its findings fail the run like a
    /// built-in guard's, and `--allow NAME` overrides them for one run. The findings' `guard`
    /// should be `name`.
    pub fn guard(
        mut self,
        name: &'static str,
        check: impl Fn(&BuiltFunction) -> Result<Vec<Finding>> + Send + Sync + 'static,
    ) -> Xtask {
        self.added.guards.push(TeamGuard { name, check: Box::new(check) });
        self
    }

    /// A command of the team's own, parsed by clap beside the library's (`cargo xtask NAME`).
    /// It gets the run's [`Ui`] for its output and its own matches.
    pub fn command(
        mut self,
        command: clap::Command,
        run: impl Fn(&Ui, &clap::ArgMatches) -> Result<()> + Send + Sync + 'static,
    ) -> Xtask {
        self.added.commands.push(TeamCommand { command, run: Box::new(run) });
        self
    }
}
