//! `cargo xtask lambda-build`: copy-backend, clean, pre-build guards and sam build, in order.
//!
//! Everything that can be wrong with the configuration or the machine is checked before the
//! first step, so bad input exits 2 with nothing changed on disk.

use std::path::PathBuf;

use anyhow::Result;
use xshell::Shell;

use crate::build::clean;
use crate::build::copy_backend::copy_backend;
use crate::build::fingerprint::{self, Fingerprint};
use crate::build::sam_build::{self, ContainerMode};
use crate::cli::{BuildArgs, LAMBDA_BUILD};
use crate::guards::{self, allow::Allowed};
use crate::project::config::Project;
use crate::project::target::{resolve_targets, BuildTarget};
use crate::project::template::Template;
use crate::run::pipeline::Pipeline;
use crate::sys::lock::RepoLock;
use crate::sys::tools::{self, Provenance, PythonTool};

pub fn run(args: &BuildArgs) -> Result<()> {
    let project = Project::discover()?;
    let template = Template::load(&project.template_path(), &project.config.template.display().to_string())?;
    crate::project::samconfig::check_for_sam_build(&project)?;
    let targets = resolve_targets(&project, &template)?;
    let prerequisites = Prerequisites::check(&project, args.container, &targets, &args.allow)?;

    if args.dry_run {
        return dry_run(&project, &targets);
    }

    let _lock = RepoLock::acquire(&project.sam_dir())?;
    let Some(plan) = plan(&project, &targets, prerequisites, args.force)? else {
        return Ok(());
    };
    let sh = Shell::new()?;
    let mut pipeline = Pipeline::new(LAMBDA_BUILD);
    let result = build(&mut pipeline, &sh, &project, &targets, &plan).map(|_sam| ());
    pipeline.finish(result)
}

/// A build that is due, with what was decided before its first step.
pub struct BuildPlan {
    in_container: bool,
    mode: ContainerMode,
    allowed: Allowed,
    /// The inputs so far; the function dirs are added once copy-backend and clean ran.
    inputs: Fingerprint,
}

/// What a build needs, checked before anything changes on disk (bad input otherwise): the
/// `--allow` names, each function's runtime, Docker or the runtime's Python, and sam (or what
/// installs it).
pub struct Prerequisites {
    mode: ContainerMode,
    in_container: bool,
    allowed: Allowed,
    allowed_names: Vec<String>,
}

impl Prerequisites {
    pub fn check(
        project: &Project,
        mode: ContainerMode,
        targets: &[BuildTarget],
        allow: &[String],
    ) -> Result<Prerequisites> {
        let allowed = Allowed::parse(allow)?;
        for target in targets {
            guards::suite::runtime_of(target)?;
        }
        let in_container = build_prerequisites(mode, targets)?;
        tools::check_obtainable(&PythonTool::sam_cli(&project.config.sam_cli_version))?;
        let mut allowed_names = allow.to_vec();
        allowed_names.sort();
        allowed_names.dedup();
        Ok(Prerequisites { mode, in_container, allowed, allowed_names })
    }
}

/// Whether the last successful build is still current: `None` when it is (and says so),
/// unless `force`. The caller holds the [`RepoLock`].
pub fn plan(
    project: &Project,
    targets: &[BuildTarget],
    prerequisites: Prerequisites,
    force: bool,
) -> Result<Option<BuildPlan>> {
    let Prerequisites { mode, in_container, allowed, allowed_names } = prerequisites;
    let mut inputs = build_inputs(project, targets, mode, in_container)?;
    // A build that passed only because a guard was allowed must not make a later strict build
    // "up to date".
    inputs.add("guards/allowed", allowed_names.join(","));
    if !force {
        let mut current = inputs.clone();
        add_function_dirs(&mut current, targets);
        match fingerprint::check(&project.sam_dir(), &project.build_dir(), &current) {
            Ok(()) => {
                eprintln!(
                    "[{LAMBDA_BUILD}] up to date: nothing changed since the last successful build (--force rebuilds)"
                );
                return Ok(None);
            }
            Err(reason) => eprintln!("[{LAMBDA_BUILD}] building: {reason}"),
        }
    }
    Ok(Some(BuildPlan { in_container, mode, allowed, inputs }))
}

