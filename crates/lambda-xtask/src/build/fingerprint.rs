//! Incremental builds: a manifest written after each successful build records what went in
//! (sources, configuration, tools, container mode, the xtask itself) and what came out (every
//! file of the build output). When both still match, lambda-build skips copy-backend and sam
//! build and says "up to date".
//!
//! Files are compared by size and modification time, like make and rsync. A file modified
//! within the last two seconds is "racy" (git's word): file times are only as fine as the
//! kernel's coarse clock, so a second edit in the same tick can keep both. A racy file is
//! recorded by a hash of its content instead, and a racy file that cannot be read is recorded
//! as [`UNVERIFIABLE`], which never matches anything.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use ignore::WalkBuilder;
use serde::{Deserialize, Serialize};

use crate::evidence::BuildEvidence;
use crate::sys::layout;

/// 2: racy files by content hash, names escaped byte for byte (see [`crate::sys::quote::escaped`]);
/// 3: directories with their mtime and mode (see [`dir_stamp`]).
const FORMAT: u32 = 3;
const RACY_WINDOW: Duration = Duration::from_secs(2);
/// The stamp of an input that could be neither trusted by its time nor hashed: it matches
/// nothing, not even itself, so the next build always runs.
pub const UNVERIFIABLE: &str = "unverifiable";

/// Named inputs, each with a digest; a BTreeMap so the first difference found is stable.
/// The second field, never recorded, keeps where each file input is (and the text its digest
/// starts with), so that an input recorded racy can be re-checked by content.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint(pub BTreeMap<String, String>, #[serde(skip)] BTreeMap<String, (String, PathBuf)>);

impl Fingerprint {
    pub fn add(&mut self, name: impl Into<String>, digest: impl Into<String>) {
        self.0.insert(name.into(), digest.into());
    }

    /// A file's content, by hash: for small configuration files, where an edit that keeps the
    /// size within one clock tick is plausible and hashing is cheap.
    pub fn add_file_content(&mut self, name: &str, path: &Path) {
        let digest = match crate::sys::beneath::read(path) {
            Ok(bytes) => format!("{:016x}", fnv1a(&bytes)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => "missing".to_string(),
            // A FIFO, a device, an unreadable file: nothing proves it unchanged.
            Err(_) => UNVERIFIABLE.to_string(),
        };
        self.add(name, digest);
    }

    /// A requirements file and every file it pulls in with `-r`/`-c`, recursively (pip reads
    /// them all when sam build installs the dependencies), by content.
    /// Keys name each file relative to `root` (the repository).
    pub fn add_requirements(&mut self, name: &str, path: &Path, root: &Path) {
        let mut pending = vec![path.to_path_buf()];
        let mut seen = std::collections::HashSet::new();
        while let Some(file) = pending.pop() {
            if !seen.insert(file.clone()) || seen.len() > 256 {
                continue;
            }
            let shown = crate::sys::quote::escaped_path(file.strip_prefix(root).unwrap_or(&file));
            self.add_file_content(&format!("{name}/{shown}"), &file);
            let Ok(text) = crate::sys::beneath::read_to_string(&file) else { continue };
            let dir = file.parent().unwrap_or(Path::new(""));
            for included in crate::python::requirements_txt::included_files(&text) {
                pending.push(normalize(&dir.join(included)));
            }
        }
    }

    /// A file's identity without reading it: for executables (sam, python, the xtask).
    pub fn add_file_stamp(&mut self, name: &str, path: &Path) {
        let prefix = format!("{}:", crate::sys::quote::escaped_path(path));
        self.add(name, format!("{prefix}{}", stamp(path, Recent::Distrust)));
        self.1.insert(name.to_string(), (prefix, path.to_path_buf()));
    }

    /// Every file and symlink below `root` as `name/relative`, by size and mtime.
    pub fn add_tree(&mut self, name: &str, root: &Path) {
        let walker = WalkBuilder::new(root).standard_filters(false).follow_links(false).build();
        self.add_walk(name, root, walker, Recent::Distrust);
    }

    /// The listed files below `root` (paths relative to it) as `name/relative`, by size and
    /// mtime: a staged function dir is what git shows of it, not everything below it.
    pub fn add_files(&mut self, name: &str, root: &Path, files: &[PathBuf]) {
        self.add(format!("{name}/"), "root");
        for relative in files {
            let key = format!("{name}/{}", crate::sys::quote::escaped_path(relative));
            let path = root.join(relative);
            self.add(key.clone(), stamp(&path, Recent::Distrust));
            self.1.insert(key, (String::new(), path));
        }
    }

    /// The backend source as copy-backend sees it (its ignore rules), so that touching an
    /// ignored file does not force a rebuild.
    pub fn add_backend_tree(&mut self, name: &str, root: &Path) -> Result<()> {
        self.add_walk(name, root, crate::build::copy_backend::walker(root)?, Recent::Distrust);
        Ok(())
    }

    /// Fails closed: a walk error (an unreadable dir, a loop) is an input that matches
    /// nothing, so the build runs and meets it, and every directory is an input too, so a new
    /// empty one is a change.
    fn add_walk(&mut self, name: &str, root: &Path, walker: ignore::Walk, recent: Recent) {
        self.add(format!("{name}/"), dir_stamp("root", root, recent));
        for (at, entry) in walker.enumerate() {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    self.add(format!("{name}/!walk-error-{at}"), format!("{}: {UNVERIFIABLE}", one_line(&err)));
                    continue;
                }
            };
            let Ok(relative) = entry.path().strip_prefix(root) else { continue };
            if relative.as_os_str().is_empty() {
                continue;
            }
            // Escaped, not lossy: `c\xfe.py` and `c\xff.py` are two files, two keys.
            let key = format!("{name}/{}", crate::sys::quote::escaped_path(relative));
            if entry.file_type().is_some_and(|t| t.is_dir()) {
                self.add(format!("{key}/"), dir_stamp("dir", entry.path(), recent));
                continue;
            }
            self.add(key.clone(), stamp(entry.path(), recent));
            self.1.insert(key, (String::new(), entry.path().to_path_buf()));
        }
    }

    /// The first input that differs, for the "rebuilding because" line.
    pub fn first_difference(&self, previous: &Fingerprint) -> Option<String> {
        for (name, digest) in &self.0 {
            match previous.0.get(name) {
                None => return Some(format!("{name} is new")),
                Some(old)
                    if (old != digest || digest.ends_with(UNVERIFIABLE))
                        && !same_dir(old, digest)
                        && !self.same_content_as_recorded_racy(name, old) =>
                {
                    return Some(format!("{name} changed"))
                }
                _ => {}
            }
        }
        previous.0.keys().find(|name| !self.0.contains_key(*name)).map(|name| format!("{name} was removed"))
    }
}

