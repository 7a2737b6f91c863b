//! The one filesystem layer for the user's tree: every path the xtask reads from a repository,
//! or deletes, renames or writes in one, goes through here.
//!
//! - **Beneath a handle.** A relative path is resolved beneath a directory opened once (a
//!   [`DirHandle`]: the repository root, a function dir, a layer dir, `.aws-sam`), one
//!   component at a time, never through a symbolic link and never above the handle: `openat2`
//!   with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS` where the kernel has it, else `openat` with
//!   `O_NOFOLLOW` per component. A `..` or an absolute path is refused before either.
//! - **Regular files only.** A file is read only once an lstat through the handle shows a
//!   regular file; the open is `O_NONBLOCK | O_NOFOLLOW` and its result is checked again, so a
//!   FIFO (whose open would wait forever for a writer), a socket or a device is never opened.
//! - **One deletion.** [`OwnedDir::remove`] is the only way anything is deleted, and
//!   [`OwnedDir::rename`] the only way anything is renamed: inside a directory the xtask proved
//!   it owns, never a path git tracks or one holding a tracked file, never through a link,
//!   never across a mount point. The module_tree test keeps every other module from calling
//!   std::fs's deletion, rename or blocking reads.
//!
//! Paths outside any handle (the configuration files a user names, reports, the tool cache)
//! are read with [`read`] and [`open_regular`], which refuse what is not a regular file the
//! same way.
//!
//! Why rustix rather than cap-std: what is needed is "no symlink anywhere on the path", which
//! `openat2`'s `RESOLVE_NO_SYMLINKS` gives in one call; cap-std's `Dir` follows links that stay
//! inside it (a RECORD entry through `hello/alias -> .` would still be followed) and brings
//! eight crates, where rustix is already compiled for tempfile, so it costs no compile time.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

pub mod append;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// What a directory entry is, as an lstat (never following a link) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Unknown,
}

impl Kind {
    fn of_stat(st: &rustix::fs::Stat) -> Kind {
        Kind::of(FileType::from_raw_mode(st.st_mode))
    }

    fn of(file_type: FileType) -> Kind {
        match file_type {
            FileType::RegularFile => Kind::File,
            FileType::Directory => Kind::Dir,
            FileType::Symlink => Kind::Symlink,
            FileType::Fifo => Kind::Fifo,
            FileType::Socket => Kind::Socket,
            FileType::CharacterDevice => Kind::CharDevice,
            FileType::BlockDevice => Kind::BlockDevice,
            FileType::Unknown => Kind::Unknown,
        }
    }

    /// The kind of a std file type (from a walk's directory entry).
    pub fn of_std(file_type: std::fs::FileType) -> Kind {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_symlink() {
            Kind::Symlink
        } else if file_type.is_dir() {
            Kind::Dir
        } else if file_type.is_file() {
            Kind::File
        } else if file_type.is_fifo() {
            Kind::Fifo
        } else if file_type.is_socket() {
            Kind::Socket
        } else if file_type.is_char_device() {
            Kind::CharDevice
        } else if file_type.is_block_device() {
            Kind::BlockDevice
        } else {
            Kind::Unknown
        }
    }

    /// Neither a regular file, a directory nor a link: never opened, never shipped.
    pub fn is_special(self) -> bool {
        !matches!(self, Kind::File | Kind::Dir | Kind::Symlink)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Kind::File => "a regular file",
            Kind::Dir => "a directory",
            Kind::Symlink => "a symbolic link",
            Kind::Fifo => "a FIFO (named pipe)",
            Kind::Socket => "a socket",
            Kind::CharDevice => "a character device",
            Kind::BlockDevice => "a block device",
            Kind::Unknown => "of an unknown file type",
        }
    }
}

/// Why the layer refused a path. Carried inside an `io::Error`, so callers keep `?`; ask
/// [`refusal`] for it.
#[derive(Debug)]
pub enum Refusal {
    /// `path` is a symbolic link the operation would have to cross or open.
    Symlink { path: PathBuf },
    /// The path is absolute or climbs out with `..`.
    Escapes { path: PathBuf },
    /// `path` is not what the operation needs: a FIFO, socket or device where a regular file is
    /// read, a file where a directory is entered.
    Kind { path: PathBuf, kind: Kind },
    /// Git tracks `tracked`, which is `path` or lies below it: never deleted or replaced.
    Tracked { path: PathBuf, tracked: PathBuf },
    /// `path` is a mount point below an owned directory: deletion never crosses one.
    MountPoint { path: PathBuf },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |p: &Path| crate::sys::quote::escaped_path(p);
        match self {
            Refusal::Symlink { path } => write!(f, "{} is a symbolic link, which the xtask never follows", shown(path)),
            Refusal::Escapes { path } => write!(f, "{} leaves the directory it is relative to", shown(path)),
            Refusal::Kind { path, kind } => write!(f, "{} is {}", shown(path), kind.describe()),
            Refusal::Tracked { path, tracked } if path == tracked => {
                write!(f, "{} is tracked by git, and the xtask never deletes or replaces a tracked file", shown(path))
            }
            Refusal::Tracked { path, tracked } => write!(
                f,
                "{} holds {}, which git tracks, and the xtask never deletes or replaces a tracked file",
                shown(path),
                shown(tracked)
            ),
            Refusal::MountPoint { path } => {
                write!(f, "{} is a mount point, and the xtask never deletes across one", shown(path))
            }
        }
    }
}

