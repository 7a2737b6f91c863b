//! sam-deploy: `sam deploy --config-env <env>` on the built template, non-interactive, every
//! template parameter passed explicitly and the stack tagged with what was deployed by whom.
//! sam's output streams to the terminal (scrubbed of secrets) and is read for the change set.
//!
//! `--parameter-overrides` is passed only when the template has parameters: sam refuses the
//! flag without a value (it would take `--tags` for one). An environment with no table in
//! samconfig.toml (the rehearsal's defaults) deploys with an empty config file of the
//! xtask's own, so sam cannot pick up another table of the user's samconfig.toml (sam reads
//! `[default.deploy.parameters]` of the samconfig.toml in its directory when given none).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::aws::Aws;
use crate::sys::exit::{status_of, INTERRUPTED};
use crate::sys::process;
use crate::sys::redact;

pub struct SamDeploy<'a> {
    pub sam: &'a Path,
    pub sam_dir: &'a Path,
    /// samconfig.toml and the environment's table in it, or a config file with no table.
    pub config: SamDeployConfig<'a>,
    pub stack: &'a str,
    /// `.aws-sam/build/template.yaml`
    pub built_template: &'a Path,
    pub parameters: &'a [(String, String)],
    pub tags: &'a [(String, String)],
    pub dry_run: bool,
    pub timeout: Duration,
}

pub enum SamDeployConfig<'a> {
    /// `--config-file <samconfig> --config-env <env>`: sam reads the table itself; a bucket
    /// the rehearsal's defaults filled in is passed as a flag.
    Samconfig { path: &'a Path, env: &'a str, s3_bucket: Option<&'a str> },
    /// No table for the environment: an empty config file, and what the table would have
    /// said passed as flags.
    Defaults { empty_config: &'a Path, s3_bucket: &'a str, capabilities: &'a [&'a str] },
}

/// Capabilities a rehearsal without a samconfig table deploys with: those `sam deploy
/// --guided` asks for, and the transform's.
pub const REHEARSAL_CAPABILITIES: [&str; 3] = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"];

/// The whole of the config file sam reads for an environment without a table.
pub const EMPTY_SAMCONFIG: &str =
    "# Written by cargo xtask lambda-deploy: no table, so sam reads none of samconfig.toml.\nversion = 0.1\n";

/// `--parameter-overrides K="v" ...`, or nothing when there is no parameter.
pub fn parameter_override_args(parameters: &[(String, String)]) -> Vec<String> {
    if parameters.is_empty() {
        return Vec::new();
    }
    std::iter::once("--parameter-overrides".to_string()).chain(quoted_pairs(parameters)).collect()
}

#[derive(Debug, Default, Clone)]
pub struct DeployOutcome {
    pub change_set_id: Option<String>,
    pub no_changes: bool,
}

/// `Key="value"`: sam splits its overrides on spaces outside quotes, so every value is quoted
/// (an empty one included: a bare `Key=` is refused). Values never contain `"` or `\`
/// (checked with the configuration).
pub fn quoted_pairs(pairs: &[(String, String)]) -> Vec<String> {
    pairs.iter().map(|(key, value)| format!("{key}=\"{value}\"")).collect()
}

