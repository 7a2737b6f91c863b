//! One examination of an environment, as both `lambda-doctor` and `lambda-deploy` (after a
//! failed deploy) run it: read, diagnose, and where a log line points at the artifact and the
//! local build is what was deployed, the guards' findings on that file.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use xshell::Shell;

use super::read::{self, Request};
use super::{artifact, diagnose, Context, Diagnosis, Observed};
use crate::aws::Aws;
use crate::guards::suite;
use crate::project::config::Project;
use crate::project::target::BuildTarget;
use crate::run::pipeline::Pipeline;
use crate::sys::tools::{self, PythonTool};

pub struct Examination<'a> {
    pub project: &'a Project,
    pub targets: &'a [BuildTarget],
    pub ctx: Context,
    pub function: Option<&'a str>,
    pub since: Duration,
    pub since_text: &'a str,
}

impl Examination<'_> {
    /// requirements.txt of each function, as the repository shows it.
    fn requirements(&self) -> BTreeMap<String, String> {
        self.targets
            .iter()
            .map(|t| {
                let path = t.dir.join("requirements.txt");
                (t.config.logical_id.clone(), path.display().to_string())
            })
            .collect()
    }

    pub fn read(&self, aws: &Aws) -> Result<Observed> {
        let requirements = self.requirements();
        read::observe(
            aws,
            &Request {
                stack: &self.ctx.stack,
                function: self.function,
                since: self.since,
                since_text: self.since_text,
                requirements: &requirements,
            },
        )
    }

    /// The diagnosis of what was read, with the local build checked where a lead asks.
    pub fn diagnose(&self, observed: &Observed) -> Result<Diagnosis> {
        let mut diagnosis = diagnose(&self.ctx, observed);
        let leads = std::mem::take(&mut diagnosis.leads);
        let mut checked: Vec<&str> = Vec::new();
        for lead in &leads {
            let Some(target) = self.targets.iter().find(|t| t.config.logical_id == lead.logical_id) else { continue };
            let Some(function) = observed.functions.iter().find(|f| f.logical_id == lead.logical_id) else { continue };
            let artifact_dir = suite::artifact_dir(self.project, target);
            let shown = artifact_dir.strip_prefix(&self.project.root).unwrap_or(&artifact_dir).display().to_string();
            if !artifact_dir.is_dir() {
                diagnosis
                    .notes
                    .push(format!("no local build output at {shown} to compare with what {} runs", lead.logical_id));
                continue;
            }
            let Some(deployed) = function.config.code_sha256.as_deref() else { continue };
            let local = match local_sha(self.project, &lead.logical_id, &artifact_dir) {
                Ok(LocalCode::Sha(local)) => local,
                Ok(LocalCode::ChangedSincePackaged { zip }) => {
                    if !checked.contains(&lead.logical_id.as_str()) {
                        diagnosis.notes.push(format!(
                            "the local build output {shown} changed since the build packaged it as {zip}, so it is not what {} runs: its guards would not speak for the deployed code (cargo xtask lambda-build makes them agree)",
                            lead.logical_id
                        ));
                    }
                    checked.push(&lead.logical_id);
                    continue;
                }
                Err(err) => {
                    diagnosis.notes.push(format!("could not hash {shown} as sam zips it: {err:#}"));
                    continue;
                }
            };
            if !artifact::matches_deployed(&local, deployed) {
                if !checked.contains(&lead.logical_id.as_str()) {
                    diagnosis.notes.push(format!(
                        "the local build output {shown} (CodeSha256 {local}) is not what {} runs ({deployed}): its guards would not speak for the deployed code",
                        lead.logical_id
                    ));
                }
                checked.push(&lead.logical_id);
                continue;
            }
            let mut missing = Vec::new();
            // This function alone (its layers are not re-checked here).
            let alone = crate::project::target::Discovery {
                targets: vec![target.clone()],
                layers: Vec::new(),
                notices: Vec::new(),
                images: Vec::new(),
                zips: Vec::new(),
                build_overrides: Vec::new(),
            };
            let guard_findings = suite::post_build(self.project, &alone, &mut missing, &mut Vec::new(), || false)?;
            let relevant = artifact::relevant(&guard_findings, lead);
            if relevant.is_empty() {
                continue;
            }
            if let Some(finding) =
                diagnosis.findings.iter_mut().find(|f| f.guard == lead.signature && f.path.contains(&lead.logical_id))
            {
                let files: Vec<&str> = relevant.iter().map(|f| f.path.as_str()).collect();
                finding.problem.push_str(&format!(
                    "; the local build output is what is deployed (CodeSha256 {deployed}), and the guards name {}",
                    files.join(", ")
                ));
            }
            for finding in relevant {
                if !diagnosis.findings.contains(&finding) {
                    diagnosis.findings.push(finding);
                }
            }
            checked.push(&lead.logical_id);
        }
        Ok(diagnosis)
    }
}

