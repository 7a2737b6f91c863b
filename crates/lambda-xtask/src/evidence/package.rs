//! Reproducible deployment packages: the xtask zips each function's build output itself and
//! points the built template's `CodeUri` at the zip, which `sam deploy` then uploads as it is
//! (a `CodeUri` naming a file is uploaded unchanged; only a directory is zipped by sam).
//!
//! sam's own zip follows `os.walk`, whose order is the file system's (tmpfs lists newest
//! first, ext4 by a per-file-system hash), and takes each file's mode from the disk (umask):
//! two checkouts of one commit can upload different bytes and get different `CodeSha256`s
//! (aws-sam-cli issue #4645). Here the entries are sorted by path, every timestamp is the same
//! fixed time (`SOURCE_DATE_EPOCH` when set, else the commit's time), modes are normalised to
//! 0644 or 0755, and deflate runs at a fixed level in a pinned zlib-rs (Cargo.lock), each file
//! by a fresh compressor: the same build output gives the same bytes, hence the same
//! `CodeSha256`, whatever the number of threads deflating.

use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

/// Deflate level 6: zlib's default, the usual trade of size for time.
const LEVEL: u32 = 6;

/// One file to store: its path in the zip and where its bytes are.
struct Member {
    name: Vec<u8>,
    source: PathBuf,
    executable: bool,
    /// Its size when listed: the largest files are deflated first.
    size: u64,
}

/// The fixed time of every entry: `SOURCE_DATE_EPOCH` (reproducible-builds.org), else the
/// commit time the caller passes, else the DOS epoch (1980-01-01).
pub fn entry_time(source_date_epoch: Option<&str>, commit_time: Option<u64>) -> Result<u64> {
    match source_date_epoch.map(str::trim).filter(|v| !v.is_empty()) {
        Some(value) => match value.parse::<u64>() {
            Ok(seconds) => Ok(seconds),
            Err(_) => crate::bad_input!("SOURCE_DATE_EPOCH={value:?} is not a number of seconds since 1970: unset it or set it to e.g. $(git log -1 --format=%ct)"),
        },
        None => Ok(commit_time.unwrap_or(DOS_EPOCH)),
    }
}

const DOS_EPOCH: u64 = 315_532_800;

/// A zip written: its size and the SHA-256 of its bytes (Lambda's `CodeSha256`, once base64).
#[derive(Debug)]
pub struct Written {
    pub bytes: u64,
    pub sha256: [u8; 32],
}

/// Zips everything below `root` into `zip`, reproducibly, deflating on every core.
/// A symlink is stored as the file it points to when that stays inside `root` (as sam does);
/// one pointing out of it is refused rather than followed.
pub fn write_zip(root: &Path, zip: &Path, time: u64) -> Result<Written> {
    write_zip_with_threads(root, zip, time, crate::sys::parallel::threads())
}

