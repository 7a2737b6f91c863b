//! A function or layer whose CodeUri or ContentUri is a `.zip`: sam builds none (it skips code
//! that ends in `.zip`) and `sam deploy` uploads the file as it is, so nothing this tool builds
//! or cleans reaches it. What can be judged is judged on its entries: the handler module (or
//! the script an exec wrapper runs) is in it, no entry leaves the package, the unzipped size is
//! within Lambda's limit, and the file-level guards (platform-binary, python-abi, secret-file)
//! hold, read from a copy of the entries in a temporary directory of this tool's own. Nothing
//! is smoke-tested: the caller says so in a notice.

use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

use super::files::{FileContext, Place};
use super::{abi, platform, scan, secrets, source, Finding};
use crate::project::runtime::LambdaRuntime;
use crate::sys::zip_archive::open;

/// Findings on the zip itself, beside those of the file-level guards on its entries.
pub const GUARD: &str = "zip-package";

/// Lambda's limit on a package's unzipped size (CreateFunction: "Unzipped size must be
/// smaller than 262144000 bytes").
pub const UNZIPPED_LIMIT: u64 = 262_144_000;

/// How a function in the zip starts: the module file and attribute Lambda's Python runtime
/// imports, or a script an exec wrapper runs.
#[derive(Debug, Clone, Copy)]
pub struct EntryPoint<'a> {
    /// `app.py`, or the script's path.
    pub file: &'a str,
    pub attribute: &'a str,
    pub script: bool,
}

/// What the zip's check found: findings, and notices (what is not a defect but worth saying).
#[derive(Debug, Default)]
pub struct ZipReport {
    pub findings: Vec<Finding>,
    pub notices: Vec<String>,
}

/// Checks the zip at `zip` (shown as `zip_shown`) for `runtime`; `entry` for a function,
/// `None` for a layer.
pub fn check(zip: &Path, zip_shown: &str, runtime: &LambdaRuntime, entry: Option<EntryPoint>) -> Result<ZipReport> {
    let temp = tempfile::tempdir().context("creating a temporary directory for the zip's entries")?;
    let extracted = temp.path().join("package");
    fs::create_dir(&extracted).with_context(|| format!("creating {}", extracted.display()))?;
    let mut report = ZipReport::default();
    extract(zip, zip_shown, &extracted, &mut report)?;

    let scan = scan::scan(&extracted)?;
    let ctx = FileContext::new(Place::Zip { extracted: &extracted, zip: zip_shown }, runtime);
    let (own, installed) = secrets::split_installed(&scan.secrets, &ctx);
    report.findings.extend(secrets::findings(&own, &ctx));
    report.notices.extend(installed.iter().map(|secret| secrets::installed_notice(secret, &ctx, None)));
    report.findings.extend(platform::check(&scan, &ctx));
    report.findings.extend(abi::check(&scan, &ctx));
    match entry {
        Some(entry) if entry.script => report.findings.extend(script(&extracted, &ctx, entry.file)),
        Some(entry) => report.findings.extend(handler_module(&extracted, &ctx, entry)),
        None => {
            if !extracted.join("python").is_dir() {
                report.notices.push(format!(
                    "notice: {zip_shown} has no python/ directory: Lambda puts a layer's python/ (and python/lib/python3.X/site-packages) on sys.path, so Python modules elsewhere in it are not importable"
                ));
            }
        }
    }
    Ok(report)
}

