//! Reading a `.zip` a template names (a CodeUri or ContentUri): opened through the filesystem
//! layer, a file that is no zip is bad input.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use crate::bad_input;

/// The names of the zip's regular files, for discovery (is the Handler a file of it?). A file
/// that is no zip is bad input: sam would upload it, and Lambda refuse it.
pub fn entry_names(zip: &Path) -> Result<Vec<String>> {
    let mut archive = open(zip)?;
    let mut names = Vec::new();
    for index in 0..archive.len() {
        let Ok(entry) = archive.by_index_raw(index) else { continue };
        if entry.is_file() {
            if let Some(name) = entry.enclosed_name() {
                names.push(name.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    Ok(names)
}

pub fn open(zip: &Path) -> Result<zip::ZipArchive<fs::File>> {
    let file = crate::sys::beneath::open_regular(zip).with_context(|| format!("opening {}", zip.display()))?;
    match zip::ZipArchive::new(file) {
        Ok(archive) => Ok(archive),
        Err(err) => bad_input!(
            "{} is not a zip archive Lambda can read ({err}): rebuild it, or point CodeUri at a directory",
            zip.display()
        ),
    }
}