/// [`write_zip`] on `threads` threads: each file is deflated on its own by a fresh compressor,
/// so the bytes are the same whatever the thread count (a reused zlib-rs compressor can carry
/// state from the previous file: zlib-rs issue #459).
pub fn write_zip_with_threads(root: &Path, zip: &Path, time: u64, threads: usize) -> Result<Written> {
    let mut members = Vec::new();
    collect(root, root, &mut members)?;
    members.sort_by(|a, b| a.name.cmp(&b.name));
    let deflated = crate::sys::parallel::map(&members, threads, |m| m.size, deflate)?;
    let (dos_time, dos_date) = dos_date_time(time);

    // Written beside and renamed: a reader never sees half a zip.
    let dir = zip.parent().unwrap_or(Path::new("."));
    let temp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("creating a file in {}", dir.display()))?;
    let mut out =
        HashingWriter { inner: std::io::BufWriter::with_capacity(1 << 20, temp), hasher: Sha256::new(), written: 0 };
    let mut central = Vec::new();
    for (member, entry) in members.iter().zip(deflated) {
        let offset = out.written;
        if offset > u64::from(u32::MAX) || entry.size > u64::from(u32::MAX) || entry.stored.len() > u32::MAX as usize {
            bail!("{}: the package would need zip64, which Lambda's 250 MB limit never needs", root.display());
        }
        let flags: u16 = if member.name.is_ascii() { 0 } else { 0x0800 };
        let mode: u32 = if member.executable { 0o100755 } else { 0o100644 };
        // The fields the local header and the central record share, in the same order.
        let mut common = Vec::with_capacity(26);
        common.extend_from_slice(&20u16.to_le_bytes());
        common.extend_from_slice(&flags.to_le_bytes());
        common.extend_from_slice(&entry.method.to_le_bytes());
        common.extend_from_slice(&dos_time.to_le_bytes());
        common.extend_from_slice(&dos_date.to_le_bytes());
        common.extend_from_slice(&entry.crc.to_le_bytes());
        common.extend_from_slice(&(entry.stored.len() as u32).to_le_bytes());
        common.extend_from_slice(&(entry.size as u32).to_le_bytes());
        common.extend_from_slice(&(member.name.len() as u16).to_le_bytes());
        // Local file header.
        out.put(&0x0403_4b50u32.to_le_bytes())?;
        out.put(&common)?;
        out.put(&0u16.to_le_bytes())?;
        out.put(&member.name)?;
        out.put(&entry.stored)?;
        // Its central directory record: made by Unix (3), so the mode is honoured.
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes());
        central.extend_from_slice(&common);
        central.extend_from_slice(&[0; 8]); // extra, comment, disk number, internal attributes
        central.extend_from_slice(&(mode << 16).to_le_bytes());
        central.extend_from_slice(&(offset as u32).to_le_bytes());
        central.extend_from_slice(&member.name);
    }
    let central_offset = out.written;
    if members.len() > usize::from(u16::MAX) || central_offset > u64::from(u32::MAX) {
        bail!("{}: the package would need zip64 ({} files)", root.display(), members.len());
    }
    out.put(&central)?;
    let mut end = Vec::with_capacity(22);
    end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    end.extend_from_slice(&[0; 4]); // this disk, the central directory's disk
    end.extend_from_slice(&(members.len() as u16).to_le_bytes());
    end.extend_from_slice(&(members.len() as u16).to_le_bytes());
    end.extend_from_slice(&(central.len() as u32).to_le_bytes());
    end.extend_from_slice(&(central_offset as u32).to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes());
    out.put(&end)?;
    let written = Written { bytes: out.written, sha256: out.hasher.finalize().into() };
    let temp =
        out.inner.into_inner().map_err(|e| e.into_error()).with_context(|| format!("writing {}", zip.display()))?;
    temp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o644))
        .with_context(|| format!("writing {}", zip.display()))?;
    temp.persist(zip).with_context(|| format!("writing {}", zip.display()))?;
    Ok(written)
}

/// The zip's bytes go to the file and into the hash at once: no second read for `CodeSha256`.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.inner.write_all(bytes).context("writing the package")?;
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }
}

/// One member's entry data: its CRC, its size, and what the zip stores (deflated, or nothing
/// for an empty file).
struct Deflated {
    crc: u32,
    size: u64,
    method: u16,
    stored: Vec<u8>,
}

fn deflate(member: &Member) -> Result<Deflated> {
    let data =
        crate::sys::beneath::read(&member.source).with_context(|| format!("reading {}", member.source.display()))?;
    let crc = crc32fast::hash(&data);
    if data.is_empty() {
        return Ok(Deflated { crc, size: 0, method: 0, stored: Vec::new() });
    }
    // Raw deflate (no zlib header), as zip stores it.
    let mut compressor = flate2::Compress::new(flate2::Compression::new(LEVEL), false);
    let mut stored = Vec::with_capacity(data.len() / 2 + 64);
    loop {
        let consumed = compressor.total_in() as usize;
        let status = compressor
            .compress_vec(&data[consumed..], &mut stored, flate2::FlushCompress::Finish)
            .with_context(|| format!("deflating {}", member.source.display()))?;
        if status == flate2::Status::StreamEnd {
            break;
        }
        stored.reserve(stored.capacity().max(4096));
    }
    Ok(Deflated { crc, size: data.len() as u64, method: 8, stored })
}

