//! The machine: child processes and signals, the repository lock, redaction of secrets,
//! provisioned tools, directories the xtask owns, atomic writes, git, and the one filesystem
//! layer every path into the user's tree goes through ([`beneath`]).

pub mod atomic;
pub mod beneath;
pub mod cache_dir;
pub mod exit;
pub mod git;
pub mod interpreters;
pub mod layout;
pub mod listener;
pub mod lock;
pub mod orphans;
pub mod owned_dir;
pub mod parallel;
pub mod process;
pub mod quote;
pub mod redact;
pub mod stand_in_aws;
pub mod time;
pub mod tools;
pub mod zip_archive;
