//! The task root a local smoke test runs in: a private copy of the built function (and of each
//! of its layers) in a temporary directory, so nothing a handler writes while it is imported
//! or invoked can reach the build output that ships. On Lambda `/var/task` and `/opt` are
//! read-only; here a write succeeds in the copy and is then named (see [`TaskRoot::written`]),
//! whoever runs the check (root ignores file modes, so a read-only copy would prove nothing).
//!
//! The copy also holds an empty home directory and empty AWS config files for the handler, so
//! it reads no `~/.aws` of the developer.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

/// A file's identity and content stamp: any write, truncation, chmod or replacement changes
/// one of them (ctime moves with every change and cannot be set back from user space).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    kind: u32,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    inode: u64,
}

/// What changed in a copy since it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Modified,
    Removed,
}

/// A file the handler wrote (or removed) in its task root or a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// `None` for the task root, else the index of the layer in the list given to
    /// [`TaskRoot::prepare`].
    pub layer: Option<usize>,
    /// Relative to that root.
    pub relative: PathBuf,
    pub change: Change,
}

pub struct TaskRoot {
    _dir: tempfile::TempDir,
    /// The copy of the function, as `/var/task`.
    pub task: PathBuf,
    /// The copy of each layer's package dir, as `/opt/python`, in the order given.
    pub layers: Vec<PathBuf>,
    /// An empty directory for `HOME`.
    pub home: PathBuf,
    /// Empty files for `AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE`.
    pub aws_config: PathBuf,
    pub aws_credentials: PathBuf,
    before: Vec<BTreeMap<PathBuf, Stamp>>,
    /// The originals (the artifact, then each layer) with their stamps when copied.
    originals: Vec<(PathBuf, BTreeMap<PathBuf, Stamp>)>,
}

impl TaskRoot {
    /// Copies `artifact` and each of `layers` (regular files, directories and symlinks; a
    /// FIFO, socket or device is never opened and cannot ship in a zip either).
    pub fn prepare(artifact: &Path, layers: &[PathBuf]) -> Result<TaskRoot> {
        let mut originals = vec![(artifact.to_path_buf(), stamps(artifact)?)];
        for layer in layers {
            originals.push((layer.clone(), stamps(layer)?));
        }
        let dir = tempfile::Builder::new()
            .prefix("lambda-xtask-smoke-")
            .tempdir()
            .context("creating a temporary directory for the smoke test")?;
        let task = dir.path().join("task");
        copy_tree(artifact, &task, artifact)?;
        let mut copies = Vec::new();
        for (i, layer) in layers.iter().enumerate() {
            let copy = dir.path().join("opt").join(i.to_string()).join("python");
            fs::create_dir_all(copy.parent().unwrap_or(dir.path()))?;
            copy_tree(layer, &copy, layer)?;
            copies.push(copy);
        }
        let home = dir.path().join("home");
        fs::create_dir(&home)?;
        let aws = dir.path().join("aws");
        fs::create_dir(&aws)?;
        let (aws_config, aws_credentials) = (aws.join("config"), aws.join("credentials"));
        fs::write(&aws_config, "")?;
        fs::write(&aws_credentials, "")?;
        let mut before = vec![stamps(&task)?];
        for copy in &copies {
            before.push(stamps(copy)?);
        }
        Ok(TaskRoot { _dir: dir, task, layers: copies, home, aws_config, aws_credentials, before, originals })
    }

    /// Every file of the originals that changed since they were copied: nothing may, since
    /// the handler runs on the copy; a change means something reached past it (a path to the
    /// build output worked out from outside the copy), and what ships is not what was checked.
    pub fn originals_changed(&self) -> Result<Vec<Written>> {
        let mut changed = Vec::new();
        for (i, (root, before)) in self.originals.iter().enumerate() {
            changed.extend(differences(i.checked_sub(1), before, &stamps(root)?));
        }
        Ok(changed)
    }

