//! Guard `smoke-test`: a cold start of the built artifact. The handler is imported from the
//! artifact (its layers next, as `/opt/python`) and invoked with the event its first event
//! source would send (see [`super::smoke_events`]), or a user's event file, in a Python that
//! matches the runtime: the Lambda base image under Docker when a daemon answers, else a local
//! `python3.X`, else a static import check (see [`super::imports`]).
//!
//! Only a packaging failure fails the guard: a module that cannot be imported, a native
//! library that does not load, a Windows/macOS-only call. Any other exception (the app's own
//! logic meeting a synthetic event, a missing AWS resource) is a notice; so is any response but
//! a 5xx from an API function.
//!
//! Locally, nothing from the host's site-packages may satisfy an import, or a package missing
//! from requirements.txt would pass here and fail on Lambda (the seed's `No module named ...`
//! failures). The interpreter runs with `-I -S` (no site-packages, no user site, no
//! PYTHONPATH) and the artifact first on `sys.path`; the only exception is what the Lambda
//! runtime itself provides (boto3, botocore and their dependencies), which a finder on
//! `sys.meta_path` serves from the host's site-packages, after the artifact, by top-level name.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use super::runtime::{Arch, LambdaRuntime};
use super::Finding;

pub const GUARD: &str = "smoke-test";

/// Printed before the result line, so the app's own output cannot be mistaken for it.
const RESULT_MARKER: &str = "XTASK-SMOKE-RESULT ";

/// Runs inside the runtime's Python with `-c`, so nothing is written anywhere. argv: artifact,
/// module, attribute, the event as JSON, mode (`local` or `image`).
const SMOKE_SCRIPT: &str = r#"
import importlib, importlib.machinery, json, os, sys, time, traceback

artifact, module_name, attribute, event_json, mode, layers_json = sys.argv[1:7]
layers = json.loads(layers_json)
runtime_provided = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3"}
served_from_host = []

if mode == "local":
    import site  # under -S this computes paths but adds none of them
    host_dirs = [d for d in site.getsitepackages() + [site.getusersitepackages()] if os.path.isdir(d)]
    # The standard library only: no site-packages, no current dir, no PYTHONPATH.
    stdlib = [p for p in sys.path if p and "-packages" not in p and p.startswith((sys.base_prefix, sys.prefix))]
    sys.path[:] = [artifact] + layers + stdlib

    class LambdaRuntimeSdk:
        """What the Lambda runtime itself provides, from the host, after the artifact."""
        @classmethod
        def find_spec(cls, name, path=None, target=None):
            if "." in name or name not in runtime_provided:
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, host_dirs)
            if spec is not None:
                served_from_host.append(name)
            return spec

    sys.meta_path.append(LambdaRuntimeSdk)
else:
    sys.path[0:0] = [artifact] + layers

os.chdir(artifact)

class Context:
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "smoke-test")
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:" + function_name
    memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
    aws_request_id = "xtask-smoke-test"
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "smoke"
    def get_remaining_time_in_millis(self):
        return 30000

result = {"phase": "import"}
try:
    started = time.monotonic()
    handler = getattr(importlib.import_module(module_name), attribute)
    result["import_seconds"] = round(time.monotonic() - started, 3)
    if event_json:
        result["phase"] = "invoke"
        response = handler(json.loads(event_json), Context())
        result["returned"] = type(response).__name__
        if isinstance(response, dict) and "statusCode" in response:
            result["status"] = response.get("statusCode")
            result["body"] = str(response.get("body", ""))[:300]
    result["phase"] = "done"
except BaseException as error:
    result["error"] = traceback.format_exception_only(type(error), error)[-1].strip()
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if os.path.abspath(f.filename).startswith(os.path.abspath(artifact) + os.sep)]
    if frames:
        result["file"] = os.path.relpath(frames[-1].filename, artifact)
        result["line"] = frames[-1].lineno
result["served_from_host"] = sorted(set(served_from_host))
print("\n" + "XTASK-SMOKE-RESULT " + json.dumps(result), flush=True)
"#;

