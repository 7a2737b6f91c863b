//! Post-deploy checks: the stack settled in a complete state, and the environment's health
//! URL answers as its `health_check` expects (retried with backoff: a new function's first
//! requests are cold starts, and API Gateway takes a moment to route a new stage).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use super::health::{self, ExpectedStatus};
use crate::aws::{self, moto, Aws, ChangeSetDescription, Stack};
use crate::evidence::{deployed, BuildEvidence};
use crate::project::config::Project;
use crate::project::target::BuildTarget;
use crate::project::template::LayerRef;
use crate::run::pipeline::Findings;
use crate::sys::layout;
use crate::sys::process;
use crate::sys::redact;

pub fn stack_complete(sh: &Shell, aws: &Aws, stack: &str) -> Result<Stack> {
    let Some(found) = crate::aws::stack::describe(sh, aws, stack)? else {
        bail!("stack {stack} does not exist after the deploy")
    };
    if !matches!(found.stack_status.as_str(), "CREATE_COMPLETE" | "UPDATE_COMPLETE") {
        bail!(
            "stack {stack} is {}{} after the deploy, not CREATE_COMPLETE or UPDATE_COMPLETE: see its events with {}",
            found.stack_status,
            found.stack_status_reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
            aws.shown(&format!("cloudformation describe-stack-events --stack-name {stack} --max-items 20"))
        )
    }
    say!("    {stack} is {}", found.stack_status);
    Ok(found)
}

/// The live functions against the build (see [`deployed::mismatches`]): printed one line each,
/// and a failure with a finding per difference. In a rehearsal, the resources moto did not
/// create are named first.
pub fn check_live_functions(
    project: &Project,
    targets: &[BuildTarget],
    resources: &[(String, String)],
    live: &[deployed::LiveFunction],
    rehearsal: bool,
    env: &str,
) -> Result<()> {
    let work_dir = layout::rehearsal_dir(&project.sam_dir());
    if rehearsal {
        super::rehearsal::report_stand_ins(project);
    }
    let compared = deployed::Compared { architecture_and_layers: !rehearsal || moto::gaps_filled(&work_dir) };
    if !compared.architecture_and_layers {
        say!("    the local AWS keeps no architectures or layers (its gaps were not filled; see its log): compared are code, runtime and handler");
    }
    let evidence = crate::build::fingerprint::recorded_evidence(&project.sam_dir());
    let expected: Vec<deployed::ExpectedFunction> =
        targets.iter().map(|t| expected_function(t, evidence.as_ref(), resources)).collect();
    let redeploy = format!("cargo xtask lambda-deploy --env {env}");
    let findings = deployed::mismatches(&expected, live, compared, &redeploy);
    for function in live {
        let id = &function.code.logical_id;
        if findings.iter().any(|f| f.problem.starts_with(&format!("{id} "))) {
            continue;
        }
        let want = expected.iter().find(|e| &e.logical_id == id);
        let code = match want.and_then(|w| w.code_sha256.as_ref()) {
            Some(_) => "the build's package",
            None => "code (the build recorded no package to compare with)",
        };
        say!(
            "    {id}: runs {code}, {} {}, handler {}, {} layer(s)",
            function.runtime.as_deref().unwrap_or("no runtime"),
            function.architectures.first().map(String::as_str).unwrap_or("x86_64"),
            function.handler.as_deref().unwrap_or("none"),
            function.layers.len()
        );
    }
    Findings::fail_on(findings, "the live functions are not the build: deploy it again")
}

