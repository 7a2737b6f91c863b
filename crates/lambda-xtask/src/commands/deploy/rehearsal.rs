//! The rehearsal's SAM transform: moto has none, so `sam deploy` of the built template (still
//! `AWS::Serverless::*`) would create no function, and every plain resource that refers to a
//! generated one (`!GetAtt Fn.Arn`, `!Ref Fn.Alias`, `FnRole`) would break the stack. So the
//! rehearsal does what CloudFormation does on a real deploy, before `sam deploy`:
//!
//! 1. `sam package` uploads the build's code to the local AWS's bucket and writes the template
//!    with S3 locations (the transform takes nothing else);
//! 2. aws-sam-translator, the transform itself, run with the SAM CLI's own Python, turns it
//!    into plain CloudFormation: functions, roles, permissions, versions, aliases, APIs;
//! 3. `sam deploy` of that template makes and executes the change set, as for any stack.
//!
//! What moto cannot create even then it replaces with a stand-in (see `aws/moto_gaps.py`),
//! listed after the deploy: the rehearsal proves nothing about those.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;
use xshell::{cmd, Shell};

use super::sam_deploy;
use crate::aws::moto;
use crate::aws::Aws;
use crate::guards::Finding;
use crate::project::config::Project;
use crate::run::pipeline::Findings;
use crate::sys::layout;
use crate::sys::process;
use crate::sys::tools::{self, PythonTool};

const TRANSFORM_SCRIPT: &str = include_str!("sam_transform.py");

/// Generous for a handful of functions on a loaded machine; the transform itself takes a second.
const TRANSFORM_TIMEOUT: Duration = Duration::from_secs(300);

pub struct TransformInput<'a> {
    pub sh: &'a Shell,
    pub aws: &'a Aws,
    pub sam: &'a Path,
    pub project: &'a Project,
    pub bucket: &'a str,
    /// Every template parameter with the value the deploy passes.
    pub parameters: &'a [(String, String)],
}

#[derive(Deserialize)]
struct TransformAnswer {
    #[serde(default)]
    resources: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    errors: Vec<String>,
}

/// Packages and transforms the built template; returns the transformed template's path,
/// which `sam deploy` then deploys. A template the transform refuses is a finding: the real
/// deploy fails the same way.
pub fn package_and_transform(input: &TransformInput) -> Result<PathBuf> {
    let project = input.project;
    let dir = layout::rehearsal_dir(&project.sam_dir());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let packaged = dir.join("packaged.yaml");
    package(input, &packaged)?;
    say!("    sam package: the build's code is in s3://{} (the local AWS)", input.bucket);

    let transformed = dir.join("transformed.json");
    let (python, stdout) = transform_with_sams_python(input, &packaged, &transformed)?;
    let answer: TransformAnswer = stdout
        .lines()
        .rev()
        .find(|line| line.starts_with('{'))
        .and_then(|line| serde_json::from_str(line).ok())
        .with_context(|| format!("the SAM transform ({}) gave no answer: {stdout}", python.display()))?;
    if !answer.errors.is_empty() {
        refused(project, &answer.errors)?;
    }
    say!(
        "    SAM transform (aws-sam-translator of {}): {}",
        python.display(),
        resource_summary(answer.resources.values())
    );
    Ok(transformed)
}

/// `sam package` of the built template into the local AWS's bucket. An empty config file:
/// what a samconfig table says about packaging (a prefix, a KMS key) is for the real account.
fn package(input: &TransformInput, packaged: &Path) -> Result<()> {
    let project = input.project;
    let sam_dir = project.sam_dir();
    let empty_config = layout::empty_samconfig(&sam_dir);
    std::fs::write(&empty_config, sam_deploy::EMPTY_SAMCONFIG)
        .with_context(|| format!("writing {}", empty_config.display()))?;
    let built = layout::built_template(&sam_dir);
    let (sh, sam, bucket, region) = (input.sh, input.sam, input.bucket, input.aws.region.as_str());
    let _dir = sh.push_dir(&sam_dir);
    let command = cmd!(
        sh,
        "{sam} package --config-file {empty_config} --template-file {built} --s3-bucket {bucket} --output-template-file {packaged} --region {region}"
    )
    .env("SAM_CLI_TELEMETRY", "0");
    process::capture(input.aws.apply_env(command), "sam package", Some(project.sam_timeout()))
        .with_context(|| format!("packaging {} into s3://{bucket} of the local AWS", built.display()))?;
    Ok(())
}

fn refused(project: &Project, errors: &[String]) -> Result<()> {
    let template = project.config.template.display().to_string();
    let findings = errors
        .iter()
        .map(|error| {
            Finding::new(
                "sam-transform",
                template.clone(),
                format!("the SAM transform refuses the template: {error}"),
                "CloudFormation runs the same transform on sam deploy: the change set fails with this error and nothing is created",
                format!("fix the resource it names in {template}; `sam validate --lint -t {template}` shows the same error"),
            )
        })
        .collect();
    Findings::fail_with(findings, "the SAM transform refuses the template: nothing was deployed")
}

