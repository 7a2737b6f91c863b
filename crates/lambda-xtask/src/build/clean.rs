//! clean: what an installer left in a function dir goes before sam copies the dir into the
//! artifact (seed fix 6: 184 macOS packages in the function dir shipped instead of Linux
//! wheels). It never deletes a file git tracks, nor one it cannot prove an installer put there.
//!
//! Two modes:
//! - no `allowlist` (every real app): only provable pollution goes. A top-level `*.dist-info`
//!   dir goes with each file its RECORD lists whose content still has the recorded sha256
//!   (bin/ scripts included); an `*.egg-info` dir goes with the files its installed-files.txt
//!   lists; `__pycache__` dirs go. A listed file that was edited since, or anything else
//!   untracked that git ignores, is an `unexplained-file` finding: reported, never deleted.
//! - an `allowlist` (a dir that holds only generated content, like the sample's): every entry
//!   off it goes, but a tracked file among them is bad input before anything changes.

use std::collections::{BTreeSet, HashSet};
use std::ffi::OsString;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::bad_input;
use crate::guards::source::UNEXPLAINED_FILE as UNEXPLAINED;
use crate::guards::Finding;
use crate::sys::owned_dir::{remove_entry, OwnedDir};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedEntry {
    pub name: OsString,
    pub kind: EntryKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
}

impl EntryKind {
    pub fn label(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Dir => "dir",
            EntryKind::Symlink => "symlink",
        }
    }
}

/// What git knows of a function dir's files, relative to that dir; `None` fields outside a
/// git checkout (then nothing counts as tracked, and only hash-proven files are removed).
#[derive(Debug, Default, Clone)]
pub struct GitView {
    pub in_repository: bool,
    pub tracked: HashSet<PathBuf>,
    pub ignored: HashSet<PathBuf>,
}

impl GitView {
    /// Asks git about `dir` (absolute, inside `root`).
    pub fn read(root: &Path, dir: &Path) -> GitView {
        let list = |extra: &[&str]| -> Option<HashSet<PathBuf>> {
            let mut command = Command::new("git");
            command.arg("-C").arg(dir).args(["ls-files", "-z"]).args(extra).arg("--").arg(".");
            let out = crate::sys::process::capture(command, "git ls-files", Some(Duration::from_secs(60))).ok()?;
            Some(out.split('\0').filter(|p| !p.is_empty()).map(PathBuf::from).collect())
        };
        let _ = root;
        match list(&[]) {
            Some(tracked) => GitView {
                in_repository: true,
                tracked,
                ignored: list(&["--others", "--ignored", "--exclude-standard"]).unwrap_or_default(),
            },
            None => GitView::default(),
        }
    }

    /// True when git tracks `relative` or anything below it.
    pub fn tracks(&self, relative: &Path) -> bool {
        self.tracked.iter().any(|t| t.starts_with(relative))
    }
}

/// The entries a clean of `function_dir` with an allowlist removes, sorted by name. Reads only
/// the top level: an allowlisted directory is kept whole (the pre-build guards look inside it).
pub fn plan(function_dir: &OwnedDir, allowlist: &[String]) -> Result<Vec<RemovedEntry>> {
    let dir = function_dir.path();
    let mut doomed = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name();
        if allowlist.iter().any(|allowed| name == allowed.as_str()) {
            continue;
        }
        // DirEntry::file_type does not follow symlinks.
        let file_type = entry.file_type().with_context(|| format!("reading {}", entry.path().display()))?;
        let kind = if file_type.is_symlink() {
            EntryKind::Symlink
        } else if file_type.is_dir() {
            EntryKind::Dir
        } else {
            EntryKind::File
        };
        doomed.push(RemovedEntry { name, kind });
    }
    doomed.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(doomed)
}

/// Bad input when an allowlist would delete a file git tracks: checked before anything runs.
pub fn check_allowlist(function_dir: &OwnedDir, shown: &Path, allowlist: &[String], git: &GitView) -> Result<()> {
    for entry in plan(function_dir, allowlist)? {
        let name = Path::new(&entry.name);
        if let Some(tracked) = git.tracked.iter().filter(|t| t.starts_with(name)).min() {
            bad_input!(
                "{}: git tracks it, and the allowlist {:?} of this function dir would have clean delete it: add {} to allowlist, or remove allowlist so clean deletes only installed packages",
                shown.join(tracked).display(),
                allowlist,
                name.display()
            )
        }
    }
    Ok(())
}

