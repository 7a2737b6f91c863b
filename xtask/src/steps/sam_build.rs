//! sam-build: `sam build` in the template's directory, so the output lands in SAM's default
//! `.aws-sam/build`. In a container when Docker answers (Linux wheels whatever the host), else
//! natively with a notice.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::ValueEnum;
use xshell::{cmd, Shell};

use crate::bad_input;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ContainerMode {
    /// In a container when a Docker daemon answers, else natively.
    Auto,
    /// Always in a container; abort when Docker is unavailable.
    Always,
    /// Always natively, with the local Python of the function's runtime.
    Never,
}

/// Whether to pass `--use-container`, asking Docker only when the mode leaves it open.
pub fn use_container(mode: ContainerMode, docker_answers: impl FnOnce() -> bool) -> Result<bool> {
    match mode {
        ContainerMode::Never => Ok(false),
        ContainerMode::Auto => Ok(docker_answers()),
        ContainerMode::Always => {
            if docker_answers() {
                Ok(true)
            } else {
                bad_input!("--container always: no Docker daemon answers (`docker info` failed): start Docker, or build natively with --container never")
            }
        }
    }
}

/// True when a Docker daemon answers within a few seconds. The client alone (no daemon) fails
/// at once; a hung daemon is given up on rather than waited for.
pub fn docker_answers() -> bool {
    let Ok(docker) = which::which("docker") else {
        return false;
    };
    let Ok(mut child) = Command::new(docker)
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

pub fn sam_build(sh: &Shell, sam: &Path, sam_dir: &Path, template_file: &Path, in_container: bool) -> Result<()> {
    let _dir = sh.push_dir(sam_dir);
    let _telemetry = sh.push_env("SAM_CLI_TELEMETRY", "0");
    let container_flag: &[&str] = if in_container { &["--use-container"] } else { &[] };
    cmd!(sh, "{sam} build --template-file {template_file} {container_flag...}")
        .run()
        .with_context(|| format!("sam build failed in {} (its output is above)", sam_dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_does_not_ask_docker() {
        assert!(!use_container(ContainerMode::Never, || panic!("asked docker")).unwrap());
    }

    #[test]
    fn auto_follows_docker() {
        assert!(use_container(ContainerMode::Auto, || true).unwrap());
        assert!(!use_container(ContainerMode::Auto, || false).unwrap());
    }

    #[test]
    fn always_without_docker_is_bad_input() {
        let err = use_container(ContainerMode::Always, || false).unwrap_err();
        assert_eq!(crate::exit::status_of(&err), crate::exit::BAD_INPUT);
        assert!(err.to_string().contains("--container never"), "{err}");
    }
}
