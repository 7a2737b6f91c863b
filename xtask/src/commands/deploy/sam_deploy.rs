//! sam-deploy: `sam deploy --config-env <env>` on the built template, non-interactive, every
//! template parameter passed explicitly and the stack tagged with what was deployed by whom.
//! sam's output streams to the terminal (scrubbed of secrets) and is read for the change set.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::aws::Aws;
use crate::run::exit::{status_of, INTERRUPTED};
use crate::sys::process;
use crate::sys::redact;

pub struct SamDeploy<'a> {
    pub sam: &'a Path,
    pub sam_dir: &'a Path,
    pub samconfig: &'a Path,
    pub env: &'a str,
    pub stack: &'a str,
    /// `.aws-sam/build/template.yaml`
    pub built_template: &'a Path,
    pub parameters: &'a [(String, String)],
    pub tags: &'a [(String, String)],
    pub dry_run: bool,
    pub timeout: Duration,
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
    let SamDeploy { sam, sam_dir, samconfig, env, stack, built_template, .. } = deploy;
    let _dir = sh.push_dir(sam_dir);
    let region = &aws.region;
    let profile: Vec<&str> = aws.profile.iter().flat_map(|p| ["--profile", p.as_str()]).collect();
    let parameters = quoted_pairs(deploy.parameters);
    let tags = quoted_pairs(deploy.tags);
    let execute: &[&str] = if deploy.dry_run { &["--no-execute-changeset"] } else { &[] };
    let command = cmd!(
        sh,
        "{sam} deploy --config-file {samconfig} --config-env {env} --template-file {built_template} --region {region} {profile...} --parameter-overrides {parameters...} --tags {tags...} --no-confirm-changeset --no-fail-on-empty-changeset {execute...}"
    )
    .env("SAM_CLI_TELEMETRY", "0")
    // sam is Python: without this its output reaches the pipe in blocks, not as it happens.
    .env("PYTHONUNBUFFERED", "1");
    let command = aws.apply_env(command);
    eprintln!("{}", redact::scrub(&format!("$ {command}")));
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
    fn values_are_quoted_even_when_empty() {
        let pairs = [("A".to_string(), "".to_string()), ("B".to_string(), "x,y".to_string())];
        assert_eq!(quoted_pairs(&pairs), ["A=\"\"", "B=\"x,y\""]);
    }
}
