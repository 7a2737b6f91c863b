//! The guards grouped the way the commands run them:
//!
//! | group | runs on | guards |
//! | --- | --- | --- |
//! | [`pre_build`] | each function dir (with its copied backend) and layer, before sam; each `.zip` package's entries | missing-source, stale-installed-package, secret-file, outside-link, special-file, platform-binary, python-abi (zip-package on a zip) |
//! | [`post_build`] | each function's and layer's build output, after sam (with its layers', for package-size) | secret-file, outside-link, special-file, platform-binary, python-abi, bundled-aws-sdk, dependency-consistency, package-size |
//! | [`smoke_test`] | each function's build output | smoke-test |
//! | [`directory`] | any directory (`lambda-check --dir`) | stale-installed-package, secret-file, outside-link, special-file, platform-binary, python-abi |
//!
//! A layer gets every file-level guard a function dir gets: sam copies it into `/opt` as it is.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use super::aws_sdk::{self, SdkPolicy};
use super::files::{FileContext, Place};
use super::lambda_python::{self, Interpreter};
use super::sdk_probe::{self, ProbeTarget, SdkProbe};
use super::smoke::{self, SmokeEvent, SmokeTarget, Surroundings};
use super::smoke_events;
use super::{abi, dependencies, links, package_size, platform, scan, secrets, source, zip_package, Finding};
use crate::guards::runtime_sdk::{self, InstalledSdk};
use crate::project::config::{Project, SmokeTestMode};
use crate::project::runtime::LambdaRuntime;
use crate::project::target::{BuildTarget, Discovery, LayerTarget};
use crate::project::template::EnvValue;
use crate::python::pep508::MarkerEnv;
use crate::python::{dependency_chain, wheel};
use crate::sys::layout;
use crate::sys::stand_in_aws::StandInAws;

/// A cold start plus the first request; generous, since a slow import is still a pass.
const SMOKE_TIMEOUT: Duration = Duration::from_secs(120);
/// In Docker the image may have to be pulled first.
const SMOKE_TIMEOUT_IN_IMAGE: Duration = Duration::from_secs(600);

pub fn layer_runtime(layer: &LayerTarget) -> Result<LambdaRuntime> {
    LambdaRuntime::new(&layer.runtime, "x86_64").with_context(|| format!("layer {}", layer.logical_id()))
}

/// What ships for a layer: with no BuildMethod, its ContentUri as it is; else sam's build
/// output `.aws-sam/build/<LogicalId>`, or the xtask's own build of it with uv when sam built
/// none (see [`crate::build::uv_layer`]). A Python build puts the packages in its `python/`
/// dir, which Lambda mounts at `/opt/python`.
pub fn layer_artifact_dir(project: &Project, layer: &LayerTarget) -> PathBuf {
    if layer.as_is() {
        return project.path(&layer.dir);
    }
    let built = project.build_dir().join(layer.logical_id());
    let prebuilt = layout::prebuilt_layer_dir(&project.sam_dir(), layer.logical_id());
    if !built.is_dir() && prebuilt.is_dir() {
        prebuilt
    } else {
        built
    }
}

/// What a layer is judged against: the runtime and architecture of each function that uses
/// it (that is what loads it), else its own runtime on x86_64.
pub fn layer_runtimes(found: &Discovery, layer: &LayerTarget) -> Result<Vec<LambdaRuntime>> {
    let mut runtimes: Vec<LambdaRuntime> = Vec::new();
    for target in found.targets.iter().filter(|t| t.layers.iter().any(|id| id == layer.logical_id())) {
        if !runtimes.contains(&target.runtime) {
            runtimes.push(target.runtime.clone());
        }
    }
    if runtimes.is_empty() {
        runtimes.push(layer_runtime(layer)?);
    }
    Ok(runtimes)
}

/// The file-level guards on a layer's tree, once per runtime that loads it.
fn layer_findings(
    found: &Discovery,
    layer: &LayerTarget,
    root: &Path,
    shown_from: &Path,
    boundary: &Path,
) -> Result<Vec<Finding>> {
    let scan = scan::scan_within(root, boundary)?;
    let mut findings: Vec<Finding> = Vec::new();
    for runtime in layer_runtimes(found, layer)? {
        let ctx = FileContext::new(Place::Directory { root, shown_from }, &runtime);
        let file_level = secrets::findings(&scan.secrets, &ctx)
            .into_iter()
            .chain(links::check(&scan, &ctx, boundary))
            .chain(platform::check(&scan, &ctx))
            .chain(abi::check(&scan, &ctx));
        for finding in file_level {
            if !findings.contains(&finding) {
                findings.push(finding);
            }
        }
    }
    Ok(findings)
}