/// Copies the zip's regular files into `into`, with their execute bits; an entry that would
/// land outside the package, a package over Lambda's unzipped limit or an encrypted entry is a
/// finding; what cannot be read (a compression method this tool lacks) is named in a notice.
/// Symlinks are not followed nor copied.
fn extract(zip: &Path, zip_shown: &str, into: &Path, report: &mut ZipReport) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut archive = open(zip)?;
    let mut total: u64 = 0;
    let mut links = Vec::new();
    for index in 0..archive.len() {
        let name = archive.name_for_index(index).and_then(|n| n.ok()).map(|n| n.into_owned()).unwrap_or_default();
        let mut entry = match archive.by_index(index) {
            Ok(entry) => entry,
            Err(err) => {
                report.notices.push(format!("notice: {zip_shown}!/{name} cannot be read here ({err}): not guarded"));
                continue;
            }
        };
        let Some(relative) = entry.enclosed_name().map(|p| normalized(&p)) else {
            report.findings.push(Finding::new(
                GUARD,
                format!("{zip_shown}!/{name}"),
                "an entry whose path leaves the package (absolute, or through ..)",
                "Lambda unpacks the package into /var/task: such an entry is refused or lands where the runtime never looks",
                format!("rebuild {zip_shown} with paths relative to the package root"),
            ));
            continue;
        };
        if entry.is_dir() {
            fs::create_dir_all(into.join(&relative)).with_context(|| format!("unpacking {name}"))?;
            continue;
        }
        if entry.is_symlink() {
            links.push(name);
            continue;
        }
        total = total.saturating_add(entry.size());
        if total > UNZIPPED_LIMIT {
            report.findings.push(Finding::new(
                GUARD,
                zip_shown.to_string(),
                format!("unzipped, the package is over Lambda's limit of {UNZIPPED_LIMIT} bytes"),
                "CreateFunction/UpdateFunctionCode fails: Unzipped size must be smaller than 262144000 bytes",
                format!("make {zip_shown} smaller (move dependencies to a layer, or use a container image)"),
            ));
            return Ok(());
        }
        let target = into.join(&relative);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).with_context(|| format!("unpacking {name}"))?;
        }
        let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0).min(1 << 24));
        // At most the declared size and one byte: a lying header cannot fill the disk.
        let declared = entry.size();
        if let Err(err) = (&mut entry).take(declared.saturating_add(1)).read_to_end(&mut bytes) {
            report.notices.push(format!("notice: {zip_shown}!/{name} cannot be read here ({err}): not guarded"));
            continue;
        }
        fs::write(&target, &bytes).with_context(|| format!("unpacking {name}"))?;
        let executable = entry.unix_mode().is_some_and(|mode| mode & 0o111 != 0);
        fs::set_permissions(&target, fs::Permissions::from_mode(if executable { 0o755 } else { 0o644 }))
            .with_context(|| format!("unpacking {name}"))?;
    }
    if !links.is_empty() {
        report.notices.push(format!(
            "notice: {zip_shown} holds {} symlink(s) ({}): not followed, and what they point to is not guarded",
            links.len(),
            links.join(", ")
        ));
    }
    Ok(())
}

/// `a/./b/../c` -> `a/c` (the entry is known to stay inside).
fn normalized(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// The handler module is in the zip (as source, bytecode or an extension module) and, as
/// source, defines the handler's attribute.
fn handler_module(extracted: &Path, ctx: &FileContext, entry: EntryPoint) -> Vec<Finding> {
    let module_file = extracted.join(entry.file);
    let stem = entry.file.trim_end_matches(".py");
    let module = stem.replace('/', ".");
    let package_init = extracted.join(stem).join("__init__.py");
    let source = [&module_file, &package_init].into_iter().find(|p| p.is_file());
    let compiled = extracted.join(format!("{stem}.pyc")).is_file() || extension_module(extracted, stem);
    match source {
        Some(source) => match crate::sys::beneath::read_to_string(source) {
            Ok(text) if !source::defines(&text, entry.attribute) => vec![Finding::new(
                source::MISSING_SOURCE,
                ctx.shown(source),
                format!("the handler module defines no `{}`", entry.attribute),
                format!("Runtime.HandlerNotFound: Handler '{}' missing on module", entry.attribute),
                format!("define `{}` in it and rebuild the zip, or fix Handler in the template", entry.attribute),
            )],
            _ => Vec::new(),
        },
        None if compiled => Vec::new(),
        None => vec![Finding::new(
            source::MISSING_SOURCE,
            ctx.shown(&module_file),
            format!("the template's Handler names module {module}, which the zip does not hold"),
            format!("Runtime.ImportModuleError: No module named '{module}'"),
            format!(
                "add {} at the zip's root (not inside a folder of the zip), or fix Handler in the template",
                entry.file
            ),
        )],
    }
}

/// An extension module for `stem` (`app.cpython-311-x86_64-linux-gnu.so`, `app.abi3.so`, `app.so`).
fn extension_module(extracted: &Path, stem: &str) -> bool {
    let path = extracted.join(stem);
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return false };
    let prefix = format!("{}.", name.to_string_lossy());
    fs::read_dir(dir).into_iter().flatten().flatten().any(|e| {
        let file = e.file_name().to_string_lossy().into_owned();
        file.starts_with(&prefix) && file.ends_with(".so")
    })
}

