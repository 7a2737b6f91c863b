//! Guard `smoke-test`: a cold start of the built artifact. The handler is imported from the
//! artifact (its layers next, as `/opt/python`) and invoked with the event its first event
//! source would send (see [`super::smoke_events`]), or a user's event file, in a Python that
//! matches the runtime (see [`super::lambda_python`]): the Lambda base image under Docker
//! when a daemon answers, else a local `python3.X`, else a static import check (see
//! [`super::imports`]).
//!
//! Only a packaging failure fails the guard: a module that cannot be imported, a native
//! library that does not load, a Windows/macOS-only call, a write into the read-only task
//! root. Any other exception (the app's own logic meeting a synthetic event) is a notice; so
//! is any response but a 5xx from an API function, and a 5xx that follows a call to AWS.
//!
//! Locally, nothing from the host's site-packages may satisfy an import, or a package missing
//! from requirements.txt would pass here and fail on Lambda (the seed's `No module named ...`
//! failures). `sys.path` is what Lambda's is: the artifact, its layers, the runtime's own SDK
//! (boto3, botocore, s3transfer at the runtime's versions, from the tool cache: see
//! `guards::runtime_sdk`), the standard library. AWS is a stand-in (`sys::stand_in_aws`) that
//! records each call and answers it with an error, reached with dummy credentials. The
//! handler runs on a copy of the build output (see [`super::task_root`]): what it writes
//! there is named, and never ships.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use super::lambda_python::{self, Interpreter};
use super::task_root::{Change, TaskRoot, Written};
use super::Finding;
use crate::guards::runtime_sdk::InstalledSdk;
use crate::project::runtime::LambdaRuntime;
use crate::sys::stand_in_aws::{describe_calls, AwsCall, StandInAws};

pub const GUARD: &str = "smoke-test";

/// Printed before the result line, so the app's own output cannot be mistaken for it.
const RESULT_MARKER: &str = "XTASK-SMOKE-RESULT ";

/// Runs inside the runtime's Python with `-c`, so nothing is written anywhere. argv: artifact,
/// module, attribute, the event as JSON, mode (`local` or `image`), the layers' and the
/// runtime SDK's dirs as JSON lists.
const SMOKE_SCRIPT: &str = r#"
import importlib, json, os, sys, time, traceback

artifact, module_name, attribute, event_json, mode, layers_json, sdk_json = sys.argv[1:8]
layers = json.loads(layers_json)
sdk = json.loads(sdk_json)

if mode == "local":
    # The standard library only: no site-packages, no current dir, no PYTHONPATH.
    stdlib = [p for p in sys.path if p and "-packages" not in p and p.startswith((sys.base_prefix, sys.prefix))]
    # As on Lambda: the function, its layers (/opt/python), then the runtime's own SDK.
    sys.path[:] = [artifact] + layers + sdk + stdlib
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
print("\n" + "XTASK-SMOKE-RESULT " + json.dumps(result), flush=True)
"#;

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
    /// How findings show each of `layers`.
    pub layers_shown: Vec<String>,
    /// Layers from outside the template: a module missing here may be in one of them.
    pub external_layers: Vec<String>,
    /// The function's `Environment.Variables`, intrinsics as placeholders.
    pub environment: Vec<(String, String)>,
    pub memory_size: u32,
}

/// What a cold start has around it besides the artifact.
pub struct Surroundings<'a> {
    /// The runtime's SDK for a local interpreter, or why it cannot be had here.
    pub sdk: Result<&'a InstalledSdk, &'a str>,
    /// The stand-in AWS the handler's SDK calls go to.
    pub aws: &'a StandInAws,
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

/// What one cold start left to judge.
struct ColdStart {
    output: String,
    interpreter: Interpreter,
    /// Files the handler wrote in its (copied) task root and layers.
    written: Vec<Written>,
    /// Files of the build output itself that changed while it ran: nothing may.
    build_output_changed: Vec<Written>,
    /// The AWS calls it made, as the stand-in recorded them.
    calls: Vec<AwsCall>,
}

