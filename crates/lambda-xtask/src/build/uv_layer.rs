//! A layer whose BuildMethod is a `python3.X` with no such interpreter here and no Docker to
//! build in. Functions in that spot switch to SAM's `python-uv` build method, but SAM builds
//! no layer with it ("'python-uv' runtime is not supported for layers": `get_layer_subfolder`
//! knows only runtimes and makefile). So the xtask builds the layer the way SAM builds a
//! Python layer, with the tool python-uv uses: the requirements installed into `python/` by
//! `uv pip install --target` for the layer's Python and Linux architecture, binary wheels only
//! (as the xtask's python-uv builds are), then the ContentUri's files copied over them less
//! aws-lambda-builders' `EXCLUDED_FILES`. The derived template ships that directory as the
//! layer, without a BuildMethod.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::sys::process;

/// aws-lambda-builders' python_pip `EXCLUDED_FILES`, matched against each name at every
/// level, as `shutil.ignore_patterns` matches them.
const EXCLUDED: &[&str] = &[
    ".aws-sam",
    ".chalice",
    ".git",
    ".gitignore",
    "*.pyc",
    "__pycache__",
    "*.so",
    ".Python",
    "*.egg-info",
    "*.egg",
    "pip-log.txt",
    "pip-delete-this-directory.txt",
    "htmlcov",
    ".tox",
    ".nox",
    ".coverage",
    ".cache",
    ".pytest_cache",
    ".python-version",
    ".mypy_cache",
    ".dmypy.json",
    ".pyre",
    ".env",
    ".venv",
    "venv",
    "venv.bak",
    "env.bak",
    "ENV",
    "env",
    ".vscode",
    ".idea",
];

fn excluded(name: &str) -> bool {
    EXCLUDED.iter().any(|pattern| match pattern.strip_prefix('*') {
        Some(suffix) => name.ends_with(suffix),
        None => name == *pattern,
    })
}

/// What the layer is built for and from.
pub struct UvLayer<'a> {
    /// The layer's ContentUri, absolute.
    pub content: &'a Path,
    /// The repository root: a symlink in the content must resolve to a file inside it.
    pub repo_root: &'a Path,
    /// `python3.14`.
    pub runtime: &'a str,
    /// `x86_64` or `arm64`.
    pub architecture: &'a str,
}

/// Builds the layer into `into` (replaced whole once the new build is complete); returns how
/// many of the content's files were copied.
pub fn build(sh: &Shell, uv: &Path, layer: &UvLayer, into: &Path) -> Result<usize> {
    let fresh = into.with_extension("new");
    remove_if_there(&fresh)?;
    let python_dir = fresh.join("python");
    fs::create_dir_all(&python_dir).with_context(|| format!("creating {}", python_dir.display()))?;
    let requirements = layer.content.join("requirements.txt");
    if requirements.is_file() {
        let version = layer.runtime.trim_start_matches("python");
        let platform = match layer.architecture {
            "arm64" => "aarch64-unknown-linux-gnu",
            _ => "x86_64-unknown-linux-gnu",
        };
        let _no_build = sh.push_env("UV_NO_BUILD", "1");
        let install = cmd!(
            sh,
            "{uv} pip install -r {requirements} --target {python_dir} --python-version {version} --python-platform {platform}"
        );
        say!("$ {install}");
        process::run(install, "uv pip install", Some(Duration::from_secs(1800)))?;
    }
    let root = layer.repo_root.canonicalize().with_context(|| format!("resolving {}", layer.repo_root.display()))?;
    let copied = copy_tree(layer.content, &python_dir, &root)?;
    remove_if_there(into)?;
    crate::sys::owned_dir::rename_in_dir(&fresh, into)?;
    Ok(copied)
}

/// The content's files over the installed packages, less the excluded names; a symlink only
/// when it resolves to a file inside the repository (copied as that file).
fn copy_tree(from: &Path, to: &Path, root: &Path) -> Result<usize> {
    let mut copied = 0;
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        process::check_interrupted()?;
        let dir = from.join(&relative);
        for entry in fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
            let name = entry.file_name();
            if excluded(&name.to_string_lossy()) {
                continue;
            }
            let child = relative.join(&name);
            let source = from.join(&child);
            let kind = entry.file_type().with_context(|| format!("reading {}", source.display()))?;
            if kind.is_dir() {
                fs::create_dir_all(to.join(&child))?;
                stack.push(child);
                continue;
            }
            if kind.is_symlink() {
                let resolved = source.canonicalize().ok();
                if !resolved.is_some_and(|r| r.starts_with(root) && r.is_file()) {
                    anyhow::bail!(
                        "{} is a symlink that leaves the repository or is not a file: a layer ships regular files only; replace the link with what it points to",
                        source.display()
                    )
                }
            } else if !kind.is_file() {
                continue;
            }
            crate::sys::beneath::copy_regular(&source, &to.join(&child))
                .with_context(|| format!("copying {}", source.display()))?;
            copied += 1;
        }
    }
    Ok(copied)
}

fn remove_if_there(dir: &Path) -> Result<()> {
    crate::sys::owned_dir::remove_if_present(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sams_excluded_names_are_matched_as_shutil_matches_them() {
        for name in ["__pycache__", "x.pyc", "native.so", "pkg.egg-info", ".venv", "env", ".git"] {
            assert!(excluded(name), "{name}");
        }
        for name in ["app.py", "environment.py", "so.txt", "lib.so.1", "venvs"] {
            assert!(!excluded(name), "{name}");
        }
    }

    #[test]
    fn the_content_is_copied_over_without_excluded_names_or_links_out() {
        let repo = tempfile::tempdir().unwrap();
        let content = repo.path().join("layers/common");
        fs::create_dir_all(content.join("pkg/__pycache__")).unwrap();
        fs::write(content.join("pkg/util.py"), "x = 1\n").unwrap();
        fs::write(content.join("pkg/__pycache__/util.cpython-314.pyc"), "").unwrap();
        fs::write(content.join("requirements.txt"), "").unwrap();
        let into = tempfile::tempdir().unwrap();
        let root = repo.path().canonicalize().unwrap();
        assert_eq!(copy_tree(&content, into.path(), &root).unwrap(), 2);
        assert!(into.path().join("pkg/util.py").is_file());
        assert!(!into.path().join("pkg/__pycache__").exists());

        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("id_rsa"), "key").unwrap();
        std::os::unix::fs::symlink(outside.path().join("id_rsa"), content.join("key")).unwrap();
        let err = copy_tree(&content, tempfile::tempdir().unwrap().path(), &root).unwrap_err();
        assert!(err.to_string().contains("is a symlink that leaves the repository"), "{err}");
    }
}
