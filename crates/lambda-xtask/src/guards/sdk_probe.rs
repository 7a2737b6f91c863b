//! The evidence behind guard `bundled-aws-sdk`: the AWS SDK loaded as Lambda loads it (the
//! artifact first, then its layers, then the runtime's own boto3, botocore and s3transfer),
//! and exercised the way a handler would: `import boto3`, `import s3transfer`, boto3's S3
//! transfer manager, and a client and a resource created. A bundled botocore that does not fit
//! the runtime's boto3 (the seed's `cannot import name ... from 'botocore.compat'`) fails one
//! of these steps here as it would on Lambda; a bundled package that fits passes them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;

use super::lambda_python::{self, Interpreter};
use super::task_root::TaskRoot;
use crate::guards::runtime_sdk::InstalledSdk;

/// Importing boto3 and creating clients takes about a second; this is a hang.
const PROBE_TIMEOUT: Duration = Duration::from_secs(120);
/// In Docker the image may have to be pulled first.
const PROBE_TIMEOUT_IN_IMAGE: Duration = Duration::from_secs(600);

const MARKER: &str = "XTASK-SDK-PROBE ";

/// argv: task root, layers (JSON list), the runtime SDK's dirs (JSON list), mode.
const PROBE_SCRIPT: &str = r#"
import importlib, importlib.metadata, importlib.util, json, os, sys, traceback

task, layers_json, sdk_json, mode = sys.argv[1:5]
if mode == "local":
    stdlib = [p for p in sys.path if p and "-packages" not in p and p.startswith((sys.base_prefix, sys.prefix))]
    sys.path[:] = [task] + json.loads(layers_json) + json.loads(sdk_json) + stdlib
else:
    sys.path[0:0] = [task] + json.loads(layers_json)
os.chdir(task)

def client(kind, name):
    import boto3
    return getattr(boto3, kind)(name)

steps = [
    ("import boto3", lambda: importlib.import_module("boto3")),
    ("import botocore.session", lambda: importlib.import_module("botocore.session")),
    ("import s3transfer", lambda: importlib.import_module("s3transfer")),
    ("import boto3.s3.transfer", lambda: importlib.import_module("boto3.s3.transfer")),
    ("import s3transfer.manager", lambda: importlib.import_module("s3transfer.manager")),
    ("boto3.client('s3')", lambda: client("client", "s3")),
    ("boto3.client('dynamodb')", lambda: client("client", "dynamodb")),
    ("boto3.resource('dynamodb')", lambda: client("resource", "dynamodb")),
]
result = {"step": None, "error": None, "loaded": {}}
for name, step in steps:
    try:
        step()
    except BaseException as error:
        result["step"] = name
        result["error"] = traceback.format_exception_only(type(error), error)[-1].strip()
        break

for name in ("boto3", "botocore", "s3transfer"):
    try:
        spec = importlib.util.find_spec(name)
    except BaseException:
        spec = None
    if spec is None or not spec.origin:
        continue
    root = os.path.dirname(os.path.dirname(spec.origin))
    version = "?"
    for dist in importlib.metadata.distributions(path=[root]):
        if (dist.metadata["Name"] or "").lower() == name:
            version = dist.version
            break
    result["loaded"][name] = [version, root]
print("\n" + "XTASK-SDK-PROBE " + json.dumps(result), flush=True)
"#;

/// One SDK package as Lambda would load it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub name: String,
    pub version: String,
    /// `the artifact`, `layer <LogicalId>` or `the runtime`.
    pub from: String,
}

/// What loading the SDK showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkProbe {
    /// Every step passed.
    Works(Vec<Loaded>),
    /// `step` raised `error`.
    Breaks { step: String, error: String, loaded: Vec<Loaded> },
    /// It could not run here: why (no interpreter for the runtime, no SDK to load after the
    /// artifact). A gap of this machine, never a finding.
    NotRun(String),
}

/// What the probe loads: the artifact and its layers (with how output names each layer).
pub struct ProbeTarget<'a> {
    pub artifact: &'a Path,
    pub layers: &'a [(PathBuf, String)],
}