/// Where the cold start runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interpreter {
    /// The Lambda base image, e.g. `public.ecr.aws/lambda/python:3.11`.
    Image { image: String, platform: &'static str },
    /// A local `python3.X` of the runtime's version.
    Local(PathBuf),
    /// Neither: the reason, for the warning.
    Unavailable(String),
}

impl Interpreter {
    pub fn describe(&self) -> String {
        match self {
            Interpreter::Image { image, .. } => format!("the Lambda base image {image} under Docker"),
            Interpreter::Local(python) => {
                format!("{} (isolated from the host's site-packages but for boto3/botocore)", python.display())
            }
            Interpreter::Unavailable(reason) => reason.clone(),
        }
    }
}

pub fn choose_interpreter(runtime: &LambdaRuntime, docker_answers: impl FnOnce() -> bool) -> Interpreter {
    if docker_answers() {
        let platform = match runtime.arch {
            Arch::X86_64 => "linux/amd64",
            Arch::Arm64 => "linux/arm64",
        };
        return Interpreter::Image {
            image: format!("public.ecr.aws/lambda/python:3.{}", runtime.python_minor),
            platform,
        };
    }
    let host_machine = std::env::consts::ARCH;
    if host_machine != runtime.arch.machine() {
        return Interpreter::Unavailable(format!(
            "no Docker daemon answers, and this {host_machine} machine cannot load the {} binaries of an {} function",
            runtime.arch.machine(),
            runtime.arch.template_name()
        ));
    }
    match crate::sys::interpreters::find(&runtime.name) {
        Some(python) => Interpreter::Local(python),
        None => Interpreter::Unavailable(format!(
            "no Docker daemon answers and no {} is found here: install Python 3.{} to run the cold-start smoke test",
            runtime.name, runtime.python_minor
        )),
    }
}

/// One function's cold start.
pub struct SmokeTarget<'a> {
    pub logical_id: &'a str,
    /// The built function, absolute.
    pub artifact: &'a Path,
    /// How findings show the artifact (relative to the repository).
    pub artifact_shown: String,
    /// From the template's Handler: `handler` and `handler` for `handler.handler`.
    pub module: String,
    pub attribute: String,
    /// What the handler is invoked with; `None`: import only.
    pub event: Option<SmokeEvent>,
    pub runtime: &'a LambdaRuntime,
    /// The built layers' package dirs (`.aws-sam/build/<Layer>/python`), after the artifact.
    pub layers: Vec<PathBuf>,
    /// Layers from outside the template: a module missing here may be in one of them.
    pub external_layers: Vec<String>,
    /// The function's `Environment.Variables`, intrinsics as placeholders.
    pub environment: Vec<(String, String)>,
    pub memory_size: u32,
}

/// The event of a smoke test, and how the output names it.
#[derive(Debug, Clone)]
pub struct SmokeEvent {
    pub description: String,
    pub event: serde_json::Value,
    /// An API Gateway proxy event: a 5xx response fails.
    pub api: bool,
}