/// Removes what [`plan`] lists; a symlink is removed as a link, never followed.
pub fn remove(function_dir: &OwnedDir, entries: &[RemovedEntry]) -> Result<()> {
    for entry in entries {
        let path = function_dir.path().join(&entry.name);
        remove_entry(&path).with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}

/// What a clean without allowlist does to one function dir. Paths relative to the dir.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SafePlan {
    /// Installed files proven by their RECORD hash (or listed by installed-files.txt).
    pub files: BTreeSet<PathBuf>,
    /// Whole dirs: installed-package metadata, `__pycache__`.
    pub dirs: BTreeSet<PathBuf>,
    /// Untracked, not removed, and not explained: each with why it is suspect.
    pub unexplained: Vec<(PathBuf, String)>,
}

impl SafePlan {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.dirs.is_empty()
    }

    /// What goes, for the output: `(kind, path)`, dirs first.
    pub fn listing(&self) -> Vec<(&'static str, &Path)> {
        let dirs = self.dirs.iter().map(|d| ("dir", d.as_path()));
        dirs.chain(self.files.iter().map(|f| ("file", f.as_path()))).collect()
    }

    /// The findings of what stays unexplained, with `shown` the function dir as output shows it.
    pub fn findings(&self, shown: &Path) -> Vec<Finding> {
        self.unexplained
            .iter()
            .map(|(path, why)| {
                let shown = shown.join(path);
                Finding::new(
                    UNEXPLAINED,
                    shown.display().to_string(),
                    format!("{why}; sam build copies it into the artifact as it is"),
                    "a package installed here on macOS or Windows ships instead of the Linux build: 'os' has no attribute 'add_dll_directory' (seed issue 6)",
                    format!(
                        "if an installer put it there: rm -rf {0}; if it is your source: git add {0} (or list the dir's entries in allowlist)",
                        shown.display()
                    ),
                )
            })
            .collect()
    }
}

/// Plans a clean without allowlist: only what can be proven installed goes.
pub fn plan_safe(function_dir: &OwnedDir, git: &GitView) -> Result<SafePlan> {
    let root = function_dir.path();
    let mut planner = SafePlanner { root, git, plan: SafePlan::default(), listed_by_installer: HashSet::new() };
    let entries = fs::read_dir(root).with_context(|| format!("listing {}", root.display()))?;
    let mut names: Vec<OsString> = entries.flatten().map(|e| e.file_name()).collect();
    names.sort();
    for name in &names {
        let relative = PathBuf::from(name);
        let path = root.join(name);
        let text = name.to_string_lossy();
        let is_dir = fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
        if !is_dir || git.tracks(&relative) {
            continue;
        }
        if text.ends_with(".dist-info") {
            planner.add_dist_info(relative, &path, &text);
        } else if text.ends_with(".egg-info") {
            planner.add_egg_info(relative, &path);
        }
    }
    planner.add_pycache_dirs()?;
    // What stays: untracked files git ignores are not source anyone means to ship.
    planner.add_ignored_suspects();
    let mut plan = planner.plan;
    plan.unexplained.sort();
    Ok(plan)
}

/// A [`SafePlan`] being made for the function dir `root`, with every file an installer's
/// record lists (so that what git ignores is not reported for it).
struct SafePlanner<'a> {
    root: &'a Path,
    git: &'a GitView,
    plan: SafePlan,
    listed_by_installer: HashSet<PathBuf>,
}

