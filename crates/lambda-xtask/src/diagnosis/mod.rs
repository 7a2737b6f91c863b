//! Diagnosis: from what AWS says about a deployed stack and its functions to findings with the
//! cause and the exact fix command (issue 13). `lambda-doctor` runs it on demand and
//! `lambda-deploy` when sam deploy or a post-deploy check fails.
//!
//! Everything here but the readers in [`read`] and [`artifact`] is pure: parsed
//! `describe-stacks`, `describe-stack-events`, `get-function-configuration`,
//! `filter-log-events` and `describe-secret` answers in, findings out (the same [`Finding`]
//! the guards return: resource, problem, symptom, fix). The table of known failures is
//! [`signatures::SIGNATURES`]; whatever it does not know is shown raw, never dropped.

pub mod artifact;
pub mod context;
pub mod examine;
pub mod function;
pub mod logs;
pub mod read;
pub mod signatures;
pub mod stack;

pub use crate::guards::Finding;
pub use context::{ArtifactLead, Context};

use function::{EndpointIngress, FunctionConfiguration, SecretState};
use logs::{FunctionLogs, LogEvent};
use stack::{StackDescription, StackEvent};

/// One function of the stack as read from AWS.
#[derive(Debug, Clone)]
pub struct ObservedFunction {
    pub logical_id: String,
    pub config: FunctionConfiguration,
    pub log_group: String,
    pub log_events: Vec<LogEvent>,
    pub ingress: Option<EndpointIngress>,
    /// The function's requirements.txt as the repository shows it (for fixes).
    pub requirements: String,
}

/// Everything read for one environment.
#[derive(Debug, Default)]
pub struct Observed {
    /// `None`: the stack does not exist.
    pub stack: Option<StackDescription>,
    /// The stack's events, newest first, and those of failed nested stacks after them.
    pub events: Vec<Vec<StackEvent>>,
    pub functions: Vec<ObservedFunction>,
    pub secrets: Vec<SecretState>,
    /// `--since` as typed.
    pub since: String,
}

#[derive(Debug, Default)]
pub struct Diagnosis {
    pub findings: Vec<Finding>,
    pub leads: Vec<ArtifactLead>,
    /// Lines worth printing that are not findings (a stack still in progress).
    pub notes: Vec<String>,
}

impl Diagnosis {
    pub fn healthy(&self) -> bool {
        self.findings.is_empty()
    }
}

/// The diagnosis of one environment from what was read.
pub fn diagnose(ctx: &Context, observed: &Observed) -> Diagnosis {
    let mut diagnosis = Diagnosis::default();
    let Some(described) = &observed.stack else {
        diagnosis.findings.push(stack::missing_finding(ctx));
        return diagnosis;
    };

    // The stack's last operation: its root causes, the nested stacks' after the parent's.
    let mut root_causes = Vec::new();
    for events in &observed.events {
        let operation = stack::last_operation(events);
        root_causes.extend(operation.root_causes);
    }
    let failed_state = described.stack_status.ends_with("_FAILED") || described.stack_status == "ROLLBACK_COMPLETE";
    diagnosis.findings.extend(stack::status_finding(ctx, described, root_causes.first().copied()));
    if described.stack_status.ends_with("_IN_PROGRESS") {
        diagnosis
            .notes
            .push(format!("stack {} is {}: an operation is still running", ctx.stack, described.stack_status));
    }
    // A stack that ended well has history, not causes: old failures of a later-fixed deploy
    // (UPDATE_ROLLBACK_COMPLETE after a failed update is such a state too: it is usable, but
    // the failed update's cause is what the user came for).
    let rolled_back = described.stack_status.contains("ROLLBACK");
    if failed_state || rolled_back {
        for event in &root_causes {
            diagnosis.findings.push(stack::event_finding(ctx, event));
        }
    }

    for secret in observed.secrets.iter().filter(|s| s.deleted_date.is_some()) {
        let logged = observed.functions.iter().any(|f| logs::shows_deleted_secret(&f.log_events));
        if !logged {
            diagnosis.findings.push(logs::secret_finding(ctx, secret, None));
        }
    }

    for function in &observed.functions {
        let (findings, leads) = logs::diagnose(
            ctx,
            &FunctionLogs {
                logical_id: &function.logical_id,
                config: &function.config,
                log_group: &function.log_group,
                events: &function.log_events,
                ingress: function.ingress.as_ref(),
                secrets: &observed.secrets,
                requirements: &function.requirements,
                since: &observed.since,
            },
        );
        diagnosis.findings.extend(findings);
        diagnosis.leads.extend(leads);
    }
    diagnosis
}