/// Where sam build puts the function: `.aws-sam/build/<LogicalId>` next to the template.
pub fn artifact_dir(project: &Project, target: &BuildTarget) -> PathBuf {
    layout::artifact_dir(&project.sam_dir(), &target.config.logical_id)
}

/// Before sam: the source guards, and the file-level guards over the function dir, so a
/// foreign binary is caught before sam spends a minute on it. A staged function dir is read
/// in its stage, a mirror of the repository at `stage_root` (what sam will build from). A
/// `.zip` package, which sam uploads as it is, is judged on its entries. `notices` gets what
/// is worth saying but no finding.
pub fn pre_build(
    project: &Project,
    found: &Discovery,
    stage_root: Option<&Path>,
    notices: &mut Vec<String>,
) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    for package in &found.zips {
        let entry = package.entry.as_ref().map(|(handler, script)| zip_package::EntryPoint {
            file: &handler.file,
            attribute: &handler.attribute,
            script: script.is_some(),
        });
        let zip_shown = package.path.display().to_string();
        let report = zip_package::check(&project.path(&package.path), &zip_shown, &package.runtime, entry)?;
        findings.extend(report.findings);
        notices.extend(report.notices);
    }
    // A makefile layer ships only what its Makefile writes, judged after the build: its dir
    // (the repository root, say) is no part of the layer.
    for layer in found.layers.iter().filter(|l| !l.makefile()) {
        // A layer without a BuildMethod ships its dir as it is, installed packages included:
        // only what cannot load on Lambda is a finding.
        let root = project.path(&layer.dir);
        findings.extend(layer_findings(found, layer, &root, &project.root, &project.root)?);
    }
    for (target, _) in found.function_dirs() {
        let function = target.scanned_source(project, stage_root);
        let runtime = &target.runtime;
        findings.extend(source::check(&function));
        let scan = scan::scan_within(&function.function_dir, &project.root)?;
        let ctx = FileContext::new(Place::FunctionSource(&function), runtime);
        let (own, installed) = secrets::split_installed(&scan.secrets, &ctx);
        findings.extend(secrets::findings(&own, &ctx));
        notices.extend(installed.iter().map(|secret| secrets::installed_notice(secret, &ctx, None)));
        findings.extend(links::check(&scan, &ctx, &project.root));
        findings.extend(platform::check(&scan, &ctx));
        findings.extend(abi::check(&scan, &ctx));
    }
    Ok(findings)
}

