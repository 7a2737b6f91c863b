//! sam-build: `sam build` in the template's directory, so the output lands in SAM's default
//! `.aws-sam/build`. In a container when Docker answers (Linux wheels whatever the host), else
//! natively with a notice.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::ValueEnum;
use xshell::{cmd, Shell};

use crate::bad_input;
use crate::sys::process;

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

/// True when a Docker daemon answers. With a local socket (the default, `DOCKER_HOST=unix://`)
/// it is asked directly with `GET /_ping`, which takes well under a millisecond where `docker
/// info` takes about 90: the no-op build has a budget of a few tens of milliseconds. Any other
/// daemon address (tcp, ssh, a docker context) is left to `docker info`, given up on after 10 s.
pub fn docker_answers() -> bool {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if host.starts_with("unix://") => ping_socket(Path::new(&host["unix://".len()..])),
        Ok(host) if !host.is_empty() => docker_info(),
        _ if uses_docker_context() => docker_info(),
        _ => {
            let rootless = std::env::var_os("XDG_RUNTIME_DIR").map(|d| Path::new(&d).join("docker.sock"));
            std::iter::once(PathBuf::from("/var/run/docker.sock")).chain(rootless).any(|s| ping_socket(&s))
        }
    }
}

fn ping_socket(socket: &Path) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::os::unix::net::UnixStream::connect(socket) else { return false };
    let timeout = Some(Duration::from_secs(3));
    if stream.set_read_timeout(timeout).is_err() || stream.set_write_timeout(timeout).is_err() {
        return false;
    }
    if stream
        .write_all(
            b"GET /_ping HTTP/1.0
Host: docker

",
        )
        .is_err()
    {
        return false;
    }
    let mut response = [0u8; 64];
    let Ok(read) = stream.read(&mut response) else { return false };
    let status_line = String::from_utf8_lossy(&response[..read]);
    status_line.starts_with("HTTP/1.") && status_line.split_whitespace().nth(1) == Some("200")
}

/// A docker context other than the default points the client somewhere this check can't see.
fn uses_docker_context() -> bool {
    if std::env::var("DOCKER_CONTEXT").is_ok_and(|c| !c.is_empty() && c != "default") {
        return true;
    }
    let config_dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")));
    let Some(text) = config_dir.and_then(|d| crate::sys::beneath::read_to_string(d.join("config.json")).ok()) else {
        return false;
    };
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|config| config.get("currentContext").and_then(|c| c.as_str()).map(|c| c != "default"))
        .unwrap_or(false)
}

fn docker_info() -> bool {
    let Ok(docker) = which::which("docker") else { return false };
    let mut info = Command::new(docker);
    info.args(["info", "--format", "{{.ServerVersion}}"]);
    process::capture(info, "docker info", Some(Duration::from_secs(10))).is_ok()
}

/// How sam builds: in a container or natively with the given interpreters, side by side or not.
pub struct BuildOptions<'a> {
    pub in_container: bool,
    /// `--parallel`: several functions or layers build side by side.
    pub parallel: bool,
    /// The runtimes' interpreters for a native build, put first on sam's PATH.
    pub pythons: &'a [PathBuf],
    /// uv, when some function uses the `python-uv` build method (a beta feature of SAM CLI):
    /// on PATH for sam, that beta turned on, and binary wheels only (`UV_NO_BUILD`), so
    /// nothing is compiled for this host instead of Lambda's.
    pub uv: Option<&'a Path>,
    /// `--parameter-overrides` for the parameters that decide what is built (a function's
    /// Architectures from a parameter, say), so that sam builds what the guards judge: the
    /// ones samconfig.toml gives plain `sam build`, or the deploy environment's.
    pub parameter_overrides: &'a [(String, String)],
}

pub fn sam_build(
    sh: &Shell,
    sam: &Path,
    sam_dir: &Path,
    template_file: &Path,
    options: &BuildOptions,
    timeout: Duration,
) -> Result<()> {
    let BuildOptions { in_container, parallel, pythons, uv, parameter_overrides } = *options;
    let _dir = sh.push_dir(sam_dir);
    // sam finds each runtime's python3.X on PATH: the interpreters found here come first, so
    // a pyenv shim that cannot run the version is never the one it picks.
    let mut path: Vec<PathBuf> =
        pythons.iter().map(PathBuf::as_path).chain(uv).filter_map(|p| p.parent().map(Path::to_path_buf)).collect();
    path.dedup();
    path.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    let _path = sh.push_env("PATH", std::env::join_paths(path).context("building PATH for sam")?);
    let _telemetry = sh.push_env("SAM_CLI_TELEMETRY", "0");
    let container_flag: &[&str] = if in_container { &["--use-container"] } else { &[] };
    // Several functions (or layers) build side by side; one gains nothing from it.
    let parallel_flag: &[&str] = if parallel { &["--parallel"] } else { &[] };
    // A derived template lives in .aws-sam/xtask/: its CodeUris are relative to sam_dir.
    let base_dir_flag: Vec<String> = match template_file.parent() == Some(sam_dir) {
        true => Vec::new(),
        false => vec!["--base-dir".into(), sam_dir.display().to_string()],
    };
    let overrides_flag: Vec<String> = match parameter_overrides.is_empty() {
        true => Vec::new(),
        false => std::iter::once("--parameter-overrides".to_string())
            // Quoted, as sam splits its overrides on spaces outside quotes.
            .chain(parameter_overrides.iter().map(|(key, value)| format!("{key}=\"{value}\"")))
            .collect(),
    };
    let _no_build = uv.map(|_| sh.push_env("UV_NO_BUILD", "1"));
    // python-uv is a beta of SAM CLI. Only that beta is turned on: `--beta-features` turns on
    // every one, among them the build-performance beta, which builds functions that share a
    // CodeUri once into `.aws-sam/build/<Fn>-Shared` instead of into each one's own dir.
    let _betas = [
        ("SAM_CLI_BETA_UV_PACKAGE_MANAGER", if uv.is_some() { "1" } else { "0" }),
        ("SAM_CLI_BETA_FEATURES", "0"),
        ("SAM_CLI_BETA_BUILD_PERFORMANCE", "0"),
    ]
    .map(|(name, value)| sh.push_env(name, value));
    let build = cmd!(
        sh,
        "{sam} build --template-file {template_file} {container_flag...} {parallel_flag...} {base_dir_flag...} {overrides_flag...}"
    );
    say!("$ {build}");
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

    /// A minimal daemon on a unix socket: answers /_ping with the given status line.
    fn fake_daemon(status: &'static str) -> (tempfile::TempDir, PathBuf) {
        use std::io::{Read, Write};
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("docker.sock");
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut request = [0u8; 256];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(format!("{status}\r\nContent-Length: 2\r\n\r\nOK").as_bytes());
            }
        });
        (dir, socket)
    }

    #[test]
    fn a_socket_answering_the_ping_is_a_daemon() {
        let (_dir, socket) = fake_daemon("HTTP/1.1 200 OK");
        assert!(ping_socket(&socket));
        let (_dir, socket) = fake_daemon("HTTP/1.1 500 Internal Server Error");
        assert!(!ping_socket(&socket));
        assert!(!ping_socket(Path::new("/nonexistent/docker.sock")));
    }

    #[test]
    fn always_without_docker_is_bad_input() {
        let err = use_container(ContainerMode::Always, || false).unwrap_err();
        assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
        assert!(err.to_string().contains("--container never"), "{err}");
    }
}
