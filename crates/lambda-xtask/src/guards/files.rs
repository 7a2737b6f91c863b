//! Where a file-level guard looked, which decides how its findings read: paths relative to
//! the repository, and a fix that names where the offending file came from (the backend
//! source, the function dir, or the wheel of a named distribution).

use std::cell::OnceCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::project::runtime::LambdaRuntime;
use crate::project::source::FunctionSource;
use crate::python::wheel;

/// The tree a scan covered.
#[derive(Debug, Clone, Copy)]
pub enum Place<'a> {
    /// A function dir before sam runs, its copied backend included.
    FunctionSource(&'a FunctionSource),
    /// sam's build output for a function (`.aws-sam/build/<LogicalId>`).
    Artifact { function: &'a FunctionSource, artifact: &'a Path },
    /// Any directory (`lambda-check --dir`); paths are shown relative to `shown_from`.
    Directory { root: &'a Path, shown_from: &'a Path },
    /// A `.zip` package sam uploads as it is (`zip`, as shown), read from a copy of its
    /// entries in `extracted`: paths are shown as `<zip>!/<entry>`.
    Zip { extracted: &'a Path, zip: &'a str },
}

/// A distribution that installed a file, from its RECORD.
#[derive(Debug, Clone)]
pub struct Owner {
    pub name: String,
    pub version: String,
    /// The `Tag:` lines of its WHEEL file.
    pub tags: Vec<String>,
    /// Its `.dist-info` dir.
    pub dist_info: PathBuf,
}

impl Owner {
    pub fn describe(&self) -> String {
        match self.tags.as_slice() {
            [] => format!("{} {}", self.name, self.version),
            tags => format!("{} {} (wheel {})", self.name, self.version, tags.join(", ")),
        }
    }

    /// Installed from a local path (`pip install ./pkg`, `-e .`, a file:// URL; its
    /// `direct_url.json` says so): the app's own code packaged, not a third party's.
    pub fn from_local_path(&self) -> bool {
        let Ok(text) = crate::sys::beneath::read_to_string(self.dist_info.join("direct_url.json")) else {
            return false;
        };
        serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("url").and_then(|u| u.as_str()).map(|u| u.starts_with("file:")))
            .unwrap_or(false)
    }
}

pub struct FileContext<'a> {
    pub place: Place<'a>,
    pub runtime: &'a LambdaRuntime,
    owners: OnceCell<HashMap<String, Owner>>,
}

impl<'a> FileContext<'a> {
    pub fn new(place: Place<'a>, runtime: &'a LambdaRuntime) -> FileContext<'a> {
        FileContext { place, runtime, owners: OnceCell::new() }
    }

    /// The root the scan started at.
    pub fn root(&self) -> &Path {
        match self.place {
            Place::FunctionSource(function) => &function.function_dir,
            Place::Artifact { artifact, .. } => artifact,
            Place::Directory { root, .. } => root,
            Place::Zip { extracted, .. } => extracted,
        }
    }

    /// For a zip package: the zip as a shell word and the entry's name in it.
    pub fn zip_entry(&self, path: &Path) -> Option<(String, String)> {
        let Place::Zip { extracted, zip } = self.place else { return None };
        let entry = path.strip_prefix(extracted).ok()?;
        Some((crate::sys::quote::shell(Path::new(zip)), crate::sys::quote::shell(entry)))
    }

    /// A path as findings show it: relative to the repository (or, for `--dir`, to where the
    /// command ran).
    pub fn shown(&self, path: &Path) -> String {
        let base = match self.place {
            Place::FunctionSource(function) | Place::Artifact { function, .. } => &function.repo_root,
            Place::Directory { shown_from, .. } => shown_from,
            Place::Zip { extracted, zip } => {
                let entry = path.strip_prefix(extracted).unwrap_or(path);
                return format!("{zip}!/{}", crate::sys::quote::escaped_path(entry));
            }
        };
        crate::sys::quote::escaped_path(path.strip_prefix(base).unwrap_or(path))
    }

    /// A path as a printed command names it: one shell word, pasteable into bash.
    pub fn shell(&self, path: &Path) -> String {
        let base = match self.place {
            Place::FunctionSource(function) | Place::Artifact { function, .. } => &function.repo_root,
            Place::Directory { shown_from, .. } => shown_from,
            Place::Zip { extracted, .. } => extracted,
        };
        crate::sys::quote::shell(path.strip_prefix(base).unwrap_or(path))
    }

    /// The distribution whose RECORD lists this file, if any. Read once, on first use: a
    /// clean tree never pays for it.
    pub fn owner(&self, path: &Path) -> Option<Owner> {
        let relative = path.strip_prefix(self.root()).ok()?.to_string_lossy().replace('\\', "/");
        if let Some(owner) = self.owners.get_or_init(|| load_owners(self.root())).get(&relative) {
            return Some(owner.clone());
        }
        // A dist-info's own files belong to it, RECORD or not.
        let dist_info = enclosing_dist_info(path)?;
        wheel::Installed::load(dist_info).ok().map(|installed| owner_of(&installed))
    }

    /// Where the file came from and how to get rid of it.
    pub fn remedy(&self, path: &Path) -> String {
        match self.place {
            Place::FunctionSource(function) => source_remedy(function, path),
            Place::Artifact { function, artifact } => {
                if let Some((copy_to, _)) = &function.copied_backend {
                    if path.starts_with(artifact.join(copy_to)) {
                        let in_function_dir = function.function_dir.join(path.strip_prefix(artifact).unwrap_or(path));
                        return source_remedy(function, &in_function_dir);
                    }
                }
                if let Some(remedy) = self.function_dir_origin(path) {
                    return remedy;
                }
                match self.owner(path) {
                    Some(owner) => format!(
                        "installed from {}: pin a version of {} that has a manylinux {} wheel for {} in {}/requirements.txt, and build in the Lambda image (cargo xtask lambda-build --container always)",
                        owner.describe(),
                        owner.name,
                        self.runtime.arch.machine(),
                        self.runtime.name,
                        self.shown(&function.function_dir)
                    ),
                    None => "rebuild in the Lambda image so every wheel is resolved for Linux: cargo xtask lambda-build --container always".to_string(),
                }
            }
            Place::Zip { zip, .. } => match self.owner(path) {
                Some(owner) => format!(
                    "installed from {}: {zip} is uploaded as it is, so rebuild it with the Linux wheel (pip install --only-binary=:all: --platform manylinux2014_{} --python-version 3.{} --target <dir> {}=={}, then zip <dir> again), or give the function a CodeUri directory with a requirements.txt so that sam builds it",
                    owner.describe(),
                    self.runtime.arch.machine(),
                    self.runtime.python_minor,
                    owner.name,
                    owner.version
                ),
                None => format!(
                    "{zip} is uploaded as it is: rebuild it from builds for {}, or give the function a CodeUri directory so that sam builds it",
                    self.runtime.describe()
                ),
            },
            Place::Directory { .. } => match self.owner(path) {
                Some(owner) => format!(
                    "installed from {}: reinstall it for Lambda, e.g. pip install --only-binary=:all: --platform manylinux2014_{} --python-version 3.{} --target <dir> {}=={}",
                    owner.describe(),
                    self.runtime.arch.machine(),
                    self.runtime.python_minor,
                    owner.name,
                    owner.version
                ),
                None => format!(
                    "remove it (rm -rf {}) or replace it with a build for {}",
                    self.shell(enclosing_dist_info(path).unwrap_or(path)),
                    self.runtime.describe()
                ),
            },
        }
    }
}

