//! Guards: checks that find what would break the function on Lambda before it ships.
//!
//! A guard returns findings; it never prints or exits. The pipeline decides what to print
//! and which exit status follows.

pub mod abi;
pub mod allow;
pub mod aws_sdk;
pub mod dependencies;
pub mod files;
pub mod imports;
pub mod lambda_python;
pub mod links;
pub mod package_size;
pub mod platform;
pub mod runtime_sdk;
pub mod scan;
pub mod sdk_probe;
pub mod secrets;
pub mod smoke;
pub mod smoke_events;
pub mod source;
pub mod suite;
pub mod task_root;
pub mod zip_package;

use std::fmt;

/// One thing that would break the deployed function, with everything needed to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The guard's name, as `--allow` takes it.
    pub guard: &'static str,
    /// Path relative to the repository root.
    pub path: String,
    /// Line in that file, where the finding is about one line (CI annotations point at it).
    pub line: Option<u32>,
    /// What is wrong here.
    pub problem: String,
    /// What Lambda would do with it: the seed symptom this prevents.
    pub symptom: String,
    /// The command or edit that fixes it.
    pub fix: String,
}

impl Finding {
    pub fn new(
        guard: &'static str,
        path: impl Into<String>,
        problem: impl Into<String>,
        symptom: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            guard,
            path: path.into(),
            line: None,
            problem: problem.into(),
            symptom: symptom.into(),
            fix: fix.into(),
        }
    }

    pub fn at_line(mut self, line: u32) -> Finding {
        self.line = Some(line);
        self
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => writeln!(f, "[{}] {}:{line}", self.guard, self.path)?,
            None => writeln!(f, "[{}] {}", self.guard, self.path)?,
        }
        writeln!(f, "    problem: {}", self.problem)?;
        writeln!(f, "    breaks:  {}", self.symptom)?;
        write!(f, "    fix:     {}", self.fix)
    }
}
