//! The record of a run: the steps and findings a pipeline observed, the pipeline itself, its
//! pure renderings (the `--json` report, GitHub annotations and step summary), and how a run
//! is concluded (report, summary, exit status).

pub mod conclude;
pub mod github;
pub mod pipeline;
pub mod progress;
pub mod record;
pub mod report;
