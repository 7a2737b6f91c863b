//! The build's machinery, shared by lambda-build and lambda-deploy: copy-backend, clean,
//! sam build, and the fingerprint that makes a no-op build "up to date".

pub mod clean;
pub mod copy_backend;
pub mod derived_template;
pub mod fingerprint;
pub mod sam_build;
pub mod stage;
pub mod uv_layer;
