//! Guard `smoke-test`: a cold start of the built artifact. The handler is imported from the
//! artifact and invoked with a synthetic API Gateway proxy event (GET /health by default), in
//! a Python that matches the runtime: the Lambda base image under Docker when a daemon
//! answers, else the local `python3.X`, else the test is skipped with a warning.
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

artifact, module_name, attribute, event_json, mode = sys.argv[1:6]
runtime_provided = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3"}
served_from_host = []

if mode == "local":
    import site  # under -S this computes paths but adds none of them
    host_dirs = [d for d in site.getsitepackages() + [site.getusersitepackages()] if os.path.isdir(d)]
    # The standard library only: no site-packages, no current dir, no PYTHONPATH.
    stdlib = [p for p in sys.path if p and "-packages" not in p and p.startswith((sys.base_prefix, sys.prefix))]
    sys.path[:] = [artifact] + stdlib

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
    sys.path.insert(0, artifact)

os.chdir(artifact)

class Context:
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "smoke-test")
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:" + function_name
    memory_limit_in_mb = 1024
    aws_request_id = "xtask-smoke-test"
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "smoke"
    def get_remaining_time_in_millis(self):
        return 30000

result = {}
try:
    started = time.monotonic()
    handler = getattr(importlib.import_module(module_name), attribute)
    result["import_seconds"] = round(time.monotonic() - started, 3)
    event = json.loads(event_json)
    response = handler(event, Context())
    if isinstance(response, dict):
        result["status"] = response.get("statusCode")
        result["body"] = str(response.get("body", ""))[:300]
    else:
        result["error"] = "the handler returned %r, not an API Gateway proxy response" % type(response).__name__
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
    match which::which(&runtime.name) {
        Ok(python) => Interpreter::Local(python),
        Err(_) => Interpreter::Unavailable(format!(
            "no Docker daemon answers and {} is not on PATH: install Python 3.{} to run the cold-start smoke test",
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
    /// The request path of the synthetic GET, e.g. `/health`.
    pub path: &'a str,
    pub runtime: &'a LambdaRuntime,
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
    status: Option<serde_json::Value>,
    body: Option<String>,
    error: Option<String>,
    file: Option<String>,
    line: Option<u32>,
    import_seconds: Option<f64>,
    #[serde(default)]
    served_from_host: Vec<String>,
}

/// A synthetic API Gateway (REST, proxy) event for `GET {path}`, like the one Lambda receives.
pub fn api_gateway_event(path: &str) -> serde_json::Value {
    serde_json::json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "GET",
        "headers": {"Host": "smoke.execute-api.us-east-1.amazonaws.com", "Accept": "application/json"},
        "multiValueHeaders": {"Host": ["smoke.execute-api.us-east-1.amazonaws.com"], "Accept": ["application/json"]},
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": {"proxy": path.trim_start_matches('/')},
        "stageVariables": null,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": "GET",
            "path": format!("/Prod{path}"),
            "stage": "Prod",
            "requestId": "xtask-smoke-test",
            "identity": {"sourceIp": "127.0.0.1"}
        },
        "body": null,
        "isBase64Encoded": false
    })
}

