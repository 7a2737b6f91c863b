//! Guard `python-abi`: code built for another CPython than the runtime's, or for a newer glibc
//! than the runtime's OS has.
//!
//! - Extension modules are imported only under the suffixes the runtime's CPython knows
//!   (`.cpython-311-x86_64-linux-gnu.so`, `.abi3.so`, `.so`): a `.cpython-312-...so` is never
//!   found, and the import fails.
//! - A wheel's tags (`cp312`, `manylinux_2_28`) say what it was built for.
//! - An ELF's version-needs table says which glibc it needs (`GLIBC_2.34`): a wheel built from
//!   source on a newer Linux than the runtime's fails to load there.

use std::path::Path;

use super::files::{module_name, FileContext};
use super::scan::{Format, Scan};
use super::Finding;
use crate::project::runtime::{Glibc, LambdaRuntime};
use crate::python::wheel::Tag;

pub const GUARD: &str = "python-abi";

/// What a wheel's tags say about a runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagVerdict {
    /// At least one tag fits entirely.
    Compatible,
    /// No tag is for Linux on the function's architecture.
    ForeignPlatform,
    /// Linux tags exist, but none for the runtime's CPython.
    ForeignInterpreter,
    /// Fits, but only with a newer glibc than the runtime has (the oldest one it accepts).
    GlibcTooNew(Glibc),
}

/// The glibc a platform tag needs when it is for Linux on `machine`: `Some(None)` for
/// `any` and `linux_<machine>` (no stated floor), `None` for another OS or arch.
pub fn linux_platform(platform: &str, machine: &str) -> Option<Option<Glibc>> {
    if platform == "any" || platform == format!("linux_{machine}") {
        return Some(None);
    }
    let rest = platform.strip_prefix("manylinux")?;
    let legacy = |name: &str, glibc: Glibc| (rest == format!("{name}_{machine}")).then_some(glibc);
    if let Some(glibc) = legacy("1", Glibc(2, 5)).or(legacy("2010", Glibc(2, 12))).or(legacy("2014", Glibc(2, 17))) {
        return Some(Some(glibc));
    }
    let version = rest.strip_prefix('_')?.strip_suffix(machine)?.strip_suffix('_')?;
    Glibc::parse(version).map(Some)
}

/// True when the python and ABI parts of a tag fit the runtime's CPython 3.minor.
pub fn interpreter_fits(tag: &Tag, minor: u32) -> bool {
    let python_minor = |prefix: &str| -> Option<Option<u32>> {
        let digits = tag.python.strip_prefix(prefix)?;
        if digits == "3" {
            return Some(None);
        }
        digits.strip_prefix('3').and_then(|m| m.parse().ok()).map(Some)
    };
    match tag.abi.as_str() {
        "none" => match (python_minor("py"), python_minor("cp")) {
            (Some(None), _) => true,
            (Some(Some(m)), _) | (_, Some(Some(m))) => m <= minor,
            _ => false,
        },
        "abi3" => matches!(python_minor("cp"), Some(Some(m)) if m <= minor),
        abi => abi == format!("cp3{minor}") && tag.python == abi,
    }
}

pub fn judge_tags(tags: &[Tag], runtime: &LambdaRuntime) -> TagVerdict {
    if tags.is_empty() {
        return TagVerdict::Compatible;
    }
    let machine = runtime.arch.machine();
    let on_platform: Vec<(&Tag, Option<Glibc>)> =
        tags.iter().filter_map(|t| linux_platform(&t.platform, machine).map(|g| (t, g))).collect();
    if on_platform.is_empty() {
        return TagVerdict::ForeignPlatform;
    }
    let fitting: Vec<Option<Glibc>> =
        on_platform.iter().filter(|(t, _)| interpreter_fits(t, runtime.python_minor)).map(|(_, g)| *g).collect();
    if fitting.is_empty() {
        return TagVerdict::ForeignInterpreter;
    }
    if fitting.iter().any(|g| g.is_none_or(|g| g <= runtime.glibc)) {
        return TagVerdict::Compatible;
    }
    TagVerdict::GlibcTooNew(fitting.iter().flatten().min().copied().unwrap_or(runtime.glibc))
}

/// The interpreter tag in an extension module's file name (`cpython-312-x86_64-linux-gnu`),
/// when it names one.
fn extension_tag(file_name: &str) -> Option<&str> {
    let stem = file_name.strip_suffix(".so")?;
    let (_, tag) = stem.rsplit_once('.')?;
    (tag.starts_with("cpython-") || tag.starts_with("pypy") || tag.starts_with("graalpy")).then_some(tag)
}