fn collect(root: &Path, dir: &Path, members: &mut Vec<Member>) -> Result<()> {
    for item in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = item.with_context(|| format!("listing {}", dir.display()))?.path();
        let meta = fs::symlink_metadata(&path).with_context(|| format!("reading {}", path.display()))?;
        let source = if meta.file_type().is_symlink() {
            let resolved =
                fs::canonicalize(&path).with_context(|| format!("resolving the symlink {}", path.display()))?;
            let canonical_root = fs::canonicalize(root).with_context(|| format!("resolving {}", root.display()))?;
            if !resolved.starts_with(&canonical_root) {
                bail!("{} is a symlink out of the build output (to {}): the package would pull in outside files; remove it", path.display(), resolved.display());
            }
            resolved
        } else {
            path.clone()
        };
        let source_meta = fs::metadata(&source).with_context(|| format!("reading {}", source.display()))?;
        if source_meta.is_dir() {
            if meta.file_type().is_symlink() {
                bail!("{} is a symlink to a directory: store the directory itself in the build output", path.display());
            }
            collect(root, &path, members)?;
        } else if source_meta.is_file() {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            members.push(Member {
                name: relative.as_os_str().as_bytes().to_vec(),
                source,
                executable: source_meta.permissions().mode() & 0o111 != 0,
                size: source_meta.len(),
            });
        }
    }
    Ok(())
}

/// DOS time and date (2-second resolution, no time zone: UTC here), clamped to 1980-2107.
fn dos_date_time(seconds: u64) -> (u16, u16) {
    let seconds = seconds.clamp(DOS_EPOCH, 4_354_819_198);
    let text = crate::sys::time::rfc3339_utc(UNIX_EPOCH + Duration::from_secs(seconds));
    let number = |range: std::ops::Range<usize>| text[range].parse::<u16>().unwrap_or(0);
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let (hour, minute, second) = (number(11..13), number(14..16), number(17..19));
    ((hour << 11) | (minute << 5) | (second / 2), ((year - 1980) << 9) | (month << 5) | day)
}

/// Points `CodeUri: <logical id>` of each packaged function in sam's built template at its
/// zip. sam writes that line verbatim; anything else is an error rather than a guess.
pub fn point_template_at_zips(template_text: &str, zips: &[(String, String)]) -> Result<String> {
    let mut text = template_text.to_string();
    for (logical_id, zip_name) in zips {
        let needle = format!("CodeUri: {logical_id}\n");
        let found = text.matches(&needle).count();
        if found != 1 {
            bail!("the built template has {found} `CodeUri: {logical_id}` lines (expected one): cannot point it at {zip_name}");
        }
        text = text.replace(&needle, &format!("CodeUri: {zip_name}\n"));
    }
    Ok(text)
}