/// Whether sam builds in a container, after checking that what the build needs is there
/// (bad input otherwise, before anything changes).
pub fn build_prerequisites(mode: ContainerMode, targets: &[BuildTarget]) -> Result<bool> {
    let in_container = sam_build::use_container(mode, sam_build::docker_answers)?;
    if !in_container {
        for target in targets {
            tools::runtime_python(target.template.runtime.as_deref().unwrap_or_default())?;
        }
    }
    Ok(in_container)
}

/// Everything a build depends on but the function dirs, which copy-backend and clean change:
/// those are added once they have run (see [`add_function_dirs`]).
fn build_inputs(
    project: &Project,
    targets: &[BuildTarget],
    mode: ContainerMode,
    in_container: bool,
) -> Result<Fingerprint> {
    let mut inputs = Fingerprint::default();
    inputs.add("xtask/version", env!("CARGO_PKG_VERSION"));
    if let Ok(exe) = std::env::current_exe() {
        inputs.add_file_stamp("xtask/binary", &exe);
    }
    inputs.add_file_content("config/Cargo.toml", &project.root.join("Cargo.toml"));
    inputs.add_file_content("config/template", &project.template_path());
    inputs.add_file_content("config/samconfig", &project.path(&project.config.samconfig));
    inputs.add("sam/version", &project.config.sam_cli_version);
    match tools::find(&PythonTool::sam_cli(&project.config.sam_cli_version))? {
        Some((sam, _)) => inputs.add_file_stamp("sam/executable", &sam),
        None => inputs.add("sam/executable", "missing"),
    }
    inputs.add("container", format!("{mode:?}, in container: {in_container}"));
    for target in targets {
        let id = &target.config.logical_id;
        if !in_container {
            let runtime = target.template.runtime.as_deref().unwrap_or_default();
            inputs.add_file_stamp(&format!("python/{id}"), &tools::runtime_python(runtime)?);
        }
        if let Some(source) = &target.backend_src {
            inputs.add_backend_tree(&format!("backend/{id}"), source)?;
        }
    }
    Ok(inputs)
}

fn add_function_dirs(inputs: &mut Fingerprint, targets: &[BuildTarget]) {
    for target in targets {
        inputs.add_tree(&format!("function/{}", target.config.logical_id), target.function_dir.path());
    }
}

/// The sam-cli step: finds or installs sam.
pub fn locate_sam_step(pipeline: &mut Pipeline, sh: &Shell, project: &Project) -> Result<PathBuf> {
    pipeline.step("sam-cli", || {
        let (sam, provenance) = tools::locate(sh, &PythonTool::sam_cli(&project.config.sam_cli_version))?;
        let origin = match provenance {
            Provenance::OnPath => "on PATH",
            Provenance::Cached => "from the tool cache",
            Provenance::Installed => "installed into the tool cache",
        };
        eprintln!("    sam: {} ({origin})", sam.display());
        Ok(sam)
    })
}

