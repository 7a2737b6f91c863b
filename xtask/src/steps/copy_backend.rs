//! copy-backend: copies the backend source into the function dir (seed fix 5; replaces
//! `copy_backend.py`). The new copy is staged beside the old one and swapped in by rename only
//! once it is complete, so a failure mid-copy leaves the old copy intact.

use std::fs;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use ignore::overrides::OverrideBuilder;
use ignore::WalkBuilder;

use super::owned_dir::{remove_entry, OwnedDir};

/// Never shipped, whatever the ignore files say: byte code, caches and virtualenvs.
const ALWAYS_IGNORED: &[&str] =
    &["__pycache__/", "*.pyc", "*.pyo", ".venv/", "venv/", ".mypy_cache/", ".pytest_cache/", ".ruff_cache/"];

pub const STAGING_PREFIX: &str = ".xtask-staging-";
pub const OLD_PREFIX: &str = ".xtask-old-";

#[derive(Debug, Default, PartialEq, Eq)]
pub struct CopyReport {
    pub files: usize,
    pub dirs: usize,
    pub symlinks: usize,
}

/// Copies `source` to `<function_dir>/<copy_to>`, honouring .gitignore / .ignore files and
/// skipping hidden entries (a `.env` must never ship) and [`ALWAYS_IGNORED`].
pub fn copy_backend(source: &Path, function_dir: &OwnedDir, copy_to: &str) -> Result<CopyReport> {
    let staging = function_dir.join(&format!("{STAGING_PREFIX}{copy_to}"));
    let old = function_dir.join(&format!("{OLD_PREFIX}{copy_to}"));
    // Leftovers of an interrupted run: never the live copy, safe to drop.
    for leftover in [&staging, &old] {
        if fs::symlink_metadata(leftover).is_ok() {
            remove_entry(leftover).with_context(|| format!("removing leftover {}", leftover.display()))?;
        }
    }
    let report = match copy_tree(source, &staging) {
        Ok(report) => report,
        Err(err) => {
            let _ = remove_entry(&staging);
            return Err(err);
        }
    };
    swap_in(&staging, &function_dir.join(copy_to), &old)?;
    Ok(report)
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

fn copy_tree(source: &Path, dest: &Path) -> Result<CopyReport> {
    let source_meta = fs::metadata(source).with_context(|| format!("reading backend source {}", source.display()))?;
    if !source_meta.is_dir() {
        bail!("backend source {} is not a directory", source.display());
    }
    fs::create_dir(dest).with_context(|| format!("creating {}", dest.display()))?;
    let mut report = CopyReport::default();
    for entry in walker(source)? {
        let entry = entry.with_context(|| format!("walking {}", source.display()))?;
        let path = entry.path();
        let relative = path.strip_prefix(source).expect("walk stays below its root");
        if relative.as_os_str().is_empty() {
            continue;
        }
        let target = dest.join(relative);
        let file_type = entry.file_type().context("entry without a file type")?;
        if file_type.is_symlink() {
            copy_symlink(source, path, &target)?;
            report.symlinks += 1;
        } else if file_type.is_dir() {
            fs::create_dir(&target).with_context(|| format!("creating {}", target.display()))?;
            report.dirs += 1;
        } else if file_type.is_file() {
            fs::copy(path, &target).with_context(|| format!("copying {}", path.display()))?;
            report.files += 1;
        } else {
            bail!("{} is neither a file, a directory nor a symlink: remove it from the backend source", path.display());
        }
    }
    Ok(report)
}

fn walker(source: &Path) -> Result<ignore::Walk> {
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
        .build())
}

/// A link is copied as a link, and only when it points inside the backend source: a link
/// out of the tree would make sam ship whatever it points at.
fn copy_symlink(source_root: &Path, link: &Path, target: &Path) -> Result<()> {
    let pointee = fs::read_link(link).with_context(|| format!("reading link {}", link.display()))?;
    let resolved = lexical_normalize(&link.parent().unwrap_or(source_root).join(&pointee));
    if !resolved.starts_with(lexical_normalize(source_root)) {
        bail!(
            "{} is a symlink to {}, outside the backend source: replace it with the file itself or a link inside {}",
            link.display(),
            pointee.display(),
            source_root.display()
        );
    }
    std::os::unix::fs::symlink(&pointee, target).with_context(|| format!("creating link {}", target.display()))
}

fn lexical_normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
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
        assert_eq!(report, CopyReport { files: 2, dirs: 1, symlinks: 0 });
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
    fn links_inside_the_tree_are_copied_as_links() {
        let f = fixture();
        symlink("api/routes.py", f.source.join("routes_alias.py")).unwrap();
        copy_backend(&f.source, &f.function_dir, "src").unwrap();
        let copied = f.function_dir.join("src/routes_alias.py");
        assert!(fs::symlink_metadata(&copied).unwrap().file_type().is_symlink());
        assert_eq!(fs::read_link(&copied).unwrap(), Path::new("api/routes.py"));
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