pub fn run(
    target: &SmokeTarget,
    interpreter: &Interpreter,
    surroundings: &Surroundings,
    timeout: Duration,
) -> Result<SmokeReport> {
    let mut report = SmokeReport::default();
    let event = match &target.event {
        Some(event) => serde_json::to_string(&event.event).context("encoding the event")?,
        None => String::new(),
    };
    let Some(cold) = cold_start(target, interpreter, surroundings, &event, timeout, &mut report)? else {
        return Ok(report);
    };
    report.notes.push(format!("    ran in {}", cold.interpreter.describe()));
    if matches!(cold.interpreter, Interpreter::Local(_)) {
        report.notes.push(match surroundings.sdk {
            Ok(sdk) => format!(
                "    after the artifact and its layers: the {} runtime's SDK ({}, from the tool cache)",
                target.runtime.name,
                sdk.set.describe()
            ),
            Err(why) => {
                format!("    without the {} runtime's SDK, which cannot be installed here: {why}", target.runtime.name)
            }
        });
    }
    report_written(target, &cold.written, &mut report);
    report_build_output_changed(target, &cold.build_output_changed, &mut report);
    let Some(result_line) = cold.output.lines().rev().find_map(|l| l.strip_prefix(RESULT_MARKER)) else {
        report.findings.push(crash_finding(target, "the interpreter ended without a result"));
        return Ok(report);
    };
    let result: ScriptResult = serde_json::from_str(result_line).context("reading the smoke test's result")?;
    let sdk_missing = match (&cold.interpreter, surroundings.sdk) {
        (Interpreter::Local(_), Err(why)) => Some(why),
        _ => None,
    };
    if let Some(error) = &result.error {
        report_raised(target, &result, error, (&cold.calls, sdk_missing), &mut report)?;
        return Ok(report);
    }
    report_answer(target, result, &cold.calls, &mut report);
    Ok(report)
}

/// Runs the cold start in the chosen interpreter: the image first, a local interpreter when the
/// image does not run. `None` when the report is already complete (the interpreter crashed,
/// or only the static import check could run).
fn cold_start(
    target: &SmokeTarget,
    interpreter: &Interpreter,
    surroundings: &Surroundings,
    event: &str,
    timeout: Duration,
    report: &mut SmokeReport,
) -> Result<Option<ColdStart>> {
    let mut interpreter = interpreter.clone();
    if let Interpreter::Image { image, platform } = &interpreter {
        surroundings.aws.take_calls();
        match run_in_image(target, (image, platform), surroundings.aws, event, timeout) {
            Ok(output) if output.contains(RESULT_MARKER) => {
                let calls = surroundings.aws.take_calls();
                let (written, build_output_changed) = (Vec::new(), Vec::new());
                return Ok(Some(ColdStart { output, interpreter, written, build_output_changed, calls }));
            }
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
                interpreter = lambda_python::choose_interpreter(target.runtime, || false);
            }
        }
    }
    match &interpreter {
        Interpreter::Local(python) => {
            // Setting up is this machine's business: a failure there is no finding.
            let set_up = lambda_python::real_interpreter(python)
                .and_then(|real| Ok((real, TaskRoot::prepare(target.artifact, &target.layers)?)));
            let (python, root) = match set_up {
                Ok(set_up) => set_up,
                Err(err) => {
                    report.notes.push(format!(
                        "warning: the cold start of {} cannot be set up here: {err:#}",
                        target.logical_id
                    ));
                    run_static_import_check(target, "its cold start cannot be set up here", report)?;
                    return Ok(None);
                }
            };
            match run_locally(target, &python, &root, surroundings, event, timeout) {
                Ok(cold) => Ok(Some(cold)),
                Err(err) => {
                    report.findings.push(crash_finding(target, &format!("{err:#}")));
                    Ok(None)
                }
            }
        }
        Interpreter::Unavailable(reason) => {
            run_static_import_check(target, &format!("no interpreter can run it here ({reason})"), report)?;
            Ok(None)
        }
        Interpreter::Image { .. } => unreachable!("replaced by a local interpreter above"),
    }
}

