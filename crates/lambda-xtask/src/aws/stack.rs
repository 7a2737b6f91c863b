//! The one reading of a CloudFormation stack: `describe-stacks`, `describe-stack-resources`
//! and `describe-stack-events`, as the deploy, `lambda-check` and the doctor all read them. A
//! stack that does not exist (or is DELETE_COMPLETE, which is as good as none) is `None` or
//! empty, never an error: each caller says what that means for it.

use anyhow::Result;
use xshell::Shell;

use super::{Aws, Stack, StackEvent, StackEvents, StackResource, StackResources, Stacks};

/// What the aws CLI's error says for a stack that does not exist.
const STACK_MISSING: [&str; 1] = ["does not exist"];

pub fn describe(sh: &Shell, aws: &Aws, stack: &str) -> Result<Option<Stack>> {
    let stacks: Option<Stacks> = aws.read_optional(
        sh,
        &["cloudformation", "describe-stacks", "--stack-name", stack],
        "aws cloudformation describe-stacks",
        &STACK_MISSING,
    )?;
    Ok(stacks.and_then(|s| s.stacks.into_iter().next()).filter(|s| s.stack_status != "DELETE_COMPLETE"))
}

pub fn resources(sh: &Shell, aws: &Aws, stack: &str) -> Result<Vec<StackResource>> {
    let resources: Option<StackResources> = aws.read_optional(
        sh,
        &["cloudformation", "describe-stack-resources", "--stack-name", stack],
        "aws cloudformation describe-stack-resources",
        &STACK_MISSING,
    )?;
    Ok(resources.map(|r| r.stack_resources).unwrap_or_default())
}

/// The stack's resources as (logical id, physical id), those created so far.
pub fn physical_ids(sh: &Shell, aws: &Aws, stack: &str) -> Result<Vec<(String, String)>> {
    Ok(resources(sh, aws, stack)?
        .into_iter()
        .filter_map(|r| Some((r.logical_resource_id, r.physical_resource_id?)))
        .collect())
}

/// The stack's last `max_items` events, newest first.
pub fn events(sh: &Shell, aws: &Aws, stack: &str, max_items: usize) -> Result<Vec<StackEvent>> {
    let max_items = max_items.to_string();
    let events: Option<StackEvents> = aws.read_optional(
        sh,
        &["cloudformation", "describe-stack-events", "--stack-name", stack, "--max-items", &max_items],
        "aws cloudformation describe-stack-events",
        &STACK_MISSING,
    )?;
    Ok(events.map(|e| e.stack_events).unwrap_or_default())
}
