//! Writes that a reader sees whole or not at all.

use std::path::Path;

use anyhow::{Context, Result};

/// Writes `text` to `path` so that a reader sees the old file or the whole new one, never a
/// half-written report: a temporary file in the same directory, flushed to disk, renamed
/// (through the filesystem layer: the temporary never follows a link, and a link at `path`
/// is replaced, never written through).
pub fn write_atomically(path: &Path, text: &str) -> Result<()> {
    crate::sys::beneath::write_atomically(path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn atomic_write_replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        fs::write(&path, "old").unwrap();
        write_atomically(&path, "new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["report.json"]);
    }

    #[test]
    fn a_reader_polling_during_the_writes_never_sees_a_partial_report() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        // Large enough that a plain write would be seen half-done: several pages each.
        let reports: Vec<String> =
            (0..4).map(|n| serde_json::json!({ "n": n, "pad": "x".repeat(256 * 1024) }).to_string()).collect();
        write_atomically(&path, &reports[0]).unwrap();
        let done = AtomicBool::new(false);
        let reads = std::thread::scope(|scope| {
            let reader = scope.spawn(|| {
                let mut reads = 0;
                while !done.load(Ordering::SeqCst) {
                    let text = fs::read_to_string(&path).unwrap();
                    assert!(reports.contains(&text), "a partial report of {} bytes", text.len());
                    reads += 1;
                }
                reads
            });
            for round in 0..100 {
                write_atomically(&path, &reports[round % reports.len()]).unwrap();
            }
            done.store(true, Ordering::SeqCst);
            reader.join().unwrap()
        });
        assert!(reads > 0);
    }

    #[test]
    fn atomic_write_into_a_missing_directory_fails_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_atomically(&dir.path().join("missing/report.json"), "x").is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
