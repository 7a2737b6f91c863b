//! Real wheels from PyPI as test fixtures: downloaded with pip on first use and cached per user
//! (`$LAMBDA_XTASK_CACHE/test-wheels`, else `$XDG_CACHE_HOME/lambda-xtask/test-wheels`, else
//! `~/.cache/lambda-xtask/test-wheels`), never in the repository. Shared by the guards' unit
//! tests and the end-to-end tests, as a dev-dependency of the xtask.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One wheel as pip would pick it for a platform and Python version.
#[derive(Debug, Clone, Copy)]
pub struct WheelSpec {
    pub requirement: &'static str,
    pub platform: &'static str,
    pub python_version: &'static str,
}

/// The seed's wheel: delvewheel-patched, with `psycopg2_binary.libs/*.dll`.
pub const PSYCOPG2_WINDOWS: WheelSpec =
    WheelSpec { requirement: "psycopg2-binary==2.9.11", platform: "win_amd64", python_version: "3.11" };
pub const PYDANTIC_CORE_MACOS_ARM64: WheelSpec =
    WheelSpec { requirement: "pydantic-core==2.23.4", platform: "macosx_11_0_arm64", python_version: "3.11" };
pub const PYDANTIC_CORE_LINUX_AARCH64: WheelSpec =
    WheelSpec { requirement: "pydantic-core==2.23.4", platform: "manylinux_2_17_aarch64", python_version: "3.11" };
pub const PYDANTIC_CORE_LINUX_X86_64: WheelSpec =
    WheelSpec { requirement: "pydantic-core==2.23.4", platform: "manylinux_2_17_x86_64", python_version: "3.11" };
/// A CPython 3.12 build: wrong ABI under python3.11.
pub const PYDANTIC_CORE_CP312_X86_64: WheelSpec =
    WheelSpec { requirement: "pydantic-core==2.23.4", platform: "manylinux_2_17_x86_64", python_version: "3.12" };
/// Pure Python, requires boto3: the seed's way of bundling the AWS SDK.
pub const WATCHTOWER: WheelSpec =
    WheelSpec { requirement: "watchtower==3.3.1", platform: "manylinux2014_x86_64", python_version: "3.11" };
/// boto3 1.35.0 requires botocore>=1.35.0,<1.36.0 and s3transfer>=0.10.0,<0.11.0.
pub const BOTO3: WheelSpec =
    WheelSpec { requirement: "boto3==1.35.0", platform: "manylinux2014_x86_64", python_version: "3.11" };
pub const BOTOCORE_MATCHING: WheelSpec =
    WheelSpec { requirement: "botocore==1.35.0", platform: "manylinux2014_x86_64", python_version: "3.11" };
/// Outside boto3 1.35.0's pin: the mismatched set.
pub const BOTOCORE_MISMATCHED: WheelSpec =
    WheelSpec { requirement: "botocore==1.36.0", platform: "manylinux2014_x86_64", python_version: "3.11" };
pub const S3TRANSFER: WheelSpec =
    WheelSpec { requirement: "s3transfer==0.10.4", platform: "manylinux2014_x86_64", python_version: "3.11" };
/// botocore's own dependencies, so a bundled SDK set is complete.
pub const JMESPATH: WheelSpec =
    WheelSpec { requirement: "jmespath==1.0.1", platform: "manylinux2014_x86_64", python_version: "3.11" };
pub const DATEUTIL: WheelSpec =
    WheelSpec { requirement: "python-dateutil==2.9.0.post0", platform: "manylinux2014_x86_64", python_version: "3.11" };
pub const SIX: WheelSpec =
    WheelSpec { requirement: "six==1.16.0", platform: "manylinux2014_x86_64", python_version: "3.11" };
/// Pure Python; its `tracer` extra requires aws-xray-sdk, which requires botocore.
pub const POWERTOOLS: WheelSpec =
    WheelSpec { requirement: "aws-lambda-powertools==3.4.0", platform: "manylinux2014_x86_64", python_version: "3.11" };
pub const XRAY_SDK: WheelSpec =
    WheelSpec { requirement: "aws-xray-sdk==2.14.0", platform: "manylinux2014_x86_64", python_version: "3.11" };
