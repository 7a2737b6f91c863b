//! copy-backend: copies the backend source into the function dir (seed fix 5; replaces
//! `copy_backend.py`). The new copy is staged beside the old one and swapped in by rename only
//! once it is complete, so a failure mid-copy leaves the old copy intact.
//!
//! The copy target is the xtask's own only once proven ([`preflight`], before anything is
//! written): it holds the [`MARKER`] an earlier copy wrote (as cargo's CACHEDIR.TAG marks a
//! cache), or, the first time, nothing but what the source holds, byte for byte; git tracks
//! nothing in it; and the backend source is not it, does not hold it and is not inside it.
//! Everything is read through the source's handle and written through the function dir's
//! (see [`crate::sys::beneath`]), so a file swapped for a link mid-run is refused, not followed.

use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use ignore::overrides::OverrideBuilder;
use ignore::WalkBuilder;

use crate::bad_input;
use crate::sys::beneath::{refusal, DirHandle, Kind, Refusal};
use crate::sys::owned_dir::OwnedDir;

/// Never shipped, whatever the ignore files say: byte code, caches and virtualenvs.
const ALWAYS_IGNORED: &[&str] =
    &["__pycache__/", "*.pyc", "*.pyo", ".venv/", "venv/", ".mypy_cache/", ".pytest_cache/", ".ruff_cache/"];

pub const STAGING_PREFIX: &str = ".xtask-staging-";
pub const OLD_PREFIX: &str = ".xtask-old-";
/// Written into every copy: the proof that the dir is a copy the xtask made and may replace.
pub const MARKER: &str = ".xtask-copied-backend";

fn marker_text(source_shown: &Path) -> String {
    format!(
        "This directory is a copy of {} made by cargo xtask lambda-build, replaced on every build:\nedit {} instead. This file marks it as the xtask's to replace.\n",
        source_shown.display(),
        source_shown.display()
    )
}

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

/// A copy proven safe to make: the source opened beneath the repository root, the target
/// proven the xtask's own (see the module docs).
#[derive(Debug)]
pub struct CopyJob {
    pub source: DirHandle,
    /// The source as output shows it (relative to the repository).
    pub source_shown: PathBuf,
    pub function_dir: OwnedDir,
    pub copy_to: String,
    /// The target exists without a marker and was proven a copy of the source: the next
    /// copy adopts it.
    pub adopted: bool,
}

/// Proves a copy of `backend_src` (relative to `repo_root`) to `<function_dir>/<copy_to>` safe
/// before anything is written: bad input otherwise, naming what and how to fix it.
pub fn preflight(repo_root: &Path, backend_src: &Path, function_dir: &OwnedDir, copy_to: &str) -> Result<CopyJob> {
    let shown = backend_src.display();
    let root = DirHandle::anchor(repo_root).with_context(|| format!("opening {}", repo_root.display()))?;
    let source = match root.dir(backend_src) {
        Ok(source) => source,
        Err(err) => match refusal(&err) {
            Some(Refusal::Symlink { path }) => bad_input!(
                "backend_src {shown}: {} is a symlink: the xtask reads the backend source only inside the repository and never through a link; point backend_src at the real directory",
                path.strip_prefix(repo_root).unwrap_or(path).display()
            ),
            _ if err.kind() == std::io::ErrorKind::NotFound || refusal(&err).is_some() => bad_input!(
                "backend_src {shown} is not a directory: create it or fix backend_src in [workspace.metadata.lambda]"
            ),
            _ => return Err(err).with_context(|| format!("opening backend_src {shown}")),
        },
    };
    let target = function_dir.join(copy_to);
    let target_shown = target.strip_prefix(repo_root).unwrap_or(&target).to_path_buf();
    check_apart(repo_root, backend_src, &target_shown)?;
    let mut job = CopyJob {
        source,
        source_shown: backend_src.to_path_buf(),
        function_dir: function_dir.clone(),
        copy_to: copy_to.to_string(),
        adopted: false,
    };
    job.adopted = prove_target(&job, &target_shown)?;
    Ok(job)
}

