//! copy-backend: copies the backend source into the function dir (seed fix 5; replaces
//! `copy_backend.py`). The new copy is staged beside the old one and swapped in by rename only
//! once it is complete, so a failure mid-copy leaves the old copy intact.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use ignore::overrides::OverrideBuilder;
use ignore::WalkBuilder;

use crate::sys::owned_dir::{remove_entry, OwnedDir};

/// Never shipped, whatever the ignore files say: byte code, caches and virtualenvs.
const ALWAYS_IGNORED: &[&str] =
    &["__pycache__/", "*.pyc", "*.pyo", ".venv/", "venv/", ".mypy_cache/", ".pytest_cache/", ".ruff_cache/"];

pub const STAGING_PREFIX: &str = ".xtask-staging-";
pub const OLD_PREFIX: &str = ".xtask-old-";

#[derive(Debug, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Files whose content was copied (new or changed since the last copy).
    pub copied: usize,
    /// Unchanged files, hard-linked from the previous copy instead of copied again.
    pub unchanged: usize,
    pub dirs: usize,
    pub symlinks: usize,
    /// The live copy already matched the source: nothing was written at all.
    pub up_to_date: bool,
}

/// One entry of the backend source, after ignore rules.
#[derive(Debug)]
struct SourceEntry {
    relative: PathBuf,
    kind: SourceKind,
}

#[derive(Debug)]
enum SourceKind {
    Dir,
    /// `racy`: modified so recently that a later write in the same clock tick could leave
    /// size and mtime unchanged (file times are only as fine as the kernel's coarse clock), so
    /// size and mtime cannot prove it unchanged; it is copied. Git's "racy clean" rule.
    File {
        len: u64,
        modified: SystemTime,
        racy: bool,
    },
    Symlink(PathBuf),
}

const RACY_WINDOW: Duration = Duration::from_secs(2);

/// Copies `source` to `<function_dir>/<copy_to>`, honouring .gitignore / .ignore files and
/// skipping hidden entries (a `.env` must never ship) and [`ALWAYS_IGNORED`].
///
/// Only changed files are copied: a file whose size and modification time match the previous
/// copy is hard-linked from it into the staging copy, and when nothing changed at all,
/// nothing is written.
pub fn copy_backend(source: &Path, function_dir: &OwnedDir, copy_to: &str) -> Result<CopyReport> {
    let staging = function_dir.join(&format!("{STAGING_PREFIX}{copy_to}"));
    let old = function_dir.join(&format!("{OLD_PREFIX}{copy_to}"));
    let live = function_dir.join(copy_to);
    // Leftovers of an interrupted run: never the live copy, safe to drop.
    for leftover in [&staging, &old] {
        if fs::symlink_metadata(leftover).is_ok() {
            remove_entry(leftover).with_context(|| format!("removing leftover {}", leftover.display()))?;
        }
    }
    let entries = scan(source)?;
    apply(source, &entries, &live, &staging, &old)
}

/// Makes the live copy match the scanned entries: stage, then swap; nothing when it matches.
fn apply(source: &Path, entries: &[SourceEntry], live: &Path, staging: &Path, old: &Path) -> Result<CopyReport> {
    if live_matches(entries, live) {
        return Ok(CopyReport { up_to_date: true, ..CopyReport::default() });
    }
    // The old copy is removed after the swap: found unremovable then, it would be left
    // beside the new one and fail every rerun. Checked before anything is written.
    check_removable(live)?;
    let report = match stage(source, entries, live, staging) {
        Ok(report) => report,
        Err(err) => {
            let _ = remove_entry(staging);
            return Err(err);
        }
    };
    swap_in(staging, live, old)?;
    Ok(report)
}

