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
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::bad_input;
use crate::guards::source::UNEXPLAINED_FILE as UNEXPLAINED;
use crate::guards::Finding;
use crate::sys::beneath::{refusal, Kind, Refusal};
use crate::sys::owned_dir::OwnedDir;

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
    /// Asks git about `dir` (absolute, inside `root`): what it tracks and what it ignores.
    pub fn read(root: &Path, dir: &Path) -> GitView {
        let _ = root;
        let mut view = GitView::tracked_only(dir);
        if view.in_repository {
            view.ignored = ignored_below(dir).unwrap_or_default();
        }
        view
    }

    /// What git tracks in `dir`, from the run's one listing of the checkout, without the
    /// ignored files (a second git): enough for the allowlist check, which only asks what
    /// git tracks.
    pub fn tracked_only(dir: &Path) -> GitView {
        match crate::sys::owned_dir::git_tracked(dir, ".") {
            Some(tracked) => {
                GitView { in_repository: true, tracked: tracked.into_iter().collect(), ..GitView::default() }
            }
            None => GitView::default(),
        }
    }

    /// True when git tracks `relative` or anything below it.
    pub fn tracks(&self, relative: &Path) -> bool {
        self.tracked.iter().any(|t| t.starts_with(relative))
    }
}

/// The untracked files git ignores below `dir`, relative to it.
fn ignored_below(dir: &Path) -> Option<HashSet<PathBuf>> {
    let mut command = Command::new("git");
    command.arg("-C").arg(dir).args(["ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--", "."]);
    let out = crate::sys::process::capture(command, "git ls-files", Some(Duration::from_secs(60))).ok()?;
    Some(out.split('\0').filter(|p| !p.is_empty()).map(PathBuf::from).collect())
}

