//! Finding the interpreter a Lambda runtime needs, the way users keep them: PATH first, then
//! pyenv's versions, uv-managed Pythons, asdf, `/usr/bin` and `/usr/local/bin`. A name on PATH
//! is not proof: a pyenv shim for `python3.12` exists whether or not 3.12 is selected, and
//! fails when run. Each candidate must report the right version; a pyenv shim is resolved
//! without running it, and a binary's answer is kept in the tool cache until the binary
//! changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

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

/// The first candidate that runs and is `3.X`, resolved to the interpreter behind it. A pyenv
/// shim is resolved as pyenv would (see [`pyenv_shim_target`]) instead of being run; what a
/// binary reports is kept in the tool cache's probe file (see [`ProbeCache`]).
pub fn search(runtime: &str, candidates: &[PathBuf]) -> Option<PathBuf> {
    let mut process_cache = PROCESS_CACHE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let cache = process_cache.get_or_insert_with(|| ProbeCache::load(probe_file()));
    search_with(runtime, candidates, cache, &PyenvSelection::from_env())
}

/// Where the probe cache lives: the tool cache's `interpreters.json` (one of the xtask's own
/// outputs when the cache is inside a repository).
pub fn probe_file() -> Option<PathBuf> {
    crate::sys::cache_dir::cache_root().ok().map(|root| root.join(PROBE_FILE))
}

/// The probe cache, read once per run and written by [`keep_probes`] at its end.
static PROCESS_CACHE: std::sync::Mutex<Option<ProbeCache>> = std::sync::Mutex::new(None);

/// Writes what this run's probes learnt to the tool cache. The run's conclusion calls it
/// unless the run ended in bad input, which changes nothing on disk, the tool cache included.
pub fn keep_probes() {
    let process_cache = PROCESS_CACHE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(cache) = process_cache.as_ref() {
        cache.save();
    }
}

fn search_with(
    runtime: &str,
    candidates: &[PathBuf],
    cache: &mut ProbeCache,
    selection: &PyenvSelection,
) -> Option<PathBuf> {
    let version = runtime.trim_start_matches("python");
    for candidate in candidates {
        if !candidate.is_file() {
            continue;
        }
        let target = match pyenv_shim_root(candidate) {
            // A shim that would run nothing (its version not selected) is passed over: pyenv's
            // own versions are later candidates.
            Some(root) => match pyenv_shim_target(&root, runtime, selection) {
                Some(real) => real,
                None => continue,
            },
            None => candidate.clone(),
        };
        let probe = cache.probe(&target);
        if probe.version.as_deref() == Some(version) {
            let real = probe.executable.filter(|p| p.is_file()).unwrap_or(target);
            return Some(real);
        }
    }
    None
}

/// What running an interpreter told: its `major.minor` and `sys.executable`; nothing when it
/// failed or is no Python.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Probe {
    version: Option<String>,
    executable: Option<PathBuf>,
}

