//! `cargo xtask lambda-check`: every guard on the current tree and build output, without
//! building or changing anything. On a fresh clone it reports what lambda-build's steps would
//! have to fix. With `--dir DIR` it runs the file-level guards on any directory.

use anyhow::{Context, Result};

use crate::bad_input;
use crate::build::sam_build;
use crate::cli::{CheckArgs, LAMBDA_CHECK};
use crate::extend::{Extensions, StepContext};
use crate::guards::allow::Allowed;
use crate::guards::suite;
use crate::project::config::Project;
use crate::project::runtime::LambdaRuntime;
use crate::project::target::resolve_targets;
use crate::project::template::Template;
use crate::run::pipeline::Pipeline;
use crate::run::record::Finished;
use crate::ui::Ui;

pub fn run(ui: &Ui, extensions: &Extensions, args: &CheckArgs) -> Result<Finished> {
    let allowed = Allowed::parse(&args.allow, &extensions.guard_names())?;
    if let Some(dir) = &args.dir {
        return check_directory(ui, args, dir, &allowed);
    }
    let project = Project::discover()?;
    crate::project::samconfig::check_for_sam_build(&project)?;
    let template = Template::load_for_build(&project)?;
    let found = resolve_targets(&project, &template)?;
    if let (true, Some(env)) = (args.deployed, &args.env) {
        return check_deployed(ui, &project, &found.targets, env);
    }
    for line in crate::project::target::describe(&found) {
        say!("{line}");
    }
    // A build running now would show its half-written output to the guards: wait for it.
    let _lock = crate::sys::lock::RepoLock::acquire_if_built(&project.sam_dir())?;
    let mut pipeline = Pipeline::new(ui, LAMBDA_CHECK).with_extensions(extensions);
    pipeline.set_context(StepContext::new(&project, &found));
    allowed.announce();
    // Every group runs even when an earlier one fails: a check reports everything at once.
    let pre = pipeline.guard_step("pre-build-guards", || {
        // A function dir that holds the xtask's own files is judged as sam will get it: its
        // staged copy, made here outside the repository, so the check changes nothing.
        let stage = stage_outside(&project, &found)?;
        let mut notices = Vec::new();
        let findings = suite::pre_build(&project, &found, stage.as_ref().map(|s| s.1.as_path()), &mut notices)?;
        for notice in notices {
            say!("{notice}");
        }
        Ok(allowed.enforce(findings))
    });
    let post = pipeline.guard_step("post-build-guards", || {
        let mut missing = Vec::new();
        let mut notices = Vec::new();
        let findings = suite::post_build(&project, &found, &mut missing, &mut notices, sam_build::docker_answers)?;
        for notice in notices {
            say!("{notice}");
        }
        if !missing.is_empty() {
            // Nothing checked is not a pass: the smoke test would skip these too.
            let named: Vec<String> = missing
                .iter()
                .map(|path| {
                    let id = std::path::Path::new(path).file_name().unwrap_or_default().to_string_lossy();
                    format!("{id} ({path})")
                })
                .collect();
            anyhow::bail!(
                "no build output for {}: its post-build guards and smoke test cannot run on what was never built; build it with cargo xtask lambda-build, then check again",
                named.join(", ")
            )
        }
        Ok(allowed.enforce(findings))
    });
    let team = pipeline.team_guards(|findings| allowed.enforce(findings));
    let smoke = pipeline.guard_step("smoke-test", || {
        let (findings, notes) = suite::smoke_test(&project, &found, sam_build::docker_answers)?;
        for note in notes {
            say!("{}", crate::sys::redact::scrub(&note));
        }
        Ok(allowed.enforce(findings))
    });
    Ok(pipeline.finish(pre.and(post).and(team).and(smoke)))
}

/// The staged copy of the function dirs that hold the xtask's own files, in a temporary
/// directory (kept alive with it); `None` when there are none.
fn stage_outside(
    project: &Project,
    found: &crate::project::target::Discovery,
) -> Result<Option<(tempfile::TempDir, std::path::PathBuf)>> {
    use crate::project::target::CodeDir;
    let mut dirs: Vec<&std::path::Path> = found
        .targets
        .iter()
        .filter(|t| matches!(t.function_dir, CodeDir::Staged(_)))
        .map(|t| t.dir.as_path())
        .collect();
    if dirs.is_empty() {
        return Ok(None);
    }
    dirs.dedup();
    let tool = crate::project::tool_files::ToolFiles::of(project);
    let files = crate::build::stage::files(&project.root, &tool, &dirs)?;
    let temp = tempfile::tempdir().context("creating a temporary directory")?;
    let stage = temp.path().join("stage");
    crate::build::stage::copy(&project.root, &files, &stage)?;
    Ok(Some((temp, stage)))
}

