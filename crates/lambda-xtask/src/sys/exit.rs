//! Exit statuses, decided in one place: 0 success, 1 a step or guard failed, 2 bad usage or
//! configuration. Commands return errors; only `finish` (and `run::conclude`, for a failure
//! the pipeline printed) turns them into a status.

use std::fmt;
use std::process::ExitCode;

/// Bad usage or configuration: the user must change a flag, a file or the machine. Printed as
/// one line and mapped to exit status 2. Raised before anything on disk is changed.
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

impl BadInput {
    /// The message on one line whatever it quotes: a name taken from a file (a TOML key, a
    /// path) may hold a line break, and bad input is promised as exactly one line.
    ///
    /// Also at most [`MAX_BAD_INPUT`] characters: a message quoting a 10 MB requirements line
    /// or a 400 KB TOML table keeps its start (where it is, what is wrong) and its end (the
    /// fix) and drops the middle, the quoted input.
    pub fn new(message: String) -> BadInput {
        // It quotes the user's input, which may hold a URL with a token in it.
        let message = crate::sys::redact::mask_url_credentials(&message);
        let message = if message.contains(['\n', '\r']) {
            let parts: Vec<&str> = message.split(['\n', '\r']).map(str::trim).filter(|part| !part.is_empty()).collect();
            parts.join(" ")
        } else {
            message
        };
        BadInput(cut_middle(message, MAX_BAD_INPUT))
    }
}

/// How long a bad-input line may be.
pub const MAX_BAD_INPUT: usize = 600;

fn cut_middle(message: String, max: usize) -> String {
    let length = message.chars().count();
    if length <= max {
        return message;
    }
    let keep = (max - 40) / 2;
    let head: String = message.chars().take(keep).collect();
    let tail: String = message.chars().skip(length - keep).collect();
    format!("{head} [... {} characters cut ...] {tail}", length - 2 * keep)
}

/// Return early with a [`BadInput`] error, formatted like `format!`.
#[macro_export]
macro_rules! bad_input {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::sys::exit::BadInput::new(format!($($arg)*))))
    };
}

/// SIGINT or SIGTERM stopped the run: the child finished or was killed, the step is named,
/// and the process exits 130 like a shell does for Ctrl-C.
#[derive(Debug)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted by a signal")
    }
}

impl std::error::Error for Interrupted {}

pub const FAILED: u8 = 1;
pub const BAD_INPUT: u8 = 2;
pub const INTERRUPTED: u8 = 130;

pub fn status_of(err: &anyhow::Error) -> u8 {
    if err.chain().any(|cause| cause.is::<Interrupted>()) {
        INTERRUPTED
    } else if err.chain().any(|cause| cause.is::<BadInput>()) {
        BAD_INPUT
    } else {
        FAILED
    }
}

/// The error as the user reads it: bad input is its one line, anything else the whole chain;
/// scrubbed of secrets and of the credentials in URLs, wherever it goes (the terminal, the
/// `--json` report, the step summary).
pub fn error_text(err: &anyhow::Error) -> String {
    let text = match err.chain().find_map(|cause| cause.downcast_ref::<BadInput>()) {
        Some(bad) => bad.to_string(),
        None => format!("{err:#}"),
    };
    crate::sys::redact::scrub(&text)
}

/// The exit status of a run that failed before its pipeline printed anything: prints the
/// error first.
pub fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let status = status_of(&err);
            say!("error: {}", error_text(&err));
            ExitCode::from(status)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_quoted_input_is_cut_keeping_the_place_and_the_fix() {
        let message = format!("requirements.txt:3: {:?} is not valid: fix or remove the line", "x".repeat(10_000_000));
        let bad = BadInput::new(message);
        assert!(bad.0.chars().count() <= MAX_BAD_INPUT, "{}", bad.0.len());
        assert!(bad.0.starts_with("requirements.txt:3: \"xxx"), "{}", bad.0);
        assert!(bad.0.ends_with("fix or remove the line"), "{}", bad.0);
        assert!(bad.0.contains("characters cut"));
    }

    fn refuse(name: &str) -> anyhow::Result<()> {
        crate::bad_input!("environment {name} has no stack_name: add it")
    }

    #[test]
    fn bad_input_is_one_line_whatever_it_quotes() {
        let err = refuse("qa\r\n  staging\n").unwrap_err();
        assert_eq!(status_of(&err), BAD_INPUT);
        assert_eq!(err.to_string(), "environment qa staging has no stack_name: add it");
        assert_eq!(refuse("dev").unwrap_err().to_string(), "environment dev has no stack_name: add it");
    }
}
