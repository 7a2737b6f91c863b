//! The function's log lines (`filter-log-events` on `/aws/lambda/<name>`) matched against the
//! table. Lambda's text format puts a traceback in one event with `\r` between its lines; every
//! line is matched on its own, and the `/var/task/...` paths of the same event tell which file
//! of the artifact a binary error is about.
//!
//! The same failure repeats on every cold start: findings are one per signature and subject,
//! with the count and the latest line. Error lines no signature explains are shown raw.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::context::{ArtifactLead, Context};
use super::function::{EndpointIngress, FunctionConfiguration, SecretState};
use super::signatures::{self as sig, fill};
use super::stack::NotAuthorized;
use crate::guards::Finding;
use crate::project::runtime::LambdaRuntime;

/// One event of `aws logs filter-log-events` (the CLI pages through and joins them).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEvent {
    pub message: String,
}

/// How many unexplained error lines an unrecognised failure shows.
const RAW_LINES: usize = 5;

/// What the logs are read against.
pub struct FunctionLogs<'a> {
    pub logical_id: &'a str,
    pub config: &'a FunctionConfiguration,
    pub log_group: &'a str,
    pub events: &'a [LogEvent],
    /// Read when the logs show a timeout in a VPC function.
    pub ingress: Option<&'a EndpointIngress>,
    /// The secrets the stack and the function name, described.
    pub secrets: &'a [SecretState],
    /// The function's requirements.txt as the repository shows it.
    pub requirements: &'a str,
    /// `--since` as typed, for the fix that tails the logs.
    pub since: &'a str,
}

/// One line matched: which signature, about what (the key findings are merged on), and what
/// it says.
struct Hit {
    id: &'static str,
    subject: String,
    lead: Option<String>,
}

/// Accumulates hits per (signature, subject).
#[derive(Default)]
struct Tally {
    hits: BTreeMap<(&'static str, String), (usize, String, Option<String>)>,
    unexplained: Vec<String>,
    timeouts: Vec<String>,
}

/// Whether the logs show a timeout: then the function's VPC endpoint is worth reading.
pub fn shows_timeout(events: &[LogEvent]) -> bool {
    events.iter().any(|e| e.message.contains("Task timed out after") || e.message.contains("Status: timeout"))
}

/// Whether the logs show a secret read failing as deleted.
pub fn shows_deleted_secret(events: &[LogEvent]) -> bool {
    events.iter().any(|e| e.message.contains("marked for deletion"))
}

pub fn diagnose(ctx: &Context, logs: &FunctionLogs) -> (Vec<Finding>, Vec<ArtifactLead>) {
    let mut tally = Tally::default();
    for event in logs.events {
        let lines: Vec<&str> = event.message.split(['\r', '\n']).map(str::trim).filter(|l| !l.is_empty()).collect();
        let artifact_path = lines.iter().find_map(|line| task_path(line));
        for line in &lines {
            match match_line(line, artifact_path.as_deref()) {
                Some(hit) => {
                    let entry = tally.hits.entry((hit.id, hit.subject)).or_insert((0, String::new(), None));
                    entry.0 += 1;
                    entry.1 = line.to_string();
                    if hit.lead.is_some() {
                        entry.2 = hit.lead;
                    }
                }
                None if line.contains("Task timed out after") || line.contains("Status: timeout") => {
                    tally.timeouts.push(line.to_string())
                }
                None if is_error_line(line) => tally.unexplained.push(line.to_string()),
                None => {}
            }
        }
    }

    let mut findings = Vec::new();
    let mut leads = Vec::new();
    for ((id, subject), (count, line, lead)) in &tally.hits {
        findings.push(log_finding(ctx, logs, id, subject, *count, line));
        if let Some(needle) = lead {
            leads.push(ArtifactLead { logical_id: logs.logical_id.to_string(), signature: id, needle: needle.clone() });
        }
    }
    if let Some(last) = tally.timeouts.last() {
        match (logs.config.vpc(), logs.ingress) {
            (Some(_), Some(ingress)) if !ingress.admitted => {
                findings.push(timeout_finding(ctx, logs, ingress, tally.timeouts.len(), last))
            }
            // A timeout the endpoint does not explain is a failure this table does not know.
            _ => tally.unexplained.push(last.clone()),
        }
    }
    if !tally.unexplained.is_empty() {
        findings.push(unexplained_finding(ctx, logs, &tally.unexplained));
    }
    (findings, leads)
}

/// `/var/task/pydantic_core/_pydantic_core.cpython-311-darwin.so` in a line -> the path inside
/// the artifact.
fn task_path(line: &str) -> Option<String> {
    let start = line.find("/var/task/")? + "/var/task/".len();
    let rest = &line[start..];
    let end = rest.find(|c: char| c == ':' || c == '"' || c == '\'' || c == ')' || c == ',' || c.is_whitespace());
    let path = &rest[..end.unwrap_or(rest.len())];
    (!path.is_empty()).then(|| path.to_string())
}

fn quoted_after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let rest = &line[line.find(marker)? + marker.len()..];
    let rest = rest.strip_prefix('\'').or_else(|| rest.strip_prefix('"'))?;
    rest.split(['\'', '"']).next()
}