/// `--deployed --env ENV`: each function's live CodeSha256, traced through the audit log to
/// the build it came from, against the digest of the build output on disk now.
fn check_deployed(
    ui: &Ui,
    project: &Project,
    targets: &[crate::project::target::BuildTarget],
    env_name: &str,
) -> Result<Finished> {
    use crate::aws;
    use crate::project::samconfig::SamConfig;

    let samconfig_shown = project.samconfig().display().to_string();
    let samconfig = SamConfig::load(&project.path(&project.samconfig()), &samconfig_shown)?;
    let env = samconfig.environment(env_name)?;
    let settings = project.config.deploy.environment(&env.name);
    if settings.rehearsal {
        bad_input!(
            "{env_name} is a rehearsal: its local AWS stops when the deploy ends, so nothing stays deployed to compare"
        )
    }
    let region = env.region(&samconfig_shown)?;
    let log_shown = project.config.deploy.log.display().to_string();
    // Read as the deploy writes it: beneath the repository, never a FIFO or through a link.
    let log = crate::evidence::audit_log::LogPath::check_readable(&project.root, &project.config.deploy.log)
        .read_if_present()?
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    let sh = xshell::Shell::new()?;
    let mut pipeline = Pipeline::new(ui, LAMBDA_CHECK);
    let result = pipeline.step("deployed", || {
        let executable = aws::locate(&sh, &project.config.deploy.awscli_version)?;
        let aws = aws::Aws::new(executable, region.clone(), env.profile.clone());
        let resources = aws::stack::physical_ids(&sh, &aws, &env.stack_name)?;
        let ids: Vec<&str> = targets.iter().map(|t| t.config.logical_id.as_str()).collect();
        let judge = LiveCode {
            project,
            region: &region,
            stack: &env.stack_name,
            env: &env.name,
            live: crate::evidence::deployed::read(&sh, &aws, &resources, &ids)?.into_iter().map(|l| l.code).collect(),
            recorded: crate::build::fingerprint::recorded_evidence(&project.sam_dir()),
            log: &log,
            log_shown: &log_shown,
        };
        let mut problems = 0;
        for id in ids {
            if !judge.runs_the_build_at_hand(id)? {
                problems += 1;
            }
        }
        if problems > 0 {
            anyhow::bail!("{problems} function(s) of {} are not shown to run the build at hand", env.name);
        }
        Ok(())
    });
    Ok(pipeline.finish(result))
}

/// What `--deployed` compares: what each function runs, the build on disk, and the audit log.
struct LiveCode<'a> {
    project: &'a Project,
    region: &'a str,
    stack: &'a str,
    env: &'a str,
    live: Vec<crate::evidence::deployed::DeployedCode>,
    recorded: Option<crate::evidence::BuildEvidence>,
    log: &'a str,
    log_shown: &'a str,
}

impl LiveCode<'_> {
    /// Prints the verdict on one function; `false` when it is not shown to run the build.
    fn runs_the_build_at_hand(&self, id: &str) -> Result<bool> {
        use crate::evidence::deployed::{self, Verdict};
        let log_shown = self.log_shown;
        let build_dir = self.project.build_dir().join(id);
        if !build_dir.is_dir() {
            say!("    {id}: no build output at hand ({}): cargo xtask lambda-build makes it", build_dir.display());
            return Ok(false);
        }
        let build = crate::evidence::digest::tree_digest(&build_dir)?;
        let Some(code) = self.live.iter().find(|c| c.logical_id == id) else {
            say!("    {id}: stack {} in {} has no such function: nothing of it is deployed", self.stack, self.region);
            return Ok(false);
        };
        // The build's own reproducible zip settles it without the log.
        if let Some((path, code_sha256)) = self.package(id, &build.digest).filter(|(_, sha)| *sha == code.code_sha256) {
            say!(
                "    {id}: the live code is the build at hand ({}): {} runs CodeSha256 {code_sha256}, that of its reproducible package {}",
                build.digest,
                code.function_name,
                path.display()
            );
            return Ok(true);
        }
        let commit = |c: &Option<String>| {
            c.as_deref().map(|c| c.chars().take(12).collect::<String>()).unwrap_or_else(|| "no commit".into())
        };
        match deployed::verdict(self.log, self.env, id, &code.code_sha256, &build.digest) {
            Verdict::ThisBuild { line, started_at, commit: c } => {
                say!(
                    "    {id}: the live code is the build at hand ({}): {} runs CodeSha256 {}, deployed {started_at} from {} ({log_shown}:{line})",
                    build.digest,
                    code.function_name,
                    code.code_sha256,
                    commit(&c)
                );
                Ok(true)
            }
            Verdict::OtherBuild { line, started_at, commit: c, artifact_digest } => {
                say!(
                    "    {id}: the live code is NOT the build at hand: {} runs CodeSha256 {}, the build {} deployed {started_at} from {} ({log_shown}:{line}); the build at hand is {}",
                    code.function_name,
                    code.code_sha256,
                    artifact_digest.as_deref().unwrap_or("of unrecorded digest"),
                    commit(&c),
                    build.digest
                );
                Ok(false)
            }
            Verdict::Unrecorded => {
                say!(
                    "    {id}: {} runs CodeSha256 {}, which no deploy in {log_shown} recorded for {}: it was deployed by other means (console, another tool) or its audit line is missing",
                    code.function_name, code.code_sha256, self.env
                );
                Ok(false)
            }
        }
    }

    /// The build's reproducible zip of `id` and its CodeSha256, when the manifest records one
    /// for the build output as it is now.
    fn package(&self, id: &str, digest: &str) -> Option<(std::path::PathBuf, String)> {
        let recorded = self.recorded.as_ref()?;
        let artifact = recorded.artifacts.iter().find(|a| a.logical_id == id && a.digest.digest == digest)?;
        let package = artifact.package.as_ref()?;
        let bytes = crate::sys::beneath::read(self.project.root.join(&package.path)).ok()?;
        Some((package.path.clone(), crate::evidence::code_sha256(&bytes)))
    }
}

fn check_directory(ui: &Ui, args: &CheckArgs, dir: &std::path::Path, allowed: &Allowed) -> Result<Finished> {
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

    let mut pipeline = Pipeline::new(ui, LAMBDA_CHECK);
    allowed.announce();
    say!("    checking {} against {}", dir.display(), runtime.describe());
    let result = pipeline.guard_step("file-guards", || {
        let (findings, notices, files) = suite::directory(&root, &shown_from, &runtime)?;
        say!("    {files} files walked");
        for notice in notices {
            say!("{notice}");
        }
        Ok(allowed.enforce(findings))
    });
    Ok(pipeline.finish(result))
}
