//! A big app end to end: `lambda-build --container never` against plain `sam build`, each on
//! its own copy of the same app, from an empty `.aws-sam` every run. The app is our own code in
//! the shape of a data/agent app: five python3.11 x86_64 functions whose requirements pull large
//! native wheels (numpy, pandas, scipy, pyarrow, pydantic-core) and large pure ones
//! (langchain-core and its tree), each handler importing what it ships. pip's cache for both
//! sides lives in the tool cache, filled by one untimed plain build first, so neither side
//! pays the download.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use anyhow::{bail, Context, Result};

/// Each function: logical id, its requirements, the modules its handler imports.
pub const FUNCTIONS: [(&str, &str, &str); 5] = [
    // numpy pinned where pandas pulls it: sam's pip builder asks for manylinux2014 wheels, which
    // the newest numpy no longer ships.
    ("IngestFunction", "pandas==2.2.3\nnumpy==2.1.3\n", "pandas"),
    ("QueryFunction", "numpy==2.1.3\nscipy==1.14.1\n", "numpy, scipy.optimize"),
    ("AgentFunction", "langchain-core==0.3.21\n", "langchain_core.messages"),
    ("ReportFunction", "pyarrow==18.1.0\nnumpy==2.1.3\n", "pyarrow, numpy"),
    ("ApiFunction", "requests==2.32.3\n", "requests"),
];

/// What the two sides cost, and the xtask's steps in its last run.
pub struct Costs {
    pub ours: super::Timing,
    pub plain: super::Timing,
    /// `(step, seconds)` as lambda-build printed them (`[lambda-build] STEP done in Ns`).
    pub steps: Vec<(String, f64)>,
    pub files: u64,
    pub bytes: u64,
}

/// Writes the app into `dir` and commits it (the xtask's repository).
fn generate(dir: &Path) -> Result<()> {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir)?;
    fs::write(dir.join("Cargo.toml"), "[workspace.metadata.lambda]\ntemplate = \"template.yaml\"\n")?;
    let mut template = String::from(
        "AWSTemplateFormatVersion: \"2010-09-09\"\nTransform: AWS::Serverless-2016-10-31\nDescription: benchmark app of large wheels\n\nGlobals:\n  Function:\n    Runtime: python3.11\n    Architectures: [x86_64]\n    Timeout: 30\n    MemorySize: 1024\n\nResources:\n",
    );
    for (id, requirements, imports) in FUNCTIONS {
        let code = dir.join("functions").join(id.trim_end_matches("Function").to_lowercase());
        fs::create_dir_all(&code)?;
        fs::write(code.join("requirements.txt"), requirements)?;
        fs::write(
            code.join("app.py"),
            format!(
                "import json\n\nimport {imports}\n\n\ndef handler(event, context):\n    return {{\"statusCode\": 200, \"body\": json.dumps({{\"function\": \"{id}\"}})}}\n"
            ),
        )?;
        template.push_str(&format!(
            "  {id}:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: {}/\n      Handler: app.handler\n",
            code.strip_prefix(dir)?.display()
        ));
    }
    fs::write(dir.join("template.yaml"), template)?;
    super::git_commit_all(dir)
}

fn said(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// The sam the xtask installed into its tool cache (the same one lambda-build runs).
fn cached_sam() -> Result<PathBuf> {
    let tools = lambda_xtask::sys::cache_dir::cache_root()?.join("tools");
    let mut found: Vec<PathBuf> = fs::read_dir(&tools)
        .with_context(|| format!("reading {}", tools.display()))?
        .flatten()
        .map(|e| e.path().join("bin/sam"))
        .filter(|p| p.is_file() && p.to_string_lossy().contains("aws-sam-cli-"))
        .collect();
    found.sort();
    found.pop().context("no sam in the tool cache: run a lambda-build once")
}

pub fn measure(xtask: &Path, work: &Path, runs: usize) -> Result<Costs> {
    let ours_dir = work.join("big-app");
    let plain_dir = work.join("big-app-plain");
    generate(&ours_dir)?;
    generate(&plain_dir)?;
    let pip_cache = lambda_xtask::sys::cache_dir::cache_root()?.join("bench-pip-cache");
    // The xtask's first build installs the pinned SAM CLI when it is missing; untimed.
    let first = Command::new(xtask)
        .current_dir(&ours_dir)
        .args(["lambda-build", "--container", "never"])
        .env("PIP_CACHE_DIR", &pip_cache)
        .output()
        .context("the first lambda-build of the big app")?;
    if !first.status.success() {
        bail!("the first lambda-build of the big app failed:\n{}", said(&first));
    }
    let sam = cached_sam()?;
    let plain = || -> Result<()> {
        let _ = fs::remove_dir_all(plain_dir.join(".aws-sam"));
        let output = Command::new(&sam)
            .current_dir(&plain_dir)
            .args(["build", "--template-file", "template.yaml"])
            .env("PIP_CACHE_DIR", &pip_cache)
            .env("SAM_CLI_TELEMETRY", "0")
            .output()
            .context("running plain sam build")?;
        if !output.status.success() {
            bail!("plain sam build of the big app failed:\n{}", said(&output));
        }
        Ok(())
    };
    plain()?;
    let mut last = String::new();
    let ours = || -> Result<String> {
        let _ = fs::remove_dir_all(ours_dir.join(".aws-sam"));
        let output = Command::new(xtask)
            .current_dir(&ours_dir)
            .args(["lambda-build", "--container", "never", "--force"])
            .env("PIP_CACHE_DIR", &pip_cache)
            .output()
            .context("running lambda-build")?;
        if !output.status.success() {
            bail!("lambda-build of the big app failed:\n{}", said(&output));
        }
        Ok(said(&output))
    };
    let (mut ours_samples, mut plain_samples) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let started = Instant::now();
        last = ours()?;
        ours_samples.push(started.elapsed());
        let started = Instant::now();
        plain()?;
        plain_samples.push(started.elapsed());
    }
    let steps = last
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("[lambda-build] ")?;
            let (step, took) = rest.split_once(" done in ")?;
            Some((step.to_string(), took.trim_end_matches('s').parse::<f64>().ok()?))
        })
        .collect();
    let (files, bytes) = super::files_and_bytes(&ours_dir.join(".aws-sam/build"))?;
    Ok(Costs { ours: super::Timing::of(ours_samples), plain: super::Timing::of(plain_samples), steps, files, bytes })
}
