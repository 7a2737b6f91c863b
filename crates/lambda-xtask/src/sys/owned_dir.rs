//! The directories the xtask may write and delete inside, and the proof that it owns each: a
//! function dir (and the copy of the backend in it), `.aws-sam`, the tool cache. Each is an
//! [`OwnedDir`] of the filesystem layer ([`crate::sys::beneath`]), whose one deletion refuses
//! every path git tracks.

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

use crate::bad_input;
pub use crate::sys::beneath::OwnedDir;
use crate::sys::beneath::{refusal, DirHandle, Kind, Refusal};

impl OwnedDir {
    /// A function dir: a real directory strictly inside the repository, reached from its root
    /// without crossing a symlink; not the repository root, the home directory or `/`.
    pub fn new(repo_root: &Path, dir: &Path) -> Result<OwnedDir> {
        OwnedDir::new_with_home(repo_root, dir, std::env::var_os("HOME").map(PathBuf::from))
    }

    fn new_with_home(repo_root: &Path, dir: &Path, home: Option<PathBuf>) -> Result<OwnedDir> {
        let root = repo_root.canonicalize().with_context(|| format!("resolving {}", repo_root.display()))?;
        let shown = dir.strip_prefix(repo_root).or_else(|_| dir.strip_prefix(&root)).unwrap_or(dir).display();
        let home = home.and_then(|h| h.canonicalize().ok());
        let resolved = dir.canonicalize().ok();
        if let Some(path) = resolved.as_deref().filter(|p| *p == Path::new("/") || Some(*p) == home.as_deref()) {
            bad_input!(
                "function dir {shown} resolves to {}, which is {}: the xtask only deletes inside directories it owns; fix function_dir in [workspace.metadata.lambda]",
                path.display(),
                if path == Path::new("/") { "the root directory" } else { "your home directory" }
            )
        }
        let relative = match dir.strip_prefix(repo_root).or_else(|_| dir.strip_prefix(&root)) {
            Ok(relative) if is_strictly_below(relative) => relative,
            _ => bad_input!(
                "function dir {shown} resolves to {}, which is not strictly inside the repository {}: the xtask only deletes inside directories it owns",
                resolved.as_deref().unwrap_or(dir).display(),
                root.display()
            ),
        };
        let handle = match DirHandle::anchor(&root).and_then(|r| r.dir(relative)) {
            Ok(handle) => handle,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => bad_input!(
                "function dir {shown} does not exist: create it or fix function_dir in [workspace.metadata.lambda]"
            ),
            Err(err) => match refusal(&err) {
                Some(Refusal::Symlink { path }) => bad_input!(
                    "function dir {shown}: {} is a symlink{}: the xtask deletes inside function dirs and never follows links; make it a real directory inside the repository",
                    path.strip_prefix(&root).unwrap_or(path).display(),
                    link_target(path)
                ),
                Some(Refusal::Kind { .. }) => bad_input!("function dir {shown} is not a directory"),
                _ => return Err(err).with_context(|| format!("opening {shown}")),
            },
        };
        OwnedDir::own_asking(handle, Some(tracked_in_dir)).with_context(|| format!("opening {shown}"))
    }

    /// SAM's work dir `<sam_dir>/.aws-sam`, which sam build wipes and the xtask writes: bad
    /// input, before anything is written, unless it is a real directory (not a symlink) of
    /// which git tracks nothing, reached without a symlink from `sam_dir`; created when
    /// missing.
    pub fn aws_sam(sam_dir: &Path) -> Result<OwnedDir> {
        let path = crate::sys::layout::aws_sam_dir(sam_dir);
        let shown = path.display();
        check_aws_sam(sam_dir)?;
        let anchor = DirHandle::anchor(sam_dir).with_context(|| format!("opening {}", sam_dir.display()))?;
        if anchor.kind(Path::new(".aws-sam"))?.is_none() {
            let sam = OwnedDir::own_asking(anchor.clone(), Some(tracked_in_dir))?;
            match sam.create_dir(Path::new(".aws-sam")) {
                Err(err) if err.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(err).with_context(|| format!("creating {shown}"))
                }
                _ => {}
            }
        }
        let handle = anchor.dir(Path::new(".aws-sam")).with_context(|| format!("opening {shown}"))?;
        OwnedDir::own(handle, Vec::new()).with_context(|| format!("opening {shown}"))
    }
}

