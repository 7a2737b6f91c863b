//! The end-to-end tests: one binary (one link step), a module per area. Each runs the real
//! xtask binary on a copy of this repository; `support` has the copy, the fake tools and the
//! local AWS.
//!
//! Run one area with `cargo test -p xtask --test it <module>::`, e.g. `guards::`.

mod any_app;
mod audit_integrity;
mod bad_input;
mod bad_input_snapshots;
mod build;
mod ci_mode;
mod corpus_shapes;
mod deploy;
mod deploy_any_app;
mod deploy_promises;
mod docs;
mod doctor;
mod evidence;
mod faults;
mod guards;
mod incremental;
mod ownership;
mod package_size;
mod racy_edits;
mod rehearsal;
mod rehearsal_faults;
mod rehearsal_standins;
mod reliability;
mod sample_template;
mod shapes;
mod signals;
mod smoke_apps;
mod support;
mod thin_xtask;
mod tool_cache;
mod url_credentials;
