//! "Is the local build what was deployed?" and, when it is, which file of it a log line is
//! about. Lambda's `CodeSha256` is the base64 SHA-256 of the zip sam uploaded; sam builds that
//! zip deterministically from the build output (its own `make_zip`, no timestamps: `sam sync`
//! compares the same hash), so the local equivalent is that zip made again, by sam's own
//! Python, into a temporary directory.
//!
//! A build that packaged the function itself (issue 14: the built template's CodeUri names the
//! xtask's reproducible zip) records that zip's hash in its manifest, and the doctor takes it
//! from there (`examine::local_sha`); this re-zipping is for builds sam zips.

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use super::{ArtifactLead, Finding};
use crate::sys::process;

/// sam's own zip of `dir`, hashed as Lambda reports `CodeSha256`.
const CODE_SHA256: &str = r#"
import base64, hashlib, os, sys, tempfile
from samcli.lib.package.utils import make_zip
with tempfile.TemporaryDirectory() as scratch:
    archive = make_zip(os.path.join(scratch, "code"), sys.argv[1])
    with open(archive, "rb") as f:
        print(base64.b64encode(hashlib.sha256(f.read()).digest()).decode())
"#;

/// The Python that runs sam: the interpreter on its script's `#!` line.
pub fn sam_python(sam: &Path) -> Result<std::path::PathBuf> {
    let text = crate::sys::beneath::read(sam).with_context(|| format!("reading {}", sam.display()))?;
    let first = text.split(|b| *b == b'\n').next().unwrap_or_default();
    let Some(interpreter) = first.strip_prefix(b"#!") else {
        bail!("{} is not a Python script, so its zip cannot be made again here", sam.display())
    };
    let interpreter = String::from_utf8_lossy(interpreter).trim().to_string();
    Ok(interpreter.split_whitespace().next().unwrap_or_default().into())
}

/// The `CodeSha256` Lambda would report for a deploy of the build output `dir`.
pub fn local_code_sha256(sh: &Shell, python: &Path, dir: &Path) -> Result<String> {
    let script = CODE_SHA256;
    let out = process::capture(
        cmd!(sh, "{python} -c {script} {dir}"),
        "zipping the build output as sam does",
        Some(std::time::Duration::from_secs(300)),
    )?;
    Ok(out.trim().to_string())
}

/// Lambda's `CodeSha256` and the local equivalent name the same bytes.
pub fn matches_deployed(local: &str, deployed: &str) -> bool {
    !local.is_empty() && local.trim() == deployed.trim()
}

/// The guard findings on the build output that are about what the lead points at: the file
/// or package (`pydantic_core/_pydantic_core`, then `pydantic_core`), or the bundled SDK.
pub fn relevant(findings: &[Finding], lead: &ArtifactLead) -> Vec<Finding> {
    if lead.needle == "boto3" {
        return findings.iter().filter(|f| f.guard == crate::guards::aws_sdk::GUARD).cloned().collect();
    }
    let about = |needle: &str| -> Vec<Finding> {
        findings
            .iter()
            .filter(|f| {
                f.path.contains(&format!("/{needle}")) || f.path.starts_with(needle) || f.problem.contains(needle)
            })
            .cloned()
            .collect()
    };
    let exact = about(&lead.needle);
    if !exact.is_empty() {
        return exact;
    }
    let top = lead.needle.split('/').next().unwrap_or(&lead.needle);
    about(top)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(guard: &'static str, path: &str) -> Finding {
        Finding::new(guard, path, "p", "s", "f")
    }

    #[test]
    fn the_finding_about_the_logged_file_is_picked() {
        let findings = vec![
            finding(
                "platform-binary",
                "infra/lambda/.aws-sam/build/BackendFunction/pydantic_core/_pydantic_core.cpython-311-darwin.so",
            ),
            finding("platform-binary", "infra/lambda/.aws-sam/build/BackendFunction/orjson/orjson.so"),
            finding("bundled-aws-sdk", "infra/lambda/.aws-sam/build/BackendFunction/boto3"),
        ];
        let lead = |needle: &str| ArtifactLead { logical_id: "F".into(), signature: "s", needle: needle.into() };
        let picked = relevant(&findings, &lead("pydantic_core/_pydantic_core"));
        assert_eq!(picked.len(), 1);
        assert!(picked[0].path.ends_with("_pydantic_core.cpython-311-darwin.so"));
        assert_eq!(relevant(&findings, &lead("boto3"))[0].guard, "bundled-aws-sdk");
        assert!(relevant(&findings, &lead("numpy")).is_empty());
    }

    #[test]
    fn hashes_compare_exactly() {
        assert!(matches_deployed("moZB=\n", "moZB="));
        assert!(!matches_deployed("", ""));
        assert!(!matches_deployed("a", "b"));
    }
}
