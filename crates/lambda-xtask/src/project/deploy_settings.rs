//! lambda-deploy's side of the configuration: `[workspace.metadata.lambda.deploy]` in the root
//! `Cargo.toml`, with one optional table per environment. What sam needs (stack name, region,
//! parameters) stays in samconfig.toml; what only the xtask checks lives here.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use serde::Deserialize;

use super::health_check::HealthCheckSetting;
use crate::bad_input;

/// The environment reserved for the rehearsal: it never reaches a real account.
pub const REHEARSAL_ENV: &str = "local";

/// Versions a fresh machine of this kind ships; installed into the tool cache when missing.
pub const DEFAULT_AWSCLI_VERSION: &str = "1.45.11";
pub const DEFAULT_MOTO_VERSION: &str = "5.2.1";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploySettings {
    /// The audit log: one JSON line per deploy attempt, relative to the repository root.
    #[serde(default = "default_log")]
    pub log: PathBuf,
    /// awscli (v1) installed into the tool cache when `aws` is not on PATH.
    #[serde(default = "default_awscli_version")]
    pub awscli_version: String,
    /// moto[server] installed into the tool cache when `moto_server` is not on PATH.
    #[serde(default = "default_moto_version")]
    pub moto_version: String,
    /// How long the post-deploy health check keeps retrying before it fails.
    #[serde(default = "default_health_timeout_seconds")]
    pub health_timeout_seconds: u64,
    /// The infrastructure code that owns the endpoint's ingress rule, named in the fix.
    #[serde(default = "default_iac")]
    pub iac: PathBuf,
    /// Per-environment settings, keyed by the samconfig.toml environment name.
    #[serde(default)]
    pub environments: BTreeMap<String, EnvironmentSettings>,
}

