//! clean: removes from the function dir every entry not on its allowlist (seed fix 6: 184
//! macOS packages in the function dir shipped instead of Linux wheels).

use std::ffi::OsString;
use std::fs;

use anyhow::{Context, Result};

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

/// The entries a clean of `function_dir` removes, sorted by name. Reads only the top level:
/// an allowlisted directory is kept whole (the pre-build guards look inside it).
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

/// Removes what [`plan`] lists; a symlink is removed as a link, never followed.
pub fn remove(function_dir: &OwnedDir, entries: &[RemovedEntry]) -> Result<()> {
    for entry in entries {
        let path = function_dir.path().join(&entry.name);
        remove_entry(&path).with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
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
    fn planning_removes_nothing() {
        let (_repo, _outside, dir) = polluted();
        let before = plan(&dir, &allowlist()).unwrap();
        let again = plan(&dir, &allowlist()).unwrap();
        assert_eq!(before, again);
        assert!(Path::new(&dir.join("six.py")).exists());
    }
}
