//! Secret values and credentials never reach the terminal, a log or an error chain.
//!
//! Every value that must stay secret is registered here once (the AWS credentials from the
//! environment, the values the local rehearsal seeds into its secrets), and everything the
//! xtask prints from a child process (sam and aws output, their stderr in errors) passes
//! through [`scrub`] first. The xtask itself never reads a secret's value.

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

/// The text with every registered secret replaced by `[redacted]`.
pub fn scrub(text: &str) -> String {
    let secrets = SECRETS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut text = text.to_string();
    for secret in secrets.iter() {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), REDACTED);
        }
    }
    text
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
}
