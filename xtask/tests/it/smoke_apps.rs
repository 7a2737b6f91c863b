//! End to end, issue 19's smoke-test classes and issue 18's "what ships is what was checked":
//! apps written here in the shapes real apps have, each a fresh git repository configured
//! with the one template line, built by the real xtask binary with the real SAM CLI and real
//! wheels from PyPI. The smoke test must not lean on the host's site-packages, must give
//! handlers a stand-in AWS, must judge a bundled SDK by loading it, and must not change what
//! ships.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{run, wheels};

struct App {
    dir: tempfile::TempDir,
}

const ONE_LINE_CONFIG: &str = "[workspace.metadata.lambda]\ntemplate = \"template.yaml\"\n";

impl App {
    fn new(files: &[(&str, &str)]) -> App {
        App::prepared(files, ONE_LINE_CONFIG, |_| {})
    }

    /// Writes `files` and the config, lets `prepare` add more, and commits everything.
    fn prepared(files: &[(&str, &str)], config: &str, prepare: impl FnOnce(&Path)) -> App {
        let app = App { dir: tempfile::tempdir().unwrap() };
        app.write("Cargo.toml", config);
        for (path, text) in files {
            app.write(path, text);
        }
        prepare(app.dir.path());
        app.git(&["init", "-q"]);
        app.git(&["add", "-A"]);
        app.git(&["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "app"]);
        app
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn write(&self, relative: &str, text: &str) {
        let path = self.path(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git").args(args).current_dir(self.dir.path()).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn changes(&self) -> Vec<String> {
        self.git(&["status", "--porcelain"]).lines().filter(|l| !l.ends_with(".aws-sam/")).map(String::from).collect()
    }

    fn build(&self) -> (i32, String) {
        self.build_with(&[])
    }

    fn build_with(&self, env: &[(&str, &str)]) -> (i32, String) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command
            .arg("lambda-build")
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("CI")
            .env_remove("GITHUB_ACTIONS")
            .envs(env.iter().copied());
        run(&mut command)
    }
}

fn docker_answers() -> bool {
    std::os::unix::net::UnixStream::connect("/var/run/docker.sock").is_ok()
}

fn function(id: &str, code_uri: &str, handler: &str, runtime: &str, extra: &str) -> String {
    format!(
        "  {id}:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: {code_uri}\n      Handler: {handler}\n      Runtime: {runtime}\n{extra}"
    )
}

fn template(resources: &[String]) -> String {
    format!(
        "AWSTemplateFormatVersion: '2010-09-09'\nTransform: AWS::Serverless-2016-10-31\nGlobals:\n  Function:\n    Timeout: 3\nResources:\n{}",
        resources.join("\n")
    )
}

fn api_event(path: &str) -> String {
    format!("      Events:\n        Call:\n          Type: Api\n          Properties:\n            Path: {path}\n            Method: get\n")
}

/// The real python3.12 of this machine, if it has one (pyenv keeps it behind a shim).
fn python312() -> Option<PathBuf> {
    let root = Command::new("pyenv").arg("root").output().ok()?;
    let root = PathBuf::from(String::from_utf8_lossy(&root.stdout).trim());
    let versions = fs::read_dir(root.join("versions")).ok()?;
    versions
        .flatten()
        .map(|e| e.path().join("bin/python3.12"))
        .find(|p| p.is_file())
        .or_else(|| which::which("python3.12").ok())
}

/// Class 1: a python3.12 function importing boto3 on a machine whose python3.12 has no boto3.
/// The runtime's own SDK (boto3 1.38.36 for python3.12) is installed into the tool cache and
/// loaded after the artifact; the handler sees exactly that version. A configured set wins.
#[test]
fn a_python_3_12_function_importing_boto3_gets_the_runtime_sdk_not_the_host() {
    let Some(python) = python312() else {
        eprintln!("skipped: no python3.12 here");
        return;
    };
    let host_has_boto3 = Command::new(&python).args(["-c", "import boto3"]).status().is_ok_and(|s| s.success());
    let handler = |version: &str| {
        format!("import boto3\nimport botocore\n\n\ndef handler(event, context):\n    # The runtime's SDK, not whatever a local Python has.\n    ok = boto3.__version__ == botocore.__version__ == \"{version}\"\n    return {{\"statusCode\": 200 if ok else 503, \"body\": boto3.__version__}}\n")
    };
    let files = |version: &str| {
        vec![
            (
                "template.yaml".to_string(),
                template(&[function("SdkFunction", "sdk_fn/", "app.handler", "python3.12", &api_event("/sdk"))]),
            ),
            ("sdk_fn/app.py".to_string(), handler(version)),
            ("sdk_fn/requirements.txt".to_string(), String::new()),
        ]
    };
    let pinned = files("1.38.36");
    let app = App::new(&pinned.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect::<Vec<_>>());

    let (status, output) = app.build();

    assert_eq!(status, 0, "host python3.12 has boto3: {host_has_boto3}\n{output}");
    assert_eq!(app.changes(), Vec::<String>::new(), "{output}");
    assert!(!output.contains("No module named 'boto3'"), "{output}");
    assert!(
        output.contains("after the artifact and its layers: the python3.12 runtime's SDK (boto3 1.38.36, botocore 1.38.36, s3transfer 0.13.0, from the tool cache)"),
        "{output}"
    );
    assert!(
        output.contains("SdkFunction: invoking it with API Gateway REST (v1) GET /sdk -> statusCode 200"),
        "{output}"
    );

    let config = format!(
        "{ONE_LINE_CONFIG}[[workspace.metadata.lambda.runtime_sdk]]\nruntime = \"python3.12\"\nboto3 = \"1.40.76\"\nbotocore = \"1.40.76\"\ns3transfer = \"0.14.0\"\n"
    );
    let overridden = files("1.40.76");
    let app =
        App::prepared(&overridden.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect::<Vec<_>>(), &config, |_| {});
    let (status, output) = app.build();
    assert_eq!(status, 0, "{output}");
    assert!(
        output.contains("the python3.12 runtime's SDK (boto3 1.40.76, botocore 1.40.76, s3transfer 0.14.0"),
        "{output}"
    );
    assert!(output.contains("GET /sdk -> statusCode 200"), "{output}");
}

/// Class 1, the local gap: when the runtime's SDK cannot be installed here (uv offline, with
/// neither the tool cache nor uv's own cache holding it), the smoke test says so and falls back
/// to the static import check: a notice about this machine, never a finding against the
/// artifact.
#[test]
fn an_sdk_that_cannot_be_installed_here_is_a_notice_about_the_machine_not_a_finding() {
    let Some(_) = python312() else {
        eprintln!("skipped: no python3.12 here");
        return;
    };
    let app = App::new(&[
        ("template.yaml", &template(&[function("SdkFunction", "sdk_fn/", "app.handler", "python3.12", &api_event("/sdk"))])),
        ("sdk_fn/app.py", "import boto3\n\n\ndef handler(event, context):\n    return {\"statusCode\": 200, \"body\": boto3.__version__}\n"),
        ("sdk_fn/requirements.txt", ""),
    ]);
    // A tool cache with the tools (sam, uv) but no SDK installed, and an empty uv cache.
    let cache = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(wheels::cache_dir().parent().unwrap().join("tools"), cache.path().join("tools"))
        .unwrap();
    let uv_cache = tempfile::tempdir().unwrap();

    let (status, output) = app.build_with(&[
        ("LAMBDA_XTASK_CACHE", &cache.path().to_string_lossy()),
        ("UV_CACHE_DIR", &uv_cache.path().to_string_lossy()),
        ("UV_OFFLINE", "1"),
    ]);

    assert_eq!(status, 0, "{output}");
    assert!(output.contains("without the python3.12 runtime's SDK, which cannot be installed here: "), "{output}");
    assert!(
        output.contains("notice: smoke test of SdkFunction: importing the handler needs boto3, which the Lambda runtime provides, but the python3.12 runtime's SDK cannot be installed here"),
        "{output}"
    );
    assert!(output.contains("SdkFunction: its cold start needs what the Lambda runtime provides, which is not available here; ran the static import check instead"), "{output}");
    assert!(!output.contains("[smoke-test]"), "{output}");
    let mut left: Vec<String> = fs::read_dir(cache.path().join("runtime-sdk"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.retain(|name| !name.ends_with(".lock"));
    assert_eq!(left, Vec::<String>::new(), "a failed install left something behind");
}

const ORDERS_HANDLER: &str = r#"import json

import boto3
from botocore.exceptions import BotoCoreError, ClientError

table = boto3.resource("dynamodb").Table("orders")
s3 = boto3.client("s3")


def handler(event, context):
    session = boto3.Session()
    credentials = session.get_credentials()
    seen = {"key": credentials and credentials.access_key, "profiles": session.available_profiles}
    try:
        item = table.get_item(Key={"id": "1"}).get("Item")
        s3.get_object(Bucket="receipts", Key="1.json")
    except (ClientError, BotoCoreError) as error:
        code = error.response["Error"]["Code"] if isinstance(error, ClientError) else type(error).__name__
        return {"statusCode": 500, "body": json.dumps({"error": code, **seen})}
    return {"statusCode": 200, "body": json.dumps(item)}
"#;

const CONFIG_AT_IMPORT: &str = r#"import boto3

# Configuration read at cold start, as many apps do.
SETTINGS = boto3.client("ssm").get_parameter(Name="/app/settings")["Parameter"]["Value"]


def handler(event, context):
    return {"statusCode": 200, "body": SETTINGS}
"#;

/// Class 2: handlers that need AWS get a stand-in. A handler that catches the failed DynamoDB
/// call and answers 500 gets a notice naming the calls, not a failure; one that reads SSM at
/// import gets one too. The developer's credentials never reach either: the handler signs with
/// the dummy key, and no ~/.aws is read.
#[test]
fn handlers_that_need_aws_get_a_notice_naming_the_calls_and_never_the_developers_credentials() {
    let app = App::new(&[
        (
            "template.yaml",
            &template(&[
                function("OrdersFunction", "orders/", "app.handler", "python3.11", &api_event("/orders")),
                function("ConfigFunction", "orders/", "settings.handler", "python3.11", &api_event("/settings")),
            ]),
        ),
        ("orders/app.py", ORDERS_HANDLER),
        ("orders/settings.py", CONFIG_AT_IMPORT),
        ("orders/requirements.txt", ""),
    ]);
    let home = tempfile::tempdir().unwrap();
    fs::create_dir_all(home.path().join(".aws")).unwrap();
    fs::write(home.path().join(".aws/config"), "[default]\nregion = eu-west-1\n[profile dev]\nregion = eu-west-1\n")
        .unwrap();
    fs::write(
        home.path().join(".aws/credentials"),
        "[default]\naws_access_key_id = AKIADEVELOPERHOMEKEY\naws_secret_access_key = developer-home-secret-value-0000000000\n",
    )
    .unwrap();
    let home_path = home.path().to_string_lossy().into_owned();
    // A developer's HOME with ~/.aws; the tool cache and pyenv stay where they are.
    let cache = wheels::cache_dir().parent().unwrap().to_string_lossy().into_owned();
    let pyenv_root =
        Command::new("pyenv").arg("root").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let pyenv_root = pyenv_root.unwrap_or_default();

    let (status, output) = app.build_with(&[
        ("AWS_ACCESS_KEY_ID", "AKIADEVELOPERENVKEY0"),
        ("AWS_SECRET_ACCESS_KEY", "developer-env-secret-value-0000000000000"),
        ("AWS_PROFILE", "default"),
        ("HOME", &home_path),
        ("LAMBDA_XTASK_CACHE", &cache),
        ("PYENV_ROOT", &pyenv_root),
    ]);

    assert_eq!(status, 0, "{output}");
    assert_eq!(app.changes(), Vec::<String>::new(), "{output}");
    assert!(
        output.contains("notice: smoke test of OrdersFunction: API Gateway REST (v1) GET /orders answered 500"),
        "{output}"
    );
    assert!(output.contains("needs AWS: dynamodb GetItem"), "{output}");
    assert!(output.contains("\"error\": \"XtaskSmokeTestNoAws\""), "{output}");
    assert!(
        output.contains("\"key\": \"ASIAXTASKSMOKETEST00\""),
        "the handler did not sign with the dummy key:\n{output}"
    );
    assert!(!output.contains("AKIADEVELOPER"), "a developer credential reached the handler:\n{output}");
    assert!(output.contains("\"profiles\": []"), "the handler's SDK read a config file:\n{output}");
    assert!(output.contains("notice: smoke test of ConfigFunction: importing the handler raised"), "{output}");
    assert!(output.contains("needs AWS: ssm GetParameter"), "{output}");
    assert!(!output.contains("[smoke-test]"), "{output}");
}

/// Class 2's other half: a packaging failure still fails, whether at import (a Windows-only
/// call) or during the invocation after AWS was called (a Windows-only module).
#[test]
fn a_packaging_failure_still_fails_at_import_and_after_an_aws_call() {
    let at_import = "import os\n\nos.add_dll_directory(os.path.dirname(__file__))\n\n\ndef handler(event, context):\n    return {\"statusCode\": 200, \"body\": \"\"}\n";
    let after_call = "import boto3\nfrom botocore.exceptions import ClientError\n\n\ndef handler(event, context):\n    try:\n        boto3.client(\"sqs\").send_message(QueueUrl=\"https://sqs.us-east-1.amazonaws.com/000000000000/jobs\", MessageBody=\"{}\")\n    except ClientError:\n        pass\n    import winreg  # noqa: F401\n    return {\"statusCode\": 200, \"body\": \"\"}\n";
    let app = App::new(&[
        (
            "template.yaml",
            &template(&[
                function("DllFunction", "win/", "dll.handler", "python3.11", &api_event("/dll")),
                function("RegistryFunction", "win/", "registry.handler", "python3.11", &api_event("/registry")),
            ]),
        ),
        ("win/dll.py", at_import),
        ("win/registry.py", after_call),
        ("win/requirements.txt", ""),
    ]);

    let (status, output) = app.build();

    assert_eq!(status, 1, "{output}");
    assert!(output.contains("[smoke-test] .aws-sam/build/DllFunction/dll.py:3"), "{output}");
    assert!(output.contains("module 'os' has no attribute 'add_dll_directory'"), "{output}");
    assert!(output.contains("[smoke-test] .aws-sam/build/RegistryFunction/registry.py:10"), "{output}");
    assert!(output.contains("No module named 'winreg'"), "{output}");
    assert_eq!(app.changes(), Vec::<String>::new(), "{output}");
}

/// Class 4: aws-xray-sdk pulls botocore into the artifact. Loaded as Lambda loads it, with the
/// runtime's boto3 and s3transfer, it works: a notice naming the requirement, exit 0; and
/// allow_bundled_aws_sdk = true silences it without "boto3 is missing".
#[test]
fn a_bundled_botocore_that_loads_with_the_runtime_sdk_is_a_notice() {
    let handler = "from aws_xray_sdk.core import xray_recorder  # noqa: F401\nimport boto3\n\nclient = boto3.client(\"dynamodb\")\n\n\ndef handler(event, context):\n    return {\"statusCode\": 200, \"body\": \"traced\"}\n";
    let files = [
        (
            "template.yaml",
            template(&[function("TracedFunction", "traced/", "app.handler", "python3.11", &api_event("/traced"))]),
        ),
        ("traced/app.py", handler.to_string()),
        ("traced/requirements.txt", "aws-xray-sdk==2.14.0\n".to_string()),
    ];
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let app = App::new(&borrowed);

    let (status, output) = app.build();

    assert_eq!(status, 0, "{output}");
    assert!(!output.contains("[bundled-aws-sdk]"), "{output}");
    assert!(
        output
            .contains("(pulled in by aws-xray-sdk -> botocore, from traced/requirements.txt:1: aws-xray-sdk==2.14.0)"),
        "{output}"
    );
    assert!(output.contains("boto3 1.38.36 and s3transfer 0.13.0 from the runtime"), "{output}");
    assert!(output.contains("set allow_bundled_aws_sdk = true for TracedFunction"), "{output}");

    let config = format!("{ONE_LINE_CONFIG}[[workspace.metadata.lambda.functions]]\nlogical_id = \"TracedFunction\"\nallow_bundled_aws_sdk = true\n");
    let app = App::prepared(&borrowed, &config, |_| {});
    let (status, output) = app.build();
    assert_eq!(status, 0, "{output}");
    assert!(!output.contains("is missing") && !output.contains("allow_bundled_aws_sdk = true for"), "{output}");
}

/// Class 4's failure: a pinned botocore older than the runtime's boto3 needs (a real pair from
/// PyPI) breaks boto3's S3 transfer at import. The build fails naming the import error, and
/// the fix it prints, applied as printed, builds green.
#[test]
fn a_broken_sdk_mix_fails_naming_the_import_error_and_its_fix_works_first_time() {
    let handler = "from aws_xray_sdk.core import xray_recorder  # noqa: F401\n\n\ndef handler(event, context):\n    return {\"statusCode\": 200, \"body\": \"ok\"}\n";
    let app = App::new(&[
        (
            "template.yaml",
            &template(&[function("PinnedFunction", "pinned/", "app.handler", "python3.11", &api_event("/pinned"))]),
        ),
        ("pinned/app.py", handler),
        ("pinned/requirements.txt", "aws-xray-sdk==2.14.0\nbotocore==1.35.72\n"),
    ]);

    let (status, output) = app.build();

    assert_eq!(status, 1, "{output}");
    assert!(output.contains("[bundled-aws-sdk] .aws-sam/build/PinnedFunction/botocore-1.35.72.dist-info"), "{output}");
    assert!(
        output.contains("loads botocore 1.35.72 from the artifact, boto3 1.38.36 and s3transfer 0.13.0 from the runtime as Lambda does"),
        "{output}"
    );
    assert!(
        output.contains("import boto3.s3.transfer fails: ImportError: cannot import name 'DEFAULT_CHECKSUM_ALGORITHM' from 'botocore.httpchecksum'"),
        "{output}"
    );
    let fix = output
        .lines()
        .find(|l| l.trim_start().starts_with("fix:") && l.contains("add a line boto3"))
        .unwrap_or_else(|| panic!("{output}"));
    // The line names the boto3 released with the pinned botocore: pip resolves it at once
    // instead of walking down every boto3 release (100 s here).
    assert!(fix.contains("add a line boto3<=1.35.72 to pinned/requirements.txt"), "{fix}");

    // Applied as printed: the line it names appended.
    let line = fix.split("add a line ").nth(1).and_then(|rest| rest.split(" to ").next()).unwrap();
    let requirements = app.path("pinned/requirements.txt");
    let mut text = fs::read_to_string(&requirements).unwrap();
    text.push_str(&format!("{line}\n"));
    fs::write(&requirements, text).unwrap();
    let (status, output) = app.build();
    assert_eq!(status, 0, "the printed fix did not work:\n{output}");
    assert!(output.contains("pinned/requirements.txt:3 lists boto3"), "{output}");
    assert!(
        output.contains("PinnedFunction: invoking it with API Gateway REST (v1) GET /pinned -> statusCode 200"),
        "{output}"
    );
}

/// Class 5: a vendored package built for CPython 3.11 (charset_normalizer's
/// `md.cpython-311-x86_64-linux-gnu.so` beside `md.py`) in a python3.12 function: Python 3.12
/// imports the pure-Python fallback, so it is no break, and the handler answers.
#[test]
fn a_foreign_cpython_extension_beside_its_pure_python_fallback_passes() {
    if python312().is_none() {
        eprintln!("skipped: no python3.12 here");
        return;
    }
    let handler = "import charset_normalizer.md as md\n\n\ndef handler(event, context):\n    return {\"statusCode\": 200 if md.__file__.endswith(\".py\") else 500, \"body\": md.__file__}\n";
    let app = App::prepared(
        &[
            (
                "template.yaml",
                &template(&[function(
                    "VendoredFunction",
                    "vendored/",
                    "app.handler",
                    "python3.12",
                    &api_event("/detect"),
                )]),
            ),
            ("vendored/app.py", handler),
            ("vendored/requirements.txt", ""),
        ],
        ONE_LINE_CONFIG,
        |root| {
            // Vendored as a directory copied from the cp311 wheel (no .dist-info), committed.
            let scratch = tempfile::tempdir().unwrap();
            wheels::install_into(wheels::CHARSET_NORMALIZER_CP311_X86_64, scratch.path());
            copy_dir(&scratch.path().join("charset_normalizer"), &root.join("vendored/charset_normalizer"));
        },
    );
    assert!(app.path("vendored/charset_normalizer/md.cpython-311-x86_64-linux-gnu.so").is_file());

    let (status, output) = app.build();

    assert_eq!(status, 0, "{output}");
    assert!(!output.contains("[python-abi]"), "{output}");
    assert!(
        output.contains("VendoredFunction: invoking it with API Gateway REST (v1) GET /detect -> statusCode 200"),
        "{output}"
    );
    assert_eq!(app.changes(), Vec::<String>::new(), "{output}");
}

/// Class 5: a layer built for arm64 holds aarch64 extension modules; it is judged against the
/// arm64 function that uses it, not as an x86_64 layer.
#[test]
fn a_layer_is_judged_against_the_architecture_of_the_function_that_uses_it() {
    let layer = "  NativeLayer:\n    Type: AWS::Serverless::LayerVersion\n    Properties:\n      ContentUri: layers/native/\n      CompatibleRuntimes: [python3.11]\n      CompatibleArchitectures: [arm64]\n    Metadata:\n      BuildMethod: python3.11\n      BuildArchitecture: arm64\n".to_string();
    let app = App::new(&[
        (
            "template.yaml",
            &template(&[
                layer,
                function(
                    "ArmFunction",
                    "arm/",
                    "app.handler",
                    "python3.11",
                    "      Architectures: [arm64]\n      Layers:\n        - !Ref NativeLayer\n",
                ),
            ]),
        ),
        ("layers/native/requirements.txt", "pydantic-core==2.23.4\n"),
        (
            "arm/app.py",
            "import pydantic_core\n\n\ndef handler(event, context):\n    return pydantic_core.__version__\n",
        ),
        ("arm/requirements.txt", ""),
    ]);

    let (status, output) = app.build();

    assert_eq!(status, 0, "{output}");
    assert!(!output.contains("[python-abi]") && !output.contains("[platform-binary]"), "{output}");
    assert!(output.contains("ArmFunction: no interpreter can run it here"), "{output}");
    let layer_files: Vec<String> =
        walk(&app.path(".aws-sam/build/NativeLayer")).iter().map(|p| p.display().to_string()).collect();
    assert!(layer_files.iter().any(|p| p.ends_with(".cpython-311-aarch64-linux-gnu.so")), "{layer_files:?}");
    assert_eq!(app.changes(), Vec::<String>::new(), "{output}");
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// The names inside a zip, read from its central directory with Python's zipfile.
fn zip_names(zip: &Path) -> Vec<String> {
    let out = Command::new(wheels::python())
        .args(["-c", "import sys, zipfile; print('\\n'.join(zipfile.ZipFile(sys.argv[1]).namelist()))"])
        .arg(zip)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect()
}

/// Issue 18, reproduction 4: a handler that writes `$LAMBDA_TASK_ROOT/id_rsa` at import. The
/// smoke test runs on a copy, so the file never reaches the build output or the package, and
/// the build fails naming it. A handler that only writes bytecode caches passes, and the
/// package holds none.
#[test]
fn a_handler_writing_into_its_task_root_fails_naming_the_file_and_nothing_ships() {
    if docker_answers() {
        eprintln!("skipped: with Docker the task root is mounted read-only, as on Lambda");
        return;
    }
    let writer = "import os\n\nwith open(os.path.join(os.environ[\"LAMBDA_TASK_ROOT\"], \"id_rsa\"), \"w\") as key:\n    key.write(\"-----BEGIN OPENSSH PRIVATE KEY-----\\n\" + os.environ.get(\"PATH\", \"\"))\n\n\ndef handler(event, context):\n    return {\"statusCode\": 200, \"body\": \"\"}\n";
    let bytecode = "import sys\n\nsys.dont_write_bytecode = False\nimport helpers  # noqa: E402\n\n\ndef handler(event, context):\n    return {\"statusCode\": 200, \"body\": helpers.NAME}\n";
    let app = App::new(&[
        (
            "template.yaml",
            &template(&[
                function("HelloFunction", "hello/", "app.handler", "python3.11", &api_event("/hello")),
                function("CacheFunction", "cache/", "app.handler", "python3.11", &api_event("/cache")),
            ]),
        ),
        ("hello/app.py", writer),
        ("hello/requirements.txt", ""),
        ("cache/app.py", bytecode),
        ("cache/helpers.py", "NAME = \"helpers\"\n"),
        ("cache/requirements.txt", ""),
    ]);

    let (status, output) = app.build();

    assert_eq!(status, 1, "{output}");
    assert!(output.contains("[smoke-test] .aws-sam/build/HelloFunction/id_rsa"), "{output}");
    assert!(output.contains("writes into its task root or a layer: id_rsa (written)"), "{output}");
    assert!(!output.contains("BEGIN OPENSSH"), "{output}");
    assert!(!app.path(".aws-sam/build/HelloFunction/id_rsa").exists(), "the key reached the build output");
    for zip in walk(&app.path(".aws-sam")).into_iter().filter(|p| p.extension().is_some_and(|e| e == "zip")) {
        assert!(!zip_names(&zip).iter().any(|n| n.ends_with("id_rsa")), "{} holds id_rsa", zip.display());
    }
    assert!(!output.contains("[smoke-test] .aws-sam/build/CacheFunction"), "{output}");
    assert!(
        output.contains("CacheFunction: invoking it with API Gateway REST (v1) GET /cache -> statusCode 200"),
        "{output}"
    );
    assert!(!walk(&app.path(".aws-sam/build/CacheFunction"))
        .iter()
        .any(|p| p.to_string_lossy().contains("__pycache__")));
    assert_eq!(app.changes(), Vec::<String>::new(), "{output}");

    // Without the writer, the build is green and the package holds no bytecode cache.
    app.write("hello/app.py", "def handler(event, context):\n    return {\"statusCode\": 200, \"body\": \"\"}\n");
    let (status, output) = app.build();
    assert_eq!(status, 0, "{output}");
    let package = app.path(".aws-sam/build/CacheFunction.zip");
    let names = zip_names(&package);
    assert!(names.contains(&"helpers.py".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("__pycache__") || n.ends_with(".pyc")), "{names:?}");
}

/// The neighbouring path: a handler that works out the real build output from outside its copy
/// (its parent's working directory) and writes there. The build output's own stamps, taken
/// before the copy, catch it: the build fails naming the file, and no package is written.
#[test]
fn a_handler_reaching_past_its_copy_into_the_build_output_fails_naming_the_file() {
    if docker_answers() {
        eprintln!("skipped: with Docker the handler runs in a container");
        return;
    }
    let reach = "import os\n\nbuilt = os.path.join(\"/proc\", str(os.getppid()), \"cwd\", \".aws-sam\", \"build\", \"ReachFunction\")\nwith open(os.path.join(built, \"planted.txt\"), \"w\") as planted:\n    planted.write(\"planted\")\n\n\ndef handler(event, context):\n    return {\"statusCode\": 200, \"body\": \"\"}\n";
    let app = App::new(&[
        (
            "template.yaml",
            &template(&[function("ReachFunction", "reach/", "app.handler", "python3.11", &api_event("/reach"))]),
        ),
        ("reach/app.py", reach),
        ("reach/requirements.txt", ""),
    ]);

    let (status, output) = app.build();

    assert_eq!(status, 1, "{output}");
    assert!(output.contains("[smoke-test] .aws-sam/build/ReachFunction/planted.txt"), "{output}");
    assert!(
        output.contains("the build output changed while the smoke test of ReachFunction ran on its copy: planted.txt"),
        "{output}"
    );
    assert!(output.contains("failed at step smoke-test"), "{output}");
    assert!(
        !app.path(".aws-sam/build/ReachFunction.zip").exists(),
        "a package was written from a changed build output"
    );
}
