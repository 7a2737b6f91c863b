//! The append half of the filesystem layer: a file opened beneath a directory the xtask trusts (the repository root), for files it
//! appends to there (the audit log): every directory on the way is opened with `openat` and
//! `O_NOFOLLOW`, so neither a symlink nor a `..` can lead the write out, and no check can be
//! raced by swapping a link in after it; the file itself must be a regular file (a FIFO, a
//! socket or a device is never opened: `O_NONBLOCK` and a `stat` of the entry first), with no
//! other hard link (an append through one would change a file elsewhere too).

use std::ffi::{CString, OsStr};
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Why a path beneath the root cannot be used. `at` is the part of the relative path that
/// is the problem (a directory on the way, or the file itself).
#[derive(Debug)]
pub enum Refusal {
    /// The path is absolute, or climbs with `..`.
    NotBeneath,
    Symlink {
        at: PathBuf,
    },
    NotADirectory {
        at: PathBuf,
    },
    Directory,
    /// A FIFO, socket or device: opening it could block or talk to something else.
    Special {
        kind: &'static str,
    },
    HardLinked {
        links: u64,
    },
    Io {
        at: PathBuf,
        err: io::Error,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotBeneath => f.write_str("is not a path inside the repository"),
            Refusal::Symlink { at } => write!(f, "passes through {}, a symlink", at.display()),
            Refusal::NotADirectory { at } => write!(f, "passes through {}, which is not a directory", at.display()),
            Refusal::Directory => f.write_str("is a directory"),
            Refusal::Special { kind } => write!(f, "is a {kind}, not a regular file"),
            Refusal::HardLinked { links } => write!(f, "is a file with {links} hard links"),
            Refusal::Io { at, err } => write!(f, "cannot be opened at {} ({err})", at.display()),
        }
    }
}

/// What to do with the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    /// Read and append, creating the file (and the directories on the way) when missing.
    AppendCreating,
    /// Read and append to the file if it exists; nothing is created.
    AppendExisting,
}

/// What [`probe`] found at the path.
#[derive(Debug)]
pub enum Found {
    /// A regular file, opened as asked.
    File(File),
    /// Nothing yet: `deepest` (relative, empty for the root) is the last directory that exists.
    Missing { deepest: PathBuf, deepest_dir: OwnedFd },
}

/// Opens `relative` beneath `root` for `access`; see the module's doc for what is refused.
pub fn open(root: &Path, relative: &Path, access: Access) -> Result<File, Refusal> {
    match probe(root, relative, access)? {
        Found::File(file) => Ok(file),
        Found::Missing { deepest, deepest_dir } => {
            let missing = Refusal::Io { at: relative.to_path_buf(), err: io::ErrorKind::NotFound.into() };
            if access != Access::AppendCreating {
                return Err(missing);
            }
            create(deepest_dir, &deepest, relative)
        }
    }
}

/// Opens the file when it exists; otherwise says where the path stops existing. Never
/// creates anything.
pub fn probe(root: &Path, relative: &Path, access: Access) -> Result<Found, Refusal> {
    let names = normal_names(relative)?;
    let (file_name, dirs) = names.split_last().ok_or(Refusal::Directory)?;
    let mut dir = open_root(root)?;
    let mut walked = PathBuf::new();
    for name in dirs {
        let at = walked.join(name);
        match kind_at(&dir, name, &at)? {
            None => return Ok(Found::Missing { deepest: walked, deepest_dir: dir }),
            Some(Kind::Dir) => {}
            Some(Kind::Symlink) => return Err(Refusal::Symlink { at }),
            Some(_) => return Err(Refusal::NotADirectory { at }),
        }
        dir = open_at(&dir, name, libc::O_RDONLY | libc::O_DIRECTORY, 0).map_err(|err| refusal(err, &at))?;
        walked = at;
    }
    let at = walked.join(file_name);
    match kind_at(&dir, file_name, &at)? {
        None => Ok(Found::Missing { deepest: walked, deepest_dir: dir }),
        Some(Kind::Regular) => open_regular(&dir, file_name, &at, access).map(Found::File),
        Some(Kind::Dir) => Err(Refusal::Directory),
        Some(Kind::Symlink) => Err(Refusal::Symlink { at }),
        Some(Kind::Special(kind)) => Err(Refusal::Special { kind }),
    }
}