/// The entries a clean of `function_dir` with an allowlist removes, sorted by name. Reads only
/// the top level: an allowlisted directory is kept whole (the pre-build guards look inside it).
pub fn plan(function_dir: &OwnedDir, allowlist: &[String]) -> Result<Vec<RemovedEntry>> {
    let dir = function_dir.path();
    let mut doomed = Vec::new();
    for entry in function_dir.handle().entries().with_context(|| format!("listing {}", dir.display()))? {
        let name = entry.name;
        if allowlist.iter().any(|allowed| name == allowed.as_str()) {
            continue;
        }
        let kind = match entry.kind {
            Kind::Symlink => EntryKind::Symlink,
            Kind::Dir => EntryKind::Dir,
            _ => EntryKind::File,
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
        let path = function_dir.join(&entry.name);
        function_dir.remove(Path::new(&entry.name)).with_context(|| format!("removing {}", path.display()))?;
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
                    "a package installed here on macOS or Windows ships instead of the Linux build: 'os' has no attribute 'add_dll_directory'",
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
    let mut planner =
        SafePlanner { dir: function_dir, git, plan: SafePlan::default(), listed_by_installer: HashSet::new() };
    let entries = function_dir.handle().entries().with_context(|| format!("listing {}", root.display()))?;
    for entry in entries.iter().filter(|e| e.kind == Kind::Dir) {
        let relative = PathBuf::from(&entry.name);
        let text = entry.name.to_string_lossy();
        if git.tracks(&relative) {
            continue;
        }
        if text.ends_with(".dist-info") {
            planner.add_dist_info(relative, &text);
        } else if text.ends_with(".egg-info") {
            planner.add_egg_info(relative);
        }
    }
    planner.add_pycache_dirs()?;
    // What stays: untracked files git ignores are not source anyone means to ship.
    planner.add_ignored_suspects();
    let mut plan = planner.plan;
    plan.unexplained.sort();
    Ok(plan)
}

/// A [`SafePlan`] being made for the function dir `dir`, with every file an installer's
/// record lists (so that what git ignores is not reported for it). Every path is read through
/// the dir's handle: a RECORD entry reached through a symlink (`shared -> ../shared`) is never
/// followed, so never proven, so never deleted.
struct SafePlanner<'a> {
    dir: &'a OwnedDir,
    git: &'a GitView,
    plan: SafePlan,
    listed_by_installer: HashSet<PathBuf>,
}

impl SafePlanner<'_> {
    /// The files a `*.dist-info` dir's RECORD lists whose content is still what was installed;
    /// the dir itself goes only when every untracked file it lists does.
    fn add_dist_info(&mut self, relative: PathBuf, text: &str) {
        let mut all_proven = true;
        let record = self.dir.handle().read_to_string(&relative.join("RECORD")).unwrap_or_default();
        for entry in crate::python::wheel::parse_record(&record) {
            let Some(file) = record_path(&entry.path) else { continue };
            if file.starts_with(&relative) {
                continue;
            }
            self.listed_by_installer.insert(file.clone());
            let kind = match self.dir.handle().kind(&file) {
                Ok(Some(kind)) => kind,
                Ok(None) => continue,
                Err(err) => {
                    all_proven = false;
                    self.plan.unexplained.push((
                        file,
                        format!("{text}/RECORD lists it, but {}: never deleted", why_unreachable(self.dir, &err)),
                    ));
                    continue;
                }
            };
            if kind != Kind::File || self.git.tracks(&file) {
                all_proven = false;
                continue;
            }
            // What the deletion would refuse (a mount point on the way) is never planned.
            if let Err(err) = self.dir.check_removable(&file) {
                all_proven = false;
                let why = why_unreachable(self.dir, &err);
                self.plan.unexplained.push((file, format!("{text}/RECORD lists it, but {why}: never deleted")));
                continue;
            }
            let proven = match entry.hash.as_deref().and_then(|h| h.strip_prefix("sha256=")) {
                Some(expected) => self.sha256_urlsafe(&file).is_ok_and(|actual| actual == expected),
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
    fn add_egg_info(&mut self, relative: PathBuf) {
        let listed = self.dir.handle().read_to_string(&relative.join("installed-files.txt")).unwrap_or_default();
        for line in listed.lines().filter(|l| !l.trim().is_empty()) {
            let Some(file) = record_path(&relative.join(line.trim()).to_string_lossy()) else { continue };
            if file.starts_with(&relative) || self.git.tracks(&file) {
                continue;
            }
            self.listed_by_installer.insert(file.clone());
            let removable = |kind: Option<Kind>| match kind {
                Some(Kind::File) => self.dir.check_removable(&file).map(|()| kind),
                other => Ok(other),
            };
            match self.dir.handle().kind(&file).and_then(removable) {
                Ok(Some(Kind::File)) => {
                    self.plan.files.insert(file);
                }
                Ok(_) => {}
                Err(err) => self.plan.unexplained.push((
                    file,
                    format!(
                        "{}/installed-files.txt lists it, but {}: never deleted",
                        relative.display(),
                        why_unreachable(self.dir, &err)
                    ),
                )),
            }
        }
        self.plan.dirs.insert(relative);
    }

    /// Untracked `__pycache__` dirs not already inside a dir that goes.
    fn add_pycache_dirs(&mut self) -> Result<()> {
        for pycache in find_pycache(self.dir)? {
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
            let top_is_dir = self.dir.handle().kind(&top).is_ok_and(|k| k == Some(Kind::Dir));
            // The backend copied in by copy-backend, marked as its own: explained.
            let marker = top.join(crate::build::copy_backend::MARKER);
            if top_is_dir && self.dir.handle().kind(&marker).is_ok_and(|k| k == Some(Kind::File)) {
                continue;
            }
            suspects.insert(if top_is_dir { top } else { ignored.clone() });
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

fn find_pycache(root: &OwnedDir) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        let Ok(entries) = root.handle().entries_of(&relative) else { continue };
        // By lstat through the handle: a link to a dir is never entered.
        for entry in entries.into_iter().filter(|e| e.kind == Kind::Dir) {
            let child = relative.join(&entry.name);
            if entry.name == "__pycache__" {
                found.push(child);
            } else {
                stack.push(child);
            }
        }
    }
    found.sort();
    Ok(found)
}

impl SafePlanner<'_> {
    /// A file's sha256 as RECORD writes it: urlsafe base64 without padding.
    fn sha256_urlsafe(&self, relative: &Path) -> std::io::Result<String> {
        let mut hasher = Sha256::new();
        hasher.update(self.dir.handle().read(relative)?);
        Ok(base64_urlsafe_nopad(&hasher.finalize()))
    }
}

/// Why a recorded path cannot be reached through the function dir's handle, for a finding.
fn why_unreachable(dir: &OwnedDir, err: &std::io::Error) -> String {
    match refusal(err) {
        Some(Refusal::Symlink { path }) => format!(
            "it is reached through the symlink {} in the function dir",
            crate::sys::quote::escaped_path(path.strip_prefix(dir.path()).unwrap_or(path))
        ),
        Some(other) => other.to_string(),
        None => format!("it cannot be read ({err})"),
    }
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
    let mut parents: BTreeSet<PathBuf> = BTreeSet::new();
    for dir in &plan.dirs {
        function_dir
            .remove_if_present(dir)
            .with_context(|| format!("removing {}", function_dir.join(dir).display()))?;
    }
    for file in &plan.files {
        function_dir
            .remove_if_present(file)
            .with_context(|| format!("removing {}", function_dir.join(file).display()))?;
        parents.extend(file.ancestors().skip(1).filter(|a| !a.as_os_str().is_empty()).map(Path::to_path_buf));
    }
    // Deepest first; rmdir refuses a dir that still holds anything.
    let mut emptied = 0;
    for dir in parents.iter().rev() {
        if function_dir.remove_empty_dir(dir).is_ok() {
            emptied += 1;
        }
    }
    Ok(plan.files.len() + plan.dirs.len() + emptied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
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