impl std::error::Error for Refusal {}

/// The refusal inside an error of this layer, if it is one.
pub fn refusal(err: &io::Error) -> Option<&Refusal> {
    err.get_ref()?.downcast_ref::<Refusal>()
}

fn refused(refusal: Refusal) -> io::Error {
    io::Error::other(refusal)
}

/// The normal components of `relative`; `..` and absolute paths are refused.
fn components<'a>(base: &Path, relative: &'a Path) -> io::Result<Vec<&'a OsStr>> {
    let mut parts = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(name) => parts.push(name),
            Component::CurDir => {}
            _ => return Err(refused(Refusal::Escapes { path: base.join(relative) })),
        }
    }
    Ok(parts)
}

/// 0: not tried yet, 1: openat2 works, 2: the kernel (or a seccomp filter) lacks it.
static OPENAT2: AtomicU8 = AtomicU8::new(0);

const DIR_FLAGS: OFlags = OFlags::DIRECTORY.union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

/// Opens the directory `parts` beneath `base` with `flags`, crossing no link.
fn open_dir_beneath(base: BorrowedFd, base_path: &Path, parts: &[&OsStr], flags: OFlags) -> io::Result<OwnedFd> {
    let flags = flags | DIR_FLAGS;
    if parts.is_empty() {
        return Ok(rustix::fs::openat(base, ".", flags, Mode::empty())?);
    }
    if OPENAT2.load(Ordering::Relaxed) != 2 {
        let joined: PathBuf = parts.iter().collect();
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        match rustix::fs::openat2(base, &joined, flags, Mode::empty(), resolve) {
            Ok(fd) => {
                OPENAT2.store(1, Ordering::Relaxed);
                return Ok(fd);
            }
            // No openat2 here (an old kernel, a container's seccomp filter): per component.
            Err(Errno::NOSYS | Errno::PERM) if OPENAT2.load(Ordering::Relaxed) == 0 => {
                OPENAT2.store(2, Ordering::Relaxed)
            }
            // A link, or a file on the way: the walk below names it.
            Err(Errno::LOOP | Errno::NOTDIR | Errno::XDEV) => {}
            Err(err) => return Err(err.into()),
        }
    }
    let mut fd = rustix::fs::openat(base, ".", OFlags::PATH | DIR_FLAGS, Mode::empty())?;
    for (at, part) in parts.iter().enumerate() {
        let last = at + 1 == parts.len();
        let step_flags = if last { flags } else { OFlags::PATH | DIR_FLAGS };
        fd = match rustix::fs::openat(&fd, *part, step_flags, Mode::empty()) {
            Ok(next) => next,
            Err(Errno::LOOP | Errno::NOTDIR) => {
                let path = base_path.join(parts[..=at].iter().collect::<PathBuf>());
                let kind = rustix::fs::statat(&fd, *part, AtFlags::SYMLINK_NOFOLLOW)
                    .map(|st| Kind::of_stat(&st))
                    .unwrap_or(Kind::Unknown);
                return Err(match kind {
                    Kind::Symlink => refused(Refusal::Symlink { path }),
                    kind => refused(Refusal::Kind { path, kind }),
                });
            }
            Err(err) => return Err(err.into()),
        };
    }
    Ok(fd)
}

/// A directory opened once; everything below it is reached through it (see the module docs).
#[derive(Debug, Clone)]
pub struct DirHandle {
    fd: Arc<OwnedFd>,
    /// Where it was when opened: for messages and for child processes only.
    path: PathBuf,
}

/// One entry of a directory, by lstat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: OsString,
    pub kind: Kind,
}

