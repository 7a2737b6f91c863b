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
        Ok(RepoLock { _file: file })
    }
}
