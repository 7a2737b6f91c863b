//! Preflight: everything that would make `sam deploy` fail or ship a broken function, found
//! before it runs. Offline checks come first (no AWS call); the AWS checks are read-only,
//! except `--replace-failed-stack`, which deletes a stack that never held working resources.
//!
//! Each check returns findings with the exact fix; the deploy prints them and stops.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use xshell::Shell;

use crate::aws::{self, Aws, CallerIdentity, SecretDescription, SecurityGroups, Stack, Vpcs};
use crate::guards::Finding;
use crate::project::samconfig::{ParameterOverride, SamEnvironment};
use crate::project::stack_template::{
    ENDPOINT_OUTPUT, ENDPOINT_RESOURCE, EXISTING_ENDPOINT_PARAMETER, LAMBDA_SECURITY_GROUP_OUTPUT,
    LAMBDA_SECURITY_GROUP_RESOURCE, VPC_ID_TYPE,
};
use crate::project::template::Template;
use crate::sys::git::GitState;

pub const PROTECTED_ENV: &str = "protected-env";
pub const SECRET_PATH: &str = "secret-path";
pub const ACCOUNT: &str = "aws-account";
pub const STACK_STATE: &str = "stack-state";
pub const SECRET: &str = "secret";
pub const ENDPOINT_INGRESS: &str = "endpoint-ingress";

// ---------------------------------------------------------------------------------------
// Offline

/// How many changed files a dirty-tree finding names before it counts the rest.
const LISTED_CHANGES: usize = 10;

/// A protected environment ships only what a commit holds. The finding names the changed
/// files, and its fix sets aside only those: never the xtask's own outputs.
pub fn dirty_tree(env: &str, git: &GitState) -> Option<Finding> {
    let problem = match (git.commit.as_ref(), git.dirty) {
        (None, _) => {
            "this is not a git checkout (or git is missing): what ships cannot be traced to a commit".to_string()
        }
        (Some(_), None) => "git status failed: the tree cannot be shown to match its commit".to_string(),
        (Some(_), Some(true)) => {
            let mut listed = git.changes.iter().take(LISTED_CHANGES).cloned().collect::<Vec<_>>().join(", ");
            if git.changes.len() > LISTED_CHANGES {
                listed.push_str(&format!(" and {} more", git.changes.len() - LISTED_CHANGES));
            }
            let noun = if git.changes.len() == 1 { "file" } else { "files" };
            format!("the working tree has uncommitted or untracked changes in {} {noun}: {listed}", git.changes.len())
        }
        (Some(_), Some(false)) => return None,
    };
    let mut stash = vec!["git stash push --include-untracked -- .".to_string()];
    stash.extend(git.excluded.iter().map(|spec| format!("'{spec}'")));
    Some(Finding::new(
        PROTECTED_ENV,
        ".",
        format!("{env} is a protected environment and {problem}"),
        "the stack's git-commit tag and the audit log would name a commit that is not what runs",
        format!(
            "commit the changes, or set them aside with {} (it leaves the xtask's own outputs alone), and deploy again; or deploy as is with --allow-dirty",
            stash.join(" ")
        ),
    ))
}

