//! Reading what the diagnosis needs, read-only, through the aws CLI wrapper (so the
//! environment's region and profile and `AWS_ENDPOINT_URL` apply). Independent calls run side
//! by side: each aws call is a Python start of its own, and the doctor should answer in seconds.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use serde::Deserialize;
use xshell::Shell;

use super::function::{endpoint_admits, names_a_secret, EndpointIngress, FunctionConfiguration, SecretState};
use super::logs::{self, LogEvent};
use super::stack::{self, StackDescription, StackEvent};
use super::{Observed, ObservedFunction};
use crate::aws::{self, Aws, SecurityGroups, StackResource, VpcEndpoints, Vpcs};

/// Events of the stack's recent operations; the last operation of even a large stack fits.
const MAX_EVENTS: usize = 500;
/// Log events read per function over `--since`.
const MAX_LOG_EVENTS: &str = "50000";
/// The stack output and parameter that name the function's Secrets Manager endpoint.
const ENDPOINT_OUTPUT: &str = "SecretsManagerVpcEndpointId";
const ENDPOINT_PARAMETER: &str = "ExistingSecretsManagerVpcEndpoint";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SecretDescription {
    #[serde(rename = "ARN")]
    arn: String,
    #[serde(default)]
    deleted_date: Option<serde_json::Value>,
}

/// What to read.
pub struct Request<'a> {
    pub stack: &'a str,
    /// Only this function (a logical id), else all the stack's functions.
    pub function: Option<&'a str>,
    pub since: Duration,
    pub since_text: &'a str,
    /// requirements.txt as shown, per logical id, for fixes.
    pub requirements: &'a BTreeMap<String, String>,
}

fn shell() -> Result<Shell> {
    Shell::new().context("creating a shell")
}

/// Runs two reads side by side.
fn both<A: Send, B: Send>(
    a: impl FnOnce() -> Result<A> + Send,
    b: impl FnOnce() -> Result<B> + Send,
) -> Result<(A, B)> {
    std::thread::scope(|scope| {
        let b = scope.spawn(b);
        let a = a();
        let b = b.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a read panicked")));
        Ok((a?, b?))
    })
}

/// A read to run beside others.
type Job<'a, T> = Box<dyn FnOnce() -> Result<T> + Send + 'a>;

/// Runs reads side by side, results in order.
fn all<T: Send>(jobs: Vec<Box<dyn FnOnce() -> Result<T> + Send + '_>>) -> Result<Vec<T>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs.into_iter().map(|job| scope.spawn(job)).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a read panicked")))).collect()
    })
}

pub fn observe(aws: &Aws, request: &Request) -> Result<Observed> {
    let stack_name = request.stack;
    let ((described, events), resources) = both(
        || both(|| describe_stack(aws, stack_name), || stack_events(aws, stack_name)),
        || stack_resources(aws, stack_name),
    )?;
    let mut observed = Observed { since: request.since_text.to_string(), ..Observed::default() };
    let Some(described) = described else {
        return Ok(observed);
    };

    let functions = lambda_functions(&resources, request.function);
    let nested: Vec<String> = stack::last_operation(&events).nested_failed;
    let stack_secrets = secret_parameters(&described);
    let start_ms = millis_since_epoch(SystemTime::now().checked_sub(request.since).unwrap_or(UNIX_EPOCH));

    // Round two, side by side: each function's configuration and logs, the failed nested
    // stacks' events, the stack's secrets.
    let round_two = read_functions_nested_and_secrets(aws, &functions, &nested, &stack_secrets, &start_ms)?;
    observed.secrets = round_two.secrets;
    observed.events.push(events);
    observed.events.extend(round_two.nested_events);

    // Round three: what the logs call for. A timeout in a VPC function: its endpoint's
    // ingress; a secret the function names that the stack does not.
    let mut functions_read = Vec::new();
    for ((logical_id, physical), (config, log_events)) in functions.into_iter().zip(round_two.functions) {
        functions_read.push(ObservedFunction {
            requirements: request.requirements.get(&logical_id).cloned().unwrap_or_else(|| "requirements.txt".into()),
            logical_id,
            config,
            log_group: log_group(&physical),
            log_events,
            ingress: None,
        });
    }
    let more_secrets = read_what_the_logs_call_for(aws, &described, &mut functions_read, &observed.secrets)?;
    observed.secrets.extend(more_secrets);
    observed.functions = functions_read;
    observed.stack = Some(described);
    Ok(observed)
}

/// The stack's Lambda functions (only `only`, when given), as logical and physical ids.
fn lambda_functions(resources: &[StackResource], only: Option<&str>) -> Vec<(String, String)> {
    resources
        .iter()
        .filter(|r| r.resource_type == "AWS::Lambda::Function")
        .filter(|r| only.is_none_or(|f| f == r.logical_resource_id))
        .filter_map(|r| Some((r.logical_resource_id.clone(), r.physical_resource_id.clone()?)))
        .collect()
}

