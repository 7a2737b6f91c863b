//! One xtask run at a time per repository: two runs copying, cleaning or building the same
//! function dir at once would delete each other's work. The second run waits for the first.

use std::fs::{self, File, TryLockError};
use std::path::Path;

use anyhow::{Context, Result};

use crate::project::layout;

/// Held for the whole run; the OS releases the lock when the process ends, however it ends.
pub struct RepoLock {
    _file: File,
}

impl RepoLock {
    /// Locks `<sam dir>/.aws-sam/xtask.lock` (SAM's own work dir, ignored by git).
    pub fn acquire(sam_dir: &Path) -> Result<RepoLock> {
        let dir = layout::aws_sam_dir(sam_dir);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = layout::lock_file(sam_dir);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                eprintln!(
                    "another cargo xtask run is working on this repository; waiting for it to finish ({})",
                    path.display()
                );
                file.lock().with_context(|| format!("locking {}", path.display()))?;
            }
            Err(TryLockError::Error(err)) => return Err(err).with_context(|| format!("locking {}", path.display())),
        }
        // Under the lock: what a killed run left running is stopped before this run starts.
        let children = dir.join(crate::sys::orphans::RECORD_NAME);
        crate::sys::orphans::stop_leftover(&children)?;
        crate::sys::orphans::record_children_in(children);
        Ok(RepoLock { _file: file })
    }

    /// For a reader (lambda-check): the lock when a build has ever run here, so a running
    /// build is waited for and never read half-written; `None` on a tree that never built,
    /// which has no build output to read and is left without a new `.aws-sam` dir.
    pub fn acquire_if_built(sam_dir: &Path) -> Result<Option<RepoLock>> {
        if !sam_dir.join(".aws-sam").is_dir() {
            return Ok(None);
        }
        RepoLock::acquire(sam_dir).map(Some)
    }
}