/// True when Python never needs this extension module: a pure-Python module of the same name
/// beside it (charset_normalizer's `md.py` beside `md.cpython-311-x86_64-linux-gnu.so`) is
/// what a CPython whose suffix does not match imports instead.
fn falls_back(path: &Path) -> bool {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return false;
    };
    let module = name.split('.').next().unwrap_or(name);
    dir.join(format!("{module}.py")).is_file() || dir.join(module).join("__init__.py").is_file()
}

/// mypyc's shared runtime (`md__mypyc.cpython-311-...so`, `<hash>__mypyc...so`): imported only
/// by the modules mypyc compiled, never by Python code.
fn is_mypyc_runtime(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name.split('.').next().is_some_and(|module| module.ends_with("__mypyc"))
}

/// The extension modules for another CPython that the runtime does import: those without a
/// pure-Python fallback, and mypyc's runtime when a module it serves has none.
fn needed_foreign_extensions<'a>(foreign: &[&'a Path]) -> Vec<&'a Path> {
    let compiled_without_fallback = foreign.iter().any(|p| !is_mypyc_runtime(p) && !falls_back(p));
    foreign
        .iter()
        .copied()
        .filter(|p| match is_mypyc_runtime(p) {
            true => compiled_without_fallback,
            false => !falls_back(p),
        })
        .collect()
}

/// For a wheel built for another CPython: true when every extension module it installed falls
/// back to pure Python on the runtime (its RECORD says which files are its own).
fn wheel_falls_back(wheel_file: &Path, runtime: &LambdaRuntime) -> bool {
    let Some(dist_info) = wheel_file.parent() else { return false };
    let Some(site) = dist_info.parent() else { return false };
    let Ok(record) = crate::sys::beneath::read_to_string(dist_info.join("RECORD")) else { return false };
    let wanted = format!("cpython-3{}-{}", runtime.python_minor, runtime.triplet());
    let extensions: Vec<std::path::PathBuf> = crate::python::wheel::parse_record(&record)
        .into_iter()
        .filter(|entry| extension_tag(entry.path.rsplit('/').next().unwrap_or_default()).is_some_and(|t| t != wanted))
        .map(|entry| site.join(&entry.path))
        .collect();
    let foreign: Vec<&Path> = extensions.iter().map(std::path::PathBuf::as_path).collect();
    !foreign.is_empty() && needed_foreign_extensions(&foreign).is_empty()
}

pub fn check(scan: &Scan, ctx: &FileContext) -> Vec<Finding> {
    let runtime = ctx.runtime;
    let mut findings = Vec::new();
    let wanted_tag = format!("cpython-3{}-{}", runtime.python_minor, runtime.triplet());
    let foreign: Vec<&Path> = scan
        .binaries
        .iter()
        .map(|b| b.path.as_path())
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
            extension_tag(&name).is_some_and(|tag| tag != wanted_tag)
        })
        .collect();
    let needed = needed_foreign_extensions(&foreign);
    for binary in &scan.binaries {
        let name = binary.path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        if let Some(tag) = extension_tag(&name) {
            if tag != wanted_tag && !needed.contains(&binary.path.as_path()) {
                // Never loaded: the runtime imports the pure-Python module beside it.
                continue;
            }
            if tag != wanted_tag {
                let module = module_name(&scan.root, &binary.path);
                findings.push(Finding::new(
                    GUARD,
                    ctx.shown(&binary.path),
                    format!(
                        "extension module built for {tag}; {} imports only {}",
                        runtime.name,
                        runtime.extension_suffixes().join(", ")
                    ),
                    format!("ModuleNotFoundError: No module named '{module}' at the first import, on a build that looked fine"),
                    format!("build it for {} ({}); {}", runtime.name, wanted_tag, ctx.remedy(&binary.path)),
                ));
                continue;
            }
        }
        if let Format::Elf { glibc: Some(needed), bits: 64, machine, .. } = &binary.format {
            if *machine == runtime.arch.elf_machine() && *needed > runtime.glibc {
                findings.push(glibc_finding(ctx, &binary.path, *needed));
            }
        }
    }
    for (path, wheel) in &scan.wheels {
        let tags = wheel.tag_lines.join(", ");
        match judge_tags(&wheel.tags, runtime) {
            TagVerdict::ForeignInterpreter if wheel_falls_back(path, runtime) => {}
            TagVerdict::ForeignInterpreter => findings.push(Finding::new(
                GUARD,
                ctx.shown(path),
                format!("installed from a wheel for another Python ({tags}); the function runs {}", runtime.name),
                "ImportError at the first import: its extension modules are built for another CPython ABI",
                format!("install the {} build: {}", runtime.name, ctx.remedy(path)),
            )),
            TagVerdict::GlibcTooNew(needed) => findings.push(Finding::new(
                GUARD,
                ctx.shown(path),
                format!(
                    "installed from a wheel that needs glibc {needed} ({tags}); {} runs on {} with glibc {}",
                    runtime.name, runtime.os, runtime.glibc
                ),
                format!("ImportError: /lib64/libc.so.6: version `GLIBC_{needed}' not found, at the first import"),
                format!("pin a version with a manylinux2014 (glibc 2.17) wheel; {}", ctx.remedy(path)),
            )),
            TagVerdict::Compatible | TagVerdict::ForeignPlatform => {}
        }
    }
    findings
}