/// Whether a new file could be created in the directory `probe` found last: a file is
/// created there and removed at once (a read-only or immutable directory refuses it).
pub fn can_create_in(dir: &OwnedFd) -> io::Result<()> {
    // Unique within the process too: two threads may probe one directory at once.
    static PROBES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!(".xtask-probe-{}-{n}", std::process::id());
    let probe = open_at(dir, OsStr::new(&name), libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, 0o600)?;
    drop(probe);
    let c_name = c_string(OsStr::new(&name))?;
    // SAFETY: a valid directory descriptor and a NUL-terminated name.
    if unsafe { libc::unlinkat(dir.as_raw_fd(), c_name.as_ptr(), 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn create(mut dir: OwnedFd, deepest: &Path, relative: &Path) -> Result<File, Refusal> {
    let names = normal_names(relative)?;
    let (file_name, dirs) = names.split_last().ok_or(Refusal::Directory)?;
    let mut walked = deepest.to_path_buf();
    for name in dirs.iter().skip(deepest.components().count()) {
        let at = walked.join(name);
        let c_name = c_string(name).map_err(|err| refusal(err, &at))?;
        // SAFETY: a valid directory descriptor and a NUL-terminated name.
        if unsafe { libc::mkdirat(dir.as_raw_fd(), c_name.as_ptr(), 0o777) } != 0 {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::AlreadyExists {
                return Err(refusal(err, &at));
            }
        }
        dir = open_at(&dir, name, libc::O_RDONLY | libc::O_DIRECTORY, 0).map_err(|err| refusal(err, &at))?;
        walked = at;
    }
    let at = walked.join(file_name);
    let flags = libc::O_RDWR | libc::O_APPEND | libc::O_CREAT | libc::O_EXCL;
    match open_at(&dir, file_name, flags, 0o666) {
        Ok(fd) => Ok(File::from(fd)),
        // Created by another run meanwhile: opened as an existing file, with its checks.
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => match kind_at(&dir, file_name, &at)? {
            Some(Kind::Regular) => open_regular(&dir, file_name, &at, Access::AppendExisting),
            Some(Kind::Symlink) => Err(Refusal::Symlink { at }),
            Some(Kind::Dir) => Err(Refusal::Directory),
            Some(Kind::Special(kind)) => Err(Refusal::Special { kind }),
            None => Err(refusal(err, &at)),
        },
        Err(err) => Err(refusal(err, &at)),
    }
}

fn open_regular(dir: &OwnedFd, name: &OsStr, at: &Path, access: Access) -> Result<File, Refusal> {
    let mode = match access {
        Access::Read => libc::O_RDONLY,
        // Readable too: the appender reads the last line under its lock.
        Access::AppendCreating | Access::AppendExisting => libc::O_RDWR | libc::O_APPEND,
    };
    // O_NONBLOCK: if a FIFO was swapped in since the stat, the open does not wait for a peer.
    let fd = open_at(dir, name, mode | libc::O_NONBLOCK, 0).map_err(|err| refusal(err, at))?;
    let file = File::from(fd);
    let meta = file.metadata().map_err(|err| refusal(err, at))?;
    if !meta.file_type().is_file() {
        return Err(Refusal::Special { kind: "special file" });
    }
    let links = std::os::unix::fs::MetadataExt::nlink(&meta);
    if links > 1 {
        return Err(Refusal::HardLinked { links });
    }
    clear_nonblocking(&file).map_err(|err| refusal(err, at))?;
    Ok(file)
}

fn clear_nonblocking(file: &File) -> io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor this function's caller owns.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

enum Kind {
    Dir,
    Symlink,
    Regular,
    Special(&'static str),
}

/// The kind of `name` in `dir`, not following a symlink; `None` when there is nothing.
fn kind_at(dir: &OwnedFd, name: &OsStr, at: &Path) -> Result<Option<Kind>, Refusal> {
    let c_name = c_string(name).map_err(|err| refusal(err, at))?;
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: a valid descriptor, a NUL-terminated name and room for the answer.
    let status =
        unsafe { libc::fstatat(dir.as_raw_fd(), c_name.as_ptr(), stat.as_mut_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    if status != 0 {
        let err = io::Error::last_os_error();
        return match err.kind() {
            io::ErrorKind::NotFound => Ok(None),
            _ => Err(refusal(err, at)),
        };
    }
    // SAFETY: fstatat succeeded, so it filled the struct.
    let mode = unsafe { stat.assume_init() }.st_mode & libc::S_IFMT;
    Ok(Some(match mode {
        libc::S_IFDIR => Kind::Dir,
        libc::S_IFLNK => Kind::Symlink,
        libc::S_IFREG => Kind::Regular,
        libc::S_IFIFO => Kind::Special("FIFO"),
        libc::S_IFSOCK => Kind::Special("socket"),
        libc::S_IFCHR | libc::S_IFBLK => Kind::Special("device"),
        _ => Kind::Special("special file"),
    }))
}

fn open_root(root: &Path) -> Result<OwnedFd, Refusal> {
    let c_root = c_string(root.as_os_str()).map_err(|err| refusal(err, Path::new("")))?;
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(c_root.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(refusal(io::Error::last_os_error(), root));
    }
    // SAFETY: open returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn open_at(dir: &OwnedFd, name: &OsStr, flags: libc::c_int, mode: libc::c_uint) -> io::Result<OwnedFd> {
    let c_name = c_string(name)?;
    let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: a valid directory descriptor and a NUL-terminated name.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), c_name.as_ptr(), flags, mode) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openat returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A link swapped in between the stat and the open makes `O_NOFOLLOW` fail with ELOOP: said
/// as what it is.
fn refusal(err: io::Error, at: &Path) -> Refusal {
    if err.raw_os_error() == Some(libc::ELOOP) {
        return Refusal::Symlink { at: at.to_path_buf() };
    }
    if err.raw_os_error() == Some(libc::ENOTDIR) {
        return Refusal::NotADirectory { at: at.to_path_buf() };
    }
    Refusal::Io { at: at.to_path_buf(), err }
}

fn normal_names(relative: &Path) -> Result<Vec<&OsStr>, Refusal> {
    let mut names = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(name) => names.push(name),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return Err(Refusal::NotBeneath),
        }
    }
    Ok(names)
}

fn c_string(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a name with a NUL byte"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::fs::symlink;

    fn append(root: &Path, relative: &str, text: &str) -> Result<(), Refusal> {
        let mut file = open(root, Path::new(relative), Access::AppendCreating)?;
        file.write_all(text.as_bytes()).unwrap();
        Ok(())
    }

    #[test]
    fn appends_create_the_file_and_its_dirs_and_then_append() {
        let root = tempfile::tempdir().unwrap();
        append(root.path(), "logs/deep/deploy.jsonl", "a\n").unwrap();
        append(root.path(), "./logs/deep/deploy.jsonl", "b\n").unwrap();
        assert_eq!(std::fs::read_to_string(root.path().join("logs/deep/deploy.jsonl")).unwrap(), "a\nb\n");
        let mut text = String::new();
        open(root.path(), Path::new("logs/deep/deploy.jsonl"), Access::Read)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "a\nb\n");
    }

    #[test]
    fn a_symlink_anywhere_on_the_path_is_refused_and_nothing_outside_changes() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim.txt");
        std::fs::write(&victim, "untouched\n").unwrap();
        symlink(&victim, root.path().join("deploy-log.jsonl")).unwrap();
        symlink(outside.path(), root.path().join("logs")).unwrap();
        // A dangling link: O_CREAT alone would create its target.
        symlink(outside.path().join("created.txt"), root.path().join("dangling.jsonl")).unwrap();
        for (relative, at) in [
            ("deploy-log.jsonl", "deploy-log.jsonl"),
            ("logs/victim.txt", "logs"),
            ("dangling.jsonl", "dangling.jsonl"),
        ] {
            match append(root.path(), relative, "forged\n") {
                Err(Refusal::Symlink { at: found }) => assert_eq!(found, Path::new(at)),
                other => panic!("{relative}: {other:?}"),
            }
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched\n");
        assert!(!outside.path().join("created.txt").exists());
    }

    #[test]
    fn a_parent_dir_climb_a_fifo_a_directory_and_a_hard_link_are_refused() {
        let root = tempfile::tempdir().unwrap();
        assert!(matches!(append(root.path(), "../escape.jsonl", "x"), Err(Refusal::NotBeneath)));
        assert!(matches!(append(root.path(), "/tmp/escape.jsonl", "x"), Err(Refusal::NotBeneath)));

        let fifo = root.path().join("fifo.jsonl");
        let c_fifo = CString::new(fifo.as_os_str().as_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o644) }, 0);
        assert!(matches!(append(root.path(), "fifo.jsonl", "x"), Err(Refusal::Special { kind: "FIFO" })));
        assert!(matches!(open(root.path(), Path::new("fifo.jsonl"), Access::Read), Err(Refusal::Special { .. })));

        std::fs::create_dir(root.path().join("dir.jsonl")).unwrap();
        assert!(matches!(append(root.path(), "dir.jsonl", "x"), Err(Refusal::Directory)));

        let outside = tempfile::tempdir_in(root.path().parent().unwrap()).unwrap();
        let victim = outside.path().join("victim.txt");
        std::fs::write(&victim, "untouched\n").unwrap();
        std::fs::hard_link(&victim, root.path().join("linked.jsonl")).unwrap();
        assert!(matches!(append(root.path(), "linked.jsonl", "x"), Err(Refusal::HardLinked { links: 2 })));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched\n");

        std::fs::write(root.path().join("file"), "").unwrap();
        assert!(matches!(append(root.path(), "file/log.jsonl", "x"), Err(Refusal::NotADirectory { .. })));
    }

    #[test]
    fn probing_creates_nothing_and_names_the_deepest_existing_dir() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("logs")).unwrap();
        match probe(root.path(), Path::new("logs/new/deploy.jsonl"), Access::AppendExisting).unwrap() {
            Found::Missing { deepest, deepest_dir } => {
                assert_eq!(deepest, Path::new("logs"));
                can_create_in(&deepest_dir).unwrap();
            }
            Found::File(_) => panic!("found a file"),
        }
        assert_eq!(std::fs::read_dir(root.path().join("logs")).unwrap().count(), 0);
        assert!(matches!(
            open(root.path(), Path::new("logs/new/deploy.jsonl"), Access::AppendExisting),
            Err(Refusal::Io { .. })
        ));
        assert!(!root.path().join("logs/new").exists());
    }
}