/// A protected environment ships only a commit the team can see: one that a remote branch
/// holds (as the remote-tracking refs know it). A commit on no remote branch, or a repository
/// with no remote at all, runs code that nobody else can review, rebuild or roll back to.
/// The fix names the push that makes it so; `--allow-unpushed` deploys it anyway (recorded).
pub fn unpushed_commit(env: &str, git: &GitState) -> Option<Finding> {
    let commit = git.commit.as_deref()?;
    let short = &commit[..commit.len().min(12)];
    let branches = git.remote_branches.as_ref();
    if branches.is_some_and(|b| !b.is_empty()) {
        return None;
    }
    let facts = &git.remote;
    let quote = |text: &str| crate::sys::quote::shell(std::path::Path::new(text));
    let (problem, fix) = if branches.is_none() {
        (
            format!(
                "{env} is a protected environment and git could not tell which remote branches hold commit {short}"
            ),
            "check that git works here (git branch --remotes --contains HEAD), then deploy again".to_string(),
        )
    } else if facts.remotes.is_empty() {
        (
            format!("{env} is a protected environment and commit {short} is in no remote repository: this repository has no remote"),
            format!(
                "add the team's repository and push the commit: git remote add origin <URL> && git push -u origin {}, then deploy again",
                facts.branch.as_deref().map(quote).unwrap_or_else(|| format!("HEAD:refs/heads/deploy-{short}"))
            ),
        )
    } else {
        let remote = facts
            .upstream_remote
            .clone()
            .or_else(|| facts.remotes.iter().find(|r| *r == "origin").cloned())
            .unwrap_or_else(|| facts.remotes[0].clone());
        let push = match &facts.branch {
            Some(branch) => format!("git push -u {} {}", quote(&remote), quote(branch)),
            None => format!("git push {} HEAD:refs/heads/deploy-{short}", quote(&remote)),
        };
        let shallow = if facts.shallow {
            " (this clone is shallow, so git may not see that an older commit is on a branch: git fetch --unshallow tells)"
        } else {
            ""
        };
        (
            format!("{env} is a protected environment and commit {short} is on no remote branch{shallow}"),
            format!("push it: {push}, then deploy again"),
        )
    };
    Some(Finding::new(
        PROTECTED_ENV,
        ".",
        problem,
        "what runs could not be reviewed, rebuilt or rolled back to by anyone else: the commit exists only in this clone",
        format!("{fix}; or deploy it as it is with --allow-unpushed (the audit line records that no remote branch held it)"),
    ))
}

/// Parameters that name Secrets Manager secrets: `...SecretArn` keys, or a secretsmanager ARN.
pub fn secret_parameters(env: &SamEnvironment) -> Vec<&ParameterOverride> {
    env.overrides.iter().filter(|o| is_secret_parameter(&o.key, &o.value)).collect()
}

fn is_secret_parameter(key: &str, value: &str) -> bool {
    !value.is_empty() && (key.ends_with("SecretArn") || arn_parts(value).is_some())
}

/// The region, account and name of a Secrets Manager ARN
/// (`arn:aws:secretsmanager:us-east-1:051826703172:secret:credmate/production/jwt-W9dPlQ`).
pub fn arn_parts(value: &str) -> Option<(&str, &str, &str)> {
    let mut parts = value.splitn(7, ':');
    let (arn, _partition, service, region, account, kind, name) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (arn == "arn" && service == "secretsmanager" && kind == "secret").then_some((region, account, name))
}

/// The secret's name: the ARN's name without the 6-character suffix AWS appends, or the
/// value itself when it is a name.
pub fn secret_name(value: &str) -> String {
    match arn_parts(value) {
        Some((_, _, name)) => match name.rsplit_once('-') {
            Some((base, suffix)) if suffix.len() == 6 && suffix.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                base.to_string()
            }
            _ => name.to_string(),
        },
        None => value.to_string(),
    }
}

pub struct OfflineSecrets<'a> {
    pub env: &'a SamEnvironment,
    pub samconfig_shown: &'a str,
    pub secret_prefix: Option<&'a str>,
    pub region: &'a str,
    pub account_id: Option<&'a str>,
}

/// Secret names follow the environment's path convention, and ARNs point at its region and
/// account (prod named secrets under credmate/prod/, scheduled for deletion,
/// while the live ones were under credmate/production/).
pub fn secret_conventions(check: &OfflineSecrets) -> Vec<Finding> {
    let env = &check.env.name;
    let mut findings = Vec::new();
    for param in secret_parameters(check.env) {
        let name = secret_name(&param.value);
        let at = |finding: Finding| match param.line {
            Some(line) => finding.at_line(line),
            None => finding,
        };
        if let Some(prefix) = check.secret_prefix {
            if !name.starts_with(prefix) {
                findings.push(at(Finding::new(
                    SECRET_PATH,
                    check.samconfig_shown,
                    format!(
                        "{} names secret {name}, outside {env}'s path convention {prefix} ({})",
                        param.key, param.value
                    ),
                    "a secret outside the environment's path is likely stale: a secret left at an old path is often one scheduled for deletion, which the function then fails to read",
                    format!(
                        "point {} at the secret under {prefix} (aws secretsmanager list-secrets --filters Key=name,Values={prefix} --region {}), or fix secret_prefix in [workspace.metadata.lambda.deploy.environments.{env}]",
                        param.key, check.region
                    ),
                )));
            }
        }
        if let Some((region, account, _)) = arn_parts(&param.value) {
            let wrong_region = region != check.region;
            let wrong_account = check.account_id.is_some_and(|expected| expected != account);
            if wrong_region || wrong_account {
                let expected = match check.account_id {
                    Some(expected) => format!("region {} and account {expected}", check.region),
                    None => format!("region {}", check.region),
                };
                findings.push(at(Finding::new(
                    SECRET_PATH,
                    check.samconfig_shown,
                    format!("{} is in region {region}, account {account}; {env} deploys to {expected}", param.key),
                    "the function cannot read a secret of another account or region through its VPC endpoint",
                    format!("point {} at the secret in {expected}", param.key),
                )));
            }
        }
    }
    findings
}

