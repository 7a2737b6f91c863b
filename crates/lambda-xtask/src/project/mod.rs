//! The repository the xtask works on: its configuration (`[workspace.metadata.lambda]`), the
//! layout of sam's work dir, the SAM template, samconfig.toml, and the functions to build.

pub mod cfn_yaml;
pub mod config;
pub mod deploy_settings;
pub mod health_check;
pub mod intrinsics;
pub mod placeholder;
pub mod runtime;
pub mod runtime_sdk;
pub mod samconfig;
pub mod source;
pub mod stack_template;
pub mod target;
pub mod template;
pub mod tool_files;
pub mod yaml_budget;
