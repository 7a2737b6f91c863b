//! The evidence step (digest, SBOM, reproducible zip) of a big app against Python's `zipfile`
//! zipping the same build output at the same level: a build dir of four functions made of real
//! wheels from PyPI (large native ones: numpy, pandas, pydantic-core; large pure ones:
//! botocore, langchain-core), fetched once into the tool cache and unpacked as pip installs them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use lambda_xtask::evidence::{self, FunctionFacts};
use test_wheels::WheelSpec;

const fn linux(requirement: &'static str) -> WheelSpec {
    WheelSpec { requirement, platform: "manylinux_2_17_x86_64", python_version: "3.11" }
}

const NUMPY: WheelSpec = linux("numpy==2.1.3");
const PANDAS: WheelSpec = linux("pandas==2.2.3");
const LANGCHAIN_CORE: WheelSpec = linux("langchain-core==0.3.21");

/// Each function's wheels: the shapes of a data app's functions.
fn functions() -> Vec<(&'static str, Vec<WheelSpec>)> {
    vec![
        ("IngestFunction", vec![NUMPY, PANDAS]),
        ("QueryFunction", vec![NUMPY, test_wheels::BOTOCORE_MATCHING]),
        (
            "AgentFunction",
            vec![LANGCHAIN_CORE, test_wheels::PYDANTIC_CORE_LINUX_X86_64, test_wheels::BOTOCORE_MATCHING],
        ),
        ("ReportFunction", vec![NUMPY, test_wheels::PYDANTIC_CORE_LINUX_X86_64]),
    ]
}

/// The build output: `<work>/app/.aws-sam/build/<Function>/...` and a built template.
pub struct App {
    pub root: PathBuf,
    pub sam_dir: PathBuf,
    pub build_dir: PathBuf,
    pub ids: Vec<&'static str>,
    pub bytes: u64,
    pub files: u64,
}

pub fn app(work: &Path) -> Result<App> {
    let root = work.join("packaging-app");
    let sam_dir = root.join("infra");
    let build_dir = sam_dir.join(".aws-sam/build");
    let mut ids = Vec::new();
    for (id, wheels) in functions() {
        let dir = build_dir.join(id);
        for wheel in wheels {
            test_wheels::install_into(wheel, &dir);
        }
        fs::write(
            dir.join("handler.py"),
            "import json\n\ndef handler(event, context):\n    return json.dumps(event)\n",
        )?;
        ids.push(id);
    }
    let (files, bytes) = super::files_and_bytes(&build_dir)?;
    let app = App { root, sam_dir, build_dir, ids, bytes, files };
    app.reset_template()?;
    Ok(app)
}

impl App {
    /// The built template as sam writes it (the evidence step points it at the zips).
    pub fn reset_template(&self) -> Result<()> {
        let mut text = String::from("Resources:\n");
        for id in &self.ids {
            text.push_str(&format!(
                "  {id}:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: {id}\n      Handler: handler.handler\n"
            ));
        }
        fs::write(self.build_dir.join("template.yaml"), text)?;
        Ok(())
    }

    /// lambda-build's evidence step, in process: digests, SBOMs, zips.
    pub fn evidence_step(&self) -> Result<()> {
        self.reset_template()?;
        let facts: Vec<FunctionFacts> = self
            .ids
            .iter()
            .map(|id| FunctionFacts { logical_id: id, runtime: "python3.11", architecture: "x86_64" })
            .collect();
        let recorded = evidence::record_build(&self.root, &self.sam_dir, &self.build_dir, &facts)?;
        if recorded.artifacts.iter().filter(|a| a.package.is_some()).count() != self.ids.len() {
            bail!("the evidence step packaged {} of {} functions", recorded.artifacts.len(), self.ids.len());
        }
        Ok(())
    }

    /// The zips alone, on `threads` threads.
    pub fn zips(&self, threads: usize) -> Result<Vec<u8>> {
        let mut all = Vec::new();
        for id in &self.ids {
            let zip = self.root.join(format!("{id}-threads.zip"));
            evidence::package::write_zip_with_threads(&self.build_dir.join(id), &zip, 1_767_830_400, threads)?;
            all.extend(fs::read(&zip)?);
        }
        Ok(all)
    }

    /// Python's zipfile, ZIP_DEFLATED at level 6, over the same function dirs.
    pub fn python_zipfile(&self) -> Command {
        let script = "import os, sys, zipfile\n\
            build, out = sys.argv[1], sys.argv[2]\n\
            for fn in sys.argv[3:]:\n\
            \x20   root = os.path.join(build, fn)\n\
            \x20   with zipfile.ZipFile(os.path.join(out, fn + '-py.zip'), 'w', zipfile.ZIP_DEFLATED, compresslevel=6) as z:\n\
            \x20       for d, dirs, files in os.walk(root):\n\
            \x20           dirs.sort()\n\
            \x20           for f in sorted(files):\n\
            \x20               p = os.path.join(d, f)\n\
            \x20               z.write(p, os.path.relpath(p, root))\n";
        let mut command = Command::new(test_wheels::python());
        command.arg("-c").arg(script).arg(&self.build_dir).arg(&self.root).args(&self.ids);
        command
    }
}

/// Checks the Python baseline really zipped (a failed script would time as fast).
pub fn check_python(app: &App) -> Result<()> {
    let output = app.python_zipfile().output().context("running python3 zipfile")?;
    if !output.status.success() {
        bail!("the zipfile baseline failed:\n{}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}
