//! One parallel walk over a directory tree that collects what the file-level guards judge:
//! every native binary (decided by its header bytes, never by its name), every installed
//! wheel's `WHEEL` tags, delvewheel-patched `__init__.py` files and installed-package dirs.
//!
//! Speed: a file is opened only when it could be loaded as native code, and then only its
//! header is read (16 to 64 bytes; an ELF's section headers and version-needs table on top,
//! for the glibc check). Files whose extension Python only ever reads as source, bytecode or
//! data (`.py`, `.pyc`, `.txt`, ...) are never handed to the dynamic loader, so they are not
//! opened: that keeps a 100,000-file scan close to `find`. `.so`, `.pyd`, `.dll`, files without
//! an extension and anything unknown are opened, so a renamed binary cannot slip through.
//!
//! delvewheel patches the `__init__.py` of each top-level package of a Windows wheel, so only
//! those are read: packages directly in the scanned root or next to an installed package's
//! `*.dist-info` / `*.libs` dir (an install root), not the thousands of inner `__init__.py`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use anyhow::Result;
use ignore::{WalkBuilder, WalkState};
use object::elf::{FileHeader32, FileHeader64};
use object::read::elf::{FileHeader as _, SectionHeader as _};
use object::read::macho::{FatArch as _, MachOFatFile32, MachOFatFile64};
use object::{Endianness, FileKind, ReadCache, ReadRef};

use super::source::installed_package_kind;
use crate::project::runtime::Glibc;
use crate::python::wheel::{parse_wheel, WheelFile};
use crate::sys::beneath::{self, Kind};