/// The `CodeSha256` a deploy of the local build would give. A build that packaged the
/// function itself (its manifest names the zip the built template points at) uploads that zip
/// as it is, so its recorded hash speaks for the directory only while the directory's content
/// is still what was packaged; a build without one is zipped by sam, so sam's own zip is made
/// again.
enum LocalCode {
    /// What Lambda's `CodeSha256` would be.
    Sha(String),
    /// The directory is not what the build's own zip holds any more.
    ChangedSincePackaged { zip: String },
}

fn local_sha(project: &Project, logical_id: &str, dir: &std::path::Path) -> Result<LocalCode> {
    let recorded = crate::build::fingerprint::recorded_evidence(&project.sam_dir())
        .and_then(|evidence| evidence.artifacts.into_iter().find(|a| a.logical_id == logical_id));
    if let Some(artifact) = recorded {
        if let Some(package) = &artifact.package {
            let now = crate::evidence::digest::tree_digest(dir)?;
            if now.digest != artifact.digest.digest {
                return Ok(LocalCode::ChangedSincePackaged { zip: package.path.display().to_string() });
            }
            return Ok(LocalCode::Sha(package.code_sha256.clone()));
        }
    }
    let sam = match tools::find(&PythonTool::sam_cli(&project.config.sam_cli_version))? {
        Some((sam, _)) => sam,
        None => anyhow::bail!("the SAM CLI is not installed (cargo xtask lambda-build installs it)"),
    };
    let python = artifact::sam_python(&sam)?;
    artifact::local_code_sha256(&Shell::new()?, &python, dir).map(LocalCode::Sha)
}

/// lambda-deploy's hook, after sam deploy or a post-deploy check failed: the doctor's findings
/// printed under the failure (and recorded in the report). Its own trouble reading is a
/// note, never a second failure: the deploy's error stands as it is.
pub fn explain_failure(pipeline: &mut Pipeline, aws: &Aws, examination: &Examination) {
    let command = "lambda-deploy";
    say!("[{command}] doctor: reading the stack, its events and the logs since the deploy began ...");
    let started = std::time::Instant::now();
    let diagnosis = examination.read(aws).and_then(|observed| examination.diagnose(&observed));
    match diagnosis {
        Ok(diagnosis) => {
            for note in &diagnosis.notes {
                say!("    note: {note}");
            }
            if diagnosis.findings.is_empty() {
                say!(
                    "[{command}] doctor: no known failure matches ({}); the error below stands as it is",
                    crate::run::record::seconds(started.elapsed())
                );
            } else {
                say!(
                    "[{command}] doctor: {} finding(s) explain the failure ({}):",
                    diagnosis.findings.len(),
                    crate::run::record::seconds(started.elapsed())
                );
                pipeline.explain("doctor", diagnosis.findings);
            }
        }
        Err(err) => match super::stack::import_not_exported(&examination.ctx, &format!("{err:#}")) {
            Some(finding) => {
                say!("[{command}] doctor: the stack cannot be read while an import of it has no export; 1 finding explains the failure:");
                pipeline.explain("doctor", vec![finding]);
            }
            None => say!("[{command}] doctor: could not read the stack ({err:#}); the error below stands as it is"),
        },
    }
}