/// What the template and the build's evidence say `target` must run. A layer of the stack is
/// found by its logical id, which the SAM transform suffixes with a hash of its content.
fn expected_function(
    target: &BuildTarget,
    evidence: Option<&BuildEvidence>,
    resources: &[(String, String)],
) -> deployed::ExpectedFunction {
    let id = &target.config.logical_id;
    let package =
        evidence.and_then(|e| e.artifacts.iter().find(|a| &a.logical_id == id)).and_then(|a| a.package.as_ref());
    let layers = target
        .template
        .layers
        .iter()
        .map(|layer| match layer {
            LayerRef::Resource(logical) => match resources.iter().find(|(r, _)| is_layer_version_of(r, logical)) {
                Some((_, arn)) => deployed::ExpectedLayer::Arn(arn.clone()),
                None => deployed::ExpectedLayer::Unresolved(logical.clone()),
            },
            LayerRef::External(text) if text.starts_with("arn:") && !text.contains("${") => {
                deployed::ExpectedLayer::Arn(text.clone())
            }
            LayerRef::External(text) => deployed::ExpectedLayer::Unresolved(text.clone()),
        })
        .collect();
    deployed::ExpectedFunction {
        logical_id: id.clone(),
        runtime: target.template.runtime.clone(),
        handler: target.template.handler.clone(),
        architecture: target.template.architecture.clone(),
        code_sha256: package.map(|p| p.code_sha256.clone()),
        package: package.map(|p| p.path.display().to_string()),
        layers,
    }
}