impl Fingerprint {
    /// An input recorded racy (by content) and now settled (by size and time) is unchanged
    /// when its content still hashes the same: without this, every build right after an edit
    /// would be followed by one more, needless, rebuild.
    fn same_content_as_recorded_racy(&self, name: &str, recorded: &str) -> bool {
        let Some((prefix, path)) = self.1.get(name) else { return false };
        let Some(recorded_stamp) = recorded.strip_prefix(prefix.as_str()) else { return false };
        if !recorded_stamp.starts_with("racy:") {
            return false;
        }
        match fs::symlink_metadata(path) {
            Ok(meta) => racy_stamp(path, &meta) == recorded_stamp,
            Err(_) => false,
        }
    }
}

/// Whether a file modified within [`RACY_WINDOW`] may count as unchanged later.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Recent {
    /// Inputs: an edit right after the build could keep size and mtime; never trust them.
    Distrust,
    /// The build output, just written by sam: what matters is that nobody touches it later,
    /// and a later write moves its mtime past the recorded one.
    Trust,
}

/// `size:mtime_ns`; for an input modified too recently to trust its time, `racy:` and a hash
/// of its content (a symlink's: its target), or [`UNVERIFIABLE`]; `missing`. An executable
/// file ends in `:x`: `chmod -x` keeps size and mtime, and a script handler (`run.sh`) or a
/// bundled binary without its execute bit breaks in Lambda.
fn stamp(path: &Path, recent: Recent) -> String {
    let Ok(meta) = fs::symlink_metadata(path) else { return "missing".to_string() };
    let modified = meta.modified().ok();
    let racy = modified.is_none_or(|m| m > SystemTime::now() - RACY_WINDOW);
    let mode = if executable(&meta) { ":x" } else { "" };
    if recent == Recent::Distrust && racy {
        let racy = racy_stamp(path, &meta);
        return if racy == UNVERIFIABLE { racy } else { format!("{racy}{mode}") };
    }
    let nanos = modified.and_then(|m| m.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_nanos()).unwrap_or_default();
    format!("{}:{nanos}{mode}", meta.len())
}

