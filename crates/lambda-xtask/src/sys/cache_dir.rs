//! Where the per-user tool cache is: shared by the provisioned tools and the interpreter
//! probes, which the tools' module itself depends on.

use std::path::PathBuf;

use anyhow::Result;

use crate::bad_input;

/// The per-user cache: `$LAMBDA_XTASK_CACHE`, else `$XDG_CACHE_HOME/lambda-xtask`, else
/// `~/.cache/lambda-xtask`.
pub fn cache_root() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("LAMBDA_XTASK_CACHE").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("lambda-xtask"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".cache").join("lambda-xtask")),
        None => bad_input!(
            "neither HOME nor XDG_CACHE_HOME is set: set LAMBDA_XTASK_CACHE to a directory for the tool cache"
        ),
    }
}