    /// Every file added, changed or removed in the copies since [`TaskRoot::prepare`], but
    /// bytecode caches: Python writes those where it can and silently skips them where it
    /// cannot, as on Lambda.
    pub fn written(&self) -> Result<Vec<Written>> {
        let mut written = Vec::new();
        let roots = std::iter::once(&self.task).chain(&self.layers);
        for (i, (root, before)) in roots.zip(&self.before).enumerate() {
            written.extend(differences(i.checked_sub(1), before, &stamps(root)?));
        }
        written.retain(|w| !is_bytecode_cache(&w.relative));
        Ok(written)
    }
}

fn differences(
    layer: Option<usize>,
    before: &BTreeMap<PathBuf, Stamp>,
    after: &BTreeMap<PathBuf, Stamp>,
) -> Vec<Written> {
    let mut changed = Vec::new();
    for (relative, stamp) in after {
        let change = match before.get(relative) {
            None => Change::Added,
            Some(old) if old != stamp => Change::Modified,
            Some(_) => continue,
        };
        changed.push(Written { layer, relative: relative.clone(), change });
    }
    for relative in before.keys().filter(|r| !after.contains_key(*r)) {
        changed.push(Written { layer, relative: relative.clone(), change: Change::Removed });
    }
    changed
}

fn is_bytecode_cache(relative: &Path) -> bool {
    relative.components().any(|c| c.as_os_str() == "__pycache__")
        || relative.extension().is_some_and(|e| e == "pyc" || e == "pyo")
}