fn executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.file_type().is_file() && meta.permissions().mode() & 0o111 != 0
}

/// A racy file by content: equal content is the only thing that proves it unchanged. A FIFO,
/// socket or device is never opened (its open could wait forever): it is [`UNVERIFIABLE`].
fn racy_stamp(path: &Path, meta: &fs::Metadata) -> String {
    let content = if meta.file_type().is_symlink() {
        fs::read_link(path).map(|target| target.as_os_str().as_encoded_bytes().to_vec())
    } else {
        crate::sys::beneath::read(path)
    };
    match content {
        Ok(bytes) => format!("racy:{}:{:016x}", bytes.len(), fnv1a(&bytes)),
        Err(_) => UNVERIFIABLE.to_string(),
    }
}

/// A directory (`kind` is `dir`, or `root` for a tree's own root) as `kind:mtime_ns:mode`, or
/// `missing`. The time is only a shortcut for the no-op check (see [`unchanged_by_stat`]): a
/// directory's entries cannot change without moving it. An input directory modified too
/// recently to trust its time is just `kind`, which the shortcut never accepts.
fn dir_stamp(kind: &str, path: &Path, recent: Recent) -> String {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = fs::symlink_metadata(path) else { return "missing".to_string() };
    if !meta.is_dir() {
        return "missing".to_string();
    }
    let modified = meta.modified().ok();
    if recent == Recent::Distrust && modified.is_none_or(|m| m > SystemTime::now() - RACY_WINDOW) {
        return kind.to_string();
    }
    let nanos = modified.and_then(|m| m.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_nanos()).unwrap_or_default();
    format!("{kind}:{nanos}:{:o}", meta.permissions().mode() & 0o7777)
}

/// Two stamps of one directory: the same kind is the same input (its entries are inputs of
/// their own); the time and mode only serve the shortcut.
fn same_dir(old: &str, new: &str) -> bool {
    let kind = |s: &str| s.split(':').next().unwrap_or_default().to_string();
    let is_dir = |s: &str| s == "dir" || s == "root" || s.starts_with("dir:") || s.starts_with("root:");
    is_dir(old) && is_dir(new) && kind(old) == kind(new)
}

/// The no-op shortcut for a tree recorded as `name` below `root`: true when every directory
/// recorded has its recorded time and mode (so none gained, lost or renamed an entry) and
/// every file its recorded stamp, all by `stat` alone: one call per recorded entry, no
/// listing. False at the first doubt (an escaped name, a walk error, a directory recorded
/// without its time, any difference): the caller then walks the tree as the build does.
fn unchanged_by_stat(recorded: &Fingerprint, name: &str, root: &Path, recent: Recent) -> bool {
    let prefix = format!("{name}/");
    let mut any = false;
    for (key, digest) in recorded.0.range(prefix.clone()..) {
        let Some(relative) = key.strip_prefix(&prefix) else { break };
        any = true;
        if relative.contains('\\') || relative.starts_with('!') {
            return false;
        }
        let unchanged = match relative.strip_suffix('/') {
            _ if relative.is_empty() => digest.starts_with("root:") && dir_stamp("root", root, recent) == *digest,
            Some(dir) => digest.starts_with("dir:") && dir_stamp("dir", &root.join(dir), recent) == *digest,
            None => !digest.starts_with("racy:") && stamp(&root.join(relative), recent) == *digest,
        };
        if !unchanged {
            return false;
        }
    }
    any
}

fn one_line(err: &ignore::Error) -> String {
    err.to_string().replace(['\n', '\r'], " ")
}