/// What the smoke test found, and what the step should tell the user either way.
#[derive(Debug, Default)]
pub struct SmokeReport {
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
    /// The response body, when the request answered 200.
    pub body: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct ScriptResult {
    phase: String,
    returned: Option<String>,
    status: Option<serde_json::Value>,
    body: Option<String>,
    error: Option<String>,
    file: Option<String>,
    line: Option<u32>,
    import_seconds: Option<f64>,
    #[serde(default)]
    served_from_host: Vec<String>,
}

/// True when an error line is a packaging failure: the artifact itself is broken, and Lambda
/// fails the same way whatever the event.
pub fn is_packaging_failure(error: &str) -> bool {
    let error_type = error.split(':').next().unwrap_or_default().trim();
    matches!(error_type, "ModuleNotFoundError" | "ImportError")
        || [
            "invalid ELF header",
            "cannot open shared object file",
            "wrong ELF class",
            "GLIBC_",
            "GLIBCXX_",
            "add_dll_directory",
            "undefined symbol",
            "not a valid Win32 application",
            "mach-o",
            "incompatible architecture",
        ]
        .iter()
        .any(|needle| error.contains(needle))
}

pub fn run(target: &SmokeTarget, interpreter: &Interpreter, timeout: Duration) -> Result<SmokeReport> {
    let mut report = SmokeReport::default();
    let event = match &target.event {
        Some(event) => serde_json::to_string(&event.event).context("encoding the event")?,
        None => String::new(),
    };
    let Some((output, interpreter)) = cold_start(target, interpreter, &event, timeout, &mut report)? else {
        return Ok(report);
    };
    report.notes.push(format!("    ran in {}", interpreter.describe()));
    let Some(result_line) = output.lines().rev().find_map(|l| l.strip_prefix(RESULT_MARKER)) else {
        report.findings.push(crash_finding(target, "the interpreter ended without a result"));
        return Ok(report);
    };
    let result: ScriptResult = serde_json::from_str(result_line).context("reading the smoke test's result")?;
    if !result.served_from_host.is_empty() {
        report.notes.push(format!(
            "    {} came from the local Python's site-packages, standing in for the Lambda runtime's",
            result.served_from_host.join(", ")
        ));
    }
    if let Some(error) = &result.error {
        report_raised(target, &result, error, &mut report);
        return Ok(report);
    }
    report_answer(target, result, &mut report);
    Ok(report)
}

/// Runs the cold start in the chosen interpreter: the image first, a local interpreter when the
/// image does not run. Returns the output and the interpreter that produced it, or `None` when
/// the report is already complete (the interpreter crashed, or only the static import check
/// could run).
fn cold_start(
    target: &SmokeTarget,
    interpreter: &Interpreter,
    event: &str,
    timeout: Duration,
    report: &mut SmokeReport,
) -> Result<Option<(String, Interpreter)>> {
    let mut interpreter = interpreter.clone();
    let mut output = None;
    if let Interpreter::Image { image, platform } = &interpreter {
        match run_in_image(target, image, platform, event, timeout) {
            Ok(text) if text.contains(RESULT_MARKER) => output = Some(text),
            // The image could not be pulled or started: fall back to a local interpreter.
            failed => {
                let why = match failed {
                    Ok(_) => "it produced no result".to_string(),
                    Err(err) => format!("{err:#}"),
                };
                report.notes.push(format!(
                    "warning: the Lambda image did not run ({why}); trying a local {}",
                    target.runtime.name
                ));
                interpreter = choose_interpreter(target.runtime, || false);
            }
        }
    }
    let output = match (output, &interpreter) {
        (Some(output), _) => output,
        (None, Interpreter::Local(python)) => match run_locally(target, python, event, timeout) {
            Ok((output, resolved)) => {
                interpreter = Interpreter::Local(resolved);
                output
            }
            Err(err) => {
                report.findings.push(crash_finding(target, &format!("{err:#}")));
                return Ok(None);
            }
        },
        (None, Interpreter::Unavailable(reason)) => {
            run_static_import_check(target, reason, report)?;
            return Ok(None);
        }
        (None, Interpreter::Image { .. }) => unreachable!("replaced by a local interpreter above"),
    };
    Ok(Some((output, interpreter)))
}

/// No interpreter can run the handler here: the static import check stands in for the cold start.
fn run_static_import_check(target: &SmokeTarget, reason: &str, report: &mut SmokeReport) -> Result<()> {
    let mut roots = vec![target.artifact.to_path_buf()];
    roots.extend(target.layers.iter().cloned());
    let check = super::imports::check(&roots, &target.module, target.runtime)?;
    report.notes.push(format!(
        "    {}: no interpreter can run it here ({reason}); ran the static import check instead: {} modules followed",
        target.logical_id, check.followed
    ));
    for missing in check.unresolved {
        let message = format!(
            "{} imports {}, which is in neither the artifact, its layers, the runtime's SDK nor the {} standard library",
            missing.file, missing.module, target.runtime.name
        );
        if !target.external_layers.is_empty() {
            report.notes.push(format!(
                "notice: {message}; it may come from {}, which is not checked here",
                target.external_layers.join(", ")
            ));
            continue;
        }
        let mut finding = Finding::new(
            GUARD,
            format!("{}/{}", target.artifact_shown, missing.file),
            format!("static import check: {message}"),
            format!("Runtime.ImportModuleError: No module named '{}' at the first cold start", missing.module),
            missing_module_fix(&missing.module, target.runtime),
        );
        finding = finding.at_line(missing.line);
        report.findings.push(finding);
    }
    Ok(())
}

/// The handler raised `error` while importing or invoking: a finding for a packaging failure,
/// a notice for anything else.
fn report_raised(target: &SmokeTarget, result: &ScriptResult, error: &str, report: &mut SmokeReport) {
    let (path, line) = match (&result.file, result.line) {
        (Some(file), line) => (format!("{}/{file}", target.artifact_shown), line),
        (None, _) => (format!("{}/{}", target.artifact_shown, target.module.replace('.', "/") + ".py"), None),
    };
    let during = if result.phase == "import" { "importing the handler" } else { "invoking the handler" };
    let missing_from_external = error.contains("No module named") && !target.external_layers.is_empty();
    if !is_packaging_failure(error) || missing_from_external {
        let hint = if missing_from_external {
            format!("; it may come from {}, which is not checked here", target.external_layers.join(", "))
        } else {
            String::new()
        };
        report.notes.push(format!(
            "notice: smoke test of {}: {during} raised {error} ({path}{}){hint}: not a packaging failure, so not a finding; check it with sam local invoke {} -e <event.json>",
            target.logical_id,
            line.map(|l| format!(":{l}")).unwrap_or_default(),
            target.logical_id
        ));
        return;
    }
    let runtime_sdk = target_runtime_module(error);
    let fix = match runtime_sdk {
        Some(module) => format!(
            "{module} is provided by the Lambda runtime but is not installed for the local {}: install it there (pip install {module}) or run with Docker",
            target.runtime.name
        ),
        None if error.contains("No module named") => "add the missing package to requirements.txt (the local machine may have it, the artifact does not) or fix the import, then rebuild".to_string(),
        None => format!("fix the error at {path}; reproduce with the same event: sam local invoke {} -e <event.json>", target.logical_id),
    };
    let mut finding = Finding::new(
        GUARD,
        path,
        format!("{during} {}.{} failed: {error}", target.module, target.attribute),
        "the same error on Lambda's first cold start: Runtime.ImportModuleError or a 502 from API Gateway (the seed's No module named 'src' was this)",
        fix,
    );
    if let Some(line) = line {
        finding = finding.at_line(line);
    }
    report.findings.push(finding);
}

/// The handler imported (and answered, when invoked): a 5xx from an API function is a finding,
/// any other answer a note.
fn report_answer(target: &SmokeTarget, result: ScriptResult, report: &mut SmokeReport) {
    let what = match &target.event {
        Some(event) => format!("invoking it with {}", event.description),
        None => "importing it (no event to invoke it with)".to_string(),
    };
    let imported = format!("handler imported in {:.2}s", result.import_seconds.unwrap_or_default());
    let Some(event) = &target.event else {
        report.notes.push(format!("    {}: import only -> ok ({imported})", target.logical_id));
        return;
    };
    let status = result.status.as_ref().and_then(serde_json::Value::as_u64);
    if event.api && status.is_some_and(|s| s >= 500) {
        report.findings.push(Finding::new(
            GUARD,
            format!("{}/{}", target.artifact_shown, target.module.replace('.', "/") + ".py"),
            format!(
                "{} answered {}: {}",
                event.description,
                status.unwrap_or_default(),
                result.body.unwrap_or_default()
            ),
            format!("the deployed API fails the same way: {} after every cold start", event.description),
            format!(
                "fix the handler, or point the smoke test at a route that answers without AWS access: smoke_test_path (or smoke_test_event) for {} in [workspace.metadata.lambda]",
                target.logical_id
            ),
        ));
        return;
    }
    let answer = match (status, &result.returned) {
        (Some(status), _) => format!("statusCode {status}"),
        (None, Some(returned)) => format!("returned {returned}"),
        (None, None) => "returned".to_string(),
    };
    report.notes.push(format!("    {}: {what} -> {answer} ({imported})", target.logical_id));
    if status == Some(200) {
        report.body = result.body;
    }
}

fn missing_module_fix(module: &str, runtime: &LambdaRuntime) -> String {
    let root = module.split('.').next().unwrap_or(module);
    match super::imports::removed_from_stdlib(root) {
        Some(version) => format!(
            "{root} left the standard library in Python 3.{version}, and {} is newer: replace it, or add its PyPI successor to requirements.txt",
            runtime.name
        ),
        None => format!("add the package that provides {root} to requirements.txt, or fix the import, then rebuild"),
    }
}

/// `No module named 'boto3'` for a module the runtime provides: a gap of the local
/// interpreter, not of the artifact.
fn target_runtime_module(error: &str) -> Option<&'static str> {
    let missing = error.split("No module named '").nth(1)?.split(['\'', '.']).next()?;
    ["boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3"].into_iter().find(|m| *m == missing)
}

