//! `cargo xtask lambda-build`: copy-backend, clean, pre-build guards and sam build, in order.
//!
//! Everything that can be wrong with the configuration or the machine is checked before the
//! first step, so bad input exits 2 with nothing changed on disk.

use std::path::{Path, PathBuf};

use anyhow::Result;
use xshell::Shell;

use crate::bad_input;
use crate::build::clean;
use crate::build::copy_backend::{self, copy_backend};
use crate::build::derived_template;
use crate::build::fingerprint::{self, Fingerprint};
use crate::build::sam_build::{self, ContainerMode};
use crate::build::{stage, uv_layer};
use crate::cli::{BuildArgs, LAMBDA_BUILD};
use crate::extend::{Extensions, StepContext};
use crate::guards::{self, allow::Allowed};
use crate::project::config::Project;
use crate::project::target::{self as discovery, resolve_targets, BuildTarget, CodeDir, Discovery};
use crate::project::template::Template;
use crate::project::tool_files::{self, ToolFiles};
use crate::run::pipeline::Pipeline;
use crate::run::record::Finished;
use crate::sys::layout;
use crate::sys::lock::RepoLock;
use crate::sys::tools::{self, Provenance, PythonTool};
use crate::ui::Ui;

pub fn run(ui: &Ui, extensions: &Extensions, args: &BuildArgs) -> Result<Finished> {
    let project = Project::discover()?;
    crate::project::samconfig::check_for_sam_build(&project)?;
    let template = Template::load_for_build(&project)?;
    let found = resolve_targets(&project, &template)?;
    let prerequisites = Prerequisites::check(&project, args.container, &found, &args.allow, &extensions.guard_names())?;
    // After the checks: bad input stays one line.
    for line in discovery::describe(&found) {
        say!("{line}");
    }

    if args.dry_run {
        return dry_run(&project, &found).map(|()| Finished::without_pipeline());
    }

    let _lock = RepoLock::acquire(&project.sam_dir())?;
    let Some(plan) = plan(&project, &found, prerequisites, args.force)? else {
        return Ok(Finished::without_pipeline());
    };
    let sh = Shell::new()?;
    let mut pipeline = Pipeline::new(ui, LAMBDA_BUILD).with_extensions(extensions);
    pipeline.set_context(StepContext::new(&project, &found));
    let result = build(&mut pipeline, &sh, &project, &found, &plan).map(|_sam| ());
    Ok(pipeline.finish(result))
}

/// A build that is due, with what was decided before its first step.
pub struct BuildPlan {
    in_container: bool,
    mode: ContainerMode,
    allowed: Allowed,
    /// The inputs so far; the function dirs are added once copy-backend and clean ran.
    inputs: Fingerprint,
    uv_functions: Vec<String>,
    uv_layers: Vec<String>,
}

/// What a build needs, checked before anything changes on disk (bad input otherwise): the
/// `--allow` names, each function's runtime, Docker or the runtime's Python, and sam (or what
/// installs it).
pub struct Prerequisites {
    mode: ContainerMode,
    in_container: bool,
    allowed: Allowed,
    allowed_names: Vec<String>,
    /// Functions built with SAM's `python-uv` build method: no interpreter for their runtime
    /// here, and no container.
    uv_functions: Vec<String>,
    /// Python layers in the same spot, which the xtask builds with uv (see [`uv_layer`]).
    uv_layers: Vec<String>,
}