impl DirHandle {
    /// Opens an anchor by its path: the repository root, the tool cache, a dir the user named.
    /// The one place a path is resolved as given, links above it included; its last
    /// component must be a real directory.
    pub fn anchor(path: &Path) -> io::Result<DirHandle> {
        let fd = rustix::fs::open(path, OFlags::RDONLY | DIR_FLAGS, Mode::empty()).map_err(|err| match err {
            Errno::LOOP | Errno::NOTDIR => {
                let kind =
                    std::fs::symlink_metadata(path).map(|m| Kind::of_std(m.file_type())).unwrap_or(Kind::Unknown);
                match kind {
                    Kind::Symlink => refused(Refusal::Symlink { path: path.to_path_buf() }),
                    kind => refused(Refusal::Kind { path: path.to_path_buf(), kind }),
                }
            }
            err => err.into(),
        })?;
        Ok(DirHandle { fd: Arc::new(fd), path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.path.join(relative)
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Which mount `relative` (a directory beneath this one, or this one for `""`) is on, as a
    /// value to compare: a mount point (a bind mount too) differs from its parent.
    pub fn mount_of(&self, relative: &Path) -> io::Result<(u64, Option<u64>)> {
        let mount = match relative.as_os_str().is_empty() {
            true => mount_of(self.fd(), None)?,
            false => {
                let (parent, name) = self.parent_of(relative)?;
                mount_of(parent.as_fd(), Some(name))?
            }
        };
        Ok((mount.dev, mount.id))
    }

    /// The directory `relative` beneath this one.
    pub fn dir(&self, relative: &Path) -> io::Result<DirHandle> {
        let parts = components(&self.path, relative)?;
        let fd = open_dir_beneath(self.fd(), &self.path, &parts, OFlags::RDONLY)?;
        Ok(DirHandle { fd: Arc::new(fd), path: self.path.join(relative) })
    }

    /// The dir holding `relative`'s last component (opened beneath, no link crossed) and that
    /// component.
    fn parent_of<'a>(&self, relative: &'a Path) -> io::Result<(OwnedFd, &'a OsStr)> {
        let parts = components(&self.path, relative)?;
        let Some((name, parents)) = parts.split_last() else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "an empty path names no entry"));
        };
        Ok((open_dir_beneath(self.fd(), &self.path, parents, OFlags::PATH)?, name))
    }

    /// What `relative` is, without following a link; `None` when it does not exist. A link
    /// on the way to it is an error (a [`Refusal::Symlink`]).
    pub fn kind(&self, relative: &Path) -> io::Result<Option<Kind>> {
        Ok(self.stat(relative)?.map(|st| st.kind))
    }

    /// lstat of `relative` through the handle; `None` when it does not exist.
    pub fn stat(&self, relative: &Path) -> io::Result<Option<Stat>> {
        let (parent, name) = match self.parent_of(relative) {
            Ok(found) => found,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        match rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(Stat::from(&st))),
            Err(Errno::NOENT) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Opens the regular file `relative` for reading (see the module docs: never a link,
    /// never a FIFO, socket or device).
    pub fn open_file(&self, relative: &Path) -> io::Result<File> {
        let (parent, name) = self.parent_of(relative)?;
        open_regular_at(parent.as_fd(), name, &self.path.join(relative))
    }

    pub fn read(&self, relative: &Path) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open_file(relative)?.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    pub fn read_to_string(&self, relative: &Path) -> io::Result<String> {
        let mut text = String::new();
        self.open_file(relative)?.read_to_string(&mut text)?;
        Ok(text)
    }

    /// The target of the link `relative`, read without following it.
    pub fn read_link(&self, relative: &Path) -> io::Result<PathBuf> {
        let (parent, name) = self.parent_of(relative)?;
        let target = rustix::fs::readlinkat(&parent, name, Vec::new())?;
        Ok(PathBuf::from(OsStr::from_bytes(target.as_bytes())))
    }

    /// The entries of this directory (not `.` and `..`), sorted by name, each by lstat.
    pub fn entries(&self) -> io::Result<Vec<Entry>> {
        entries_of(self.fd())
    }

    /// The entries of the directory `relative` beneath this one.
    pub fn entries_of(&self, relative: &Path) -> io::Result<Vec<Entry>> {
        entries_of(self.dir(relative)?.fd())
    }
}

fn entries_of(dir: BorrowedFd) -> io::Result<Vec<Entry>> {
    let listing = rustix::fs::openat(dir, ".", OFlags::RDONLY | DIR_FLAGS, Mode::empty())?;
    let mut entries = Vec::new();
    for entry in rustix::fs::Dir::new(listing)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let kind = match entry.file_type() {
            FileType::Unknown => {
                rustix::fs::statat(dir, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW).map(|st| Kind::of_stat(&st))?
            }
            known => Kind::of(known),
        };
        entries.push(Entry { name: OsStr::from_bytes(name).to_os_string(), kind });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// What the layer tells of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub kind: Kind,
    pub len: u64,
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub mtime_ns: i128,
}

// The field types of `struct stat` differ between architectures (st_nlink is u32 on aarch64).
#[allow(clippy::unnecessary_cast)]
impl From<&rustix::fs::Stat> for Stat {
    fn from(st: &rustix::fs::Stat) -> Stat {
        Stat {
            kind: Kind::of_stat(st),
            len: st.st_size as u64,
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            nlink: st.st_nlink as u64,
            mtime_ns: i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec as i64),
        }
    }
}