pub fn sam_deploy(sh: &Shell, aws: &Aws, deploy: &SamDeploy) -> Result<DeployOutcome> {
    let SamDeploy { sam, sam_dir, stack, built_template, .. } = deploy;
    let _dir = sh.push_dir(sam_dir);
    let region = &aws.region;
    let config: Vec<String> = match &deploy.config {
        SamDeployConfig::Samconfig { path, env, s3_bucket } => {
            // The stack too: a rehearsal's table may leave it out (its default is the xtask's).
            let mut args = vec![
                "--config-file".into(),
                path.display().to_string(),
                "--config-env".into(),
                env.to_string(),
                "--stack-name".into(),
                stack.to_string(),
            ];
            if let Some(bucket) = s3_bucket {
                args.extend(["--s3-bucket".to_string(), bucket.to_string()]);
            }
            args
        }
        SamDeployConfig::Defaults { empty_config, s3_bucket, capabilities } => {
            if let Some(dir) = empty_config.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(empty_config, EMPTY_SAMCONFIG)
                .with_context(|| format!("writing {}", empty_config.display()))?;
            let mut args = vec![
                "--config-file".into(),
                empty_config.display().to_string(),
                "--stack-name".into(),
                stack.to_string(),
                "--s3-bucket".into(),
                s3_bucket.to_string(),
                "--capabilities".into(),
            ];
            args.extend(capabilities.iter().map(|c| c.to_string()));
            args
        }
    };
    let profile: Vec<&str> = aws.profile.iter().flat_map(|p| ["--profile", p.as_str()]).collect();
    let parameters = parameter_override_args(deploy.parameters);
    let tags = quoted_pairs(deploy.tags);
    let execute: &[&str] = if deploy.dry_run { &["--no-execute-changeset"] } else { &[] };
    let command = cmd!(
        sh,
        "{sam} deploy {config...} --template-file {built_template} --region {region} {profile...} {parameters...} --tags {tags...} --no-confirm-changeset --no-fail-on-empty-changeset {execute...}"
    )
    .env("SAM_CLI_TELEMETRY", "0")
    // sam is Python: without this its output reaches the pipe in blocks, not as it happens.
    .env("PYTHONUNBUFFERED", "1");
    let command = aws.apply_env(command);
    say!("{}", redact::scrub(&format!("$ {command}")));
    let output = process::run_tee(command, "sam deploy", Some(deploy.timeout)).map_err(|err| {
        if status_of(&err) == INTERRUPTED {
            err.context(format!(
                "CloudFormation may still be applying the change set; see where it stands with {}",
                aws.shown(&format!("cloudformation describe-stacks --stack-name {stack}"))
            ))
        } else {
            err
        }
    });
    let output = output.with_context(|| format!("deploying stack {stack} (sam's output is above)"))?;
    Ok(read_outcome(&output))
}

/// sam prints `Changeset created successfully. arn:aws:cloudformation:...:changeSet/...` and,
/// when CloudFormation finds nothing to do, `No changes to deploy. Stack ... is up to date`.
pub fn read_outcome(output: &str) -> DeployOutcome {
    let change_set_id = output
        .split_whitespace()
        .find(|word| word.starts_with("arn:") && word.contains(":changeSet/"))
        .map(|word| word.trim_end_matches(['.', ',']).to_string());
    DeployOutcome { change_set_id, no_changes: output.contains("No changes to deploy") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_change_set_id() {
        let out = "Waiting for changeset to be created..\n\nChangeset created successfully. arn:aws:cloudformation:us-east-1:123456789012:changeSet/samcli-deploy1795719203/b05c2b00\n\n";
        let outcome = read_outcome(out);
        assert_eq!(
            outcome.change_set_id.as_deref(),
            Some("arn:aws:cloudformation:us-east-1:123456789012:changeSet/samcli-deploy1795719203/b05c2b00")
        );
        assert!(!outcome.no_changes);
    }

    #[test]
    fn reads_no_changes() {
        let outcome = read_outcome("Error: No changes to deploy. Stack st2 is up to date\n");
        assert!(outcome.no_changes);
        assert_eq!(outcome.change_set_id, None);
    }

    #[test]
    fn no_parameter_means_no_parameter_overrides_flag() {
        assert!(parameter_override_args(&[]).is_empty());
        let pairs = [("A".to_string(), "1".to_string())];
        assert_eq!(parameter_override_args(&pairs), ["--parameter-overrides", "A=\"1\""]);
    }

    #[test]
    fn values_are_quoted_even_when_empty() {
        let pairs = [("A".to_string(), "".to_string()), ("B".to_string(), "x,y".to_string())];
        assert_eq!(quoted_pairs(&pairs), ["A=\"\"", "B=\"x,y\""]);
    }
}