impl Prerequisites {
    pub fn check(
        project: &Project,
        mode: ContainerMode,
        found: &Discovery,
        allow: &[String],
        team_guards: &[&'static str],
    ) -> Result<Prerequisites> {
        let allowed = Allowed::parse(allow, team_guards)?;
        // sam build wipes .aws-sam/build: proven the xtask's own before anything runs.
        crate::sys::owned_dir::check_aws_sam(&project.sam_dir())?;
        // A template with nothing to guard (InlineCode only, other runtimes, zips) is built and
        // deployed as sam would: discovery's notice says nothing is guarded.
        for (target, _) in found.function_dirs() {
            if let (Some(allowlist), Some(dir)) = (&target.config.allowlist, target.function_dir.owned()) {
                let git = clean::GitView::tracked_only(dir.path());
                clean::check_allowlist(dir, &target.dir, allowlist, &git)?;
            }
        }
        for target in &found.targets {
            if let (Some(source), Some(dir)) = (&target.config.backend_src, target.function_dir.owned()) {
                copy_backend::preflight(&project.root, source, dir, &target.config.copy_to)?;
            }
        }
        let (in_container, uv_functions) = build_prerequisites(mode, &found.targets)?;
        let uv_layers: Vec<String> = found
            .layers
            .iter()
            .filter(|l| !in_container && l.python_build() && crate::sys::interpreters::find(&l.runtime).is_none())
            .map(|l| l.logical_id().to_string())
            .collect();
        if !uv_functions.is_empty() || !uv_layers.is_empty() {
            tools::check_obtainable(&PythonTool::uv(&project.config.uv_version))?;
        }
        if !found.images.is_empty() && !sam_build::docker_answers() {
            bad_input!(
                "function {} has PackageType Image: sam build builds it from its Dockerfile, and no Docker daemon answers: start Docker (the Python zip functions are guarded either way)",
                found.images.join(", ")
            )
        }
        tools::check_obtainable(&PythonTool::sam_cli(&project.config.sam_cli_version))?;
        let mut allowed_names = allow.to_vec();
        allowed_names.sort();
        allowed_names.dedup();
        Ok(Prerequisites { mode, in_container, allowed, allowed_names, uv_functions, uv_layers })
    }
}

/// Whether the last successful build is still current: `None` when it is (and says so),
/// unless `force`. The caller holds the [`RepoLock`].
pub fn plan(
    project: &Project,
    found: &Discovery,
    prerequisites: Prerequisites,
    force: bool,
) -> Result<Option<BuildPlan>> {
    let Prerequisites { mode, in_container, allowed, allowed_names, uv_functions, uv_layers } = prerequisites;
    let mut inputs = build_inputs(project, &found.targets, in_container, &uv_functions)?;
    for id in &uv_layers {
        inputs.add(format!("python/layer/{id}"), "uv");
    }
    // A build that passed only because a guard was allowed must not make a later strict build
    // "up to date".
    inputs.add("guards/allowed", allowed_names.join(","));
    // What sam builds for: a deploy whose environment sets Architectures differently rebuilds.
    let overrides: Vec<String> = found.build_overrides.iter().map(|(k, v)| format!("{k}={v}")).collect();
    inputs.add("sam/parameter-overrides", overrides.join(" "));
    for package in &found.zips {
        inputs.add_file_content(&format!("zip/{}", package.logical_id), &project.path(&package.path));
    }
    if !force {
        let mut current = inputs.clone();
        add_function_dirs(&mut current, project, found)?;
        match fingerprint::check(&project.sam_dir(), &project.build_dir(), &current) {
            Ok(()) => {
                say!("[{LAMBDA_BUILD}] up to date: nothing changed since the last successful build (--force rebuilds)");
                return Ok(None);
            }
            Err(reason) => say!("[{LAMBDA_BUILD}] building: {reason}"),
        }
    }
    Ok(Some(BuildPlan { in_container, mode, allowed, inputs, uv_functions, uv_layers }))
}

/// Whether sam builds in a container, and which functions it builds with `python-uv` (their
/// runtime has no interpreter here), after checking that what the build needs is there (bad
/// input otherwise, before anything changes).
pub fn build_prerequisites(mode: ContainerMode, targets: &[BuildTarget]) -> Result<(bool, Vec<String>)> {
    let in_container = sam_build::use_container(mode, sam_build::docker_answers)?;
    let mut uv_functions = Vec::new();
    if !in_container {
        for target in targets {
            let runtime = target.runtime.name.as_str();
            // The template's own python-uv needs uv (and its beta turned on) whatever is here.
            if target.template.build_method.as_deref() == Some("python-uv") {
                uv_functions.push(target.logical_id().to_string());
                continue;
            }
            if crate::sys::interpreters::find(runtime).is_some() {
                continue;
            }
            match target.template.build_method.as_deref() {
                // SAM's default for Python, or uv already: uv resolves for any version.
                None | Some("python-uv") => uv_functions.push(target.logical_id().to_string()),
                Some(method) if method.starts_with("python3.") => uv_functions.push(target.logical_id().to_string()),
                // A makefile runs what it says: sam checks no interpreter for it, nor does
                // this (the runtime's Python goes on sam's PATH when there is one).
                Some("makefile") => {}
                // Another custom build needs the interpreter itself.
                Some(_) => {
                    tools::runtime_python(runtime)?;
                }
            }
        }
    }
    Ok((in_container, uv_functions))
}

/// Everything a build depends on but the function dirs, which copy-backend and clean change:
/// those are added once they have run (see [`add_function_dirs`]).
fn build_inputs(
    project: &Project,
    targets: &[BuildTarget],
    in_container: bool,
    uv_functions: &[String],
) -> Result<Fingerprint> {
    let mut inputs = Fingerprint::default();
    inputs.add("xtask/version", crate::version::VERSION);
    if let Ok(exe) = std::env::current_exe() {
        inputs.add_file_stamp("xtask/binary", &exe);
    }
    inputs.add_file_content("config/Cargo.toml", &project.root.join("Cargo.toml"));
    inputs.add_file_content("config/template", &project.template_path());
    inputs.add_file_content("config/samconfig", &project.path(&project.samconfig()));
    inputs.add("sam/version", &project.config.sam_cli_version);
    match tools::find(&PythonTool::sam_cli(&project.config.sam_cli_version))? {
        Some((sam, _)) => inputs.add_file_stamp("sam/executable", &sam),
        None => inputs.add("sam/executable", "missing"),
    }
    // What the build did, not the flag that chose it: `--container never` and `auto` without
    // Docker build the same way, so a deploy after `lambda-build --container never` is current.
    inputs.add("container", if in_container { "in a container" } else { "native" });
    for target in targets {
        let id = &target.config.logical_id;
        if uv_functions.contains(id) {
            inputs.add(format!("python/{id}"), "python-uv");
        } else if !in_container {
            let runtime = target.runtime.name.as_str();
            match tools::runtime_python(runtime) {
                Ok(python) => inputs.add_file_stamp(&format!("python/{id}"), &python),
                // A makefile build may need no Python of its own (see build_prerequisites).
                Err(_) if target.template.build_method.as_deref() == Some("makefile") => {
                    inputs.add(format!("python/{id}"), "none (makefile)")
                }
                Err(err) => return Err(err),
            }
        }
        if let Some(source) = &target.backend_src {
            inputs.add_backend_tree(&format!("backend/{id}"), source)?;
        }
    }
    Ok(inputs)
}

/// The function dirs as sam will read them (an own dir whole, a staged one as the files its
/// stage takes) and layer dirs, absolute: the same whatever dir the command runs in; and every
/// requirements file pip reads for them, those pulled in with `-r`/`-c` included.
fn add_function_dirs(inputs: &mut Fingerprint, project: &Project, found: &Discovery) -> Result<()> {
    let tool = ToolFiles::of(project);
    for target in &found.targets {
        let id = &target.config.logical_id;
        let name = format!("function/{id}");
        match &target.function_dir {
            CodeDir::Own(dir) => inputs.add_tree(&name, dir.path()),
            CodeDir::Staged(_) => {
                let files = stage::files(&project.root, &tool, &[target.dir.as_path()])?;
                inputs.add_files(&name, &project.root, &files);
            }
        }
        let requirements = target.function_dir.join("requirements.txt");
        inputs.add_requirements(&format!("requirements/{id}"), &requirements, &project.root);
    }
    for layer in &found.layers {
        let dir = project.path(&layer.dir);
        let name = format!("layer/{}", layer.logical_id());
        if tool.inside(&layer.dir) {
            // A makefile layer over the root (the only kind allowed to hold the xtask's own
            // files): what make reads is what git shows of it, not target/ or .aws-sam/.
            let files = stage::files(&project.root, &tool, &[layer.dir.as_path()])?;
            inputs.add_files(&name, &project.root, &files);
        } else {
            inputs.add_tree(&name, &dir);
        }
        let requirements = dir.join("requirements.txt");
        inputs.add_requirements(&format!("requirements/{}", layer.logical_id()), &requirements, &project.root);
    }
    Ok(())
}

/// The function dirs that are built from a staged copy (see [`stage`]), each once.
fn staged_dirs(found: &Discovery) -> Vec<&Path> {
    let mut dirs: Vec<&Path> = found
        .targets
        .iter()
        .filter(|t| matches!(t.function_dir, CodeDir::Staged(_)))
        .map(|t| t.dir.as_path())
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// The stage step: what git shows of the staged function dirs, less the xtask's own files,
/// copied to `.aws-sam/xtask/stage`, where the derived template points their CodeUri.
fn stage_step(pipeline: &mut Pipeline, project: &Project, found: &Discovery) -> Result<()> {
    let dirs = staged_dirs(found);
    if dirs.is_empty() {
        return Ok(());
    }
    pipeline.step("stage", || {
        let tool = ToolFiles::of(project);
        let files = stage::files(&project.root, &tool, &dirs)?;
        let stage_dir = layout::stage_dir(&project.sam_dir());
        let report = stage::replace(&project.root, &files, &stage_dir)?;
        for dir in &dirs {
            let left_out: Vec<String> =
                tool.present_in(&project.root, dir).iter().map(|p| p.display().to_string()).collect();
            say!(
                "    {}: the function dir holds the xtask's own files, so sam builds a copy of what git shows of it: {} files ({} bytes) in {}; left out: {}, and whatever git ignores",
                tool_files::shown(dir),
                report.files,
                report.bytes,
                stage_dir.strip_prefix(&project.root).unwrap_or(&stage_dir).display(),
                left_out.join(", ")
            );
        }
        Ok(())
    })
}

/// The sam-cli step: finds or installs sam.
pub fn locate_sam_step(pipeline: &mut Pipeline, sh: &Shell, project: &Project) -> Result<PathBuf> {
    pipeline.step("sam-cli", || {
        let (sam, provenance) = tools::locate(sh, &PythonTool::sam_cli(&project.config.sam_cli_version))?;
        say!("    sam: {} ({})", sam.display(), provenance_label(provenance));
        Ok(sam)
    })
}

fn provenance_label(provenance: Provenance) -> &'static str {
    match provenance {
        Provenance::OnPath => "on PATH",
        Provenance::Cached => "from the tool cache",
        Provenance::Installed => "installed into the tool cache",
    }
}

/// The build's steps on `pipeline` (lambda-deploy runs them on its own), then the manifest
/// that makes the next no-op build "up to date"; returns sam's path.
pub fn build(
    pipeline: &mut Pipeline,
    sh: &Shell,
    project: &Project,
    found: &Discovery,
    plan: &BuildPlan,
) -> Result<PathBuf> {
    let BuildPlan { in_container, mode, allowed, inputs, uv_functions, uv_layers } = plan;
    let (in_container, mut inputs) = (*in_container, inputs.clone());
    fingerprint::invalidate(&project.sam_dir())?;
    allowed.announce();
    let sam = locate_sam_step(pipeline, sh, project)?;
    copy_backend_steps(pipeline, project, found)?;
    pipeline.guard_step("clean", || {
        let mut findings = Vec::new();
        for (target, sharing) in found.function_dirs() {
            findings.extend(clean_one(project, target, &sharing, false)?);
        }
        Ok(allowed.enforce(findings))
    })?;
    stage_step(pipeline, project, found)?;
    let stage_dir = layout::stage_dir(&project.sam_dir());
    pipeline.guard_step("pre-build-guards", || {
        let mut notices = Vec::new();
        let findings = guards::suite::pre_build(project, found, Some(&stage_dir), &mut notices)?;
        for notice in notices {
            say!("{notice}");
        }
        Ok(allowed.enforce(findings))
    })?;
    let pythons = if in_container { Vec::new() } else { native_pythons(*mode, found, uv_functions, uv_layers)? };
    // The function dirs as the build sees them: copied in and cleaned.
    add_function_dirs(&mut inputs, project, found)?;
    let uv = match uv_functions.is_empty() && uv_layers.is_empty() {
        true => None,
        false => Some(pipeline.step("uv", || locate_uv(sh, project, found, uv_functions, uv_layers))?),
    };
    pipeline.step("sam-build", || {
        let derivation = derivation(project, found, uv_functions, uv_layers);
        let template = match derivation.is_empty() {
            false => derived_template::write(
                &project.template_path(),
                &project.config.template.display().to_string(),
                &project.sam_dir(),
                &derivation,
            )?,
            true => project.template_path(),
        };
        let options = sam_build::BuildOptions {
            in_container,
            parallel: found.targets.len() + found.layers.len() > 1,
            pythons: &pythons,
            uv: uv.as_deref().filter(|_| !uv_functions.is_empty()),
            parameter_overrides: &found.build_overrides,
        };
        sam_build::sam_build(sh, &sam, &project.sam_dir(), &template, &options, project.sam_timeout())
    })?;
    pipeline.guard_step("post-build-guards", || post_build_guards(project, found, allowed))?;
    pipeline.team_guards(|findings| allowed.enforce(findings))?;
    pipeline.guard_step("smoke-test", || {
        let (findings, notes) = guards::suite::smoke_test(project, found, sam_build::docker_answers)?;
        for note in notes {
            say!("{}", crate::sys::redact::scrub(&note));
        }
        Ok(allowed.enforce(findings))
    })?;
    let evidence = pipeline.step("evidence", || record_evidence(project, &found.targets))?;
    fingerprint::record(&project.sam_dir(), &project.build_dir(), inputs, evidence)?;
    Ok(sam)
}

/// What the template sam builds from changes: python-uv where there is no interpreter, the
/// staged copy as CodeUri where the function dir holds the xtask's own files.
fn derivation(
    project: &Project,
    found: &Discovery,
    uv_functions: &[String],
    uv_layers: &[String],
) -> derived_template::Derivation {
    let sam_dir = project.sam_dir();
    let relative = |path: PathBuf| path.strip_prefix(&sam_dir).map(Path::to_path_buf).unwrap_or(path);
    let stage = relative(layout::stage_dir(&sam_dir));
    let prebuilt_layers = uv_layers
        .iter()
        .map(|id| (id.clone(), relative(layout::prebuilt_layer_dir(&sam_dir, id)).display().to_string()))
        .collect();
    let code_uris = found
        .targets
        .iter()
        .filter(|t| matches!(t.function_dir, CodeDir::Staged(_)))
        .map(|t| (t.logical_id().to_string(), stage.join(&t.dir).display().to_string()))
        .collect();
    derived_template::Derivation { uv_functions: uv_functions.to_vec(), code_uris, prebuilt_layers }
}

/// One copy-backend step per function that has a backend_src.
fn copy_backend_steps(pipeline: &mut Pipeline, project: &Project, found: &Discovery) -> Result<()> {
    for target in &found.targets {
        let Some(shown) = &target.config.backend_src else { continue };
        // A staged function dir has no backend_src (bad input at discovery).
        let Some(function_dir) = target.function_dir.owned() else { continue };
        pipeline.step("copy-backend", || {
            let job = copy_backend::preflight(&project.root, shown, function_dir, &target.config.copy_to)?;
            if job.adopted {
                say!(
                    "    {}: no {} marker, but it holds exactly what {} holds: adopted as the xtask's copy",
                    target.dir.join(&target.config.copy_to).display(),
                    copy_backend::MARKER,
                    shown.display()
                );
            }
            let report = copy_backend(&job)?;
            let destination = target.dir.join(&target.config.copy_to);
            if report.up_to_date {
                say!("    {} -> {}: up to date", shown.display(), destination.display());
            } else {
                say!(
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
    Ok(())
}

/// A native build: the interpreter of each runtime sam builds with (those built with uv need
/// none), each named once.
fn native_pythons(
    mode: ContainerMode,
    found: &Discovery,
    uv_functions: &[String],
    uv_layers: &[String],
) -> Result<Vec<PathBuf>> {
    match mode {
        ContainerMode::Auto => say!(
            "notice: no Docker daemon answers, so sam builds natively with the local Python; binary wheels are still fetched for manylinux"
        ),
        _ => say!("notice: building natively with the local Python (--container never)"),
    }
    let mut pythons = Vec::new();
    let functions = found.targets.iter().filter(|t| !uv_functions.iter().any(|id| id == t.logical_id()));
    let layers = found.layers.iter().filter(|l| l.python_build() && !uv_layers.iter().any(|id| id == l.logical_id()));
    let runtimes = functions.map(|t| t.runtime.name.as_str()).chain(layers.map(|l| l.runtime.as_str()));
    for runtime in runtimes {
        let makefile_only = found
            .targets
            .iter()
            .filter(|t| t.runtime.name == runtime)
            .all(|t| t.template.build_method.as_deref() == Some("makefile"));
        let python = match tools::runtime_python(runtime) {
            Err(_) if makefile_only => continue,
            found => found?,
        };
        if !pythons.contains(&python) {
            say!("    {runtime}: {} (handed to sam first on PATH)", python.display());
            pythons.push(python);
        }
    }
    Ok(pythons)
}

/// uv, for the functions and layers whose runtime has no interpreter here and no Docker to
/// build in; those layers it builds (sam's python-uv builds no layer).
fn locate_uv(
    sh: &Shell,
    project: &Project,
    found: &Discovery,
    uv_functions: &[String],
    uv_layers: &[String],
) -> Result<PathBuf> {
    let (uv, provenance) = tools::locate(sh, &PythonTool::uv(&project.config.uv_version))?;
    say!("    uv: {} ({})", uv.display(), provenance_label(provenance));
    for layer in found.layers.iter().filter(|l| uv_layers.iter().any(|id| id == l.logical_id())) {
        let into = layout::prebuilt_layer_dir(&project.sam_dir(), layer.logical_id());
        let spec = uv_layer::UvLayer {
            content: &project.path(&layer.dir),
            repo_root: &project.root,
            runtime: &layer.runtime,
            architecture: layer.architecture(),
        };
        let copied = uv_layer::build(sh, &uv, &spec, &into)?;
        say!(
            "    layer {}: no {} here and no Docker, and SAM's python-uv builds no layer: built with uv into {} ({copied} files of {} over its requirements, binary wheels only)",
            layer.logical_id(),
            layer.runtime,
            into.strip_prefix(&project.root).unwrap_or(&into).display(),
            layer.dir.display()
        );
    }
    for id in uv_functions {
        let runtime = found.targets.iter().find(|t| t.logical_id() == id).map(|t| t.runtime.name.clone());
        say!(
            "    {id}: no {} here and no Docker: built with SAM's python-uv build method (beta), binary wheels only",
            runtime.unwrap_or_default()
        );
    }
    Ok(uv)
}

/// The guards on what sam built; a function sam reported built but left no output for fails.
fn post_build_guards(project: &Project, found: &Discovery, allowed: &Allowed) -> Result<Vec<guards::Finding>> {
    let mut missing = Vec::new();
    let mut notices = Vec::new();
    let findings = guards::suite::post_build(project, found, &mut missing, &mut notices, sam_build::docker_answers)?;
    for notice in notices {
        say!("{notice}");
    }
    if !missing.is_empty() {
        anyhow::bail!("sam build reported success but left no build output at {}", missing.join(", "));
    }
    Ok(allowed.enforce(findings))
}

/// The content digest of each build output dir and each function's SBOM, for the manifest.
fn record_evidence(project: &Project, targets: &[BuildTarget]) -> Result<crate::evidence::BuildEvidence> {
    let facts: Vec<crate::evidence::FunctionFacts> = targets
        .iter()
        .map(|t| crate::evidence::FunctionFacts {
            logical_id: &t.config.logical_id,
            runtime: &t.runtime.name,
            architecture: &t.template.architecture,
        })
        .collect();
    let evidence = crate::evidence::record_build(&project.root, &project.sam_dir(), &project.build_dir(), &facts)?;
    for artifact in &evidence.artifacts {
        let d = &artifact.digest;
        say!("    {}: {} ({} files, {} bytes)", artifact.logical_id, d.digest, d.files, d.bytes);
        if let Some(sbom) = &artifact.sbom {
            say!("      SBOM {} ({} distributions, {})", sbom.path.display(), sbom.components, sbom.sha256);
        }
        if let Some(package) = &artifact.package {
            say!(
                "      package {} ({} bytes, reproducible; CodeSha256 once deployed: {})",
                package.path.display(),
                package.bytes,
                package.code_sha256
            );
        }
    }
    Ok(evidence)
}

/// Clean of one function dir (shared by the functions in `sharing`): with an allowlist, every
/// entry off it; without, only proven installer output (see [`clean`]). Prints what goes;
/// returns the findings on what stays unexplained. `dry_run` changes nothing.
fn clean_one(
    project: &Project,
    target: &BuildTarget,
    sharing: &[&str],
    dry_run: bool,
) -> Result<Vec<crate::guards::Finding>> {
    let dir = &target.dir;
    let verb = if dry_run { "would remove" } else { "removing" };
    let shared = if sharing.len() > 1 { format!(" (shared by {})", sharing.join(", ")) } else { String::new() };
    let Some(function_dir) = target.function_dir.owned() else {
        say!(
            "    {}{shared}: not cleaned: it holds the xtask's own files, so sam builds a staged copy of what git shows of it",
            target.dir_shown()
        );
        return Ok(Vec::new());
    };
    match &target.config.allowlist {
        Some(allowlist) => {
            let doomed = clean::plan(function_dir, allowlist)?;
            if doomed.is_empty() {
                say!("    {}{shared}: nothing off the allowlist", dir.display());
            }
            for entry in &doomed {
                say!("    {verb} {} {}", entry.kind.label(), dir.join(&entry.name).display());
            }
            if !dry_run {
                clean::remove(function_dir, &doomed)?;
            }
            Ok(Vec::new())
        }
        None => {
            let git = clean::GitView::read(&project.root, function_dir.path());
            let plan = clean::plan_safe(function_dir, &git)?;
            if plan.is_empty() {
                say!("    {}{shared}: no installed packages to remove", dir.display());
            }
            for (kind, path) in plan.listing() {
                say!("    {verb} {kind} {}", dir.join(path).display());
            }
            if !git.in_repository {
                say!(
                    "notice: {} is not in a git checkout: clean removed only files whose content matches an installer's record",
                    dir.display()
                );
            }
            if !dry_run {
                clean::remove_safe(function_dir, &plan)?;
            }
            Ok(plan.findings(dir))
        }
    }
}

fn dry_run(project: &Project, found: &Discovery) -> Result<()> {
    for (target, sharing) in found.function_dirs() {
        if let Some(src) = &target.config.backend_src {
            let destination = target.dir.join(&target.config.copy_to);
            say!("would copy {} to {} (replacing it once the copy is complete)", src.display(), destination.display());
            if let Some(dir) = target.function_dir.owned() {
                let job = copy_backend::preflight(&project.root, src, dir, &target.config.copy_to)?;
                for file in copy_backend::doomed_files(&job)? {
                    say!("    would delete file {} (not in {})", destination.join(file).display(), src.display());
                }
            }
        }
        for finding in clean_one(project, target, &sharing, true)? {
            say!("{finding}");
        }
    }
    say!("dry run: nothing was changed");
    Ok(())
}
