//! Secret values and credentials never reach the terminal, a log or an error chain.
//!
//! Every value that must stay secret is registered here once (the AWS credentials from the
//! environment, the values the local rehearsal seeds into its secrets), and everything the
//! xtask prints passes through [`scrub`] first: its own lines (the crate's `eprintln!` and
//! `println!` are this module's, see `lib.rs`, and so are the `Ui`'s), what it echoes from a
//! child process (sam and aws output, their stderr in errors), error chains, the `--json`
//! report, the CI step summary and the audit record. The xtask itself never reads a secret's
//! value.
//!
//! Credentials written into a URL (`https://deploy:TOKEN@host/simple` in a requirements
//! file, a git remote, a health-check URL) are masked wherever they appear, registered or
//! not, as pip masks them: `https://deploy:****@host/simple`, and `https://****@host` for a
//! user name alone (often a token).

use std::sync::Mutex;

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Replaces a secret in anything printed.
pub const REDACTED: &str = "[redacted]";

/// Environment variables whose values are credentials.
pub const CREDENTIAL_VARIABLES: [&str; 7] = [
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "GITHUB_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
];

/// Credentials from the environment shorter than this are placeholders (`test`, `testing` for
/// a local AWS), not secrets: masking them would blank ordinary words. Real AWS keys and
/// tokens are 20 characters and more.
const MIN_CREDENTIAL_LENGTH: usize = 12;

/// Registers a value that must never be printed. Values shorter than 4 characters are
/// ignored: redacting "a" would garble every line without protecting anything.
pub fn register(value: &str) {
    let value = value.trim();
    if value.len() < 4 {
        return;
    }
    let mut secrets = SECRETS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !secrets.iter().any(|known| known == value) {
        secrets.push(value.to_string());
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// Registers the credentials of the current environment.
pub fn register_credentials_from_env() {
    for name in CREDENTIAL_VARIABLES {
        if let Ok(value) = std::env::var(name) {
            if value.trim().len() >= MIN_CREDENTIAL_LENGTH {
                register(&value);
            }
        }
    }
}

/// The text with every registered secret replaced by `[redacted]` and every credential in a
/// URL masked (see [`mask_url_credentials`]).
pub fn scrub(text: &str) -> String {
    let secrets = SECRETS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut text = mask_url_credentials(text);
    for secret in secrets.iter() {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), REDACTED);
        }
    }
    text
}

/// Every string in a JSON value, [`scrub`]bed: for records written as JSON (the audit line),
/// where scrubbing the serialised text could cut into its syntax.
pub fn scrub_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(text) => {
            let scrubbed = scrub(text);
            if scrubbed != *text {
                *text = scrubbed;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(scrub_json),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(scrub_json),
        _ => {}
    }
}

/// Stands for a masked password or token.
pub const MASK: &str = "****";

/// The text with the credentials of every URL in it masked as pip's `redact_auth_from_url`
/// does: `scheme://user:password@host` becomes `scheme://user:****@host`, and
/// `scheme://user@host` (a token as the user name) becomes `scheme://****@host`. The
/// user-info is what lies between `://` and the last `@` before the host's end (`/`, `?`,
/// `#`, whitespace, a quote or the end of the text), so `https://host/a@b` is left alone.
pub fn mask_url_credentials(text: &str) -> String {
    if !text.contains("://") || !text.contains('@') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'' | '`' | '<' | '>') || c.is_whitespace())
            .unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rfind('@') {
            Some(split) if split > 0 => {
                let userinfo = &authority[..split];
                match userinfo.split_once(':') {
                    Some((user, _password)) => {
                        out.push_str(user);
                        out.push(':');
                        out.push_str(MASK);
                    }
                    None => out.push_str(MASK),
                }
                out.push_str(&authority[split..]);
            }
            _ => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Whether `url`'s user-info holds a credential: a password, or over http(s) a user name
/// alone (`https://<token>@github.com/...`). `ssh://git@host` names a login, not a secret,
/// and `https://deploy:${PIP_TOKEN}@host` names a variable pip expands when it installs (pip's
/// own advice for credentials in a requirements file), not its value.
pub fn url_has_credentials(url: &str) -> bool {
    let Some((scheme, after)) = url.split_once("://") else { return false };
    let end = after
        .find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'' | '`') || c.is_whitespace())
        .unwrap_or(after.len());
    let Some(split) = after[..end].rfind('@') else { return false };
    let userinfo = &after[..split];
    let secret = match userinfo.split_once(':') {
        Some((_, password)) => password,
        None => userinfo,
    };
    if secret.is_empty() || is_variable(secret) {
        return false;
    }
    let scheme = scheme.rsplit('+').next().unwrap_or(scheme).to_ascii_lowercase();
    userinfo.contains(':') || scheme == "http" || scheme == "https"
}

