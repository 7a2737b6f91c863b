//! The stack's side: its status and its events, as `describe-stacks` and
//! `describe-stack-events` print them, and the separation of root causes from cascades.
//!
//! A failed operation leaves one real failure and a trail of consequences: every resource
//! created in parallel is "Resource creation cancelled", the stack's own event lists "The
//! following resource(s) failed to create: [...]", and a nested stack's failure is "Embedded
//! stack ... was not successfully created". The root cause is the first FAILED event of the
//! operation that is none of these.

use super::context::Context;
use super::signatures::{self as sig, fill};
use crate::guards::Finding;

/// The stack as `describe-stacks` describes it, and its events: the one reading the deploy
/// uses too (crate::aws::stack).
pub use crate::aws::{Stack as StackDescription, StackEvent};

impl StackEvent {
    fn is_stack_itself(&self) -> bool {
        self.resource_type == "AWS::CloudFormation::Stack"
            && (self.logical_resource_id == self.stack_name
                || self.physical_resource_id.is_some() && self.physical_resource_id == self.stack_id)
    }

    pub fn reason(&self) -> &str {
        self.resource_status_reason.as_deref().unwrap_or("")
    }

    fn failed(&self) -> bool {
        self.resource_status.ends_with("_FAILED")
    }

    /// A consequence of another failure rather than a failure of its own.
    fn is_cascade(&self) -> bool {
        let reason = self.reason();
        CASCADE_MARKERS.iter().any(|marker| reason.contains(marker))
    }

    /// The event as a reader would quote it.
    pub fn shown(&self) -> String {
        let at = self.timestamp.as_ref().map(|t| format!("{} ", crate::aws::timestamp_text(t))).unwrap_or_default();
        format!(
            "{at}{} {} ({}): {}",
            self.resource_status,
            self.logical_resource_id,
            self.resource_type,
            if self.reason().is_empty() { "no reason given" } else { self.reason() }
        )
    }
}

/// Reasons CloudFormation gives to resources it stopped because something else failed.
const CASCADE_MARKERS: [&str; 6] = [
    "Resource creation cancelled",
    "Resource update cancelled",
    "Resource deletion cancelled",
    "The following resource(s) failed to",
    "was not successfully created",
    "was not successfully updated",
];

/// Stack-level statuses that start an operation; ROLLBACK_* and *_CLEANUP_* belong to the
/// operation they undo or finish.
const OPERATION_STARTS: [&str; 4] =
    ["CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS", "IMPORT_IN_PROGRESS"];

/// What the events of one stack say about its last operation.
#[derive(Debug, Default)]
pub struct Operation<'a> {
    /// Failures of their own, oldest first: the first is *the* root cause; later ones failed
    /// independently (in parallel) or during the rollback.
    pub root_causes: Vec<&'a StackEvent>,
    /// Failures caused by another (cancelled, summarised).
    pub cascades: usize,
    /// Nested stacks that failed: their own events hold the cause (physical ids).
    pub nested_failed: Vec<String>,
}

/// The last operation of the stack whose events these are (newest first, as AWS returns them).
pub fn last_operation(events: &[StackEvent]) -> Operation<'_> {
    let chronological: Vec<&StackEvent> = events.iter().rev().collect();
    let start = chronological
        .iter()
        .rposition(|e| e.is_stack_itself() && OPERATION_STARTS.contains(&e.resource_status.as_str()))
        .unwrap_or(0);
    let mut operation = Operation::default();
    let mut stack_level = None;
    for event in &chronological[start..] {
        if !event.failed() {
            continue;
        }
        if event.is_stack_itself() {
            stack_level.get_or_insert(*event);
            continue;
        }
        if event.resource_type == "AWS::CloudFormation::Stack" {
            if let Some(id) = &event.physical_resource_id {
                if !operation.nested_failed.contains(id) {
                    operation.nested_failed.push(id.clone());
                }
            }
        }
        if event.is_cascade() {
            operation.cascades += 1;
        } else {
            operation.root_causes.push(event);
        }
    }
    if operation.root_causes.is_empty() {
        // Nothing but cascades (or a failure of the stack itself, e.g. a template error): the
        // first failure there is, rather than none.
        let first_failed = chronological[start..].iter().find(|e| e.failed() && !e.is_stack_itself());
        if let Some(event) = first_failed.copied().filter(|_| operation.nested_failed.is_empty()).or(stack_level) {
            operation.root_causes.push(event);
            operation.cascades = operation.cascades.saturating_sub(1);
        }
    }
    operation
}