/// The commit time (`git log -1 --format=%ct`), for the entries' timestamps.
pub fn commit_time(root: &Path) -> Option<u64> {
    let out =
        std::process::Command::new("git").arg("-C").arg(root).args(["log", "-1", "--format=%ct"]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok().filter(|_| out.status.success())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn tree(root: &Path, order: &[&str], mode: u32) {
        for name in order {
            let path = root.join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, format!("print('{name}')\n").repeat(50)).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        }
    }

    const FILES: [&str; 4] = ["handler.py", "src/app.py", "pkg/__init__.py", "pkg-1.0.dist-info/RECORD"];

    #[test]
    fn the_same_tree_gives_the_same_bytes_whatever_the_order_mtimes_and_umask() {
        let (a, b, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        tree(a.path(), &FILES, 0o644);
        let mut reversed = FILES;
        reversed.reverse();
        tree(b.path(), &reversed, 0o664);
        fs::File::open(b.path().join("handler.py"))
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(999))
            .unwrap();
        write_zip(a.path(), &out.path().join("a.zip"), 1_767_830_400).unwrap();
        write_zip(b.path(), &out.path().join("b.zip"), 1_767_830_400).unwrap();
        assert_eq!(fs::read(out.path().join("a.zip")).unwrap(), fs::read(out.path().join("b.zip")).unwrap());
        write_zip(a.path(), &out.path().join("c.zip"), 1_767_830_402).unwrap();
        assert_ne!(fs::read(out.path().join("a.zip")).unwrap(), fs::read(out.path().join("c.zip")).unwrap());
    }

    #[test]
    fn the_zip_is_the_same_on_one_thread_and_on_many() {
        let (src, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        // Files of every size class, so that threads finish out of order: empty, tiny,
        // compressible, incompressible, and one larger than the others together.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut noise = |len: usize| -> Vec<u8> {
            (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect()
        };
        for n in 0..60 {
            let dir = src.path().join(format!("pkg{}", n % 7));
            fs::create_dir_all(&dir).unwrap();
            let content = match n % 4 {
                0 => Vec::new(),
                1 => format!("x = {n}\n").into_bytes(),
                2 => format!("def f{n}():\n    return {n}\n").repeat(300 + n * 40).into_bytes(),
                _ => noise(1000 + n * 997),
            };
            fs::write(dir.join(format!("m{n}.py")), content).unwrap();
        }
        fs::write(src.path().join("big.so"), [noise(3_000_000), vec![7u8; 1_000_000]].concat()).unwrap();
        let one = write_zip_with_threads(src.path(), &out.path().join("one.zip"), 1_767_830_400, 1).unwrap();
        let bytes = fs::read(out.path().join("one.zip")).unwrap();
        assert_eq!(one.bytes, bytes.len() as u64);
        assert_eq!(one.sha256, <[u8; 32]>::from(Sha256::digest(&bytes)), "the hash is of the bytes written");
        for threads in [2, 3, 8, 64] {
            let zip = out.path().join(format!("{threads}.zip"));
            let many = write_zip_with_threads(src.path(), &zip, 1_767_830_400, threads).unwrap();
            assert_eq!(fs::read(&zip).unwrap(), bytes, "{threads} threads wrote other bytes than one");
            assert_eq!(many.sha256, one.sha256);
        }
        // And what a reader finds in it is the tree.
        let mut archive = zip::ZipArchive::new(fs::File::open(out.path().join("one.zip")).unwrap()).unwrap();
        assert_eq!(archive.len(), 61);
        let mut big = Vec::new();
        std::io::Read::read_to_end(&mut archive.by_name("big.so").unwrap(), &mut big).unwrap();
        assert_eq!(big, fs::read(src.path().join("big.so")).unwrap());
    }

    #[test]
    fn python_reads_the_zip_with_names_modes_times_and_contents() {
        let (src, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        tree(src.path(), &FILES, 0o644);
        fs::write(src.path().join("empty.txt"), "").unwrap();
        fs::set_permissions(src.path().join("src/app.py"), fs::Permissions::from_mode(0o700)).unwrap();
        let zip = out.path().join("f.zip");
        write_zip(src.path(), &zip, 1_767_830_401).unwrap();
        let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nfor i in z.infolist(): print(i.filename, oct(i.external_attr >> 16), i.date_time, len(z.read(i)))\n";
        let output = std::process::Command::new("python3").arg("-c").arg(script).arg(&zip).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let listing = String::from_utf8(output.stdout).unwrap();
        let lines: Vec<&str> = listing.lines().collect();
        assert_eq!(lines[0], "empty.txt 0o100644 (2026, 1, 8, 0, 0, 0) 0");
        assert_eq!(lines[1], "handler.py 0o100644 (2026, 1, 8, 0, 0, 0) 1000");
        assert!(lines.contains(&"src/app.py 0o100755 (2026, 1, 8, 0, 0, 0) 1000"), "{listing}");
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn a_symlink_out_of_the_tree_is_refused() {
        let (src, out, outside) =
            (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        fs::write(outside.path().join("secret"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), src.path().join("link")).unwrap();
        let err = write_zip(src.path(), &out.path().join("f.zip"), 0).unwrap_err();
        assert!(format!("{err:#}").contains("is a symlink out of the build output"), "{err:#}");
    }

    #[test]
    fn entry_time_prefers_source_date_epoch_then_the_commit() {
        assert_eq!(entry_time(Some("1700000000"), Some(5)).unwrap(), 1_700_000_000);
        assert_eq!(entry_time(None, Some(1_767_830_400)).unwrap(), 1_767_830_400);
        assert_eq!(entry_time(Some(""), None).unwrap(), DOS_EPOCH);
        assert!(entry_time(Some("yesterday"), None).is_err());
    }

    #[test]
    fn the_template_points_at_the_zip_or_the_build_fails() {
        let text = "Resources:\n  F:\n    Properties:\n      CodeUri: F\n      Handler: h.h\n";
        let zips = [("F".to_string(), "F.zip".to_string())];
        assert_eq!(point_template_at_zips(text, &zips).unwrap(), text.replace("CodeUri: F\n", "CodeUri: F.zip\n"));
        assert!(point_template_at_zips("CodeUri: G\n", &zips).is_err());
    }
}