/// The stack's parameters that name a secret, as key and value.
fn secret_parameters(described: &StackDescription) -> Vec<(String, String)> {
    described
        .parameters
        .iter()
        .filter_map(|p| Some((p.parameter_key.clone(), p.parameter_value.clone()?)))
        .filter(|(k, v)| names_a_secret(k, v))
        .collect()
}

/// `time` in milliseconds since the epoch, as the logs API takes it.
fn millis_since_epoch(time: SystemTime) -> String {
    time.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis().to_string()
}

/// What the second round of reads returns.
struct RoundTwo {
    /// Each function's configuration and log events, in the order of the functions.
    functions: Vec<(FunctionConfiguration, Vec<LogEvent>)>,
    nested_events: Vec<Vec<StackEvent>>,
    secrets: Vec<SecretState>,
}

/// Each function's configuration and logs, the failed nested stacks' events and the stack's
/// secrets, side by side.
fn read_functions_nested_and_secrets(
    aws: &Aws,
    functions: &[(String, String)],
    nested: &[String],
    stack_secrets: &[(String, String)],
    start_ms: &str,
) -> Result<RoundTwo> {
    let function_jobs: Vec<Job<(FunctionConfiguration, Vec<LogEvent>)>> = functions
        .iter()
        .map(|(_, physical)| {
            let physical = physical.clone();
            Box::new(move || {
                both(|| function_configuration(aws, &physical), || log_events(aws, &log_group(&physical), start_ms))
            }) as Box<dyn FnOnce() -> Result<_> + Send>
        })
        .collect();
    let nested_jobs: Vec<Box<dyn FnOnce() -> Result<Vec<StackEvent>> + Send>> = nested
        .iter()
        .map(|id| {
            let id = id.clone();
            Box::new(move || stack_events(aws, &id)) as Box<dyn FnOnce() -> Result<_> + Send>
        })
        .collect();
    let stack_secret_jobs = secret_jobs(aws, stack_secrets);
    let ((functions, nested_events), secrets) =
        both(|| both(|| all(function_jobs), || all(nested_jobs)), || all(stack_secret_jobs))?;
    Ok(RoundTwo { functions, nested_events, secrets })
}

/// Reads what the logs call for, side by side: each function's endpoint ingress when it timed
/// out in a VPC (set on the function), and the secrets the functions name that are not
/// `known` (returned).
fn read_what_the_logs_call_for(
    aws: &Aws,
    described: &StackDescription,
    functions_read: &mut [ObservedFunction],
    known: &[SecretState],
) -> Result<Vec<SecretState>> {
    let known: Vec<String> = known.iter().map(|s| s.id.clone()).collect();
    let function_secrets: Vec<(String, String)> = functions_read
        .iter()
        .flat_map(|f| {
            f.config.secret_variables.iter().map(|(k, v)| (format!("{} variable {k}", f.logical_id), v.clone()))
        })
        .filter(|(_, v)| !known.contains(v))
        .collect();
    let ingress_jobs: Vec<Box<dyn FnOnce() -> Result<Option<EndpointIngress>> + Send>> = functions_read
        .iter()
        .map(|f| {
            let wanted = f.config.vpc().is_some() && logs::shows_timeout(&f.log_events);
            let config = f.config.clone();
            Box::new(move || if wanted { endpoint_ingress(aws, &config, described) } else { Ok(None) })
                as Box<dyn FnOnce() -> Result<_> + Send>
        })
        .collect();
    let (ingress, more_secrets) = both(|| all(ingress_jobs), || all(secret_jobs(aws, &function_secrets)))?;
    for (function, ingress) in functions_read.iter_mut().zip(ingress) {
        function.ingress = ingress;
    }
    Ok(more_secrets)
}

pub fn log_group(function_name: &str) -> String {
    format!("/aws/lambda/{function_name}")
}

fn secret_jobs<'a>(
    aws: &'a Aws,
    named: &[(String, String)],
) -> Vec<Box<dyn FnOnce() -> Result<SecretState> + Send + 'a>> {
    named
        .iter()
        .map(|(key, value)| {
            let (key, value) = (key.clone(), value.clone());
            Box::new(move || describe_secret(aws, &key, &value)) as Box<dyn FnOnce() -> Result<_> + Send>
        })
        .collect()
}

pub fn describe_stack(aws: &Aws, stack: &str) -> Result<Option<StackDescription>> {
    aws::stack::describe(&shell()?, aws, stack)
}