/// `Layer` itself, or `Layer` and the transform's 10 hex digits (`Layer3b1f0a6c2d`).
fn is_layer_version_of(resource: &str, layer: &str) -> bool {
    resource == layer
        || resource
            .strip_prefix(layer)
            .is_some_and(|rest| rest.len() == 10 && rest.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Prints a dry run's change set, as CloudFormation describes it.
pub fn describe_change_set(sh: &Shell, aws: &Aws, change_set: &str) -> Result<ChangeSetDescription> {
    let described: ChangeSetDescription = aws.read(
        sh,
        &["cloudformation", "describe-change-set", "--change-set-name", change_set],
        "aws cloudformation describe-change-set",
    )?;
    say!(
        "    change set {change_set}: {} ({}), {} change(s), not executed",
        described.status,
        described.execution_status.as_deref().unwrap_or("-"),
        described.changes.len()
    );
    if let Some(reason) = &described.status_reason {
        say!("    reason: {reason}");
    }
    for change in described.changes.iter().filter_map(|c| c.resource_change.as_ref()) {
        say!(
            "      {:<8} {:<32} {:<32} replacement: {}",
            change.action.as_deref().unwrap_or("-"),
            change.logical_resource_id.as_deref().unwrap_or("-"),
            change.resource_type.as_deref().unwrap_or("-"),
            change.replacement.as_deref().unwrap_or("-")
        );
    }
    Ok(described)
}

/// Fetches the URL with Python's standard library: the xtask already needs Python, and an
/// HTTP client with TLS would double its compile time for one GET.
const HTTP_GET: &str = r#"
import sys, urllib.request, urllib.error
try:
    request = urllib.request.Request(sys.argv[1], headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=float(sys.argv[2])) as response:
        status, body = response.status, response.read(4096)
except urllib.error.HTTPError as error:
    status, body = error.code, error.read(4096)
except Exception as error:
    status, body = 0, (type(error).__name__ + ": " + str(error)).encode()
print(status)
print(body.decode("utf-8", "replace"))
"#;

/// The health check failed; `last_answer` is what the URL said last (for the audit record).
#[derive(Debug)]
pub struct Unhealthy {
    pub message: String,
    pub last_answer: String,
}

impl std::fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Unhealthy {}

/// GETs the URL until it answers as expected, backing off 1, 2, 4, 8, then 15 s between
/// attempts, for at most `timeout`. Returns the answer (`200 {...}`), scrubbed.
pub fn http_health(
    sh: &Shell,
    python: &Path,
    url: &str,
    timeout: Duration,
    expect_status: ExpectedStatus,
    expect_json: Option<&serde_json::Value>,
) -> Result<String> {
    let deadline = Instant::now() + timeout;
    let mut delays = health_backoff();
    let mut delay = delays.next().expect("an endless schedule");
    let mut attempts = 0;
    let expected = match expect_json {
        Some(json) => format!("{} with {json}", expect_status.describe()),
        None => expect_status.describe(),
    };
    loop {
        attempts += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let per_try = remaining.clamp(Duration::from_secs(1), Duration::from_secs(10));
        let seconds = per_try.as_secs().to_string();
        let out = process::capture(
            cmd!(sh, "{python} -I -c {HTTP_GET} {url} {seconds}"),
            "health check",
            Some(per_try + Duration::from_secs(10)),
        )
        .context("running the health check's HTTP GET with python3")?;
        let (status, body) = out.split_once('\n').unwrap_or((out.as_str(), ""));
        let (status, body) = (status.trim(), redact::scrub(body.trim()));
        let code: u16 = status.parse().unwrap_or(0);
        let answer = if code == 0 { body.clone() } else { format!("{code} {body}") };
        let answer: String = answer.chars().take(300).collect();
        let problem = if code == 0 {
            Some("no answer".to_string())
        } else {
            health::judge(code, &body, expect_status, expect_json)
        };
        let Some(problem) = problem else {
            say!("    GET {url}: {answer} (expected {expected}; attempt {attempts})");
            return Ok(answer);
        };
        if Instant::now() + delay >= deadline {
            return Err(anyhow::Error::new(Unhealthy {
                message: format!(
                    "GET {url} did not answer {expected} within {}s ({attempts} attempts; last: {problem}: {answer})",
                    timeout.as_secs(),
                ),
                last_answer: answer,
            }));
        }
        say!("    GET {url}: {}; retrying in {}s", answer.chars().take(160).collect::<String>(), delay.as_secs());
        aws::sleep_unless_interrupted(delay)?;
        delay = delays.next().expect("an endless schedule");
    }
}

/// The waits between health-check attempts: 1, 2, 4, 8 s, then 15 s for as long as the
/// timeout allows.
pub fn health_backoff() -> impl Iterator<Item = Duration> {
    std::iter::successors(Some(Duration::from_secs(1)), |d| Some((*d * 2).min(Duration::from_secs(15))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    #[test]
    fn a_layer_version_is_found_under_its_transformed_logical_id() {
        assert!(is_layer_version_of("SharedLayer", "SharedLayer"));
        assert!(is_layer_version_of("SharedLayer3b1f0a6c2d", "SharedLayer"));
        assert!(!is_layer_version_of("SharedLayerPolicy", "SharedLayer"));
        assert!(!is_layer_version_of("Shared", "SharedLayer"));
    }

    #[test]
    fn the_backoff_is_1_2_4_8_then_15_seconds() {
        let secs: Vec<u64> = health_backoff().take(7).map(|d| d.as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 15, 15, 15]);
    }

    #[test]
    fn the_url_comes_from_the_stack_output_with_the_health_path() {
        let stack: Stack = serde_json::from_str(
            r#"{"StackName": "s", "StackStatus": "CREATE_COMPLETE",
                "Outputs": [{"OutputKey": "ApiUrl", "OutputValue": "https://abc.execute-api.us-east-1.amazonaws.com/Prod/"}]}"#,
        )
        .unwrap();
        let api_url = stack.output("ApiUrl").unwrap();
        assert_eq!(
            health::join_url(api_url, Some("/health")),
            "https://abc.execute-api.us-east-1.amazonaws.com/Prod/health"
        );
    }

    /// A real HTTP exchange on loopback: unhealthy twice, then healthy. The check GETs the
    /// path it was given each time, and succeeds on the third attempt.
    #[test]
    fn the_check_gets_the_path_until_it_is_healthy() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let url = format!("http://127.0.0.1:{}/Prod/health", listener.local_addr().unwrap().port());
        let server = std::thread::spawn(move || {
            let mut request_lines = Vec::new();
            for (n, stream) in listener.incoming().take(3).enumerate() {
                let mut stream = stream.unwrap();
                let mut line = String::new();
                BufReader::new(&stream).read_line(&mut line).unwrap();
                request_lines.push(line.trim().to_string());
                let (status, body) =
                    if n < 2 { ("503 Service Unavailable", "{}") } else { ("200 OK", r#"{"status": "healthy"}"#) };
                let _ = write!(stream, "HTTP/1.0 {status}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            }
            request_lines
        });
        let sh = Shell::new().unwrap();
        let python = crate::sys::tools::host_python().unwrap();
        let expected = serde_json::json!({"status": "healthy"});
        let answer =
            http_health(&sh, &python, &url, Duration::from_secs(60), ExpectedStatus::default(), Some(&expected))
                .unwrap();
        assert!(answer.starts_with("200 "), "{answer}");
        let lines = server.join().unwrap();
        assert_eq!(lines, ["GET /Prod/health HTTP/1.1"; 3]);
    }
}
