//! Where the audit log lives for good: with `audit_bucket = "..."` on an environment, each
//! line, once written locally, is also put into that S3 bucket as its own object
//! (`deploy-audit/<env>/<started_at>-<first 16 hex of the line's SHA-256>.json`). The bucket
//! must have Object Lock in compliance mode (nobody, root included, can delete or overwrite a
//! locked version before its retention ends: the 7-year retention of the seed's controls) and
//! versioning; the deploy checks both before it changes anything.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;
use xshell::Shell;

use super::digest::sha256_hex;
use crate::aws::Aws;

/// The key of one line's object: by environment, then time, so a listing reads in order.
pub fn object_key(env: &str, started_at: &str, line: &str) -> String {
    format!("deploy-audit/{env}/{started_at}-{}.json", &sha256_hex(line.as_bytes())[..16])
}

#[derive(Deserialize)]
struct Versioning {
    #[serde(rename = "Status")]
    status: Option<String>,
}

#[derive(Deserialize)]
struct LockAnswer {
    #[serde(rename = "ObjectLockConfiguration")]
    configuration: LockConfiguration,
}

#[derive(Deserialize)]
struct LockConfiguration {
    #[serde(rename = "ObjectLockEnabled")]
    enabled: Option<String>,
    #[serde(rename = "Rule")]
    rule: Option<LockRule>,
}

#[derive(Deserialize)]
struct LockRule {
    #[serde(rename = "DefaultRetention")]
    default_retention: Option<Retention>,
}

#[derive(Deserialize)]
struct Retention {
    #[serde(rename = "Mode")]
    mode: Option<String>,
    #[serde(rename = "Days")]
    days: Option<u64>,
    #[serde(rename = "Years")]
    years: Option<u64>,
}

/// What the check found: `Ok(description)` when the bucket can keep the log, else
/// `Err(problem)` naming the fix. An aws failure (no such bucket, no access) is a problem too.
pub fn check(sh: &Shell, aws: &Aws, bucket: &str, setting: &str) -> Result<std::result::Result<String, String>> {
    let fix = format!(
        "create it with {} and {}, or name another bucket in {setting}",
        aws.shown(&format!("s3api create-bucket --bucket {bucket} --object-lock-enabled-for-bucket")),
        aws.shown(&format!(
            "s3api put-object-lock-configuration --bucket {bucket} --object-lock-configuration '{{\"ObjectLockEnabled\":\"Enabled\",\"Rule\":{{\"DefaultRetention\":{{\"Mode\":\"COMPLIANCE\",\"Years\":7}}}}}}'"
        ))
    );
    // A bucket that never had versioning answers with nothing at all: the query makes it JSON.
    let versioning: Versioning = match aws.read(
        sh,
        &["s3api", "get-bucket-versioning", "--bucket", bucket, "--query", "{Status: Status}"],
        "aws s3api get-bucket-versioning",
    ) {
        Ok(v) => v,
        Err(err) if crate::sys::exit::status_of(&err) == crate::sys::exit::INTERRUPTED => return Err(err),
        Err(err) => {
            let why = crate::sys::redact::scrub(&format!("{err:#}"));
            let why = why.lines().last().unwrap_or_default().trim().to_string();
            return Ok(Err(format!("audit bucket {bucket} cannot be read ({why}): {fix}")));
        }
    };
    let lock: Option<LockAnswer> = aws.read_optional(
        sh,
        &["s3api", "get-object-lock-configuration", "--bucket", bucket],
        "aws s3api get-object-lock-configuration",
        &["ObjectLockConfigurationNotFoundError", "Object Lock configuration does not exist"],
    )?;
    let Some(lock) = lock.filter(|l| l.configuration.enabled.as_deref() == Some("Enabled")) else {
        return Ok(Err(format!("audit bucket {bucket} has no Object Lock, so its objects can be deleted: {fix}")));
    };
    let retention = lock.configuration.rule.and_then(|r| r.default_retention);
    let Some(retention) = retention.filter(|r| r.mode.as_deref() == Some("COMPLIANCE")) else {
        return Ok(Err(format!(
            "audit bucket {bucket} has Object Lock but no default retention in COMPLIANCE mode (GOVERNANCE can be bypassed): {fix}"
        )));
    };
    if versioning.status.as_deref() != Some("Enabled") {
        return Ok(Err(format!("audit bucket {bucket} does not have versioning enabled: {fix}")));
    }
    let period = match (retention.years, retention.days) {
        (Some(years), _) => format!("{years} years"),
        (None, Some(days)) => format!("{days} days"),
        _ => "its default period".into(),
    };
    Ok(Ok(format!("audit bucket {bucket}: versioned, Object Lock in COMPLIANCE mode for {period}")))
}

/// The rehearsal's bucket, in moto: Object Lock (which turns versioning on) with a default
/// compliance retention, as the real one must be.
pub fn create_locked(sh: &Shell, aws: &Aws, bucket: &str) -> Result<()> {
    let region = aws.region.clone();
    let constraint = format!("LocationConstraint={region}");
    let mut args = vec!["s3api", "create-bucket", "--bucket", bucket, "--object-lock-enabled-for-bucket"];
    if region != "us-east-1" {
        args.extend(["--create-bucket-configuration", &constraint]);
    }
    aws.write(sh, &args, "aws s3api create-bucket")?;
    aws.write(
        sh,
        &[
            "s3api",
            "put-object-lock-configuration",
            "--bucket",
            bucket,
            "--object-lock-configuration",
            r#"{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"COMPLIANCE","Years":7}}}"#,
        ],
        "aws s3api put-object-lock-configuration",
    )?;
    Ok(())
}

/// Puts one line (as written locally, with its line break) as its own object; returns the key.
pub fn upload(sh: &Shell, aws: &Aws, bucket: &str, key: &str, line: &str, scratch: &Path) -> Result<()> {
    std::fs::create_dir_all(scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let body = tempfile::NamedTempFile::new_in(scratch).context("creating the audit object's body")?;
    std::fs::write(body.path(), format!("{line}\n")).context("writing the audit object's body")?;
    let body_path = body.path().display().to_string();
    aws.write(
        sh,
        &[
            "s3api",
            "put-object",
            "--bucket",
            bucket,
            "--key",
            key,
            "--body",
            &body_path,
            "--content-type",
            "application/x-ndjson",
            // Object Lock buckets refuse a put without an integrity checksum.
            "--checksum-algorithm",
            "SHA256",
        ],
        "aws s3api put-object",
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_environment_then_time_and_differ_per_line() {
        let a = object_key("prod", "2026-01-08T10:00:00.000Z", "{\"a\":1}");
        let b = object_key("prod", "2026-01-08T10:00:00.000Z", "{\"a\":2}");
        assert!(a.starts_with("deploy-audit/prod/2026-01-08T10:00:00.000Z-") && a.ends_with(".json"), "{a}");
        assert_ne!(a, b);
    }
}
