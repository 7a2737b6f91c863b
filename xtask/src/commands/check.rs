//! `cargo xtask lambda-check`: every guard on the current tree and build output, without
//! building or changing anything. On a fresh clone it reports what lambda-build's steps would
//! have to fix. With `--dir DIR` it runs the file-level guards on any directory.

use anyhow::{Context, Result};

use crate::bad_input;
use crate::build::sam_build;
use crate::cli::{CheckArgs, LAMBDA_CHECK};
use crate::guards::allow::Allowed;
use crate::guards::runtime::LambdaRuntime;
use crate::guards::suite;
use crate::project::config::Project;
use crate::project::target::resolve_targets;
use crate::project::template::Template;
use crate::run::pipeline::Pipeline;

pub fn run(args: &CheckArgs) -> Result<()> {
    let allowed = Allowed::parse(&args.allow)?;
    if let Some(dir) = &args.dir {
        return check_directory(args, dir, &allowed);
    }
    let project = Project::discover()?;
    let template = Template::load(&project.template_path(), &project.config.template.display().to_string())?;
    crate::project::samconfig::check_for_sam_build(&project)?;
    let found = resolve_targets(&project, &template)?;
    for line in crate::project::target::describe(&found) {
        eprintln!("{line}");
    }
    // A build running now would show its half-written output to the guards: wait for it.
    let _lock = crate::sys::lock::RepoLock::acquire_if_built(&project.sam_dir())?;
    let mut pipeline = Pipeline::new(LAMBDA_CHECK);
    allowed.announce();
    // Every group runs even when an earlier one fails: a check reports everything at once.
    let pre = pipeline.guard_step("pre-build-guards", || Ok(allowed.enforce(suite::pre_build(&project, &found)?)));
    let post = pipeline.guard_step("post-build-guards", || {
        let mut missing = Vec::new();
        let mut notices = Vec::new();
        let findings = suite::post_build(&project, &found, &mut missing, &mut notices)?;
        for notice in notices {
            eprintln!("{notice}");
        }
        for artifact in missing {
            eprintln!("notice: no build output at {artifact}: its post-build guards and smoke test did not run (cargo xtask lambda-build makes it)");
        }
        Ok(allowed.enforce(findings))
    });
    let smoke = pipeline.guard_step("smoke-test", || {
        let (findings, notes) = suite::smoke_test(&project, &found, sam_build::docker_answers)?;
        for note in notes {
            eprintln!("{}", crate::sys::redact::scrub(&note));
        }
        Ok(allowed.enforce(findings))
    });
    pipeline.finish(pre.and(post).and(smoke))
}

fn check_directory(args: &CheckArgs, dir: &std::path::Path, allowed: &Allowed) -> Result<()> {
    if !dir.is_dir() {
        bad_input!("--dir {}: not a directory", dir.display())
    }
    // Defaults from the project when there is one; --dir also works outside any repository.
    let first_function = Project::discover().ok().and_then(|project| {
        let template = Template::load(&project.template_path(), "template").ok()?;
        template.functions.iter().find(|f| f.runtime.as_deref().is_some_and(|r| r.starts_with("python3."))).cloned()
    });
    let runtime_name = args
        .runtime
        .clone()
        .or_else(|| first_function.as_ref().and_then(|f| f.runtime.clone()))
        .unwrap_or_else(|| "python3.11".into());
    let arch = args
        .arch
        .clone()
        .or_else(|| first_function.as_ref().map(|f| f.architecture.clone()))
        .unwrap_or_else(|| "x86_64".into());
    let runtime = LambdaRuntime::new(&runtime_name, &arch)?;
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let root = dir.canonicalize().with_context(|| format!("resolving {}", dir.display()))?;
    let shown_from = cwd.canonicalize().unwrap_or(cwd);

    let mut pipeline = Pipeline::new(LAMBDA_CHECK);
    allowed.announce();
    eprintln!("    checking {} against {}", dir.display(), runtime.describe());
    let result = pipeline.guard_step("file-guards", || {
        let (findings, files) = suite::directory(&root, &shown_from, &runtime)?;
        eprintln!("    {files} files walked");
        Ok(allowed.enforce(findings))
    });
    pipeline.finish(result)
}
