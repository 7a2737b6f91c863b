//! External tools: found on PATH with `which`, or installed from PyPI at a pinned version into a
//! virtualenv in the per-user cache (never the repo, never `target/`) and reused from there.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::bad_input;
use crate::sys::process;

/// The uv the tool cache holds unless `uv_version` says otherwise (it builds python-uv
/// functions and provisions the runtime SDK).
pub const DEFAULT_UV_VERSION: &str = "0.13.9";

/// A command-line tool that ships as a PyPI package.
#[derive(Debug, Clone)]
pub struct PythonTool {
    /// The PyPI distribution, e.g. `aws-sam-cli`.
    pub package: &'static str,
    pub version: String,
    /// The executable it installs, e.g. `sam`.
    pub executable: &'static str,
}

impl PythonTool {
    pub fn sam_cli(version: &str) -> PythonTool {
        PythonTool { package: "aws-sam-cli", version: version.to_string(), executable: "sam" }
    }

    /// The AWS CLI v1: a PyPI package, unlike v2, so it installs like sam.
    pub fn aws_cli(version: &str) -> PythonTool {
        PythonTool { package: "awscli", version: version.to_string(), executable: "aws" }
    }

    /// uv, for SAM's `python-uv` build method: it resolves wheels for any Python version and
    /// platform without that interpreter.
    pub fn uv(version: &str) -> PythonTool {
        PythonTool { package: "uv", version: version.to_string(), executable: "uv" }
    }

    pub fn moto_server(version: &str) -> PythonTool {
        PythonTool { package: "moto[server]", version: version.to_string(), executable: "moto_server" }
    }

    fn venv_name(&self) -> String {
        format!("{}-{}", self.package, self.version)
    }
}

/// pip on a slow mirror can take minutes; one that has not finished in 15 is stuck.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Marks a virtualenv whose install finished; a venv without it is removed and redone.
const COMPLETE_MARKER: &str = ".xtask-complete";

pub use crate::sys::cache_dir::cache_root;

/// What the xtask itself wrote into the tool cache for `tools`: each one's finished virtualenv
/// (proven by the marker it writes last) and its lock file. Nothing else under the cache is
/// the xtask's, which matters when the cache lies inside a repository.
pub fn cache_entries(tools: &[PythonTool]) -> Vec<PathBuf> {
    let Ok(root) = cache_root() else { return Vec::new() };
    let dir = root.join("tools");
    let mut entries = Vec::new();
    for tool in tools {
        let venv = dir.join(tool.venv_name());
        if venv.join(COMPLETE_MARKER).is_file() {
            entries.push(venv.clone());
        }
        let lock = dir.join(format!("{}.lock", tool.venv_name()));
        if fs::symlink_metadata(&lock).is_ok_and(|m| m.is_file()) {
            entries.push(lock);
        }
    }
    entries
}

/// How a tool was found, for the step's output.
#[derive(Debug, PartialEq, Eq)]
pub enum Provenance {
    OnPath,
    Cached,
    Installed,
}

/// The tool's executable: on PATH if there, else from the cache, installing it first when
/// missing. Concurrent xtask runs serialise on a lock file, so only one of them installs.
pub fn locate(sh: &Shell, tool: &PythonTool) -> Result<(PathBuf, Provenance)> {
    if let Some(found) = find(tool)? {
        return Ok(found);
    }
    locate_in_cache(sh, tool)
}

/// The tool's executable in the cache, installed there when missing, whatever PATH holds:
/// for what needs the tool's own virtualenv (its Python and libraries), which an install on
/// PATH may not have (SAM CLI's native installers bundle no Python to borrow).
pub fn locate_in_cache(sh: &Shell, tool: &PythonTool) -> Result<(PathBuf, Provenance)> {
    let tools_dir = cache_root()?.join("tools");
    let venv = tools_dir.join(tool.venv_name());
    let executable = venv.join("bin").join(tool.executable);
    fs::create_dir_all(&tools_dir).with_context(|| format!("creating the tool cache {}", tools_dir.display()))?;
    let lock_path = tools_dir.join(format!("{}.lock", tool.venv_name()));
    let lock = File::create(&lock_path).with_context(|| format!("creating {}", lock_path.display()))?;
    lock.lock().with_context(|| format!("locking {}", lock_path.display()))?;
    // Another run may have finished the install while this one waited for the lock.
    if is_complete(&venv, &executable) {
        return Ok((executable, Provenance::Cached));
    }
    install(sh, tool, &venv)?;
    Ok((executable, Provenance::Installed))
}