/// mypyc-compiled for CPython 3.11 (`md.cpython-311-x86_64-linux-gnu.so`, `md__mypyc...so`),
/// with the pure-Python `md.py` beside it: what another CPython imports instead.
pub const CHARSET_NORMALIZER_CP311_X86_64: WheelSpec =
    WheelSpec { requirement: "charset-normalizer==3.4.0", platform: "manylinux2014_x86_64", python_version: "3.11" };
/// The SDK a python3.11-3.13 runtime ships (see the xtask's `guards::runtime_sdk`).
pub const RUNTIME_BOTO3: WheelSpec =
    WheelSpec { requirement: "boto3==1.38.36", platform: "manylinux2014_x86_64", python_version: "3.11" };
pub const RUNTIME_BOTOCORE: WheelSpec =
    WheelSpec { requirement: "botocore==1.38.36", platform: "manylinux2014_x86_64", python_version: "3.11" };
pub const RUNTIME_S3TRANSFER: WheelSpec =
    WheelSpec { requirement: "s3transfer==0.13.0", platform: "manylinux2014_x86_64", python_version: "3.11" };
/// Older than what the runtime's boto3 1.38.36 needs: `import boto3.s3.transfer` fails with
/// `cannot import name 'DEFAULT_CHECKSUM_ALGORITHM' from 'botocore.httpchecksum'`.
pub const BOTOCORE_1_35_72: WheelSpec =
    WheelSpec { requirement: "botocore==1.35.72", platform: "manylinux2014_x86_64", python_version: "3.11" };
pub const URLLIB3: WheelSpec =
    WheelSpec { requirement: "urllib3==1.26.20", platform: "manylinux2014_x86_64", python_version: "3.11" };

pub fn cache_dir() -> PathBuf {
    let root = if let Some(dir) = std::env::var_os("LAMBDA_XTASK_CACHE").filter(|d| !d.is_empty()) {
        PathBuf::from(dir)
    } else if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        PathBuf::from(dir).join("lambda-xtask")
    } else {
        PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache").join("lambda-xtask")
    };
    root.join("test-wheels")
}

/// The wheel file, downloaded with pip on first use. Concurrent tests serialise on a lock.
pub fn wheel(spec: WheelSpec) -> PathBuf {
    let key: String = format!("{}__{}__py{}", spec.requirement, spec.platform, spec.python_version)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .collect();
    let cache = cache_dir();
    let dir = cache.join(&key);
    if let Some(found) = find_wheel(&dir) {
        return found;
    }
    fs::create_dir_all(&cache).unwrap();
    let lock = File::create(cache.join(format!("{key}.lock"))).unwrap();
    lock.lock().unwrap();
    if let Some(found) = find_wheel(&dir) {
        return found;
    }
    let staging = tempfile::tempdir_in(&cache).unwrap();
    let output = Command::new(python())
        .args(["-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps"])
        .args(["--only-binary=:all:", "--platform", spec.platform, "--python-version", spec.python_version])
        .arg("--dest")
        .arg(staging.path())
        .arg(spec.requirement)
        .output()
        .expect("running pip download");
    assert!(
        output.status.success(),
        "pip download {spec:?} failed (PyPI must be reachable for the fixtures):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    fs::rename(staging.keep(), &dir).unwrap();
    find_wheel(&dir).expect("pip downloaded a wheel")
}

fn find_wheel(dir: &Path) -> Option<PathBuf> {
    fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).find(|p| p.extension().is_some_and(|e| e == "whl"))
}

/// The local interpreter the fixtures are fetched and unpacked with.
pub fn python() -> &'static str {
    "python3.11"
}

/// Unpacks the wheel into `dest`, as pip would install it into site-packages.
pub fn install_into(spec: WheelSpec, dest: &Path) {
    let wheel = wheel(spec);
    fs::create_dir_all(dest).unwrap();
    let status = Command::new(python()).args(["-m", "zipfile", "-e"]).arg(&wheel).arg(dest).status().unwrap();
    assert!(status.success(), "unpacking {}", wheel.display());
}

/// Reads one member of the wheel, e.g. an extension module, into a new file.
pub fn extract_member(spec: WheelSpec, member_suffix: &str, dest: &Path) {
    let scratch = tempfile::tempdir().unwrap();
    install_into(spec, scratch.path());
    let found = walk(scratch.path())
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(member_suffix))
        .unwrap_or_else(|| panic!("no member ending {member_suffix} in {spec:?}"));
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    fs::copy(found, dest).unwrap();
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