/// Opens `name` in `dir` for reading when an lstat shows a regular file, `O_NONBLOCK` and
/// `O_NOFOLLOW`, and checks the opened file is that same regular file.
fn open_regular_at(dir: BorrowedFd, name: &OsStr, shown: &Path) -> io::Result<File> {
    let before = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    match Kind::of_stat(&before) {
        Kind::File => {}
        Kind::Symlink => return Err(refused(Refusal::Symlink { path: shown.to_path_buf() })),
        kind => return Err(refused(Refusal::Kind { path: shown.to_path_buf(), kind })),
    }
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    let fd = match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::LOOP) => return Err(refused(Refusal::Symlink { path: shown.to_path_buf() })),
        Err(err) => return Err(err.into()),
    };
    check_same_regular(&fd, &before, shown)?;
    Ok(File::from(fd))
}

/// The file opened is a regular file, the one an lstat saw before (not swapped in between).
fn check_same_regular(fd: &OwnedFd, before: &rustix::fs::Stat, shown: &Path) -> io::Result<()> {
    let after = rustix::fs::fstat(fd)?;
    let kind = Kind::of_stat(&after);
    if kind != Kind::File || after.st_dev != before.st_dev || after.st_ino != before.st_ino {
        let kind = if kind == Kind::File { Kind::Unknown } else { kind };
        return Err(refused(Refusal::Kind { path: shown.to_path_buf(), kind }));
    }
    // Back to blocking reads: O_NONBLOCK only guarded the open.
    rustix::fs::fcntl_setfl(fd, rustix::fs::fcntl_getfl(fd)? - OFlags::NONBLOCK)?;
    Ok(())
}

/// Opens the file at `path` (a path the user named, links followed as the kernel resolves
/// it) for reading, only when it is a regular file: a FIFO, socket or device is refused before
/// any open, and the open cannot block.
pub fn open_regular(path: &Path) -> io::Result<File> {
    let before = rustix::fs::stat(path)?;
    let kind = Kind::of_stat(&before);
    if kind != Kind::File {
        return Err(refused(Refusal::Kind { path: path.to_path_buf(), kind }));
    }
    let fd =
        rustix::fs::open(path, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY, Mode::empty())?;
    check_same_regular(&fd, &before, path)?;
    Ok(File::from(fd))
}

/// `std::fs::copy` of a regular file only (a FIFO, socket or device is refused, never opened):
/// `to` is created or truncated, never written through a link; the permissions follow.
pub fn copy_regular(from: &Path, to: &Path) -> io::Result<u64> {
    let mut source = open_regular(from)?;
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut destination = File::from(rustix::fs::open(to, flags, Mode::from_raw_mode(0o666))?);
    let copied = io::copy(&mut source, &mut destination)?;
    destination.set_permissions(source.metadata()?.permissions())?;
    Ok(copied)
}

/// `std::fs::read` that opens only regular files (see [`open_regular`]).
pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open_regular(path.as_ref())?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// `std::fs::read_to_string` that opens only regular files (see [`open_regular`]).
pub fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let mut text = String::new();
    open_regular(path.as_ref())?.read_to_string(&mut text)?;
    Ok(text)
}

/// At most `max` bytes from the start of the regular file at `path`.
pub fn read_start(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let mut start = Vec::new();
    open_regular(path)?.take(max).read_to_end(&mut start)?;
    Ok(start)
}

/// A directory the xtask proved it owns: it may delete, rename and write below it, through its
/// handle only, and never a path git tracks.
#[derive(Debug, Clone)]
pub struct OwnedDir {
    handle: DirHandle,
    /// What git tracks below it, relative to it: asked on the first deletion, rename or
    /// write (a no-op build deletes nothing and asks git nothing).
    tracked: Arc<std::sync::OnceLock<Vec<PathBuf>>>,
    /// How to ask git (see [`crate::sys::owned_dir`]); none: nothing is tracked here.
    ask_git: Option<fn(&Path) -> Vec<PathBuf>>,
    /// Its mount: a subdirectory on another one (another device, or a bind mount of the same
    /// one) is a mount point, never deleted across.
    dev: Mount,
}

impl OwnedDir {
    /// Takes `handle` as owned, with the paths below it that git tracks (relative to it).
    pub fn own(handle: DirHandle, tracked: Vec<PathBuf>) -> io::Result<OwnedDir> {
        let owned = OwnedDir::own_asking(handle, None)?;
        let _ = owned.tracked.set(tracked);
        Ok(owned)
    }

