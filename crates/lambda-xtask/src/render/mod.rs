//! Pure renderings of a run's record: the `--json` report, GitHub annotations and step
//! summary, timestamps. Nothing here prints or writes a file.

pub mod github;
pub mod quote;
pub mod report;
pub mod time;