pub fn probe(target: &ProbeTarget, interpreter: &Interpreter, sdk: Result<&InstalledSdk, &str>) -> Result<SdkProbe> {
    let layers: Vec<PathBuf> = target.layers.iter().map(|(dir, _)| dir.clone()).collect();
    let (output, roots) = match interpreter {
        Interpreter::Unavailable(reason) => return Ok(SdkProbe::NotRun(reason.clone())),
        Interpreter::Local(python) => {
            let sdk = match sdk {
                Ok(sdk) => sdk,
                Err(why) => return Ok(SdkProbe::NotRun(format!("the runtime's SDK cannot be installed here: {why}"))),
            };
            let python = lambda_python::real_interpreter(python)?;
            let root = TaskRoot::prepare(target.artifact, &layers)?;
            let environment = lambda_python::aws_isolation(None, Some(&root));
            let args = probe_args(&root.task, &root.layers, std::slice::from_ref(&sdk.dir), "local")?;
            let output = lambda_python::run_local(
                &python,
                PROBE_SCRIPT,
                &args,
                environment,
                PROBE_TIMEOUT,
                "the SDK import check",
            )?;
            (output, (root.task.clone(), root.layers.clone()))
        }
        Interpreter::Image { image, platform } => {
            let mounts: Vec<PathBuf> =
                lambda_python::layer_mounts(layers.len()).into_iter().map(PathBuf::from).collect();
            let args = probe_args(Path::new("/var/task"), &mounts, &[], "image")?;
            let image = (image.as_str(), *platform);
            let output = lambda_python::run_in_image(
                image,
                target.artifact,
                &layers,
                PROBE_SCRIPT,
                &args,
                lambda_python::aws_isolation(None, None),
                PROBE_TIMEOUT_IN_IMAGE,
            )?;
            (output, (PathBuf::from("/var/task"), mounts))
        }
    };
    read_result(&output, &roots, target.layers)
}

fn probe_args(task: &Path, layers: &[PathBuf], sdk: &[PathBuf], mode: &str) -> Result<Vec<String>> {
    let text = |paths: &[PathBuf]| -> Result<String> {
        let list: Vec<String> = paths.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        serde_json::to_string(&list).context("encoding paths")
    };
    Ok(vec![task.to_string_lossy().into_owned(), text(layers)?, text(sdk)?, mode.to_string()])
}

#[derive(Deserialize)]
struct ProbeResult {
    step: Option<String>,
    error: Option<String>,
    loaded: std::collections::BTreeMap<String, (String, String)>,
}