    /// Takes `handle` as owned; `ask_git` is asked what git tracks there (relative to it) when
    /// that first matters.
    pub fn own_asking(handle: DirHandle, ask_git: Option<fn(&Path) -> Vec<PathBuf>>) -> io::Result<OwnedDir> {
        let dev = mount_of(handle.fd(), None)?;
        Ok(OwnedDir { handle, tracked: Arc::new(std::sync::OnceLock::new()), ask_git, dev })
    }

    fn tracked(&self) -> &[PathBuf] {
        self.tracked.get_or_init(|| self.ask_git.map(|ask| ask(self.path())).unwrap_or_default())
    }

    pub fn handle(&self) -> &DirHandle {
        &self.handle
    }

    pub fn path(&self) -> &Path {
        self.handle.path()
    }

    pub fn join(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.handle.join(relative)
    }

    /// The tracked path at or below `relative`, if any.
    ///
    /// Names are compared ignoring ASCII case: on a case-insensitive filesystem (a casefolded
    /// ext4 dir, vfat, exfat, an SMB share) `APP.py` opens the tracked `app.py`, so a path that
    /// differs from a tracked one only in case is refused too (refusing more, never less).
    pub fn tracked_within(&self, relative: &Path) -> Option<&Path> {
        let relative: Vec<&OsStr> =
            relative.components().filter(|c| !matches!(c, Component::CurDir)).map(|c| c.as_os_str()).collect();
        let below = |tracked: &&PathBuf| {
            let mut parts = tracked.components();
            relative.iter().all(|want| {
                parts.next().is_some_and(|have| have.as_os_str().as_bytes().eq_ignore_ascii_case(want.as_bytes()))
            })
        };
        self.tracked().iter().filter(below).min().map(PathBuf::as_path)
    }

    fn refuse_tracked(&self, relative: &Path) -> io::Result<()> {
        match self.tracked_within(relative) {
            Some(tracked) => Err(refused(Refusal::Tracked { path: self.join(relative), tracked: self.join(tracked) })),
            None => Ok(()),
        }
    }