fn copy_tree(from: &Path, to: &Path, root: &Path) -> Result<()> {
    fs::create_dir(to).with_context(|| format!("creating {}", to.display()))?;
    let entries = fs::read_dir(from).with_context(|| format!("reading {}", from.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", from.display()))?;
        let (source, copy) = (entry.path(), to.join(entry.file_name()));
        // The entry's own type: a symlink is not followed here.
        let kind = entry.file_type().with_context(|| format!("reading {}", source.display()))?;
        if kind.is_dir() {
            copy_tree(&source, &copy, root)?;
        } else if kind.is_file() {
            crate::sys::beneath::copy_regular(&source, &copy)
                .with_context(|| format!("copying {}", source.display()))?;
        } else if kind.is_symlink() {
            copy_link(&source, &copy, root)?;
        }
    }
    Ok(())
}

/// A link that stays inside the tree is copied as it is (it then points into the copy). One
/// that leaves it is left out: the handler could write through it to a file outside, and the
/// deployment package refuses such a link anyway (see `evidence::package`).
fn copy_link(source: &Path, copy: &Path, root: &Path) -> Result<()> {
    let target = fs::read_link(source).with_context(|| format!("reading the link {}", source.display()))?;
    let inside = target.is_relative() && {
        let joined = source.parent().unwrap_or(root).join(&target);
        lexically_normal(&joined).is_some_and(|p| p.starts_with(root))
    };
    if !inside {
        return Ok(());
    }
    std::os::unix::fs::symlink(&target, copy).with_context(|| format!("copying the link {}", source.display()))
}

/// `a/b/../c` as `a/c`, without touching the file system; `None` when `..` climbs past the
/// start.
fn lexically_normal(path: &Path) -> Option<PathBuf> {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                if !normal.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    Some(normal)
}

/// Every non-directory below `root`, by its path relative to it.
fn stamps(root: &Path) -> Result<BTreeMap<PathBuf, Stamp>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = fs::symlink_metadata(&path) else { continue };
            if meta.is_dir() {
                pending.push(path);
                continue;
            }
            let stamp = Stamp {
                kind: meta.mode() & libc::S_IFMT,
                len: meta.len(),
                mtime: (meta.mtime(), meta.mtime_nsec()),
                ctime: (meta.ctime(), meta.ctime_nsec()),
                inode: meta.ino(),
            };
            found.insert(path.strip_prefix(root).unwrap_or(&path).to_path_buf(), stamp);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("fn/pkg")).unwrap();
        fs::write(dir.path().join("fn/app.py"), "x = 1\n").unwrap();
        fs::write(dir.path().join("fn/pkg/__init__.py"), "").unwrap();
        std::os::unix::fs::symlink("pkg/__init__.py", dir.path().join("fn/alias.py")).unwrap();
        fs::create_dir_all(dir.path().join("layer")).unwrap();
        fs::write(dir.path().join("layer/shared.py"), "").unwrap();
        dir
    }

    #[test]
    fn writes_land_in_the_copy_and_are_named_while_the_original_stays_as_it_was() {
        let dir = tree();
        let (artifact, layer) = (dir.path().join("fn"), dir.path().join("layer"));
        let root = TaskRoot::prepare(&artifact, std::slice::from_ref(&layer)).unwrap();
        assert_eq!(root.written().unwrap(), []);
        assert_eq!(fs::read_link(root.task.join("alias.py")).unwrap(), Path::new("pkg/__init__.py"));
        assert_eq!(fs::metadata(&root.aws_config).unwrap().len(), 0);

        fs::write(root.task.join("id_rsa"), "-----BEGIN OPENSSH PRIVATE KEY-----").unwrap();
        fs::write(root.task.join("app.py"), "x = 2\n").unwrap();
        fs::remove_file(root.task.join("pkg/__init__.py")).unwrap();
        fs::write(root.layers[0].join("cache.db"), "").unwrap();
        fs::create_dir_all(root.task.join("pkg/__pycache__")).unwrap();
        fs::write(root.task.join("pkg/__pycache__/__init__.cpython-312.pyc"), "").unwrap();

        let written = root.written().unwrap();
        let named: Vec<(Option<usize>, &str, Change)> =
            written.iter().map(|w| (w.layer, w.relative.to_str().unwrap(), w.change)).collect();
        assert_eq!(
            named,
            [
                (None, "app.py", Change::Modified),
                (None, "id_rsa", Change::Added),
                (None, "pkg/__init__.py", Change::Removed),
                (Some(0), "cache.db", Change::Added),
            ]
        );
        assert_eq!(fs::read_to_string(artifact.join("app.py")).unwrap(), "x = 1\n");
        assert!(!artifact.join("id_rsa").exists() && artifact.join("pkg/__init__.py").exists());
        assert_eq!(root.originals_changed().unwrap(), []);

        // Something that reaches past the copy into the original is named too.
        fs::write(layer.join("shared.py"), "changed = True\n").unwrap();
        let changed = root.originals_changed().unwrap();
        assert_eq!(changed, [Written { layer: Some(0), relative: "shared.py".into(), change: Change::Modified }]);
    }

    #[test]
    fn a_rewrite_with_the_same_size_and_a_forged_mtime_is_still_seen() {
        let dir = tree();
        let root = TaskRoot::prepare(&dir.path().join("fn"), &[]).unwrap();
        let app = root.task.join("app.py");
        let mtime = fs::metadata(&app).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&app, "y = 1\n").unwrap();
        fs::File::options().write(true).open(&app).unwrap().set_modified(mtime).unwrap();
        assert_eq!(root.written().unwrap().len(), 1);
    }

    #[test]
    fn neither_a_fifo_nor_a_link_out_of_the_tree_is_copied() {
        let dir = tree();
        let outside = dir.path().join("outside.txt");
        fs::write(&outside, "outside").unwrap();
        std::os::unix::fs::symlink("../outside.txt", dir.path().join("fn/out.txt")).unwrap();
        let fifo = std::ffi::CString::new(dir.path().join("fn/pipe").to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let root = TaskRoot::prepare(&dir.path().join("fn"), &[]).unwrap();
        assert!(fs::symlink_metadata(root.task.join("pipe")).is_err());
        assert!(fs::symlink_metadata(root.task.join("out.txt")).is_err());
        std::os::unix::fs::symlink(&outside, dir.path().join("fn/absolute.txt")).unwrap();
        let root = TaskRoot::prepare(&dir.path().join("fn"), &[]).unwrap();
        assert!(fs::symlink_metadata(root.task.join("absolute.txt")).is_err());
        assert!(root.task.join("alias.py").is_file(), "the link inside is copied");
    }
}
