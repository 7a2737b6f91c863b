//! stage: the copy sam builds a function from when its function dir also holds the xtask's
//! own files (the repository root: SAM's default CodeUri when the template is there). Exactly
//! the files git shows of the dir (tracked, and untracked but not ignored), less the xtask's
//! and cargo's (see [`crate::project::tool_files`]), each at its repository path below the
//! stage, so that paths in findings read as the repository's.
//!
//! The user's files are only read. A symlink is taken only when it resolves to a regular
//! file inside the repository (copied as that file); any other is refused by name rather
//! than dropped, since leaving code out changes the app.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::project::tool_files::{self, ToolFiles};

/// What a staging copied.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StageReport {
    pub files: usize,
    pub bytes: u64,
}

/// The files of `dirs` (relative to `root`) that a stage holds, relative to `root`.
pub fn files(root: &Path, tool: &ToolFiles, dirs: &[&Path]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for dir in dirs {
        files.extend(tool_files::visible_files(root, dir)?.into_iter().filter(|f| !tool.covers(f)));
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// Copies `files` (relative to `root`) into `into`, which must not exist yet.
pub fn copy(root: &Path, files: &[PathBuf], into: &Path) -> Result<StageReport> {
    let canonical_root = root.canonicalize().with_context(|| format!("resolving {}", root.display()))?;
    let mut report = StageReport::default();
    fs::create_dir(into).with_context(|| format!("creating {}", into.display()))?;
    for relative in files {
        crate::sys::process::check_interrupted()?;
        let source = root.join(relative);
        let meta = fs::symlink_metadata(&source).with_context(|| format!("reading {}", relative.display()))?;
        if meta.file_type().is_symlink() {
            let resolved = source.canonicalize().ok();
            let inside = resolved.as_ref().is_some_and(|r| r.starts_with(&canonical_root) && r.is_file());
            if !inside {
                let target = fs::read_link(&source).unwrap_or_default();
                anyhow::bail!(
                    "{} is a symlink to {}, outside the repository or not a file: a function built from the repository root ships regular files of the repository only; replace the link with what it points to, or give the function its own directory (CodeUri)",
                    relative.display(),
                    target.display()
                )
            }
        } else if !meta.is_file() {
            // git lists no FIFO or device; a gitlink (submodule) is a directory: its files are
            // not this repository's to show.
            continue;
        }
        let destination = into.join(relative);
        if let Some(parent) = destination.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        report.bytes += crate::sys::beneath::copy_regular(&source, &destination)
            .with_context(|| format!("copying {}", relative.display()))?;
        report.files += 1;
    }
    Ok(report)
}

/// Replaces the stage at `stage` with a fresh copy of `files`: written beside it first, so a
/// failed or interrupted staging leaves no half copy where sam reads. `stage`'s parent is
/// the xtask's own dir in `.aws-sam`, which must be a real directory.
pub fn replace(root: &Path, files: &[PathBuf], stage: &Path) -> Result<StageReport> {
    let parent = stage.parent().context("the stage has a parent")?;
    for dir in parent.ancestors().take_while(|a| a.starts_with(root) && *a != root) {
        if fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
            crate::bad_input!(
                "{} is a symlink: the xtask writes its staged copy there and never follows links; remove the link (sam recreates .aws-sam)",
                dir.strip_prefix(root).unwrap_or(dir).display()
            )
        }
    }
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let fresh = stage.with_extension("new");
    remove_if_there(&fresh)?;
    let report = copy(root, files, &fresh)?;
    remove_if_there(stage)?;
    crate::sys::owned_dir::rename_in_dir(&fresh, stage)?;
    Ok(report)
}

/// Removes one of the xtask's own dirs (never follows a link: remove_dir_all removes a link
/// as a link).
fn remove_if_there(dir: &Path) -> Result<()> {
    crate::sys::owned_dir::remove_if_present(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) {
        let out = Command::new("git").args(args).current_dir(dir).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// A repository whose root is a function dir, with the xtask adopted and built once.
    fn adopted_repo() -> (tempfile::TempDir, crate::project::config::Project) {
        let repo = tempfile::tempdir().unwrap();
        let root = repo.path();
        for (path, text) in [
            (
                "Cargo.toml",
                "[workspace]\nmembers = [\"xtask\"]\n\n[workspace.metadata.lambda]\ntemplate = \"template.yaml\"\n",
            ),
            ("template.yaml", "Resources: {}\n"),
            ("app.py", "def handler(e, c): return 1\n"),
            ("agent/handler.py", "x = 1\n"),
            ("xtask/Cargo.toml", "[package]\n"),
            ("xtask/src/main.rs", "fn main() {}\n"),
            (".gitignore", "/target/\n.aws-sam/\n*.log\n.venv/\n"),
        ] {
            write(&root.join(path), text);
        }
        git(root, &["init", "-q"]);
        git(root, &["add", "-A"]);
        write(&root.join("new_module.py"), "untracked but not ignored\n");
        write(&root.join("target/debug/big.bin"), "cargo output\n");
        write(&root.join(".aws-sam/build/F/app.py"), "old build\n");
        write(&root.join("debug.log"), "ignored\n");
        write(&root.join(".venv/lib/site.py"), "ignored\n");
        write(&root.join(".cargo/config.toml"), "[build]\n");
        let project =
            crate::project::config::Project::load(root, &fs::read_to_string(root.join("Cargo.toml")).unwrap()).unwrap();
        (repo, project)
    }

    #[test]
    fn the_root_stages_what_git_shows_less_the_xtasks_own_files() {
        let (repo, project) = adopted_repo();
        let tool = ToolFiles::of(&project);
        let listed = files(repo.path(), &tool, &[Path::new("")]).unwrap();
        let names: Vec<String> = listed.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(names, [".gitignore", "agent/handler.py", "app.py", "new_module.py", "template.yaml"]);
        let stage = tempfile::tempdir().unwrap();
        let into = stage.path().join("stage");
        let report = replace(repo.path(), &listed, &into).unwrap();
        assert_eq!(report.files, 5);
        assert_eq!(fs::read_to_string(into.join("agent/handler.py")).unwrap(), "x = 1\n");
        assert!(!into.join("xtask").exists() && !into.join("target").exists() && !into.join("Cargo.toml").exists());
        // Again, over the first: replaced whole.
        fs::write(into.join("stale.py"), "").unwrap();
        replace(repo.path(), &listed, &into).unwrap();
        assert!(!into.join("stale.py").exists());
    }

    #[test]
    fn a_symlink_out_of_the_repository_is_refused_by_name_and_one_inside_is_copied() {
        let (repo, project) = adopted_repo();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret.txt"), "outside").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), repo.path().join("linked.txt")).unwrap();
        std::os::unix::fs::symlink("app.py", repo.path().join("alias.py")).unwrap();
        let tool = ToolFiles::of(&project);
        let listed = files(repo.path(), &tool, &[Path::new("")]).unwrap();
        let stage = tempfile::tempdir().unwrap();
        let err = copy(repo.path(), &listed, &stage.path().join("s")).unwrap_err();
        assert!(err.to_string().starts_with("linked.txt is a symlink to "), "{err}");
        fs::remove_file(repo.path().join("linked.txt")).unwrap();
        let listed = files(repo.path(), &tool, &[Path::new("")]).unwrap();
        copy(repo.path(), &listed, &stage.path().join("t")).unwrap();
        let copied = stage.path().join("t/alias.py");
        assert!(!fs::symlink_metadata(&copied).unwrap().file_type().is_symlink());
        assert_eq!(fs::read_to_string(copied).unwrap(), "def handler(e, c): return 1\n");
    }
}