pub fn stack_events(aws: &Aws, stack: &str) -> Result<Vec<StackEvent>> {
    aws::stack::events(&shell()?, aws, stack, MAX_EVENTS)
}

fn stack_resources(aws: &Aws, stack: &str) -> Result<Vec<StackResource>> {
    aws::stack::resources(&shell()?, aws, stack)
}

pub fn function_configuration(aws: &Aws, name: &str) -> Result<FunctionConfiguration> {
    aws.read(
        &shell()?,
        &["lambda", "get-function-configuration", "--function-name", name],
        "aws lambda get-function-configuration",
    )
}

/// The group's events since `start_ms`; none when the group does not exist (never invoked).
pub fn log_events(aws: &Aws, group: &str, start_ms: &str) -> Result<Vec<LogEvent>> {
    // Only the messages: the CLI then formats a tenth of the JSON it would otherwise.
    let messages: Option<Option<Vec<String>>> = aws.read_optional(
        &shell()?,
        &[
            "logs",
            "filter-log-events",
            "--log-group-name",
            group,
            "--start-time",
            start_ms,
            "--max-items",
            MAX_LOG_EVENTS,
            "--query",
            "events[].message",
        ],
        "aws logs filter-log-events",
        &["ResourceNotFoundException"],
    )?;
    Ok(messages.flatten().unwrap_or_default().into_iter().map(|message| LogEvent { message }).collect())
}

fn describe_secret(aws: &Aws, named_by: &str, id: &str) -> Result<SecretState> {
    let described: Option<SecretDescription> = aws.read_optional(
        &shell()?,
        &["secretsmanager", "describe-secret", "--secret-id", id],
        "aws secretsmanager describe-secret",
        &["ResourceNotFoundException"],
    )?;
    Ok(SecretState {
        named_by: named_by.to_string(),
        id: id.to_string(),
        deleted_date: described
            .as_ref()
            .and_then(|d| d.deleted_date.as_ref())
            .filter(|d| !d.is_null())
            .map(aws::timestamp_text),
        arn: described.map(|d| d.arn),
    })
}

/// The function's Secrets Manager endpoint (the stack's output, its parameter, else the one in
/// the function's VPC) and whether its groups admit the function's.
fn endpoint_ingress(
    aws: &Aws,
    config: &FunctionConfiguration,
    stack: &StackDescription,
) -> Result<Option<EndpointIngress>> {
    let Some(vpc) = config.vpc() else { return Ok(None) };
    let sh = shell()?;
    let named = stack
        .output(ENDPOINT_OUTPUT)
        .filter(|v| !v.is_empty())
        .or_else(|| stack.parameter(ENDPOINT_PARAMETER).filter(|v| !v.is_empty()));
    let endpoints: VpcEndpoints = match (named, &vpc.vpc_id) {
        (Some(id), _) => aws.read(
            &sh,
            &["ec2", "describe-vpc-endpoints", "--vpc-endpoint-ids", id],
            "aws ec2 describe-vpc-endpoints",
        )?,
        (None, Some(vpc_id)) => aws.read(
            &sh,
            &[
                "ec2",
                "describe-vpc-endpoints",
                "--filters",
                &format!("Name=vpc-id,Values={vpc_id}"),
                &format!("Name=service-name,Values=com.amazonaws.{}.secretsmanager", aws.region),
            ],
            "aws ec2 describe-vpc-endpoints",
        )?,
        (None, None) => return Ok(None),
    };
    let Some(endpoint) = endpoints.vpc_endpoints.into_iter().next() else { return Ok(None) };
    let group_ids: Vec<&str> = endpoint.groups.iter().map(|g| g.group_id.as_str()).collect();
    let Some(first) = group_ids.first().map(|g| g.to_string()) else { return Ok(None) };
    let mut args = vec!["ec2", "describe-security-groups", "--group-ids"];
    args.extend(&group_ids);
    let groups: SecurityGroups = aws.read(&sh, &args, "aws ec2 describe-security-groups")?;
    let vpc_cidr = match &vpc.vpc_id {
        Some(id) => {
            let vpcs: Option<Vpcs> = aws.read_optional(
                &sh,
                &["ec2", "describe-vpcs", "--vpc-ids", id],
                "aws ec2 describe-vpcs",
                &["InvalidVpcID.NotFound"],
            )?;
            vpcs.and_then(|v| v.vpcs.into_iter().next()).map(|v| v.cidr_block)
        }
        None => None,
    };
    let admitted = endpoint_admits(&groups.security_groups, &vpc.security_group_ids, vpc_cidr.as_deref());
    Ok(Some(EndpointIngress {
        endpoint_id: endpoint.vpc_endpoint_id,
        endpoint_group: first,
        function_groups: vpc.security_group_ids.clone(),
        admitted,
    }))
}
