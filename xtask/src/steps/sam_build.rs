//! sam-build: `sam build` in the template's directory, so the output lands in SAM's default
//! `.aws-sam/build`. In a container when Docker answers (Linux wheels whatever the host), else
//! natively with a notice.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::ValueEnum;
use xshell::{cmd, Shell};

use crate::bad_input;
use crate::process;

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
    let Ok(docker) = which::which("docker") else { return false };
    let mut info = Command::new(docker);
    info.args(["info", "--format", "{{.ServerVersion}}"]);
    process::capture(info, "docker info", Some(Duration::from_secs(10))).is_ok()
}

pub fn sam_build(
    sh: &Shell,
    sam: &Path,
    sam_dir: &Path,
    template_file: &Path,
    in_container: bool,
    timeout: Duration,
) -> Result<()> {
    let _dir = sh.push_dir(sam_dir);
    let _telemetry = sh.push_env("SAM_CLI_TELEMETRY", "0");
    let container_flag: &[&str] = if in_container { &["--use-container"] } else { &[] };
    let build = cmd!(sh, "{sam} build --template-file {template_file} {container_flag...}");
    eprintln!("$ {build}");
    process::run(build, "sam build", Some(timeout))
        .with_context(|| format!("building in {} (sam's output is above)", sam_dir.display()))
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
