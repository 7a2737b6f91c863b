//! One xtask run at a time per repository: two runs copying, cleaning or building the same
//! function dir at once would delete each other's work. The second run waits for the first.
//!
//! The lock lives in `.aws-sam`, which is proven the xtask's own before anything is written
//! there (see [`OwnedDir::aws_sam`]): every command that writes takes this lock first.

use std::fs::{File, TryLockError};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::sys::layout;
use crate::sys::owned_dir::OwnedDir;

/// Held for the whole run; the OS releases the lock when the process ends, however it ends.
pub struct RepoLock {
    _file: File,
    aws_sam: OwnedDir,
}

impl RepoLock {
    /// Locks `<sam dir>/.aws-sam/xtask.lock` (SAM's own work dir, ignored by git), once
    /// `.aws-sam` is proven a real directory git tracks nothing in (bad input otherwise).
    /// Waiting for another run ends at Ctrl-C or SIGTERM.
    pub fn acquire(sam_dir: &Path) -> Result<RepoLock> {
        let aws_sam = OwnedDir::aws_sam(sam_dir)?;
        let path = layout::lock_file(sam_dir);
        let name = Path::new("xtask.lock");
        let file = aws_sam.open_or_create(name).with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                say!(
                    "another cargo xtask run is working on this repository; waiting for it to finish ({})",
                    path.display()
                );
                wait_for_lock(&file, &path)?;
            }
            Err(TryLockError::Error(err)) => return Err(err).with_context(|| format!("locking {}", path.display())),
        }
        // Under the lock: what a killed run left running is stopped before this run starts.
        crate::sys::orphans::stop_leftover(&aws_sam)?;
        crate::sys::orphans::record_children_in(aws_sam.clone());
        Ok(RepoLock { _file: file, aws_sam })
    }

    /// `.aws-sam`, proven owned.
    pub fn aws_sam(&self) -> &OwnedDir {
        &self.aws_sam
    }

    /// For a reader (lambda-check): the lock when a build has ever run here, so a running
    /// build is waited for and never read half-written; `None` on a tree that never built,
    /// which has no build output to read and is left without a new `.aws-sam` dir.
    pub fn acquire_if_built(sam_dir: &Path) -> Result<Option<RepoLock>> {
        if std::fs::symlink_metadata(layout::aws_sam_dir(sam_dir)).is_err() {
            return Ok(None);
        }
        RepoLock::acquire(sam_dir).map(Some)
    }
}

/// A blocking `flock` restarts after a signal: polled instead, so Ctrl-C or SIGTERM ends the
/// wait (and the run) at once.
fn wait_for_lock(file: &File, path: &Path) -> Result<()> {
    crate::sys::process::install_signal_handlers();
    loop {
        crate::sys::process::check_interrupted()?;
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) => std::thread::sleep(Duration::from_millis(50)),
            Err(TryLockError::Error(err)) => return Err(err).with_context(|| format!("locking {}", path.display())),
        }
    }
}
