//! Finding the interpreter a Lambda runtime needs, the way users keep them: PATH first, then
//! pyenv's versions, uv-managed Pythons, asdf, `/usr/bin` and `/usr/local/bin`. A name on PATH
//! is not proof: a pyenv shim for `python3.12` exists whether or not 3.12 is selected, and
//! fails when run. Each candidate is run once and must report the right version.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// Interpreters found so far, by runtime name: each is asked for at most once per run.
static FOUND: Mutex<Option<HashMap<String, Option<PathBuf>>>> = Mutex::new(None);

/// The real interpreter (not a shim) of `python3.X` for a runtime like `python3.12`.
pub fn find(runtime: &str) -> Option<PathBuf> {
    let mut found = FOUND.lock().unwrap_or_else(|p| p.into_inner());
    let cache = found.get_or_insert_with(HashMap::new);
    if let Some(hit) = cache.get(runtime) {
        return hit.clone();
    }
    let result = search(runtime, &candidates(runtime));
    cache.insert(runtime.to_string(), result.clone());
    result
}

/// Where to look, in order.
pub fn candidates(runtime: &str) -> Vec<PathBuf> {
    let version = runtime.trim_start_matches("python");
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut list: Vec<PathBuf> = which::which_all(runtime).map(|it| it.collect()).unwrap_or_default();
    let versions_under = |list: &mut Vec<PathBuf>, root: Option<PathBuf>, prefix: &str| {
        let Some(root) = root else { return };
        let Ok(entries) = std::fs::read_dir(&root) else { return };
        let mut dirs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.strip_prefix(prefix)
                        .is_some_and(|rest| rest == version || rest.starts_with(&format!("{version}.")))
                })
            })
            .collect();
        // Newest patch release first: 3.12.10 before 3.12.9.
        dirs.sort_by_key(|p| std::cmp::Reverse(patch_of(p)));
        list.extend(dirs.into_iter().map(|d| d.join("bin").join(runtime)));
    };
    let pyenv_root =
        std::env::var_os("PYENV_ROOT").map(PathBuf::from).or_else(|| home.as_ref().map(|h| h.join(".pyenv")));
    versions_under(&mut list, pyenv_root.map(|r| r.join("versions")), "");
    let uv_dir = std::env::var_os("UV_PYTHON_INSTALL_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_DATA_HOME").map(|d| PathBuf::from(d).join("uv/python")))
        .or_else(|| home.as_ref().map(|h| h.join(".local/share/uv/python")));
    if let Some(uv_dir) = uv_dir {
        // uv names them cpython-3.12.7-linux-x86_64-gnu.
        if let Ok(entries) = std::fs::read_dir(&uv_dir) {
            let mut dirs: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&format!("cpython-{version}.")))
                })
                .collect();
            dirs.sort();
            dirs.reverse();
            list.extend(dirs.into_iter().map(|d| d.join("bin").join(runtime)));
        }
    }
    let asdf = std::env::var_os("ASDF_DATA_DIR").map(PathBuf::from).or_else(|| home.as_ref().map(|h| h.join(".asdf")));
    versions_under(&mut list, asdf.map(|a| a.join("installs/python")), "");
    list.push(Path::new("/usr/bin").join(runtime));
    list.push(Path::new("/usr/local/bin").join(runtime));
    list
}

fn patch_of(dir: &Path) -> u32 {
    dir.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.rsplit('.').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

/// The first candidate that runs and is `3.X`, resolved to the interpreter behind it.
pub fn search(runtime: &str, candidates: &[PathBuf]) -> Option<PathBuf> {
    let version = runtime.trim_start_matches("python");
    for candidate in candidates {
        if !candidate.is_file() {
            continue;
        }
        let Ok(output) = Command::new(candidate)
            .args(["-I", "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2]); print(sys.executable)"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
        else {
            continue;
        };
        let text = String::from_utf8_lossy(&output.stdout);
        let mut lines = text.lines();
        if output.status.success() && lines.next() == Some(version) {
            let real = lines.next().map(PathBuf::from).filter(|p| p.is_file()).unwrap_or_else(|| candidate.clone());
            return Some(real);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_shim_that_cannot_run_the_version_is_passed_over() {
        let dir = tempfile::tempdir().unwrap();
        let shim = dir.path().join("python3.11");
        std::fs::write(&shim, "#!/bin/sh\necho 'pyenv: python3.11: command not found' >&2\nexit 127\n").unwrap();
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(search("python3.11", std::slice::from_ref(&shim)), None);
        // A real interpreter after it is found, resolved to its own path.
        if let Ok(real) = which::which("python3.11") {
            let found = search("python3.11", &[shim, real]).expect("the real python3.11");
            assert!(found.is_file());
        }
    }

    #[test]
    fn wrong_version_is_not_an_interpreter() {
        let Ok(python) = which::which("python3") else { return };
        assert_eq!(search("python3.99", &[python]), None);
    }
}