/// The source and the target must not overlap: a copy into its own source, or over a dir
/// holding it, would destroy the source (hidden and ignored files are not copied back).
fn check_apart(repo_root: &Path, backend_src: &Path, target: &Path) -> Result<()> {
    let normal = |p: &Path| -> PathBuf { p.components().filter(|c| matches!(c, Component::Normal(_))).collect() };
    let (source, target) = (normal(backend_src), normal(target));
    let relation = if source == target {
        Some("is the copy target itself")
    } else if target.starts_with(&source) {
        Some("holds the copy target")
    } else if source.starts_with(&target) {
        Some("lies inside the copy target")
    } else {
        None
    };
    if let Some(relation) = relation {
        bad_input!(
            "backend_src {} {relation} {}: copy-backend replaces the target on every build, which would destroy the source; point backend_src at the source directory outside {} (or change copy_to)",
            source.display(),
            target.display(),
            repo_root.join(&target).parent().and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        )
    }
    Ok(())
}

/// `Ok(adopted)`: the target is missing or marked (false), or an unmarked exact copy of the
/// source (true); bad input when it is anything else.
fn prove_target(job: &CopyJob, target_shown: &Path) -> Result<bool> {
    let dir = &job.function_dir;
    let copy_to = Path::new(&job.copy_to);
    let shell = crate::sys::quote::shell(target_shown);
    if let Some(tracked) = dir.tracked_within(copy_to) {
        bad_input!(
            "{}: git tracks it, and copy-backend replaces {} with a copy of {} on every build: move the file into {} (git mv) or change copy_to",
            target_shown.join(tracked.strip_prefix(copy_to).unwrap_or(tracked)).display(),
            target_shown.display(),
            job.source_shown.display(),
            job.source_shown.display()
        )
    }
    match dir.handle().kind(copy_to).with_context(|| format!("reading {}", target_shown.display()))? {
        None => return Ok(false),
        Some(Kind::Dir) => {}
        Some(kind) => bad_input!(
            "{} is {}, where copy-backend puts its copy of {}: the xtask replaces only a copy it made; remove it (rm {shell}) or change copy_to",
            target_shown.display(),
            kind.describe(),
            job.source_shown.display()
        ),
    }
    if dir.handle().kind(&copy_to.join(MARKER))? == Some(Kind::File) {
        return Ok(false);
    }
    if let Some(foreign) = first_foreign_entry(job)? {
        bad_input!(
            "{} was not made by copy-backend (no {MARKER} in it) and {} is not in {}: the xtask replaces only a copy it made; move what you need into {}, then remove the dir (rm -rf {shell}) and rerun",
            target_shown.display(),
            target_shown.join(&foreign).display(),
            job.source_shown.display(),
            job.source_shown.display()
        )
    }
    Ok(true)
}

/// The first entry of an unmarked target that is not the same as in the source (a file with
/// other bytes, a file the source does not have, a link elsewhere, a special file).
fn first_foreign_entry(job: &CopyJob) -> Result<Option<PathBuf>> {
    let target = job.function_dir.handle().dir(Path::new(&job.copy_to))?;
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        for entry in target.entries_of(&relative)? {
            let path = relative.join(&entry.name);
            let same = match entry.kind {
                Kind::Dir => {
                    stack.push(path.clone());
                    job.source.kind(&path).is_ok_and(|k| k == Some(Kind::Dir))
                }
                Kind::File => match (target.read(&path), job.source.read(&path)) {
                    (Ok(copied), Ok(original)) => copied == original,
                    _ => false,
                },
                Kind::Symlink => {
                    target.read_link(&path).ok().is_some_and(|t| job.source.read_link(&path).ok() == Some(t))
                }
                _ => false,
            };
            if !same {
                return Ok(Some(path));
            }
        }
    }
    Ok(None)
}