fn crash_finding(target: &SmokeTarget, error: &str) -> Finding {
    Finding::new(
        GUARD,
        format!("{}/{}", target.artifact_shown, target.module.replace('.', "/") + ".py"),
        format!("the cold start crashed the interpreter: {error}"),
        "Runtime.ExitError on Lambda: the process dies during the cold start (a native module built for another platform does this)",
        "run the other guards (cargo xtask lambda-check) for foreign binaries, then reproduce with sam local invoke",
    )
}

/// The variables Lambda sets that code commonly reads at import. The host's own environment
/// is not passed on: no credentials or local settings leak into the check.
fn lambda_environment(target: &SmokeTarget, task_root: &str) -> Vec<(String, String)> {
    let lambda = [
        ("LAMBDA_TASK_ROOT", task_root.to_string()),
        ("LAMBDA_RUNTIME_DIR", "/var/runtime".into()),
        ("AWS_LAMBDA_FUNCTION_NAME", format!("{}-smoke-test", target.logical_id)),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", target.memory_size.to_string()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}-smoke-test", target.logical_id)),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "smoke".into()),
        ("AWS_EXECUTION_ENV", format!("AWS_Lambda_{}", target.runtime.name)),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("_HANDLER", format!("{}.{}", target.module, target.attribute)),
        ("TZ", ":UTC".into()),
        ("LANG", "en_US.UTF-8".into()),
        ("PYTHONDONTWRITEBYTECODE", "1".into()),
    ];
    let mut environment: Vec<(String, String)> = lambda.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    for (name, value) in &target.environment {
        // Lambda refuses to let a function set its reserved variables; credentials never pass.
        if crate::sys::redact::CREDENTIAL_VARIABLES.contains(&name.as_str())
            || environment.iter().any(|(k, _)| k == name)
        {
            continue;
        }
        environment.push((name.clone(), value.clone()));
    }
    environment
}

