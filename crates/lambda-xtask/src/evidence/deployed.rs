//! What Lambda runs: each function's `CodeSha256` (from `get-function`), recorded in the audit
//! line beside the digest of the build that was deployed, and compared later by
//! `lambda-check --deployed` to tell whether the live code is the build at hand.
//!
//! sam zips the build output itself, and not reproducibly (walk order, mtimes), so a
//! `CodeSha256` cannot be computed from a build directory: it is matched through the audit
//! log, whose line for the deploy holds both the zip's hash (as Lambda reports it) and the
//! build's content digest.

use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use xshell::Shell;

use crate::aws::Aws;
use crate::guards::Finding;

/// One function as deployed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployedCode {
    pub logical_id: String,
    pub function_name: String,
    /// Base64 SHA-256 of the zip Lambda holds, as `get-function` reports it.
    pub code_sha256: String,
    pub code_size: Option<u64>,
}

#[derive(Deserialize)]
struct GetFunction {
    #[serde(rename = "Configuration")]
    configuration: FunctionConfiguration,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FunctionConfiguration {
    code_sha256: String,
    code_size: Option<u64>,
    runtime: Option<String>,
    handler: Option<String>,
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default)]
    layers: Vec<FunctionLayer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FunctionLayer {
    arn: String,
}

/// One function as Lambda runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveFunction {
    pub code: DeployedCode,
    pub runtime: Option<String>,
    pub handler: Option<String>,
    pub architectures: Vec<String>,
    /// Layer version ARNs, in order.
    pub layers: Vec<String>,
}

/// The deployed code of each function in `logical_ids` that the stack has (`resources`:
/// logical id to physical id). A function the stack lacks is left out: the caller says so.
pub fn read(sh: &Shell, aws: &Aws, resources: &[(String, String)], logical_ids: &[&str]) -> Result<Vec<LiveFunction>> {
    let mut live = Vec::new();
    for id in logical_ids {
        let Some((_, function_name)) = resources.iter().find(|(logical, _)| logical == id) else { continue };
        let answer: GetFunction =
            aws.read(sh, &["lambda", "get-function", "--function-name", function_name], "aws lambda get-function")?;
        let c = answer.configuration;
        live.push(LiveFunction {
            code: DeployedCode {
                logical_id: id.to_string(),
                function_name: function_name.clone(),
                code_sha256: c.code_sha256,
                code_size: c.code_size,
            },
            runtime: c.runtime,
            handler: c.handler,
            architectures: c.architectures,
            layers: c.layers.into_iter().map(|l| l.arn).collect(),
        });
    }
    Ok(live)
}

/// The deploy's step: reads and prints each function's CodeSha256.
pub fn read_step(
    sh: &Shell,
    aws: &Aws,
    stack: &str,
    resources: &[(String, String)],
    logical_ids: &[&str],
) -> Result<Vec<LiveFunction>> {
    let live = read(sh, aws, resources, logical_ids)?;
    for id in logical_ids {
        match live.iter().find(|d| d.code.logical_id == *id) {
            Some(function) => {
                say!("    {id}: {} runs CodeSha256 {}", function.code.function_name, function.code.code_sha256)
            }
            None => say!("    {id}: not among the resources of {stack}: no CodeSha256 to record"),
        }
    }
    Ok(live)
}

/// What the build and the template say a function must run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedFunction {
    pub logical_id: String,
    pub runtime: Option<String>,
    pub handler: Option<String>,
    pub architecture: String,
    /// The CodeSha256 of the build's reproducible package, when the build recorded one.
    pub code_sha256: Option<String>,
    /// Where the build's package is, for the message.
    pub package: Option<String>,
    pub layers: Vec<ExpectedLayer>,
}

/// A layer the template gives the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectedLayer {
    /// This ARN: a layer of the stack (its physical id) or a literal ARN.
    Arn(String),
    /// An expression (`!Sub`, a parameter) not evaluated here: only counted.
    Unresolved(String),
}

/// Which properties the comparison can trust the live side for: the rehearsal's moto keeps a
/// function's architectures and layers only with its gaps filled (see `aws/moto_gaps.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compared {
    pub architecture_and_layers: bool,
}