/// The probe's result line, each loaded package placed by the root it came from.
fn read_result(
    output: &str,
    (task, layer_roots): &(PathBuf, Vec<PathBuf>),
    layers: &[(PathBuf, String)],
) -> Result<SdkProbe> {
    let line = output
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(MARKER))
        .context("the SDK import check ended without a result")?;
    let result: ProbeResult = serde_json::from_str(line).context("reading the SDK import check's result")?;
    let loaded = ["boto3", "botocore", "s3transfer"]
        .iter()
        .filter_map(|name| {
            let (version, root) = result.loaded.get(*name)?;
            let root = Path::new(root);
            let from = if root == task {
                "the artifact".to_string()
            } else if let Some(i) = layer_roots.iter().position(|l| root == l) {
                format!("layer {}", layers.get(i).map(|(_, id)| id.as_str()).unwrap_or("?"))
            } else {
                "the runtime".to_string()
            };
            Some(Loaded { name: name.to_string(), version: version.clone(), from })
        })
        .collect();
    Ok(match (result.step, result.error) {
        (Some(step), Some(error)) => SdkProbe::Breaks { step, error, loaded },
        _ => SdkProbe::Works(loaded),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_loaded_package_is_placed_by_where_it_came_from() {
        let roots = (PathBuf::from("/t/task"), vec![PathBuf::from("/t/opt/0/python")]);
        let layers = [(PathBuf::from("/repo/.aws-sam/build/Common/python"), "Common".to_string())];
        let output = "noise\nXTASK-SDK-PROBE {\"step\": \"import boto3.s3.transfer\", \"error\": \"ImportError: cannot import name 'X'\", \"loaded\": {\"boto3\": [\"1.38.36\", \"/cache/sdk\"], \"botocore\": [\"1.35.72\", \"/t/task\"], \"s3transfer\": [\"0.13.0\", \"/t/opt/0/python\"]}}\n";
        let SdkProbe::Breaks { step, error, loaded } = read_result(output, &roots, &layers).unwrap() else { panic!() };
        assert_eq!(step, "import boto3.s3.transfer");
        assert!(error.starts_with("ImportError"));
        let from: Vec<(&str, &str)> = loaded.iter().map(|l| (l.name.as_str(), l.from.as_str())).collect();
        assert_eq!(from, [("boto3", "the runtime"), ("botocore", "the artifact"), ("s3transfer", "layer Common")]);
        let works = "XTASK-SDK-PROBE {\"step\": null, \"error\": null, \"loaded\": {}}";
        assert_eq!(read_result(works, &roots, &layers).unwrap(), SdkProbe::Works(Vec::new()));
        assert!(read_result("crashed", &roots, &layers).is_err());
    }

    /// Real wheels, a real interpreter: the runtime's SDK in one dir, a bundled botocore in the
    /// artifact, loaded in Lambda's order.
    #[test]
    fn a_bundled_botocore_older_than_the_runtime_boto3_breaks_and_a_matching_one_works() {
        use test_wheels::{self as wheels, *};
        let Some(python) = crate::sys::interpreters::find("python3.11") else {
            say!("skipped: no python3.11 here");
            return;
        };
        let runtime_dir = tempfile::tempdir().unwrap();
        for spec in [RUNTIME_BOTO3, RUNTIME_BOTOCORE, RUNTIME_S3TRANSFER, JMESPATH, DATEUTIL, SIX, URLLIB3] {
            wheels::install_into(spec, runtime_dir.path());
        }
        let sdk = InstalledSdk {
            set: crate::guards::runtime_sdk::pinned(11).unwrap(),
            dir: runtime_dir.path().to_path_buf(),
        };
        let artifact = tempfile::tempdir().unwrap();
        wheels::install_into(BOTOCORE_1_35_72, artifact.path());
        let target = ProbeTarget { artifact: artifact.path(), layers: &[] };
        let interpreter = Interpreter::Local(python);
        let SdkProbe::Breaks { step, error, loaded } = probe(&target, &interpreter, Ok(&sdk)).unwrap() else {
            panic!("a botocore 1.35.72 under the runtime's boto3 1.38.36 should break")
        };
        assert_eq!(step, "import boto3.s3.transfer");
        assert!(
            error.contains("cannot import name 'DEFAULT_CHECKSUM_ALGORITHM' from 'botocore.httpchecksum'"),
            "{error}"
        );
        let from: Vec<String> = loaded.iter().map(|l| format!("{} {} {}", l.name, l.version, l.from)).collect();
        assert_eq!(
            from,
            ["boto3 1.38.36 the runtime", "botocore 1.35.72 the artifact", "s3transfer 0.13.0 the runtime"]
        );
        assert!(
            !artifact.path().join("__pycache__").exists() && !artifact.path().join("botocore/__pycache__").exists()
        );

        let matching = tempfile::tempdir().unwrap();
        wheels::install_into(RUNTIME_BOTOCORE, matching.path());
        let target = ProbeTarget { artifact: matching.path(), layers: &[] };
        let SdkProbe::Works(loaded) = probe(&target, &interpreter, Ok(&sdk)).unwrap() else { panic!() };
        assert_eq!(
            loaded[1],
            Loaded { name: "botocore".into(), version: "1.38.36".into(), from: "the artifact".into() }
        );
        assert_eq!(
            probe(&target, &interpreter, Err("offline")).unwrap(),
            SdkProbe::NotRun("the runtime's SDK cannot be installed here: offline".into())
        );
    }
}
