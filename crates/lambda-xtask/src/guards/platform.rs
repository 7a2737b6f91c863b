//! Guard `platform-binary`: every native file must be a Linux ELF for the function's
//! architecture, decided by its header bytes, so a renamed file cannot pass.
//!
//! This is seed issue 6: packages installed on a Mac or a Windows box were copied into the
//! function dir, sam shipped them instead of Linux wheels, and Lambda failed with
//! `'os' has no attribute 'add_dll_directory'` (delvewheel's patch in a Windows
//! psycopg2-binary). sam copies the function dir over the wheels it installs and drops `*.so`
//! from that copy, but keeps `*.pyd`, `*.dll` and `*.dist-info`, so the build output mixes
//! both.

use super::abi::{judge_tags, TagVerdict};
use super::files::FileContext;
use super::scan::{elf_machine_name, Format, Scan};
use super::Finding;
use crate::project::runtime::LambdaRuntime;

pub const GUARD: &str = "platform-binary";

const WINDOWS_SYMPTOM: &str = "Lambda runs Linux: a Windows binary never loads (ImportError), and a delvewheel-patched package fails at import with 'os' has no attribute 'add_dll_directory'";
const MACOS_SYMPTOM: &str =
    "Lambda runs Linux: a macOS binary fails at import with 'invalid ELF header' (packages installed on a Mac)";

fn foreign_wheel_symptom(tag_lines: &[String], runtime: &crate::project::runtime::LambdaRuntime) -> String {
    if tag_lines.iter().any(|t| t.contains("win")) {
        WINDOWS_SYMPTOM.to_string()
    } else if tag_lines.iter().any(|t| t.contains("macosx")) {
        MACOS_SYMPTOM.to_string()
    } else if tag_lines.iter().any(|t| t.contains("musllinux")) {
        "ImportError at the first import: musllinux binaries need musl libc, and Lambda's Linux uses glibc".to_string()
    } else {
        format!(
            "ImportError at the first import: its binaries are for another architecture than {}",
            runtime.arch.template_name()
        )
    }
}

/// ELF OS ABI values a Linux loader accepts: System V (0) and GNU/Linux (3).
const LINUX_OS_ABIS: [u8; 2] = [0, 3];

pub fn check(scan: &Scan, ctx: &FileContext) -> Vec<Finding> {
    let runtime = ctx.runtime;
    let wanted = format!("64-bit little-endian Linux ELF for {}", elf_machine_name(runtime.arch.elf_machine()));
    let mut findings = Vec::new();
    for binary in &scan.binaries {
        let path = &binary.path;
        let Some((problem, symptom)) = foreign_binary(&binary.format, runtime, &wanted) else {
            continue;
        };
        findings.push(Finding::new(GUARD, ctx.shown(path), problem, symptom, ctx.remedy(path)));
    }
    for path in &scan.delvewheel_patched {
        findings.push(Finding::new(
            GUARD,
            ctx.shown(path),
            "carries a `# start delvewheel patch` block: this package was installed from a Windows wheel",
            "AttributeError: module 'os' has no attribute 'add_dll_directory' at import",
            ctx.remedy(path),
        ));
    }
    for (path, wheel) in &scan.wheels {
        if judge_tags(&wheel.tags, runtime) == TagVerdict::ForeignPlatform {
            findings.push(Finding::new(
                GUARD,
                ctx.shown(path),
                format!(
                    "installed from a wheel built for {}; the function runs {}",
                    wheel.tag_lines.join(", "),
                    runtime.describe()
                ),
                foreign_wheel_symptom(&wheel.tag_lines, runtime),
                ctx.remedy(path),
            ));
        }
    }
    for (path, err) in &scan.unreadable {
        findings.push(Finding::new(
            GUARD,
            ctx.shown(path),
            format!("could not be read ({err}), so nothing vouches that it is a Linux binary"),
            "sam would fail to package it, or ship a file nobody checked",
            format!("fix its permissions or remove it: {}", ctx.remedy(path)),
        ));
    }
    findings
}