// ---------------------------------------------------------------------------------------
// AWS, read-only

pub fn caller_identity(sh: &Shell, aws: &Aws) -> Result<CallerIdentity> {
    aws.read(sh, &["sts", "get-caller-identity"], "aws sts get-caller-identity")
}

/// What the aws CLI (and STS) answer when there are no usable credentials: none found, an
/// unknown, invalid or expired key, an SSO session that ended, a profile that does not exist.
const CREDENTIAL_ERRORS: [&str; 11] = [
    "Unable to locate credentials",
    "InvalidClientTokenId",
    "ExpiredToken",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "UnrecognizedClientException",
    "The SSO session associated with this profile has expired",
    "Error loading SSO Token",
    "Token has expired",
    "The config profile",
    "Partial credentials found",
];

/// Who is asking where the deploy will go, for the login hint.
pub struct CredentialContext<'a> {
    pub env: &'a str,
    pub expected_account: Option<&'a str>,
    /// samconfig's profile for the environment, else AWS_PROFILE.
    pub profile: Option<&'a str>,
    pub ci: bool,
}

/// Before the build: the credentials of a real environment work. Missing or rejected
/// credentials are bad input (one line: the env, the account expected, how to log in); any
/// other failure (network, garbage) is left to the aws-account step, which reports it.
pub fn check_credentials(sh: &Shell, aws: &Aws, context: &CredentialContext) -> Result<Option<CallerIdentity>> {
    match caller_identity(sh, aws) {
        Ok(identity) => Ok(Some(identity)),
        Err(err) if crate::sys::exit::status_of(&err) == crate::sys::exit::INTERRUPTED => Err(err),
        Err(err) => {
            let text = format!("{err:#}");
            match CREDENTIAL_ERRORS.iter().find(|marker| text.contains(*marker)) {
                Some(marker) => Err(credentials_bad_input(context, marker)),
                None => Ok(None),
            }
        }
    }
}

pub fn credentials_bad_input(context: &CredentialContext, aws_said: &str) -> anyhow::Error {
    let env = context.env;
    let account = match context.expected_account {
        Some(account) => format!("account {account}"),
        None => {
            format!("the account of {env} (no account_id in [workspace.metadata.lambda.deploy.environments.{env}])")
        }
    };
    let login = if context.ci {
        format!("in CI, give the job an OIDC role in {account} (aws-actions/configure-aws-credentials with role-to-assume) before this step")
    } else {
        match context.profile {
            Some(profile) => format!("log in with aws sso login --profile {profile}"),
            None => format!("log in with aws sso login --profile <profile for {account}> and set profile in [{env}.deploy.parameters] of samconfig.toml (or AWS_PROFILE), or export credentials for it"),
        }
    };
    anyhow::Error::new(crate::sys::exit::BadInput::new(format!(
        "no valid AWS credentials for {env}, which expects {account} (aws: {aws_said}): {login}, then deploy again"
    )))
}

pub fn account_finding(env: &str, identity: &CallerIdentity, expected: &str) -> Option<Finding> {
    (identity.account != expected).then(|| {
        Finding::new(
            ACCOUNT,
            "Cargo.toml",
            format!(
                "the credentials belong to account {} ({}), but {env} lives in account {expected}",
                identity.account, identity.arn
            ),
            "sam deploy would create a second stack in the wrong account",
            format!(
                "use credentials for account {expected} (AWS_PROFILE=<profile for {expected}>), or fix account_id in [workspace.metadata.lambda.deploy.environments.{env}]"
            ),
        )
    })
}