/// After sam: every guard on what would ship. A function without build output is listed in
/// `missing` (lambda-build treats that as an error, lambda-check as a notice).
/// `notices` gets what is worth saying but is no finding (a bundled SDK that loads).
/// `docker_answers` picks where a bundled SDK is loaded to check it (see [`sdk_probe`]).
pub fn post_build(
    project: &Project,
    found: &Discovery,
    missing: &mut Vec<String>,
    notices: &mut Vec<String>,
    docker_answers: impl Fn() -> bool,
) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    let layer_sizes = layer_sizes(project, found)?;
    // A layer shipped as it is was judged before the build, in its dir.
    for layer in found.layers.iter().filter(|l| !l.as_is()) {
        let artifact = layer_artifact_dir(project, layer);
        if !artifact.is_dir() {
            missing.push(artifact.strip_prefix(&project.root).unwrap_or(&artifact).display().to_string());
            continue;
        }
        findings.extend(layer_findings(found, layer, &artifact, &project.root, &artifact)?);
    }
    for target in &found.targets {
        let artifact = artifact_dir(project, target);
        if !artifact.is_dir() {
            missing.push(artifact.strip_prefix(&project.root).unwrap_or(&artifact).display().to_string());
            continue;
        }
        let function = target.source(project);
        let runtime = &target.runtime;
        findings.extend(package_size_finding(project, target, &artifact, &layer_sizes)?);
        let scan = scan::scan(&artifact)?;
        let ctx = FileContext::new(Place::Artifact { function: &function, artifact: &artifact }, runtime);
        findings.extend(links::check(&scan, &ctx, &artifact));
        if target.script.is_some() {
            let script = artifact.join(&target.handler.file);
            findings.extend(source::script_problem(
                &script,
                &ctx.shown(&script),
                &ctx.shell(&function.function_dir.join(&target.handler.file)),
            ));
        }
        findings.extend(platform::check(&scan, &ctx));
        findings.extend(abi::check(&scan, &ctx));

        let installed = crate::python::wheel::installed(&artifact)?;
        let env = MarkerEnv::lambda(runtime.python_minor, runtime.arch.machine());
        let requirements_path = function.function_dir.join("requirements.txt");
        let requirements_shown = ctx.shown(&requirements_path);
        let requirements_text = match crate::sys::beneath::read_to_string(&requirements_path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(err) => return Err(err).with_context(|| format!("reading {requirements_shown}")),
        };
        let (requirements, written) = aws_sdk::read_requirements_as_written(&requirements_text);
        let (own, installed_secrets) = secrets::split_installed(&scan.secrets, &ctx);
        findings.extend(secrets::findings(&own, &ctx));
        for secret in &installed_secrets {
            let chain =
                dependency_chain::chain(&installed, &requirements, &wheel::normalize_name(&secret.owner.name), &env)
                    .map(|chain| format!("{} (from {requirements_shown})", chain.join(" -> ")));
            notices.push(secrets::installed_notice(secret, &ctx, chain.as_deref()));
        }
        let policy = SdkPolicy {
            allow_bundled: target.config.allow_bundled_aws_sdk,
            logical_id: &target.config.logical_id,
            requirements,
            written,
            requirements_shown: requirements_shown.clone(),
        };
        let probe = probe_sdk(project, found, target, &artifact, &docker_answers)?;
        let sdk = aws_sdk::check(&artifact, &installed, &env, &policy, &ctx, &probe);
        findings.extend(sdk.findings);
        notices.extend(sdk.notices);
        findings.extend(dependencies::check(&installed, &env, &ctx, &requirements_shown));
    }
    Ok(findings)
}

/// Every layer's size by logical id: each counts toward its functions' unzipped size, one
/// shipped as it is too.
fn layer_sizes(
    project: &Project,
    found: &Discovery,
) -> Result<std::collections::HashMap<String, package_size::TreeSize>> {
    let mut sizes = std::collections::HashMap::new();
    for layer in &found.layers {
        let dir = layer_artifact_dir(project, layer);
        if dir.is_dir() {
            sizes.insert(layer.logical_id().to_string(), package_size::measure(&dir)?);
        }
    }
    Ok(sizes)
}

/// The function's build output and its layers against Lambda's unzipped limit: measured
/// before the package is zipped (a 3 GB sparse file is never read).
fn package_size_finding(
    project: &Project,
    target: &BuildTarget,
    artifact: &Path,
    layer_sizes: &std::collections::HashMap<String, package_size::TreeSize>,
) -> Result<Option<Finding>> {
    let own = package_size::measure(artifact)?;
    let mut parts = vec![package_size::Part { name: target.config.logical_id.clone(), size: &own }];
    for id in &target.layers {
        if let Some(size) = layer_sizes.get(id) {
            parts.push(package_size::Part { name: format!("layer {id}"), size });
        }
    }
    let shown = crate::sys::quote::escaped_path(artifact.strip_prefix(&project.root).unwrap_or(artifact));
    Ok(package_size::check(&target.config.logical_id, &shown, &parts, &target.external_layers))
}

/// The SDK as Lambda would load it for this function, when the artifact or one of its layers
/// bundles any of it; nothing to check otherwise.
fn probe_sdk(
    project: &Project,
    found: &Discovery,
    target: &BuildTarget,
    artifact: &Path,
    docker_answers: impl Fn() -> bool,
) -> Result<SdkProbe> {
    let layers = target_layers(project, found, target);
    if !aws_sdk::holds_sdk(artifact) && !layers.iter().any(|(dir, _)| aws_sdk::holds_sdk(dir)) {
        return Ok(SdkProbe::Works(Vec::new()));
    }
    let interpreter = lambda_python::choose_interpreter(&target.runtime, docker_answers);
    let sdk = match &interpreter {
        Interpreter::Local(python) => provide_runtime_sdk(project, &target.runtime, python),
        _ => Err(String::new()),
    };
    let probe_target = ProbeTarget { artifact, layers: &layers };
    sdk_probe::probe(&probe_target, &interpreter, sdk.as_ref().map_err(String::as_str))
}