/// Returns the output and the interpreter that actually ran (behind any shim).
fn run_locally(target: &SmokeTarget, python: &Path, event: &str, timeout: Duration) -> Result<(String, PathBuf)> {
    let sh = Shell::new()?;
    let artifact = target.artifact;
    let (module, attribute) = (&target.module, &target.attribute);
    // A pyenv-style shim needs the caller's environment to find the real interpreter; the
    // check itself then runs that interpreter directly, with a clean environment.
    let python = cmd!(sh, "{python} -I -S -c 'import sys; print(sys.executable)'")
        .quiet()
        .read()
        .with_context(|| format!("asking {} where its interpreter is", python.display()))?;
    // -I: no PYTHONPATH, no user site; -S: no site-packages; -B: no .pyc written into the
    // artifact, which Lambda would otherwise get too.
    let layers = serde_json::to_string(&target.layers).context("encoding the layers")?;
    let command =
        cmd!(sh, "{python} -I -S -B -c {SMOKE_SCRIPT} {artifact} {module} {attribute} {event} local {layers}");
    let mut command: Command = command.into();
    command.env_clear().env("PATH", "/usr/local/bin:/usr/bin:/bin");
    command.envs(lambda_environment(target, &artifact.to_string_lossy()));
    let output = crate::sys::process::capture(command, &format!("{} smoke test", target.runtime.name), Some(timeout))?;
    Ok((output, PathBuf::from(python.trim())))
}