/// Every directory of the previous copy (and the dir holding it) must let us remove its
/// entries: a read-only dir, or an immutable one (`chattr +i`, which stops root too), would
/// fail the removal after the swap.
fn check_removable(live: &Path) -> Result<()> {
    if fs::symlink_metadata(live).is_err() {
        return Ok(());
    }
    let mut dirs = vec![live.parent().unwrap_or(live).to_path_buf()];
    let walker = WalkBuilder::new(live).standard_filters(false).follow_links(false).build();
    dirs.extend(walker.flatten().filter(|e| e.file_type().is_some_and(|t| t.is_dir())).map(|e| e.into_path()));
    for dir in dirs {
        let Ok(c_path) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else { continue };
        // SAFETY: access(2) reads a NUL-terminated path and touches no other memory.
        if unsafe { libc::access(c_path.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
            let err = std::io::Error::last_os_error();
            bail!(
                "the previous copy {} cannot be replaced: {} does not let its entries be removed ({err}); make it writable (chmod -R u+w {}; chattr -R -i {} if it is immutable) and rerun",
                crate::render::quote::escaped_path(live),
                crate::render::quote::escaped_path(&dir),
                crate::render::quote::shell(live),
                crate::render::quote::shell(live)
            );
        }
    }
    Ok(())
}

fn swap_in(staging: &Path, live: &Path, old: &Path) -> Result<()> {
    let had_live = fs::symlink_metadata(live).is_ok();
    if had_live {
        fs::rename(live, old).with_context(|| format!("moving {} aside", live.display()))?;
    }
    if let Err(err) = fs::rename(staging, live) {
        if had_live {
            let _ = fs::rename(old, live);
        }
        return Err(err).with_context(|| format!("moving the new copy into {}", live.display()));
    }
    if had_live {
        remove_entry(old).with_context(|| format!("removing the previous copy {}", old.display()))?;
    }
    Ok(())
}

/// Lists the source after ignore rules. Refuses, before anything is written, what cannot be
/// copied faithfully: links out of the tree, sockets and devices.
fn scan(source: &Path) -> Result<Vec<SourceEntry>> {
    let source_meta = fs::metadata(source).with_context(|| format!("reading backend source {}", source.display()))?;
    if !source_meta.is_dir() {
        bail!("backend source {} is not a directory", source.display());
    }
    let mut entries = Vec::new();
    let racy_after = SystemTime::now() - RACY_WINDOW;
    for entry in walker(source)? {
        let entry = entry.with_context(|| format!("walking {}", source.display()))?;
        let path = entry.path();
        let relative = path.strip_prefix(source).expect("walk stays below its root");
        if relative.as_os_str().is_empty() {
            continue;
        }
        let file_type = entry.file_type().context("entry without a file type")?;
        let kind = if file_type.is_symlink() {
            SourceKind::Symlink(checked_link_target(source, path)?)
        } else if file_type.is_dir() {
            SourceKind::Dir
        } else if file_type.is_file() {
            let meta = entry.metadata().with_context(|| format!("reading {}", path.display()))?;
            let modified = meta.modified().context("file without mtime")?;
            SourceKind::File { len: meta.len(), modified, racy: modified > racy_after }
        } else {
            bail!("{} is neither a file, a directory nor a symlink: remove it from the backend source", path.display());
        };
        entries.push(SourceEntry { relative: relative.to_path_buf(), kind });
    }
    Ok(entries)
}

/// True when the live copy holds exactly the source's entries, with the same sizes,
/// modification times and link targets (copies carry their source's mtime).
fn live_matches(entries: &[SourceEntry], live: &Path) -> bool {
    let all_match = entries.iter().all(|entry| {
        let path = live.join(&entry.relative);
        let Ok(meta) = fs::symlink_metadata(&path) else { return false };
        match &entry.kind {
            SourceKind::Dir => meta.is_dir(),
            SourceKind::File { len, modified, racy } => {
                !racy && meta.is_file() && meta.len() == *len && meta.modified().ok().as_ref() == Some(modified)
            }
            SourceKind::Symlink(target) => meta.is_symlink() && fs::read_link(&path).ok().as_ref() == Some(target),
        }
    });
    all_match && count_entries(live) == Some(entries.len())
}

/// Entries below `dir`, not following links; `None` when it cannot be read.
fn count_entries(dir: &Path) -> Option<usize> {
    let mut count = 0;
    for entry in fs::read_dir(dir).ok()? {
        let entry = entry.ok()?;
        count += 1;
        if entry.file_type().ok()?.is_dir() {
            count += count_entries(&entry.path())?;
        }
    }
    Some(count)
}

fn stage(source: &Path, entries: &[SourceEntry], live: &Path, staging: &Path) -> Result<CopyReport> {
    fs::create_dir(staging).with_context(|| format!("creating {}", staging.display()))?;
    let mut report = CopyReport::default();
    for entry in entries {
        let target = staging.join(&entry.relative);
        match &entry.kind {
            SourceKind::Dir => {
                fs::create_dir(&target).with_context(|| format!("creating {}", target.display()))?;
                report.dirs += 1;
            }
            SourceKind::Symlink(pointee) => {
                std::os::unix::fs::symlink(pointee, &target)
                    .with_context(|| format!("creating link {}", target.display()))?;
                report.symlinks += 1;
            }
            SourceKind::File { len, modified, racy } => {
                let previous = live.join(&entry.relative);
                let unchanged = !racy
                    && fs::symlink_metadata(&previous)
                        .is_ok_and(|m| m.is_file() && m.len() == *len && m.modified().ok() == Some(*modified));
                if unchanged && fs::hard_link(&previous, &target).is_ok() {
                    report.unchanged += 1;
                } else {
                    let from = source.join(&entry.relative);
                    fs::copy(&from, &target).with_context(|| format!("copying {}", from.display()))?;
                    // The copy carries the source's mtime, so the next run can tell it is current.
                    File::open(&target)
                        .and_then(|f| f.set_modified(*modified))
                        .with_context(|| format!("setting the mtime of {}", target.display()))?;
                    report.copied += 1;
                }
            }
        }
    }
    Ok(report)
}

/// The backend source's walk: ignore files honoured, hidden entries and [`ALWAYS_IGNORED`]
/// skipped, links not followed, sorted so copies and fingerprints are deterministic.
///
/// Hidden entries are dropped before the ignore rules are consulted: a `!.env` or `!.npmrc`
/// in a .gitignore re-includes a hidden file for the ignore crate, and hidden files hold
/// secrets (`.env`, `.npmrc`, `.pgpass`, `.netrc`), so none is ever copied.
pub fn walker(source: &Path) -> Result<ignore::Walk> {
    let mut overrides = OverrideBuilder::new(source);
    for glob in ALWAYS_IGNORED {
        overrides.add(&format!("!{glob}")).context("building the ignore overrides")?;
    }
    let overrides = overrides.build().context("building the ignore overrides")?;
    Ok(WalkBuilder::new(source)
        .follow_links(false)
        .require_git(false)
        .overrides(overrides)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(|entry| entry.depth() == 0 || !entry.file_name().as_encoded_bytes().starts_with(b"."))
        .build())
}

/// A link is copied as a link, and only when the whole chain it starts resolves inside the
/// backend source: each link judged alone by its text (`l1 -> l0/..`, `l0 -> .`) would let a
/// chain climb out, so the kernel resolves it (canonicalize) and the end point decides. A loop,
/// or a link to nothing, is refused by name: sam would fail on it with a message naming
/// neither.
fn checked_link_target(source_root: &Path, link: &Path) -> Result<PathBuf> {
    let shown = crate::render::quote::escaped_path(link);
    let pointee = fs::read_link(link).with_context(|| format!("reading link {shown}"))?;
    let root = fs::canonicalize(source_root).with_context(|| format!("resolving {}", source_root.display()))?;
    let resolved = match fs::canonicalize(link) {
        Ok(resolved) => resolved,
        Err(err) if err.raw_os_error() == Some(libc::ELOOP) => bail!(
            "{shown} is a symlink loop (it points at {}, which leads back to itself): remove it or point it at a file inside {}",
            crate::render::quote::escaped_path(&pointee),
            source_root.display()
        ),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => bail!(
            "{shown} is a symlink to {}, which does not exist: remove it (rm {}) or point it at a file inside {}",
            crate::render::quote::escaped_path(&pointee),
            crate::render::quote::shell(link),
            source_root.display()
        ),
        Err(err) => return Err(err).with_context(|| format!("resolving link {shown}")),
    };
    if !resolved.starts_with(&root) {
        bail!(
            "{shown} is a symlink to {} (resolved: {}), outside the backend source: replace it with the file itself or a link inside {}",
            crate::render::quote::escaped_path(&pointee),
            crate::render::quote::escaped_path(&resolved),
            source_root.display()
        );
    }
    Ok(pointee)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// Writes a file dated a minute ago, as an edit made before the build would be.
    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
        let a_minute_ago = SystemTime::now() - Duration::from_secs(60);
        File::open(path).unwrap().set_modified(a_minute_ago).unwrap();
    }

    fn listing(root: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            walkdir(root).iter().map(|p| p.strip_prefix(root).unwrap().display().to_string()).collect();
        names.sort();
        names
    }

    fn walkdir(root: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in fs::read_dir(root).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.clone());
            if fs::symlink_metadata(&path).unwrap().is_dir() {
                out.extend(walkdir(&path));
            }
        }
        out
    }

    struct Fixture {
        _repo: tempfile::TempDir,
        source: PathBuf,
        function_dir: OwnedDir,
    }

    fn fixture() -> Fixture {
        let repo = tempfile::tempdir().unwrap();
        let source = repo.path().join("backend/src");
        write(&source.join("lazy_app.py"), "app = 1\n");
        write(&source.join("api/routes.py"), "routes = []\n");
        fs::create_dir_all(repo.path().join("fn")).unwrap();
        let function_dir = OwnedDir::new(repo.path(), &repo.path().join("fn")).unwrap();
        Fixture { _repo: repo, source, function_dir }
    }

    #[test]
    fn copies_the_tree_and_honours_ignore_rules() {
        let f = fixture();
        write(&f.source.join(".gitignore"), "*.log\ngenerated/\n");
        write(&f.source.join("debug.log"), "x");
        write(&f.source.join("generated/big.py"), "x");
        write(&f.source.join("__pycache__/lazy_app.cpython-311.pyc"), "x");
        write(&f.source.join("api/stale.pyc"), "x");
        write(&f.source.join(".venv/lib/site.py"), "x");
        write(&f.source.join("venv/bin/python"), "x");
        write(&f.source.join(".env"), "DB_PASSWORD=x");

        let report = copy_backend(&f.source, &f.function_dir, "src").unwrap();

        let copied = f.function_dir.join("src");
        assert_eq!(listing(&copied), ["api", "api/routes.py", "lazy_app.py"]);
        assert_eq!(report, CopyReport { copied: 2, dirs: 1, ..CopyReport::default() });
        assert_eq!(fs::read_to_string(copied.join("lazy_app.py")).unwrap(), "app = 1\n");
    }

    #[test]
    fn replaces_the_old_copy_and_leaves_no_staging() {
        let f = fixture();
        write(&f.function_dir.join("src/removed_upstream.py"), "x");
        copy_backend(&f.source, &f.function_dir, "src").unwrap();
        assert!(!f.function_dir.join("src/removed_upstream.py").exists());
        assert_eq!(listing(f.function_dir.path()), ["src", "src/api", "src/api/routes.py", "src/lazy_app.py"]);
    }

    #[test]
    fn a_failed_copy_keeps_the_old_copy() {
        let f = fixture();
        write(&f.function_dir.join("src/lazy_app.py"), "old = True\n");
        // A link out of the tree makes the copy fail half-way.
        symlink("/etc/passwd", f.source.join("zz_escape.py")).unwrap();

        let err = copy_backend(&f.source, &f.function_dir, "src").unwrap_err();

        assert!(format!("{err:#}").contains("outside the backend source"), "{err:#}");
        assert_eq!(fs::read_to_string(f.function_dir.join("src/lazy_app.py")).unwrap(), "old = True\n");
        assert_eq!(listing(f.function_dir.path()), ["src", "src/lazy_app.py"]);
    }

    #[test]
    fn a_file_vanishing_mid_copy_keeps_the_old_copy_and_leaves_no_staging() {
        let f = fixture();
        write(&f.function_dir.join("src/lazy_app.py"), "old = True\n");
        let entries = scan(&f.source).unwrap();
        fs::remove_file(f.source.join("lazy_app.py")).unwrap(); // gone between scan and copy
        let (live, staging, old) = (
            f.function_dir.join("src"),
            f.function_dir.join(".xtask-staging-src"),
            f.function_dir.join(".xtask-old-src"),
        );

        let err = apply(&f.source, &entries, &live, &staging, &old).unwrap_err();

        assert!(format!("{err:#}").contains("lazy_app.py"), "{err:#}");
        assert_eq!(fs::read_to_string(live.join("lazy_app.py")).unwrap(), "old = True\n");
        assert_eq!(listing(f.function_dir.path()), ["src", "src/lazy_app.py"]);
    }

    #[test]
    fn a_second_copy_of_an_unchanged_tree_writes_nothing() {
        let f = fixture();
        copy_backend(&f.source, &f.function_dir, "src").unwrap();
        let inode_before = std::os::unix::fs::MetadataExt::ino(&fs::metadata(f.function_dir.join("src")).unwrap());

        let report = copy_backend(&f.source, &f.function_dir, "src").unwrap();

        assert!(report.up_to_date, "{report:?}");
        let inode_after = std::os::unix::fs::MetadataExt::ino(&fs::metadata(f.function_dir.join("src")).unwrap());
        assert_eq!(inode_before, inode_after, "the live copy was replaced");
    }

    #[test]
    fn only_changed_files_are_copied_and_deleted_ones_removed() {
        let f = fixture();
        write(&f.source.join("gone.py"), "x");
        copy_backend(&f.source, &f.function_dir, "src").unwrap();
        fs::remove_file(f.source.join("gone.py")).unwrap();
        // Same size, written just now: within the racy window, so copied whatever its mtime.
        fs::write(f.source.join("lazy_app.py"), "app = 2\n").unwrap();

        let report = copy_backend(&f.source, &f.function_dir, "src").unwrap();

        assert_eq!(report, CopyReport { copied: 1, unchanged: 1, dirs: 1, ..CopyReport::default() });
        assert_eq!(listing(f.function_dir.path()), ["src", "src/api", "src/api/routes.py", "src/lazy_app.py"]);
        assert_eq!(fs::read_to_string(f.function_dir.join("src/lazy_app.py")).unwrap(), "app = 2\n");
    }

    #[test]
    fn a_tampered_copy_is_replaced() {
        let f = fixture();
        copy_backend(&f.source, &f.function_dir, "src").unwrap();
        write(&f.function_dir.join("src/extra.py"), "x");
        let report = copy_backend(&f.source, &f.function_dir, "src").unwrap();
        assert!(!report.up_to_date);
        assert!(!f.function_dir.join("src/extra.py").exists());
    }

    #[test]
    fn links_inside_the_tree_are_copied_as_links() {
        let f = fixture();
        symlink("api/routes.py", f.source.join("routes_alias.py")).unwrap();
        copy_backend(&f.source, &f.function_dir, "src").unwrap();
        let copied = f.function_dir.join("src/routes_alias.py");
        assert!(fs::symlink_metadata(&copied).unwrap().file_type().is_symlink());
        assert_eq!(fs::read_link(&copied).unwrap(), Path::new("api/routes.py"));
    }

    #[test]
    fn a_chain_of_links_climbing_out_of_the_tree_is_refused() {
        let f = fixture();
        // Each link alone reads as inside by its text; together they reach the host's /etc.
        symlink(".", f.source.join("l0.egg")).unwrap();
        for k in 1..=8 {
            symlink(format!("l{}.egg/..", k - 1), f.source.join(format!("l{k}.egg"))).unwrap();
        }
        symlink("l8.egg/etc/passwd", f.source.join("passwd.txt")).unwrap();

        let err = copy_backend(&f.source, &f.function_dir, "src").unwrap_err();

        assert!(format!("{err:#}").contains("outside the backend source"), "{err:#}");
        assert!(!f.function_dir.join("src").exists(), "something was copied");
    }

    #[test]
    fn a_symlink_loop_is_refused_by_name() {
        let f = fixture();
        symlink("b.py", f.source.join("a.py")).unwrap();
        symlink("a.py", f.source.join("b.py")).unwrap();
        let err = format!("{:#}", copy_backend(&f.source, &f.function_dir, "src").unwrap_err());
        assert!(err.contains("a.py is a symlink loop"), "{err}");
    }

    #[test]
    fn hidden_files_are_never_copied_whatever_an_ignore_file_says() {
        let f = fixture();
        write(&f.source.join(".gitignore"), "!.env\n!.npmrc\n");
        write(&f.source.join(".ignore"), "!.pgpass\n!.secrets/\n");
        for hidden in [".env", ".npmrc", ".pgpass", ".secrets/token"] {
            write(&f.source.join(hidden), "//registry.npmjs.org/:_authToken=canary");
        }
        copy_backend(&f.source, &f.function_dir, "src").unwrap();
        assert_eq!(listing(&f.function_dir.join("src")), ["api", "api/routes.py", "lazy_app.py"]);
    }

    /// `chattr +i` stops even root from removing entries, as a read-only dir stops a user.
    struct Immutable(PathBuf);

    impl Immutable {
        fn set(path: &Path) -> Option<Immutable> {
            let set = std::process::Command::new("chattr").arg("+i").arg(path).status().is_ok_and(|s| s.success());
            set.then(|| Immutable(path.to_path_buf()))
        }
    }

    impl Drop for Immutable {
        fn drop(&mut self) {
            let _ = std::process::Command::new("chattr").arg("-i").arg(&self.0).status();
        }
    }

    #[test]
    fn an_old_copy_that_cannot_be_removed_is_refused_before_the_swap() {
        let f = fixture();
        copy_backend(&f.source, &f.function_dir, "src").unwrap();
        let read_only = f.function_dir.join("src/api");
        let guard = if unsafe { libc::geteuid() } == 0 {
            Immutable::set(&read_only).expect("chattr +i (root without CAP_LINUX_IMMUTABLE?)")
        } else {
            fs::set_permissions(&read_only, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
            Immutable(PathBuf::new())
        };
        write(&f.source.join("lazy_app.py"), "app = 2\n");

        let err = format!("{:#}", copy_backend(&f.source, &f.function_dir, "src").unwrap_err());
        assert!(err.contains("cannot be replaced"), "{err}");
        assert!(err.contains("chmod -R u+w"), "{err}");
        // Nothing was staged or swapped: the old copy is live and alone.
        assert_eq!(listing(f.function_dir.path()), ["src", "src/api", "src/api/routes.py", "src/lazy_app.py"]);
        assert_eq!(fs::read_to_string(f.function_dir.join("src/lazy_app.py")).unwrap(), "app = 1\n");

        drop(guard);
        fs::set_permissions(&read_only, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        copy_backend(&f.source, &f.function_dir, "src").unwrap();
        assert_eq!(fs::read_to_string(f.function_dir.join("src/lazy_app.py")).unwrap(), "app = 2\n");
    }

    #[test]
    fn leftovers_of_an_interrupted_run_are_removed() {
        let f = fixture();
        write(&f.function_dir.join(".xtask-staging-src/half.py"), "x");
        write(&f.function_dir.join(".xtask-old-src/old.py"), "x");
        copy_backend(&f.source, &f.function_dir, "src").unwrap();
        assert_eq!(listing(f.function_dir.path()), ["src", "src/api", "src/api/routes.py", "src/lazy_app.py"]);
    }

    #[test]
    fn missing_source_fails_naming_it() {
        let f = fixture();
        fs::remove_dir_all(&f.source).unwrap();
        let err = copy_backend(&f.source, &f.function_dir, "src").unwrap_err();
        assert!(format!("{err:#}").contains("backend/src"), "{err:#}");
    }
}