impl SafePlanner<'_> {
    /// The files a `*.dist-info` dir's RECORD lists whose content is still what was installed;
    /// the dir itself goes only when every untracked file it lists does.
    fn add_dist_info(&mut self, relative: PathBuf, path: &Path, text: &str) {
        let mut all_proven = true;
        for entry in crate::python::wheel::parse_record(&fs::read_to_string(path.join("RECORD")).unwrap_or_default()) {
            let Some(file) = record_path(&entry.path) else { continue };
            if file.starts_with(&relative) {
                continue;
            }
            self.listed_by_installer.insert(file.clone());
            let on_disk = self.root.join(&file);
            let Ok(meta) = fs::symlink_metadata(&on_disk) else { continue };
            if !meta.is_file() || self.git.tracks(&file) {
                all_proven = false;
                continue;
            }
            let proven = match entry.hash.as_deref().and_then(|h| h.strip_prefix("sha256=")) {
                Some(expected) => sha256_urlsafe(&on_disk).is_ok_and(|actual| actual == expected),
                // Unhashed rows are bytecode pip compiled at install time.
                None => file.extension().is_some_and(|e| e == "pyc"),
            };
            if proven {
                self.plan.files.insert(file);
            } else {
                all_proven = false;
                self.plan.unexplained.push((
                    file,
                    format!("{text}/RECORD lists it, but its content is not what was installed (edited since?)"),
                ));
            }
        }
        if all_proven {
            self.plan.dirs.insert(relative);
        }
    }

    /// An `*.egg-info` dir and the untracked files its installed-files.txt lists.
    fn add_egg_info(&mut self, relative: PathBuf, path: &Path) {
        let listed = fs::read_to_string(path.join("installed-files.txt")).unwrap_or_default();
        for line in listed.lines().filter(|l| !l.trim().is_empty()) {
            let Some(file) = record_path(&relative.join(line.trim()).to_string_lossy()) else { continue };
            if file.starts_with(&relative) || self.git.tracks(&file) {
                continue;
            }
            self.listed_by_installer.insert(file.clone());
            if fs::symlink_metadata(self.root.join(&file)).is_ok_and(|m| m.is_file()) {
                self.plan.files.insert(file);
            }
        }
        self.plan.dirs.insert(relative);
    }

    /// Untracked `__pycache__` dirs not already inside a dir that goes.
    fn add_pycache_dirs(&mut self) -> Result<()> {
        for pycache in find_pycache(self.root)? {
            if !self.git.tracks(&pycache) && !self.plan.dirs.iter().any(|d| pycache.starts_with(d)) {
                self.plan.dirs.insert(pycache);
            }
        }
        Ok(())
    }

    /// What git ignores that nothing here explains, as unexplained entries.
    fn add_ignored_suspects(&mut self) {
        let plan = &mut self.plan;
        let mut suspects: BTreeSet<PathBuf> = BTreeSet::new();
        for ignored in &self.git.ignored {
            let covered = plan.files.contains(ignored)
                || plan.dirs.iter().any(|d| ignored.starts_with(d))
                || self.listed_by_installer.contains(ignored)
                || ignored.components().any(|c| c.as_os_str() == "__pycache__");
            if covered {
                continue;
            }
            // One finding per top-level entry, not one per file of an ignored .venv.
            let top: PathBuf = ignored.components().take(1).collect();
            suspects.insert(if self.root.join(&top).is_dir() { top } else { ignored.clone() });
        }
        for suspect in suspects {
            if !plan.unexplained.iter().any(|(p, _)| p == &suspect) {
                plan.unexplained
                    .push((suspect, "untracked and ignored by git, and no installer's record lists it".into()));
            }
        }
    }
}

/// A RECORD path relative to the function dir: pip --target records scripts as
/// `../../bin/x` (relative to its temporary lib dir) and moves them to `bin/x`.
fn record_path(recorded: &str) -> Option<PathBuf> {
    let path = Path::new(recorded);
    if path.is_absolute() {
        return None;
    }
    let parts: Vec<Component> = path.components().collect();
    let leading_up = parts.iter().take_while(|c| matches!(c, Component::ParentDir)).count();
    let rest: PathBuf = parts[leading_up..].iter().collect();
    if rest.components().any(|c| !matches!(c, Component::Normal(_))) || rest.as_os_str().is_empty() {
        return None;
    }
    if leading_up > 0 && !rest.starts_with("bin") {
        return None;
    }
    Some(rest)
}