    /// THE deletion: removes `relative` (a file or a link as itself, a directory with
    /// everything below it), reached beneath the handle without crossing a link. Refused for a
    /// path git tracks or that holds one, and across a mount point. Missing is an error of
    /// kind NotFound.
    pub fn remove(&self, relative: &Path) -> io::Result<()> {
        self.refuse_tracked(relative)?;
        let (parent, name) = self.parent_on_this_device(relative)?;
        let st = rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW)?;
        if mount_of(parent.as_fd(), Some(name))? != self.dev {
            return Err(refused(Refusal::MountPoint { path: self.join(relative) }));
        }
        if Kind::of_stat(&st) == Kind::Dir {
            remove_tree(parent.as_fd(), name, self.dev, &self.join(relative))
        } else {
            Ok(rustix::fs::unlinkat(&parent, name, AtFlags::empty())?)
        }
    }

    /// The parent of `relative` (beneath the handle, no link crossed) when it is on the owned
    /// dir's device: a path through a mount point (a bind mount of another tree) is refused.
    fn parent_on_this_device<'a>(&self, relative: &'a Path) -> io::Result<(OwnedFd, &'a OsStr)> {
        let (parent, name) = self.handle.parent_of(relative)?;
        if mount_of(parent.as_fd(), None)? != self.dev {
            let at = relative.parent().unwrap_or(Path::new(""));
            return Err(refused(Refusal::MountPoint { path: self.join(at) }));
        }
        Ok((parent, name))
    }

    /// Whether [`OwnedDir::remove`] would delete `relative` (it exists, git does not track it,
    /// no link or mount point is on the way): the same checks, for a plan that must not list
    /// what the deletion would then refuse.
    pub fn check_removable(&self, relative: &Path) -> io::Result<()> {
        self.refuse_tracked(relative)?;
        let (parent, name) = self.parent_on_this_device(relative)?;
        if mount_of(parent.as_fd(), Some(name))? != self.dev {
            return Err(refused(Refusal::MountPoint { path: self.join(relative) }));
        }
        Ok(())
    }

    /// [`OwnedDir::remove`], where a missing entry is fine.
    pub fn remove_if_present(&self, relative: &Path) -> io::Result<bool> {
        match self.remove(relative) {
            Ok(()) => Ok(true),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Removes the directory `relative` only when it is empty (as `rmdir`).
    pub fn remove_empty_dir(&self, relative: &Path) -> io::Result<()> {
        self.refuse_tracked(relative)?;
        let (parent, name) = self.parent_on_this_device(relative)?;
        Ok(rustix::fs::unlinkat(&parent, name, AtFlags::REMOVEDIR)?)
    }

    /// THE rename: `from` to `to`, both beneath the handle, neither tracked by git.
    pub fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.refuse_tracked(from)?;
        self.refuse_tracked(to)?;
        let (from_parent, from_name) = self.parent_on_this_device(from)?;
        let (to_parent, to_name) = self.parent_on_this_device(to)?;
        Ok(rustix::fs::renameat(&from_parent, from_name, &to_parent, to_name)?)
    }

    pub fn create_dir(&self, relative: &Path) -> io::Result<()> {
        let (parent, name) = self.handle.parent_of(relative)?;
        Ok(rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o777))?)
    }

    /// Each missing directory of `relative`, created beneath the handle.
    pub fn create_dir_all(&self, relative: &Path) -> io::Result<()> {
        let parts = components(self.path(), relative)?;
        for end in 1..=parts.len() {
            let path: PathBuf = parts[..end].iter().collect();
            match self.create_dir(&path) {
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                    if self.handle.kind(&path)? != Some(Kind::Dir) {
                        return Err(refused(Refusal::Kind { path: self.join(&path), kind: Kind::File }));
                    }
                }
                other => other?,
            }
        }
        Ok(())
    }

    /// Creates the new file `relative` for writing; an existing entry (a link included) is an
    /// error.
    pub fn create_file(&self, relative: &Path) -> io::Result<File> {
        let (parent, name) = self.handle.parent_of(relative)?;
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        Ok(File::from(rustix::fs::openat(&parent, name, flags, Mode::from_raw_mode(0o666))?))
    }

    /// Opens the file `relative` for appending or locking, creating it when missing; never
    /// through a link, never anything but a regular file.
    pub fn open_or_create(&self, relative: &Path) -> io::Result<File> {
        let (parent, name) = self.handle.parent_of(relative)?;
        let shown = self.join(relative);
        match rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => match Kind::of_stat(&st) {
                Kind::File => {}
                Kind::Symlink => return Err(refused(Refusal::Symlink { path: shown })),
                kind => return Err(refused(Refusal::Kind { path: shown, kind })),
            },
            Err(Errno::NOENT) => {}
            Err(err) => return Err(err.into()),
        }
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&parent, name, flags, Mode::from_raw_mode(0o666))?;
        let after = rustix::fs::fstat(&fd)?;
        if Kind::of_stat(&after) != Kind::File {
            return Err(refused(Refusal::Kind { path: shown, kind: Kind::of_stat(&after) }));
        }
        rustix::fs::fcntl_setfl(&fd, rustix::fs::fcntl_getfl(&fd)? - OFlags::NONBLOCK)?;
        Ok(File::from(fd))
    }

    /// Writes `bytes` to `relative` so that a reader sees the old file or the whole new one.
    pub fn write_atomically(&self, relative: &Path, bytes: &[u8]) -> io::Result<()> {
        self.refuse_tracked(relative)?;
        let name = relative.file_name().ok_or_else(|| io::Error::other("names no file"))?;
        let temp = relative.with_file_name(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
        let _ = self.remove_if_present(&temp);
        let written = (|| {
            let mut file = self.create_file(&temp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            self.rename(&temp, relative)
        })();
        if written.is_err() {
            let _ = self.remove_if_present(&temp);
        }
        written
    }

    /// Writes `bytes` over the regular file `relative` (created when missing), never through a
    /// link: for a small record that must be there at once, where a rename's fsync is too slow.
    pub fn overwrite(&self, relative: &Path, bytes: &[u8]) -> io::Result<()> {
        self.refuse_tracked(relative)?;
        let mut file = self.open_or_create(relative)?;
        file.set_len(0)?;
        file.write_all(bytes)
    }

    /// Writes the new file `relative` with `bytes`.
    pub fn write_new(&self, relative: &Path, bytes: &[u8]) -> io::Result<()> {
        self.create_file(relative)?.write_all(bytes)
    }

    /// Copies the regular file `relative` of `source` to the new file `to` here, with the
    /// source's permissions and modification time; the source is read through its handle.
    pub fn copy_in(&self, source: &DirHandle, relative: &Path, to: &Path, modified: SystemTime) -> io::Result<u64> {
        let mut from = source.open_file(relative)?;
        let mode = from.metadata()?.permissions();
        let mut file = self.create_file(to)?;
        let copied = io::copy(&mut from, &mut file)?;
        file.set_permissions(mode)?;
        file.set_modified(modified)?;
        Ok(copied)
    }

    /// A hard link `to` of the existing file `from`, both here; a link is linked as itself.
    pub fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        let (from_parent, from_name) = self.handle.parent_of(from)?;
        let (to_parent, to_name) = self.handle.parent_of(to)?;
        Ok(rustix::fs::linkat(&from_parent, from_name, &to_parent, to_name, AtFlags::empty())?)
    }

    /// A symbolic link `at` with the text `target` (never resolved here).
    pub fn symlink(&self, target: &Path, at: &Path) -> io::Result<()> {
        let (parent, name) = self.handle.parent_of(at)?;
        Ok(rustix::fs::symlinkat(target, &parent, name)?)
    }
}

