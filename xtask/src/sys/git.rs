//! The commit being deployed and whether the tree matches it: recorded in the audit log and
//! as stack tags, and a dirty tree refused for protected environments.

use std::path::Path;
use std::time::Duration;

use xshell::{cmd, Shell};

use crate::sys::process;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitState {
    /// HEAD's full hash; `None` outside a git checkout (or without git).
    pub commit: Option<String>,
    /// Uncommitted or untracked changes; `None` when that cannot be told.
    pub dirty: Option<bool>,
}

impl GitState {
    pub fn read(sh: &Shell, root: &Path) -> GitState {
        let timeout = Some(Duration::from_secs(30));
        let commit = process::capture(cmd!(sh, "git -C {root} rev-parse --verify HEAD"), "git rev-parse", timeout)
            .ok()
            .map(|out| out.trim().to_string())
            .filter(|c| !c.is_empty());
        if commit.is_none() {
            return GitState { commit: None, dirty: None };
        }
        // Untracked files count: they may be copied into the build (ignored ones do not).
        let dirty = process::capture(
            cmd!(sh, "git -C {root} status --porcelain --untracked-files=normal"),
            "git status",
            timeout,
        )
        .ok()
        .map(|out| !out.trim().is_empty());
        GitState { commit, dirty }
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