/// A stack in a state sam cannot update, with why and the exact command that gets it out.
/// `None` for updatable states (and REVIEW_IN_PROGRESS: a change set never executed, e.g.
/// by --dry-run on a new stack, which sam deploys over).
pub fn blocked_state(aws: &Aws, stack: &str, status: &str) -> Option<(String, String)> {
    let describe = aws.shown(&format!("cloudformation describe-stacks --stack-name {stack}"));
    let delete = aws.shown(&format!("cloudformation delete-stack --stack-name {stack}"));
    let wait_delete = aws.shown(&format!("cloudformation wait stack-delete-complete --stack-name {stack}"));
    let (why, fix) = match status {
        "ROLLBACK_COMPLETE" => (
            "its first create failed and was rolled back; CloudFormation can only delete it".to_string(),
            format!(
                "{delete} && {wait_delete} (it never held working resources), or rerun with --replace-failed-stack"
            ),
        ),
        "UPDATE_ROLLBACK_FAILED" => (
            "an update failed and so did its rollback".to_string(),
            format!(
                "{}, then deploy again",
                aws.shown(&format!("cloudformation continue-update-rollback --stack-name {stack}"))
            ),
        ),
        "UPDATE_FAILED" => (
            "an update with rollback disabled failed".to_string(),
            format!("{}, then deploy again", aws.shown(&format!("cloudformation rollback-stack --stack-name {stack}"))),
        ),
        "CREATE_FAILED" | "ROLLBACK_FAILED" | "DELETE_FAILED" | "IMPORT_ROLLBACK_FAILED" => (
            "CloudFormation left it half-done".to_string(),
            format!("see why with {describe}; then {delete} && {wait_delete} (look at DELETE_FAILED resources first)"),
        ),
        "REVIEW_IN_PROGRESS" => return None,
        in_progress if in_progress.ends_with("_IN_PROGRESS") => {
            let waiter = match in_progress {
                "CREATE_IN_PROGRESS" => "stack-create-complete",
                "DELETE_IN_PROGRESS" => "stack-delete-complete",
                "IMPORT_IN_PROGRESS" => "stack-import-complete",
                "UPDATE_ROLLBACK_IN_PROGRESS" | "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS" => {
                    "stack-rollback-complete"
                }
                _ => "stack-update-complete",
            };
            (
                "another operation on it is still running".to_string(),
                format!(
                    "wait for it ({}), then deploy again",
                    aws.shown(&format!("cloudformation wait {waiter} --stack-name {stack}"))
                ),
            )
        }
        failed if failed.ends_with("_FAILED") => (
            "CloudFormation left it half-done".to_string(),
            format!("see why with {describe}, fix it, then deploy again"),
        ),
        _ => return None,
    };
    Some((why, fix))
}

pub fn stack_state_finding(aws: &Aws, stack: &Stack, name: &str) -> Option<Finding> {
    let (why, fix) = blocked_state(aws, name, &stack.stack_status)?;
    let reason = stack.stack_status_reason.as_deref().map(|r| format!(" (reason: {r})")).unwrap_or_default();
    Some(Finding::new(
        STACK_STATE,
        format!("stack {name}"),
        format!("stack {name} is {}: {why}{reason}", stack.stack_status),
        "sam deploy fails on it without changing anything (seed: ROLLBACK_COMPLETE blocked the deploy)",
        fix,
    ))
}

