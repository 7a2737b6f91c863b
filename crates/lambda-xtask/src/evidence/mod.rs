//! Evidence for audits (issue 14): what was built and shipped, and a record of every deploy
//! attempt that cannot be changed unnoticed.
//!
//! - [`digest`]: the content digest of a build output directory (what was built).
//! - [`sbom`]: a CycloneDX SBOM per function (what it contains).
//! - [`audit_log`]: the hash-chained audit log (who shipped what, when, and how it went).
//! - [`approval`]: who approved a deploy: the CI run or the person at the terminal.
//!
//! The build records [`BuildEvidence`] in its manifest; the deploy copies it into its audit
//! line, so each attempt names the exact artifact it shipped.

pub mod approval;
pub mod audit_bucket;
pub mod audit_log;
pub mod deployed;
pub mod digest;
pub mod package;
pub mod sbom;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use digest::TreeDigest;

/// What a function needs to say about itself in its SBOM.
pub struct FunctionFacts<'a> {
    pub logical_id: &'a str,
    pub runtime: &'a str,
    pub architecture: &'a str,
}

/// One build output directory (a function's or a layer's), by content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// The template's logical id, which is also the directory's name under `.aws-sam/build`.
    pub logical_id: String,
    #[serde(flatten)]
    pub digest: TreeDigest,
    /// The SBOM of a function's artifact.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sbom: Option<SbomRef>,
    /// The reproducible zip sam uploads for a function.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub package: Option<PackageRef>,
}

/// A function's zip, as the built template's CodeUri names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageRef {
    /// Relative to the repository root.
    pub path: PathBuf,
    pub bytes: u64,
    /// What Lambda's get-function will report once this zip is deployed.
    pub code_sha256: String,
}

/// Where an SBOM was written, and the SHA-256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SbomRef {
    /// Relative to the repository root.
    pub path: PathBuf,
    pub sha256: String,
    pub components: usize,
}

/// The identity of everything a build produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildEvidence {
    pub artifacts: Vec<Artifact>,
}

/// What an audit line says beyond the steps: what was shipped, who approved it, what Lambda
/// runs afterwards. Flattened into the line.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AttemptEvidence {
    /// The build's artifacts (from its manifest); empty when no build finished.
    pub artifacts: Vec<Artifact>,
    pub approval: approval::Approval,
    /// Each function's CodeSha256 after the deploy; empty for a dry run, a failed deploy or a
    /// stack without the functions (moto runs no SAM transform).
    pub deployed: Vec<deployed::DeployedCode>,
}

/// Where the SBOMs go: beside the build output, not in it (the artifact is what Lambda runs).
pub fn sbom_dir(sam_dir: &Path) -> PathBuf {
    sam_dir.join(".aws-sam").join("sbom")
}

/// Digests every directory of the build output and writes each function's SBOM. `root` is the
/// repository root, for the relative paths recorded.
pub fn record_build(
    root: &Path,
    sam_dir: &Path,
    build_dir: &Path,
    functions: &[FunctionFacts],
) -> Result<BuildEvidence> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(build_dir).with_context(|| format!("listing {}", build_dir.display()))? {
        let entry = entry.with_context(|| format!("listing {}", build_dir.display()))?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            if let Some(name) = entry.file_name().to_str() {
                dirs.push((name.to_string(), entry.path()));
            }
        }
    }
    dirs.sort();
    let template = build_dir.join("template.yaml");
    let mut artifacts = Vec::new();
    for (logical_id, dir) in dirs {
        let digest =
            digest::tree_digest(&dir).with_context(|| format!("digesting the build output {}", dir.display()))?;
        let sbom = match functions.iter().find(|f| f.logical_id == logical_id) {
            Some(function) => Some(write_sbom(root, sam_dir, &dir, function, &digest)?),
            None => None,
        };
        // Only where a built template can name the zip: without one sam has nothing to upload.
        let package = match functions.iter().find(|f| f.logical_id == logical_id) {
            Some(_) if template.is_file() => Some(write_package(root, build_dir, &logical_id, &dir)?),
            _ => None,
        };
        artifacts.push(Artifact { logical_id, digest, sbom, package });
    }
    let zips: Vec<(String, String)> = artifacts
        .iter()
        .filter(|a| a.package.is_some())
        .map(|a| (a.logical_id.clone(), format!("{}.zip", a.logical_id)))
        .collect();
    if !zips.is_empty() {
        let text = crate::sys::beneath::read_to_string(&template)
            .with_context(|| format!("reading {}", template.display()))?;
        let pointed = package::point_template_at_zips(&text, &zips)?;
        crate::sys::atomic::write_atomically(&template, &pointed)?;
    }
    Ok(BuildEvidence { artifacts })
}

/// `<build dir>/<id>.zip`, beside the directory it packs (the built template's CodeUri is
/// relative to the template).
fn write_package(root: &Path, build_dir: &Path, logical_id: &str, dir: &Path) -> Result<PackageRef> {
    let time = package::entry_time(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref(), package::commit_time(root))?;
    let zip = build_dir.join(format!("{logical_id}.zip"));
    let written = package::write_zip(dir, &zip, time).with_context(|| format!("packaging {}", dir.display()))?;
    Ok(PackageRef {
        path: zip.strip_prefix(root).unwrap_or(&zip).to_path_buf(),
        bytes: written.bytes,
        code_sha256: base64(&written.sha256),
    })
}

fn write_sbom(
    root: &Path,
    sam_dir: &Path,
    dir: &Path,
    function: &FunctionFacts,
    digest: &TreeDigest,
) -> Result<SbomRef> {
    let subject = sbom::Subject {
        logical_id: function.logical_id,
        runtime: function.runtime,
        architecture: function.architecture,
        artifact: digest,
    };
    let text = sbom::sbom(dir, &subject)?;
    let components = serde_json::from_str::<serde_json::Value>(&text)?["components"].as_array().map_or(0, Vec::len);
    let dir = sbom_dir(sam_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{}.cdx.json", function.logical_id));
    crate::sys::atomic::write_atomically(&path, &text)?;
    Ok(SbomRef {
        path: path.strip_prefix(root).unwrap_or(&path).to_path_buf(),
        sha256: format!("sha256:{}", digest::sha256_hex(text.as_bytes())),
        components,
    })
}

/// `sha256:0123456789ab`: enough to tell builds apart in a table or a progress line.
pub fn short(digest: &str) -> &str {
    let end = digest.find(':').map_or(0, |i| i + 1) + 12;
    &digest[..end.min(digest.len())]
}

/// Lambda's `CodeSha256`: the base64 (standard alphabet, padded) SHA-256 of the zip uploaded.
pub fn code_sha256(zip: &[u8]) -> String {
    use sha2::Digest;
    base64(&sha2::Sha256::digest(zip))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_sha256_is_base64_as_lambda_reports_it() {
        // SHA-256 of "abc", base64.
        assert_eq!(code_sha256(b"abc"), "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
    }

    #[test]
    fn short_keeps_the_algorithm_and_twelve_digits() {
        assert_eq!(short("sha256:0123456789abcdef"), "sha256:0123456789ab");
        assert_eq!(short("abc"), "abc");
    }
}