/// The built layers a function names, as (package dir, logical id): `.aws-sam/build/<Layer>/python`.
fn target_layers(project: &Project, found: &Discovery, target: &BuildTarget) -> Vec<(PathBuf, String)> {
    target
        .layers
        .iter()
        .filter_map(|id| found.layer(id))
        .map(|layer| (layer_artifact_dir(project, layer).join("python"), layer.logical_id().to_string()))
        .filter(|(dir, _)| dir.is_dir())
        .collect()
}

/// The runtime's own SDK for a local interpreter, from the tool cache (installed on first
/// use), or why it cannot be had here.
fn provide_runtime_sdk(project: &Project, runtime: &LambdaRuntime, python: &Path) -> Result<InstalledSdk, String> {
    let Some(set) = runtime_sdk::for_runtime(&runtime.name, runtime.python_minor, &project.config.runtime_sdk) else {
        return Err(format!(
            "no SDK set is known for {}: add a [[workspace.metadata.lambda.runtime_sdk]] entry for it",
            runtime.name
        ));
    };
    runtime_sdk::provide(&set, python, runtime.python_minor, &project.config.uv_version)
}

/// The cold-start smoke test of every built function. Notes (where it ran, what it
/// answered, or why it was skipped) are printed by the caller whether or not it passed.
pub fn smoke_test(
    project: &Project,
    found: &Discovery,
    docker_answers: impl Fn() -> bool,
) -> Result<(Vec<Finding>, Vec<String>)> {
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    let aws = StandInAws::start()?;
    for target in &found.targets {
        if target.config.smoke_test == SmokeTestMode::Off {
            notes.push(format!("    {}: smoke test off (smoke_test = \"off\")", target.logical_id()));
            continue;
        }
        if let Some(report) = smoke_with(project, found, target, None, &docker_answers, &aws)? {
            findings.extend(report.findings);
            notes.extend(report.notes);
        }
    }
    Ok((findings, notes))
}

/// The event a function's smoke test invokes it with: its `smoke_test_event` file, else the
/// synthetic event of its first event source; `None` to import only. A path given here (the
/// rehearsal's health check) or as `smoke_test_path` replaces an API event's path.
pub fn smoke_event(project: &Project, target: &BuildTarget, path: Option<&str>) -> Result<Option<SmokeEvent>> {
    if target.config.smoke_test == SmokeTestMode::Import {
        return Ok(None);
    }
    if let Some(file) = &target.config.smoke_test_event {
        let event = read_event_file(project, file)?;
        let api = target.template.events.first().is_some_and(|e| e.kind == "Api" || e.kind == "HttpApi");
        return Ok(Some(SmokeEvent { description: format!("the event in {}", file.display()), event, api }));
    }
    let path = path.or(target.config.smoke_test_path.as_deref());
    let Some(source) = target.template.events.first() else {
        // A function with no event source (a Step Functions task, one invoked directly) has no
        // event to guess; an explicit path still means an API event.
        return Ok(path.map(|p| {
            let event = smoke_events::rest_api("GET", p, Some("/{proxy+}"));
            SmokeEvent { description: format!("API Gateway REST (v1) GET {p}"), event, api: true }
        }));
    };
    Ok(smoke_events::for_source(source, path).map(|e| SmokeEvent {
        description: e.description,
        event: e.event,
        api: e.api,
    }))
}

/// A `smoke_test_event` file: bad input when it is missing or not JSON.
pub fn read_event_file(project: &Project, file: &Path) -> Result<serde_json::Value> {
    let text = match crate::sys::beneath::read_to_string(project.path(file)) {
        Ok(text) => text,
        Err(err) => crate::bad_input!("smoke_test_event {}: {err}: create it or fix smoke_test_event", file.display()),
    };
    match serde_json::from_str(&text) {
        Ok(value) => Ok(value),
        Err(err) => crate::bad_input!("smoke_test_event {} is not JSON: {err}", file.display()),
    }
}

/// The function's template environment as the smoke test sets it: intrinsics become a value
/// naming them, since their real value exists only once deployed.
pub fn smoke_environment(target: &BuildTarget) -> Vec<(String, String)> {
    target
        .template
        .environment
        .iter()
        .map(|(name, value)| {
            let value = match value {
                EnvValue::Plain(text) => text.clone(),
                EnvValue::Intrinsic(expression) => format!("xtask-placeholder({expression})"),
            };
            (name.clone(), value)
        })
        .collect()
}