/// The files of the live copy the next copy would delete: those the source no longer has
/// (for `--dry-run`). Relative to the target.
pub fn doomed_files(job: &CopyJob) -> Result<Vec<PathBuf>> {
    let copy_to = Path::new(&job.copy_to);
    if job.function_dir.handle().kind(copy_to)? != Some(Kind::Dir) {
        return Ok(Vec::new());
    }
    let entries = scan(&job.source)?;
    let kept: std::collections::HashSet<&Path> = entries.iter().map(|e| e.relative.as_path()).collect();
    let target = job.function_dir.handle().dir(copy_to)?;
    let mut doomed = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        for entry in target.entries_of(&relative)? {
            let path = relative.join(&entry.name);
            if entry.kind == Kind::Dir && kept.contains(path.as_path()) {
                stack.push(path);
            } else if entry.kind == Kind::Dir {
                doomed.extend(all_below(&target, &path)?);
            } else if !kept.contains(path.as_path()) && path != Path::new(MARKER) {
                doomed.push(path);
            }
        }
    }
    doomed.sort();
    Ok(doomed)
}

/// Every non-directory entry at or below the dir `relative` of `dir`.
fn all_below(dir: &DirHandle, relative: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in dir.entries_of(relative)? {
        let path = relative.join(&entry.name);
        if entry.kind == Kind::Dir {
            found.extend(all_below(dir, &path)?);
        } else {
            found.push(path);
        }
    }
    Ok(found)
}

/// Copies the job's source to `<function_dir>/<copy_to>`, honouring .gitignore / .ignore files
/// and skipping hidden entries (a `.env` must never ship) and [`ALWAYS_IGNORED`].
///
/// Only changed files are copied: a file whose size and modification time match the previous
/// copy is hard-linked from it into the staging copy, and when nothing changed at all,
/// nothing is written.
pub fn copy_backend(job: &CopyJob) -> Result<CopyReport> {
    let dir = &job.function_dir;
    let staging = PathBuf::from(format!("{STAGING_PREFIX}{}", job.copy_to));
    let old = PathBuf::from(format!("{OLD_PREFIX}{}", job.copy_to));
    // Leftovers of an interrupted run: never the live copy, safe to drop.
    for leftover in [&staging, &old] {
        dir.remove_if_present(leftover)
            .with_context(|| format!("removing leftover {}", dir.join(leftover).display()))?;
    }
    let entries = scan(&job.source)?;
    apply(job, &entries, Path::new(&job.copy_to), &staging, &old)
}

/// Makes the live copy match the scanned entries: stage, then swap; nothing when it matches.
fn apply(job: &CopyJob, entries: &[SourceEntry], live: &Path, staging: &Path, old: &Path) -> Result<CopyReport> {
    let dir = &job.function_dir;
    if !job.adopted && live_matches(dir.handle(), entries, live) {
        return Ok(CopyReport { up_to_date: true, ..CopyReport::default() });
    }
    // The old copy is removed after the swap: found unremovable then, it would be left
    // beside the new one and fail every rerun. Checked before anything is written.
    check_removable(&dir.join(live))?;
    let report = match stage(job, entries, live, staging) {
        Ok(report) => report,
        Err(err) => {
            let _ = dir.remove_if_present(staging);
            return Err(err);
        }
    };
    swap_in(dir, staging, live, old)?;
    Ok(report)
}

/// Every directory of the previous copy (and the dir holding it) must let us remove its
/// entries: a read-only dir, or an immutable one (`chattr +i`, which stops root too), would
/// fail the removal after the swap.
fn check_removable(live: &Path) -> Result<()> {
    if std::fs::symlink_metadata(live).is_err() {
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
                crate::sys::quote::escaped_path(live),
                crate::sys::quote::escaped_path(&dir),
                crate::sys::quote::shell(live),
                crate::sys::quote::shell(live)
            );
        }
    }
    Ok(())
}

fn swap_in(dir: &OwnedDir, staging: &Path, live: &Path, old: &Path) -> Result<()> {
    let had_live = dir.handle().kind(live)?.is_some();
    if had_live {
        dir.rename(live, old).with_context(|| format!("moving {} aside", dir.join(live).display()))?;
    }
    if let Err(err) = dir.rename(staging, live) {
        if had_live {
            let _ = dir.rename(old, live);
        }
        return Err(err).with_context(|| format!("moving the new copy into {}", dir.join(live).display()));
    }
    if had_live {
        dir.remove(old).with_context(|| format!("removing the previous copy {}", dir.join(old).display()))?;
    }
    Ok(())
}