/// What the header bytes of a file say it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    Elf {
        bits: u8,
        little_endian: bool,
        machine: u16,
        os_abi: u8,
        /// The newest `GLIBC_x.y` symbol version it needs, when it has a version-needs table.
        glibc: Option<Glibc>,
    },
    /// Windows PE (DLL, PYD, EXE).
    Pe { bits: u8 },
    /// macOS Mach-O, thin (one arch) or fat (several).
    MachO { arches: Vec<&'static str>, fat: bool },
    /// Starts like a binary of this kind but its headers are cut short or corrupt.
    Broken { claimed: &'static str, detail: String },
    /// Named like a native library (`.so`, `.pyd`, `.dll`, `.dylib`) but holds no binary.
    NotBinary { detail: &'static str },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binary {
    pub path: PathBuf,
    pub format: Format,
}

#[derive(Debug, Default)]
pub struct Scan {
    pub root: PathBuf,
    /// Every native binary and every file that claims to be one, sorted by path.
    pub binaries: Vec<Binary>,
    /// `*.dist-info/WHEEL` files, sorted by path.
    pub wheels: Vec<(PathBuf, WheelFile)>,
    /// `__init__.py` files carrying a `# start delvewheel patch` block.
    pub delvewheel_patched: Vec<PathBuf>,
    /// `*.dist-info`, `*.egg-info`, `*.libs`, `site-packages` dirs (outermost only), with the
    /// kind of each, for the stale-installed-package guard.
    pub installed_dirs: Vec<(PathBuf, &'static str)>,
    /// Files that look like secrets (guard `secret-file`), with why, sorted by path.
    pub secrets: Vec<(PathBuf, &'static str)>,
    /// Files that could not be read: a guard cannot vouch for them.
    pub unreadable: Vec<(PathBuf, String)>,
    /// Every symbolic link, with where it leads, sorted by path.
    pub links: Vec<(PathBuf, LinkEnd)>,
    /// FIFOs, sockets and devices: never opened, never shippable. Sorted by path.
    pub special: Vec<(PathBuf, Kind)>,
    /// Regular files seen (opened or not).
    pub files: usize,
}

/// Where a symbolic link leads, as the kernel resolves the whole chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEnd {
    /// The canonical path it resolves to.
    Resolved(PathBuf),
    /// It leads nowhere (a target that does not exist).
    Dangling,
    /// A loop of links.
    Loop,
}

impl LinkEnd {
    fn of(link: &Path) -> LinkEnd {
        match std::fs::canonicalize(link) {
            Ok(resolved) => LinkEnd::Resolved(resolved),
            Err(err) if err.raw_os_error() == Some(libc::ELOOP) => LinkEnd::Loop,
            Err(_) => LinkEnd::Dangling,
        }
    }
}

enum Item {
    Link(PathBuf, LinkEnd),
    Special(PathBuf, Kind),
    Binary(Binary),
    Wheel(PathBuf, WheelFile),
    PackageInit(PathBuf),
    InstalledDir(PathBuf, &'static str),
    Secret(PathBuf, &'static str),
    Unreadable(PathBuf, String),
}

/// Extensions whose files Python reads as source, bytecode or data and never maps as native
/// code. Compared lowercase.
const NEVER_LOADED: &[&str] = &[
    "py", "pyi", "pyc", "pyo", "pyx", "pxd", "pxi", "txt", "md", "rst", "json", "toml", "cfg", "ini", "yaml", "yml",
    "html", "htm", "css", "js", "map", "xml", "csv", "typed", "pem", "crt", "c", "h", "cc", "cpp", "hpp", "rs", "go",
    "sh", "jinja", "j2", "mo", "po", "pot", "svg", "png", "jpg", "jpeg", "gif", "ico", "gz", "zip", "whl", "tar",
    "lock", "in", "sql", "csh", "fish", "ps1", "bat",
];

/// Names a loader would try to load: `x.so`, `libx.so.3`, `x.pyd`, `x.dll`, `x.dylib`.
pub fn native_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".so")
        || lower.contains(".so.")
        || lower.ends_with(".pyd")
        || lower.ends_with(".dll")
        || lower.ends_with(".dylib")
}

/// How much of an `__init__.py` is searched for the delvewheel block: delvewheel puts it
/// right after the docstring and `__future__` imports.
const DELVEWHEEL_WINDOW: u64 = 256 * 1024;
const DELVEWHEEL_MARKER: &[u8] = b"# start delvewheel patch";

/// The scan of `root`, where a link is read only when it leads to a file inside `root`.
pub fn scan(root: &Path) -> Result<Scan> {
    scan_within(root, root)
}

/// The scan of `root`, where a link is read only when it leads to a file inside `boundary`
/// (the repository, for a function dir or a layer): what lies outside is never opened, and the
/// link is reported (see [`Scan::links`]).
pub fn scan_within(root: &Path, boundary: &Path) -> Result<Scan> {
    let (sender, receiver) = mpsc::channel::<Item>();
    let files = AtomicUsize::new(0);
    let boundary = boundary.canonicalize().unwrap_or_else(|_| boundary.to_path_buf());
    let walker = WalkBuilder::new(root).standard_filters(false).follow_links(false).build_parallel();
    walker.run(|| {
        let sender = sender.clone();
        let files = &files;
        let boundary = &boundary;
        Box::new(move |entry| visit(entry, &sender, files, boundary))
    });
    drop(sender);

    let mut package_inits = Vec::new();
    let mut scan = Scan { root: root.to_path_buf(), files: files.into_inner(), ..Scan::default() };
    for item in receiver {
        match item {
            Item::Binary(binary) => scan.binaries.push(binary),
            Item::Wheel(path, wheel) => scan.wheels.push((path, wheel)),
            Item::PackageInit(path) => package_inits.push(path),
            Item::InstalledDir(path, kind) => scan.installed_dirs.push((path, kind)),
            Item::Secret(path, why) => scan.secrets.push((path, why)),
            Item::Unreadable(path, err) => scan.unreadable.push((path, err)),
            Item::Link(path, end) => scan.links.push((path, end)),
            Item::Special(path, kind) => scan.special.push((path, kind)),
        }
    }
    scan.links.sort_by(|a, b| a.0.cmp(&b.0));
    scan.special.sort_by(|a, b| a.0.cmp(&b.0));
    scan.binaries.sort_by(|a, b| a.path.cmp(&b.path));
    scan.wheels.sort_by(|a, b| a.0.cmp(&b.0));
    scan.secrets.sort();
    scan.unreadable.sort();
    find_delvewheel_patches(&mut scan, root, package_inits);
    scan.delvewheel_patched.sort();
    scan.unreadable.sort();
    Ok(scan)
}

/// One entry of the parallel walk: an installed-package dir, a link, a special file, or a file
/// (or a link to one inside `boundary`) to inspect; everything it learns goes to `sender`.
fn visit(
    entry: Result<ignore::DirEntry, ignore::Error>,
    sender: &mpsc::Sender<Item>,
    files: &AtomicUsize,
    boundary: &Path,
) -> WalkState {
    let entry = match entry {
        Ok(entry) => entry,
        Err(err) => {
            let path = error_path(&err).unwrap_or_default();
            let _ = sender.send(Item::Unreadable(path, err.to_string()));
            return WalkState::Continue;
        }
    };
    let Some(file_type) = entry.file_type() else {
        return WalkState::Continue;
    };
    let path = entry.path();
    let name = entry.file_name().to_string_lossy();
    if file_type.is_dir() {
        if entry.depth() > 0 {
            if let Some(kind) = installed_package_kind(&name) {
                let _ = sender.send(Item::InstalledDir(path.to_path_buf(), kind));
            }
        }
        return WalkState::Continue;
    }
    let kind = Kind::of_std(file_type);
    if kind.is_special() {
        // A FIFO's open waits for a writer forever: reported, never opened.
        let _ = sender.send(Item::Special(path.to_path_buf(), kind));
        return WalkState::Continue;
    }
    // A link is judged by what it points to when that is a regular file inside the boundary;
    // links to dirs are not followed, so a symlink loop cannot trap the walk, and nothing
    // outside the boundary is ever opened.
    if kind == Kind::Symlink {
        let end = LinkEnd::of(path);
        let inside_file = matches!(&end, LinkEnd::Resolved(target) if target.starts_with(boundary)
            && std::fs::metadata(target).is_ok_and(|m| m.is_file()));
        let _ = sender.send(Item::Link(path.to_path_buf(), end));
        if !inside_file {
            return WalkState::Continue;
        }
    }
    files.fetch_add(1, Ordering::Relaxed);
    let wheel = name == "WHEEL" && in_dist_info(path);
    // A WHEEL file is read once, for its tags and the secret check both.
    let content = wheel.then(|| beneath::read(path));
    let read = content.as_ref().and_then(|c| c.as_ref().ok()).map(Vec::as_slice);
    if let Some(why) = super::secrets::check_file_read(path, entry.file_name(), read) {
        let _ = sender.send(Item::Secret(path.to_path_buf(), why));
    }
    let items = match content {
        Some(Ok(bytes)) => vec![Item::Wheel(path.to_path_buf(), parse_wheel(&String::from_utf8_lossy(&bytes)))],
        Some(Err(err)) => vec![Item::Unreadable(path.to_path_buf(), err.to_string())],
        None => inspect_file(path, &name),
    };
    for item in items {
        let _ = sender.send(item);
    }
    WalkState::Continue
}

/// Keeps the outermost installed-package dirs, and looks for the delvewheel block in the
/// `__init__.py` of each top-level package of an install root.
fn find_delvewheel_patches(scan: &mut Scan, root: &Path, package_inits: Vec<PathBuf>) {
    // Where installed packages sit: the parent of a dist-info or .libs dir, or a
    // site-packages dir itself.
    let mut install_roots: std::collections::HashSet<PathBuf> = std::collections::HashSet::from([root.to_path_buf()]);
    for (dir, _) in &scan.installed_dirs {
        let name = dir.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        let install_root = if name.ends_with("-packages") { Some(dir.as_path()) } else { dir.parent() };
        install_roots.extend(install_root.map(Path::to_path_buf));
    }
    // Outermost only: a .libs dir inside a reported site-packages is the same finding. Sorted
    // component-wise, a dir's descendants follow it directly, so comparing with the last kept
    // one suffices (a scan of a real site-packages has thousands of these dirs).
    scan.installed_dirs.sort();
    let mut outermost: Vec<(PathBuf, &'static str)> = Vec::new();
    for (path, kind) in scan.installed_dirs.drain(..) {
        if !outermost.last().is_some_and(|(outer, _)| path.starts_with(outer)) {
            outermost.push((path, kind));
        }
    }
    scan.installed_dirs = outermost;

    for init in package_inits {
        let top_level = init.parent().and_then(Path::parent).is_some_and(|parent| install_roots.contains(parent));
        if !top_level {
            continue;
        }
        match delvewheel_patched(&init) {
            Ok(true) => scan.delvewheel_patched.push(init),
            Ok(false) => {}
            Err(err) => scan.unreadable.push((init, err.to_string())),
        }
    }
}

fn error_path(err: &ignore::Error) -> Option<PathBuf> {
    match err {
        ignore::Error::WithPath { path, .. } => Some(path.clone()),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => error_path(err),
        ignore::Error::Loop { child, .. } => Some(child.clone()),
        _ => None,
    }
}

/// Whether the file at `path` (as the walk made it: no trailing slash, no `.`) sits directly
/// in a `*.dist-info` dir; from the path's bytes, without parsing its components (this runs
/// for every file of the scan).
fn in_dist_info(path: &Path) -> bool {
    let bytes = path.as_os_str().as_encoded_bytes();
    memchr::memrchr(b'/', bytes).is_some_and(|slash| bytes[..slash].ends_with(b".dist-info"))
}

fn inspect_file(path: &Path, name: &str) -> Vec<Item> {
    if in_dist_info(path) {
        if name == "WHEEL" {
            return match beneath::read(path) {
                Ok(bytes) => vec![Item::Wheel(path.to_path_buf(), parse_wheel(&String::from_utf8_lossy(&bytes)))],
                Err(err) => vec![Item::Unreadable(path.to_path_buf(), err.to_string())],
            };
        }
        // METADATA, RECORD, licenses: text the installer wrote.
        return Vec::new();
    }
    if name == "__init__.py" {
        // Read after the walk, and only for top-level packages (see the module docs).
        return vec![Item::PackageInit(path.to_path_buf())];
    }
    let extension = name.rsplit_once('.').map(|(_, ext)| ext);
    if extension.is_some_and(|ext| NEVER_LOADED.iter().any(|never| ext.eq_ignore_ascii_case(never))) {
        return Vec::new();
    }
    match identify(path, native_name(name)) {
        Ok(Some(format)) => vec![Item::Binary(Binary { path: path.to_path_buf(), format })],
        Ok(None) => Vec::new(),
        Err(err) => vec![Item::Unreadable(path.to_path_buf(), err.to_string())],
    }
}

fn delvewheel_patched(path: &Path) -> std::io::Result<bool> {
    let mut head = Vec::new();
    beneath::open_regular(path)?.take(DELVEWHEEL_WINDOW).read_to_end(&mut head)?;
    Ok(memchr::memmem::find(&head, DELVEWHEEL_MARKER).is_some())
}

/// How many leading bytes decide a file's kind: every header object reads first (ELF's is 64
/// bytes, the DOS stub's 64, Mach-O's 28 or 32, a fat Mach-O's 8) fits in them.
const HEAD_LEN: usize = 64;

/// Reads the header of one file and says what binary it is, if any. `native_named` files
/// (`.so`, `.pyd`, ...) that hold no binary are reported too: a loader would try them.
pub fn identify(path: &Path, native_named: bool) -> std::io::Result<Option<Format>> {
    let mut file = beneath::open_regular(path)?;
    let mut head = [0u8; HEAD_LEN];
    let mut len = 0;
    while len < head.len() {
        match file.read(&mut head[len..])? {
            0 => break,
            n => len += n,
        }
    }
    // What lies beyond the head (PE's header at e_lfanew, an ELF's section headers, a fat
    // Mach-O's arch table) is read through a cache that fetches only the ranges object asks
    // for: never the whole file.
    Ok(classify(&head[..len], &ReadCache::new(&file), native_named))
}

/// What a file is, judged by its first bytes `head` (up to [`HEAD_LEN`]) and, where a format
/// keeps more beyond them, by `data`, the whole file. A file's bytes are input like any other:
/// whatever they are, the answer is a [`Format`] (`Broken` for a corrupt header) or `None`,
/// never a panic. Kept apart from the reading so that tests can feed it arbitrary bytes.
pub fn classify<'data, R: ReadRef<'data>>(head: &[u8], data: R, native_named: bool) -> Option<Format> {
    let len = head.len();
    let kind = if head.starts_with(b"MZ") { FileKind::parse(data) } else { FileKind::parse(head) };
    let broken = |claimed: &'static str, detail: String| Some(Format::Broken { claimed, detail });
    let format = match kind {
        Ok(FileKind::Elf64) => match FileHeader64::<Endianness>::parse(head) {
            Ok(header) => elf_format(header, data, 64),
            Err(err) => return broken("ELF", format!("ELF header cut short or corrupt ({err})")),
        },
        Ok(FileKind::Elf32) => match FileHeader32::<Endianness>::parse(head) {
            Ok(header) => elf_format(header, data, 32),
            Err(err) => return broken("ELF", format!("ELF header cut short or corrupt ({err})")),
        },
        Ok(FileKind::Pe32) => Format::Pe { bits: 32 },
        Ok(FileKind::Pe64) => Format::Pe { bits: 64 },
        Ok(FileKind::MachO32) => thin_macho::<object::macho::MachHeader32<Endianness>>(head),
        Ok(FileKind::MachO64) => thin_macho::<object::macho::MachHeader64<Endianness>>(head),
        // 0xcafebabe also starts every Java class file: not Mach-O unless the arch count is
        // plausible (file(1) uses the same test). Named like a library, it is reported anyway.
        Ok(kind @ (FileKind::MachOFat32 | FileKind::MachOFat64)) => {
            match fat_macho(data, kind == FileKind::MachOFat64) {
                Some(format) => format,
                None if native_named => Format::Broken {
                    claimed: "Mach-O",
                    detail: "universal (fat) header whose arch table is cut short or implausible".into(),
                },
                None => return None,
            }
        }
        // Static archives, COFF objects and the like are never loaded at run time: harmless
        // under their own names, but a loader would try one named like a library, and fail.
        Ok(_) if native_named => {
            Format::NotBinary { detail: "a static archive, object file or other format no loader maps" }
        }
        Ok(_) => return None,
        Err(err) => {
            const MAGICS: [(&[u8], &str); 5] = [
                (b"\x7fELF", "ELF"),
                (&[0xfe, 0xed, 0xfa, 0xce], "Mach-O"),
                (&[0xce, 0xfa, 0xed, 0xfe], "Mach-O"),
                (&[0xfe, 0xed, 0xfa, 0xcf], "Mach-O"),
                (&[0xcf, 0xfa, 0xed, 0xfe], "Mach-O"),
            ];
            if let Some((_, claimed)) = MAGICS.iter().find(|(magic, _)| head.starts_with(magic)) {
                return broken(claimed, format!("{len} bytes: header cut short ({err})"));
            }
            if native_named && head.starts_with(b"MZ") {
                return broken("Windows PE", format!("MZ header without a valid PE header ({err})"));
            }
            if !native_named {
                return None;
            }
            Format::NotBinary { detail: if len == 0 { "empty file" } else { "no executable header (text or data)" } }
        }
    };
    Some(format)
}

fn elf_format<'data, Elf: object::read::elf::FileHeader<Endian = Endianness>, R: ReadRef<'data>>(
    header: &Elf,
    data: R,
    bits: u8,
) -> Format {
    let ident = header.e_ident();
    let Ok(endian) = header.endian() else {
        return Format::Broken { claimed: "ELF", detail: "unknown byte order".into() };
    };
    let glibc = match glibc_needed(header, endian, data) {
        Ok(glibc) => glibc,
        Err(err) => {
            return Format::Broken { claimed: "ELF", detail: format!("section headers cut short or corrupt ({err})") }
        }
    };
    Format::Elf {
        bits,
        little_endian: ident.data == object::elf::ELFDATA2LSB,
        machine: header.e_machine(endian).0,
        os_abi: ident.os_abi.0,
        glibc,
    }
}

/// The newest `GLIBC_x.y` in the ELF's version-needs table: the oldest glibc it loads on.
fn glibc_needed<'data, Elf: object::read::elf::FileHeader<Endian = Endianness>, R: ReadRef<'data>>(
    header: &Elf,
    endian: Endianness,
    data: R,
) -> object::read::Result<Option<Glibc>> {
    let sections = header.sections(endian, data)?;
    let Some((mut needs, link)) = sections.gnu_verneed(endian, data)? else {
        return Ok(None);
    };
    // The whole string table in one read: looking names up through the cache costs a seek
    // and a read per name.
    let dynstr = sections.section(link)?.data(endian, data)?;
    let strings = object::read::StringTable::new(dynstr, 0, dynstr.len() as u64);
    let mut newest: Option<Glibc> = None;
    while let Some((_, mut aux)) = needs.next()? {
        while let Some(entry) = aux.next()? {
            let name = entry.name(endian, strings)?;
            let glibc = std::str::from_utf8(name).ok().and_then(|n| n.strip_prefix("GLIBC_")).and_then(Glibc::parse);
            if glibc > newest {
                newest = glibc;
            }
        }
    }
    Ok(newest)
}

fn thin_macho<Mach: object::read::macho::MachHeader<Endian = Endianness>>(head: &[u8]) -> Format {
    match Mach::parse(head, 0) {
        Ok(header) => match header.endian() {
            Ok(endian) => Format::MachO { arches: vec![cpu_name(header.cputype(endian).0)], fat: false },
            Err(_) => Format::MachO { arches: Vec::new(), fat: false },
        },
        Err(err) => Format::Broken { claimed: "Mach-O", detail: format!("header cut short ({err})") },
    }
}

fn fat_macho<'data, R: ReadRef<'data>>(data: R, wide: bool) -> Option<Format> {
    let arches: Vec<&'static str> = if wide {
        MachOFatFile64::parse(data).ok()?.arches().iter().map(|a| cpu_name(a.cputype().0)).collect()
    } else {
        MachOFatFile32::parse(data).ok()?.arches().iter().map(|a| cpu_name(a.cputype().0)).collect()
    };
    (!arches.is_empty() && arches.len() < 20).then_some(Format::MachO { arches, fat: true })
}

fn cpu_name(cputype: u32) -> &'static str {
    use object::macho::*;
    match object::macho::CpuType(cputype) {
        CPU_TYPE_X86_64 => "x86_64",
        CPU_TYPE_ARM64 => "arm64",
        CPU_TYPE_X86 => "i386",
        CPU_TYPE_ARM => "arm",
        CPU_TYPE_POWERPC => "ppc",
        CPU_TYPE_POWERPC64 => "ppc64",
        _ => "unknown arch",
    }
}

/// A readable name for an ELF e_machine.
pub fn elf_machine_name(machine: u16) -> String {
    use object::elf::*;
    match object::elf::Machine(machine) {
        EM_X86_64 => "x86-64".into(),
        EM_AARCH64 => "aarch64".into(),
        EM_386 => "i386".into(),
        EM_ARM => "32-bit arm".into(),
        EM_PPC64 => "ppc64".into(),
        EM_S390 => "s390x".into(),
        EM_RISCV => "riscv".into(),
        other => format!("machine {}", other.0),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::os::unix::fs::symlink;

    use super::*;
    use test_wheels::{self as wheels, *};

    pub fn write(path: &Path, bytes: &[u8]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    fn format_of(scan: &Scan, relative: &str) -> Option<Format> {
        let path = scan.root.join(relative);
        scan.binaries.iter().find(|b| b.path == path).map(|b| b.format.clone())
    }

    /// A fat Mach-O made of two copies of a real thin one, labelled x86_64 and arm64, as
    /// `lipo -create` lays them out (big-endian header, 4 KiB aligned slices).
    pub fn fat_macho(thin: &[u8]) -> Vec<u8> {
        let mut fat = Vec::new();
        fat.extend(0xcafe_babe_u32.to_be_bytes());
        fat.extend(2u32.to_be_bytes());
        let align = 4096u32;
        for (i, cputype) in [0x0100_0007u32, 0x0100_000c].into_iter().enumerate() {
            let offset = align * (1 + i as u32 * ((thin.len() as u32).div_ceil(align)));
            for field in [cputype, 0, offset, thin.len() as u32, 12] {
                fat.extend(field.to_be_bytes());
            }
        }
        for i in 0..2u32 {
            let offset = (align * (1 + i * (thin.len() as u32).div_ceil(align))) as usize;
            fat.resize(offset, 0);
            fat.extend(thin);
        }
        fat
    }

    #[test]
    fn real_wheels_are_identified_by_their_headers() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        wheels::install_into(PYDANTIC_CORE_LINUX_X86_64, &root.join("x86"));
        wheels::install_into(PYDANTIC_CORE_LINUX_AARCH64, &root.join("arm"));
        wheels::install_into(PYDANTIC_CORE_MACOS_ARM64, &root.join("mac"));
        wheels::install_into(PSYCOPG2_WINDOWS, &root.join("win"));

        let scan = scan(root).unwrap();

        match format_of(&scan, "x86/pydantic_core/_pydantic_core.cpython-311-x86_64-linux-gnu.so") {
            Some(Format::Elf { bits: 64, little_endian: true, machine, glibc: Some(glibc), .. }) => {
                assert_eq!(machine, object::elf::EM_X86_64.0);
                assert!(glibc <= Glibc(2, 17), "manylinux2014 wheel needs {glibc}");
            }
            other => panic!("x86_64 extension: {other:?}"),
        }
        assert!(matches!(
            format_of(&scan, "arm/pydantic_core/_pydantic_core.cpython-311-aarch64-linux-gnu.so"),
            Some(Format::Elf { machine, .. }) if machine == object::elf::EM_AARCH64.0
        ));
        assert_eq!(
            format_of(&scan, "mac/pydantic_core/_pydantic_core.cpython-311-darwin.so"),
            Some(Format::MachO { arches: vec!["arm64"], fat: false })
        );
        assert_eq!(format_of(&scan, "win/psycopg2/_psycopg.cp311-win_amd64.pyd"), Some(Format::Pe { bits: 64 }));
        let dlls = scan.binaries.iter().filter(|b| b.path.starts_with(root.join("win/psycopg2_binary.libs"))).count();
        assert_eq!(dlls, 3);
        assert_eq!(scan.delvewheel_patched, [root.join("win/psycopg2/__init__.py")]);
        let tags: Vec<&str> = scan.wheels.iter().flat_map(|(_, w)| w.tag_lines.iter().map(String::as_str)).collect();
        assert!(tags.contains(&"cp311-cp311-win_amd64"), "{tags:?}");
        // Python sources, stubs and metadata are no binaries.
        assert!(scan.binaries.iter().all(|b| !b.path.to_string_lossy().ends_with(".py")));
        assert_eq!(scan.binaries.len(), 7, "{:#?}", scan.binaries);
    }

    #[test]
    fn renamed_truncated_and_empty_files_are_judged_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let real = tempfile::tempdir().unwrap();
        wheels::extract_member(PSYCOPG2_WINDOWS, ".pyd", &real.path().join("w.pyd"));
        wheels::extract_member(PYDANTIC_CORE_LINUX_X86_64, ".so", &real.path().join("l.so"));
        let pe = std::fs::read(real.path().join("w.pyd")).unwrap();
        let elf = std::fs::read(real.path().join("l.so")).unwrap();

        write(&root.join("pkg/_speedups.cpython-311-x86_64-linux-gnu.so"), &pe);
        write(&root.join("pkg/no_extension"), &pe);
        write(&root.join("pkg/cut_header.so"), &elf[..10]);
        write(&root.join("pkg/cut_sections.so"), &elf[..200]);
        write(&root.join("pkg/empty.so"), b"");
        write(&root.join("pkg/text.so"), b"INPUT(-lfoo)\n");
        write(&root.join("pkg/empty_data"), b"");
        write(&root.join("pkg/notes"), b"MZ is how this note starts, and it is text\n");
        write(&root.join("pkg/Klass.class"), &[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 0x34, 0, 0x1d, 0, 0, 0, 0, 0, 0]);
        write(&root.join("pkg/ok.so"), &elf);

        let scan = scan(root).unwrap();

        assert_eq!(format_of(&scan, "pkg/_speedups.cpython-311-x86_64-linux-gnu.so"), Some(Format::Pe { bits: 64 }));
        assert_eq!(format_of(&scan, "pkg/no_extension"), Some(Format::Pe { bits: 64 }));
        assert!(matches!(format_of(&scan, "pkg/cut_header.so"), Some(Format::Broken { claimed: "ELF", .. })));
        assert!(matches!(format_of(&scan, "pkg/cut_sections.so"), Some(Format::Broken { claimed: "ELF", .. })));
        assert_eq!(format_of(&scan, "pkg/empty.so"), Some(Format::NotBinary { detail: "empty file" }));
        assert!(matches!(format_of(&scan, "pkg/text.so"), Some(Format::NotBinary { .. })));
        assert!(matches!(format_of(&scan, "pkg/ok.so"), Some(Format::Elf { bits: 64, .. })));
        for innocent in ["pkg/empty_data", "pkg/notes", "pkg/Klass.class"] {
            assert_eq!(format_of(&scan, innocent), None, "{innocent}");
        }
    }

    #[test]
    fn fat_macho_lists_its_arches() {
        let dir = tempfile::tempdir().unwrap();
        let thin = dir.path().join("thin.so");
        wheels::extract_member(PYDANTIC_CORE_MACOS_ARM64, ".so", &thin);
        let root = dir.path().join("tree");
        write(&root.join("universal.so"), &fat_macho(&std::fs::read(&thin).unwrap()));
        let scan = scan(&root).unwrap();
        assert_eq!(
            format_of(&scan, "universal.so"),
            Some(Format::MachO { arches: vec!["x86_64", "arm64"], fat: true })
        );
    }

    #[test]
    fn symlink_loops_end_and_links_to_binaries_inside_the_boundary_are_judged_by_their_target() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tree");
        std::fs::create_dir_all(root.join("pkg")).unwrap();
        symlink("b", root.join("pkg/a")).unwrap();
        symlink("a", root.join("pkg/b")).unwrap();
        symlink("..", root.join("pkg/up")).unwrap();
        symlink("missing", root.join("pkg/dangling.so")).unwrap();
        let beside = dir.path().join("beside.pyd");
        wheels::extract_member(PSYCOPG2_WINDOWS, ".pyd", &beside);
        symlink(&beside, root.join("pkg/linked.so")).unwrap();

        // The boundary (the repository, for a function dir) holds the target: judged by it.
        let scan = scan_within(&root, dir.path()).unwrap();

        assert_eq!(scan.binaries.len(), 1, "{:?}", scan.binaries);
        assert_eq!(format_of(&scan, "pkg/linked.so"), Some(Format::Pe { bits: 64 }));
        assert!(scan.unreadable.is_empty(), "{:?}", scan.unreadable);
        assert_eq!(scan.links.len(), 5, "{:?}", scan.links);

        // Outside the boundary, the target is never opened; the link is listed for its guard.
        let bounded = super::scan(&root).unwrap();
        assert_eq!(bounded.binaries, [], "a file outside the boundary was read");
        let linked = bounded.links.iter().find(|(p, _)| p.ends_with("pkg/linked.so")).unwrap();
        assert_eq!(linked.1, LinkEnd::Resolved(beside.canonicalize().unwrap()));
    }

    #[test]
    fn a_huge_file_is_judged_by_its_header_alone() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["model.bin", "huge.so"] {
            let path = dir.path().join(name);
            let file = std::fs::File::create(&path).unwrap();
            std::io::Write::write_all(&mut &file, b"weights, not code\n").unwrap();
            // Sparse: 8 GiB on paper, a few bytes on disk. Reading it whole would take minutes.
            file.set_len(8 << 30).unwrap();
        }
        let scan = scan(dir.path()).unwrap();
        assert_eq!(format_of(&scan, "model.bin"), None);
        assert!(matches!(format_of(&scan, "huge.so"), Some(Format::NotBinary { .. })));
        assert_eq!(scan.files, 2);
    }

    #[test]
    fn the_delvewheel_patch_is_looked_for_in_top_level_packages() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let patched = b"\"\"\"doc\"\"\"\n# start delvewheel patch\nimport os\n# end delvewheel patch\n";
        write(&root.join("psycopg2/__init__.py"), patched);
        write(&root.join("vendor/lib/psycopg2/__init__.py"), patched);
        write(&root.join("vendor/lib/psycopg2_binary.libs/.load-order"), b"");
        write(&root.join("clean/__init__.py"), b"import os\n");
        // An inner package is never patched by delvewheel, so it is not read.
        write(&root.join("deep/a/b/__init__.py"), patched);
        let scan = scan(root).unwrap();
        assert_eq!(
            scan.delvewheel_patched,
            [root.join("psycopg2/__init__.py"), root.join("vendor/lib/psycopg2/__init__.py")]
        );
    }

    #[test]
    fn installed_package_dirs_are_reported_outermost_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("six-1.16.0.dist-info/METADATA"), b"Name: six\n");
        write(&root.join("vendor/site-packages/x.libs/y.txt"), b"");
        let scan = scan(root).unwrap();
        let dirs: Vec<PathBuf> =
            scan.installed_dirs.iter().map(|(p, _)| p.strip_prefix(root).unwrap().into()).collect();
        assert_eq!(dirs, [PathBuf::from("six-1.16.0.dist-info"), PathBuf::from("vendor/site-packages")]);
    }

    /// Real binaries from PyPI wheels, read once per test run: a Linux x86-64 ELF extension,
    /// a Windows PE `.pyd`, a thin arm64 Mach-O and a fat Mach-O made from it.
    fn real_binaries() -> &'static [(&'static str, Vec<u8>)] {
        static SAMPLES: std::sync::OnceLock<Vec<(&'static str, Vec<u8>)>> = std::sync::OnceLock::new();
        SAMPLES.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let read = |spec, suffix, name: &str| {
                let path = dir.path().join(name);
                wheels::extract_member(spec, suffix, &path);
                std::fs::read(&path).unwrap()
            };
            let elf = read(PYDANTIC_CORE_LINUX_X86_64, ".so", "elf.so");
            let pe = read(PSYCOPG2_WINDOWS, ".pyd", "pe.pyd");
            let macho = read(PYDANTIC_CORE_MACOS_ARM64, ".so", "macho.so");
            let fat = fat_macho(&macho);
            vec![("ELF", elf), ("PE", pe), ("Mach-O", macho), ("fat Mach-O", fat)]
        })
    }

    /// What `identify` would answer for a file holding `bytes`.
    fn classify_bytes(bytes: &[u8], native_named: bool) -> Option<Format> {
        classify(&bytes[..bytes.len().min(HEAD_LEN)], bytes, native_named)
    }

    /// Where a mutation lands: in the headers at the start, anywhere, or near the end, where an
    /// ELF keeps its section headers.
    #[derive(Debug, Clone, Copy)]
    enum Spot {
        Head(usize),
        Anywhere(proptest::sample::Index),
        Tail(usize),
    }

    fn spot() -> impl proptest::strategy::Strategy<Value = Spot> {
        use proptest::prelude::*;
        prop_oneof![
            (0usize..256).prop_map(Spot::Head),
            any::<proptest::sample::Index>().prop_map(Spot::Anywhere),
            (1usize..8192).prop_map(Spot::Tail),
        ]
    }

    fn offset(spot: Spot, len: usize) -> usize {
        match spot {
            Spot::Head(i) => i.min(len.saturating_sub(1)),
            Spot::Anywhere(i) => i.index(len),
            Spot::Tail(back) => len.saturating_sub(back.min(len)),
        }
    }

    proptest::proptest! {

        /// Arbitrary bytes: a format, a broken header or nothing, never a panic. A file named
        /// like a library is always reported (a loader would try it); only such a file is ever
        /// called "not a binary".
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512), native_named in proptest::prelude::any::<bool>()) {
            let format = classify_bytes(&bytes, native_named);
            proptest::prop_assert!(!native_named || format.is_some(), "a library name, unreported");
            proptest::prop_assert!(native_named || !matches!(format, Some(Format::NotBinary { .. })), "{:?}", format);
        }

        /// Arbitrary bytes after each magic number the scan knows: every parser gets input that
        /// starts right and goes wrong anywhere after.
        #[test]
        fn arbitrary_bytes_after_a_magic_never_panic(
            magic in proptest::sample::select(vec![
                &b"\x7fELF\x02\x01\x01"[..], &b"\x7fELF\x01\x02\x01"[..], &b"\x7fELF"[..], &b"MZ"[..],
                &[0xfe, 0xed, 0xfa, 0xce][..], &[0xce, 0xfa, 0xed, 0xfe][..], &[0xfe, 0xed, 0xfa, 0xcf][..],
                &[0xcf, 0xfa, 0xed, 0xfe][..], &[0xca, 0xfe, 0xba, 0xbe][..], &[0xca, 0xfe, 0xba, 0xbf][..],
            ]),
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            native_named in proptest::prelude::any::<bool>(),
        ) {
            let bytes = [magic, &tail[..]].concat();
            let format = classify_bytes(&bytes, native_named);
            proptest::prop_assert!(!native_named || format.is_some(), "a library name, unreported");
        }

        /// Real ELF, PE and Mach-O binaries with bytes overwritten in their headers, anywhere, or
        /// near the end, and maybe cut short: judged, never a panic.
        #[test]
        fn mutated_real_binaries_never_panic(
            which in 0usize..4,
            mutations in proptest::collection::vec((spot(), proptest::prelude::any::<u8>()), 0..16),
            cut in proptest::option::of(proptest::prelude::any::<proptest::sample::Index>()),
        ) {
            let (kind, original) = &real_binaries()[which];
            let mut bytes = original.clone();
            for (spot, value) in &mutations {
                let at = offset(*spot, bytes.len());
                bytes[at] = *value;
            }
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            let format = classify_bytes(&bytes, true);
            proptest::prop_assert!(format.is_some(), "{kind}: a mutated binary named .so must be reported: {:?}", format);
        }
    }

    #[test]
    fn a_library_name_on_a_corrupt_fat_header_or_an_archive_is_still_reported() {
        // Found by mutated_real_binaries_never_panic: one flipped byte of a universal binary's
        // arch count made a `.so` pass unreported, like a Java class file.
        let mut fat = real_binaries()[3].1.clone();
        fat[4] = 1;
        assert!(matches!(classify_bytes(&fat, true), Some(Format::Broken { claimed: "Mach-O", .. })));
        assert_eq!(classify_bytes(&fat, false), None, "unnamed, it may be a Java class");
        let archive = b"!<arch>\nlibfoo.o/       0           0     0     644     4         `\nabcd";
        assert!(matches!(classify_bytes(archive, true), Some(Format::NotBinary { .. })));
        assert_eq!(classify_bytes(archive, false), None);
    }

    #[test]
    fn real_binaries_classify_as_themselves_from_bytes_alone() {
        let formats: Vec<Option<Format>> =
            real_binaries().iter().map(|(_, bytes)| classify_bytes(bytes, true)).collect();
        assert!(matches!(&formats[0], Some(Format::Elf { bits: 64, glibc: Some(_), .. })), "{:?}", formats[0]);
        assert_eq!(formats[1], Some(Format::Pe { bits: 64 }));
        assert_eq!(formats[2], Some(Format::MachO { arches: vec!["arm64"], fat: false }));
        assert_eq!(formats[3], Some(Format::MachO { arches: vec!["x86_64", "arm64"], fat: true }));
    }
}