/// `a/./b/../c` -> `a/c`, without touching the disk (pip joins `-r` paths the same way).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir
                if out.components().next_back().is_some_and(|c| matches!(c, std::path::Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// 64-bit FNV-1a: a change detector for small files, not a security hash.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    inputs: Fingerprint,
    outputs: Fingerprint,
    /// What the build produced, by content (issue 14): copied into each deploy's audit line.
    #[serde(default)]
    evidence: BuildEvidence,
}

/// Where the manifest lives: beside the build output, in SAM's own work dir.
pub fn manifest_path(sam_dir: &Path) -> PathBuf {
    layout::build_manifest(sam_dir)
}

fn outputs(build_dir: &Path) -> Fingerprint {
    let mut outputs = Fingerprint::default();
    let walker = WalkBuilder::new(build_dir).standard_filters(false).follow_links(false).build();
    outputs.add_walk("build", build_dir, walker, Recent::Trust);
    outputs
}

/// `Ok(())` when the last successful build had these inputs and its output is intact;
/// otherwise the reason to rebuild.
pub fn check(sam_dir: &Path, build_dir: &Path, inputs: &Fingerprint) -> std::result::Result<(), String> {
    let text =
        crate::sys::beneath::read_to_string(manifest_path(sam_dir)).map_err(|_| "no previous build".to_string())?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|_| "the build manifest is unreadable".to_string())?;
    if manifest.format != FORMAT {
        return Err("the build manifest is from another xtask version".to_string());
    }
    if let Some(difference) = inputs.first_difference(&manifest.inputs) {
        return Err(difference);
    }
    if unchanged_by_stat(&manifest.outputs, "build", build_dir, Recent::Trust) {
        return Ok(());
    }
    if let Some(difference) = outputs(build_dir).first_difference(&manifest.outputs) {
        return Err(format!("the build output was modified: {difference}"));
    }
    Ok(())
}

/// The evidence of the last successful build, when its manifest is there and readable.
pub fn recorded_evidence(sam_dir: &Path) -> Option<BuildEvidence> {
    let text = crate::sys::beneath::read_to_string(manifest_path(sam_dir)).ok()?;
    let manifest: Manifest = serde_json::from_str(&text).ok()?;
    Some(manifest.evidence).filter(|e| !e.artifacts.is_empty())
}

/// Removes the manifest before a build starts, so an interrupted build is never taken for a
/// current one.
pub fn invalidate(sam_dir: &Path) -> Result<()> {
    let path = manifest_path(sam_dir);
    let aws_sam = crate::sys::owned_dir::OwnedDir::aws_sam(sam_dir)?;
    aws_sam
        .remove_if_present(Path::new(layout::MANIFEST_NAME))
        .with_context(|| format!("removing {}", path.display()))?;
    Ok(())
}