/// Bad input unless `<sam_dir>/.aws-sam` is missing or a real directory (not a symlink) of
/// which git tracks nothing and that holds no link where sam or the xtask write. Changes
/// nothing (a dry run calls it too).
pub fn check_aws_sam(sam_dir: &Path) -> Result<()> {
    let path = crate::sys::layout::aws_sam_dir(sam_dir);
    let shown = path.display();
    // The template's dir reached through a link (`infra -> /elsewhere`) would put .aws-sam,
    // and sam's wipe of .aws-sam/build, outside the repository.
    let lexical: PathBuf = sam_dir.components().filter(|c| !matches!(c, Component::CurDir)).collect();
    if let Some(real) = sam_dir.canonicalize().ok().filter(|real| *real != lexical) {
        bad_input!(
            "the template's directory {} is reached through a symlink (it resolves to {}): sam build writes .aws-sam there, so it must be a real directory inside the repository",
            sam_dir.display(),
            real.display()
        )
    }
    let tracked_inside = tracked_below(sam_dir, ".aws-sam");
    let anchor = DirHandle::anchor(sam_dir).with_context(|| format!("opening {}", sam_dir.display()))?;
    match anchor.kind(Path::new(".aws-sam")).with_context(|| format!("reading {shown}"))? {
            Some(Kind::Symlink) => bad_input!(
                "{shown} is a symlink{}{}: sam build wipes .aws-sam/build and the xtask writes there, so it must be a real directory the xtask owns: remove the link ({}rm {}) and rerun",
                link_target(&path),
                if tracked_inside.is_empty() { "" } else { ", tracked by git" },
                if tracked_inside.is_empty() { String::new() } else { format!("git rm --cached {} && ", crate::sys::quote::shell(&path)) },
                crate::sys::quote::shell(&path)
            ),
            Some(Kind::Dir) | None => {}
            Some(kind) => bad_input!(
                "{shown} is {}, not a directory: sam build and the xtask write there; remove it and rerun",
                kind.describe()
            ),
        }
    if let Some(first) = tracked_inside.first() {
        bad_input!(
                "{}: git tracks it, and .aws-sam is the build's own work dir (sam build wipes .aws-sam/build): untrack it (git rm -r --cached {}) and keep .aws-sam/ in .gitignore",
                sam_dir.join(first).display(),
                crate::sys::quote::shell(&path)
            )
    }
    match anchor.dir(Path::new(".aws-sam")) {
        Ok(handle) => check_owned_entries(&handle),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err).with_context(|| format!("opening {shown}")),
    }
}

impl OwnedDir {
    /// The tool cache (or any dir the xtask made for itself outside a repository): owned as it
    /// is, with whatever git tracks there still refused.
    pub fn tool_cache(dir: &Path) -> Result<OwnedDir> {
        let handle = DirHandle::anchor(dir).with_context(|| format!("opening {}", dir.display()))?;
        Ok(OwnedDir::own_asking(handle, Some(tracked_in_dir))?)
    }
}

/// Why `relative` (below `repo_root`) is no directory the xtask may read, if it is not: it
/// must be a real directory reached from the root without crossing a symlink.
pub fn check_readable_dir(repo_root: &Path, relative: &Path) -> std::result::Result<(), String> {
    let root = DirHandle::anchor(repo_root).map_err(|err| format!("cannot be read ({err})"))?;
    match root.dir(relative) {
        Ok(_) => Ok(()),
        Err(err) => Err(match refusal(&err) {
            Some(Refusal::Symlink { path }) => format!(
                "is reached through the symlink {}{}",
                path.strip_prefix(repo_root).unwrap_or(path).display(),
                link_target(path)
            ),
            Some(Refusal::Kind { kind, .. }) => {
                format!("is not a directory ({} is {})", relative.display(), kind.describe())
            }
            _ if err.kind() == std::io::ErrorKind::NotFound => {
                format!("is not a directory ({} does not exist)", relative.display())
            }
            _ => format!("cannot be read ({err})"),
        }),
    }
}