/// What is wrong with a binary a Linux loader would not load for this runtime (problem,
/// symptom); `None` when it would load it.
fn foreign_binary(format: &Format, runtime: &LambdaRuntime, wanted: &str) -> Option<(String, String)> {
    let judged = match format {
        Format::Elf { bits, little_endian, machine, os_abi, .. } => {
            if *bits == 64 && *little_endian && *machine == runtime.arch.elf_machine() && LINUX_OS_ABIS.contains(os_abi)
            {
                return None;
            }
            let os =
                if LINUX_OS_ABIS.contains(os_abi) { String::new() } else { format!(", OS ABI {os_abi} (not Linux)") };
            let order = if *little_endian { "" } else { " big-endian" };
            (
                format!(
                    "{bits}-bit{order} ELF for {}{os}; the function runs {} and needs a {wanted}",
                    elf_machine_name(*machine),
                    runtime.describe()
                ),
                format!(
                    "ImportError at the first import: cannot open shared object file or wrong ELF class (Architectures in the template is {})",
                    runtime.arch.template_name()
                ),
            )
        }
        Format::Pe { bits } => (
            format!(
                "Windows PE{} binary (DLL/PYD), whatever its name; Lambda needs a {wanted}",
                if *bits == 64 { "32+" } else { "32" }
            ),
            WINDOWS_SYMPTOM.to_string(),
        ),
        Format::MachO { arches, fat } => (
            format!(
                "macOS Mach-O{} binary ({}), whatever its name; Lambda needs a {wanted}",
                if *fat { " universal (fat)" } else { "" },
                if arches.is_empty() { "unknown arch".to_string() } else { arches.join(", ") }
            ),
            MACOS_SYMPTOM.to_string(),
        ),
        Format::Broken { claimed, detail } => (
            format!("{claimed} binary that is cut short or corrupt: {detail}"),
            "ImportError at the first import: the loader rejects it (file too short / invalid header)".to_string(),
        ),
        Format::NotBinary { detail } => (
            format!("named like a native library but holds no binary ({detail})"),
            "ImportError at the first import: invalid ELF header / file too short".to_string(),
        ),
    };
    Some(judged)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::guards::files::Place;
    use crate::guards::scan::{scan, tests::write};
    use crate::project::runtime::LambdaRuntime;
    use test_wheels::{self as wheels, *};

    fn findings(root: &Path, runtime: &LambdaRuntime) -> Vec<Finding> {
        let scan = scan(root).unwrap();
        check(&scan, &FileContext::new(Place::Directory { root, shown_from: root }, runtime))
    }

    fn x86_64() -> LambdaRuntime {
        LambdaRuntime::new("python3.11", "x86_64").unwrap()
    }

    #[test]
    fn windows_psycopg2_is_flagged_file_by_file_with_the_seed_symptom() {
        let dir = tempfile::tempdir().unwrap();
        wheels::install_into(PSYCOPG2_WINDOWS, dir.path());
        let found = findings(dir.path(), &x86_64());
        let paths: Vec<&str> = found.iter().map(|f| f.path.as_str()).collect();
        assert!(paths.contains(&"psycopg2/_psycopg.cp311-win_amd64.pyd"), "{paths:?}");
        assert_eq!(paths.iter().filter(|p| p.starts_with("psycopg2_binary.libs/") && p.ends_with(".dll")).count(), 3);
        assert!(paths.contains(&"psycopg2/__init__.py"), "delvewheel patch not flagged: {paths:?}");
        assert!(paths.contains(&"psycopg2_binary-2.9.11.dist-info/WHEEL"), "{paths:?}");
        assert_eq!(found.len(), 6, "{found:#?}");
        assert!(found.iter().all(|f| f.guard == GUARD && f.symptom.contains("add_dll_directory")));
        let pyd = found.iter().find(|f| f.path.ends_with(".pyd")).unwrap();
        assert!(pyd.problem.contains("Windows PE32+"), "{}", pyd.problem);
        assert!(pyd.fix.contains("psycopg2-binary 2.9.11 (wheel cp311-cp311-win_amd64)"), "{}", pyd.fix);
    }

    #[test]
    fn macos_and_aarch64_builds_fail_an_x86_64_function_and_pass_an_arm64_one() {
        let dir = tempfile::tempdir().unwrap();
        wheels::install_into(PYDANTIC_CORE_MACOS_ARM64, &dir.path().join("mac"));
        wheels::install_into(PYDANTIC_CORE_LINUX_AARCH64, &dir.path().join("arm"));
        let found = findings(dir.path(), &x86_64());
        let mac = found.iter().find(|f| f.path.ends_with("cpython-311-darwin.so")).expect("macOS .so flagged");
        assert!(mac.problem.contains("Mach-O") && mac.symptom.contains("invalid ELF header"), "{mac:?}");
        let arm = found.iter().find(|f| f.path.ends_with("aarch64-linux-gnu.so")).expect("aarch64 .so flagged");
        assert!(arm.problem.contains("ELF for aarch64") && arm.problem.contains("x86-64"), "{}", arm.problem);
        assert!(found.iter().any(|f| f.path == "arm/pydantic_core-2.23.4.dist-info/WHEEL"));

        let on_arm64 = findings(&dir.path().join("arm"), &LambdaRuntime::new("python3.11", "arm64").unwrap());
        assert_eq!(on_arm64, [], "an aarch64 manylinux wheel is right for an arm64 function");
    }

    #[test]
    fn linux_x86_64_wheel_passes() {
        let dir = tempfile::tempdir().unwrap();
        wheels::install_into(PYDANTIC_CORE_LINUX_X86_64, dir.path());
        assert_eq!(findings(dir.path(), &x86_64()), []);
    }

    #[test]
    fn renamed_fat_and_broken_binaries_are_flagged() {
        let dir = tempfile::tempdir().unwrap();
        let real = tempfile::tempdir().unwrap();
        wheels::extract_member(PSYCOPG2_WINDOWS, ".pyd", &real.path().join("w.pyd"));
        wheels::extract_member(PYDANTIC_CORE_MACOS_ARM64, ".so", &real.path().join("m.so"));
        let pe = std::fs::read(real.path().join("w.pyd")).unwrap();
        let thin = std::fs::read(real.path().join("m.so")).unwrap();
        write(&dir.path().join("fast/_speedups.cpython-311-x86_64-linux-gnu.so"), &pe);
        write(&dir.path().join("fast/_universal.so"), &crate::guards::scan::tests::fat_macho(&thin));
        write(&dir.path().join("fast/_empty.so"), b"");

        let found = findings(dir.path(), &x86_64());

        let problem = |suffix: &str| found.iter().find(|f| f.path.ends_with(suffix)).map(|f| f.problem.clone());
        assert!(problem("_speedups.cpython-311-x86_64-linux-gnu.so").unwrap().contains("Windows PE32+"));
        assert!(problem("_universal.so").unwrap().contains("universal (fat) binary (x86_64, arm64)"));
        assert!(problem("_empty.so").unwrap().contains("holds no binary (empty file)"));
        assert_eq!(found.len(), 3);
    }
}