/// The cold start cannot run here (`why`): the static import check stands in for it.
fn run_static_import_check(target: &SmokeTarget, why: &str, report: &mut SmokeReport) -> Result<()> {
    let mut roots = vec![target.artifact.to_path_buf()];
    roots.extend(target.layers.iter().cloned());
    let check = super::imports::check(&roots, &target.module, target.runtime)?;
    report.notes.push(format!(
        "    {}: {why}; ran the static import check instead: {} modules followed",
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

/// Files the handler wrote beside its code: on Lambda that write fails (the task root is
/// read-only); a file written there during a build would ship with it.
fn report_written(target: &SmokeTarget, written: &[Written], report: &mut SmokeReport) {
    let Some(first) = written.first() else { return };
    let root_shown = |w: &Written| match w.layer {
        None => target.artifact_shown.clone(),
        Some(i) => target.layers_shown.get(i).cloned().unwrap_or_else(|| "a layer".into()),
    };
    let named: Vec<String> = written
        .iter()
        .take(5)
        .map(|w| {
            let change = match w.change {
                Change::Added => "written",
                Change::Modified => "changed",
                Change::Removed => "removed",
            };
            format!("{} ({change})", crate::sys::quote::escaped_path(&w.relative))
        })
        .collect();
    let more = if written.len() > 5 { format!(" and {} more", written.len() - 5) } else { String::new() };
    report.findings.push(Finding::new(
        GUARD,
        format!("{}/{}", root_shown(first), crate::sys::quote::escaped_path(&first.relative)),
        format!(
            "importing or invoking {}.{} writes into its task root or a layer: {}{more}; nothing reached the build output (the smoke test runs on a copy of it)",
            target.module,
            target.attribute,
            named.join(", ")
        ),
        "Lambda's task root (/var/task) and layers (/opt) are read-only: the write fails with OSError: [Errno 30] Read-only file system at the first cold start (and a file written beside the code during a build would ship with it)",
        "write to /tmp instead (tempfile.gettempdir()), never into LAMBDA_TASK_ROOT or the code's own directory",
    ));
}

/// The build output itself changed while the handler ran on its copy: something reached past
/// the copy, and what would ship is no longer what was checked.
fn report_build_output_changed(target: &SmokeTarget, changed: &[Written], report: &mut SmokeReport) {
    let Some(first) = changed.first() else { return };
    let root = match first.layer {
        None => target.artifact_shown.clone(),
        Some(i) => target.layers_shown.get(i).cloned().unwrap_or_else(|| "a layer".into()),
    };
    let names: Vec<String> = changed.iter().take(5).map(|w| crate::sys::quote::escaped_path(&w.relative)).collect();
    report.findings.push(Finding::new(
        GUARD,
        format!("{root}/{}", crate::sys::quote::escaped_path(&first.relative)),
        format!(
            "the build output changed while the smoke test of {} ran on its copy: {}{}",
            target.logical_id,
            names.join(", "),
            if changed.len() > 5 { format!(" and {} more", changed.len() - 5) } else { String::new() }
        ),
        "what would ship is not what the guards checked: a file written into the build output goes into the package",
        "rebuild (cargo xtask lambda-build) and find what writes there: the handler may work out the build output's path from outside its task root",
    ));
}

/// The handler raised `error` while importing or invoking: a finding for a packaging failure,
/// a notice for anything else (naming the AWS calls it made, which the stand-in failed).
fn report_raised(
    target: &SmokeTarget,
    result: &ScriptResult,
    error: &str,
    (calls, sdk_missing): (&[AwsCall], Option<&str>),
    report: &mut SmokeReport,
) -> Result<()> {
    let (path, line) = match (&result.file, result.line) {
        (Some(file), line) => (format!("{}/{file}", target.artifact_shown), line),
        (None, _) => (format!("{}/{}", target.artifact_shown, target.module.replace('.', "/") + ".py"), None),
    };
    let during = if result.phase == "import" { "importing the handler" } else { "invoking the handler" };
    let at = format!("{path}{}", line.map(|l| format!(":{l}")).unwrap_or_default());
    let runtime_gap = match (runtime_sdk_module(error), sdk_missing) {
        (Some(module), Some(why)) => {
            Some((module, format!("the {} runtime's SDK cannot be installed here ({why})", target.runtime.name)))
        }
        // The runtime interface client lives in Lambda's /var/runtime, not in the SDK set.
        (Some(module @ "awslambdaric"), None) => {
            Some((module, "the runtime interface client is not installed here".to_string()))
        }
        _ => None,
    };
    if let Some((module, why)) = runtime_gap {
        report.notes.push(format!(
            "notice: smoke test of {}: {during} needs {module}, which the Lambda runtime provides, but {why}: a gap of this machine, not of the artifact",
            target.logical_id
        ));
        let why = "its cold start needs what the Lambda runtime provides, which is not available here";
        return run_static_import_check(target, why, report);
    }
    if error.contains("Read-only file system") {
        report_written(
            target,
            &[Written { layer: None, relative: PathBuf::from(error_path(error)), change: Change::Added }],
            report,
        );
        return Ok(());
    }
    let missing_from_external = error.contains("No module named") && !target.external_layers.is_empty();
    if !is_packaging_failure(error) || missing_from_external {
        let hint = match (missing_from_external, calls.is_empty()) {
            (true, _) => format!("; it may come from {}, which is not checked here", target.external_layers.join(", ")),
            (false, false) => {
                format!("; needs AWS: {} (the stand-in AWS answered each call with an error)", describe_calls(calls))
            }
            (false, true) => String::new(),
        };
        report.notes.push(format!(
            "notice: smoke test of {}: {during} raised {error} ({at}){hint}: not a packaging failure, so not a finding; check it with sam local invoke {} -e <event.json>",
            target.logical_id, target.logical_id
        ));
        return Ok(());
    }
    let fix = match error.contains("No module named") {
        true => "add the missing package to requirements.txt (the local machine may have it, the artifact does not) or fix the import, then rebuild".to_string(),
        false => format!("fix the error at {path}; reproduce with the same event: sam local invoke {} -e <event.json>", target.logical_id),
    };
    let mut finding = Finding::new(
        GUARD,
        path,
        format!("{during} {}.{} failed: {error}", target.module, target.attribute),
        "the same error on Lambda's first cold start: Runtime.ImportModuleError or a 502 from API Gateway",
        fix,
    );
    if let Some(line) = line {
        finding = finding.at_line(line);
    }
    report.findings.push(finding);
    Ok(())
}

/// The file an `OSError` names: `[Errno 30] Read-only file system: '/var/task/id_rsa'` ->
/// `id_rsa`.
fn error_path(error: &str) -> String {
    let quoted = error.rsplit(": '").next().unwrap_or(error).trim_end_matches('\'');
    quoted.strip_prefix("/var/task/").unwrap_or(quoted).to_string()
}

/// The handler imported (and answered, when invoked): a 5xx from an API function is a finding
/// unless it follows a call to AWS (the stand-in failed that call); any other answer a note.
fn report_answer(target: &SmokeTarget, result: ScriptResult, calls: &[AwsCall], report: &mut SmokeReport) {
    let what = match &target.event {
        Some(event) => format!("invoking it with {}", event.description),
        None => "importing it (no event to invoke it with)".to_string(),
    };
    let imported = format!("handler imported in {:.2}s", result.import_seconds.unwrap_or_default());
    let aws = match calls.is_empty() {
        true => String::new(),
        false => format!("; AWS calls answered by the stand-in with an error: {}", describe_calls(calls)),
    };
    let Some(event) = &target.event else {
        report.notes.push(format!("    {}: import only -> ok ({imported}{aws})", target.logical_id));
        return;
    };
    let status = result.status.as_ref().and_then(serde_json::Value::as_u64);
    if event.api && status.is_some_and(|s| s >= 500) {
        let status = status.unwrap_or_default();
        let body = result.body.unwrap_or_default();
        if !calls.is_empty() {
            report.notes.push(format!(
                "notice: smoke test of {}: {} answered {status} ({body}) after calling AWS; needs AWS: {} (the stand-in AWS answers every call with an error): not a packaging failure, so not a finding; check it against a deployed environment",
                target.logical_id,
                event.description,
                describe_calls(calls)
            ));
            return;
        }
        report.findings.push(Finding::new(
            GUARD,
            format!("{}/{}", target.artifact_shown, target.module.replace('.', "/") + ".py"),
            format!("{} answered {status}: {body}", event.description),
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
    report.notes.push(format!("    {}: {what} -> {answer} ({imported}{aws})", target.logical_id));
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

/// `No module named 'boto3'` for a module the runtime provides (its SDK and what the SDK
/// brings along).
fn runtime_sdk_module(error: &str) -> Option<&'static str> {
    let missing = error.split("No module named '").nth(1)?.split(['\'', '.']).next()?;
    super::imports::RUNTIME_SDK.iter().copied().find(|m| *m == missing)
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

/// The variables Lambda sets that code commonly reads at import, then the stand-in AWS with
/// dummy credentials (see [`lambda_python::aws_isolation`]), then the template's own. The
/// host's environment is not passed on: no credentials or local settings leak into the check.
fn lambda_environment(target: &SmokeTarget, task_root: &str, aws: Vec<(String, String)>) -> Vec<(String, String)> {
    let lambda = [
        ("LAMBDA_TASK_ROOT", task_root.to_string()),
        ("LAMBDA_RUNTIME_DIR", "/var/runtime".into()),
        ("AWS_LAMBDA_FUNCTION_NAME", format!("{}-smoke-test", target.logical_id)),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", target.memory_size.to_string()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}-smoke-test", target.logical_id)),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "smoke".into()),
        ("AWS_EXECUTION_ENV", format!("AWS_Lambda_{}", target.runtime.name)),
        ("_HANDLER", format!("{}.{}", target.module, target.attribute)),
        ("TZ", ":UTC".into()),
        ("LANG", "en_US.UTF-8".into()),
        ("PYTHONDONTWRITEBYTECODE", "1".into()),
    ];
    let mut environment: Vec<(String, String)> = lambda.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    environment.extend(aws);
    for (name, value) in &target.environment {
        // Lambda refuses to let a function set its reserved variables; credentials never pass.
        if lambda_python::reserved_variable(name) || environment.iter().any(|(k, _)| k == name) {
            continue;
        }
        environment.push((name.clone(), value.clone()));
    }
    environment
}

/// The arguments of [`SMOKE_SCRIPT`].
fn script_args(
    target: &SmokeTarget,
    task: &Path,
    event: &str,
    mode: &str,
    layers: &[String],
    sdk: &[String],
) -> Result<Vec<String>> {
    Ok(vec![
        task.to_string_lossy().into_owned(),
        target.module.clone(),
        target.attribute.clone(),
        event.to_string(),
        mode.to_string(),
        serde_json::to_string(layers).context("encoding the layers")?,
        serde_json::to_string(sdk).context("encoding the SDK's dir")?,
    ])
}

/// The cold start in a local interpreter (`python`, the real one behind any shim), on `root`:
/// a copy of the artifact and its layers.
fn run_locally(
    target: &SmokeTarget,
    python: &Path,
    root: &TaskRoot,
    surroundings: &Surroundings,
    event: &str,
    timeout: Duration,
) -> Result<ColdStart> {
    let layers: Vec<String> = root.layers.iter().map(|l| l.to_string_lossy().into_owned()).collect();
    let sdk: Vec<String> = surroundings.sdk.iter().map(|s| s.dir.to_string_lossy().into_owned()).collect();
    let args = script_args(target, &root.task, event, "local", &layers, &sdk)?;
    let aws = lambda_python::aws_isolation(Some(&surroundings.aws.endpoint()), Some(root));
    let environment = lambda_environment(target, &root.task.to_string_lossy(), aws);
    surroundings.aws.take_calls();
    let what = format!("{} smoke test", target.runtime.name);
    let output = lambda_python::run_local(python, SMOKE_SCRIPT, &args, environment, timeout, &what)?;
    let calls = surroundings.aws.take_calls();
    Ok(ColdStart {
        output,
        interpreter: Interpreter::Local(python.to_path_buf()),
        written: root.written()?,
        build_output_changed: root.originals_changed()?,
        calls,
    })
}

fn run_in_image(
    target: &SmokeTarget,
    image: (&str, &str),
    aws: &StandInAws,
    event: &str,
    timeout: Duration,
) -> Result<String> {
    let layers = lambda_python::layer_mounts(target.layers.len());
    let args = script_args(target, Path::new("/var/task"), event, "image", &layers, &[])?;
    let environment =
        lambda_environment(target, "/var/task", lambda_python::aws_isolation(Some(&aws.endpoint()), None));
    lambda_python::run_in_image(image, target.artifact, &target.layers, SMOKE_SCRIPT, &args, environment, timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_is_an_api_gateway_proxy_get() {
        let event = super::super::smoke_events::rest_api("GET", "/health", Some("/{proxy+}"));
        assert_eq!(event["httpMethod"], "GET");
        assert_eq!(event["path"], "/health");
        assert_eq!(event["pathParameters"]["proxy"], "health");
        assert_eq!(event["requestContext"]["path"], "/Prod/health");
    }

    #[test]
    fn a_read_only_write_names_the_file_under_the_task_root() {
        assert_eq!(error_path("OSError: [Errno 30] Read-only file system: '/var/task/id_rsa'"), "id_rsa");
        assert_eq!(error_path("OSError: [Errno 30] Read-only file system: '/var/task/cache/x.db'"), "cache/x.db");
        assert_eq!(error_path("OSError: [Errno 30] Read-only file system: '/opt/python/x'"), "/opt/python/x");
    }

    #[test]
    fn missing_runtime_modules_are_told_apart_from_missing_packages() {
        assert_eq!(runtime_sdk_module("ModuleNotFoundError: No module named 'boto3'"), Some("boto3"));
        assert_eq!(runtime_sdk_module("ModuleNotFoundError: No module named 'botocore.compat'"), Some("botocore"));
        assert_eq!(runtime_sdk_module("ModuleNotFoundError: No module named 'yaml'"), None);
    }
}