/// The live functions against the build: each difference in code, runtime, handler,
/// architecture or layers is a finding. `redeploy` is the command that deploys the build again.
pub fn mismatches(
    expected: &[ExpectedFunction],
    live: &[LiveFunction],
    compared: Compared,
    redeploy: &str,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for want in expected {
        let Some(have) = live.iter().find(|l| l.code.logical_id == want.logical_id) else { continue };
        let id = &want.logical_id;
        let name = &have.code.function_name;
        let mut differ = |what: &str, live_value: String, built: String, path: Option<&str>| {
            findings.push(Finding::new(
                "deployed-function",
                path.unwrap_or(id).to_string(),
                format!("{id} ({name}) runs {what} {live_value}, but the build has {built}"),
                "the function Lambda runs is not the build the guards and the smoke test passed",
                format!("deploy the build again: {redeploy} (it builds and uploads the package afresh)"),
            ));
        };
        if let Some(sha) = &want.code_sha256 {
            if *sha != have.code.code_sha256 {
                let package = want.package.as_deref();
                differ(
                    "CodeSha256",
                    have.code.code_sha256.clone(),
                    format!("{sha} ({})", package.unwrap_or("its package")),
                    package,
                );
            }
        }
        if want.runtime.is_some() && want.runtime != have.runtime {
            differ("runtime", shown(&have.runtime), shown(&want.runtime), None);
        }
        if want.handler.is_some() && want.handler != have.handler {
            differ("handler", shown(&have.handler), shown(&want.handler), None);
        }
        if !compared.architecture_and_layers {
            continue;
        }
        let architecture = have.architectures.first().map(String::as_str).unwrap_or("x86_64");
        if architecture != want.architecture {
            differ("architecture", architecture.to_string(), want.architecture.clone(), None);
        }
        let missing: Vec<&str> = want
            .layers
            .iter()
            .filter_map(|l| match l {
                ExpectedLayer::Arn(arn) if !have.layers.contains(arn) => Some(arn.as_str()),
                _ => None,
            })
            .collect();
        if !missing.is_empty() || have.layers.len() != want.layers.len() {
            let built: Vec<&str> = want
                .layers
                .iter()
                .map(|l| match l {
                    ExpectedLayer::Arn(arn) | ExpectedLayer::Unresolved(arn) => arn.as_str(),
                })
                .collect();
            differ("layers", format!("[{}]", have.layers.join(", ")), format!("[{}]", built.join(", ")), None);
        }
    }
    findings
}

fn shown(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "none".to_string())
}

/// Which recorded deploy put this code there: the last audit line of `env` whose `deployed`
/// lists `logical_id` with `code_sha256`, and the artifact digest that line recorded.
pub struct Provenance {
    pub line: usize,
    pub started_at: String,
    pub commit: Option<String>,
    pub artifact_digest: Option<String>,
}

pub fn provenance(log: &str, env: &str, logical_id: &str, code_sha256: &str) -> Option<Provenance> {
    let mut found = None;
    for (index, line) in log.lines().enumerate() {
        let Ok(record) = serde_json::from_str::<Value>(line) else { continue };
        if record["env"] != env {
            continue;
        }
        let deployed = record["deployed"].as_array().into_iter().flatten();
        if !deployed.into_iter().any(|d| d["logical_id"] == logical_id && d["code_sha256"] == code_sha256) {
            continue;
        }
        let artifact_digest = record["artifacts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["logical_id"] == logical_id)
            .and_then(|a| a["digest"].as_str())
            .map(str::to_string);
        found = Some(Provenance {
            line: index + 1,
            started_at: record["started_at"].as_str().unwrap_or_default().to_string(),
            commit: record["commit"].as_str().map(str::to_string),
            artifact_digest,
        });
    }
    found
}

/// Whether the live code of one function is the build at hand.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The deploy that put the live code there recorded the digest of the build at hand.
    ThisBuild { line: usize, started_at: String, commit: Option<String> },
    /// It recorded another build.
    OtherBuild { line: usize, started_at: String, commit: Option<String>, artifact_digest: Option<String> },
    /// No recorded deploy put this code there (the console, another tool, a lost log line).
    Unrecorded,
}

