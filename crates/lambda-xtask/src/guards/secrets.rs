//! Guard `secret-file`: files that are likely credentials must not ship in the function.
//!
//! A Lambda package is readable by everyone who may read the function's code (the console's
//! download button, `lambda get-function`), so a private key, a cloud `credentials` file or a
//! package manager's token file in it is a leaked secret. Judged by name (`credentials`,
//! `.pgpass`, `.npmrc`, `.netrc`, `.env`, `id_rsa` and its kin, `*.pem`, `*.key`) and by
//! content: a file that starts with a PEM or OpenSSH private-key header is a private key
//! whatever it is called. A PEM file (a `.pem`, or a file whose start shows a PEM header) is
//! judged by every header in it, read in chunks up to [`PEM_LIMIT`]: a private-key header
//! anywhere is a private key, and one holding only certificates (certifi's `cacert.pem`,
//! grpcio's `roots.pem`, whose first certificate follows 5 KB of comments) is public and
//! passes. A pip requirements or constraints file (or `pip.conf`) whose URL
//! carries a credential (`--index-url https://deploy:TOKEN@host/simple`) is a leaked token
//! too: sam copies the function's requirements.txt into the package. The file's content is
//! never printed (the URL is shown with its credential masked). The files are those of the
//! guards' one parallel walk ([`super::scan`]); Python code, native modules and an installer's
//! records in a `*.dist-info` dir (see [`INSTALLER_RECORDS`]) are judged by name only.

use std::ffi::OsStr;
use std::path::Path;

use super::files::{FileContext, Owner};
use super::Finding;

pub const GUARD: &str = "secret-file";

/// Names that hold credentials by convention.
const SECRET_NAMES: [&str; 11] = [
    "credentials",
    ".pgpass",
    ".npmrc",
    ".netrc",
    ".env",
    ".pypirc",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    ".git-credentials",
];

/// How much of a file's start is read for a key header: headers come first.
const HEADER_WINDOW: usize = 4096;

/// How much of a pip file is searched for a URL with a credential: far more than any real one.
const PIP_FILE_WINDOW: u64 = 1 << 20;

/// Why a pip file with a credential in a URL is a finding.
pub const CREDENTIAL_URL: &str =
    "a pip requirements or configuration file with a credential in a URL (user:password@ or token@)";

/// pip's files that can name an index with its credentials: requirements and constraints
/// files (`requirements.txt`, `requirements-dev.in`, `constraints.txt`) and pip's config.
fn is_pip_file(name: &OsStr) -> bool {
    let name = name.to_string_lossy().to_ascii_lowercase();
    let listing = (name.contains("requirements") || name.contains("constraints"))
        && (name.ends_with(".txt") || name.ends_with(".in"));
    listing || name == "pip.conf" || name == "pip.ini"
}

/// How much of a PEM file is read for its headers: CA bundles are a few hundred KB; a larger
/// `.pem` is judged unread past this (a finding, not a pass).
const PEM_LIMIT: u64 = 4 << 20;

/// Why a file whose whole content is `content` looks like a secret, if it does.
pub fn classify(name: &OsStr, content: &[u8]) -> Option<&'static str> {
    judge(name, content, &PemHeaders::read(content, u64::MAX))
}

/// Why a file looks like a secret, from its name, its `start` and the PEM headers in it.
fn judge(name: &OsStr, start: &[u8], headers: &PemHeaders) -> Option<&'static str> {
    if starts_with_private_key(start) {
        return Some("a private key (its content starts with a private-key header)");
    }
    if headers.private_key {
        return Some("a private key (a private-key header in it)");
    }
    let name = name.as_encoded_bytes();
    if SECRET_NAMES.iter().any(|secret| name == secret.as_bytes()) {
        return Some("a credentials file by its name");
    }
    if name.ends_with(b".key") {
        return Some("a key file by its name (*.key)");
    }
    if name.ends_with(b".pem") && !headers.truncated && !headers.only_certificates() {
        return Some("a PEM file that is not only certificates (*.pem)");
    }
    if name.ends_with(b".pem") && headers.truncated {
        return Some("a PEM file larger than 4 MiB, not read to its end (*.pem)");
    }
    None
}