/// The stack's status, as a finding when it blocks deploys or failed.
pub fn status_finding(ctx: &Context, stack: &StackDescription, root: Option<&StackEvent>) -> Option<Finding> {
    let status = stack.stack_status.as_str();
    let id = match status {
        "ROLLBACK_COMPLETE" => sig::ROLLBACK_COMPLETE,
        "UPDATE_ROLLBACK_FAILED" => sig::UPDATE_ROLLBACK_FAILED,
        failed if failed.ends_with("_FAILED") => sig::STACK_FAILED,
        _ => return None,
    };
    let signature = sig::signature(id);
    let skip = match (id, root) {
        (sig::UPDATE_ROLLBACK_FAILED, Some(event)) if event.resource_type != "AWS::CloudFormation::Stack" => {
            format!(" (if the resource cannot be rolled back: --resources-to-skip {})", event.logical_resource_id)
        }
        _ => String::new(),
    };
    let because = match root {
        Some(event) => format!("; root cause: {}", event.shown()),
        None => stack.stack_status_reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
    };
    Some(Finding::new(
        signature.id,
        format!("stack {}", ctx.stack),
        format!("stack {} is {status}: {}{because}", ctx.stack, signature.cause),
        "sam deploy fails on it without changing anything".to_string(),
        fill(
            signature.fix,
            &[("env", &ctx.env), ("stack", &ctx.stack), ("aws-opts", &ctx.aws_opts()), ("skip", &skip)],
        ),
    ))
}

pub fn missing_finding(ctx: &Context) -> Finding {
    let signature = sig::signature(sig::STACK_MISSING);
    Finding::new(
        signature.id,
        format!("stack {}", ctx.stack),
        format!("stack {} does not exist in {}: {}", ctx.stack, ctx.region, signature.cause),
        "there is no function to invoke and no events or logs to read",
        fill(signature.fix, &[("env", &ctx.env), ("stack", &ctx.stack)]),
    )
}

/// A root-cause event matched against the table; unknown ones are shown raw.
pub fn event_finding(ctx: &Context, event: &StackEvent) -> Finding {
    let reason = event.reason();
    let resource =
        format!("stack {}: {} ({})", event_stack(ctx, event), event.logical_resource_id, event.resource_type);
    let symptom = format!("{} (stack event)", event.shown());
    if event.resource_type == "AWS::EC2::VPCEndpoint"
        && (reason.contains("already exists") || reason.contains("conflicting DNS domain"))
    {
        let signature = sig::signature(sig::ENDPOINT_EXISTS);
        let vpc = word_starting(reason, "vpc-").unwrap_or("<vpc-id>");
        return Finding::new(
            signature.id,
            resource,
            format!("{}: {}", event.logical_resource_id, signature.cause),
            symptom.to_string(),
            fill(
                signature.fix,
                &[("env", &ctx.env), ("vpc", vpc), ("region", &ctx.region), ("aws-opts", &ctx.aws_opts())],
            ),
        );
    }
    if let Some(denied) = NotAuthorized::parse(reason) {
        return denied.finding(ctx, resource, symptom);
    }
    let signature = sig::signature(sig::UNRECOGNISED_STACK_FAILURE);
    Finding::new(
        signature.id,
        resource,
        format!("{} failed: {}", event.logical_resource_id, if reason.is_empty() { "no reason given" } else { reason }),
        format!("{symptom}; {}", signature.cause),
        fill(signature.fix, &[("stack", &event_stack(ctx, event)), ("aws-opts", &ctx.aws_opts())]),
    )
}

fn event_stack(ctx: &Context, event: &StackEvent) -> String {
    if event.stack_name.is_empty() {
        ctx.stack.clone()
    } else {
        event.stack_name.clone()
    }
}

/// `User: <principal> is not authorized to perform: <action> [on resource: <resource>]`, or
/// the older `API: <action> You are not authorized to perform this operation.`
#[derive(Debug, PartialEq, Eq)]
pub struct NotAuthorized {
    pub principal: Option<String>,
    pub action: String,
    pub resource: Option<String>,
}

