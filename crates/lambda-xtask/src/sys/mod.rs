//! The machine: child processes and signals, the repository lock, redaction of secrets,
//! provisioned tools, directories the xtask owns, atomic writes, git, and the one filesystem
//! layer every path into the user's tree goes through ([`beneath`]).

pub mod atomic;
pub mod beneath;
pub mod cache_dir;
pub mod git;
pub mod interpreters;
pub mod listener;
pub mod lock;
pub mod orphans;
pub mod owned_dir;
pub mod parallel;
pub mod process;
pub mod redact;
pub mod runtime_sdk;
pub mod stand_in_aws;
pub mod tools;