/// `--replace-failed-stack`: deletes a ROLLBACK_COMPLETE stack and waits until it is gone.
pub fn delete_rolled_back_stack(sh: &Shell, aws: &Aws, stack: &str, timeout: Duration) -> Result<()> {
    say!("    deleting {stack} (ROLLBACK_COMPLETE: it never held working resources)");
    aws.write(sh, &["cloudformation", "delete-stack", "--stack-name", stack], "aws cloudformation delete-stack")?;
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_secs(1);
    loop {
        match aws::stack::describe(sh, aws, stack)? {
            None => {
                say!("    {stack} deleted");
                return Ok(());
            }
            Some(s) if s.stack_status == "DELETE_FAILED" => {
                bail!(
                    "deleting {stack} failed: {}",
                    s.stack_status_reason.unwrap_or_else(|| "no reason given".to_string())
                )
            }
            Some(_) if Instant::now() >= deadline => {
                bail!("{stack} was not deleted within {}s", timeout.as_secs())
            }
            Some(_) => {
                aws::sleep_unless_interrupted(delay)?;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Every secret the environment names exists and is not scheduled for deletion.
pub fn check_secrets(sh: &Shell, aws: &Aws, env: &SamEnvironment, samconfig_shown: &str) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    for param in secret_parameters(env) {
        let described: Option<SecretDescription> = aws.read_optional(
            sh,
            &["secretsmanager", "describe-secret", "--secret-id", &param.value],
            "aws secretsmanager describe-secret",
            &["ResourceNotFoundException"],
        )?;
        let finding = match described {
            None => Finding::new(
                SECRET,
                samconfig_shown,
                format!("{} names {}, which does not exist in {}", param.key, param.value, aws.region),
                "the function fails reading its secret on the first request that needs it",
                format!(
                    "create the secret or point {} at an existing one (aws secretsmanager list-secrets --region {})",
                    param.key, aws.region
                ),
            ),
            Some(secret) => match secret.deleted_date {
                Some(date) if !date.is_null() => Finding::new(
                    SECRET,
                    samconfig_shown,
                    format!(
                        "{} names {}, which is scheduled for deletion (DeletedDate {})",
                        param.key,
                        secret.arn,
                        aws::timestamp_text(&date)
                    ),
                    "secret was marked for deletion: the function cannot read it",
                    format!(
                        "point {} at the live secret, or restore this one: {}",
                        param.key,
                        aws.shown(&format!("secretsmanager restore-secret --secret-id {}", secret.arn))
                    ),
                ),
                _ => continue,
            },
        };
        findings.push(match param.line {
            Some(line) => finding.at_line(line),
            None => finding,
        });
    }
    Ok(findings)
}

/// An existing Secrets Manager interface endpoint in the VPC that this stack did not create
/// (an endpoint of the stack's own is its resource, not a brownfield one).
pub fn find_existing_endpoint(
    sh: &Shell,
    aws: &Aws,
    vpc_id: &str,
    owned_by_stack: &[String],
) -> Result<Option<aws::VpcEndpoint>> {
    let vpc_filter = format!("Name=vpc-id,Values={vpc_id}");
    let service_filter = format!("Name=service-name,Values=com.amazonaws.{}.secretsmanager", aws.region);
    let endpoints: aws::VpcEndpoints = aws.read(
        sh,
        &[
            "ec2",
            "describe-vpc-endpoints",
            "--filters",
            &vpc_filter,
            &service_filter,
            "Name=vpc-endpoint-type,Values=Interface",
        ],
        "aws ec2 describe-vpc-endpoints",
    )?;
    Ok(endpoints.vpc_endpoints.into_iter().find(|e| {
        !owned_by_stack.contains(&e.vpc_endpoint_id)
            && !matches!(
                e.state.as_deref().map(str::to_ascii_lowercase).as_deref(),
                Some("deleted" | "deleting" | "failed" | "rejected")
            )
    }))
}

/// The endpoint the function will use and the function's security group, where known.
#[derive(Debug, Default, Clone)]
pub struct IngressSubjects {
    pub endpoint: Option<String>,
    pub lambda_group: Option<String>,
    pub vpc: Option<String>,
}

/// The endpoint and group from the overrides, the stack's outputs and its resources.
pub fn ingress_subjects(
    template: &Template,
    overrides: &[(String, String)],
    stack: Option<&Stack>,
    resources: &[(String, String)],
) -> IngressSubjects {
    let value = |key: &str| overrides.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let resource = |id: &str| resources.iter().find(|(l, _)| l == id).map(|(_, p)| p.clone());
    let output = |key: &str| stack.and_then(|s| s.output(key)).map(String::from);
    let endpoint = value(EXISTING_ENDPOINT_PARAMETER)
        .filter(|v| !v.is_empty())
        .or_else(|| output(ENDPOINT_OUTPUT).filter(|v| !v.is_empty()))
        .or_else(|| resource(ENDPOINT_RESOURCE));
    let lambda_group = template
        .has_resource(LAMBDA_SECURITY_GROUP_RESOURCE)
        .then(|| output(LAMBDA_SECURITY_GROUP_OUTPUT).or_else(|| resource(LAMBDA_SECURITY_GROUP_RESOURCE)))
        .flatten();
    let vpc = template.parameter_of_type(VPC_ID_TYPE).and_then(|p| value(&p.name));
    IngressSubjects { endpoint, lambda_group, vpc }
}

pub enum Ingress {
    Allowed(String),
    Missing { endpoint_group: String },
}

/// Does one of the endpoint's security groups admit tcp 443 from the function? Either from
/// its security group, or from a CIDR range that covers the whole VPC.
pub fn check_ingress(sh: &Shell, aws: &Aws, endpoint: &str, lambda_group: &str, vpc: Option<&str>) -> Result<Ingress> {
    let endpoints: aws::VpcEndpoints = aws.read(
        sh,
        &["ec2", "describe-vpc-endpoints", "--vpc-endpoint-ids", endpoint],
        "aws ec2 describe-vpc-endpoints",
    )?;
    let Some(found) = endpoints.vpc_endpoints.into_iter().next() else {
        bail!("VPC endpoint {endpoint} does not exist in {}", aws.region)
    };
    let group_ids: Vec<&str> = found.groups.iter().map(|g| g.group_id.as_str()).collect();
    let Some(first_group) = group_ids.first().map(|g| g.to_string()) else {
        bail!("VPC endpoint {endpoint} has no security group: attach one that admits 443 from {lambda_group}")
    };
    let mut args = vec!["ec2", "describe-security-groups", "--group-ids"];
    args.extend(&group_ids);
    let groups: SecurityGroups = aws.read(sh, &args, "aws ec2 describe-security-groups")?;
    let mut vpc_cidr: Option<String> = None;
    for group in &groups.security_groups {
        for rule in group.ip_permissions.iter().filter(|r| admits_443(r)) {
            if rule.user_id_group_pairs.iter().any(|p| p.group_id == lambda_group) {
                return Ok(Ingress::Allowed(format!(
                    "{} admits 443 from the function's security group {lambda_group}",
                    group.group_id
                )));
            }
            for range in &rule.ip_ranges {
                let Some(vpc) = vpc else { continue };
                if vpc_cidr.is_none() {
                    let vpcs: Vpcs =
                        aws.read(sh, &["ec2", "describe-vpcs", "--vpc-ids", vpc], "aws ec2 describe-vpcs")?;
                    vpc_cidr = vpcs.vpcs.into_iter().next().map(|v| v.cidr_block);
                }
                if vpc_cidr.as_deref().is_some_and(|inner| cidr_contains(&range.cidr_ip, inner)) {
                    return Ok(Ingress::Allowed(format!(
                        "{} admits 443 from {}, which covers the VPC {vpc}",
                        group.group_id, range.cidr_ip
                    )));
                }
            }
        }
    }
    Ok(Ingress::Missing { endpoint_group: first_group })
}

pub fn ingress_finding(
    aws: &Aws,
    iac: &str,
    endpoint: &str,
    endpoint_group: &str,
    lambda_group: &str,
    after_deploy: bool,
) -> Finding {
    let when = if after_deploy { "the stack is deployed, but " } else { "" };
    Finding::new(
        ENDPOINT_INGRESS,
        iac,
        format!(
            "{when}the Secrets Manager endpoint {endpoint}'s security group {endpoint_group} does not admit tcp 443 from the function's security group {lambda_group}"
        ),
        "the function times out after 30 s reaching Secrets Manager",
        format!(
            "{}; then keep the rule in {iac} (aws_security_group_rule.vpc_endpoint_from_lambda with vpc_endpoint_security_group_id = \"{endpoint_group}\", lambda_security_group_id = \"{lambda_group}\") so that rebuilding the infrastructure does not lose it",
            aws.shown(&format!(
                "ec2 authorize-security-group-ingress --group-id {endpoint_group} --protocol tcp --port 443 --source-group {lambda_group}"
            ))
        ),
    )
}

/// One rule check and one CIDR check for the deploy and the doctor: the doctor's, shared code a
/// command may use.
pub use crate::diagnosis::function::{admits_443, cidr_contains};

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn aws() -> Aws {
        Aws::new(PathBuf::from("aws"), "us-east-1".into(), None)
    }

    #[test]
    fn rollback_complete_names_the_delete_command() {
        let (why, fix) = blocked_state(&aws(), "credmate-backend-prod", "ROLLBACK_COMPLETE").unwrap();
        assert!(why.contains("first create failed"), "{why}");
        assert!(
            fix.starts_with("aws cloudformation delete-stack --stack-name credmate-backend-prod --region us-east-1 && aws cloudformation wait stack-delete-complete"),
            "{fix}"
        );
        assert!(fix.contains("--replace-failed-stack"), "{fix}");
    }

    #[test]
    fn updatable_states_are_not_blocked() {
        for status in
            ["CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS", "IMPORT_COMPLETE"]
        {
            assert!(blocked_state(&aws(), "s", status).is_none(), "{status}");
        }
    }

    #[test]
    fn in_progress_and_failed_states_are_blocked_with_their_command() {
        let (_, fix) = blocked_state(&aws(), "s", "UPDATE_IN_PROGRESS").unwrap();
        assert!(fix.contains("aws cloudformation wait stack-update-complete --stack-name s"), "{fix}");
        let (_, fix) = blocked_state(&aws(), "s", "UPDATE_ROLLBACK_FAILED").unwrap();
        assert!(fix.contains("aws cloudformation continue-update-rollback --stack-name s"), "{fix}");
        let (_, fix) = blocked_state(&aws(), "s", "CREATE_IN_PROGRESS").unwrap();
        assert!(fix.contains("wait stack-create-complete"), "{fix}");
        assert!(blocked_state(&aws(), "s", "DELETE_FAILED").is_some());
    }

    #[test]
    fn secret_names_come_from_arns_without_their_suffix() {
        let arn = "arn:aws:secretsmanager:us-east-1:051826703172:secret:credmate/prod/database-kLfGYo";
        assert_eq!(secret_name(arn), "credmate/prod/database");
        assert_eq!(arn_parts(arn), Some(("us-east-1", "051826703172", "credmate/prod/database-kLfGYo")));
        assert_eq!(secret_name("credmate/local/jwt"), "credmate/local/jwt");
        assert!(arn_parts("arn:aws:s3:::bucket").is_none());
    }

    fn env_with(overrides: &[(&str, &str, u32)]) -> SamEnvironment {
        SamEnvironment {
            name: "prod".into(),
            stack_name: "s".into(),
            region: Some("us-east-1".into()),
            profile: None,
            s3_bucket: None,
            resolve_s3: false,
            overrides: overrides
                .iter()
                .map(|(k, v, line)| ParameterOverride { key: k.to_string(), value: v.to_string(), line: Some(*line) })
                .collect(),
            tags: vec![],
        }
    }

    #[test]
    fn a_secret_outside_the_path_convention_is_flagged_at_its_line() {
        let env = env_with(&[
            (
                "DatabaseSecretArn",
                "arn:aws:secretsmanager:us-east-1:051826703172:secret:credmate/prod/database-kLfGYo",
                40,
            ),
            ("JwtSecretArn", "arn:aws:secretsmanager:us-east-1:051826703172:secret:credmate/production/jwt-W9dPlQ", 41),
            ("VpcId", "vpc-1", 42),
        ]);
        let findings = secret_conventions(&OfflineSecrets {
            env: &env,
            samconfig_shown: "infra/lambda/samconfig.toml",
            secret_prefix: Some("credmate/production/"),
            region: "us-east-1",
            account_id: Some("051826703172"),
        });
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].line, Some(40));
        assert!(findings[0]
            .problem
            .contains("credmate/prod/database, outside prod's path convention credmate/production/"));
    }

    #[test]
    fn a_secret_of_another_account_is_flagged() {
        let env = env_with(&[(
            "JwtSecretArn",
            "arn:aws:secretsmanager:us-east-1:111111111111:secret:credmate/production/jwt-W9dPlQ",
            3,
        )]);
        let findings = secret_conventions(&OfflineSecrets {
            env: &env,
            samconfig_shown: "samconfig.toml",
            secret_prefix: None,
            region: "us-east-1",
            account_id: Some("051826703172"),
        });
        assert_eq!(findings.len(), 1);
        assert!(findings[0].problem.contains("account 111111111111"), "{:?}", findings[0]);
    }

    #[test]
    fn missing_credentials_name_the_env_the_account_and_the_login() {
        let context = CredentialContext {
            env: "dev",
            expected_account: Some("051826703172"),
            profile: Some("dev-admin"),
            ci: false,
        };
        let err = credentials_bad_input(&context, "Unable to locate credentials");
        assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
        let text = err.to_string();
        assert!(text.starts_with("no valid AWS credentials for dev, which expects account 051826703172"), "{text}");
        assert!(text.contains("aws sso login --profile dev-admin"), "{text}");
        let ci = CredentialContext { ci: true, profile: None, ..context };
        assert!(credentials_bad_input(&ci, "ExpiredToken").to_string().contains("OIDC role in account 051826703172"));
    }

    #[test]
    fn cidr_containment() {
        assert!(cidr_contains("10.0.0.0/16", "10.0.0.0/16"));
        assert!(cidr_contains("0.0.0.0/0", "10.1.0.0/16"));
        assert!(cidr_contains("10.0.0.0/8", "10.1.0.0/16"));
        assert!(!cidr_contains("10.0.1.0/24", "10.0.0.0/16"));
        assert!(!cidr_contains("192.168.0.0/16", "10.0.0.0/16"));
        assert!(!cidr_contains("garbage", "10.0.0.0/16"));
    }

    #[test]
    fn dirty_tree_in_a_protected_env_is_a_finding() {
        let state = |dirty, changes: Vec<String>| GitState {
            commit: Some("abc".into()),
            dirty,
            changes,
            excluded: vec![":(exclude).aws-sam".into()],
            ..GitState::default()
        };
        assert!(dirty_tree("prod", &state(Some(false), vec![])).is_none());
        let changes: Vec<String> = (1..=12).map(|i| format!("f{i}.py")).collect();
        let finding = dirty_tree("prod", &state(Some(true), changes)).unwrap();
        assert!(finding.problem.contains("changes in 12 files: f1.py, f2.py,"), "{}", finding.problem);
        assert!(finding.problem.ends_with("f10.py and 2 more"), "{}", finding.problem);
        assert!(
            finding.fix.contains("git stash push --include-untracked -- . ':(exclude).aws-sam'"),
            "{}",
            finding.fix
        );
        assert!(finding.fix.contains("--allow-dirty"));
        let none = GitState::default();
        assert!(dirty_tree("prod", &none).is_some());
    }

    #[test]
    fn an_unpushed_commit_in_a_protected_env_is_a_finding_with_the_push_to_run() {
        use crate::sys::git::RemoteFacts;
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let state = |branches: Option<Vec<String>>, remote: RemoteFacts| GitState {
            commit: Some(commit.into()),
            dirty: Some(false),
            remote_branches: branches,
            remote,
            ..GitState::default()
        };
        let on_main = RemoteFacts {
            remotes: vec!["upstream".into(), "origin".into()],
            branch: Some("hotfix".into()),
            ..RemoteFacts::default()
        };
        assert!(unpushed_commit("prod", &state(Some(vec!["origin/main".into()]), on_main.clone())).is_none());

        let finding = unpushed_commit("prod", &state(Some(vec![]), on_main.clone())).unwrap();
        assert!(finding.problem.contains("commit 0123456789ab is on no remote branch"), "{}", finding.problem);
        assert!(finding.fix.starts_with("push it: git push -u origin hotfix, then deploy again"), "{}", finding.fix);
        assert!(finding.fix.contains("--allow-unpushed"));

        let tracking = RemoteFacts { upstream_remote: Some("upstream".into()), shallow: true, ..on_main };
        let finding = unpushed_commit("prod", &state(Some(vec![]), tracking)).unwrap();
        assert!(finding.fix.starts_with("push it: git push -u upstream hotfix"), "{}", finding.fix);
        assert!(finding.problem.contains("shallow"), "{}", finding.problem);

        let detached = RemoteFacts { remotes: vec!["team".into()], ..RemoteFacts::default() };
        let finding = unpushed_commit("prod", &state(Some(vec![]), detached)).unwrap();
        assert!(finding.fix.contains("git push team HEAD:refs/heads/deploy-0123456789ab"), "{}", finding.fix);

        let no_remote = RemoteFacts { branch: Some("main".into()), ..RemoteFacts::default() };
        let finding = unpushed_commit("prod", &state(Some(vec![]), no_remote)).unwrap();
        assert!(finding.problem.contains("this repository has no remote"), "{}", finding.problem);
        assert!(finding.fix.contains("git remote add origin <URL> && git push -u origin main"), "{}", finding.fix);

        // No commit at all is the dirty-tree finding's to report.
        assert!(unpushed_commit("prod", &GitState::default()).is_none());
    }
}