/// `AWS::IAM::Role x2, AWS::Lambda::Function, ...`, in type order.
fn resource_summary<'a>(types: impl Iterator<Item = &'a String>) -> String {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for kind in types {
        *counts.entry(kind.as_str()).or_default() += 1;
    }
    let total: usize = counts.values().sum();
    let listed: Vec<String> =
        counts.iter().map(|(kind, n)| if *n == 1 { kind.to_string() } else { format!("{kind} x{n}") }).collect();
    format!("{total} resources ({})", listed.join(", "))
}

/// Runs the transform with the SAM CLI's own Python, which has aws-sam-translator: the one
/// beside `sam` in its virtualenv, or the interpreter its script names; else (a SAM CLI of the
/// native installers, which bundles no Python to borrow) the pinned SAM CLI's of the tool
/// cache, installed there when missing. Returns the Python and its answer.
fn transform_with_sams_python(input: &TransformInput, packaged: &Path, out: &Path) -> Result<(PathBuf, String)> {
    let mut candidates = Vec::new();
    if let Some(dir) = input.sam.canonicalize().ok().as_deref().and_then(Path::parent) {
        candidates.extend([dir.join("python3"), dir.join("python")]);
    }
    candidates.extend(script_interpreter(input.sam));
    for python in candidates.into_iter().filter(|p| p.is_file()) {
        match run_transform(input, &python, packaged, out) {
            Ok(stdout) => return Ok((python, stdout)),
            // Another Python (the SAM CLI is not installed in it): the next one.
            Err(err) if format!("{err:#}").contains("No module named") => continue,
            Err(err) => return Err(err),
        }
    }
    let sam_version = &input.project.config.sam_cli_version;
    let (cached_sam, _) = tools::locate_in_cache(input.sh, &PythonTool::sam_cli(sam_version))?;
    let python = cached_sam.with_file_name("python3");
    let stdout = run_transform(input, &python, packaged, out)?;
    Ok((python, stdout))
}

fn run_transform(input: &TransformInput, python: &Path, packaged: &Path, out: &Path) -> Result<String> {
    let parameters: serde_json::Map<String, serde_json::Value> =
        input.parameters.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
    let region = input.aws.region.as_str();
    let sh = input.sh;
    let command = cmd!(sh, "{python} -I -c {TRANSFORM_SCRIPT} {packaged} {out}")
        .env("XTASK_PARAMETERS", serde_json::Value::Object(parameters).to_string())
        .env("AWS_DEFAULT_REGION", region)
        .env("AWS_REGION", region);
    process::capture(input.aws.apply_env(command), "the SAM transform", Some(TRANSFORM_TIMEOUT))
        .with_context(|| format!("running the SAM transform with {}", python.display()))
}

/// The interpreter a `#!` line names, when it is a Python.
fn script_interpreter(script: &Path) -> Option<PathBuf> {
    let head = crate::sys::beneath::read_start(script, 256).ok()?;
    let first = std::str::from_utf8(&head).ok()?.lines().next()?;
    let interpreter = first.strip_prefix("#!")?.split_whitespace().next()?;
    let name = Path::new(interpreter).file_name()?.to_str()?;
    name.starts_with("python").then(|| PathBuf::from(interpreter))
}

/// Says which resources of the stack moto did not create (a stand-in answered for each), so
/// that the rehearsal claims nothing about them.
pub fn report_stand_ins(project: &Project) {
    let stand_ins = moto::read_stand_ins(&layout::rehearsal_dir(&project.sam_dir()));
    for stand_in in &stand_ins {
        if let Some(what) = &stand_in.stand_in {
            say!("    {} ({}): {what}", stand_in.logical_id, stand_in.resource_type);
            continue;
        }
        let custom = stand_in.resource_type.starts_with("Custom::")
            || stand_in.resource_type == "AWS::CloudFormation::CustomResource";
        let why = match &stand_in.moto_error {
            Some(error) => format!("moto failed creating it ({error})"),
            None if custom => {
                "a custom resource: the local AWS does not run the function its ServiceToken names".to_string()
            }
            None => "moto has no model of it".to_string(),
        };
        say!(
            "    {} ({}): not created by the local AWS, {why}; a stand-in answered its Ref and GetAtt, so the rehearsal proves nothing about it",
            stand_in.logical_id, stand_in.resource_type
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_each_type() {
        let types = ["AWS::IAM::Role", "AWS::Lambda::Function", "AWS::IAM::Role"].map(String::from);
        assert_eq!(resource_summary(types.iter()), "3 resources (AWS::IAM::Role x2, AWS::Lambda::Function)");
    }

    #[test]
    fn a_python_shebang_names_the_interpreter() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("sam");
        std::fs::write(&script, "#!/opt/sam/venv/bin/python3.11\nimport sys\n").unwrap();
        assert_eq!(script_interpreter(&script), Some(PathBuf::from("/opt/sam/venv/bin/python3.11")));
        std::fs::write(&script, "#!/bin/sh\nexec python3 -m samcli \"$@\"\n").unwrap();
        assert_eq!(script_interpreter(&script), None);
    }
}
