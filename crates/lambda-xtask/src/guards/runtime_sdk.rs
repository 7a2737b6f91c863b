//! The AWS SDK inside Lambda's Python runtimes: boto3, botocore and s3transfer (with their
//! own dependencies), which Lambda puts on `sys.path` after `/var/task` and `/opt/python`.
//! A local smoke test needs the same set in the same place, not whatever the host's Python
//! happens to have: each runtime's set (see `project::runtime_sdk`) is installed with uv into
//! the per-user tool cache, once per set and Python minor. botocore and s3transfer are pure
//! Python, so one install serves every architecture.

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

pub use crate::project::runtime_sdk::{for_runtime, pinned, ConfiguredSdk, SdkSet};
use crate::sys::tools::{self, PythonTool};

/// The SDK installed for one Python minor, ready to put on `sys.path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledSdk {
    pub set: SdkSet,
    /// The directory holding `boto3/`, `botocore/`, `s3transfer/` and their dependencies.
    pub dir: PathBuf,
}

/// Installing a set can take a while on a slow mirror; longer than this, it is stuck.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Marks a completed install; a directory without it is never used.
const COMPLETE_MARKER: &str = ".xtask-complete";

/// Installs already done or tried in this run, by cache key: a failure is not retried.
static INSTALLED: Mutex<Option<HashMap<String, Result<PathBuf, String>>>> = Mutex::new(None);

/// The set for Python 3.`python_minor` (whose interpreter is `python`), from the tool cache,
/// installing it with uv first when missing. `Err` says, in one line, why it cannot be had
/// here (no uv, no index reachable): a problem of this machine, never of the artifact.
pub fn provide(set: &SdkSet, python: &Path, python_minor: u32, uv_version: &str) -> Result<InstalledSdk, String> {
    let key = cache_key(set, python_minor);
    let mut installed = INSTALLED.lock().unwrap_or_else(|p| p.into_inner());
    let memo = installed.get_or_insert_with(HashMap::new);
    let dir = match memo.get(&key) {
        Some(done) => done.clone(),
        None => {
            // One line: it is printed inside a note.
            let result = install_once(set, python, python_minor, uv_version, &key)
                .map_err(|err| format!("{err:#}").split_whitespace().collect::<Vec<_>>().join(" "));
            memo.insert(key, result.clone());
            result
        }
    }?;
    Ok(InstalledSdk { set: set.clone(), dir })
}

/// `py3.12-boto3-1.38.36-botocore-1.38.36-s3transfer-0.13.0`.
fn cache_key(set: &SdkSet, python_minor: u32) -> String {
    format!("py3.{python_minor}-boto3-{}-botocore-{}-s3transfer-{}", set.boto3, set.botocore, set.s3transfer)
}

fn install_once(set: &SdkSet, python: &Path, python_minor: u32, uv_version: &str, key: &str) -> Result<PathBuf> {
    let root = tools::cache_root()?.join("runtime-sdk");
    let dir = root.join(key);
    if dir.join(COMPLETE_MARKER).is_file() {
        return Ok(dir);
    }
    fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let lock_path = root.join(format!("{key}.lock"));
    let lock = File::create(&lock_path).with_context(|| format!("creating {}", lock_path.display()))?;
    lock.lock().with_context(|| format!("locking {}", lock_path.display()))?;
    // Another run may have finished it while this one waited.
    if dir.join(COMPLETE_MARKER).is_file() {
        return Ok(dir);
    }
    let sh = Shell::new()?;
    let (uv, _) = tools::locate(&sh, &PythonTool::uv(uv_version)).context("uv, to install the runtime's SDK")?;
    say!("    installing the python3.{python_minor} runtime's SDK ({}) into {} (once)", set.describe(), dir.display());
    // Installed beside the final directory and renamed into place: a half-done install is
    // never seen under the final name.
    let staging = tempfile::Builder::new().prefix(".staging-").tempdir_in(&root)?;
    install_with(&uv, set, (python, python_minor), staging.path())?;
    fs::write(staging.path().join(COMPLETE_MARKER), cache_key(set, python_minor))?;
    if fs::symlink_metadata(&dir).is_ok() {
        // An incomplete directory left by a run that was killed: only this tool writes here.
        crate::sys::owned_dir::remove_if_present(&dir)
            .with_context(|| format!("removing the incomplete {}", dir.display()))?;
    }
    crate::sys::owned_dir::rename_in_dir(&staging.keep(), &dir)
        .with_context(|| format!("moving the SDK into {}", dir.display()))?;
    Ok(dir)
}

/// Installs `set` with `uv` into `target` for Python 3.`python_minor` (interpreter `python`).
pub fn install_with(uv: &Path, set: &SdkSet, (python, python_minor): (&Path, u32), target: &Path) -> Result<()> {
    let sh = Shell::new()?;
    let version = format!("3.{python_minor}");
    let requirements = [
        format!("boto3=={}", set.boto3),
        format!("botocore=={}", set.botocore),
        format!("s3transfer=={}", set.s3transfer),
    ];
    // The runtime's own interpreter: it resolves the dependencies' markers and compiles the
    // bytecode the smoke test then reads (it runs with -B, so it never writes any itself).
    // Binary-only, since nothing here should be built from source.
    let command = cmd!(
        sh,
        "{uv} pip install --quiet --no-progress --target {target} --python {python} --python-version {version} --only-binary :all: --compile-bytecode {requirements...}"
    )
    .env("UV_PYTHON_DOWNLOADS", "never");
    crate::sys::process::capture(command, "uv pip install (the runtime's SDK)", Some(INSTALL_TIMEOUT))
        .map(drop)
        .with_context(|| format!("installing {} for Python {version}", set.describe()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_key_names_the_set_and_the_python() {
        let set = pinned(12).unwrap();
        assert_eq!(cache_key(&set, 12), "py3.12-boto3-1.38.36-botocore-1.38.36-s3transfer-0.13.0");
    }
}