/// The kinds of PEM block a file's header lines (`-----BEGIN <LABEL>-----`) announce.
#[derive(Debug, Default)]
struct PemHeaders {
    private_key: bool,
    certificate: bool,
    /// Any other block: a public key, a CRL, parameters, or a label this does not know.
    other: bool,
    /// The file is longer than what was read.
    truncated: bool,
}

impl PemHeaders {
    /// The headers in at most `limit` bytes of `reader`, a line at a time (memory bounded by
    /// `limit`); stops at the first private-key header.
    fn read(reader: impl std::io::BufRead, limit: u64) -> PemHeaders {
        use std::io::BufRead;
        let mut headers = PemHeaders::default();
        let mut reader = reader.take(limit.saturating_add(1));
        let mut line = Vec::new();
        let mut total: u64 = 0;
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n as u64,
            }
            let text = line.trim_ascii();
            if !text.starts_with(b"-----BEGIN ") {
                continue;
            }
            if text.ends_with(b"PRIVATE KEY-----") {
                headers.private_key = true;
                return headers;
            }
            match text {
                b"-----BEGIN CERTIFICATE-----" | b"-----BEGIN TRUSTED CERTIFICATE-----" => headers.certificate = true,
                _ => headers.other = true,
            }
        }
        headers.truncated = total > limit;
        headers
    }

    /// A PEM file whose every block is a certificate (a CA bundle).
    fn only_certificates(&self) -> bool {
        self.certificate && !self.other && !self.private_key
    }
}

fn starts_with_private_key(start: &[u8]) -> bool {
    let text = start.trim_ascii_start();
    (text.starts_with(b"-----BEGIN ") && first_line(text).ends_with(b"PRIVATE KEY-----"))
        || text.starts_with(b"PuTTY-User-Key-File-")
}

fn first_line(text: &[u8]) -> &[u8] {
    let end = memchr::memchr(b'\n', text).unwrap_or(text.len());
    text[..end].trim_ascii_end()
}

/// Extensions whose content is not read for a key header: Python code and bytecode and native
/// modules, which make up nearly every file of an artifact and which a key file would not be
/// named as (a key inside Python code is a string, not a file's start). Reading the start of
/// each of them cost a scan of 10,000 files five times `find`.
const CODE_EXTENSIONS: [&str; 10] = ["py", "pyc", "pyo", "pyi", "pyx", "pxd", "so", "pyd", "dll", "dylib"];

/// The files an installer writes into a `*.dist-info` dir about the package (its metadata, the
/// list of installed files, the installer's name, the request flag): text in known formats,
/// never a key, so their content is not read (a site-packages tree has one of each per
/// package). `direct_url.json`, licenses and anything else there are read as any file is.
const INSTALLER_RECORDS: [&str; 4] = ["METADATA", "RECORD", "INSTALLER", "REQUESTED"];

fn installer_record(path: &Path, name: &[u8]) -> bool {
    INSTALLER_RECORDS.iter().any(|record| name == record.as_bytes())
        && path.parent().and_then(Path::file_name).is_some_and(|dir| dir.as_encoded_bytes().ends_with(b".dist-info"))
}

/// Why the file at `path`, named `name`, looks like a secret, if it does: by its name, or by
/// the start of its content unless its extension says it is code (see [`CODE_EXTENSIONS`]).
/// Called for every file of the parallel scan.
pub fn check_file(path: &Path, name: &OsStr) -> Option<&'static str> {
    check_file_read(path, name, None)
}

/// [`check_file`] for a file whose content the scan has already read whole (`content`): no
/// second open.
pub fn check_file_read(path: &Path, name: &OsStr, content: Option<&[u8]>) -> Option<&'static str> {
    if is_pip_file(name) && pip_file_has_credential(path) {
        return Some(CREDENTIAL_URL);
    }
    let bytes = name.as_encoded_bytes();
    let extension = bytes.iter().rposition(|b| *b == b'.').map(|i| &bytes[i + 1..]);
    let code = extension.is_some_and(|ext| CODE_EXTENSIONS.iter().any(|c| ext.eq_ignore_ascii_case(c.as_bytes())));
    if code || installer_record(path, bytes) {
        return classify(name, b"");
    }
    let start = match content {
        Some(content) => content[..content.len().min(HEADER_WINDOW)].to_vec(),
        None => read_start(path),
    };
    let pem = bytes.ends_with(b".pem") || memchr::memmem::find(&start, b"-----BEGIN ").is_some();
    if pem && start.len() == HEADER_WINDOW {
        // A PEM file longer than its start: its headers may come later (a CA bundle's first
        // certificate after pages of comments, a key after a certificate), so read it through.
        return judge(name, &start, &pem_headers_of(path));
    }
    classify(name, &start)
}