impl FileContext<'_> {
    /// Where a file of the function dir or the build output came from in the repository,
    /// when that is known: the backend source for the copied backend, the function dir for
    /// what sam copied from it.
    pub fn remedy_origin(&self, path: &Path) -> Option<PathBuf> {
        let (function, inside_function_dir) = match self.place {
            Place::FunctionSource(function) => (function, path.strip_prefix(&function.function_dir).ok()?),
            Place::Artifact { function, artifact } => (function, path.strip_prefix(artifact).ok()?),
            Place::Directory { .. } | Place::Zip { .. } => return None,
        };
        if let Some((copy_to, backend_src)) = &function.copied_backend {
            if let Ok(inside) = inside_function_dir.strip_prefix(copy_to) {
                return Some(function.repo_root.join(backend_src).join(inside));
            }
        }
        let in_function_dir = function.function_dir.join(inside_function_dir);
        std::fs::symlink_metadata(&in_function_dir).is_ok().then_some(in_function_dir)
    }

    /// When an artifact path comes from the function dir (sam copies it over the wheels it
    /// installs), how to remove it there.
    pub fn function_dir_origin(&self, path: &Path) -> Option<String> {
        let Place::Artifact { function, artifact } = self.place else {
            return None;
        };
        let first = path.strip_prefix(artifact).ok()?.components().next()?;
        let in_function_dir = function.function_dir.join(first);
        let function_dir_origin = std::fs::symlink_metadata(&in_function_dir).is_ok()
            && !["requirements.txt", "handler.py"].contains(&first.as_os_str().to_str().unwrap_or_default());
        function_dir_origin.then(|| {
            format!(
                "it comes from the function dir, which sam copies over the wheels it installs: rm -rf {} (cargo xtask lambda-build's clean step does it), then rebuild",
                self.shell(&in_function_dir)
            )
        })
    }
}

fn source_remedy(function: &FunctionSource, path: &Path) -> String {
    format!(
        "{}; depend on the package through requirements.txt instead, so sam installs its Linux wheel",
        super::source::stale_fix(function, path)
    )
}

fn load_owners(root: &Path) -> HashMap<String, Owner> {
    let mut owners = HashMap::new();
    // Unreadable metadata only costs the fix its detail; the finding stands without it.
    for installed in wheel::installed(root).unwrap_or_default() {
        let owner = owner_of(&installed);
        for entry in installed.record().unwrap_or_default() {
            owners.insert(entry.path, owner.clone());
        }
    }
    owners
}

fn owner_of(installed: &wheel::Installed) -> Owner {
    Owner {
        name: installed.name.clone(),
        version: installed.version.clone(),
        tags: installed.wheel.as_ref().map(|w| w.tag_lines.clone()).unwrap_or_default(),
        dist_info: installed.dist_info.clone(),
    }
}

/// The `*.dist-info` dir a path is or lies in.
fn enclosing_dist_info(path: &Path) -> Option<&Path> {
    path.ancestors().take(2).find(|p| p.extension().is_some_and(|e| e == "dist-info"))
}

/// A dotted module name for an extension module file, e.g. `pydantic_core/_pydantic_core
/// .cpython-312-x86_64-linux-gnu.so` -> `pydantic_core._pydantic_core`.
pub fn module_name(root: &Path, path: &Path) -> String {
    let relative: PathBuf = path.strip_prefix(root).unwrap_or(path).to_path_buf();
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if let Some(last) = parts.last_mut() {
        *last = last.split('.').next().unwrap_or_default().to_string();
    }
    parts.join(".")
}
