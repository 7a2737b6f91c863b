//! Guards: checks that find what would break the function on Lambda before it ships.
//!
//! A guard returns findings; it never prints or exits. The pipeline decides what to print
//! and which exit status follows.

pub mod source;

use std::fmt;

/// One thing that would break the deployed function, with everything needed to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The guard's name, as `--allow` takes it.
    pub guard: &'static str,
    /// Path relative to the repository root.
    pub path: String,
    /// What is wrong here.
    pub problem: String,
    /// What Lambda would do with it: the seed symptom this prevents.
    pub symptom: String,
    /// The command or edit that fixes it.
    pub fix: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "[{}] {}", self.guard, self.path)?;
        writeln!(f, "    problem: {}", self.problem)?;
        writeln!(f, "    breaks:  {}", self.symptom)?;
        write!(f, "    fix:     {}", self.fix)
    }
}