/// Bad input, checked before anything changes, when the tool is neither on PATH nor in the
/// cache and cannot be installed there either: no python3, or one without its venv module.
/// (A PyPI that cannot be reached shows only when pip runs: a failed step, exit 1.)
pub fn check_obtainable(tool: &PythonTool) -> Result<()> {
    if find(tool)?.is_some() {
        return Ok(());
    }
    let executable = tool.executable;
    let requirement = format!("{}=={}", tool.package, tool.version);
    let Ok(python) = which::which("python3") else {
        bad_input!(
            "{executable} not found on PATH, and no python3 to install {requirement} into the tool cache with: install Python 3.9 or newer with its venv module (e.g. apt-get install python3 python3-venv), or put {executable} on PATH"
        )
    };
    // Debian and Ubuntu ship venv (and the ensurepip it needs) apart from python3.
    let venv_works = Command::new(&python)
        .args(["-c", "import venv, ensurepip"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !venv_works {
        bad_input!(
            "{executable} not found on PATH, and {} cannot create the virtualenv to install {requirement} into: install its venv module (e.g. apt-get install python3-venv), or put {executable} on PATH",
            python.display()
        )
    }
    Ok(())
}

/// The tool on PATH or completely installed in the cache; never installs.
pub fn find(tool: &PythonTool) -> Result<Option<(PathBuf, Provenance)>> {
    if let Ok(path) = which::which(tool.executable) {
        return Ok(Some((path, Provenance::OnPath)));
    }
    let venv = cache_root()?.join("tools").join(tool.venv_name());
    let executable = venv.join("bin").join(tool.executable);
    Ok(is_complete(&venv, &executable).then_some((executable, Provenance::Cached)))
}

fn is_complete(venv: &Path, executable: &Path) -> bool {
    venv.join(COMPLETE_MARKER).is_file() && executable.is_file()
}

/// Removes a tool's install dir (when there is one) through the tool cache's handle.
fn remove_install(venv: &Path) -> Result<()> {
    let (Some(cache), Some(name)) = (venv.parent(), venv.file_name()) else { return Ok(()) };
    if cache.is_dir() {
        crate::sys::owned_dir::OwnedDir::tool_cache(cache)?.remove_if_present(Path::new(name))?;
    }
    Ok(())
}

fn install(sh: &Shell, tool: &PythonTool, venv: &Path) -> Result<()> {
    let python = host_python()?;
    say!(
        "{} not found on PATH: installing {}=={} into {} (once; later runs reuse it)",
        tool.executable,
        tool.package,
        tool.version,
        venv.display()
    );
    remove_install(venv).with_context(|| format!("removing the incomplete install {}", venv.display()))?;
    let requirement = format!("{}=={}", tool.package, tool.version);
    // uv, when there is one (on PATH or already in the cache), installs in seconds what pip
    // takes most of a minute for (SAM CLI: ~3 s against ~49 s, measured); pip stays the fallback.
    let uv = if tool.executable == "uv" { None } else { find(&PythonTool::uv(DEFAULT_UV_VERSION))? };
    if let Some((uv, _)) = uv {
        let installed =
            process::run(cmd!(sh, "{uv} venv --quiet --python {python} {venv}"), "uv venv", Some(INSTALL_TIMEOUT))
                .and_then(|()| {
                    let _venv = sh.push_env("VIRTUAL_ENV", venv);
                    process::run(
                        cmd!(sh, "{uv} pip install --quiet {requirement}"),
                        "uv pip install",
                        Some(INSTALL_TIMEOUT),
                    )
                });
        match installed {
            Ok(()) => {
                say!("    installed with {}", uv.display());
                fs::write(venv.join(COMPLETE_MARKER), &requirement)
                    .with_context(|| format!("finishing {}", venv.display()))?;
                return Ok(());
            }
            Err(err) => {
                say!("warning: uv could not install {requirement} ({err:#}); trying pip");
                remove_install(venv).with_context(|| format!("removing {}", venv.display()))?;
            }
        }
    }
    process::run(cmd!(sh, "{python} -m venv {venv}"), "python3 -m venv", Some(INSTALL_TIMEOUT))
        .with_context(|| format!("creating a virtualenv for {} with {}", tool.package, python.display()))?;
    let pip = venv.join("bin").join("pip");
    process::run(
        cmd!(sh, "{pip} install --quiet --disable-pip-version-check {requirement}"),
        "pip install",
        Some(INSTALL_TIMEOUT),
    )
    .with_context(|| {
        format!(
            "installing {requirement} from PyPI (if PyPI cannot be reached from here, put {} on PATH)",
            tool.executable
        )
    })?;
    fs::write(venv.join(COMPLETE_MARKER), &requirement).with_context(|| format!("finishing {}", venv.display()))?;
    Ok(())
}

/// The Python that hosts tool virtualenvs.
pub fn host_python() -> Result<PathBuf> {
    match which::which("python3") {
        Ok(path) => Ok(path),
        Err(_) => bad_input!(
            "python3 not found on PATH: install Python 3.9 or newer (e.g. apt-get install python3 python3-venv)"
        ),
    }
}

/// The interpreter for a Lambda runtime, e.g. `python3.11` for runtime python3.11: a native
/// `sam build` needs exactly this version to resolve and validate the function's wheels.
pub fn runtime_python(runtime: &str) -> Result<PathBuf> {
    match crate::sys::interpreters::find(runtime) {
        Some(path) => Ok(path),
        None => bad_input!(
            "{runtime} not found (looked on PATH past pyenv shims, in pyenv's and asdf's versions, uv's Pythons and /usr/bin): a native build of a {runtime} function needs it; install Python {} (e.g. `uv python install {}`), or build in a container with --container always",
            runtime.trim_start_matches("python"),
            runtime.trim_start_matches("python")
        ),
    }
}
