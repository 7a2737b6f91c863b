//! The guards grouped the way the commands run them:
//!
//! | group | runs on | guards |
//! | --- | --- | --- |
//! | [`pre_build`] | each function dir (with its copied backend), before sam; each `.zip` package's entries | missing-source, stale-installed-package, secret-file, platform-binary, python-abi (zip-package on a zip) |
//! | [`post_build`] | each function's build output, after sam | secret-file, platform-binary, python-abi, bundled-aws-sdk, dependency-consistency |
//! | [`smoke_test`] | each function's build output | smoke-test |
//! | [`directory`] | any directory (`lambda-check --dir`) | stale-installed-package, secret-file, platform-binary, python-abi |

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use super::aws_sdk::{self, SdkPolicy};
use super::files::{FileContext, Place};
use super::runtime::LambdaRuntime;
use super::smoke::{self, Interpreter, SmokeEvent, SmokeTarget};
use super::smoke_events;
use super::{abi, dependencies, platform, scan, secrets, source, zip_package, Finding};
use crate::project::config::{Project, SmokeTestMode};
use crate::project::layout;
use crate::project::target::{BuildTarget, Discovery, LayerTarget};
use crate::project::template::EnvValue;
use crate::python::pep508::MarkerEnv;
use crate::python::{dependency_chain, wheel};

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
    for layer in &found.layers {
        // A layer without a BuildMethod ships its dir as it is, installed packages included:
        // only what cannot load on Lambda is a finding.
        let root = project.path(&layer.dir);
        let runtime = layer_runtime(layer)?;
        let scan = scan::scan(&root)?;
        let ctx = FileContext::new(Place::Directory { root: &root, shown_from: &project.root }, &runtime);
        findings.extend(platform::check(&scan, &ctx));
        findings.extend(abi::check(&scan, &ctx));
    }
    for (target, _) in found.function_dirs() {
        let function = target.scanned_source(project, stage_root);
        let runtime = &target.runtime;
        findings.extend(source::check(&function));
        let scan = scan::scan(&function.function_dir)?;
        let ctx = FileContext::new(Place::FunctionSource(&function), runtime);
        let (own, installed) = secrets::split_installed(&scan.secrets, &ctx);
        findings.extend(secrets::findings(&own, &ctx));
        notices.extend(installed.iter().map(|secret| secrets::installed_notice(secret, &ctx, None)));
        findings.extend(platform::check(&scan, &ctx));
        findings.extend(abi::check(&scan, &ctx));
    }
    Ok(findings)
}

/// After sam: every guard on what would ship. A function without build output is listed in
/// `missing` (lambda-build treats that as an error, lambda-check as a notice).
/// `notices` gets what is worth saying but is no finding (a deliberately bundled SDK).
pub fn post_build(
    project: &Project,
    found: &Discovery,
    missing: &mut Vec<String>,
    notices: &mut Vec<String>,
) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    // A layer shipped as it is was judged before the build, in its dir.
    for layer in found.layers.iter().filter(|l| !l.as_is()) {
        let artifact = layer_artifact_dir(project, layer);
        if !artifact.is_dir() {
            missing.push(artifact.strip_prefix(&project.root).unwrap_or(&artifact).display().to_string());
            continue;
        }
        let runtime = layer_runtime(layer)?;
        let scan = scan::scan(&artifact)?;
        let ctx = FileContext::new(Place::Directory { root: &artifact, shown_from: &project.root }, &runtime);
        findings.extend(platform::check(&scan, &ctx));
        findings.extend(abi::check(&scan, &ctx));
    }
    for target in &found.targets {
        let artifact = artifact_dir(project, target);
        if !artifact.is_dir() {
            missing.push(artifact.strip_prefix(&project.root).unwrap_or(&artifact).display().to_string());
            continue;
        }
        let function = target.source(project);
        let runtime = &target.runtime;
        let scan = scan::scan(&artifact)?;
        let ctx = FileContext::new(Place::Artifact { function: &function, artifact: &artifact }, runtime);
        if target.script.is_some() {
            let script = artifact.join(&target.handler.file);
            findings.extend(source::script_problem(&script, &ctx.shown(&script), &ctx.shell(&function.function_dir.join(&target.handler.file))));
        }
        findings.extend(platform::check(&scan, &ctx));
        findings.extend(abi::check(&scan, &ctx));

        let installed = crate::python::wheel::installed(&artifact)?;
        let env = MarkerEnv::lambda(runtime.python_minor, runtime.arch.machine());
        let requirements_path = function.function_dir.join("requirements.txt");
        let requirements_shown = ctx.shown(&requirements_path);
        let requirements_text = match std::fs::read_to_string(&requirements_path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(err) => return Err(err).with_context(|| format!("reading {requirements_shown}")),
        };
        let (requirements, written) = aws_sdk::read_requirements_as_written(&requirements_text);
        let (own, installed_secrets) = secrets::split_installed(&scan.secrets, &ctx);
        findings.extend(secrets::findings(&own, &ctx));
        for secret in &installed_secrets {
            let chain = dependency_chain::chain(&installed, &requirements, &wheel::normalize_name(&secret.owner.name), &env)
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
        let sdk = aws_sdk::check(&artifact, &installed, &env, &policy, &ctx);
        findings.extend(sdk.findings);
        notices.extend(sdk.notices);
        findings.extend(dependencies::check(&installed, &env, &ctx, &requirements_shown));
    }
    Ok(findings)
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
    for target in &found.targets {
        if target.config.smoke_test == SmokeTestMode::Off {
            notes.push(format!("    {}: smoke test off (smoke_test = \"off\")", target.logical_id()));
            continue;
        }
        if let Some(report) = smoke_one(project, found, target, None, &docker_answers)? {
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
    let text = match std::fs::read_to_string(project.path(file)) {
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
    let layers = target
        .layers
        .iter()
        .filter_map(|id| found.layer(id))
        .map(|layer| layer_artifact_dir(project, layer).join("python"))
        .filter(|dir| dir.is_dir())
        .collect();
    let smoke_target = SmokeTarget {
        logical_id: &target.config.logical_id,
        artifact: &artifact,
        artifact_shown: artifact.strip_prefix(&project.root).unwrap_or(&artifact).display().to_string(),
        module: target.handler.module(),
        attribute: target.handler.attribute.clone(),
        event: smoke_event(project, target, path)?,
        runtime,
        layers,
        external_layers: target.external_layers.clone(),
        environment: smoke_environment(target),
        memory_size: target.template.memory_size,
    };
    let interpreter = smoke::choose_interpreter(runtime, &docker_answers);
    let timeout = if matches!(interpreter, Interpreter::Image { .. }) { SMOKE_TIMEOUT_IN_IMAGE } else { SMOKE_TIMEOUT };
    smoke::run(&smoke_target, &interpreter, timeout).map(Some)
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
                "packages installed on macOS or Windows run on Linux: 'os' has no attribute 'add_dll_directory' (seed issue 6)",
                format!("rm -rf {} and let requirements.txt install it", ctx.shell(path)),
            )
        })
        .collect();
    let (own, installed) = secrets::split_installed(&scan.secrets, &ctx);
    findings.extend(secrets::findings(&own, &ctx));
    let notices = installed.iter().map(|secret| secrets::installed_notice(secret, &ctx, None)).collect();
    findings.extend(platform::check(&scan, &ctx));
    findings.extend(abi::check(&scan, &ctx));
    Ok((findings, notices, scan.files))
}