/// Records a successful build; written to a temp file and renamed, so a reader never sees
/// half a manifest.
pub fn record(sam_dir: &Path, build_dir: &Path, inputs: Fingerprint, evidence: BuildEvidence) -> Result<()> {
    let manifest = Manifest { format: FORMAT, inputs, outputs: outputs(build_dir), evidence };
    let path = manifest_path(sam_dir);
    crate::sys::atomic::write_atomically(&path, &serde_json::to_string_pretty(&manifest)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    fn write_old(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
        File::open(path).unwrap().set_modified(SystemTime::now() - Duration::from_secs(60)).unwrap();
    }

    fn tree_print(root: &Path) -> Fingerprint {
        let mut f = Fingerprint::default();
        f.add_backend_tree("src", root).unwrap();
        f
    }

    #[test]
    fn losing_the_execute_bit_is_a_difference_though_size_and_mtime_stay() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        write_old(&dir.path().join("run.sh"), "#!/bin/sh\n");
        fs::set_permissions(dir.path().join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        let before = tree_print(dir.path());
        fs::set_permissions(dir.path().join("run.sh"), fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(tree_print(dir.path()).first_difference(&before).as_deref(), Some("src/run.sh changed"));
    }

    #[test]
    fn an_unchanged_tree_has_the_same_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        write_old(&dir.path().join("a.py"), "a");
        write_old(&dir.path().join("pkg/b.py"), "b");
        assert_eq!(tree_print(dir.path()).first_difference(&tree_print(dir.path())), None);
    }

    #[test]
    fn edits_additions_and_removals_are_named() {
        let dir = tempfile::tempdir().unwrap();
        write_old(&dir.path().join("a.py"), "a");
        write_old(&dir.path().join("b.py"), "b");
        let before = tree_print(dir.path());

        write_old(&dir.path().join("a.py"), "aa");
        assert_eq!(tree_print(dir.path()).first_difference(&before).as_deref(), Some("src/a.py changed"));
        write_old(&dir.path().join("a.py"), "a");
        File::open(dir.path().join("a.py")).unwrap().set_modified(SystemTime::now() - Duration::from_secs(90)).unwrap();
        assert_eq!(tree_print(dir.path()).first_difference(&before).as_deref(), Some("src/a.py changed"));

        let before = tree_print(dir.path());
        write_old(&dir.path().join("c.py"), "c");
        assert_eq!(tree_print(dir.path()).first_difference(&before).as_deref(), Some("src/c.py is new"));
        let before = tree_print(dir.path());
        fs::remove_file(dir.path().join("b.py")).unwrap();
        assert_eq!(tree_print(dir.path()).first_difference(&before).as_deref(), Some("src/b.py was removed"));
    }

    #[test]
    fn a_file_written_just_now_is_compared_by_content() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.py"), "a = 1").unwrap();
        let first = tree_print(dir.path());
        assert!(first.0["src/a.py"].starts_with("racy:"), "{first:?}");
        assert_eq!(tree_print(dir.path()).first_difference(&first), None, "same content, same stamp");

        // Same size, same clock tick: only the content tells the edit apart.
        let modified = fs::metadata(dir.path().join("a.py")).unwrap().modified().unwrap();
        fs::write(dir.path().join("a.py"), "a = 2").unwrap();
        File::options().write(true).open(dir.path().join("a.py")).unwrap().set_modified(modified).unwrap();
        assert_eq!(tree_print(dir.path()).first_difference(&first).as_deref(), Some("src/a.py changed"));
    }

    #[test]
    fn names_that_differ_only_in_non_utf8_bytes_are_two_inputs() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let (fe, ff) = (std::ffi::OsStr::from_bytes(b"c\xfe.py"), std::ffi::OsStr::from_bytes(b"c\xff.py"));
        write_old(&dir.path().join(fe), "a");
        write_old(&dir.path().join(ff), "b");
        let before = tree_print(dir.path());
        assert_eq!(before.0.len(), 3, "{before:?}");
        write_old(&dir.path().join(ff), "bb");
        assert_eq!(tree_print(dir.path()).first_difference(&before).as_deref(), Some(r"src/c\xff.py changed"));
    }

    #[test]
    fn a_racy_input_that_settled_unchanged_is_not_rebuilt_for_and_one_that_changed_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.py");
        fs::write(&path, "a = 1").unwrap();
        let recorded = tree_print(dir.path());
        assert!(recorded.0["src/a.py"].starts_with("racy:"));
        // Later: the same file, its time now older than the racy window.
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(60))
            .unwrap();
        let settled = tree_print(dir.path());
        assert!(!settled.0["src/a.py"].starts_with("racy:"));
        assert_eq!(settled.first_difference(&recorded), None);
        // Edited since: changed, however it is dated.
        write_old(&path, "a = 2");
        assert_eq!(tree_print(dir.path()).first_difference(&recorded).as_deref(), Some("src/a.py changed"));
    }

    fn tree(root: &Path) -> Fingerprint {
        let mut f = Fingerprint::default();
        f.add_tree("function/F", root);
        f
    }

    #[test]
    fn a_new_empty_dir_and_an_unreadable_dir_are_differences_never_up_to_date() {
        let dir = tempfile::tempdir().unwrap();
        write_old(&dir.path().join("app.py"), "a");
        let before = tree(dir.path());
        fs::create_dir(dir.path().join("templates")).unwrap();
        assert_eq!(tree(dir.path()).first_difference(&before).as_deref(), Some("function/F/templates/ is new"));

        // An unreadable dir (as root, permissions do not stop a read: a walk error is made by
        // a dir that vanishes mid-walk instead, so only the non-root half runs everywhere).
        if unsafe { libc::geteuid() } != 0 {
            let locked = dir.path().join("templates");
            fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
            let recorded = tree(dir.path());
            assert!(recorded.first_difference(&recorded).is_some(), "an unreadable dir made a build up to date");
            fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        }
        let mut failed = Fingerprint::default();
        failed.add_tree("function/F", &dir.path().join("missing"));
        assert!(failed.first_difference(&failed).is_some(), "a walk that failed matched itself: {failed:?}");
    }

    #[test]
    fn a_fifo_is_unverifiable_and_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("data.bin");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        // Made just now, so racy: its content would be hashed, and a FIFO's open blocks.
        let recorded = tree(dir.path());
        assert_eq!(recorded.0["function/F/data.bin"], UNVERIFIABLE);
        let mut config = Fingerprint::default();
        config.add_file_content("config/template", &fifo);
        assert_eq!(config.0["config/template"], UNVERIFIABLE);
    }

    #[test]
    fn files_pulled_in_with_r_and_c_are_inputs_recursively() {
        let repo = tempfile::tempdir().unwrap();
        write_old(&repo.path().join("hello/requirements.txt"), "-r ../shared-reqs.txt\nrequests\n");
        write_old(&repo.path().join("shared-reqs.txt"), "-c pins/constraints.txt\nsix==1.16.0\n");
        write_old(&repo.path().join("pins/constraints.txt"), "urllib3<2\n");
        let print = || {
            let mut f = Fingerprint::default();
            f.add_requirements("requirements/F", &repo.path().join("hello/requirements.txt"), repo.path());
            f
        };
        let before = print();
        assert_eq!(before.0.len(), 3, "{before:?}");
        write_old(&repo.path().join("pins/constraints.txt"), "urllib3<3\n");
        assert_eq!(print().first_difference(&before).as_deref(), Some("requirements/F/pins/constraints.txt changed"));
        // A loop of includes ends.
        write_old(&repo.path().join("pins/constraints.txt"), "-r ../hello/requirements.txt\n");
        assert_eq!(print().0.len(), 3);
    }

    #[test]
    fn an_unverifiable_stamp_matches_nothing_not_even_itself() {
        let mut recorded = Fingerprint::default();
        recorded.add("xtask/binary", format!("/bin/xtask:{UNVERIFIABLE}"));
        assert_eq!(recorded.clone().first_difference(&recorded).as_deref(), Some("xtask/binary changed"));
    }

    #[test]
    fn ignored_and_bytecode_files_do_not_count() {
        let dir = tempfile::tempdir().unwrap();
        write_old(&dir.path().join("a.py"), "a");
        let before = tree_print(dir.path());
        write_old(&dir.path().join("__pycache__/a.cpython-311.pyc"), "x");
        write_old(&dir.path().join(".gitignore"), "*.log\n");
        let with_ignore_file = tree_print(dir.path());
        write_old(&dir.path().join("debug.log"), "x");
        assert_eq!(tree_print(dir.path()).first_difference(&with_ignore_file), None);
        assert_eq!(with_ignore_file.first_difference(&before), None, "hidden .gitignore is not shipped");
    }

    #[test]
    fn a_build_output_written_just_now_is_current_right_after() {
        let sam_dir = tempfile::tempdir().unwrap();
        let build_dir = layout::build_dir(sam_dir.path());
        fs::create_dir_all(build_dir.join("F")).unwrap();
        fs::write(build_dir.join("F/handler.py"), "h").unwrap(); // as sam writes it, now
        let inputs = Fingerprint::default();
        record(sam_dir.path(), &build_dir, inputs.clone(), BuildEvidence::default()).unwrap();
        assert_eq!(check(sam_dir.path(), &build_dir, &inputs), Ok(()));
    }

    #[test]
    fn check_needs_a_manifest_matching_inputs_and_outputs() {
        let sam_dir = tempfile::tempdir().unwrap();
        let build_dir = layout::build_dir(sam_dir.path());
        write_old(&build_dir.join("F/handler.py"), "h");
        let mut inputs = Fingerprint::default();
        inputs.add("sam", "1.170.0");

        assert_eq!(check(sam_dir.path(), &build_dir, &inputs), Err("no previous build".to_string()));
        record(sam_dir.path(), &build_dir, inputs.clone(), BuildEvidence::default()).unwrap();
        assert_eq!(check(sam_dir.path(), &build_dir, &inputs), Ok(()));

        let mut newer = inputs.clone();
        newer.add("sam", "1.171.0");
        assert_eq!(check(sam_dir.path(), &build_dir, &newer), Err("sam changed".to_string()));

        fs::remove_file(build_dir.join("F/handler.py")).unwrap();
        assert_eq!(
            check(sam_dir.path(), &build_dir, &inputs),
            Err("the build output was modified: build/F/handler.py was removed".to_string())
        );

        invalidate(sam_dir.path()).unwrap();
        assert_eq!(check(sam_dir.path(), &build_dir, &inputs), Err("no previous build".to_string()));
    }
}
