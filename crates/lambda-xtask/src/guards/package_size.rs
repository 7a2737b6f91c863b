//! Guard `package-size`: a function must fit in what Lambda unzips. Its code and all of its
//! layers together may take 262,144,000 bytes (250 MiB) unzipped; more, and CloudFormation
//! fails the deploy minutes in ("Unzipped size must be smaller than 262144000 bytes"), after
//! the build, the upload and the change set.
//!
//! The size counted is what unzips: each file's apparent size (`st_size`), read from its
//! metadata and never from its content, so a 3 GB sparse file that takes no disk space is
//! measured as the 3 GB Lambda would unpack, in the time of a `stat`. A symlink counts as the
//! file it points to (the package stores that file); nothing is opened, so a FIFO or a device
//! counts as nothing here and is never waited on.
//!
//! Lambda's other limit, 50 MB for a zip uploaded directly with the function (the
//! `--zip-file` of `update-function-code`), does not apply: `sam deploy` always uploads the
//! package to S3 first and points the function at it, where only the unzipped limit holds.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::Finding;

pub const GUARD: &str = "package-size";

/// Lambda's quota on a function's code and layers, unzipped, in bytes.
pub const UNZIPPED_LIMIT: u64 = 262_144_000;

/// How many of the biggest entries a finding names.
const LISTED_ENTRIES: usize = 5;

/// A measured tree: its total apparent size, and the size of each of its main entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeSize {
    pub bytes: u64,
    /// The tree's entries, by size, biggest first: its top-level entries, or the entries of
    /// the one directory it consists of (a layer's `python/`), relative to its root.
    pub entries: Vec<(PathBuf, u64)>,
}

/// Measures `root` without reading any file's content (see the module's doc).
pub fn measure(root: &Path) -> Result<TreeSize> {
    let mut base = root.to_path_buf();
    // A tree that is one directory and nothing else is described by what that holds.
    loop {
        let children: Vec<_> = read_dir(&base)?;
        match children.as_slice() {
            [only] if std::fs::symlink_metadata(only).is_ok_and(|m| m.is_dir()) => base = only.clone(),
            _ => break,
        }
    }
    let mut entries = Vec::new();
    let mut bytes = 0u64;
    for child in read_dir(&base)? {
        let size = apparent_size(&child)?;
        bytes = bytes.saturating_add(size);
        entries.push((child.strip_prefix(root).unwrap_or(&child).to_path_buf(), size));
    }
    entries.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(TreeSize { bytes, entries })
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        children.push(entry.with_context(|| format!("listing {}", dir.display()))?.path());
    }
    children.sort();
    Ok(children)
}

/// A file's `st_size`, a directory's total; a symlink to a file counts as that file, anything
/// else (a symlink to a directory, which the package refuses; a FIFO, a socket) as nothing.
fn apparent_size(path: &Path) -> Result<u64> {
    let meta = std::fs::symlink_metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let kind = meta.file_type();
    if kind.is_file() {
        return Ok(meta.len());
    }
    if kind.is_symlink() {
        return Ok(std::fs::metadata(path).ok().filter(|m| m.is_file()).map_or(0, |m| m.len()));
    }
    if !kind.is_dir() {
        return Ok(0);
    }
    let mut total = 0u64;
    for child in read_dir(path)? {
        total = total.saturating_add(apparent_size(&child)?);
    }
    Ok(total)
}

/// One part of what a function unzips: its own build output or one of its layers.
pub struct Part<'a> {
    /// `BackendFunction`, or `layer DepsLayer`.
    pub name: String,
    pub size: &'a TreeSize,
}