/// `${NAME}`, as pip expands it in a requirements file.
fn is_variable(text: &str) -> bool {
    text.strip_prefix("${")
        .and_then(|rest| rest.strip_suffix('}'))
        .is_some_and(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// The first URL with a credential in `text` (see [`url_has_credentials`]), masked.
pub fn find_credential_url(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '=' | '(' | ')' | '<' | '>' | ','))
        .find(|word| url_has_credentials(word))
        .map(mask_url_credentials)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_values_are_replaced_everywhere() {
        register("canary-7f3a-secret-value");
        register("canary-7f3a-secret-value-longer");
        let text = "a canary-7f3a-secret-value-longer b canary-7f3a-secret-value c";
        assert_eq!(scrub(text), "a [redacted] b [redacted] c");
    }

    #[test]
    fn short_values_are_not_registered() {
        register("ab");
        assert_eq!(scrub("ab cd"), "ab cd");
    }

    #[test]
    fn credentials_in_urls_are_masked_as_pip_masks_them() {
        let cases = [
            (
                "--index-url https://deploy:TOKEN-1f2e3d@pkgs.example.com/simple --bogus-flag",
                "--index-url https://deploy:****@pkgs.example.com/simple --bogus-flag",
            ),
            ("git+https://ghp_abc123@github.com/org/repo.git#egg=x", "git+https://****@github.com/org/repo.git#egg=x"),
            ("\"https://u:p@h:8443/x?q=1\"", "\"https://u:****@h:8443/x?q=1\""),
            ("a https://u:p%40ss@h b http://v:w@i", "a https://u:****@h b http://v:****@i"),
            (
                "https://host/path@v1 and s3://bucket/key and ann@example.com",
                "https://host/path@v1 and s3://bucket/key and ann@example.com",
            ),
            ("https://:secret@h/", "https://:****@h/"),
            ("nothing here", "nothing here"),
        ];
        for (text, masked) in cases {
            assert_eq!(mask_url_credentials(text), masked, "{text}");
            assert_eq!(scrub(text), masked, "{text}");
        }
    }

    #[test]
    fn a_credential_url_is_told_from_a_login() {
        assert!(url_has_credentials("https://deploy:TOKEN@host/simple"));
        assert!(url_has_credentials("https://ghp_token@github.com/org/repo"));
        assert!(url_has_credentials("git+ssh://git:pw@host/r"));
        assert!(!url_has_credentials("git+ssh://git@github.com/org/repo.git"));
        assert!(!url_has_credentials("https://pypi.org/simple"));
        assert!(!url_has_credentials("https://host/a@b"));
        // A variable pip expands at install time holds no secret in the file.
        assert!(!url_has_credentials("https://deploy:${PIP_TOKEN}@host/simple"));
        assert!(!url_has_credentials("https://${GH_TOKEN}@github.com/org/repo"));
        assert!(url_has_credentials("https://deploy:${PIP_TOKEN}x@host/simple"));
        assert_eq!(
            find_credential_url("-i https://deploy:TOKEN@host/simple\nfastapi==1"),
            Some("https://deploy:****@host/simple".into())
        );
        assert_eq!(
            find_credential_url("--index-url=https://deploy:TOKEN@host/simple"),
            Some("https://deploy:****@host/simple".into())
        );
        assert_eq!(find_credential_url("fastapi==1\n"), None);
    }

    #[test]
    fn json_strings_are_scrubbed_and_the_json_stays_valid() {
        register("true-secret-canary");
        let mut value = serde_json::json!({"url": "https://u:p@h/x", "n": [true, "true-secret-canary"], "b": true});
        scrub_json(&mut value);
        assert_eq!(value, serde_json::json!({"url": "https://u:****@h/x", "n": [true, "[redacted]"], "b": true}));
    }
}