/// Lists the source after ignore rules. Refuses, before anything is written, what cannot be
/// copied faithfully: links out of the tree, sockets and devices.
fn scan(handle: &DirHandle) -> Result<Vec<SourceEntry>> {
    let source = handle.path();
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
            bail!(
                "{} is {}, neither a file, a directory nor a symlink: remove it from the backend source",
                path.display(),
                Kind::of_std(file_type).describe()
            );
        };
        entries.push(SourceEntry { relative: relative.to_path_buf(), kind });
    }
    Ok(entries)
}

/// True when the live copy holds exactly the source's entries and the marker, with the same
/// sizes, modification times and link targets (copies carry their source's mtime).
fn live_matches(dir: &DirHandle, entries: &[SourceEntry], live: &Path) -> bool {
    let all_match = entries.iter().all(|entry| {
        let path = live.join(&entry.relative);
        let Ok(Some(stat)) = dir.stat(&path) else { return false };
        match &entry.kind {
            SourceKind::Dir => stat.kind == Kind::Dir,
            SourceKind::File { len, modified, racy } => {
                !racy && stat.kind == Kind::File && stat.len == *len && Some(stat.mtime_ns) == nanos(*modified)
            }
            SourceKind::Symlink(target) => {
                stat.kind == Kind::Symlink && dir.read_link(&path).ok().as_ref() == Some(target)
            }
        }
    });
    let marked = dir.kind(&live.join(MARKER)).is_ok_and(|k| k == Some(Kind::File));
    all_match && marked && count_entries(dir, live) == Some(entries.len() + 1)
}

fn nanos(time: SystemTime) -> Option<i128> {
    match time.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => Some(after.as_nanos() as i128),
        Err(before) => Some(-(before.duration().as_nanos() as i128)),
    }
}

/// Entries below `relative`, not following links; `None` when it cannot be read.
fn count_entries(dir: &DirHandle, relative: &Path) -> Option<usize> {
    let mut count = 0;
    for entry in dir.entries_of(relative).ok()? {
        count += 1;
        if entry.kind == Kind::Dir {
            count += count_entries(dir, &relative.join(&entry.name))?;
        }
    }
    Some(count)
}