/// The finding when the function's parts together exceed [`UNZIPPED_LIMIT`]. `shown` is the
/// function's build output as findings name it; `unmeasured` the layers given by ARN, whose
/// size is not known here (they count too).
pub fn check(logical_id: &str, shown: &str, parts: &[Part], unmeasured: &[String]) -> Option<Finding> {
    let total: u64 = parts.iter().map(|p| p.size.bytes).fold(0, u64::saturating_add);
    if total <= UNZIPPED_LIMIT {
        return None;
    }
    let each: Vec<String> = parts.iter().map(|p| format!("{} {}", p.name, bytes_text(p.size.bytes))).collect();
    let mut biggest: Vec<(String, u64)> = parts
        .iter()
        .flat_map(|part| {
            let prefix = if parts.len() > 1 { format!("{}: ", part.name) } else { String::new() };
            part.size
                .entries
                .iter()
                .map(move |(path, size)| (format!("{prefix}{}", crate::sys::quote::escaped_path(path)), *size))
        })
        .collect();
    biggest.sort_by_key(|entry| std::cmp::Reverse(entry.1));
    let listed: Vec<String> =
        biggest.iter().take(LISTED_ENTRIES).map(|(name, size)| format!("{name} {}", bytes_text(*size))).collect();
    let arns = match unmeasured.len() {
        0 => String::new(),
        n => format!(", plus {n} layer(s) given by ARN, not measured here"),
    };
    Some(Finding::new(
        GUARD,
        shown,
        format!(
            "{logical_id} unzips to {} ({}{arns}), over Lambda's limit of {} for a function and its layers; the biggest entries: {}",
            bytes_text(total),
            each.join(", "),
            bytes_text(UNZIPPED_LIMIT),
            listed.join(", ")
        ),
        "CloudFormation fails the deploy after the upload: \"Unzipped size must be smaller than 262144000 bytes\"",
        "leave out what the function does not need at run time (the biggest entries above: data files, test or dev dependencies in requirements.txt), keep large data in S3 and read it at run time, or ship the function as a container image (PackageType: Image, up to 10 GB)",
    ))
}

/// `3,000,000,000 bytes (2861.0 MiB)`.
fn bytes_text(bytes: u64) -> String {
    let digits = bytes.to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{grouped} bytes ({:.1} MiB)", bytes as f64 / 1_048_576.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// A file of `size` apparent bytes that takes no disk space and is never written.
    fn sparse(path: &Path, size: u64) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::File::create(path).unwrap().set_len(size).unwrap();
    }

    #[test]
    fn a_sparse_file_counts_as_what_it_unzips_to() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("HelloFunction");
        sparse(&root.join("data.bin"), 3_000_000_000);
        fs::write(root.join("app.py"), "def handler(e, c): return 1\n").unwrap();
        sparse(&root.join("pkg/big.so"), 10_000_000);
        fs::write(root.join("pkg/__init__.py"), "").unwrap();
        std::os::unix::fs::symlink("data.bin", root.join("again.bin")).unwrap();
        let fifo = std::ffi::CString::new(root.join("fifo").to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);

        let size = measure(&root).unwrap();
        assert_eq!(size.bytes, 6_000_000_000 + 10_000_000 + 28);
        assert_eq!(size.entries[0].1, 3_000_000_000);
        assert_eq!(size.entries[2], (PathBuf::from("pkg"), 10_000_000));
    }

    #[test]
    fn over_the_limit_with_layers_names_the_sizes_and_the_biggest_entries() {
        let function = TreeSize {
            bytes: 200_000_000,
            entries: vec![(PathBuf::from("pandas"), 150_000_000), (PathBuf::from("app.py"), 100)],
        };
        let layer = TreeSize { bytes: 62_144_001, entries: vec![(PathBuf::from("numpy"), 62_144_001)] };
        let parts = [
            Part { name: "HelloFunction".into(), size: &function },
            Part { name: "layer DepsLayer".into(), size: &layer },
        ];
        let finding = check("HelloFunction", ".aws-sam/build/HelloFunction", &parts, &[]).unwrap();
        assert_eq!(finding.guard, GUARD);
        assert!(finding.problem.contains("unzips to 262,144,001 bytes"), "{}", finding.problem);
        assert!(finding.problem.contains("layer DepsLayer 62,144,001 bytes"), "{}", finding.problem);
        assert!(finding.problem.contains("limit of 262,144,000 bytes (250.0 MiB)"), "{}", finding.problem);
        assert!(
            finding.problem.ends_with(
                "HelloFunction: pandas 150,000,000 bytes (143.1 MiB), layer DepsLayer: numpy 62,144,001 bytes (59.3 MiB), HelloFunction: app.py 100 bytes (0.0 MiB)"
            ),
            "{}",
            finding.problem
        );

        let at_limit = TreeSize { bytes: UNZIPPED_LIMIT, entries: vec![] };
        assert!(check("F", "f", &[Part { name: "F".into(), size: &at_limit }], &[]).is_none());
    }

    #[test]
    fn a_tree_of_one_directory_is_described_by_what_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let layer = dir.path().join("DepsLayer");
        sparse(&layer.join("python/numpy/core.so"), 5_000);
        sparse(&layer.join("python/six.py"), 10);
        let size = measure(&layer).unwrap();
        assert_eq!(size.bytes, 5_010);
        assert_eq!(size.entries, [(PathBuf::from("python/numpy"), 5_000), (PathBuf::from("python/six.py"), 10)]);
    }
}