const SDK: [&str; 3] = ["boto3", "botocore", "s3transfer"];

fn is_sdk(module: &str) -> bool {
    SDK.iter().any(|p| module == *p || module.starts_with(&format!("{p}.")))
}

fn match_line(line: &str, artifact_path: Option<&str>) -> Option<Hit> {
    let hit =
        |id: &'static str, subject: &str, lead: Option<String>| Some(Hit { id, subject: subject.to_string(), lead });
    if line.contains("marked for deletion") {
        return hit(sig::SECRET_DELETED, "", None);
    }
    if line.contains("AccessDeniedException") && line.contains("secretsmanager:GetSecretValue") {
        let resource = NotAuthorized::parse(line).and_then(|n| n.resource).unwrap_or_default();
        return hit(sig::SECRET_ACCESS_DENIED, &resource, None);
    }
    if let Some(denied) = NotAuthorized::parse(line) {
        return hit(sig::NOT_AUTHORIZED, &denied.action, None);
    }
    if line.contains("cannot import name") {
        if let Some(from) = quoted_after(line, " from ") {
            if is_sdk(from) {
                return hit(sig::SDK_MISMATCH, from, Some("boto3".into()));
            }
        }
    }
    if let Some(module) = quoted_after(line, "No module named ") {
        let top = module.split('.').next().unwrap_or(module);
        if top == "src" {
            return hit(sig::NO_MODULE_SRC, module, None);
        }
        if is_sdk(module) {
            return hit(sig::SDK_MISMATCH, module, Some("boto3".into()));
        }
        return hit(sig::NO_MODULE_DEPENDENCY, module, Some(module.replace('.', "/")));
    }
    if line.contains("add_dll_directory") {
        let lead = artifact_path.map(|p| p.split('/').next().unwrap_or(p).to_string());
        return hit(sig::WINDOWS_BINARY, lead.as_deref().unwrap_or(""), lead.clone());
    }
    for (marker, id) in [
        ("invalid ELF header", sig::INVALID_ELF),
        ("wrong ELF class", sig::WRONG_ELF_CLASS),
        ("cannot open shared object file", sig::MISSING_SHARED_LIBRARY),
    ] {
        if line.contains(marker) {
            let subject = if id == sig::MISSING_SHARED_LIBRARY {
                // "libpq.so.5: cannot open shared object file": the library that is missing.
                line[..line.find(marker).unwrap_or(0)]
                    .trim_end_matches([':', ' '])
                    .rsplit([' ', '/', '\''])
                    .next()
                    .unwrap_or("")
                    .to_string()
            } else {
                task_path(line).or_else(|| artifact_path.map(String::from)).unwrap_or_default()
            };
            let lead = task_path(line).or_else(|| artifact_path.map(String::from));
            return hit(id, &subject, lead);
        }
    }
    if let Some(at) = line.find("GLIBC_") {
        if line.contains("not found") {
            let version: String =
                line[at + "GLIBC_".len()..].chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
            let lead = task_path(line).or_else(|| artifact_path.map(String::from));
            return hit(sig::GLIBC_TOO_NEW, &version, lead);
        }
    }
    None
}

