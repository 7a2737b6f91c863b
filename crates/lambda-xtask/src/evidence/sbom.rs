//! A CycloneDX 1.5 SBOM per function: every distribution installed in its build output (the
//! top-level `*.dist-info` dirs, as pip and sam leave them) with name, version, purl, license
//! (from METADATA) and each installed file with the SHA-256 RECORD lists for it; the runtime,
//! architecture and artifact digest as metadata.
//!
//! The document is a function of the build output alone (no timestamp, a serial number derived
//! from the artifact digest), so the same build gives the same SBOM byte for byte.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};

use super::digest::{hex, sha256_hex, TreeDigest};
use crate::python::wheel::{self, Installed};

/// What the SBOM says about the function itself.
pub struct Subject<'a> {
    pub logical_id: &'a str,
    pub runtime: &'a str,
    pub architecture: &'a str,
    pub artifact: &'a TreeDigest,
}

/// The SBOM of the build output at `artifact_dir`, as pretty JSON.
pub fn sbom(artifact_dir: &Path, subject: &Subject) -> Result<String> {
    let installed = wheel::installed(artifact_dir)
        .with_context(|| format!("reading the installed distributions in {}", artifact_dir.display()))?;
    let mut components = Vec::new();
    for dist in &installed {
        components.push(component(dist)?);
    }
    let serial = uuid_from(&sha256_hex(format!("cyclonedx:{}", subject.artifact.digest).as_bytes()));
    let document = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{serial}"),
        "version": 1,
        "metadata": {
            "tools": {
                "components": [{
                    "type": "application",
                    "name": "lambda-xtask",
                    "version": crate::version::VERSION,
                }],
            },
            "component": {
                "type": "application",
                "bom-ref": format!("function:{}", subject.logical_id),
                "name": subject.logical_id,
                "properties": [
                    {"name": "lambda-xtask:runtime", "value": subject.runtime},
                    {"name": "lambda-xtask:architecture", "value": subject.architecture},
                    {"name": "lambda-xtask:artifact-digest", "value": subject.artifact.digest},
                    {"name": "lambda-xtask:artifact-files", "value": subject.artifact.files.to_string()},
                ],
            },
        },
        "components": components,
    });
    Ok(serde_json::to_string_pretty(&document)? + "\n")
}

fn component(dist: &Installed) -> Result<Value> {
    let purl = purl(&dist.name, &dist.version);
    let mut component = Map::new();
    component.insert("type".into(), "library".into());
    component.insert("bom-ref".into(), purl.clone().into());
    component.insert("name".into(), dist.name.clone().into());
    component.insert("version".into(), dist.version.clone().into());
    component.insert("purl".into(), purl.into());
    if let Some(licenses) = licenses(&dist.metadata) {
        component.insert("licenses".into(), licenses);
    }
    // RECORD's own hash: it lists every file below, so it identifies the installed set.
    if let Ok(record) = crate::sys::beneath::read(dist.dist_info.join("RECORD")) {
        component.insert("hashes".into(), json!([{"alg": "SHA-256", "content": sha256_hex(&record)}]));
    }
    let files: Vec<Value> = dist
        .record()?
        .iter()
        .filter_map(|entry| {
            let hash = entry.hash.as_deref().and_then(record_sha256)?;
            Some(json!({"type": "file", "name": entry.path, "hashes": [{"alg": "SHA-256", "content": hash}]}))
        })
        .collect();
    if !files.is_empty() {
        component.insert("components".into(), Value::Array(files));
    }
    Ok(Value::Object(component))
}

/// CycloneDX wants either one SPDX expression or license objects: PEP 639's expression when
/// the project declares one, else the `License` header when it is a name (not a pasted license
/// text), else the trove classifiers.
fn licenses(metadata: &wheel::Metadata) -> Option<Value> {
    if let Some(expression) = metadata.license_expression.as_deref().filter(|e| !e.trim().is_empty()) {
        return Some(json!([{"expression": expression.trim()}]));
    }
    if let Some(name) = metadata.license.as_deref().map(str::trim).filter(|l| !l.is_empty() && l.len() <= 100) {
        if !name.eq_ignore_ascii_case("unknown") && !name.eq_ignore_ascii_case("UNKNOWN") {
            return Some(json!([{"license": {"name": name}}]));
        }
    }
    if metadata.license_classifiers.is_empty() {
        return None;
    }
    let names: Vec<Value> = metadata.license_classifiers.iter().map(|c| json!({"license": {"name": c}})).collect();
    Some(Value::Array(names))
}

