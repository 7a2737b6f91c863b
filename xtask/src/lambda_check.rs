//! `cargo xtask lambda-check`: the guards on the current tree, without building or changing
//! anything. On a fresh clone it reports what lambda-build's steps would have to fix.

use anyhow::Result;
use clap::Args;

use crate::config::Project;
use crate::guards;
use crate::lambda_build::resolve_targets;
use crate::pipeline::Pipeline;
use crate::template::Template;

#[derive(Debug, Args)]
pub struct CheckArgs {}

pub fn run(_args: &CheckArgs) -> Result<()> {
    let project = Project::discover()?;
    let template = Template::load(&project.template_path(), &project.config.template.display().to_string())?;
    let targets = resolve_targets(&project, &template)?;
    let mut pipeline = Pipeline::new("lambda-check");
    let result = pipeline.guard_step("source-guards", || {
        Ok(targets.iter().flat_map(|target| guards::source::check(&target.source(&project))).collect())
    });
    pipeline.finish(result)
}