/// A line that reports an error, as opposed to the traceback lines around it.
fn is_error_line(line: &str) -> bool {
    if line.starts_with("Traceback") || line.starts_with("File \"") || line.starts_with("During handling") {
        return false;
    }
    line.contains("[ERROR]")
        || line.contains("Status: error")
        || line.contains("Runtime.")
        || line.split(':').next().is_some_and(|head| {
            let head = head.trim().rsplit(' ').next().unwrap_or("");
            (head.ends_with("Error") || head.ends_with("Exception")) && !head.contains(' ')
        })
}

fn log_finding(
    ctx: &Context,
    logs: &FunctionLogs,
    id: &'static str,
    subject: &str,
    count: usize,
    line: &str,
) -> Finding {
    let signature = sig::signature(id);
    let resource = format!("function {} ({})", logs.logical_id, logs.config.function_name);
    let times = if count == 1 { "once".to_string() } else { format!("{count} times") };
    let symptom = format!("{} logged {times} since {}, latest: {}", logs.log_group, logs.since, shorten(line));
    // The table's `seed` field is our own cross-reference to the incident report (docs list
    // it); a user's finding names their resources and the symptom only.
    let (problem, fix) = match id {
        sig::SECRET_DELETED => return deleted_secret_finding(ctx, logs, signature, resource, symptom),
        sig::NOT_AUTHORIZED => return not_authorized_finding(ctx, logs, subject, line, resource, symptom),
        _ => problem_and_fix(ctx, logs, signature, subject),
    };
    Finding::new(signature.id, resource, problem, symptom, fix)
}

/// A secret the function reads is marked for deletion: the finding of the secret the stack or
/// function names, when one of them is.
fn deleted_secret_finding(
    ctx: &Context,
    logs: &FunctionLogs,
    signature: &sig::Signature,
    resource: String,
    symptom: String,
) -> Finding {
    let deleted: Vec<&SecretState> = logs.secrets.iter().filter(|s| s.deleted_date.is_some()).collect();
    match deleted.first() {
        Some(secret) => secret_finding(ctx, secret, Some(symptom)),
        None => Finding::new(
            signature.id,
            resource,
            format!("{}: a secret the function reads is marked for deletion, but none the stack or function names is", signature.cause),
            symptom,
            format!("find it: aws secretsmanager list-secrets --include-planned-deletion {}; then restore it (aws secretsmanager restore-secret --secret-id <id> {}) or point the function at the live one", ctx.aws_opts(), ctx.aws_opts()),
        ),
    }
}

/// An action the function's role may not take, with the role as the principal.
fn not_authorized_finding(
    ctx: &Context,
    logs: &FunctionLogs,
    subject: &str,
    line: &str,
    resource: String,
    symptom: String,
) -> Finding {
    let denied = NotAuthorized::parse(line).unwrap_or(NotAuthorized {
        principal: None,
        action: subject.to_string(),
        resource: None,
    });
    let principal = logs.config.role.clone().or(denied.principal.clone());
    let denied = NotAuthorized { principal, ..denied };
    let mut finding = denied.finding(ctx, resource, symptom);
    finding.problem = format!("the function's role {}", finding.problem);
    finding
}