/// A cold start of one built function; `None` when it has no build output. `path` replaces an
/// API event's path (the local rehearsal's health check passes `/health`).
pub fn smoke_one(
    project: &Project,
    found: &Discovery,
    target: &BuildTarget,
    path: Option<&str>,
    docker_answers: impl Fn() -> bool,
) -> Result<Option<smoke::SmokeReport>> {
    let aws = StandInAws::start()?;
    smoke_with(project, found, target, path, docker_answers, &aws)
}

fn smoke_with(
    project: &Project,
    found: &Discovery,
    target: &BuildTarget,
    path: Option<&str>,
    docker_answers: impl Fn() -> bool,
    aws: &StandInAws,
) -> Result<Option<smoke::SmokeReport>> {
    let artifact = artifact_dir(project, target);
    if !artifact.is_dir() {
        return Ok(None);
    }
    if let Some(script) = &target.script {
        // The wrapper's own program (a layer's /opt/bootstrap) is not here to run it with.
        let note = format!(
            "    {}: not smoke-tested: Handler {} is a script AWS_LAMBDA_EXEC_WRAPPER {} runs, not a Python import (the post-build guards checked that it is an executable file of the build output)",
            target.logical_id(),
            script.path,
            script.wrapper
        );
        return Ok(Some(smoke::SmokeReport { findings: Vec::new(), notes: vec![note], body: None }));
    }
    let runtime = &target.runtime;
    let (layers, layers_shown): (Vec<PathBuf>, Vec<String>) = target_layers(project, found, target)
        .into_iter()
        .map(|(dir, _)| {
            let shown = dir.strip_prefix(&project.root).unwrap_or(&dir).display().to_string();
            (dir, shown)
        })
        .unzip();
    let smoke_target = SmokeTarget {
        logical_id: &target.config.logical_id,
        artifact: &artifact,
        artifact_shown: artifact.strip_prefix(&project.root).unwrap_or(&artifact).display().to_string(),
        module: target.handler.module(),
        attribute: target.handler.attribute.clone(),
        event: smoke_event(project, target, path)?,
        runtime,
        layers,
        layers_shown,
        external_layers: target.external_layers.clone(),
        environment: smoke_environment(target),
        memory_size: target.template.memory_size,
    };
    let interpreter = lambda_python::choose_interpreter(runtime, &docker_answers);
    let timeout = if matches!(interpreter, Interpreter::Image { .. }) { SMOKE_TIMEOUT_IN_IMAGE } else { SMOKE_TIMEOUT };
    // The runtime's SDK only for a local interpreter: the image has its own.
    let sdk = match &interpreter {
        Interpreter::Local(python) => provide_runtime_sdk(project, runtime, python),
        _ => Err(String::new()),
    };
    let surroundings = Surroundings { sdk: sdk.as_ref().map_err(String::as_str), aws };
    smoke::run(&smoke_target, &interpreter, &surroundings, timeout).map(Some)
}

/// The file-level guards on any directory: installed-package dirs, platform binaries and the
/// Python ABI, in one parallel walk. Also returns how many files it saw.
pub fn directory(dir: &Path, shown_from: &Path, runtime: &LambdaRuntime) -> Result<(Vec<Finding>, Vec<String>, usize)> {
    let scan = scan::scan(dir)?;
    let ctx = FileContext::new(Place::Directory { root: dir, shown_from }, runtime);
    let mut findings: Vec<Finding> = scan
        .installed_dirs
        .iter()
        .map(|(path, kind)| {
            Finding::new(
                source::STALE_PACKAGE,
                ctx.shown(path),
                format!("{kind}: an installed package where only source belongs; sam build ships it as-is"),
                "packages installed on macOS or Windows run on Linux: 'os' has no attribute 'add_dll_directory'",
                format!("rm -rf {} and let requirements.txt install it", ctx.shell(path)),
            )
        })
        .collect();
    let (own, installed) = secrets::split_installed(&scan.secrets, &ctx);
    findings.extend(secrets::findings(&own, &ctx));
    let notices = installed.iter().map(|secret| secrets::installed_notice(secret, &ctx, None)).collect();
    findings.extend(links::check(&scan, &ctx, dir));
    findings.extend(platform::check(&scan, &ctx));
    findings.extend(abi::check(&scan, &ctx));
    Ok((findings, notices, scan.files))
}
