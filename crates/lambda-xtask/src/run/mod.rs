//! The record of a run: exit statuses and bad input, the steps and findings a pipeline
//! observed, the pipeline itself, and how a run is concluded (report, summary, exit status).

pub mod conclude;
pub mod exit;
pub mod pipeline;
pub mod progress;
pub mod record;