fn stage(job: &CopyJob, entries: &[SourceEntry], live: &Path, staging: &Path) -> Result<CopyReport> {
    let dir = &job.function_dir;
    let shown = |p: &Path| dir.join(p).display().to_string();
    dir.create_dir(staging).with_context(|| format!("creating {}", shown(staging)))?;
    dir.write_new(&staging.join(MARKER), marker_text(&job.source_shown).as_bytes())
        .with_context(|| format!("writing {}", shown(&staging.join(MARKER))))?;
    let mut report = CopyReport::default();
    for entry in entries {
        let target = staging.join(&entry.relative);
        match &entry.kind {
            SourceKind::Dir => {
                dir.create_dir(&target).with_context(|| format!("creating {}", shown(&target)))?;
                report.dirs += 1;
            }
            SourceKind::Symlink(pointee) => {
                dir.symlink(pointee, &target).with_context(|| format!("creating link {}", shown(&target)))?;
                report.symlinks += 1;
            }
            SourceKind::File { len, modified, racy } => {
                let previous = live.join(&entry.relative);
                let unchanged = !job.adopted
                    && !racy
                    && dir.handle().stat(&previous).ok().flatten().is_some_and(|st| {
                        st.kind == Kind::File && st.len == *len && Some(st.mtime_ns) == nanos(*modified)
                    });
                if unchanged && dir.hard_link(&previous, &target).is_ok() {
                    report.unchanged += 1;
                } else {
                    // Read through the source's handle: a file swapped for a link since the
                    // scan is refused, never followed out. The copy carries the source's
                    // mtime, so the next run can tell it is current.
                    dir.copy_in(&job.source, &entry.relative, &target, *modified).with_context(|| {
                        format!("copying {}", crate::sys::quote::escaped_path(&job.source.join(&entry.relative)))
                    })?;
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
    let shown = crate::sys::quote::escaped_path(link);
    let pointee = std::fs::read_link(link).with_context(|| format!("reading link {shown}"))?;
    let root = std::fs::canonicalize(source_root).with_context(|| format!("resolving {}", source_root.display()))?;
    let resolved = match std::fs::canonicalize(link) {
        Ok(resolved) => resolved,
        Err(err) if err.raw_os_error() == Some(libc::ELOOP) => bail!(
            "{shown} is a symlink loop (it points at {}, which leads back to itself): remove it or point it at a file inside {}",
            crate::sys::quote::escaped_path(&pointee),
            source_root.display()
        ),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => bail!(
            "{shown} is a symlink to {}, which does not exist: remove it (rm {}) or point it at a file inside {}",
            crate::sys::quote::escaped_path(&pointee),
            crate::sys::quote::shell(link),
            source_root.display()
        ),
        Err(err) => return Err(err).with_context(|| format!("resolving link {shown}")),
    };
    if !resolved.starts_with(&root) {
        bail!(
            "{shown} is a symlink to {} (resolved: {}), outside the backend source: replace it with the file itself or a link inside {}",
            crate::sys::quote::escaped_path(&pointee),
            crate::sys::quote::escaped_path(&resolved),
            source_root.display()
        );
    }
    Ok(pointee)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{self, File};
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
        repo: tempfile::TempDir,
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
        Fixture { repo, source, function_dir }
    }

    fn job(f: &Fixture) -> Result<CopyJob> {
        preflight(f.repo.path(), Path::new("backend/src"), &f.function_dir, "src")
    }

    fn copy(f: &Fixture) -> Result<CopyReport> {
        copy_backend(&job(f)?)
    }

    const COPIED: [&str; 5] = ["src", "src/.xtask-copied-backend", "src/api", "src/api/routes.py", "src/lazy_app.py"];

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

        let report = copy(&f).unwrap();

        let copied = f.function_dir.join("src");
        assert_eq!(listing(&copied), [".xtask-copied-backend", "api", "api/routes.py", "lazy_app.py"]);
        assert_eq!(report, CopyReport { copied: 2, dirs: 1, ..CopyReport::default() });
        assert_eq!(fs::read_to_string(copied.join("lazy_app.py")).unwrap(), "app = 1\n");
        assert!(fs::read_to_string(copied.join(MARKER)).unwrap().contains("copy of backend/src"));
    }

    #[test]
    fn replaces_the_old_copy_and_leaves_no_staging() {
        let f = fixture();
        copy(&f).unwrap();
        write(&f.function_dir.join("src/removed_upstream.py"), "x");
        assert_eq!(doomed_files(&job(&f).unwrap()).unwrap(), [PathBuf::from("removed_upstream.py")]);
        copy(&f).unwrap();
        assert!(!f.function_dir.join("src/removed_upstream.py").exists());
        assert_eq!(listing(f.function_dir.path()), COPIED);
    }

    #[test]
    fn a_failed_copy_keeps_the_old_copy() {
        let f = fixture();
        copy(&f).unwrap();
        write(&f.function_dir.join("src/lazy_app.py"), "old = True\n");
        // A link out of the tree makes the copy fail half-way.
        symlink("/etc/passwd", f.source.join("zz_escape.py")).unwrap();

        let err = copy(&f).unwrap_err();

        assert!(format!("{err:#}").contains("outside the backend source"), "{err:#}");
        assert_eq!(fs::read_to_string(f.function_dir.join("src/lazy_app.py")).unwrap(), "old = True\n");
        assert_eq!(listing(f.function_dir.path()), COPIED);
    }

    #[test]
    fn a_file_vanishing_mid_copy_keeps_the_old_copy_and_leaves_no_staging() {
        let f = fixture();
        copy(&f).unwrap();
        write(&f.function_dir.join("src/lazy_app.py"), "old = True\n");
        let job = job(&f).unwrap();
        let entries = scan(&job.source).unwrap();
        fs::remove_file(f.source.join("lazy_app.py")).unwrap(); // gone between scan and copy
        let (live, staging, old) = (Path::new("src"), Path::new(".xtask-staging-src"), Path::new(".xtask-old-src"));

        let err = apply(&job, &entries, live, staging, old).unwrap_err();

        assert!(format!("{err:#}").contains("lazy_app.py"), "{err:#}");
        assert_eq!(fs::read_to_string(f.function_dir.join("src/lazy_app.py")).unwrap(), "old = True\n");
        assert_eq!(listing(f.function_dir.path()), COPIED);
    }

    #[test]
    fn a_file_swapped_for_a_link_mid_copy_is_refused_not_followed() {
        let f = fixture();
        let outside = tempfile::tempdir().unwrap();
        write(&outside.path().join("id_rsa"), "-----BEGIN OPENSSH PRIVATE KEY-----\n");
        let job = job(&f).unwrap();
        let entries = scan(&job.source).unwrap();
        fs::remove_file(f.source.join("lazy_app.py")).unwrap();
        symlink(outside.path().join("id_rsa"), f.source.join("lazy_app.py")).unwrap();

        let err = apply(&job, &entries, Path::new("src"), Path::new(".xtask-staging-src"), Path::new(".xtask-old-src"))
            .unwrap_err();

        assert!(format!("{err:#}").contains("symbolic link"), "{err:#}");
        assert_eq!(listing(f.function_dir.path()), Vec::<String>::new(), "nothing was swapped in");
    }

    #[test]
    fn a_second_copy_of_an_unchanged_tree_writes_nothing() {
        let f = fixture();
        copy(&f).unwrap();
        let inode_before = std::os::unix::fs::MetadataExt::ino(&fs::metadata(f.function_dir.join("src")).unwrap());

        let report = copy(&f).unwrap();

        assert!(report.up_to_date, "{report:?}");
        let inode_after = std::os::unix::fs::MetadataExt::ino(&fs::metadata(f.function_dir.join("src")).unwrap());
        assert_eq!(inode_before, inode_after, "the live copy was replaced");
    }

    #[test]
    fn only_changed_files_are_copied_and_deleted_ones_removed() {
        let f = fixture();
        write(&f.source.join("gone.py"), "x");
        copy(&f).unwrap();
        fs::remove_file(f.source.join("gone.py")).unwrap();
        // Same size, written just now: within the racy window, so copied whatever its mtime.
        fs::write(f.source.join("lazy_app.py"), "app = 2\n").unwrap();

        let report = copy(&f).unwrap();

        assert_eq!(report, CopyReport { copied: 1, unchanged: 1, dirs: 1, ..CopyReport::default() });
        assert_eq!(listing(f.function_dir.path()), COPIED);
        assert_eq!(fs::read_to_string(f.function_dir.join("src/lazy_app.py")).unwrap(), "app = 2\n");
    }

    #[test]
    fn a_tampered_copy_is_replaced() {
        let f = fixture();
        copy(&f).unwrap();
        write(&f.function_dir.join("src/extra.py"), "x");
        let report = copy(&f).unwrap();
        assert!(!report.up_to_date);
        assert!(!f.function_dir.join("src/extra.py").exists());
    }

    #[test]
    fn an_unmarked_target_is_adopted_only_when_it_is_an_exact_copy_of_the_source() {
        let f = fixture();
        // What an older copy-backend left: the source's files, no marker.
        write(&f.function_dir.join("src/lazy_app.py"), "app = 1\n");
        write(&f.function_dir.join("src/api/routes.py"), "routes = []\n");
        assert!(job(&f).unwrap().adopted);

        write(&f.function_dir.join("src/notes.txt"), "mine");
        let err = job(&f).unwrap_err();
        assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
        assert!(err.to_string().contains("fn/src/notes.txt is not in backend/src"), "{err}");
        fs::remove_file(f.function_dir.join("src/notes.txt")).unwrap();
        write(&f.function_dir.join("src/lazy_app.py"), "app = 'edited here'\n");
        assert!(job(&f).unwrap_err().to_string().contains("fn/src/lazy_app.py"));

        write(&f.function_dir.join("src/lazy_app.py"), "app = 1\n");
        copy(&f).unwrap();
        assert_eq!(listing(f.function_dir.path()), COPIED, "adopted and marked");
    }

    #[test]
    fn a_source_that_is_holds_or_lies_inside_the_target_is_bad_input() {
        let f = fixture();
        for (source, copy_to) in [("fn/src", "src"), ("fn", "src"), ("fn/src/inner", "src")] {
            fs::create_dir_all(f.repo.path().join(source)).unwrap();
            let err = preflight(f.repo.path(), Path::new(source), &f.function_dir, copy_to).unwrap_err();
            assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT, "{source}: {err}");
            assert!(err.to_string().contains("would destroy the source"), "{err}");
        }
    }

    #[test]
    fn a_target_that_is_a_link_or_a_file_is_bad_input() {
        let f = fixture();
        let outside = tempfile::tempdir().unwrap();
        symlink(outside.path(), f.function_dir.join("src")).unwrap();
        let err = job(&f).unwrap_err();
        assert!(err.to_string().contains("is a symbolic link"), "{err}");
        fs::remove_file(f.function_dir.join("src")).unwrap();
        symlink(outside.path(), f.repo.path().join("backend/link")).unwrap();
        let err = preflight(f.repo.path(), Path::new("backend/link"), &f.function_dir, "src").unwrap_err();
        assert!(err.to_string().contains("backend/link is a symlink"), "{err}");
    }

    #[test]
    fn links_inside_the_tree_are_copied_as_links() {
        let f = fixture();
        symlink("api/routes.py", f.source.join("routes_alias.py")).unwrap();
        copy(&f).unwrap();
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

        let err = copy(&f).unwrap_err();

        assert!(format!("{err:#}").contains("outside the backend source"), "{err:#}");
        assert!(!f.function_dir.join("src").exists(), "something was copied");
    }

    #[test]
    fn a_symlink_loop_is_refused_by_name() {
        let f = fixture();
        symlink("b.py", f.source.join("a.py")).unwrap();
        symlink("a.py", f.source.join("b.py")).unwrap();
        let err = format!("{:#}", copy(&f).unwrap_err());
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
        copy(&f).unwrap();
        assert_eq!(
            listing(&f.function_dir.join("src")),
            [".xtask-copied-backend", "api", "api/routes.py", "lazy_app.py"]
        );
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
        copy(&f).unwrap();
        let read_only = f.function_dir.join("src/api");
        let guard = if unsafe { libc::geteuid() } == 0 {
            Immutable::set(&read_only).expect("chattr +i (root without CAP_LINUX_IMMUTABLE?)")
        } else {
            fs::set_permissions(&read_only, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
            Immutable(PathBuf::new())
        };
        write(&f.source.join("lazy_app.py"), "app = 2\n");

        let err = format!("{:#}", copy(&f).unwrap_err());
        assert!(err.contains("cannot be replaced"), "{err}");
        assert!(err.contains("chmod -R u+w"), "{err}");
        // Nothing was staged or swapped: the old copy is live and alone.
        assert_eq!(listing(f.function_dir.path()), COPIED);
        assert_eq!(fs::read_to_string(f.function_dir.join("src/lazy_app.py")).unwrap(), "app = 1\n");

        drop(guard);
        fs::set_permissions(&read_only, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        copy(&f).unwrap();
        assert_eq!(fs::read_to_string(f.function_dir.join("src/lazy_app.py")).unwrap(), "app = 2\n");
    }

    #[test]
    fn leftovers_of_an_interrupted_run_are_removed() {
        let f = fixture();
        write(&f.function_dir.join(".xtask-staging-src/half.py"), "x");
        write(&f.function_dir.join(".xtask-old-src/old.py"), "x");
        copy(&f).unwrap();
        assert_eq!(listing(f.function_dir.path()), COPIED);
    }

    #[test]
    fn missing_source_is_bad_input_naming_it() {
        let f = fixture();
        fs::remove_dir_all(&f.source).unwrap();
        let err = job(&f).unwrap_err();
        assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
        assert!(format!("{err:#}").contains("backend/src"), "{err:#}");
    }
}