fn glibc_finding(ctx: &FileContext, path: &Path, needed: Glibc) -> Finding {
    let runtime = ctx.runtime;
    Finding::new(
        GUARD,
        ctx.shown(path),
        format!(
            "needs glibc {needed} (GLIBC_{needed} symbols), newer than the glibc {} of {} under {}",
            runtime.glibc, runtime.os, runtime.name
        ),
        format!("ImportError: /lib64/libc.so.6: version `GLIBC_{needed}' not found, at the first import"),
        format!(
            "it was built on a newer Linux than the runtime: use a manylinux wheel or build in the Lambda image (cargo xtask lambda-build --container always); {}",
            ctx.remedy(path)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::wheel::expand_tag;

    fn py311() -> LambdaRuntime {
        LambdaRuntime::new("python3.11", "x86_64").unwrap()
    }

    fn verdict(tag: &str) -> TagVerdict {
        judge_tags(&expand_tag(tag), &py311())
    }

    #[test]
    fn tags_that_install_on_python311_x86_64_are_compatible() {
        for tag in [
            "py3-none-any",
            "py2.py3-none-any",
            "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
            "cp311-cp311-manylinux2014_x86_64",
            "cp38-abi3-manylinux_2_17_x86_64",
            "cp311-cp311-linux_x86_64",
            "cp311-cp311-manylinux_2_26_x86_64",
            "cp311-cp311-manylinux1_x86_64",
        ] {
            assert_eq!(verdict(tag), TagVerdict::Compatible, "{tag}");
        }
    }

    #[test]
    fn foreign_platform_interpreter_and_glibc_are_told_apart() {
        for tag in [
            "cp311-cp311-win_amd64",
            "cp311-cp311-macosx_11_0_arm64",
            "cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64",
            "cp311-cp311-musllinux_1_2_x86_64",
        ] {
            assert_eq!(verdict(tag), TagVerdict::ForeignPlatform, "{tag}");
        }
        for tag in
            ["cp312-cp312-manylinux_2_17_x86_64", "cp312-abi3-manylinux_2_17_x86_64", "cp311-cp311d-linux_x86_64"]
        {
            assert_eq!(verdict(tag), TagVerdict::ForeignInterpreter, "{tag}");
        }
        assert_eq!(verdict("cp311-cp311-manylinux_2_28_x86_64"), TagVerdict::GlibcTooNew(Glibc(2, 28)));
        let py312 = LambdaRuntime::new("python3.12", "x86_64").unwrap();
        assert_eq!(judge_tags(&expand_tag("cp312-cp312-manylinux_2_28_x86_64"), &py312), TagVerdict::Compatible);
    }

    #[test]
    fn extension_tags_are_read_from_file_names() {
        assert_eq!(
            extension_tag("_pydantic_core.cpython-312-x86_64-linux-gnu.so"),
            Some("cpython-312-x86_64-linux-gnu")
        );
        assert_eq!(extension_tag("_x.pypy39-pp73-x86_64-linux-gnu.so"), Some("pypy39-pp73-x86_64-linux-gnu"));
        assert_eq!(extension_tag("_speedups.abi3.so"), None);
        assert_eq!(extension_tag("libssl-81ffa89e.so.3"), None);
        assert_eq!(extension_tag("plain.so"), None);
    }
}

#[cfg(test)]
mod check_tests {
    use std::process::Command;

    use super::*;
    use crate::guards::files::Place;
    use crate::guards::scan::scan;
    use test_wheels::{self as wheels, *};

    fn findings(root: &Path, runtime: &str) -> Vec<Finding> {
        let runtime = LambdaRuntime::new(runtime, "x86_64").unwrap();
        let scan = scan(root).unwrap();
        check(&scan, &FileContext::new(Place::Directory { root, shown_from: root }, &runtime))
    }

    #[test]
    fn a_cp312_build_fails_python311_and_passes_python312() {
        let dir = tempfile::tempdir().unwrap();
        wheels::install_into(PYDANTIC_CORE_CP312_X86_64, dir.path());
        let found = findings(dir.path(), "python3.11");
        let paths: Vec<&str> = found.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            ["pydantic_core/_pydantic_core.cpython-312-x86_64-linux-gnu.so", "pydantic_core-2.23.4.dist-info/WHEEL"]
        );
        assert!(found[0].symptom.contains("No module named 'pydantic_core._pydantic_core'"), "{}", found[0].symptom);
        assert!(found[1].problem.contains("cp312-cp312-manylinux"), "{}", found[1].problem);
        assert_eq!(findings(dir.path(), "python3.12"), []);
    }

    #[test]
    fn the_right_cpython_build_passes() {
        let dir = tempfile::tempdir().unwrap();
        wheels::install_into(PYDANTIC_CORE_LINUX_X86_64, dir.path());
        assert_eq!(findings(dir.path(), "python3.11"), []);
    }

    #[test]
    fn manylinux_tag_newer_than_the_runtime_glibc_is_flagged() {
        let dir = tempfile::tempdir().unwrap();
        let dist = dir.path().join("fastlib-1.0.dist-info");
        std::fs::create_dir_all(&dist).unwrap();
        std::fs::write(dist.join("WHEEL"), "Wheel-Version: 1.0\nTag: cp38-abi3-manylinux_2_28_x86_64\n").unwrap();
        let found = findings(dir.path(), "python3.11");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].problem.contains("needs glibc 2.28") && found[0].problem.contains("glibc 2.26"));
        assert!(found[0].symptom.contains("GLIBC_2.28' not found"));
        assert!(found[0].fix.contains("fastlib 1.0 (wheel cp38-abi3-manylinux_2_28_x86_64)"), "{}", found[0].fix);
        assert_eq!(findings(dir.path(), "python3.12"), [], "python3.12 runs on glibc 2.34");
    }

    /// A library built from source on this machine, as a native `sam build` does for a
    /// package without a wheel: it needs this machine's glibc, which is newer than Lambda's.
    #[test]
    fn a_library_built_against_a_newer_glibc_is_flagged_from_its_version_needs() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("rand.c");
        // arc4random arrived in glibc 2.36; getrandom in 2.25 (older than Lambda's 2.26).
        std::fs::write(&source, "#include <stdlib.h>\nunsigned int pick(void) { return arc4random(); }\n").unwrap();
        let library = dir.path().join("tree/_rand.cpython-311-x86_64-linux-gnu.so");
        std::fs::create_dir_all(library.parent().unwrap()).unwrap();
        let status = Command::new("cc").args(["-shared", "-fPIC", "-o"]).arg(&library).arg(&source).status().unwrap();
        assert!(status.success(), "cc failed");

        let found = findings(&dir.path().join("tree"), "python3.11");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].problem.contains("needs glibc 2.36"), "{}", found[0].problem);
        assert!(found[0].symptom.contains("version `GLIBC_2.36' not found"));
        assert_eq!(findings(&dir.path().join("tree"), "python3.12").len(), 1, "2.36 is past python3.12's 2.34 too");
    }

    /// charset_normalizer's cp311 wheel: `md.cpython-311-x86_64-linux-gnu.so` beside `md.py`,
    /// and mypyc's runtime `md__mypyc...so`. On python3.12 the .so files are never imported.
    #[test]
    fn an_extension_for_another_cpython_beside_its_pure_python_fallback_is_no_break() {
        let dir = tempfile::tempdir().unwrap();
        wheels::install_into(CHARSET_NORMALIZER_CP311_X86_64, dir.path());
        assert!(dir.path().join("charset_normalizer/md.cpython-311-x86_64-linux-gnu.so").is_file());
        assert_eq!(findings(dir.path(), "python3.12"), []);
        assert_eq!(findings(dir.path(), "python3.11"), []);

        // Without its fallback, the module is needed, and so is mypyc's runtime.
        std::fs::remove_file(dir.path().join("charset_normalizer/md.py")).unwrap();
        let found = findings(dir.path(), "python3.12");
        let paths: Vec<&str> = found.iter().map(|f| f.path.as_str()).collect();
        assert!(paths.contains(&"charset_normalizer/md.cpython-311-x86_64-linux-gnu.so"), "{paths:?}");
        assert!(paths.contains(&"charset_normalizer/md__mypyc.cpython-311-x86_64-linux-gnu.so"), "{paths:?}");
        assert!(paths.iter().any(|p| p.ends_with(".dist-info/WHEEL")), "{paths:?}");
    }
}