/// `pkg:pypi/<PEP 503 name>@<version>`; `+` of a local version is percent-encoded.
pub fn purl(name: &str, version: &str) -> String {
    let version: String = version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '~' | '!') {
                c.to_string()
            } else {
                format!("%{:02X}", c as u32)
            }
        })
        .collect();
    format!("pkg:pypi/{}@{version}", wheel::normalize_name(name))
}

/// RECORD's `sha256=<urlsafe base64, unpadded>` as lowercase hex; other algorithms are left
/// out (CycloneDX would need them named, and pip writes sha256).
fn record_sha256(field: &str) -> Option<String> {
    let encoded = field.strip_prefix("sha256=")?;
    let bytes = base64url_decode(encoded)?;
    (bytes.len() == 32).then(|| hex(&bytes))
}

fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for c in text.trim_end_matches('=').bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}

/// A version-4-shaped UUID from 32 hex digits of a hash (deterministic, not random).
fn uuid_from(hex: &str) -> String {
    let mut digits: Vec<char> = hex.chars().take(32).collect();
    digits[12] = '4';
    digits[16] = match digits[16].to_digit(16).unwrap_or(0) & 0x3 {
        0 => '8',
        1 => '9',
        2 => 'a',
        _ => 'b',
    };
    let text: String = digits.into_iter().collect();
    format!("{}-{}-{}-{}-{}", &text[0..8], &text[8..12], &text[12..16], &text[16..20], &text[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn record_hashes_become_hex() {
        // sha256 of the empty string, as pip writes it in RECORD.
        assert_eq!(
            record_sha256("sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU").as_deref(),
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(record_sha256("md5=abc"), None);
        assert_eq!(record_sha256("sha256=!!"), None);
    }

    #[test]
    fn purls_use_the_normalised_name_and_encode_local_versions() {
        assert_eq!(purl("Psycopg2_Binary", "2.9.11"), "pkg:pypi/psycopg2-binary@2.9.11");
        assert_eq!(purl("torch", "2.1.0+cpu"), "pkg:pypi/torch@2.1.0%2Bcpu");
    }

    #[test]
    fn licenses_prefer_the_expression_then_a_short_license_then_classifiers() {
        let mut metadata = wheel::parse_metadata(
            "Name: a\nVersion: 1\nLicense: LGPL with exceptions\nClassifier: License :: OSI Approved :: MIT License\n",
        );
        assert_eq!(licenses(&metadata), Some(json!([{"license": {"name": "LGPL with exceptions"}}])));
        metadata.license = Some("Permission is hereby granted, free of charge, ".repeat(10));
        assert_eq!(licenses(&metadata), Some(json!([{"license": {"name": "OSI Approved :: MIT License"}}])));
        metadata.license_expression = Some("MIT OR Apache-2.0".into());
        assert_eq!(licenses(&metadata), Some(json!([{"expression": "MIT OR Apache-2.0"}])));
        assert_eq!(licenses(&wheel::parse_metadata("Name: a\n")), None);
    }

    #[test]
    fn the_sbom_lists_each_distribution_and_is_the_same_for_the_same_build() {
        let dir = tempfile::tempdir().unwrap();
        let info = dir.path().join("six-1.16.0.dist-info");
        fs::create_dir_all(&info).unwrap();
        fs::write(info.join("METADATA"), "Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\nLicense: MIT\n").unwrap();
        fs::write(
            info.join("RECORD"),
            "six.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\nsix-1.16.0.dist-info/RECORD,,\n",
        )
        .unwrap();
        fs::write(dir.path().join("six.py"), "").unwrap();
        let artifact = super::super::digest::tree_digest(dir.path()).unwrap();
        let subject = Subject { logical_id: "F", runtime: "python3.11", architecture: "arm64", artifact: &artifact };
        let text = sbom(dir.path(), &subject).unwrap();
        assert_eq!(text, sbom(dir.path(), &subject).unwrap());
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["specVersion"], "1.5");
        let six = &doc["components"][0];
        assert_eq!((six["name"].as_str(), six["version"].as_str()), (Some("six"), Some("1.16.0")));
        assert_eq!(six["purl"], "pkg:pypi/six@1.16.0");
        assert_eq!(six["components"].as_array().unwrap().len(), 1, "RECORD's own unhashed row is left out");
        let props = doc["metadata"]["component"]["properties"].as_array().unwrap();
        assert!(props.contains(&json!({"name": "lambda-xtask:architecture", "value": "arm64"})));
        let serial = doc["serialNumber"].as_str().unwrap();
        assert!(
            serial.len() == "urn:uuid:".len() + 36 && serial.as_bytes()["urn:uuid:".len() + 14] == b'4',
            "{serial}"
        );
    }
}