/// The problem and fix of a log signature, filled in for the function.
fn problem_and_fix(ctx: &Context, logs: &FunctionLogs, signature: &sig::Signature, subject: &str) -> (String, String) {
    let runtime = LambdaRuntime::new(logs.config.runtime.as_deref().unwrap_or(""), logs.config.architecture()).ok();
    let base = [("env", ctx.env.as_str()), ("requirements", logs.requirements)];
    match signature.id {
        sig::SECRET_ACCESS_DENIED => {
            let role = logs.config.role.clone().unwrap_or_else(|| "<the function's role>".into());
            let secret = if subject.is_empty() { "<secret arn>" } else { subject };
            (
                format!("{role} may not read {secret}: {}", signature.cause),
                fill(signature.fix, &[("role", &role), ("secret", secret), ("aws-opts", &ctx.aws_opts())]),
            )
        }
        sig::NO_MODULE_SRC => (
            format!("the handler imports {subject}, which the deployed artifact lacks: {}", signature.cause),
            fill(signature.fix, &base),
        ),
        sig::NO_MODULE_DEPENDENCY => (
            format!("the deployed artifact cannot import {subject}: {}", signature.cause),
            fill(signature.fix, &[("module", subject), base[0], base[1]]),
        ),
        sig::SDK_MISMATCH => {
            let layers = if logs.config.layers.is_empty() {
                String::new()
            } else {
                " (the function also has layers, which may bundle their own boto3)".to_string()
            };
            (
                format!("{subject} does not fit the rest of the SDK: {}{layers}", signature.cause),
                fill(signature.fix, &base),
            )
        }
        sig::WINDOWS_BINARY | sig::INVALID_ELF => {
            let what = if subject.is_empty() { "a package".to_string() } else { subject.to_string() };
            (format!("{what}: {}", signature.cause), fill(signature.fix, &base))
        }
        sig::WRONG_ELF_CLASS => {
            let arch = logs.config.architecture();
            let cause = signature.cause.replace("<arch>", arch);
            (format!("{subject}: {cause}"), fill(signature.fix, &base))
        }
        sig::MISSING_SHARED_LIBRARY => (
            format!("{subject} is missing at run time: {}", signature.cause),
            fill(signature.fix, &[("library", subject), base[0], base[1]]),
        ),
        sig::GLIBC_TOO_NEW => {
            let (ceiling, os) = runtime.as_ref().map(|r| (r.glibc.to_string(), r.os)).unwrap_or(("?".into(), "?"));
            (
                format!(
                    "a binary needs glibc {subject}, but {} runs on {os} with glibc {ceiling}: {}",
                    logs.config.runtime.as_deref().unwrap_or("the runtime"),
                    signature.cause
                ),
                fill(signature.fix, &[("glibc", &ceiling), base[0], base[1]]),
            )
        }
        _ => (signature.cause.to_string(), fill(signature.fix, &base)),
    }
}

fn timeout_finding(ctx: &Context, logs: &FunctionLogs, ingress: &EndpointIngress, count: usize, line: &str) -> Finding {
    let signature = sig::signature(sig::VPC_TIMEOUT);
    let function_group = ingress.function_groups.first().map(String::as_str).unwrap_or("<function group>");
    let times = if count == 1 { "once".to_string() } else { format!("{count} times") };
    Finding::new(
        signature.id,
        format!("function {} ({})", logs.logical_id, logs.config.function_name),
        format!(
            "the Secrets Manager endpoint {}'s security group {} does not admit tcp 443 from the function's security group {}: {}",
            ingress.endpoint_id,
            ingress.endpoint_group,
            ingress.function_groups.join(", "),
            signature.cause
        ),
        format!(
            "{} logged {times} since {}, latest: {}",
            logs.log_group,
            logs.since,
            shorten(line),
        ),
        fill(
            signature.fix,
            &[("endpoint-group", &ingress.endpoint_group), ("function-group", function_group), ("aws-opts", &ctx.aws_opts())],
        ),
    )
}

fn unexplained_finding(ctx: &Context, logs: &FunctionLogs, lines: &[String]) -> Finding {
    let signature = sig::signature(sig::UNRECOGNISED_LOG_ERROR);
    let last: Vec<String> = lines[lines.len().saturating_sub(RAW_LINES)..].iter().map(|l| shorten(l)).collect();
    Finding::new(
        signature.id,
        format!("function {} ({})", logs.logical_id, logs.config.function_name),
        format!(
            "{} error line(s) since {} that no known signature explains; the last {}:\n      {}",
            lines.len(),
            logs.since,
            last.len(),
            last.join("\n      ")
        ),
        signature.cause.to_string(),
        fill(signature.fix, &[("log-group", logs.log_group), ("since", logs.since), ("aws-opts", &ctx.aws_opts())]),
    )
}