/// Removes `path` (a dir with everything below it, or a file or link as itself) when it is
/// there, through [`OwnedDir::remove`] on its parent: for the xtask's own scratch dirs (a
/// staged copy, a layer build), never a path git tracks, never through a link or a mount.
pub fn remove_if_present(path: &Path) -> Result<()> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else { return Ok(()) };
    if std::fs::symlink_metadata(parent).is_err() {
        return Ok(());
    }
    let dir = OwnedDir::own_asking(DirHandle::anchor(parent)?, Some(tracked_in_dir))?;
    dir.remove_if_present(Path::new(name)).with_context(|| format!("removing {}", path.display()))?;
    Ok(())
}

/// Renames `from` to `to`, both in one dir, through [`OwnedDir::rename`] on it.
pub fn rename_in_dir(from: &Path, to: &Path) -> Result<()> {
    let (Some(parent), Some(from_name), Some(to_name)) = (from.parent(), from.file_name(), to.file_name()) else {
        anyhow::bail!("{} and {} name no entries of one dir", from.display(), to.display())
    };
    if to.parent() != Some(parent) {
        anyhow::bail!("{} and {} are not in one dir", from.display(), to.display())
    }
    let dir = OwnedDir::own_asking(DirHandle::anchor(parent)?, Some(tracked_in_dir))?;
    dir.rename(Path::new(from_name), Path::new(to_name))
        .with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// What sam and the xtask keep in `.aws-sam` must be theirs: a symlink there (`build ->
/// /elsewhere`) would have sam build wipe what it points to.
fn check_owned_entries(aws_sam: &DirHandle) -> Result<()> {
    for dir in [Path::new(""), Path::new("build")] {
        let entries = match aws_sam.entries_of(dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err).with_context(|| format!("listing {}", aws_sam.join(dir).display())),
        };
        let here = aws_sam.mount_of(dir).ok();
        for entry in &entries {
            let path = aws_sam.join(dir).join(&entry.name);
            let other_device = entry.kind == Kind::Dir && aws_sam.mount_of(&dir.join(&entry.name)).ok() != here;
            if other_device {
                bad_input!(
                    "{} is a mount point inside .aws-sam, which sam build wipes: unmount it (umount {}) and rerun",
                    path.display(),
                    crate::sys::quote::shell(&path)
                )
            }
            if entry.kind != Kind::Symlink && !entry.kind.is_special() {
                continue;
            }
            bad_input!(
                "{} is {}{} inside .aws-sam, which sam build and the xtask write: remove it (rm {}) and rerun",
                path.display(),
                entry.kind.describe(),
                link_target(&path),
                crate::sys::quote::shell(&path)
            )
        }
    }
    Ok(())
}

/// The paths git tracks below `dir` that match `pathspec` (`.`: all), relative to `dir`; empty
/// outside a git checkout (or without git).
///
/// One listing of the checkout per run answers every dir and pathspec.
pub fn tracked_below(dir: &Path, pathspec: &str) -> Vec<PathBuf> {
    git_tracked(dir, pathspec).unwrap_or_default()
}

/// [`tracked_below`], `None` outside a git checkout (or without git): one listing of the
/// checkout per run, shared by every caller (see [`crate::sys::git::tracked_below`]).
pub fn git_tracked(dir: &Path, pathspec: &str) -> Option<Vec<PathBuf>> {
    crate::sys::git::tracked_below(dir, pathspec)
}

fn tracked_in_dir(dir: &Path) -> Vec<PathBuf> {
    tracked_below(dir, ".")
}

/// ` (to TARGET)` for a link, for messages.
fn link_target(path: &Path) -> String {
    match std::fs::read_link(path) {
        Ok(target) => format!(" (to {})", crate::sys::quote::escaped_path(&target)),
        Err(_) => String::new(),
    }
}

/// A relative path with at least one normal component and no `..`.
fn is_strictly_below(relative: &Path) -> bool {
    relative.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        && relative.components().any(|c| matches!(c, Component::Normal(_)))
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
        assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
        assert!(err.to_string().contains("your home directory"), "{err}");
        let elsewhere = Some(repo.path().join("other-home"));
        assert!(OwnedDir::new_with_home(repo.path(), &home_inside, elsewhere).is_ok(), "refused for another reason");

        // `/`, also when the "repository" is `/` itself.
        for repo_root in [repo.path(), Path::new("/")] {
            let err = OwnedDir::new(repo_root, Path::new("/")).unwrap_err();
            assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
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
            assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT, "{}", refused.display());
        }
    }
}
