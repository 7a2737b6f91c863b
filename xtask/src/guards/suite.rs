//! The guards grouped the way the commands run them:
//!
//! | group | runs on | guards |
//! | --- | --- | --- |
//! | [`pre_build`] | each function dir (with its copied backend), before sam | missing-source, stale-installed-package, secret-file, platform-binary, python-abi |
//! | [`post_build`] | each function's build output, after sam | secret-file, platform-binary, python-abi, bundled-aws-sdk, dependency-consistency |
//! | [`smoke_test`] | each function's build output | smoke-test |
//! | [`directory`] | any directory (`lambda-check --dir`) | stale-installed-package, secret-file, platform-binary, python-abi |

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use super::aws_sdk::{self, SdkPolicy};
use super::files::{FileContext, Place};
use super::runtime::LambdaRuntime;
use super::smoke::{self, Interpreter, SmokeTarget};
use super::{abi, dependencies, platform, scan, secrets, source, Finding};
use crate::project::config::Project;
use crate::project::layout;
use crate::project::target::BuildTarget;
use crate::python::pep508::MarkerEnv;

/// A cold start plus the first request; generous, since a slow import is still a pass.
const SMOKE_TIMEOUT: Duration = Duration::from_secs(120);
/// In Docker the image may have to be pulled first.
const SMOKE_TIMEOUT_IN_IMAGE: Duration = Duration::from_secs(600);

pub fn runtime_of(target: &BuildTarget) -> Result<LambdaRuntime> {
    LambdaRuntime::new(target.template.runtime.as_deref().unwrap_or_default(), &target.template.architecture)
        .with_context(|| format!("function {}", target.config.logical_id))
}

/// Where sam build puts the function: `.aws-sam/build/<LogicalId>` next to the template.
pub fn artifact_dir(project: &Project, target: &BuildTarget) -> PathBuf {
    layout::artifact_dir(&project.sam_dir(), &target.config.logical_id)
}

/// Before sam: the source guards, and the file-level guards over the function dir, so a
/// foreign binary is caught before sam spends a minute on it.
pub fn pre_build(project: &Project, targets: &[BuildTarget]) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    for target in targets {
        let function = target.source(project);
        let runtime = runtime_of(target)?;
        findings.extend(source::check(&function));
        let scan = scan::scan(&function.function_dir)?;
        let ctx = FileContext::new(Place::FunctionSource(&function), &runtime);
        findings.extend(secrets::check(&ctx));
        findings.extend(platform::check(&scan, &ctx));
        findings.extend(abi::check(&scan, &ctx));
    }
    Ok(findings)
}

/// After sam: every guard on what would ship. A function without build output is listed in
/// `missing` (lambda-build treats that as an error, lambda-check as a notice).
pub fn post_build(project: &Project, targets: &[BuildTarget], missing: &mut Vec<String>) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    for target in targets {
        let artifact = artifact_dir(project, target);
        if !artifact.is_dir() {
            missing.push(artifact.strip_prefix(&project.root).unwrap_or(&artifact).display().to_string());
            continue;
        }
        let function = target.source(project);
        let runtime = runtime_of(target)?;
        let scan = scan::scan(&artifact)?;
        let ctx = FileContext::new(Place::Artifact { function: &function, artifact: &artifact }, &runtime);
        findings.extend(secrets::check(&ctx));
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
        let policy = SdkPolicy {
            allow_bundled: target.config.allow_bundled_aws_sdk,
            logical_id: &target.config.logical_id,
            requirements: aws_sdk::read_requirements(&requirements_text),
            requirements_shown: requirements_shown.clone(),
        };
        findings.extend(aws_sdk::check(&artifact, &installed, &env, &policy, &ctx));
        findings.extend(dependencies::check(&installed, &env, &ctx, &requirements_shown));
    }
    Ok(findings)
}

/// The cold-start smoke test of every built function. Notes (where it ran, what it
/// answered, or why it was skipped) are printed by the caller whether or not it passed.
pub fn smoke_test(
    project: &Project,
    targets: &[BuildTarget],
    docker_answers: impl Fn() -> bool,
) -> Result<(Vec<Finding>, Vec<String>)> {
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    for target in targets {
        if let Some(report) = smoke_one(project, target, &target.config.smoke_test_path, &docker_answers)? {
            findings.extend(report.findings);
            notes.extend(report.notes);
        }
    }
    Ok((findings, notes))
}

/// A cold start of one built function answering `GET path`; `None` when it has no build
/// output. The local rehearsal's health check is this with `/health`.
pub fn smoke_one(
    project: &Project,
    target: &BuildTarget,
    path: &str,
    docker_answers: impl Fn() -> bool,
) -> Result<Option<smoke::SmokeReport>> {
    let artifact = artifact_dir(project, target);
    if !artifact.is_dir() {
        return Ok(None);
    }
    let runtime = runtime_of(target)?;
    let (handler_file, attribute) = target.template.handler_parts().expect("checked in resolve_targets");
    let smoke_target = SmokeTarget {
        logical_id: &target.config.logical_id,
        artifact: &artifact,
        artifact_shown: artifact.strip_prefix(&project.root).unwrap_or(&artifact).display().to_string(),
        module: handler_file.trim_end_matches(".py").replace('/', "."),
        attribute,
        path,
        runtime: &runtime,
    };
    let interpreter = smoke::choose_interpreter(&runtime, &docker_answers);
    let timeout = if matches!(interpreter, Interpreter::Image { .. }) { SMOKE_TIMEOUT_IN_IMAGE } else { SMOKE_TIMEOUT };
    smoke::run(&smoke_target, &interpreter, timeout).map(Some)
}

/// The file-level guards on any directory: installed-package dirs, platform binaries and the
/// Python ABI, in one parallel walk. Also returns how many files it saw.
pub fn directory(dir: &Path, shown_from: &Path, runtime: &LambdaRuntime) -> Result<(Vec<Finding>, usize)> {
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
    findings.extend(secrets::check(&ctx));
    findings.extend(platform::check(&scan, &ctx));
    findings.extend(abi::check(&scan, &ctx));
    Ok((findings, scan.files))
}