pub fn run(target: &SmokeTarget, interpreter: &Interpreter, timeout: Duration) -> Result<SmokeReport> {
    let mut report = SmokeReport::default();
    let mut interpreter = interpreter.clone();
    let event = serde_json::to_string(&api_gateway_event(target.path)).context("encoding the event")?;

    let mut output = None;
    if let Interpreter::Image { image, platform } = &interpreter {
        match run_in_image(target, image, platform, &event, timeout) {
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
        (None, Interpreter::Local(python)) => match run_locally(target, python, &event, timeout) {
            Ok((output, resolved)) => {
                interpreter = Interpreter::Local(resolved);
                output
            }
            Err(err) => {
                report.findings.push(crash_finding(target, &format!("{err:#}")));
                return Ok(report);
            }
        },
        (None, Interpreter::Unavailable(reason)) => {
            report.notes.push(format!(
                "warning: smoke test of {} SKIPPED: {reason}; the cold start of this artifact is unchecked",
                target.logical_id
            ));
            return Ok(report);
        }
        (None, Interpreter::Image { .. }) => unreachable!("replaced by a local interpreter above"),
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
    let request = format!("GET {}", target.path);
    if let Some(error) = result.error {
        let (path, line) = match (&result.file, result.line) {
            (Some(file), line) => (format!("{}/{file}", target.artifact_shown), line),
            (None, _) => (format!("{}/{}", target.artifact_shown, target.module.replace('.', "/") + ".py"), None),
        };
        let runtime_sdk = target_runtime_module(&error);
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
            format!("importing {}.{} and invoking {request} failed: {error}", target.module, target.attribute),
            "the same error on Lambda's first cold start: Runtime.ImportModuleError or a 502 from API Gateway (the seed's No module named 'src' was this)",
            fix,
        );
        if let Some(line) = line {
            finding = finding.at_line(line);
        }
        report.findings.push(finding);
        return Ok(report);
    }
    let status = result.status.as_ref().and_then(serde_json::Value::as_u64);
    if status != Some(200) {
        report.findings.push(Finding::new(
            GUARD,
            format!("{}/{}", target.artifact_shown, target.module.replace('.', "/") + ".py"),
            format!(
                "{request} answered {} instead of 200: {}",
                result.status.map(|s| s.to_string()).unwrap_or_else(|| "no statusCode".into()),
                result.body.unwrap_or_default()
            ),
            format!("the deployed API fails the same way: {request} after every cold start"),
            format!(
                "fix the route, or point the smoke test at one that answers 200 without AWS access: smoke_test_path for {} in [workspace.metadata.lambda]",
                target.logical_id
            ),
        ));
        return Ok(report);
    }
    report
        .notes
        .push(format!("    {request} -> 200 (handler imported in {:.2}s)", result.import_seconds.unwrap_or_default()));
    report.body = result.body;
    Ok(report)
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
fn lambda_environment(target: &SmokeTarget, task_root: &str) -> Vec<(&'static str, String)> {
    vec![
        ("LAMBDA_TASK_ROOT", task_root.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", format!("{}-smoke-test", target.logical_id)),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024".into()),
        ("AWS_EXECUTION_ENV", format!("AWS_Lambda_{}", target.runtime.name)),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("_HANDLER", format!("{}.{}", target.module, target.attribute)),
        ("TZ", ":UTC".into()),
        ("LANG", "en_US.UTF-8".into()),
        ("PYTHONDONTWRITEBYTECODE", "1".into()),
    ]
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
    let command = cmd!(sh, "{python} -I -S -B -c {SMOKE_SCRIPT} {artifact} {module} {attribute} {event} local");
    let mut command: Command = command.into();
    command.env_clear().env("PATH", "/usr/local/bin:/usr/bin:/bin");
    command.envs(lambda_environment(target, &artifact.to_string_lossy()));
    let output = crate::sys::process::capture(command, &format!("{} smoke test", target.runtime.name), Some(timeout))?;
    Ok((output, PathBuf::from(python.trim())))
}

fn run_in_image(target: &SmokeTarget, image: &str, platform: &str, event: &str, timeout: Duration) -> Result<String> {
    let sh = Shell::new()?;
    let task_mount = format!("{}:/var/task:ro", target.artifact.display());
    let env_flags: Vec<String> = lambda_environment(target, "/var/task")
        .into_iter()
        .flat_map(|(k, v)| ["-e".to_string(), format!("{k}={v}")])
        .collect();
    let (module, attribute) = (&target.module, &target.attribute);
    let command = cmd!(
        sh,
        "docker run --rm --platform {platform} --entrypoint /var/lang/bin/python3 -v {task_mount} {env_flags...} {image} -B -c {SMOKE_SCRIPT} /var/task {module} {attribute} {event} image"
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
            assert!(reason.contains("python3.99 is not on PATH"), "{reason}");
        }
    }

    #[test]
    fn the_event_is_an_api_gateway_proxy_get() {
        let event = api_gateway_event("/health");
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
