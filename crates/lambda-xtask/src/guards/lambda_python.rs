//! Running Python the way Lambda runs a function, for the smoke test and the bundled SDK's
//! import check: in the Lambda base image under Docker when a daemon answers, else in a local
//! `python3.X` isolated from the host (`-I -S -B`: no site-packages, no user site, no
//! PYTHONPATH, no bytecode written) with an environment built from nothing: Lambda's
//! variables, dummy credentials and empty AWS config files, never the developer's own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use super::task_root::TaskRoot;
use crate::project::runtime::{Arch, LambdaRuntime};

/// Where the Python runs.
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
                format!("{} (isolated from the host's site-packages)", python.display())
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

/// Dummy credentials: a handler that signs a request signs it with these, and the developer's
/// own never reach it.
pub const DUMMY_ACCESS_KEY_ID: &str = "ASIAXTASKSMOKETEST00";
const DUMMY_SECRET_ACCESS_KEY: &str = "xtask-smoke-test-dummy-secret-access-key";
const DUMMY_SESSION_TOKEN: &str = "xtask-smoke-test-dummy-session-token";

/// What the SDK reads from the environment, set so it talks to `endpoint` (the stand-in AWS)
/// with dummy credentials, and reads no config but the empty files of `root`.
pub fn aws_isolation(endpoint: Option<&str>, root: Option<&TaskRoot>) -> Vec<(String, String)> {
    let mut environment: Vec<(String, String)> = [
        ("AWS_ACCESS_KEY_ID", DUMMY_ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET_ACCESS_KEY),
        ("AWS_SESSION_TOKEN", DUMMY_SESSION_TOKEN),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        // Never wait for an instance metadata service that is not there.
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if let Some(endpoint) = endpoint {
        environment.push(("AWS_ENDPOINT_URL".into(), endpoint.to_string()));
    }
    if let Some(root) = root {
        let path = |p: &Path| p.to_string_lossy().into_owned();
        environment.push(("AWS_CONFIG_FILE".into(), path(&root.aws_config)));
        environment.push(("AWS_SHARED_CREDENTIALS_FILE".into(), path(&root.aws_credentials)));
        environment.push(("HOME".into(), path(&root.home)));
    }
    environment
}

/// True for a variable of the function's template that the smoke test sets itself or must
/// not take from anywhere: credentials, and endpoint overrides that would send a call past
/// the stand-in AWS (`AWS_ENDPOINT_URL_DYNAMODB=http://localhost:8000` for local development).
pub fn reserved_variable(name: &str) -> bool {
    crate::sys::redact::CREDENTIAL_VARIABLES.contains(&name)
        || name.starts_with("AWS_ENDPOINT_URL")
        || matches!(name, "AWS_CONFIG_FILE" | "AWS_SHARED_CREDENTIALS_FILE" | "HOME")
}

/// The interpreter behind `python`: a pyenv-style shim needs the caller's environment to find
/// it, and the check then runs that interpreter directly, with a clean environment.
pub fn real_interpreter(python: &Path) -> Result<PathBuf> {
    let sh = Shell::new()?;
    let real = cmd!(sh, "{python} -I -S -c 'import sys; print(sys.executable)'")
        .quiet()
        .read()
        .with_context(|| format!("asking {} where its interpreter is", python.display()))?;
    Ok(PathBuf::from(real.trim()))
}

/// Runs `script` with `args` in a local interpreter, isolated: `-I` (no PYTHONPATH, no user
/// site), `-S` (no site-packages), `-B` (no bytecode written), only `environment` set.
pub fn run_local(
    python: &Path,
    script: &str,
    args: &[String],
    environment: Vec<(String, String)>,
    timeout: Duration,
    what: &str,
) -> Result<String> {
    let mut command = Command::new(python);
    command.args(["-I", "-S", "-B", "-c", script]).args(args);
    command.env_clear().env("PATH", "/usr/local/bin:/usr/bin:/bin").envs(environment);
    crate::sys::process::capture(command, what, Some(timeout))
}

/// Runs `script` in the Lambda base image: `/var/task` mounted read-only from `artifact`, each
/// layer read-only under `/opt`, on the host's network (the stand-in AWS listens on its
/// loopback). `args` may name `/var/task` and the layers' mount points (see [`layer_mounts`]).
pub fn run_in_image(
    (image, platform): (&str, &str),
    artifact: &Path,
    layers: &[PathBuf],
    script: &str,
    args: &[String],
    environment: Vec<(String, String)>,
    timeout: Duration,
) -> Result<String> {
    let sh = Shell::new()?;
    let task_mount = format!("{}:/var/task:ro", artifact.display());
    let mut layer_flags = Vec::new();
    for (layer, mount) in layers.iter().zip(layer_mounts(layers.len())) {
        layer_flags.push("-v".to_string());
        layer_flags.push(format!("{}:{mount}:ro", layer.display()));
    }
    let env_flags: Vec<String> =
        environment.into_iter().flat_map(|(k, v)| ["-e".to_string(), format!("{k}={v}")]).collect();
    let command = cmd!(
        sh,
        "docker run --rm --network host --platform {platform} --entrypoint /var/lang/bin/python3 -v {task_mount} {layer_flags...} {env_flags...} {image} -B -c {script} {args...}"
    );
    crate::sys::process::capture(command, "docker run (smoke test)", Some(timeout))
}

/// Where each layer is mounted in the image.
pub fn layer_mounts(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("/opt/xtask-layer-{i}/python")).collect()
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
    fn the_sdk_gets_dummy_credentials_and_no_endpoint_override_of_the_template_passes() {
        let environment = aws_isolation(Some("http://127.0.0.1:9"), None);
        let get = |name: &str| environment.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(get("AWS_ACCESS_KEY_ID"), Some(DUMMY_ACCESS_KEY_ID));
        assert_eq!(get("AWS_ENDPOINT_URL"), Some("http://127.0.0.1:9"));
        for name in ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_SECRET_ACCESS_KEY", "HOME", "AWS_CONFIG_FILE"] {
            assert!(reserved_variable(name), "{name}");
        }
        assert!(!reserved_variable("TABLE_NAME") && !reserved_variable("AWS_PROFILE"));
    }
}
