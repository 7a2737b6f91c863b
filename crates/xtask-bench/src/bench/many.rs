//! Many functions in one template: a generated app of N tiny Python functions (our own code,
//! one handler each, no dependencies), in its own git repository, built natively. Measures the
//! full build, the no-op build and `lambda-check`, so that their cost per function at 50 and
//! at 200 functions can be compared (the target: linear or better).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// What one size of the app cost.
pub struct Costs {
    pub functions: usize,
    pub full_build: Duration,
    pub noop: super::Timing,
    pub check: super::Timing,
}

/// Writes the app of `functions` functions into `dir` and commits it.
pub fn generate(dir: &Path, functions: usize) -> Result<()> {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir)?;
    fs::write(dir.join("Cargo.toml"), "[workspace.metadata.lambda]\ntemplate = \"template.yaml\"\n")?;
    let mut template = String::from(
        "AWSTemplateFormatVersion: \"2010-09-09\"\nTransform: AWS::Serverless-2016-10-31\nDescription: benchmark app of many tiny functions\n\nResources:\n",
    );
    for n in 0..functions {
        let _ = write!(
            template,
            "  Fn{n:03}:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: functions/f{n:03}/\n      Handler: app.handler\n      Runtime: python3.11\n      Timeout: 10\n"
        );
        let code = dir.join(format!("functions/f{n:03}"));
        fs::create_dir_all(&code)?;
        fs::write(
            code.join("app.py"),
            format!("import json\n\n\ndef handler(event, context):\n    return {{\"statusCode\": 200, \"body\": json.dumps({{\"n\": {n}}})}}\n"),
        )?;
    }
    fs::write(dir.join("template.yaml"), template)?;
    super::date_back(dir)?;
    super::git_commit_all(dir)
}

/// The full build once, then the no-op build and the check `runs` times each, side by side.
pub fn measure(xtask: &PathBuf, dir: &Path, functions: usize, runs: usize) -> Result<Costs> {
    let build = || Command::new(xtask).current_dir(dir).args(["lambda-build", "--container", "never"]).output();
    let started = Instant::now();
    let first = build().context("the full lambda-build")?;
    let full_build = started.elapsed();
    if !first.status.success() {
        bail!("the full lambda-build of {functions} functions failed:\n{}", String::from_utf8_lossy(&first.stderr));
    }
    let noop_output = build()?;
    let said =
        format!("{}{}", String::from_utf8_lossy(&noop_output.stdout), String::from_utf8_lossy(&noop_output.stderr));
    if !said.contains("up to date") {
        bail!("the second lambda-build of {functions} functions was no no-op:\n{said}");
    }
    let (noop, check) = super::time_side_by_side(
        1,
        (runs, runs),
        || super::quiet(Command::new(xtask).current_dir(dir).args(["lambda-build", "--container", "never"])),
        || super::quiet(Command::new(xtask).current_dir(dir).arg("lambda-check")),
    )?;
    Ok(Costs { functions, full_build, noop, check })
}