fn find_pycache(root: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        let dir = root.join(&relative);
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            // Not following links: file_type is the link's own.
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let child = relative.join(entry.file_name());
            if entry.file_name() == "__pycache__" {
                found.push(child);
            } else {
                stack.push(child);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// A file's sha256 as RECORD writes it: urlsafe base64 without padding.
fn sha256_urlsafe(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(fs::read(path)?);
    Ok(base64_urlsafe_nopad(&hasher.finalize()))
}

fn base64_urlsafe_nopad(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Removes what [`plan_safe`] proved, then the directories that left empty. Returns how many
/// files and dirs went.
pub fn remove_safe(function_dir: &OwnedDir, plan: &SafePlan) -> Result<usize> {
    let root = function_dir.path();
    let mut parents: BTreeSet<PathBuf> = BTreeSet::new();
    for dir in &plan.dirs {
        let path = root.join(dir);
        if fs::symlink_metadata(&path).is_ok() {
            remove_entry(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    for file in &plan.files {
        let path = root.join(file);
        if fs::symlink_metadata(&path).is_ok() {
            fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
        parents.extend(file.ancestors().skip(1).filter(|a| !a.as_os_str().is_empty()).map(Path::to_path_buf));
    }
    // Deepest first; remove_dir refuses a dir that still holds anything.
    let mut emptied = 0;
    for dir in parents.iter().rev() {
        if fs::remove_dir(root.join(dir)).is_ok() {
            emptied += 1;
        }
    }
    Ok(plan.files.len() + plan.dirs.len() + emptied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::path::Path;

    fn allowlist() -> Vec<String> {
        ["handler.py", "requirements.txt", "src", ".gitignore"].map(String::from).to_vec()
    }

    fn names(entries: &[RemovedEntry]) -> Vec<String> {
        entries.iter().map(|e| e.name.to_string_lossy().into_owned()).collect()
    }

    fn polluted() -> (tempfile::TempDir, tempfile::TempDir, OwnedDir) {
        let repo = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("precious.txt"), "keep me").unwrap();
        let dir = repo.path().join("fn");
        for name in ["src/lazy_app.py", "psycopg2/__init__.py", "psycopg2_binary-2.9.11.dist-info/WHEEL"] {
            let path = dir.join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, "x").unwrap();
        }
        for name in ["handler.py", "requirements.txt", ".gitignore", "six.py", ".DS_Store"] {
            fs::write(dir.join(name), "x").unwrap();
        }
        symlink(outside.path(), dir.join("linked_dir")).unwrap();
        symlink(outside.path().join("precious.txt"), dir.join("linked_file")).unwrap();
        symlink(dir.join("nowhere"), dir.join("dangling")).unwrap();
        symlink(dir.join("loop"), dir.join("loop")).unwrap();
        let owned = OwnedDir::new(repo.path(), &dir).unwrap();
        (repo, outside, owned)
    }

    #[test]
    fn removes_exactly_the_entries_off_the_allowlist() {
        let (_repo, outside, dir) = polluted();
        let doomed = plan(&dir, &allowlist()).unwrap();
        assert_eq!(
            names(&doomed),
            [
                ".DS_Store",
                "dangling",
                "linked_dir",
                "linked_file",
                "loop",
                "psycopg2",
                "psycopg2_binary-2.9.11.dist-info",
                "six.py"
            ]
        );
        remove(&dir, &doomed).unwrap();

        let mut left: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        assert_eq!(left, [".gitignore", "handler.py", "requirements.txt", "src"]);
        assert!(dir.join("src/lazy_app.py").exists());
        // The links' targets outside are untouched.
        assert_eq!(fs::read_to_string(outside.path().join("precious.txt")).unwrap(), "keep me");
    }

    #[test]
    fn symlinks_are_reported_as_links() {
        let (_repo, _outside, dir) = polluted();
        let doomed = plan(&dir, &allowlist()).unwrap();
        let kind_of = |n: &str| doomed.iter().find(|e| e.name == n).unwrap().kind;
        assert_eq!(kind_of("linked_dir"), EntryKind::Symlink);
        assert_eq!(kind_of("loop"), EntryKind::Symlink);
        assert_eq!(kind_of("psycopg2"), EntryKind::Dir);
        assert_eq!(kind_of("six.py"), EntryKind::File);
    }

    #[test]
    fn base64_matches_record_encoding() {
        // sha256 of b"hello", as a RECORD row writes it.
        let mut hasher = Sha256::new();
        hasher.update(b"hello");
        assert_eq!(base64_urlsafe_nopad(&hasher.finalize()), "LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ");
        assert_eq!(base64_urlsafe_nopad(b"ab"), "YWI");
    }

    #[test]
    fn record_paths_map_scripts_and_refuse_escapes() {
        assert_eq!(record_path("../../bin/normalizer"), Some(PathBuf::from("bin/normalizer")));
        assert_eq!(record_path("six.py"), Some(PathBuf::from("six.py")));
        assert_eq!(record_path("../../etc/passwd"), None);
        assert_eq!(record_path("/abs/x"), None);
        assert_eq!(record_path("a/../../x"), None);
    }

    #[test]
    fn planning_removes_nothing() {
        let (_repo, _outside, dir) = polluted();
        let before = plan(&dir, &allowlist()).unwrap();
        let again = plan(&dir, &allowlist()).unwrap();
        assert_eq!(before, again);
        assert!(Path::new(&dir.join("six.py")).exists());
    }
}
