//! Exit statuses, decided in one place: 0 success, 1 a step or guard failed, 2 bad usage or
//! configuration. Commands return errors; only `finish` turns them into a status.

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
    pub fn new(message: String) -> BadInput {
        if !message.contains(['\n', '\r']) {
            return BadInput(message);
        }
        let parts: Vec<&str> = message.split(['\n', '\r']).map(str::trim).filter(|part| !part.is_empty()).collect();
        BadInput(parts.join(" "))
    }
}

/// Return early with a [`BadInput`] error, formatted like `format!`.
#[macro_export]
macro_rules! bad_input {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::run::exit::BadInput::new(format!($($arg)*))))
    };
}

/// The pipeline already printed this failure and its closing line; `finish` prints nothing
/// more and exits with the status it carries.
#[derive(Debug)]
pub struct AlreadyReported(pub u8);

impl fmt::Display for AlreadyReported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "failure already reported (exit status {})", self.0)
    }
}

impl std::error::Error for AlreadyReported {}

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
    if let Some(AlreadyReported(status)) = err.downcast_ref::<AlreadyReported>() {
        *status
    } else if err.chain().any(|cause| cause.is::<Interrupted>()) {
        INTERRUPTED
    } else if err.chain().any(|cause| cause.is::<BadInput>()) {
        BAD_INPUT
    } else {
        FAILED
    }
}

pub fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let status = status_of(&err);
            if err.downcast_ref::<AlreadyReported>().is_none() {
                if let Some(bad) = err.chain().find_map(|c| c.downcast_ref::<BadInput>()) {
                    eprintln!("error: {bad}");
                } else {
                    eprintln!("error: {err:#}");
                }
            }
            ExitCode::from(status)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