impl NotAuthorized {
    pub fn parse(text: &str) -> Option<NotAuthorized> {
        if let Some((before, after)) = text.split_once("is not authorized to perform: ") {
            let action = first_word(after)?.to_string();
            let principal = before.rsplit_once("User: ").map(|(_, p)| p.trim().to_string()).filter(|p| !p.is_empty());
            let resource = after.split_once("on resource: ").and_then(|(_, r)| first_word(r)).map(String::from);
            return Some(NotAuthorized { principal, action, resource });
        }
        if text.contains("not authorized to perform this operation") {
            let action = text.split_once("API: ").and_then(|(_, rest)| first_word(rest)).unwrap_or("<action>");
            return Some(NotAuthorized { principal: None, action: action.to_string(), resource: None });
        }
        None
    }

    pub fn finding(&self, ctx: &Context, resource: String, symptom: String) -> Finding {
        let signature = sig::signature(sig::NOT_AUTHORIZED);
        let principal =
            self.principal.clone().unwrap_or_else(|| "<the deploying principal: aws sts get-caller-identity>".into());
        let endpoint_hint = if self.action.eq_ignore_ascii_case("ec2:CreateVpcEndpoint") {
            format!(
                "; or do not create the endpoint: pass the VPC's existing one as ExistingSecretsManagerVpcEndpoint in [{}.deploy.parameters] of samconfig.toml",
                ctx.env
            )
        } else {
            String::new()
        };
        let on = self.resource.as_deref().map(|r| format!(" on {r}")).unwrap_or_default();
        Finding::new(
            signature.id,
            resource,
            format!("{principal} may not {}{on}: {}", self.action, signature.cause),
            symptom.to_string(),
            fill(
                signature.fix,
                &[
                    ("action", &self.action),
                    ("principal", &principal),
                    ("aws-opts", &ctx.aws_opts()),
                    ("endpoint-hint", &endpoint_hint),
                ],
            ),
        )
    }
}

fn first_word(text: &str) -> Option<&str> {
    text.split_whitespace().next().map(|w| w.trim_end_matches([',', '.', ')', '"', '\'']))
}

/// The first whitespace-separated word that starts with `prefix`, without trailing punctuation.
pub fn word_starting<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.split(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '(' || c == ',')
        .find(|w| w.starts_with(prefix) && w.len() > prefix.len())
        .map(|w| w.trim_end_matches(['.', ')', ':', ';']))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(json: &str) -> Vec<StackEvent> {
        serde_json::from_str::<crate::aws::StackEvents>(json).unwrap().stack_events
    }

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/fixtures/doctor/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn the_root_cause_is_the_first_failure_not_the_cancelled_ones() {
        let events = events(&fixture("stack_events_endpoint_exists.json"));
        let operation = last_operation(&events);
        assert_eq!(operation.root_causes.len(), 1, "{:?}", operation.root_causes);
        assert_eq!(operation.root_causes[0].logical_resource_id, "SecretsManagerVpcEndpoint");
        assert_eq!(operation.cascades, 1, "{operation:?}");
    }

    #[test]
    fn an_earlier_successful_operation_is_not_blamed() {
        // Newest first: a failed update after a successful create.
        let events = events(&fixture("stack_events_update_rollback_failed.json"));
        let operation = last_operation(&events);
        let ids: Vec<&str> = operation.root_causes.iter().map(|e| e.logical_resource_id.as_str()).collect();
        assert_eq!(ids, ["BackendFunction", "BackendFunctionRole"], "{operation:?}");
    }

    #[test]
    fn not_authorized_is_parsed_in_both_forms() {
        let parsed = NotAuthorized::parse("Resource handler returned message: \"You are not authorized to perform this operation. User: arn:aws:iam::051826703172:user/deployer is not authorized to perform: ec2:CreateVpcEndpoint on resource: arn:aws:ec2:us-east-1:051826703172:vpc/vpc-0a1 because no identity-based policy allows the ec2:CreateVpcEndpoint action (Service: Ec2, Status Code: 403)\"").unwrap();
        assert_eq!(parsed.principal.as_deref(), Some("arn:aws:iam::051826703172:user/deployer"));
        assert_eq!(parsed.action, "ec2:CreateVpcEndpoint");
        assert_eq!(parsed.resource.as_deref(), Some("arn:aws:ec2:us-east-1:051826703172:vpc/vpc-0a1"));
        let old = NotAuthorized::parse("API: ec2:CreateVpcEndpoint You are not authorized to perform this operation.")
            .unwrap();
        assert_eq!(old.action, "ec2:CreateVpcEndpoint");
        assert!(NotAuthorized::parse("Resource creation cancelled").is_none());
    }
}