fn run_in_image(target: &SmokeTarget, image: &str, platform: &str, event: &str, timeout: Duration) -> Result<String> {
    let sh = Shell::new()?;
    let task_mount = format!("{}:/var/task:ro", target.artifact.display());
    let mut layer_mounts = Vec::new();
    let mut layer_paths = Vec::new();
    for (i, layer) in target.layers.iter().enumerate() {
        layer_mounts.push("-v".to_string());
        layer_mounts.push(format!("{}:/opt/xtask-layer-{i}/python:ro", layer.display()));
        layer_paths.push(format!("/opt/xtask-layer-{i}/python"));
    }
    let layers = serde_json::to_string(&layer_paths).context("encoding the layers")?;
    let env_flags: Vec<String> = lambda_environment(target, "/var/task")
        .into_iter()
        .flat_map(|(k, v)| ["-e".to_string(), format!("{k}={v}")])
        .collect();
    let (module, attribute) = (&target.module, &target.attribute);
    let command = cmd!(
        sh,
        "docker run --rm --platform {platform} --entrypoint /var/lang/bin/python3 -v {task_mount} {layer_mounts...} {env_flags...} {image} -B -c {SMOKE_SCRIPT} /var/task {module} {attribute} {event} image {layers}"
    );
    crate::sys::process::capture(command, "docker run (smoke test)", Some(timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_comes_first_then_the_local_python() {
        let runtime = LambdaRuntime::new("python3.11", "x86_64").unwrap();
        assert_eq!(
            choose_interpreter(&runtime, || true),
            Interpreter::Image { image: "public.ecr.aws/lambda/python:3.11".into(), platform: "linux/amd64" }
        );
        if std::env::consts::ARCH == "x86_64" {
            assert!(matches!(choose_interpreter(&runtime, || false), Interpreter::Local(_)));
            let arm = LambdaRuntime::new("python3.11", "arm64").unwrap();
            assert!(
                matches!(choose_interpreter(&arm, || false), Interpreter::Unavailable(r) if r.contains("arm64 function"))
            );
        }
        let missing = LambdaRuntime::new("python3.99", "x86_64").unwrap();
        if std::env::consts::ARCH == "x86_64" {
            let Interpreter::Unavailable(reason) = choose_interpreter(&missing, || false) else { panic!() };
            assert!(reason.contains("no python3.99 is found"), "{reason}");
        }
    }

    #[test]
    fn the_event_is_an_api_gateway_proxy_get() {
        let event = super::super::smoke_events::rest_api("GET", "/health", Some("/{proxy+}"));
        assert_eq!(event["httpMethod"], "GET");
        assert_eq!(event["path"], "/health");
        assert_eq!(event["pathParameters"]["proxy"], "health");
        assert_eq!(event["requestContext"]["path"], "/Prod/health");
    }

    #[test]
    fn missing_runtime_modules_are_told_apart_from_missing_packages() {
        assert_eq!(target_runtime_module("ModuleNotFoundError: No module named 'boto3'"), Some("boto3"));
        assert_eq!(target_runtime_module("ModuleNotFoundError: No module named 'botocore.compat'"), Some("botocore"));
        assert_eq!(target_runtime_module("ModuleNotFoundError: No module named 'yaml'"), None);
    }
}