/// The script an exec wrapper runs: in the zip, and executable (Lambda unpacks the modes the
/// zip records).
fn script(extracted: &Path, ctx: &FileContext, file: &str) -> Vec<Finding> {
    let path = extracted.join(file);
    let Some(finding) = source::script_problem(&path, &ctx.shown(&path), file) else {
        return Vec::new();
    };
    let zip = match ctx.place {
        Place::Zip { zip, .. } => zip,
        _ => "the zip",
    };
    let fix = format!("rebuild {zip} with {file} executable (chmod +x {file} before zipping: zip records the mode)");
    vec![Finding { fix, ..finding }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::zip_archive::entry_names;
    use std::io::Write;

    /// A zip of (name, bytes, unix mode) written with the zip crate.
    fn zip(entries: &[(&str, &[u8], u32)]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("code.zip");
        let mut writer = zip::ZipWriter::new(fs::File::create(&path).unwrap());
        for (name, bytes, mode) in entries {
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored)
                .unix_permissions(*mode);
            writer.start_file(*name, options).unwrap();
            writer.write_all(bytes).unwrap();
        }
        writer.finish().unwrap();
        (dir, path)
    }

    fn runtime() -> LambdaRuntime {
        LambdaRuntime::new("python3.11", "x86_64").unwrap()
    }

    fn guards(report: &ZipReport) -> Vec<(&str, &str)> {
        report.findings.iter().map(|f| (f.guard, f.path.as_str())).collect()
    }

    #[test]
    fn a_sound_zip_passes_and_its_entries_are_named() {
        let (_dir, path) = zip(&[("app.py", b"def handler(event, context):\n    return {}\n", 0o644)]);
        assert_eq!(entry_names(&path).unwrap(), ["app.py"]);
        let entry = EntryPoint { file: "app.py", attribute: "handler", script: false };
        let report = check(&path, "fn/code.zip", &runtime(), Some(entry)).unwrap();
        assert!(report.findings.is_empty(), "{:?}", report.findings);
    }

    #[test]
    fn a_missing_module_a_windows_dll_and_a_key_are_findings() {
        let (_dir, path) = zip(&[
            ("src/app.py", b"def handler(e, c): pass\n", 0o644),
            ("native.pyd", b"MZ\x90\x00", 0o644),
            ("deploy/id_rsa", b"-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n", 0o600),
        ]);
        let entry = EntryPoint { file: "app.py", attribute: "handler", script: false };
        let report = check(&path, "fn/code.zip", &runtime(), Some(entry)).unwrap();
        let found = guards(&report);
        assert!(found.contains(&("missing-source", "fn/code.zip!/app.py")), "{found:?}");
        assert!(found.contains(&("platform-binary", "fn/code.zip!/native.pyd")), "{found:?}");
        assert!(found.contains(&("secret-file", "fn/code.zip!/deploy/id_rsa")), "{found:?}");
        let key = report.findings.iter().find(|f| f.guard == "secret-file").unwrap();
        assert!(key.fix.contains("zip -d fn/code.zip deploy/id_rsa"), "{}", key.fix);
    }

    #[test]
    fn a_script_must_be_executable_in_the_zip() {
        let entry = EntryPoint { file: "run.sh", attribute: "", script: true };
        let (_dir, path) = zip(&[("run.sh", b"#!/bin/sh\nexec python app.py\n", 0o755)]);
        assert!(check(&path, "code.zip", &runtime(), Some(entry)).unwrap().findings.is_empty());
        let (_dir, path) = zip(&[("run.sh", b"#!/bin/sh\nexec python app.py\n", 0o644)]);
        let report = check(&path, "code.zip", &runtime(), Some(entry)).unwrap();
        assert_eq!(guards(&report), [("missing-source", "code.zip!/run.sh")]);
        assert!(report.findings[0].fix.contains("chmod +x run.sh before zipping"), "{}", report.findings[0].fix);
    }

    #[test]
    fn an_entry_leaving_the_package_is_a_finding_and_nothing_is_written_outside() {
        let (dir, path) = zip(&[("../escape.py", b"x = 1\n", 0o644), ("app.py", b"def handler(e, c): pass\n", 0o644)]);
        let entry = EntryPoint { file: "app.py", attribute: "handler", script: false };
        let report = check(&path, "code.zip", &runtime(), Some(entry)).unwrap();
        assert_eq!(guards(&report), [("zip-package", "code.zip!/../escape.py")]);
        assert!(!dir.path().join("escape.py").exists());
    }

    #[test]
    fn a_file_that_is_no_zip_is_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("code.zip");
        fs::write(&path, "not a zip").unwrap();
        let err = entry_names(&path).unwrap_err();
        assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
    }
}
