//! The directories the xtask may delete inside. Everything that removes files goes through
//! [`OwnedDir`], so no path outside a function dir can ever be handed to a delete.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::bad_input;

/// A function dir, canonicalised and proven to lie strictly inside the repository.
#[derive(Debug, Clone)]
pub struct OwnedDir {
    path: PathBuf,
}

impl OwnedDir {
    /// Refuses a dir that resolves (through symlinks) outside the repository, to the
    /// repository root itself, to the home directory or to `/`.
    pub fn new(repo_root: &Path, dir: &Path) -> Result<OwnedDir> {
        OwnedDir::new_with_home(repo_root, dir, std::env::var_os("HOME").map(PathBuf::from))
    }

    fn new_with_home(repo_root: &Path, dir: &Path, home: Option<PathBuf>) -> Result<OwnedDir> {
        let shown = dir.display();
        let meta = match std::fs::symlink_metadata(dir) {
            Ok(meta) => meta,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                bad_input!(
                    "function dir {shown} does not exist: create it or fix function_dir in [workspace.metadata.lambda]"
                )
            }
            Err(err) => return Err(err).with_context(|| format!("reading {shown}")),
        };
        if meta.file_type().is_symlink() {
            bad_input!("function dir {shown} is a symlink: the xtask deletes inside it and never follows links; make it a real directory")
        }
        if !meta.is_dir() {
            bad_input!("function dir {shown} is not a directory")
        }
        let path = dir.canonicalize().with_context(|| format!("resolving {shown}"))?;
        let root = repo_root.canonicalize().with_context(|| format!("resolving {}", repo_root.display()))?;
        let home = home.and_then(|h| h.canonicalize().ok());
        if path == Path::new("/") || Some(&path) == home.as_ref() {
            bad_input!(
                "function dir {shown} resolves to {}, which is {}: the xtask only deletes inside directories it owns; fix function_dir in [workspace.metadata.lambda]",
                path.display(),
                if path == Path::new("/") { "the root directory" } else { "your home directory" }
            )
        }
        if path == root || !path.starts_with(&root) {
            bad_input!(
                "function dir {shown} resolves to {}, which is not strictly inside the repository {}: the xtask only deletes inside directories it owns",
                path.display(),
                root.display()
            )
        }
        Ok(OwnedDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

/// Removes one entry of an owned dir without following links: a symlink goes as a link,
/// a directory with everything below it (std's remove_dir_all does not follow links either).
pub fn remove_entry(path: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_the_home_directory_and_the_root() {
        let repo = tempfile::tempdir().unwrap();
        let home_inside = repo.path().join("home");
        std::fs::create_dir(&home_inside).unwrap();
        let err = OwnedDir::new_with_home(repo.path(), &home_inside, Some(home_inside.clone())).unwrap_err();
        assert_eq!(crate::run::exit::status_of(&err), crate::run::exit::BAD_INPUT);
        assert!(err.to_string().contains("your home directory"), "{err}");
        let elsewhere = Some(repo.path().join("other-home"));
        assert!(OwnedDir::new_with_home(repo.path(), &home_inside, elsewhere).is_ok(), "refused for another reason");

        // `/`, also when the "repository" is `/` itself.
        for repo_root in [repo.path(), Path::new("/")] {
            let err = OwnedDir::new(repo_root, Path::new("/")).unwrap_err();
            assert_eq!(crate::run::exit::status_of(&err), crate::run::exit::BAD_INPUT);
            assert!(err.to_string().contains("the root directory"), "{err}");
        }
    }

    #[test]
    fn refuses_repo_root_outside_and_symlinked_dirs() {
        let repo = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let inside = repo.path().join("fn");
        std::fs::create_dir(&inside).unwrap();
        std::os::unix::fs::symlink(outside.path(), repo.path().join("link")).unwrap();

        assert!(OwnedDir::new(repo.path(), &inside).is_ok());
        for refused in
            [repo.path().to_path_buf(), outside.path().to_path_buf(), repo.path().join("link"), inside.join("..")]
        {
            let err = OwnedDir::new(repo.path(), &refused).unwrap_err();
            assert_eq!(crate::run::exit::status_of(&err), crate::run::exit::BAD_INPUT, "{}", refused.display());
        }
    }
}