fn run_probe(interpreter: &Path) -> Probe {
    let Ok(output) = Command::new(interpreter)
        .args(["-I", "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2]); print(sys.executable)"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return Probe::default();
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    match output.status.success() {
        true => Probe { version: lines.next().map(String::from), executable: lines.next().map(PathBuf::from) },
        false => Probe::default(),
    }
}

/// Where the probes are kept, under the tool cache.
const PROBE_FILE: &str = "interpreters.json";
const PROBE_FORMAT: u32 = 1;

/// The file an interpreter path leads to, as it is now: any change to it (a new build, a
/// reinstall, a link pointed elsewhere) gives another identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Identity {
    target: PathBuf,
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

fn identity(path: &Path) -> Option<Identity> {
    use std::os::unix::fs::MetadataExt;
    let target = std::fs::canonicalize(path).ok()?;
    let meta = std::fs::metadata(&target).ok()?;
    let ns = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
    Some(Identity {
        target,
        dev: meta.dev(),
        ino: meta.ino(),
        size: meta.size(),
        mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
        ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
    })
}

/// Only a binary's answer is a function of its file: a script (an asdf shim, a wrapper) may
/// answer differently with another environment, so it is run every time.
fn is_binary(path: &Path) -> bool {
    const MAGICS: [[u8; 4]; 3] = [*b"\x7fELF", [0xcf, 0xfa, 0xed, 0xfe], [0xca, 0xfe, 0xba, 0xbe]];
    crate::sys::beneath::read_start(path, 4).is_ok_and(|start| MAGICS.iter().any(|m| start == m))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedProbe {
    path: PathBuf,
    identity: Identity,
    probe: Probe,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ProbeFile {
    format: u32,
    probes: Vec<CachedProbe>,
}

/// The probes of earlier runs, by the path run and the identity of the file behind it: a
/// pyenv shim costs about 100 ms of bash and a Python start 10-20 ms, on every build, for an
/// answer that changes only when the interpreter does. An entry whose identity no longer
/// matches is probed again; an unreadable file is an empty cache.
struct ProbeCache {
    file: Option<PathBuf>,
    probes: Vec<CachedProbe>,
    changed: bool,
}

impl ProbeCache {
    fn load(file: Option<PathBuf>) -> ProbeCache {
        let probes = file
            .as_deref()
            .and_then(|f| crate::sys::beneath::read_to_string(f).ok())
            .and_then(|text| serde_json::from_str::<ProbeFile>(&text).ok())
            .filter(|parsed| parsed.format == PROBE_FORMAT)
            .map(|parsed| parsed.probes)
            .unwrap_or_default();
        ProbeCache { file, probes, changed: false }
    }

    fn probe(&mut self, path: &Path) -> Probe {
        let Some(identity) = identity(path).filter(|_| is_binary(path)) else { return run_probe(path) };
        if let Some(hit) = self.probes.iter().find(|c| c.path == path && c.identity == identity) {
            return hit.probe.clone();
        }
        let probe = run_probe(path);
        self.probes.retain(|c| c.path != path);
        self.probes.push(CachedProbe { path: path.to_path_buf(), identity, probe: probe.clone() });
        self.changed = true;
        probe
    }

    /// Best effort: a cache that cannot be written only costs the next run its probes.
    fn save(&self) {
        let Some(file) = self.file.as_deref().filter(|_| self.changed) else { return };
        // JSON holds UTF-8 only: an entry for another path is simply not kept, nor one for an
        // interpreter that is gone.
        let keep =
            |c: &&CachedProbe| c.path.to_str().is_some() && c.identity.target.to_str().is_some() && c.path.exists();
        let probes = self.probes.iter().filter(keep);
        let parsed = ProbeFile { format: PROBE_FORMAT, probes: probes.cloned().collect() };
        if let (Some(dir), Ok(text)) = (file.parent(), serde_json::to_string_pretty(&parsed)) {
            if std::fs::create_dir_all(dir).is_ok() {
                let _ = crate::sys::beneath::write_atomically(file, text.as_bytes());
            }
        }
    }
}

/// What `path` runs: the program behind it when it is a pyenv shim (resolved as pyenv would,
/// without running its bash), else `path` itself; `None` for a shim that would run nothing.
pub fn behind_shim(path: &Path) -> Option<PathBuf> {
    match pyenv_shim_root(path) {
        Some(root) => pyenv_shim_target(&root, path.file_name()?.to_str()?, &PyenvSelection::from_env()),
        None => Some(path.to_path_buf()),
    }
}

/// The pyenv root a shim belongs to, when `path` is one: a small bash script in a `shims`
/// directory that execs pyenv (`export PYENV_ROOT="..."` names its root).
fn pyenv_shim_root(path: &Path) -> Option<PathBuf> {
    if path.parent()?.file_name()? != "shims" {
        return None;
    }
    let start = crate::sys::beneath::read_start(path, 1024).ok()?;
    let text = std::str::from_utf8(&start).ok()?;
    if !text.starts_with("#!") || !text.contains("/libexec/pyenv\" exec") {
        return None;
    }
    let line = text.lines().find_map(|l| l.trim().strip_prefix("export PYENV_ROOT=\""))?;
    Some(PathBuf::from(line.strip_suffix('"')?))
}

/// Which pyenv versions are selected, as pyenv reads them: `PYENV_VERSION`, else the nearest
/// `.python-version` from the working directory up, else the root's `version` file.
#[derive(Debug, Clone, Default)]
pub struct PyenvSelection {
    env: Option<String>,
    cwd: Option<PathBuf>,
}

impl PyenvSelection {
    fn from_env() -> PyenvSelection {
        let env = std::env::var("PYENV_VERSION").ok().filter(|v| !v.is_empty());
        let cwd = std::env::var_os("PYENV_DIR").map(PathBuf::from).or_else(|| std::env::current_dir().ok());
        PyenvSelection { env, cwd }
    }

    fn versions(&self, root: &Path) -> Vec<String> {
        if let Some(env) = &self.env {
            return env.split(':').filter(|v| !v.is_empty()).map(String::from).collect();
        }
        let local = self.cwd.iter().flat_map(|cwd| cwd.ancestors()).map(|dir| dir.join(".python-version"));
        for file in local.chain(std::iter::once(root.join("version"))) {
            if let Ok(text) = crate::sys::beneath::read_to_string(&file) {
                return text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.starts_with('#'))
                    .flat_map(str::split_whitespace)
                    .filter(|v| *v != "." && *v != "..")
                    .map(String::from)
                    .collect();
            }
        }
        vec!["system".to_string()]
    }
}

/// What a pyenv shim for `program` would run: the program of the first selected version that
/// has it. `system`, or a version not installed under that name, resolves to nothing: the
/// system's interpreters and pyenv's versions are candidates of their own.
fn pyenv_shim_target(root: &Path, program: &str, selection: &PyenvSelection) -> Option<PathBuf> {
    selection
        .versions(root)
        .iter()
        .filter(|v| v.as_str() != "system" && !v.contains('/'))
        .map(|v| root.join("versions").join(v).join("bin").join(program))
        .find(|p| p.is_file())
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

    /// A real interpreter of `runtime` on this machine, found without any cache.
    fn real(runtime: &str) -> Option<PathBuf> {
        search_with(runtime, &candidates(runtime), &mut ProbeCache::load(None), &PyenvSelection::from_env())
    }

    fn copy_executable(from: &Path, to: &Path) {
        std::fs::copy(from, to).unwrap();
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn a_cached_probe_is_used_until_the_interpreter_changes() {
        let (Some(py311), Some(py312)) = (real("python3.11"), real("python3.12")) else { return };
        let dir = tempfile::tempdir().unwrap();
        let (bin, file) = (dir.path().join("python3"), dir.path().join("cache/interpreters.json"));
        copy_executable(&py311, &bin);
        let selection = PyenvSelection::default();
        let mut cache = ProbeCache::load(Some(file.clone()));
        assert_eq!(search_with("python3.11", std::slice::from_ref(&bin), &mut cache, &selection), Some(bin.clone()));
        cache.save();
        // The next run answers from the file: a planted answer shows that nothing ran.
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, text.replace("\"3.11\"", "\"3.99\"")).unwrap();
        let mut cache = ProbeCache::load(Some(file.clone()));
        assert_eq!(search_with("python3.99", std::slice::from_ref(&bin), &mut cache, &selection), Some(bin.clone()));
        // Another interpreter at the same path (another size, inode and times): probed again.
        std::fs::remove_file(&bin).unwrap();
        copy_executable(&py312, &bin);
        let mut cache = ProbeCache::load(Some(file.clone()));
        assert_eq!(search_with("python3.99", std::slice::from_ref(&bin), &mut cache, &selection), None);
        assert_eq!(search_with("python3.12", std::slice::from_ref(&bin), &mut cache, &selection), Some(bin.clone()));
        cache.save();
        // The same file touched (a reinstall that keeps the size): probed again too.
        std::fs::write(&file, std::fs::read_to_string(&file).unwrap().replace("\"3.12\"", "\"3.98\"")).unwrap();
        std::fs::File::open(&bin).unwrap().set_modified(std::time::SystemTime::now()).unwrap();
        let mut cache = ProbeCache::load(Some(file.clone()));
        assert_eq!(search_with("python3.98", std::slice::from_ref(&bin), &mut cache, &selection), None);
    }

    #[test]
    fn a_script_is_never_answered_from_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("python3.11");
        std::fs::write(&script, "#!/bin/sh\necho 3.11\necho /nowhere\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut cache = ProbeCache::load(Some(dir.path().join("interpreters.json")));
        let selection = PyenvSelection::default();
        assert_eq!(
            search_with("python3.11", std::slice::from_ref(&script), &mut cache, &selection),
            Some(script.clone())
        );
        assert!(cache.probes.is_empty(), "a script's answer depends on more than its file");
        // Its answer changes with no change a cache could see (here: its own bytes, same size).
        std::fs::write(&script, "#!/bin/sh\necho 3.12\necho /nowhere\n").unwrap();
        assert_eq!(search_with("python3.11", std::slice::from_ref(&script), &mut cache, &selection), None);
    }

    /// A pyenv root with a `python3.12` shim that leaves a mark when run, and versions 3.11.7
    /// and 3.12.1 (copies of this machine's interpreters).
    fn pyenv_root(py311: &Path, py312: &Path) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let shims = root.path().join("shims");
        std::fs::create_dir_all(&shims).unwrap();
        let shim = format!(
            "#!/usr/bin/env bash\nset -e\ntouch \"{root}/shim-ran\"\nprogram=\"${{0##*/}}\"\n\nexport PYENV_ROOT=\"{root}\"\nexec \"{root}/libexec/pyenv\" exec \"$program\" \"$@\"\n",
            root = root.path().display()
        );
        std::fs::write(shims.join("python3.12"), shim).unwrap();
        std::fs::set_permissions(shims.join("python3.12"), std::fs::Permissions::from_mode(0o755)).unwrap();
        for (version, program, from) in [("3.11.7", "python3.11", py311), ("3.12.1", "python3.12", py312)] {
            let bin = root.path().join("versions").join(version).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            copy_executable(from, &bin.join(program));
        }
        std::fs::write(root.path().join("version"), "3.11.7\n").unwrap();
        root
    }

    #[test]
    fn a_pyenv_shim_is_resolved_as_pyenv_selects_without_running_it() {
        let (Some(py311), Some(py312)) = (real("python3.11"), real("python3.12")) else { return };
        let root = pyenv_root(&py311, &py312);
        let shim = root.path().join("shims/python3.12");
        assert_eq!(pyenv_shim_root(&shim).as_deref(), Some(root.path()));
        let versions = root.path().join("versions");
        let mut cache = ProbeCache::load(None);
        let search = |selection: PyenvSelection, cache: &mut ProbeCache| {
            search_with("python3.12", std::slice::from_ref(&shim), cache, &selection)
        };
        // The global version (3.11.7) has no python3.12: the shim would fail; passed over.
        assert_eq!(search(PyenvSelection { env: None, cwd: None }, &mut cache), None);
        // PYENV_VERSION selecting 3.12.1 second.
        let env = PyenvSelection { env: Some("3.11.7:3.12.1".into()), cwd: None };
        let expected = versions.join("3.12.1/bin/python3.12");
        assert_eq!(search(env, &mut cache), Some(expected.clone()));
        // A `.python-version` above the working directory.
        let project = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(project.path().join("infra/lambda")).unwrap();
        std::fs::write(project.path().join(".python-version"), "# pinned\n3.12.1\n").unwrap();
        let local = PyenvSelection { env: None, cwd: Some(project.path().join("infra/lambda")) };
        assert_eq!(search(local, &mut cache), Some(expected));
        // A version not installed, or the system's: nothing (those are candidates of their own).
        assert_eq!(search(PyenvSelection { env: Some("3.12.9".into()), cwd: None }, &mut cache), None);
        assert_eq!(search(PyenvSelection { env: Some("system".into()), cwd: None }, &mut cache), None);
        assert!(!root.path().join("shim-ran").exists(), "the shim itself was run");
    }

    #[test]
    fn wrong_version_is_not_an_interpreter() {
        let Ok(python) = which::which("python3") else { return };
        assert_eq!(search("python3.99", &[python]), None);
    }
}
