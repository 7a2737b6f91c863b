//! `--skip-build` skips the build only when its output is newer than every input: the
//! template, each function's own files and the backend source it copies in. Modification
//! times, compared without following symlinks; the copied `src/` in the function dir is itself
//! a build product and is not an input.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Result;

/// Why the build output cannot be reused, or `None` when it is up to date.
pub fn stale_reason(output: &Path, inputs: &[(PathBuf, Vec<String>)]) -> Result<Option<String>> {
    let Ok(built) = fs::metadata(output).and_then(|m| m.modified()) else {
        return Ok(Some(format!("{} does not exist", output.display())));
    };
    for (input, skipped) in inputs {
        if let Some(newer) = newer_than(input, built, skipped) {
            return Ok(Some(format!("{} is newer than {}", newer.display(), output.display())));
        }
    }
    Ok(None)
}

/// The first file or directory under `path` modified after `built`. Directories count too:
/// a deleted file changes its directory's time. Skips `skipped` names at the top level and
/// Python caches everywhere.
fn newer_than(path: &Path, built: SystemTime, skipped: &[String]) -> Option<PathBuf> {
    let meta = fs::symlink_metadata(path).ok()?;
    if meta.modified().is_ok_and(|m| m > built) {
        return Some(path.to_path_buf());
    }
    if !meta.is_dir() {
        return None;
    }
    let mut entries: Vec<_> = fs::read_dir(path).ok()?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if skipped.iter().any(|s| *s == name) || name == "__pycache__" || name.ends_with(".pyc") {
            continue;
        }
        if let Some(found) = newer_than(&entry.path(), built, &[]) {
            return Some(found);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn set_time(path: &Path, time: SystemTime) {
        fs::File::options().write(true).open(path).unwrap().set_modified(time).unwrap();
    }

    #[test]
    fn output_newer_than_all_inputs_is_fresh_and_a_newer_source_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::create_dir_all(src.join("pkg")).unwrap();
        let module = src.join("pkg/app.py");
        fs::write(&module, "x = 1").unwrap();
        let output = dir.path().join("template.yaml");
        fs::write(&output, "built").unwrap();
        let past = SystemTime::now() - Duration::from_secs(3600);
        for dir in [&src, &src.join("pkg")] {
            fs::File::open(dir).unwrap().set_modified(past).unwrap();
        }
        set_time(&module, past);
        let inputs = vec![(src.clone(), vec![])];
        assert_eq!(stale_reason(&output, &inputs).unwrap(), None);

        set_time(&module, SystemTime::now() + Duration::from_secs(5));
        let reason = stale_reason(&output, &inputs).unwrap().unwrap();
        assert!(reason.contains("pkg/app.py is newer than"), "{reason}");
    }

    #[test]
    fn skipped_names_and_missing_output() {
        let dir = tempfile::tempdir().unwrap();
        let function = dir.path().join("fn");
        fs::create_dir_all(function.join("src")).unwrap();
        let output = dir.path().join("template.yaml");
        assert!(stale_reason(&output, &[(function.clone(), vec![])]).unwrap().unwrap().contains("does not exist"));
        fs::write(&output, "built").unwrap();
        let past = SystemTime::now() - Duration::from_secs(3600);
        fs::File::open(&function).unwrap().set_modified(past).unwrap();
        // The copied src/ is a build product: newer than the output, and not an input.
        fs::File::open(function.join("src")).unwrap().set_modified(SystemTime::now() + Duration::from_secs(5)).unwrap();
        assert_eq!(stale_reason(&output, &[(function, vec!["src".into()])]).unwrap(), None);
    }
}
