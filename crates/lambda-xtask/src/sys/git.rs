//! The commit being deployed and whether the tree matches it: recorded in the audit log and
//! as stack tags, and a dirty tree refused for protected environments.
//!
//! The xtask's own outputs (`.aws-sam/`, the audit log, a `--json` report, the tool cache,
//! the backend copied into a function dir) are not changes: git is asked about everything
//! else, with an exclude pathspec for each, whether or not the repository ignores them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use xshell::{cmd, Shell};

use crate::sys::process;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitState {
    /// HEAD's full hash; `None` outside a git checkout (or without git).
    pub commit: Option<String>,
    /// Uncommitted or untracked changes; `None` when that cannot be told.
    pub dirty: Option<bool>,
    /// The changed paths, as `git status` lists them (relative to the repository's top).
    pub changes: Vec<String>,
    /// The exclude pathspecs of the xtask's outputs, for a fix that leaves them alone.
    pub excluded: Vec<String>,
}

/// `:(exclude)<path>` for each of the xtask's outputs inside `root` (others are not git's).
pub fn exclude_pathspecs(root: &Path, outputs: &[PathBuf]) -> Vec<String> {
    let mut specs: Vec<String> = outputs
        .iter()
        .filter_map(|path| {
            let relative = if path.is_absolute() { path.strip_prefix(root).ok()? } else { path.as_path() };
            let text = relative.to_str()?.trim_end_matches('/');
            (!text.is_empty() && !text.starts_with("..")).then(|| format!(":(exclude){text}"))
        })
        .collect();
    specs.sort();
    specs.dedup();
    specs
}

impl GitState {
    /// HEAD and the tree's changes but those to `outputs` (the xtask's own files).
    pub fn read(sh: &Shell, root: &Path, outputs: &[PathBuf]) -> GitState {
        let timeout = Some(Duration::from_secs(30));
        let commit = process::capture(cmd!(sh, "git -C {root} rev-parse --verify HEAD"), "git rev-parse", timeout)
            .ok()
            .map(|out| out.trim().to_string())
            .filter(|c| !c.is_empty());
        let excluded = exclude_pathspecs(root, outputs);
        if commit.is_none() {
            return GitState { commit: None, dirty: None, changes: Vec::new(), excluded };
        }
        // Untracked files count: they may be copied into the build (ignored ones do not).
        // Each file, not its directory: a new directory holding only the xtask's outputs is
        // no change. `.` is the project, which may be a subdirectory of the repository.
        let specs = &excluded;
        let listed = process::capture(
            cmd!(sh, "git -C {root} status --porcelain -z --untracked-files=all -- . {specs...}"),
            "git status",
            timeout,
        )
        .ok();
        let changes = listed.as_deref().map(changed_paths).unwrap_or_default();
        let dirty = listed.map(|_| !changes.is_empty());
        GitState { commit, dirty, changes, excluded }
    }

    /// `abc1234` or `unknown`, for stack tags.
    pub fn commit_tag(&self) -> String {
        self.commit.clone().unwrap_or_else(|| "unknown".to_string())
    }

    pub fn dirty_tag(&self) -> &'static str {
        match self.dirty {
            Some(true) => "true",
            Some(false) => "false",
            None => "unknown",
        }
    }
}

/// The paths of `git status --porcelain -z`: `XY path`, a rename followed by its source.
fn changed_paths(output: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut entries = output.split('\0').filter(|e| !e.is_empty());
    while let Some(entry) = entries.next() {
        let (status, path) = entry.split_at(entry.len().min(3));
        paths.push(path.to_string());
        if status.starts_with(['R', 'C']) {
            entries.next();
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porcelain_paths_are_read_renames_included() {
        let out = " M backend/a.py\0?? notes.txt\0R  new.py\0old.py\0";
        assert_eq!(changed_paths(out), ["backend/a.py", "notes.txt", "new.py"]);
        assert!(changed_paths("").is_empty());
    }

    #[test]
    fn outputs_outside_the_root_are_not_excluded() {
        let root = Path::new("/repo");
        let specs = exclude_pathspecs(
            root,
            &[
                PathBuf::from("/repo/infra/lambda/.aws-sam"),
                PathBuf::from("deploy-log.jsonl"),
                PathBuf::from("/home/u/.cache/lambda-xtask"),
            ],
        );
        assert_eq!(specs, [":(exclude)deploy-log.jsonl", ":(exclude)infra/lambda/.aws-sam"]);
    }
}
