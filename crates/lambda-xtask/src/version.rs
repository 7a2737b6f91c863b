//! The tool's version, in a module of its own so that any layer may name it.

/// This library's version: what reports, SBOMs, stack tags and audit lines name as the tool's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