/// Which mount an entry is on: its device and, where the kernel tells (statx, Linux 5.8), its
/// mount id, which tells a bind mount of the same filesystem apart too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mount {
    dev: u64,
    id: Option<u64>,
}

/// The mount of `dir` itself, or of its entry `name` (not following a link).
fn mount_of(dir: BorrowedFd, name: Option<&OsStr>) -> io::Result<Mount> {
    use rustix::fs::StatxFlags;
    let (path, flags) = match name {
        Some(name) => (name, AtFlags::SYMLINK_NOFOLLOW),
        None => (OsStr::new(""), AtFlags::EMPTY_PATH),
    };
    match rustix::fs::statx(dir, path, flags, StatxFlags::BASIC_STATS | StatxFlags::MNT_ID) {
        Ok(st) => {
            let dev = (u64::from(st.stx_dev_major) << 32) | u64::from(st.stx_dev_minor);
            let id = StatxFlags::from_bits_retain(st.stx_mask).contains(StatxFlags::MNT_ID).then_some(st.stx_mnt_id);
            Ok(Mount { dev, id })
        }
        Err(Errno::NOSYS | Errno::PERM) => {
            let st = match name {
                Some(name) => rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?,
                None => rustix::fs::fstat(dir)?,
            };
            #[allow(clippy::unnecessary_cast)] // st_dev is u32 on some architectures
            let dev = st.st_dev as u64;
            Ok(Mount { dev, id: None })
        }
        Err(err) => Err(err.into()),
    }
}

/// Deletes the directory `name` in `parent` and everything below it through directory
/// handles: a link goes as a link, a directory on another device is refused.
fn remove_tree(parent: BorrowedFd, name: &OsStr, dev: Mount, shown: &Path) -> io::Result<()> {
    let dir = rustix::fs::openat(parent, name, OFlags::RDONLY | DIR_FLAGS, Mode::empty())?;
    if mount_of(dir.as_fd(), None)? != dev {
        return Err(refused(Refusal::MountPoint { path: shown.to_path_buf() }));
    }
    for entry in entries_of(dir.as_fd())? {
        if entry.kind == Kind::Dir {
            remove_tree(dir.as_fd(), &entry.name, dev, &shown.join(&entry.name))?;
        } else {
            rustix::fs::unlinkat(&dir, entry.name.as_os_str(), AtFlags::empty())?;
        }
    }
    Ok(rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR)?)
}

