//! What the smoke test's isolation costs: installing the runtime's SDK into the tool cache
//! (cold: uv downloads the wheels; uv's cache warm: only unpacked; installed: looked up), the
//! stand-in AWS (start, one recorded call, stop), and the private copy of the build output the
//! handler runs on. Each is measured alone, in-process where the xtask does it in-process.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use xshell::Shell;

use lambda_xtask::guards::runtime_sdk;
use lambda_xtask::guards::task_root::TaskRoot;
use lambda_xtask::project::config::Project;
use lambda_xtask::sys::stand_in_aws::StandInAws;
use lambda_xtask::sys::tools::{self, PythonTool};

/// One measured cost: what, the median and minimum, and a note on its size.
pub struct Cost {
    pub what: String,
    pub median: Duration,
    pub min: Duration,
}

fn timed(runs: usize, mut run: impl FnMut() -> Result<()>) -> Result<(Duration, Duration)> {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        run()?;
        samples.push(started.elapsed());
    }
    samples.sort();
    Ok((samples[samples.len() / 2], samples[0]))
}

/// The SDK for python3.11 (the interpreter every machine of this project has), three ways.
pub fn sdk_costs(work: &Path, runs: usize, project: &Project) -> Result<Vec<Cost>> {
    let python = lambda_xtask::sys::interpreters::find("python3.11").context("python3.11, to install the SDK for")?;
    let set = runtime_sdk::pinned(11).context("the pinned python3.11 set")?;
    let sh = Shell::new()?;
    let (uv, _) = tools::locate(&sh, &PythonTool::uv(&project.config.uv_version))?;
    let mut costs = Vec::new();
    let mut round = 0;
    let mut fresh_target = || {
        round += 1;
        work.join(format!("sdk-{round}"))
    };
    // Cold: an empty uv cache, so every wheel is downloaded.
    let (median, min) = timed(runs.min(3), || {
        let uv_cache = fresh_target();
        std::env::set_var("UV_CACHE_DIR", &uv_cache);
        let result = runtime_sdk::install_with(&uv, &set, (&python, 11), &fresh_target());
        std::env::remove_var("UV_CACHE_DIR");
        result
    })?;
    costs.push(Cost { what: format!("runtime SDK install, cold (uv downloads {})", set.describe()), median, min });
    let warm_cache = fresh_target();
    std::env::set_var("UV_CACHE_DIR", &warm_cache);
    runtime_sdk::install_with(&uv, &set, (&python, 11), &fresh_target())?;
    let (median, min) = timed(runs.min(5), || runtime_sdk::install_with(&uv, &set, (&python, 11), &fresh_target()))?;
    std::env::remove_var("UV_CACHE_DIR");
    costs.push(Cost { what: "runtime SDK install, uv's cache warm (unpack and compile only)".into(), median, min });
    let (median, min) = timed(runs, || {
        runtime_sdk::provide(&set, &python, 11, &project.config.uv_version).map(drop).map_err(anyhow::Error::msg)
    })?;
    costs.push(Cost { what: "runtime SDK already in the tool cache (what every later run pays)".into(), median, min });
    Ok(costs)
}

/// The stand-in AWS: start, answer one signed call, stop.
pub fn stand_in_cost(runs: usize) -> Result<Cost> {
    let request = "POST / HTTP/1.1\r\nAuthorization: AWS4-HMAC-SHA256 Credential=A/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\nContent-Length: 2\r\n\r\n{}";
    let (median, min) = timed(runs, || {
        let aws = StandInAws::start()?;
        let port = aws.endpoint().rsplit(':').next().unwrap_or_default().parse::<u16>()?;
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.write_all(request.as_bytes())?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer)?;
        if aws.take_calls().len() != 1 {
            bail!("the stand-in did not record the call");
        }
        Ok(())
    })?;
    Ok(Cost { what: "stand-in AWS: start, one recorded call, stop".into(), median, min })
}

/// The private copy of a build output, and the check of what the handler wrote in it.
pub fn task_root_cost(artifact: &Path, runs: usize) -> Result<Cost> {
    let (files, bytes) = size_of(artifact);
    let (median, min) = timed(runs, || {
        let root = TaskRoot::prepare(artifact, &[])?;
        if !root.written()?.is_empty() {
            bail!("the copy changed by itself");
        }
        Ok(())
    })?;
    Ok(Cost {
        what: format!(
            "task-root copy of the sample's build output and the check after ({files} files, {:.1} MB)",
            bytes as f64 / 1e6
        ),
        median,
        min,
    })
}

fn size_of(dir: &Path) -> (u64, u64) {
    let mut pending: Vec<PathBuf> = vec![dir.to_path_buf()];
    let (mut files, mut bytes) = (0, 0);
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    (files, bytes)
}
