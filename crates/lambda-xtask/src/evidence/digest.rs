//! The content digest of a build output directory: what was built, independent of when.
//!
//! SHA-256 over the sorted list of every file and symlink below the root, one record per
//! entry: kind, permission bits, SHA-256 of the content (of the link target for a symlink) and
//! the path relative to the root. Modification times, owners and the order the file system
//! lists entries in do not enter it, so two builds of the same inputs give the same digest
//! while one changed byte, mode bit or file name gives another. Empty directories do not
//! count: Lambda's zip carries files only.

use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Bumped if the record layout changes, so a digest is only ever compared with its own kind.
pub const DIGEST_FORMAT: &str = "xtask-tree-v1";

/// `sha256:<64 hex digits>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeDigest {
    pub digest: String,
    pub files: u64,
    pub bytes: u64,
}

/// Lowercase hex of a SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    text
}

/// SHA-256 of a file's content, streamed.
pub fn file_sha256(path: &Path) -> Result<[u8; 32]> {
    let mut file = crate::sys::beneath::open_regular(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let read = file.read(&mut buffer).with_context(|| format!("reading {}", path.display()))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher.finalize().into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Symlink,
}

struct Entry {
    relative: Vec<u8>,
    path: PathBuf,
    kind: Kind,
    mode: u32,
    /// The size when listed (a file's bytes count as listed, as before the threads).
    size: u64,
}

/// The digest of everything below `root`. Symlinks are recorded as links (never followed), so
/// a link out of the tree cannot pull outside content into the digest.
pub fn tree_digest(root: &Path) -> Result<TreeDigest> {
    let mut entries = Vec::new();
    collect(root, root, &mut entries)?;
    // Sorted by the path's bytes: the same order on every machine and file system.
    entries.sort_by(|a, b| a.relative.cmp(&b.relative));
    // Each file hashed on its own, on every core; the records then in order, on one.
    let contents = crate::sys::parallel::map(&entries, crate::sys::parallel::threads(), |e| e.size, content_of)?;
    let mut outer = Sha256::new();
    outer.update(DIGEST_FORMAT.as_bytes());
    outer.update(b"\n");
    let mut bytes = 0u64;
    for (entry, content) in entries.iter().zip(contents) {
        let tag = match entry.kind {
            Kind::File => {
                bytes += entry.size;
                "f"
            }
            Kind::Symlink => "l",
        };
        // `f 644 <hex> path\0`: the path last and NUL-ended, as no path holds a NUL.
        outer.update(format!("{tag} {:o} {} ", entry.mode, hex(&content)).as_bytes());
        outer.update(&entry.relative);
        outer.update(b"\0");
    }
    Ok(TreeDigest { digest: format!("sha256:{}", hex(&outer.finalize())), files: entries.len() as u64, bytes })
}

/// The SHA-256 of a file's content, or of a symlink's target.
fn content_of(entry: &Entry) -> Result<[u8; 32]> {
    match entry.kind {
        Kind::File => file_sha256(&entry.path),
        Kind::Symlink => {
            let target = fs::read_link(&entry.path).with_context(|| format!("reading {}", entry.path.display()))?;
            Ok(Sha256::digest(target.as_os_str().as_bytes()).into())
        }
    }
}

fn collect(root: &Path, dir: &Path, entries: &mut Vec<Entry>) -> Result<()> {
    let listing = fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for item in listing {
        let item = item.with_context(|| format!("listing {}", dir.display()))?;
        let path = item.path();
        let meta = fs::symlink_metadata(&path).with_context(|| format!("reading {}", path.display()))?;
        let kind = if meta.file_type().is_symlink() {
            Kind::Symlink
        } else if meta.is_dir() {
            collect(root, &path, entries)?;
            continue;
        } else if meta.is_file() {
            Kind::File
        } else {
            // Sockets, fifos, devices: nothing Lambda could run; sam would not zip them.
            continue;
        };
        let relative = path.strip_prefix(root).unwrap_or(&path).as_os_str().as_bytes().to_vec();
        // Permission bits only: the file type is in the kind, setuid and friends mean nothing
        // in Lambda, and a symlink's own mode differs between systems.
        let mode = if kind == Kind::Symlink { 0o777 } else { meta.permissions().mode() & 0o777 };
        let size = if kind == Kind::File { meta.len() } else { 0 };
        entries.push(Entry { relative, path, kind, mode, size });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::time::{Duration, SystemTime};

    fn sample(root: &Path, order: &[&str]) {
        for name in order {
            let path = root.join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, format!("content of {name}\n")).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        }
        std::os::unix::fs::symlink("handler.py", root.join("link.py")).unwrap();
    }

    const FILES: [&str; 4] = ["handler.py", "src/app.py", "src/__init__.py", "pkg-1.0.dist-info/RECORD"];

    #[test]
    fn the_same_tree_gives_the_same_digest_whatever_the_mtimes_and_creation_order() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        sample(a.path(), &FILES);
        let mut reversed = FILES;
        reversed.reverse();
        sample(b.path(), &reversed);
        File::open(b.path().join("src/app.py"))
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
        let (da, db) = (tree_digest(a.path()).unwrap(), tree_digest(b.path()).unwrap());
        assert_eq!(da, db);
        assert_eq!(da.files, 5);
        assert!(da.digest.starts_with("sha256:") && da.digest.len() == 7 + 64, "{}", da.digest);
    }

    #[test]
    fn one_byte_a_mode_a_name_or_a_link_target_changes_the_digest() {
        let dir = tempfile::tempdir().unwrap();
        sample(dir.path(), &FILES);
        let original = tree_digest(dir.path()).unwrap().digest;
        type Edit<'a> = &'a dyn Fn(&Path);
        let changes: [(&str, Edit, Edit); 4] = [
            ("one byte", &|root| fs::write(root.join("src/app.py"), "content of src/app.pY\n").unwrap(), &|root| {
                fs::write(root.join("src/app.py"), "content of src/app.py\n").unwrap()
            }),
            (
                "a mode",
                &|root| fs::set_permissions(root.join("handler.py"), fs::Permissions::from_mode(0o755)).unwrap(),
                &|root| fs::set_permissions(root.join("handler.py"), fs::Permissions::from_mode(0o644)).unwrap(),
            ),
            ("a name", &|root| fs::rename(root.join("src/app.py"), root.join("src/App.py")).unwrap(), &|root| {
                fs::rename(root.join("src/App.py"), root.join("src/app.py")).unwrap()
            }),
            (
                "a link target",
                &|root| {
                    fs::remove_file(root.join("link.py")).unwrap();
                    std::os::unix::fs::symlink("src/app.py", root.join("link.py")).unwrap();
                },
                &|root| {
                    fs::remove_file(root.join("link.py")).unwrap();
                    std::os::unix::fs::symlink("handler.py", root.join("link.py")).unwrap();
                },
            ),
        ];
        for (what, change, undo) in changes {
            change(dir.path());
            assert_ne!(tree_digest(dir.path()).unwrap().digest, original, "{what} did not change the digest");
            undo(dir.path());
            assert_eq!(tree_digest(dir.path()).unwrap().digest, original, "undoing {what}");
        }
    }

    #[test]
    fn a_file_moved_between_directories_changes_the_digest() {
        // Same names and contents, another tree: the path is part of each record.
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        fs::create_dir_all(a.path().join("x")).unwrap();
        fs::write(a.path().join("x/y"), "1").unwrap();
        fs::create_dir_all(b.path().join("x/y")).unwrap();
        fs::write(b.path().join("x/y/y"), "1").unwrap();
        fs::set_permissions(a.path().join("x/y"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(b.path().join("x/y/y"), fs::Permissions::from_mode(0o644)).unwrap();
        assert_ne!(tree_digest(a.path()).unwrap().digest, tree_digest(b.path()).unwrap().digest);
    }

    #[test]
    fn empty_directories_do_not_count() {
        let dir = tempfile::tempdir().unwrap();
        sample(dir.path(), &FILES);
        let before = tree_digest(dir.path()).unwrap();
        fs::create_dir_all(dir.path().join("empty/nested")).unwrap();
        assert_eq!(tree_digest(dir.path()).unwrap(), before);
    }

    #[test]
    fn sha256_matches_the_published_test_vector() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
