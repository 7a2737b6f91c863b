//! Installed-wheel metadata: the files pip leaves in `<name>-<version>.dist-info/`.
//!
//! - `WHEEL`: the wheel's compatibility tags (`cp311-cp311-manylinux_2_17_x86_64`), which say
//!   which interpreter and platform it was built for (PEP 425, PEP 427).
//! - `METADATA`: name, version, `Requires-Dist` and `Requires-Python` (core metadata, an
//!   RFC 822 style header block).
//! - `RECORD`: every file the wheel installed, as CSV rows `path,hash,size`.
//!
//! Parsing is lenient the way pip is: unknown headers are ignored, and a malformed line is
//! skipped rather than failing the whole file, because guards report on what they can read.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// One compatibility tag: `{python}-{abi}-{platform}`, e.g. `cp311`, `cp311`,
/// `manylinux_2_17_x86_64`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub python: String,
    pub abi: String,
    pub platform: String,
}

impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}-{}", self.python, self.abi, self.platform)
    }
}

/// Expands one `Tag:` value; compressed tag sets (`py2.py3-none-any`,
/// `cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64`) become one tag per combination.
pub fn expand_tag(value: &str) -> Vec<Tag> {
    let mut parts = value.trim().splitn(3, '-');
    let (Some(python), Some(abi), Some(platform)) = (parts.next(), parts.next(), parts.next()) else {
        return Vec::new();
    };
    let mut tags = Vec::new();
    for python in python.split('.') {
        for abi in abi.split('.') {
            for platform in platform.split('.') {
                tags.push(Tag { python: python.into(), abi: abi.into(), platform: platform.into() });
            }
        }
    }
    tags
}

/// The `WHEEL` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WheelFile {
    /// Every tag, expanded; the wheel installs where any one of them is compatible.
    pub tags: Vec<Tag>,
    /// The `Tag:` lines as written, for messages.
    pub tag_lines: Vec<String>,
    pub root_is_purelib: Option<bool>,
}

pub fn parse_wheel(text: &str) -> WheelFile {
    let mut wheel = WheelFile::default();
    for (key, value) in headers(text) {
        match key.to_ascii_lowercase().as_str() {
            "tag" => {
                wheel.tags.extend(expand_tag(&value));
                wheel.tag_lines.push(value);
            }
            "root-is-purelib" => wheel.root_is_purelib = Some(value.eq_ignore_ascii_case("true")),
            _ => {}
        }
    }
    wheel
}

/// The parts of `METADATA` the guards need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    pub name: String,
    pub version: String,
    /// PEP 508 requirement strings, markers included.
    pub requires_dist: Vec<String>,
    pub requires_python: Option<String>,
    /// `License-Expression` (PEP 639, SPDX), for the SBOM.
    pub license_expression: Option<String>,
    /// The older free-text `License` header; some projects put the whole license text here.
    pub license: Option<String>,
    /// `Classifier: License :: ...` values, without the `License :: ` prefix.
    pub license_classifiers: Vec<String>,
}

pub fn parse_metadata(text: &str) -> Metadata {
    let mut metadata = Metadata::default();
    for (key, value) in headers(text) {
        match key.to_ascii_lowercase().as_str() {
            "name" => metadata.name = value,
            "version" => metadata.version = value,
            "requires-dist" => metadata.requires_dist.push(value),
            "requires-python" => metadata.requires_python = Some(value),
            "license-expression" => metadata.license_expression = Some(value),
            "license" if !value.is_empty() => metadata.license = Some(value),
            "classifier" => {
                if let Some(license) = value.strip_prefix("License :: ") {
                    metadata.license_classifiers.push(license.to_string());
                }
            }
            _ => {}
        }
    }
    metadata
}

/// `Key: value` headers up to the first blank line (the description body follows it).
/// Continuation lines (starting with whitespace) extend the previous value.
fn headers(text: &str) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            headers.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    headers
}

/// One row of `RECORD`: a path relative to the install root (site-packages, or the Lambda
/// artifact root), with its hash and size when recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordEntry {
    pub path: String,
    pub hash: Option<String>,
    pub size: Option<u64>,
}

/// RECORD is CSV: a path containing a comma or a quote is quoted, with `""` for a quote.
pub fn parse_record(text: &str) -> Vec<RecordEntry> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .filter_map(|line| {
            let fields = csv_fields(line);
            let path = fields.first().filter(|p| !p.is_empty())?.clone();
            let field = |i: usize| fields.get(i).filter(|f| !f.is_empty()).cloned();
            Some(RecordEntry { path, hash: field(1), size: field(2).and_then(|s| s.parse().ok()) })
        })
        .collect()
}

fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// PEP 503 normalised project name: lowercase, runs of `-`, `_`, `.` become one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut normalized = String::with_capacity(name.len());
    let mut separator = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
            continue;
        }
        if separator && !normalized.is_empty() {
            normalized.push('-');
        }
        separator = false;
        normalized.push(c.to_ascii_lowercase());
    }
    normalized
}

/// Splits a `.dist-info` directory name into project name and version:
/// `psycopg2_binary-2.9.11.dist-info` -> (`psycopg2_binary`, `2.9.11`).
pub fn split_dist_info_name(dir_name: &str) -> Option<(&str, &str)> {
    let stem = dir_name.strip_suffix(".dist-info")?;
    let (name, version) = stem.split_once('-')?;
    (!name.is_empty() && !version.is_empty()).then_some((name, version))
}

/// One distribution installed into a directory (a site-packages, or a Lambda artifact).
#[derive(Debug, Clone)]
pub struct Installed {
    /// The `.dist-info` directory, absolute.
    pub dist_info: PathBuf,
    /// From METADATA, falling back to the directory name.
    pub name: String,
    pub normalized: String,
    pub version: String,
    pub metadata: Metadata,
    /// None when the dist-info has no WHEEL file (installed from an egg or by hand).
    pub wheel: Option<WheelFile>,
}

