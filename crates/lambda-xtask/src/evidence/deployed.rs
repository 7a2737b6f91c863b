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
struct FunctionConfiguration {
    #[serde(rename = "CodeSha256")]
    code_sha256: String,
    #[serde(rename = "CodeSize")]
    code_size: Option<u64>,
}

/// The deployed code of each function in `logical_ids` that the stack has (`resources`:
/// logical id to physical id). A function the stack lacks is left out: the caller says so.
pub fn read(sh: &Shell, aws: &Aws, resources: &[(String, String)], logical_ids: &[&str]) -> Result<Vec<DeployedCode>> {
    let mut deployed = Vec::new();
    for id in logical_ids {
        let Some((_, function_name)) = resources.iter().find(|(logical, _)| logical == id) else { continue };
        let answer: GetFunction =
            aws.read(sh, &["lambda", "get-function", "--function-name", function_name], "aws lambda get-function")?;
        deployed.push(DeployedCode {
            logical_id: id.to_string(),
            function_name: function_name.clone(),
            code_sha256: answer.configuration.code_sha256,
            code_size: answer.configuration.code_size,
        });
    }
    Ok(deployed)
}

/// The deploy's step: reads and prints each function's CodeSha256.
pub fn read_step(
    sh: &Shell,
    aws: &Aws,
    stack: &str,
    resources: &[(String, String)],
    logical_ids: &[&str],
) -> Result<Vec<DeployedCode>> {
    let deployed = read(sh, aws, resources, logical_ids)?;
    for id in logical_ids {
        match deployed.iter().find(|d| d.logical_id == *id) {
            Some(code) => eprintln!("    {id}: {} runs CodeSha256 {}", code.function_name, code.code_sha256),
            None => eprintln!(
                "    {id}: not among the resources of {stack} (moto runs no SAM transform): no CodeSha256 to record"
            ),
        }
    }
    Ok(deployed)
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