pub fn verdict(log: &str, env: &str, logical_id: &str, code_sha256: &str, build_digest: &str) -> Verdict {
    match provenance(log, env, logical_id, code_sha256) {
        None => Verdict::Unrecorded,
        Some(p) if p.artifact_digest.as_deref() == Some(build_digest) => {
            Verdict::ThisBuild { line: p.line, started_at: p.started_at, commit: p.commit }
        }
        Some(p) => Verdict::OtherBuild {
            line: p.line,
            started_at: p.started_at,
            commit: p.commit,
            artifact_digest: p.artifact_digest,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_deploy_of_that_code_to_that_env_is_its_provenance() {
        let log = [
            r#"{"env":"prod","started_at":"t1","commit":"c1","deployed":[{"logical_id":"F","code_sha256":"A"}],"artifacts":[{"logical_id":"F","digest":"sha256:1"}]}"#,
            r#"{"env":"dev","started_at":"t2","commit":"c2","deployed":[{"logical_id":"F","code_sha256":"A"}],"artifacts":[{"logical_id":"F","digest":"sha256:2"}]}"#,
            "not json",
            r#"{"env":"prod","started_at":"t3","commit":"c3","deployed":[{"logical_id":"F","code_sha256":"A"}],"artifacts":[{"logical_id":"F","digest":"sha256:3"}]}"#,
            r#"{"env":"prod","started_at":"t4","commit":"c4","deployed":[{"logical_id":"F","code_sha256":"B"}]}"#,
        ]
        .join("\n");
        let found = provenance(&log, "prod", "F", "A").unwrap();
        assert_eq!((found.line, found.started_at.as_str()), (4, "t3"));
        assert_eq!(found.artifact_digest.as_deref(), Some("sha256:3"));
        assert!(provenance(&log, "prod", "F", "C").is_none());
        assert!(provenance(&log, "qa", "F", "A").is_none());
        assert!(matches!(verdict(&log, "prod", "F", "A", "sha256:3"), Verdict::ThisBuild { line: 4, .. }));
        assert!(matches!(verdict(&log, "prod", "F", "A", "sha256:1"), Verdict::OtherBuild { line: 4, .. }));
        assert_eq!(verdict(&log, "prod", "F", "Z", "sha256:3"), Verdict::Unrecorded);
    }
}

#[cfg(test)]
mod comparison_tests {
    use super::*;

    fn live() -> LiveFunction {
        LiveFunction {
            code: DeployedCode {
                logical_id: "Fn".into(),
                function_name: "stack-Fn-ABC".into(),
                code_sha256: "built=".into(),
                code_size: Some(10),
            },
            runtime: Some("python3.11".into()),
            handler: Some("app.handler".into()),
            architectures: vec!["arm64".into()],
            layers: vec!["arn:aws:lambda:us-east-1:123456789012:layer:Shared:1".into()],
        }
    }

    fn expected() -> ExpectedFunction {
        ExpectedFunction {
            logical_id: "Fn".into(),
            runtime: Some("python3.11".into()),
            handler: Some("app.handler".into()),
            architecture: "arm64".into(),
            code_sha256: Some("built=".into()),
            package: Some(".aws-sam/build/Fn.zip".into()),
            layers: vec![ExpectedLayer::Arn("arn:aws:lambda:us-east-1:123456789012:layer:Shared:1".into())],
        }
    }

    const ALL: Compared = Compared { architecture_and_layers: true };

    #[test]
    fn the_build_as_deployed_has_no_finding() {
        assert!(mismatches(&[expected()], &[live()], ALL, "x").is_empty());
    }

    #[test]
    fn each_difference_is_a_finding_naming_both_sides() {
        let mut tampered = live();
        tampered.code.code_sha256 = "other=".into();
        tampered.runtime = Some("python3.12".into());
        tampered.architectures = vec!["x86_64".into()];
        tampered.layers.clear();
        let findings = mismatches(&[expected()], &[tampered], ALL, "cargo xtask lambda-deploy --env local");
        let problems: Vec<&str> = findings.iter().map(|f| f.problem.as_str()).collect();
        assert_eq!(findings.len(), 4, "{problems:?}");
        assert!(problems[0].contains("CodeSha256 other=") && problems[0].contains("built= (.aws-sam/build/Fn.zip)"));
        assert_eq!(findings[0].path, ".aws-sam/build/Fn.zip");
        assert!(problems[1].contains("runtime python3.12") && problems[1].contains("python3.11"));
        assert!(problems[2].contains("architecture x86_64"));
        assert!(problems[3].contains("layers []"));
        assert!(findings.iter().all(|f| f.fix.contains("cargo xtask lambda-deploy --env local")));
    }

    #[test]
    fn architecture_and_layers_wait_for_a_local_aws_that_keeps_them() {
        let mut plain_moto = live();
        plain_moto.architectures = vec!["x86_64".into()];
        plain_moto.layers.clear();
        assert!(mismatches(&[expected()], &[plain_moto], Compared { architecture_and_layers: false }, "x").is_empty());
    }

    #[test]
    fn an_unresolved_layer_is_counted() {
        let mut want = expected();
        want.layers = vec![ExpectedLayer::Unresolved("!Sub arn:...:layer:Powertools:3".into())];
        let mut have = live();
        assert!(mismatches(&[want.clone()], &[have.clone()], ALL, "x").is_empty());
        have.layers.push("arn:aws:lambda:us-east-1:1:layer:Other:1".into());
        assert_eq!(mismatches(&[want], &[have], ALL, "x").len(), 1);
    }
}
