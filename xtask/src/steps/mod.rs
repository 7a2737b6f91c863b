//! The steps of lambda-build, one module each, in the order the pipeline runs them.

pub mod clean;
pub mod copy_backend;
pub mod derived_template;
pub mod owned_dir;
pub mod sam_build;