impl Installed {
    pub fn load(dist_info: &Path) -> Result<Installed> {
        let dir_name = dist_info.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let (dir_project, dir_version) = split_dist_info_name(dir_name).unwrap_or((dir_name, ""));
        let metadata = match crate::sys::beneath::read(dist_info.join("METADATA")) {
            Ok(bytes) => parse_metadata(&String::from_utf8_lossy(&bytes)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Metadata::default(),
            Err(err) => return Err(err).with_context(|| format!("reading {}/METADATA", dist_info.display())),
        };
        let wheel = match crate::sys::beneath::read(dist_info.join("WHEEL")) {
            Ok(bytes) => Some(parse_wheel(&String::from_utf8_lossy(&bytes))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(err).with_context(|| format!("reading {}/WHEEL", dist_info.display())),
        };
        let name = if metadata.name.is_empty() { dir_project.to_string() } else { metadata.name.clone() };
        let version = if metadata.version.is_empty() { dir_version.to_string() } else { metadata.version.clone() };
        Ok(Installed {
            dist_info: dist_info.to_path_buf(),
            normalized: normalize_name(&name),
            name,
            version,
            metadata,
            wheel,
        })
    }

    /// The files this distribution installed, relative to the install root.
    pub fn record(&self) -> Result<Vec<RecordEntry>> {
        let path = self.dist_info.join("RECORD");
        match crate::sys::beneath::read(&path) {
            Ok(bytes) => Ok(parse_record(&String::from_utf8_lossy(&bytes))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
        }
    }
}

/// Every distribution installed directly in `root` (its top-level `*.dist-info` dirs),
/// sorted by normalised name, then version.
pub fn installed(root: &Path) -> Result<Vec<Installed>> {
    let mut found = Vec::new();
    let entries = match fs::read_dir(root) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(err) => return Err(err).with_context(|| format!("listing {}", root.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", root.display()))?;
        let path = entry.path();
        if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".dist-info")) && path.is_dir() {
            found.push(Installed::load(&path)?);
        }
    }
    found.sort_by(|a, b| (&a.normalized, &a.version).cmp(&(&b.normalized, &b.version)));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_tag_sets_expand_to_every_combination() {
        let tags = expand_tag("cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64");
        let shown: Vec<String> = tags.iter().map(Tag::to_string).collect();
        assert_eq!(shown, ["cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux2014_x86_64"]);
        assert_eq!(expand_tag("py2.py3-none-any").len(), 2);
        assert!(expand_tag("garbage").is_empty());
    }

    #[test]
    fn wheel_file_collects_every_tag_line() {
        let wheel = parse_wheel(
            "Wheel-Version: 1.0\nGenerator: bdist_wheel\nRoot-Is-Purelib: false\nTag: cp311-cp311-win_amd64\nTag: cp311-cp311-win32\n",
        );
        assert_eq!(wheel.tag_lines, ["cp311-cp311-win_amd64", "cp311-cp311-win32"]);
        assert_eq!(wheel.tags[1].platform, "win32");
        assert_eq!(wheel.root_is_purelib, Some(false));
    }

    #[test]
    fn metadata_reads_headers_and_stops_at_the_body() {
        let metadata = parse_metadata(
            "Metadata-Version: 2.1\nName: watchtower\nVersion: 3.3.1\nRequires-Python: >=3.8\n\
             Requires-Dist: boto3 <2,>=1.9.253\nRequires-Dist: typing-extensions; python_version < \"3.8\"\n\
             Summary: a\n  continued\n\nRequires-Dist: not-a-header-in-the-body\n",
        );
        assert_eq!(metadata.name, "watchtower");
        assert_eq!(metadata.version, "3.3.1");
        assert_eq!(metadata.requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(metadata.requires_dist, ["boto3 <2,>=1.9.253", "typing-extensions; python_version < \"3.8\""]);
    }

    #[test]
    fn record_rows_handle_quoted_paths_and_missing_fields() {
        let rows = parse_record(
            "six.py,sha256=abc,34549\n\"odd,name.py\",sha256=def,10\n\"say \"\"hi\"\".txt\",,\nsix-1.16.0.dist-info/RECORD,,\n",
        );
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0], RecordEntry { path: "six.py".into(), hash: Some("sha256=abc".into()), size: Some(34549) });
        assert_eq!(rows[1].path, "odd,name.py");
        assert_eq!(rows[2].path, "say \"hi\".txt");
        assert_eq!(rows[3].hash, None);
    }

    #[test]
    fn names_normalise_per_pep_503() {
        assert_eq!(normalize_name("Psycopg2_Binary"), "psycopg2-binary");
        assert_eq!(normalize_name("typing.extensions"), "typing-extensions");
        assert_eq!(normalize_name("a__-b"), "a-b");
        assert_eq!(split_dist_info_name("psycopg2_binary-2.9.11.dist-info"), Some(("psycopg2_binary", "2.9.11")));
        assert_eq!(split_dist_info_name("broken.dist-info"), None);
    }

    #[test]
    fn installed_lists_top_level_dist_infos_with_their_metadata() {
        let root = tempfile::tempdir().unwrap();
        let dist = root.path().join("Six-1.16.0.dist-info");
        fs::create_dir_all(&dist).unwrap();
        fs::write(dist.join("METADATA"), "Name: six\nVersion: 1.16.0\n").unwrap();
        fs::write(dist.join("WHEEL"), "Tag: py2.py3-none-any\n").unwrap();
        fs::write(dist.join("RECORD"), "six.py,sha256=x,1\n").unwrap();
        let bare = root.path().join("legacy-0.1.dist-info");
        fs::create_dir_all(&bare).unwrap();

        let found = installed(root.path()).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].normalized.as_str(), found[0].version.as_str()), ("legacy", "0.1"));
        assert!(found[0].wheel.is_none());
        assert_eq!((found[1].name.as_str(), found[1].version.as_str()), ("six", "1.16.0"));
        assert_eq!(found[1].record().unwrap()[0].path, "six.py");
    }

    // Real dist-info files, as pip installed them from the wheels on PyPI: the samples the
    // mutations start from.
    const REAL_WHEEL_FILES: [&str; 2] = [
        "Wheel-Version: 1.0\nGenerator: bdist_wheel (0.36.2)\nRoot-Is-Purelib: true\nTag: py2-none-any\nTag: py3-none-any\n\n",
        "Wheel-Version: 1.0\nGenerator: maturin (1.7.1)\nRoot-Is-Purelib: false\nTag: cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64\n",
    ];
    const REAL_METADATA: &str =
        "Metadata-Version: 2.1\nName: boto3\nVersion: 1.35.0\nSummary: The AWS SDK for Python\n\
        Home-page: https://github.com/boto/boto3\nAuthor: Amazon Web Services\nLicense: Apache License 2.0\n\
        Project-URL: Documentation, https://boto3.amazonaws.com/v1/documentation/api/latest/index.html\n\
        Platform: UNKNOWN\nClassifier: Programming Language :: Python :: 3 :: Only\nRequires-Python: >= 3.8\n\
        License-File: LICENSE\nRequires-Dist: botocore (<1.36.0,>=1.35.0)\nRequires-Dist: jmespath (<2.0.0,>=0.7.1)\n\
        Requires-Dist: s3transfer (<0.11.0,>=0.10.0)\nProvides-Extra: crt\n\
        Requires-Dist: botocore[crt] (<2.0a0,>=1.21.0) ; extra == 'crt'\n\n\
        ===============================\nBoto3 - The AWS SDK for Python\n===============================\n";
    const REAL_RECORD: &str = "pydantic_core-2.23.4.dist-info/METADATA,sha256=_EqTY8S453arLrL8cnx_o-1nX7v6kiSqRUOTcuTUr48,6585\n\
        pydantic_core-2.23.4.dist-info/WHEEL,sha256=pYO6YXr4B1kYtyJ_3uJYRNShMCXEa5IWc-PLr2qfrGY,129\n\
        pydantic_core/__init__.py,sha256=ZsyyaQjDPHSuRNN2L-pt_PpUTN-m1GEo-Y2WM6RhykE,4198\n\
        pydantic_core/py.typed,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\n\
        pydantic_core/_pydantic_core.cpython-311-x86_64-linux-gnu.so,sha256=vNCffLw6Q06MJ9Bpr2Nd9vv-b27tbQjqloWRSuIi0o4,4981112\n\
        pydantic_core-2.23.4.dist-info/RECORD,,\n";

    /// `text` with `cut` bytes from `at` replaced by `insert`, on char boundaries.
    fn mangle(text: &str, at: proptest::sample::Index, cut: usize, insert: &str) -> String {
        let mut text = text.to_string();
        let start = at.index(text.len() + 1);
        let start = (0..=start).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        let end = (start + cut..=text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
        text.replace_range(start..end, insert);
        text
    }

    /// A RECORD field as pip's csv module writes it: quoted when it holds a comma, a quote or
    /// a line break, with quotes doubled.
    fn csv_field(field: &str) -> String {
        if field.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", field.replace('"', "\"\""))
        } else {
            field.to_string()
        }
    }

    /// Every parser of a dist-info, on one text, the way the guards use them.
    fn parse_everything(text: &str) {
        let wheel = parse_wheel(text);
        for tag in &wheel.tags {
            let _ = tag.to_string();
        }
        let metadata = parse_metadata(text);
        let _ = normalize_name(&metadata.name);
        for row in parse_record(text) {
            assert!(!row.path.is_empty(), "a RECORD row without a path: {row:?}");
        }
    }

    proptest::proptest! {

        /// Arbitrary text as WHEEL, METADATA and RECORD: read as far as it goes, never a panic.
        #[test]
        fn arbitrary_text_never_panics(text in "(\\PC|\\s|:|,|\"|-|\\.){0,300}") {
            parse_everything(&text);
            let _ = split_dist_info_name(&text);
        }

        /// Real WHEEL, METADATA and RECORD files with a piece cut out and arbitrary text put in.
        #[test]
        fn mangled_real_dist_info_files_never_panic(
            which in 0usize..4,
            at in proptest::prelude::any::<proptest::sample::Index>(),
            cut in 0usize..30,
            insert in "([ -~]|\\n|\\PC){0,12}",
        ) {
            let sample = [REAL_WHEEL_FILES[0], REAL_WHEEL_FILES[1], REAL_METADATA, REAL_RECORD][which];
            parse_everything(&mangle(sample, at, cut, &insert));
        }

        /// Rows written as pip writes RECORD come back as written, whatever the path holds.
        #[test]
        fn record_rows_come_back_as_written(
            rows in proptest::collection::vec(("[^\n\r]{1,40}", "(sha256=[A-Za-z0-9_-]{4,12})?", proptest::option::of(0u64..10_000_000)), 1..8),
        ) {
            let text: String = rows
                .iter()
                .map(|(path, hash, size)| {
                    let size = size.map(|s| s.to_string()).unwrap_or_default();
                    format!("{},{},{}\n", csv_field(path), csv_field(hash), size)
                })
                .collect();
            let parsed = parse_record(&text);
            let expected: Vec<RecordEntry> = rows
                .iter()
                .map(|(path, hash, size)| RecordEntry {
                    path: path.clone(),
                    hash: (!hash.is_empty()).then(|| hash.clone()),
                    size: *size,
                })
                .collect();
            proptest::prop_assert_eq!(parsed, expected, "{}", text);
        }

        /// A compressed tag set expands to every combination of its dotted parts.
        #[test]
        fn tags_expand_to_every_combination(
            pythons in proptest::collection::vec("[a-z0-9_]{1,6}", 1..4),
            abis in proptest::collection::vec("[a-z0-9_]{1,6}", 1..4),
            platforms in proptest::collection::vec("[a-z0-9_]{1,12}", 1..4),
        ) {
            let value = format!("{}-{}-{}", pythons.join("."), abis.join("."), platforms.join("."));
            let tags = expand_tag(&value);
            proptest::prop_assert_eq!(tags.len(), pythons.len() * abis.len() * platforms.len());
            for tag in &tags {
                proptest::prop_assert!(pythons.contains(&tag.python) && abis.contains(&tag.abi) && platforms.contains(&tag.platform));
            }
        }
    }

    #[test]
    fn real_samples_read_as_pip_wrote_them() {
        assert_eq!(parse_wheel(REAL_WHEEL_FILES[1]).tags.len(), 2);
        let metadata = parse_metadata(REAL_METADATA);
        assert_eq!((metadata.name.as_str(), metadata.requires_dist.len()), ("boto3", 4));
        assert_eq!(parse_record(REAL_RECORD)[4].size, Some(4981112));
    }
}