/// `--since`: `90s`, `30m`, `1h`, `2d` (a bare number is minutes, like `aws logs tail`'s
/// relative times are not; so it is refused rather than guessed).
pub fn parse_since(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok().filter(|n| *n > 0)?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    Some(std::time::Duration::from_secs(number.checked_mul(seconds)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_number_and_a_unit() {
        assert_eq!(parse_since("1h"), Some(std::time::Duration::from_secs(3600)));
        assert_eq!(parse_since("90s"), Some(std::time::Duration::from_secs(90)));
        assert_eq!(parse_since("2d"), Some(std::time::Duration::from_secs(172_800)));
        for bad in ["", "1", "h", "0h", "1y", "-1h", "1.5h"] {
            assert_eq!(parse_since(bad), None, "{bad}");
        }
    }
}

#[cfg(test)]
mod fixture_tests {
    use super::*;

    fn fixture<T: serde::de::DeserializeOwned>(name: &str) -> T {
        let path = format!("{}/tests/fixtures/doctor/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn ctx() -> Context {
        Context {
            env: "staging".into(),
            stack: "credmate-backend-staging".into(),
            region: "us-east-1".into(),
            profile: None,
        }
    }

    fn observed(stacks: &str, events: &str) -> Observed {
        let described: crate::aws::Stacks = fixture(stacks);
        let events: crate::aws::StackEvents = fixture(events);
        Observed {
            stack: described.stacks.into_iter().next(),
            events: vec![events.stack_events],
            since: "1h".into(),
            ..Observed::default()
        }
    }

    #[test]
    fn a_rolled_back_create_names_the_endpoint_not_the_cancelled_role() {
        let diagnosis =
            diagnose(&ctx(), &observed("describe_stacks_rollback_complete.json", "stack_events_endpoint_exists.json"));
        let ids: Vec<&str> = diagnosis.findings.iter().map(|f| f.guard).collect();
        assert_eq!(ids, [signatures::ROLLBACK_COMPLETE, signatures::ENDPOINT_EXISTS], "{:#?}", diagnosis.findings);
        let status = &diagnosis.findings[0];
        assert!(
            status
                .problem
                .contains("root cause: 2026-01-08T14:02:31.377000+00:00 CREATE_FAILED SecretsManagerVpcEndpoint"),
            "{status}"
        );
        assert!(status.fix.starts_with("cargo xtask lambda-deploy --env staging --replace-failed-stack"), "{status}");
        let endpoint = &diagnosis.findings[1];
        assert!(endpoint.fix.contains("\"ExistingSecretsManagerVpcEndpoint=<endpoint>\""), "{endpoint}");
        assert!(endpoint.fix.contains("Name=vpc-id,Values=vpc-069061f2e220dc500"), "{endpoint}");
        assert!(!diagnosis.findings.iter().any(|f| f.path.contains("BackendFunctionRole")));
    }

    #[test]
    fn a_failed_rollback_shows_the_unknown_cause_raw_and_the_continue_command() {
        let diagnosis = diagnose(
            &ctx(),
            &observed("describe_stacks_update_rollback_failed.json", "stack_events_update_rollback_failed.json"),
        );
        let ids: Vec<&str> = diagnosis.findings.iter().map(|f| f.guard).collect();
        assert_eq!(
            ids,
            [
                signatures::UPDATE_ROLLBACK_FAILED,
                signatures::UNRECOGNISED_STACK_FAILURE,
                signatures::UNRECOGNISED_STACK_FAILURE
            ],
            "{:#?}",
            diagnosis.findings
        );
        assert!(diagnosis.findings[0].fix.starts_with(
            "aws cloudformation continue-update-rollback --stack-name credmate-backend-staging --region us-east-1 (if the resource cannot be rolled back: --resources-to-skip BackendFunction)"
        ), "{}", diagnosis.findings[0]);
        assert!(diagnosis.findings[1].problem.contains("Unzipped size must be smaller than 262144000 bytes"));
        assert!(diagnosis.findings[2].problem.contains("cannot be assumed by Lambda"));
    }
}