/// The PEM headers of the regular file at `path`, streamed (never a FIFO or device: see
/// [`crate::sys::beneath::open_regular`]); none for a file that cannot be read.
fn pem_headers_of(path: &Path) -> PemHeaders {
    match crate::sys::beneath::open_regular(path) {
        Ok(file) => PemHeaders::read(std::io::BufReader::with_capacity(64 << 10, file), PEM_LIMIT),
        Err(_) => PemHeaders::default(),
    }
}

/// The findings for the likely secrets the scan found (`Scan::secrets`: hidden files included,
/// sam ships them).
pub fn findings(secrets: &[(std::path::PathBuf, &'static str)], ctx: &FileContext) -> Vec<Finding> {
    secrets
        .iter()
        .map(|(path, why)| {
            Finding::new(
                GUARD,
                ctx.shown(path),
                format!("{why}: it would ship inside the function package"),
                "anyone who can read the function's code (lambda get-function, the console's download) reads the secret",
                fix(ctx, path, why),
            )
        })
        .collect()
}

/// A likely secret that a third-party distribution installed: its RECORD lists the file.
#[derive(Debug, Clone)]
pub struct InstalledSecret {
    pub path: std::path::PathBuf,
    pub why: &'static str,
    pub owner: Owner,
}

/// The likely secrets split by where they come from: the app's own files (findings: remove
/// and rotate), and files a third-party distribution's RECORD lists, such as the test CA key
/// moto ships in `moto/moto_proxy/ca.key`. Removing one of those from the build output cannot
/// work (the next build installs it again) and it was that package's, public, not the app's:
/// a notice (see [`installed_notice`]). A distribution installed from a local path is the
/// app's own code packaged, so its files stay findings.
pub fn split_installed(
    secrets: &[(std::path::PathBuf, &'static str)],
    ctx: &FileContext,
) -> (Vec<(std::path::PathBuf, &'static str)>, Vec<InstalledSecret>) {
    let mut own = Vec::new();
    let mut installed = Vec::new();
    for (path, why) in secrets {
        let from_function_dir = ctx.function_dir_origin(path).is_some();
        match ctx.owner(path).filter(|owner| !owner.from_local_path() && !from_function_dir) {
            Some(owner) => installed.push(InstalledSecret { path: path.clone(), why, owner }),
            None => own.push((path.clone(), *why)),
        }
    }
    (own, installed)
}

/// The notice for a likely secret a third-party distribution installed, naming the
/// distribution and `pulled_in_by` (the requirement chain that installs it, as text).
pub fn installed_notice(secret: &InstalledSecret, ctx: &FileContext, pulled_in_by: Option<&str>) -> String {
    let origin = match pulled_in_by {
        Some(chain) => format!(", pulled in by {chain}"),
        None => String::new(),
    };
    format!(
        "notice: {} is {}, but a file of the installed distribution {} {}{origin}, not of your code: every build installs it again, so it is no secret of yours to remove or rotate; it ships in the function package all the same (drop the requirement if that package should not ship)",
        ctx.shown(&secret.path),
        secret.why,
        secret.owner.name,
        secret.owner.version
    )
}

fn fix(ctx: &FileContext, path: &Path, why: &str) -> String {
    if let Some((zip, entry)) = ctx.zip_entry(path) {
        return format!(
            "remove it from the zip (zip -d {zip} {entry}) and from whatever makes the zip, rotate the secret it held, and read it at run time from Secrets Manager; if it is not a secret, rerun with --allow {GUARD}"
        );
    }
    let shown = match ctx.remedy_origin(path) {
        Some(origin) => ctx.shell(&origin),
        None => ctx.shell(path),
    };
    if why == CREDENTIAL_URL {
        let url = crate::sys::beneath::read_start(path, PIP_FILE_WINDOW)
            .ok()
            .and_then(|bytes| crate::sys::redact::find_credential_url(&String::from_utf8_lossy(&bytes)))
            .unwrap_or_else(|| "the URL".into());
        return format!(
            "replace the credential in {url} in {shown} by a variable pip expands when sam build installs (https://<user>:${{PIP_TOKEN}}@<host>/..., with PIP_TOKEN exported before cargo xtask lambda-build), or drop the line and export PIP_INDEX_URL instead; then rotate the token: it was in the file"
        );
    }
    format!(
        "move it out of the source (rm {shown}, and keep it out with .gitignore), rotate the secret it held, and read it at run time from Secrets Manager; if it is not a secret, rerun with --allow {GUARD}"
    )
}

fn pip_file_has_credential(path: &Path) -> bool {
    let text = crate::sys::beneath::read_start(path, PIP_FILE_WINDOW).unwrap_or_default();
    crate::sys::redact::find_credential_url(&String::from_utf8_lossy(&text)).is_some()
}

/// The file's start; nothing for what is not a regular file (never opened: a FIFO's open
/// would wait forever).
fn read_start(path: &Path) -> Vec<u8> {
    crate::sys::beneath::read_start(path, HEADER_WINDOW as u64).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_installers_records_are_judged_by_name_anything_else_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n";
        for (relative, found) in [
            ("six-1.0.dist-info/METADATA", false),
            ("six-1.0.dist-info/RECORD", false),
            ("six-1.0.dist-info/direct_url.json", true),
            ("six-1.0.dist-info/licenses/LICENSE", true),
            ("six/RECORD", true),
            ("METADATA", true),
        ] {
            let path = dir.path().join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, key).unwrap();
            assert_eq!(check_file(&path, path.file_name().unwrap()).is_some(), found, "{relative}");
            let content = std::fs::read(&path).unwrap();
            assert_eq!(
                check_file_read(&path, path.file_name().unwrap(), Some(&content)).is_some(),
                found,
                "{relative}"
            );
        }
    }

    #[test]
    fn keys_are_found_by_content_whatever_their_name() {
        for header in [
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n",
            "-----BEGIN RSA PRIVATE KEY-----\r\nMIIE\n",
            "\n-----BEGIN PRIVATE KEY-----\nMII\n",
            "-----BEGIN EC PRIVATE KEY-----\n",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\n",
            "PuTTY-User-Key-File-3: ssh-ed25519\n",
        ] {
            assert!(classify(OsStr::new("notes.txt"), header.as_bytes()).is_some(), "{header}");
        }
        assert_eq!(classify(OsStr::new("keys.py"), b"KEY = '-----BEGIN RSA PRIVATE KEY-----'"), None);
    }

    #[test]
    fn credential_names_are_found_and_certificate_bundles_pass() {
        for name in ["credentials", ".pgpass", ".npmrc", ".netrc", ".env", "id_rsa", "id_ed25519", "server.key"] {
            assert!(classify(OsStr::new(name), b"anything").is_some(), "{name}");
        }
        assert!(classify(OsStr::new("client.pem"), b"-----BEGIN CERTIFICATE-----\nMII\n-----BEGIN PRIVATE KEY-----\n")
            .is_some());
        assert!(classify(OsStr::new("client.pem"), b"opaque").is_some());
        assert_eq!(
            classify(OsStr::new("cacert.pem"), b"\n# Issuer: CN=GlobalSign\n-----BEGIN CERTIFICATE-----\nMII\n"),
            None
        );
        assert_eq!(classify(OsStr::new("credentials.py"), b"def load(): ..."), None);
    }

    #[test]
    fn content_is_read_unless_the_name_says_code() {
        let dir = tempfile::tempdir().unwrap();
        let key = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n";
        for name in ["deploy_key", "notes.txt", "key.json", "module.py", "ext.so", "cacert.pem"] {
            std::fs::write(dir.path().join(name), key).unwrap();
        }
        let found = |name: &str| check_file(&dir.path().join(name), OsStr::new(name));
        for name in ["deploy_key", "notes.txt", "key.json", "cacert.pem"] {
            assert!(found(name).is_some(), "{name}");
        }
        assert_eq!(found("module.py"), None);
        assert_eq!(found("ext.so"), None);
    }

    /// A CA bundle whose first certificate follows more comment than the first read shows.
    fn bundle_after_comments(comment_bytes: usize, blocks: &[&str]) -> String {
        let mut text = String::new();
        while text.len() < comment_bytes {
            text.push_str("# Issuer: CN=Example Root CA, O=Example Trust Services, C=XX, a public root\n");
        }
        for label in blocks {
            text.push_str(&format!("-----BEGIN {label}-----\nMIIBexampleexampleexample\n-----END {label}-----\n"));
        }
        text
    }

    #[test]
    fn a_pem_file_is_judged_by_every_header_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let found = |name: &str, text: &str| {
            std::fs::write(dir.path().join(name), text).unwrap();
            check_file(&dir.path().join(name), OsStr::new(name))
        };
        // Certificates only, the first one past the first read: public, no finding.
        let bundle = bundle_after_comments(5561, &["CERTIFICATE", "CERTIFICATE"]);
        assert_eq!(found("roots.pem", &bundle), None);
        // A private key after the certificates, far in: a private key.
        let with_key = bundle_after_comments(5561, &["CERTIFICATE", "RSA PRIVATE KEY"]);
        assert_eq!(found("roots.pem", &with_key), Some("a private key (a private-key header in it)"));
        // Whatever the name, once the start shows PEM: a certificate and then a key.
        let chain = bundle_after_comments(0, &["CERTIFICATE"]) + &bundle_after_comments(5000, &["PRIVATE KEY"]);
        assert_eq!(found("server.crt", &chain), Some("a private key (a private-key header in it)"));
        // Comments only, or another block after the certificates: not only certificates.
        assert!(found("roots.pem", &bundle_after_comments(6000, &[])).is_some());
        assert!(found("roots.pem", &bundle_after_comments(6000, &["CERTIFICATE", "X509 CRL"])).is_some());
        // A FIFO named .pem is never opened (the walk would hang): judged by its name alone.
        let fifo = dir.path().join("pipe.pem");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, rustix::fs::Mode::RUSR, 0).unwrap();
        assert!(check_file(&fifo, OsStr::new("pipe.pem")).is_some());
    }

    #[test]
    fn a_pem_file_past_the_limit_is_not_passed_unread() {
        let mut text = bundle_after_comments(0, &["CERTIFICATE"]);
        text.push_str(&"# padding\n".repeat((PEM_LIMIT as usize) / 10 + 1));
        let headers = PemHeaders::read(text.as_bytes(), PEM_LIMIT);
        assert!(headers.truncated && headers.certificate);
        assert_eq!(
            judge(OsStr::new("big.pem"), b"", &headers),
            Some("a PEM file larger than 4 MiB, not read to its end (*.pem)")
        );
    }

    #[test]
    fn a_pip_file_with_a_credential_in_a_url_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            std::fs::write(dir.path().join(name), text).unwrap();
            check_file(&dir.path().join(name), OsStr::new(name))
        };
        let token = "fastapi==0.115\n--index-url https://deploy:TOKEN-7a6b@pkgs.example.com/simple\n";
        assert_eq!(write("requirements.txt", token), Some(CREDENTIAL_URL));
        assert_eq!(write("requirements-dev.in", "-i https://ghp_0123456789@github.com/simple\n"), Some(CREDENTIAL_URL));
        assert_eq!(
            write("pip.conf", "[global]\nindex-url = https://u:p@mirror.example.com/simple\n"),
            Some(CREDENTIAL_URL)
        );
        assert_eq!(write("requirements.txt", "--index-url https://pkgs.example.com/simple\nfastapi\n"), None);
        assert_eq!(write("requirements.txt", "tool @ git+ssh://git@github.com/org/tool.git\n"), None);
        // The fix it names: the credential as a variable pip expands.
        assert_eq!(write("requirements.txt", "-i https://deploy:${PIP_TOKEN}@pkgs.example.com/simple\n"), None);
        // Only pip's files: a README showing a URL with a placeholder is not a finding here.
        assert_eq!(write("notes.txt", "https://user:pass@example.com\n"), None);
    }
}