/// A secret scheduled for deletion, with where it is named and both ways out.
pub fn secret_finding(ctx: &Context, secret: &SecretState, seen_in_logs: Option<String>) -> Finding {
    let signature = sig::signature(sig::SECRET_DELETED);
    let shown_id = secret.arn.clone().unwrap_or_else(|| secret.id.clone());
    let symptom = match seen_in_logs {
        Some(line) => line,
        None => "every read of it fails: \"You can't perform this operation on the secret because it was marked for deletion\"".to_string(),
    };
    Finding::new(
        signature.id,
        format!("secret {}", secret.name()),
        format!(
            "{} names {}, scheduled for deletion (DeletedDate {}): {}",
            secret.named_by,
            shown_id,
            secret.deleted_date.as_deref().unwrap_or("?"),
            signature.cause
        ),
        symptom,
        fill(
            signature.fix,
            &[
                ("secret", &shown_id),
                ("parameter", &secret.named_by),
                ("env", &ctx.env),
                ("prefix", &secret.prefix()),
                ("aws-opts", &ctx.aws_opts()),
            ],
        ),
    )
}

/// Long lines (a JSON log record, a traceback joined) cut to what a terminal shows.
fn shorten(line: &str) -> String {
    const MAX: usize = 400;
    let line = crate::sys::redact::scrub(line);
    if line.chars().count() <= MAX {
        return line;
    }
    let cut: String = line.chars().take(MAX).collect();
    format!("{cut} ...")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_in_the_artifact_are_found() {
        assert_eq!(
            task_path("ImportError: /var/task/pydantic_core/_pydantic_core.cpython-311-x86_64-linux-gnu.so: invalid ELF header").as_deref(),
            Some("pydantic_core/_pydantic_core.cpython-311-x86_64-linux-gnu.so")
        );
        assert_eq!(
            task_path("File \"/var/task/psycopg2/__init__.py\", line 12, in <module>").as_deref(),
            Some("psycopg2/__init__.py")
        );
        assert_eq!(task_path("no path"), None);
    }

    #[test]
    fn lines_map_to_their_signature() {
        let id = |line: &str| match_line(line, None).map(|h| (h.id, h.subject));
        assert_eq!(
            id("[ERROR] Runtime.ImportModuleError: Unable to import module 'handler': No module named 'src'"),
            Some((sig::NO_MODULE_SRC, "src".into()))
        );
        assert_eq!(
            id("[ERROR] Runtime.ImportModuleError: Unable to import module 'handler': No module named 'pydantic_core._pydantic_core'"),
            Some((sig::NO_MODULE_DEPENDENCY, "pydantic_core._pydantic_core".into()))
        );
        assert_eq!(
            id("[ERROR] Runtime.ImportModuleError: Unable to import module 'handler': cannot import name 'six' from 'botocore.compat' (/var/task/botocore/compat.py)"),
            Some((sig::SDK_MISMATCH, "botocore.compat".into()))
        );
        assert_eq!(
            id("ImportError: libpq.so.5: cannot open shared object file: No such file or directory"),
            Some((sig::MISSING_SHARED_LIBRARY, "libpq.so.5".into()))
        );
        assert_eq!(
            id("ImportError: /lib64/libc.so.6: version `GLIBC_2.28' not found (required by /var/task/orjson/orjson.cpython-311-x86_64-linux-gnu.so)"),
            Some((sig::GLIBC_TOO_NEW, "2.28".into()))
        );
        assert!(id("[INFO] all good").is_none());
    }

    #[test]
    fn error_lines_are_told_from_traceback_lines() {
        assert!(is_error_line("[ERROR] KeyError: 'x'"));
        assert!(is_error_line("ValueError: bad"));
        assert!(is_error_line(
            "INIT_REPORT Init Duration: 3.1 ms Phase: init Status: error Error Type: Runtime.Unknown"
        ));
        assert!(!is_error_line("Traceback (most recent call last):"));
        assert!(!is_error_line("File \"/var/task/handler.py\", line 3, in <module>"));
        assert!(!is_error_line("START RequestId: 1 Version: $LATEST"));
    }
}
