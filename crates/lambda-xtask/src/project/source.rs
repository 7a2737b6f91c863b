//! A function's source as the pre-build guards read it (see `guards::source`): where it is,
//! what is copied into it, and which file and attribute its Handler names.

use std::path::{Path, PathBuf};

/// What the pre-build guards need to know about one function.
#[derive(Debug, Clone)]
pub struct FunctionSource {
    pub repo_root: PathBuf,
    /// Absolute.
    pub function_dir: PathBuf,
    /// The copied backend's name inside the function dir and where it comes from (relative
    /// to the repository), when the function has one.
    pub copied_backend: Option<(String, PathBuf)>,
    /// e.g. `handler.py`, from the template's Handler.
    pub handler_file: String,
    pub handler_attribute: String,
    /// The Handler is a script an exec wrapper runs (`handler_file` is its path): it must be
    /// an executable file, and nothing is imported.
    pub script: bool,
}

impl FunctionSource {
    /// A path as findings show it: relative to the repository, on one line (see
    /// [`crate::sys::quote::escaped`]).
    pub fn shown(&self, path: &Path) -> String {
        crate::sys::quote::escaped_path(path.strip_prefix(&self.repo_root).unwrap_or(path))
    }

    /// A path as a printed command names it: one shell word, pasteable into bash.
    pub fn shell(&self, path: &Path) -> String {
        crate::sys::quote::shell(path.strip_prefix(&self.repo_root).unwrap_or(path))
    }
}