/// Writes `bytes` to the file at `path` (a report, a summary the user named) so that a reader
/// sees the old file or the whole new one: a temporary file created beside it (never through a
/// link), flushed, renamed over it. A link at `path` is replaced, never written through.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| io::Error::other(format!("{} names no file", path.display())))?;
    let owned = OwnedDir::own(DirHandle::anchor(dir)?, Vec::new())?;
    owned.write_atomically(Path::new(name), bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn owned(dir: &Path, tracked: &[&str]) -> OwnedDir {
        OwnedDir::own(DirHandle::anchor(dir).unwrap(), tracked.iter().map(PathBuf::from).collect()).unwrap()
    }

    fn is_symlink_refusal(err: &io::Error) -> bool {
        matches!(refusal(err), Some(Refusal::Symlink { .. }))
    }

    #[test]
    fn no_path_through_a_link_is_deleted_or_read_inside_or_out() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("precious.txt"), "keep").unwrap();
        std::fs::create_dir_all(root.path().join("fn/real")).unwrap();
        std::fs::write(root.path().join("fn/real/util.py"), "x").unwrap();
        symlink(outside.path(), root.path().join("fn/ext")).unwrap();
        symlink("real", root.path().join("fn/alias")).unwrap();
        let dir = owned(&root.path().join("fn"), &[]);

        for through in ["ext/precious.txt", "alias/util.py"] {
            let err = dir.remove(Path::new(through)).unwrap_err();
            assert!(is_symlink_refusal(&err), "{through}: {err}");
            let err = dir.handle().read(Path::new(through)).unwrap_err();
            assert!(is_symlink_refusal(&err), "{through}: {err}");
            assert!(is_symlink_refusal(&dir.handle().stat(Path::new(through)).unwrap_err()));
        }
        assert!(matches!(refusal(&dir.remove(Path::new("../fn/real")).unwrap_err()), Some(Refusal::Escapes { .. })));
        assert_eq!(std::fs::read_to_string(outside.path().join("precious.txt")).unwrap(), "keep");
        assert!(root.path().join("fn/real/util.py").exists());
        // The link itself goes as a link.
        dir.remove(Path::new("ext")).unwrap();
        assert!(outside.path().join("precious.txt").exists());
    }

    #[test]
    fn openat2_and_the_per_component_walk_agree() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("a/b")).unwrap();
        std::fs::write(root.path().join("a/b/f"), "x").unwrap();
        symlink("b", root.path().join("a/l")).unwrap();
        let handle = DirHandle::anchor(root.path()).unwrap();
        for mode in [0, 2] {
            OPENAT2.store(mode, Ordering::Relaxed);
            assert_eq!(handle.read(Path::new("a/b/f")).unwrap(), b"x");
            assert!(is_symlink_refusal(&handle.read(Path::new("a/l/f")).unwrap_err()));
            assert!(is_symlink_refusal(&handle.dir(Path::new("a/l")).unwrap_err()));
        }
        OPENAT2.store(0, Ordering::Relaxed);
    }

    #[test]
    fn a_fifo_is_refused_without_being_opened() {
        let root = tempfile::tempdir().unwrap();
        let fifo = root.path().join("data.bin");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, FileType::Fifo, Mode::from_raw_mode(0o644), 0).unwrap();
        // Opening it for reading would wait for a writer forever: the test ending proves it did not.
        let err = DirHandle::anchor(root.path()).unwrap().read(Path::new("data.bin")).unwrap_err();
        assert!(matches!(refusal(&err), Some(Refusal::Kind { kind: Kind::Fifo, .. })), "{err}");
        let err = read(&fifo).unwrap_err();
        assert!(err.to_string().contains("is a FIFO"), "{err}");
        assert!(read("/dev/null").is_err(), "a device is not read");
    }

    #[test]
    fn a_tracked_path_or_a_dir_holding_one_is_never_deleted_or_renamed() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("src/api")).unwrap();
        std::fs::write(root.path().join("src/api/extra.py"), "x").unwrap();
        std::fs::write(root.path().join("junk.txt"), "x").unwrap();
        let dir = owned(root.path(), &["src/api/extra.py"]);
        for refused in ["src", "src/api", "src/api/extra.py", "./src"] {
            let err = dir.remove(Path::new(refused)).unwrap_err();
            assert!(matches!(refusal(&err), Some(Refusal::Tracked { .. })), "{refused}: {err}");
        }
        let err = dir.remove(Path::new("SRC/API/Extra.py")).unwrap_err();
        assert!(matches!(refusal(&err), Some(Refusal::Tracked { .. })), "another case of a tracked name: {err}");
        assert!(dir.rename(Path::new("src"), Path::new("old")).is_err());
        assert!(dir.rename(Path::new("junk.txt"), Path::new("src/api/extra.py")).is_err());
        assert!(root.path().join("src/api/extra.py").exists());
        dir.remove(Path::new("junk.txt")).unwrap();
        assert!(!root.path().join("junk.txt").exists());
    }

    #[test]
    fn a_tree_is_removed_through_handles_and_links_in_it_go_as_links() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("precious.txt"), "keep").unwrap();
        std::fs::create_dir_all(root.path().join("t/a/b")).unwrap();
        std::fs::write(root.path().join("t/a/b/f"), "x").unwrap();
        symlink(outside.path(), root.path().join("t/a/out")).unwrap();
        let dir = owned(root.path(), &[]);
        dir.remove(Path::new("t")).unwrap();
        assert!(!root.path().join("t").exists());
        assert_eq!(std::fs::read_to_string(outside.path().join("precious.txt")).unwrap(), "keep");
    }

    /// A bind mount (same filesystem, same device number) inside an owned dir: nothing below
    /// it is deleted. Needs root (mount); skipped where mounting is not allowed.
    #[test]
    fn deletion_never_crosses_a_bind_mount() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("precious.txt"), "keep").unwrap();
        let mount_point = root.path().join("pkg");
        std::fs::create_dir(&mount_point).unwrap();
        let mounted = std::process::Command::new("mount")
            .arg("--bind")
            .arg(outside.path())
            .arg(&mount_point)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            say!("skipped: cannot bind-mount here");
            return;
        }
        let dir = owned(root.path(), &[]);
        let through = dir.remove(Path::new("pkg/precious.txt"));
        let whole = dir.remove(Path::new("pkg"));
        let _ = std::process::Command::new("umount").arg(&mount_point).status();
        assert!(matches!(refusal(&through.unwrap_err()), Some(Refusal::MountPoint { .. })));
        assert!(matches!(refusal(&whole.unwrap_err()), Some(Refusal::MountPoint { .. })));
        assert_eq!(std::fs::read_to_string(outside.path().join("precious.txt")).unwrap(), "keep");
    }

    #[test]
    fn an_atomic_write_replaces_a_link_and_never_writes_through_it() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("victim"), "keep").unwrap();
        symlink(outside.path().join("victim"), root.path().join("report.json")).unwrap();
        write_atomically(&root.path().join("report.json"), b"new").unwrap();
        assert_eq!(std::fs::read_to_string(outside.path().join("victim")).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(root.path().join("report.json")).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(root.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["report.json"]);
    }
}