/// The build's steps on `pipeline` (lambda-deploy runs them on its own), then the manifest
/// that makes the next no-op build "up to date"; returns sam's path.
pub fn build(
    pipeline: &mut Pipeline,
    sh: &Shell,
    project: &Project,
    targets: &[BuildTarget],
    plan: &BuildPlan,
) -> Result<PathBuf> {
    let BuildPlan { in_container, mode, allowed, inputs } = plan;
    let (in_container, mode, mut inputs) = (*in_container, *mode, inputs.clone());
    fingerprint::invalidate(&project.sam_dir())?;
    allowed.announce();
    let sam = locate_sam_step(pipeline, sh, project)?;
    for target in targets {
        if let (Some(source), Some(shown)) = (&target.backend_src, &target.config.backend_src) {
            pipeline.step("copy-backend", || {
                let report = copy_backend(source, &target.function_dir, &target.config.copy_to)?;
                let destination = target.config.function_dir.join(&target.config.copy_to);
                if report.up_to_date {
                    eprintln!("    {} -> {}: up to date", shown.display(), destination.display());
                } else {
                    eprintln!(
                        "    {} -> {}: {} files copied, {} unchanged, {} dirs, {} symlinks",
                        shown.display(),
                        destination.display(),
                        report.copied,
                        report.unchanged,
                        report.dirs,
                        report.symlinks
                    );
                }
                Ok(())
            })?;
        }
    }
    pipeline.step("clean", || {
        for target in targets {
            let doomed = clean::plan(&target.function_dir, &target.config.allowlist)?;
            for entry in &doomed {
                eprintln!(
                    "    removing {} {}",
                    entry.kind.label(),
                    target.config.function_dir.join(&entry.name).display()
                );
            }
            clean::remove(&target.function_dir, &doomed)?;
        }
        Ok(())
    })?;
    pipeline.guard_step("pre-build-guards", || Ok(allowed.enforce(guards::suite::pre_build(project, targets)?)))?;
    if !in_container {
        match mode {
            ContainerMode::Auto => eprintln!(
                "notice: no Docker daemon answers, so sam builds natively with the local Python; binary wheels are still fetched for manylinux"
            ),
            _ => eprintln!("notice: building natively with the local Python (--container never)"),
        }
    }
    // The function dirs as the build sees them: copied in and cleaned.
    add_function_dirs(&mut inputs, targets);
    pipeline.step("sam-build", || {
        sam_build::sam_build(
            sh,
            &sam,
            &project.sam_dir(),
            &project.template_path(),
            in_container,
            project.sam_timeout(),
        )
    })?;
    pipeline.guard_step("post-build-guards", || {
        let mut missing = Vec::new();
        let findings = guards::suite::post_build(project, targets, &mut missing)?;
        if !missing.is_empty() {
            anyhow::bail!("sam build reported success but left no build output at {}", missing.join(", "));
        }
        Ok(allowed.enforce(findings))
    })?;
    pipeline.guard_step("smoke-test", || {
        let (findings, notes) = guards::suite::smoke_test(project, targets, sam_build::docker_answers)?;
        for note in notes {
            eprintln!("{}", crate::sys::redact::scrub(&note));
        }
        Ok(allowed.enforce(findings))
    })?;
    let evidence = pipeline.step("evidence", || record_evidence(project, targets))?;
    fingerprint::record(&project.sam_dir(), &project.build_dir(), inputs, evidence)?;
    Ok(sam)
}

/// The content digest of each build output dir and each function's SBOM, for the manifest.
fn record_evidence(project: &Project, targets: &[BuildTarget]) -> Result<crate::evidence::BuildEvidence> {
    let facts: Vec<crate::evidence::FunctionFacts> = targets
        .iter()
        .map(|t| crate::evidence::FunctionFacts {
            logical_id: &t.config.logical_id,
            runtime: t.template.runtime.as_deref().unwrap_or_default(),
            architecture: &t.template.architecture,
        })
        .collect();
    let evidence = crate::evidence::record_build(&project.root, &project.sam_dir(), &project.build_dir(), &facts)?;
    for artifact in &evidence.artifacts {
        let d = &artifact.digest;
        eprintln!("    {}: {} ({} files, {} bytes)", artifact.logical_id, d.digest, d.files, d.bytes);
        if let Some(sbom) = &artifact.sbom {
            eprintln!("      SBOM {} ({} distributions, {})", sbom.path.display(), sbom.components, sbom.sha256);
        }
        if let Some(package) = &artifact.package {
            eprintln!(
                "      package {} ({} bytes, reproducible; CodeSha256 once deployed: {})",
                package.path.display(),
                package.bytes,
                package.code_sha256
            );
        }
    }
    Ok(evidence)
}

fn dry_run(project: &Project, targets: &[BuildTarget]) -> Result<()> {
    for target in targets {
        let dir = target.config.function_dir.display();
        if let Some(src) = &target.config.backend_src {
            eprintln!(
                "would copy {} to {dir}/{} (replacing it once the copy is complete)",
                src.display(),
                target.config.copy_to
            );
        }
        let doomed = clean::plan(&target.function_dir, &target.config.allowlist)?;
        if doomed.is_empty() {
            eprintln!("clean would remove nothing from {dir}");
        }
        for entry in &doomed {
            eprintln!("would remove {} {}", entry.kind.label(), target.config.function_dir.join(&entry.name).display());
        }
    }
    let _ = project;
    eprintln!("dry run: nothing was changed");
    Ok(())
}