impl Default for DeploySettings {
    fn default() -> DeploySettings {
        DeploySettings {
            log: default_log(),
            awscli_version: default_awscli_version(),
            moto_version: default_moto_version(),
            health_timeout_seconds: default_health_timeout_seconds(),
            iac: default_iac(),
            environments: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSettings {
    /// Protected environments refuse a dirty tree and ask for confirmation. Default: true for
    /// an environment named `prod`, false otherwise.
    pub protected: Option<bool>,
    /// The AWS account the environment lives in; `sts get-caller-identity` must match it.
    /// Required for protected environments.
    pub account_id: Option<String>,
    /// Every Secrets Manager secret the environment names must start with this, e.g.
    /// `credmate/production/` (stale secrets lived under `credmate/prod/`).
    pub secret_prefix: Option<String>,
    /// Overrides the top-level `health_timeout_seconds`.
    pub health_timeout_seconds: Option<u64>,
    /// Deploy into a local AWS (moto) that the xtask starts and seeds: no AWS account needed.
    /// Always true for the environment named `local`, which is reserved for the rehearsal.
    pub rehearsal: Option<bool>,
    /// The post-deploy check: `"off"`, or `{ output, path, expect_status, expect_json }`
    /// (see [`super::health`]). Read as a value and checked in `validate`, for clear errors.
    pub health_check: Option<toml::Value>,
    /// An S3 bucket with Object Lock (compliance mode) and versioning: each audit line is also
    /// put there as its own object. Required for protected environments.
    pub audit_bucket: Option<String>,
}

fn default_log() -> PathBuf {
    PathBuf::from("deploy-log.jsonl")
}

fn default_awscli_version() -> String {
    DEFAULT_AWSCLI_VERSION.to_string()
}

fn default_moto_version() -> String {
    DEFAULT_MOTO_VERSION.to_string()
}

fn default_health_timeout_seconds() -> u64 {
    120
}

fn default_iac() -> PathBuf {
    PathBuf::from("infra/iac/main.tf")
}

impl DeploySettings {
    pub fn validate(&self) -> Result<()> {
        if self.log.is_absolute() || self.log.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            bad_input!(
                "[workspace.metadata.lambda.deploy] log {} must be relative to the repository root and stay inside it",
                self.log.display()
            )
        }
        for (name, env) in &self.environments {
            if let Some(account) = &env.account_id {
                if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                    bad_input!(
                        "[workspace.metadata.lambda.deploy.environments.{name}] account_id {account:?} is not a 12-digit AWS account id"
                    )
                }
            }
            if env.audit_bucket.as_deref().is_some_and(|b| b.trim().is_empty()) {
                bad_input!("[workspace.metadata.lambda.deploy.environments.{name}] audit_bucket is empty: remove it or name an S3 bucket with Object Lock")
            }
            if name == REHEARSAL_ENV && env.rehearsal == Some(false) {
                bad_input!("[workspace.metadata.lambda.deploy.environments.{name}] rehearsal = false: the environment named {REHEARSAL_ENV} is reserved for the rehearsal against moto and never reaches a real account; remove the line, or give the real environment another name")
            }
            HealthCheckSetting::parse(
                env.health_check.as_ref(),
                &format!("[workspace.metadata.lambda.deploy.environments.{name}]"),
            )?;
            if env.secret_prefix.as_deref().is_some_and(str::is_empty) {
                bad_input!("[workspace.metadata.lambda.deploy.environments.{name}] secret_prefix is empty: remove it or name the path, e.g. \"credmate/{name}/\"")
            }
        }
        Ok(())
    }

    /// The settings of one environment, with the defaults filled in (after `validate`).
    pub fn environment(&self, name: &str) -> ResolvedEnvironment {
        let env = self.environments.get(name).cloned().unwrap_or_default();
        let table = format!("[workspace.metadata.lambda.deploy.environments.{name}]");
        ResolvedEnvironment {
            protected: env.protected.unwrap_or(name == "prod"),
            account_id: env.account_id,
            secret_prefix: env.secret_prefix,
            health_timeout: Duration::from_secs(env.health_timeout_seconds.unwrap_or(self.health_timeout_seconds)),
            rehearsal: name == REHEARSAL_ENV || env.rehearsal.unwrap_or(false),
            health_check: HealthCheckSetting::parse(env.health_check.as_ref(), &table).unwrap_or_default(),
            audit_bucket: env.audit_bucket,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ResolvedEnvironment {
    pub protected: bool,
    pub account_id: Option<String>,
    pub secret_prefix: Option<String>,
    pub health_timeout: Duration,
    pub rehearsal: bool,
    pub audit_bucket: Option<String>,
    pub health_check: HealthCheckSetting,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DeploySettings> {
        let settings: DeploySettings = toml::from_str(text)?;
        settings.validate()?;
        Ok(settings)
    }

    #[test]
    fn prod_is_protected_by_default_and_can_be_unprotected() {
        let settings = parse("").unwrap();
        assert!(settings.environment("prod").protected);
        assert!(!settings.environment("dev").protected);
        let settings = parse("[environments.prod]\nprotected = false\n").unwrap();
        assert!(!settings.environment("prod").protected);
    }

    #[test]
    fn a_malformed_account_id_is_bad_input() {
        let err = parse("[environments.prod]\naccount_id = \"0518-2670\"\n").unwrap_err();
        assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
        assert!(err.to_string().contains("12-digit"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(parse("[environments.prod]\naccount = \"051826703172\"\n").is_err());
    }

    #[test]
    fn local_is_always_the_rehearsal() {
        let settings = parse("").unwrap();
        assert!(settings.environment("local").rehearsal);
        assert!(!settings.environment("dev").rehearsal);
        let settings = parse("[environments.sandbox]\nrehearsal = true\n").unwrap();
        assert!(settings.environment("sandbox").rehearsal);
        let err = parse("[environments.local]\nrehearsal = false\n").unwrap_err();
        assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
        assert!(err.to_string().contains("reserved for the rehearsal"), "{err}");
    }

    #[test]
    fn a_malformed_health_check_is_bad_input_naming_the_table() {
        let err = parse("[environments.dev]\nhealth_check = { expect_status = 500 }\n").unwrap_err();
        assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
        assert!(err.to_string().contains("[workspace.metadata.lambda.deploy.environments.dev] health_check"), "{err}");
        let settings = parse("[environments.dev]\nhealth_check = \"off\"\n").unwrap();
        assert_eq!(settings.environment("dev").health_check, HealthCheckSetting::Off);
    }

    #[test]
    fn environment_timeout_overrides_the_default() {
        let settings = parse("health_timeout_seconds = 30\n[environments.dev]\nhealth_timeout_seconds = 5\n").unwrap();
        assert_eq!(settings.environment("dev").health_timeout, Duration::from_secs(5));
        assert_eq!(settings.environment("prod").health_timeout, Duration::from_secs(30));
    }
}
