//! End to end on apps shaped like real SAM Python apps, written here (no one else's code): each
//! is a fresh git repository whose only xtask configuration is the one line
//! `template = "template.yaml"`, built by the real xtask binary with the real SAM CLI. Each test
//! asserts the exit status, that no tracked file changed, which smoke test or static check ran,
//! and the finding where the app has a real defect.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use crate::support::{run, wheels};

/// A SAM app in its own git repository, committed.
struct App {
    dir: tempfile::TempDir,
}

const ONE_LINE_CONFIG: &str = "[workspace.metadata.lambda]\ntemplate = \"template.yaml\"\n";

impl App {
    /// Writes `files` (path, content), the one-line config, and commits everything.
    fn new(files: &[(&str, &str)]) -> App {
        App::with_config(files, ONE_LINE_CONFIG)
    }

    fn with_config(files: &[(&str, &str)], config: &str) -> App {
        let app = App { dir: tempfile::tempdir().unwrap() };
        app.write("Cargo.toml", config);
        for (path, text) in files {
            app.write(path, text);
        }
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

    /// `git status` but for sam's own output: what a user would see changed.
    fn changes(&self) -> Vec<String> {
        self.git(&["status", "--porcelain"]).lines().filter(|l| !l.ends_with(".aws-sam/")).map(String::from).collect()
    }

    fn build(&self) -> (i32, String) {
        self.xtask(&["lambda-build"])
    }

    fn xtask(&self, args: &[&str]) -> (i32, String) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("CI")
            .env_remove("GITHUB_ACTIONS");
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

const HELLO_APP: &str = r#"import json

import requests  # noqa: F401  (the sam init hello world lists it, and so do we)


def lambda_handler(event, context):
    return {"statusCode": 200, "body": json.dumps({"message": "hello world"})}
"#;

fn api_event(path: &str) -> String {
    format!("      Events:\n        Hello:\n          Type: Api\n          Properties:\n            Path: {path}\n            Method: get\n")
}

/// The `sam init` hello world layout: app.py and __init__.py in CodeUri, tests beside.
#[test]
fn hello_world_layout_builds_with_only_the_template_configured() {
    let app = App::new(&[
        (
            "template.yaml",
            &template(&[function(
                "HelloWorldFunction",
                "hello_world/",
                "app.lambda_handler",
                "python3.11",
                &api_event("/hello"),
            )]),
        ),
        ("hello_world/__init__.py", ""),
        ("hello_world/app.py", HELLO_APP),
        ("hello_world/requirements.txt", "requests\n"),
        ("tests/__init__.py", ""),
        ("events/event.json", "{}\n"),
    ]);

    let (status, output) = app.build();

    assert_eq!(status, 0, "{output}");
    assert_eq!(app.changes(), Vec::<String>::new(), "{output}");
    assert!(output.contains("hello_world: no installed packages to remove"), "{output}");
    assert!(
        output.contains("HelloWorldFunction: invoking it with API Gateway REST (v1) GET /hello -> statusCode 200"),
        "{output}"
    );
    let artifact = app.path(".aws-sam/build/HelloWorldFunction");
    assert!(artifact.join("app.py").is_file() && artifact.join("requests/__init__.py").is_file());
}

/// Three Step Functions tasks with no event source: imported cold, not sent an API event; sam
/// builds them side by side.
#[test]
fn state_machine_tasks_are_imported_and_built_in_parallel() {
    let task = "def lambda_handler(event, context):\n    return {\"price\": 42}\n";
    let app = App::new(&[
        (
            "template.yaml",
            &template(&[
                "  Trading:\n    Type: AWS::Serverless::StateMachine\n    Properties:\n      DefinitionUri: statemachine/trader.asl.json\n      DefinitionSubstitutions:\n        CheckerArn: !GetAtt CheckerFunction.Arn\n".to_string(),
                function("CheckerFunction", "functions/checker/", "app.lambda_handler", "python3.11", ""),
                function("BuyerFunction", "functions/buyer/", "app.lambda_handler", "python3.11", ""),
                function("SellerFunction", "functions/seller/", "app.lambda_handler", "python3.11", ""),
            ]),
        ),
        ("statemachine/trader.asl.json", "{\"StartAt\": \"Check\", \"States\": {\"Check\": {\"Type\": \"Task\", \"Resource\": \"${CheckerArn}\", \"End\": true}}}\n"),
        ("functions/__init__.py", ""),
        ("functions/checker/__init__.py", ""),
        ("functions/checker/app.py", task),
        ("functions/checker/requirements.txt", ""),
        ("functions/buyer/__init__.py", ""),
        ("functions/buyer/app.py", task),
        ("functions/buyer/requirements.txt", ""),
        ("functions/seller/__init__.py", ""),
        ("functions/seller/app.py", task),
        ("functions/seller/requirements.txt", ""),
    ]);

    let (status, output) = app.build();

    assert_eq!(status, 0, "{output}");
    assert_eq!(app.changes(), Vec::<String>::new(), "{output}");
    assert!(output.contains(" --parallel"), "{output}");
    for id in ["CheckerFunction", "BuyerFunction", "SellerFunction"] {
        assert!(output.contains(&format!("{id}: import only -> ok")), "{id}:\n{output}");
    }
}

/// SQS, HTTP API and Schedule consumers each get the event their source sends, in Lambda's
/// environment with the template's variables (an intrinsic as a placeholder naming it).
#[test]
fn event_source_consumers_get_their_own_event_and_environment() {
    let sqs = r#"import json
import os

TABLE = os.environ["TABLE_NAME"]


def handler(event, context):
    assert TABLE == "xtask-placeholder(!Ref OrdersTable)", TABLE
    assert os.environ["LOG_LEVEL"] == "INFO"
    assert os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert os.environ["AWS_SECRET_ACCESS_KEY"].startswith("xtask-smoke-test"), "not the smoke test's dummy credential"
    for record in event["Records"]:
        json.loads(record["body"])
    return {"batchItemFailures": []}
"#;
    let http = "def handler(event, context):\n    assert event[\"version\"] == \"2.0\"\n    return {\"statusCode\": 201, \"body\": event[\"requestContext\"][\"http\"][\"method\"]}\n";
    let schedule =
        "def handler(event, context):\n    assert event[\"detail-type\"] == \"Scheduled Event\"\n    return None\n";
    let app = App::new(&[
        (
            "template.yaml",
            &template(&[
                "  OrdersTable:\n    Type: AWS::Serverless::SimpleTable\n  Queue:\n    Type: AWS::SQS::Queue\n".to_string(),
                function(
                    "QueueConsumer",
                    "consumers/",
                    "queue.handler",
                    "python3.11",
                    "      MemorySize: 256\n      Environment:\n        Variables:\n          TABLE_NAME: !Ref OrdersTable\n          LOG_LEVEL: INFO\n      Events:\n        Jobs:\n          Type: SQS\n          Properties:\n            Queue: !GetAtt Queue.Arn\n",
                ),
                function("HttpConsumer", "consumers/", "http.handler", "python3.11", "      Events:\n        Post:\n          Type: HttpApi\n          Properties:\n            Path: /orders\n            Method: post\n"),
                function("Nightly", "consumers/", "nightly.handler", "python3.11", "      Events:\n        Every:\n          Type: Schedule\n          Properties:\n            Schedule: rate(1 day)\n"),
            ]),
        ),
        ("consumers/queue.py", sqs),
        ("consumers/http.py", http),
        ("consumers/nightly.py", schedule),
        ("consumers/requirements.txt", ""),
    ]);

    let (status, output) = app.build();

    assert_eq!(status, 0, "{output}");
    assert_eq!(app.changes(), Vec::<String>::new(), "{output}");
    assert!(
        !output.contains("notice: smoke test of"),
        "a handler met an event or environment it did not expect:\n{output}"
    );
    assert!(output.contains("QueueConsumer: invoking it with an SQS message -> returned dict"), "{output}");
    assert!(
        output.contains("HttpConsumer: invoking it with API Gateway HTTP API (v2) POST /orders -> statusCode 201"),
        "{output}"
    );
    assert!(
        output.contains("Nightly: invoking it with a scheduled EventBridge event -> returned NoneType"),
        "{output}"
    );
    // One CodeUri for three functions: cleaned once, each function guarded and smoke-tested.
    assert!(output.contains("consumers (shared by QueueConsumer, HttpConsumer, Nightly)"), "{output}");
}

/// A layer of the template is built, guarded, and on the function's import path as
/// /opt/python is on Lambda's; a function that imports from it without naming it fails.
#[test]
fn a_layer_is_importable_by_the_function_that_names_it_and_only_by_it() {
    let uses_layer = "from common_utils import greeting\n\n\ndef handler(event, context):\n    return {\"statusCode\": 200, \"body\": greeting()}\n";
    let layer = "  CommonLayer:\n    Type: AWS::Serverless::LayerVersion\n    Properties:\n      ContentUri: layers/common/\n      CompatibleRuntimes: [python3.11]\n    Metadata:\n      BuildMethod: python3.11\n".to_string();
    let files = |layers: &str| {
        vec![
            (
                "template.yaml".to_string(),
                template(&[
                    layer.clone(),
                    function(
                        "ApiFunction",
                        "api/",
                        "app.handler",
                        "python3.11",
                        &format!("{layers}{}", api_event("/greet")),
                    ),
                ]),
            ),
            (
                "layers/common/common_utils.py".to_string(),
                "def greeting():\n    return 'hello from the layer'\n".to_string(),
            ),
            ("layers/common/requirements.txt".to_string(), String::new()),
            ("api/app.py".to_string(), uses_layer.to_string()),
            ("api/requirements.txt".to_string(), String::new()),
        ]
    };
    let owned = files("      Layers:\n        - !Ref CommonLayer\n");
    let app = App::new(&owned.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect::<Vec<_>>());
    let (status, output) = app.build();
    assert_eq!(status, 0, "{output}");
    assert_eq!(app.changes(), Vec::<String>::new(), "{output}");
    assert!(output.contains("layer CommonLayer: python3.11 in layers/common"), "{output}");
    assert!(
        output.contains("ApiFunction: invoking it with API Gateway REST (v1) GET /greet -> statusCode 200"),
        "{output}"
    );

    // The defect: the function imports the layer's module but does not name the layer.
    let owned = files("");
    let app = App::new(&owned.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect::<Vec<_>>());
    let (status, output) = app.build();
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("[smoke-test] .aws-sam/build/ApiFunction/app.py"), "{output}");
    assert!(output.contains("No module named 'common_utils'"), "{output}");
    assert_eq!(app.changes(), Vec::<String>::new(), "{output}");
}

/// python3.12 and python3.13 functions build and run in the interpreters pyenv keeps, even
/// though `python3.12` on PATH may be a shim that cannot run it.
#[test]
fn python_3_12_and_3_13_build_with_the_interpreters_found_behind_shims() {
    let app = App::new(&[
        (
            "template.yaml",
            &template(&[
                function("Py312Function", "py312/", "app.lambda_handler", "python3.12", &api_event("/hello")),
                function("Py313Function", "py313/", "app.lambda_handler", "python3.13", &api_event("/hello")),
            ]),
        ),
        ("py312/app.py", HELLO_APP),
        ("py312/requirements.txt", "requests\n"),
        ("py313/app.py", HELLO_APP),
        ("py313/requirements.txt", "requests\n"),
    ]);
    let (status, output) = app.build();
    if status == 2 && output.contains("not found (looked on PATH") {
        eprintln!("skipped: this machine has no python3.12/3.13: {output}");
        return;
    }
    assert_eq!(status, 0, "{output}");
    assert_eq!(app.changes(), Vec::<String>::new(), "{output}");
    for runtime in ["python3.12", "python3.13"] {
        assert!(output.contains(&format!("{runtime}: /")), "the interpreter handed to sam is not named:\n{output}");
        assert!(
            output.contains(&format!("/bin/{runtime} (isolated")),
            "{runtime} did not run the smoke test:\n{output}"
        );
    }
}

/// A real defect on a newer runtime: `cgi` left the standard library in Python 3.13.
#[test]
fn a_module_removed_from_the_standard_library_fails_on_python_3_13() {
    let app = App::new(&[
        ("template.yaml", &template(&[function("FormFunction", "form/", "app.handler", "python3.13", &api_event("/form"))])),
        ("form/app.py", "import cgi  # noqa: F401\n\n\ndef handler(event, context):\n    return {\"statusCode\": 200, \"body\": \"\"}\n"),
        ("form/requirements.txt", ""),
    ]);
    let (status, output) = app.build();
    if status == 2 && output.contains("python3.13 not found") {
        eprintln!("skipped: no python3.13 here");
        return;
    }
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("[smoke-test] .aws-sam/build/FormFunction/app.py"), "{output}");
    assert!(output.contains("No module named 'cgi'"), "{output}");
    assert_eq!(app.changes(), Vec::<String>::new());
}

/// arm64 on this x86_64 machine: no interpreter can run the artifact, so the static import
/// check runs instead, and still finds a module the artifact lacks.
#[test]
fn an_arm64_function_gets_the_static_import_check() {
    if std::env::consts::ARCH != "x86_64" {
        return;
    }
    let handler = |extra: &str| {
        format!("import json\nimport boto3  # noqa: F401\n{extra}\nfrom helpers import shout\n\n\ndef handler(event, context):\n    return {{\"statusCode\": 200, \"body\": shout(json.dumps(event))}}\n")
    };
    let files = |app_py: &str| -> Vec<(String, String)> {
        vec![
            (
                "template.yaml".into(),
                template(&[function(
                    "ArmFunction",
                    "arm/",
                    "app.handler",
                    "python3.11",
                    &format!("      Architectures: [arm64]\n{}", api_event("/arm")),
                )]),
            ),
            ("arm/app.py".into(), app_py.to_string()),
            ("arm/helpers.py".into(), "import string\n\n\ndef shout(text):\n    return text.upper()\n".into()),
            ("arm/requirements.txt".into(), String::new()),
        ]
    };
    let owned = files(&handler(""));
    let app = App::new(&owned.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect::<Vec<_>>());
    let (status, output) = app.build();
    assert_eq!(status, 0, "{output}");
    assert_eq!(app.changes(), Vec::<String>::new());
    assert!(output.contains("ran the static import check instead: 2 modules followed"), "{output}");

    let owned = files(&handler("import yaml  # installed on this machine, not in requirements.txt"));
    let app = App::new(&owned.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect::<Vec<_>>());
    let (status, output) = app.build();
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("[smoke-test] .aws-sam/build/ArmFunction/app.py:3"), "{output}");
    assert!(output.contains("static import check: app.py imports yaml"), "{output}");
}

/// The seed's function dir: real wheels pip-installed next to the handler (a Windows
/// psycopg2-binary among them). Clean removes every installed file and keeps the source.
#[test]
fn the_seed_polluted_function_dir_loses_its_packages_and_keeps_its_source() {
    let app = App::new(&[
        ("template.yaml", &template(&[function("BackendFunction", "backend/", "handler.handler", "python3.11", &api_event("/health"))])),
        ("backend/handler.py", "import json\n\n\ndef handler(event, context):\n    return {\"statusCode\": 200, \"body\": json.dumps({\"status\": \"healthy\"})}\n"),
        ("backend/requirements.txt", ""),
        ("backend/src/__init__.py", ""),
    ]);
    let target = app.path("backend");
    for spec in [wheels::PSYCOPG2_WINDOWS, wheels::SIX, wheels::JMESPATH, wheels::PYDANTIC_CORE_MACOS_ARM64] {
        let status = Command::new(wheels::python())
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--no-index",
                "--disable-pip-version-check",
                "--target",
            ])
            .arg(&target)
            .args(["--platform", spec.platform, "--only-binary=:all:", "--python-version", spec.python_version])
            .arg(wheels::wheel(spec))
            .status()
            .unwrap();
        assert!(status.success(), "pip install --target {spec:?}");
    }
    assert!(target.join("psycopg2_binary.libs").is_dir() && target.join("six.py").is_file());

    let (status, output) = app.build();

    assert_eq!(status, 0, "{output}");
    assert!(output.contains("removing dir backend/psycopg2_binary-2.9.11.dist-info"), "{output}");
    let mut left: Vec<String> =
        fs::read_dir(&target).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, ["handler.py", "requirements.txt", "src"], "{output}");
    assert_eq!(app.changes(), Vec::<String>::new(), "{output}");
    assert!(
        output.contains("BackendFunction: invoking it with API Gateway REST (v1) GET /health -> statusCode 200"),
        "{output}"
    );
}

/// Untracked content git ignores and no installer explains is a finding, and stays on disk;
/// an allowlist that would delete a tracked file is bad input before anything changes.
#[test]
fn unexplained_files_are_reported_and_tracked_files_never_deleted() {
    let files = [
        (
            "template.yaml",
            template(&[function("HelloWorldFunction", "hello_world/", "app.lambda_handler", "python3.11", "")]),
        ),
        ("hello_world/__init__.py", String::new()),
        ("hello_world/app.py", "def lambda_handler(event, context):\n    return {}\n".into()),
        ("hello_world/requirements.txt", String::new()),
        (".gitignore", ".venv/\n*.so\n".into()),
    ];
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let app = App::new(&borrowed);
    app.write("hello_world/.venv/lib/python3.11/site-packages/thing.py", "");
    app.write("hello_world/_speedups.so", "not really a library");
    app.write("hello_world/__pycache__/app.cpython-311.pyc", "bytecode");

    let (status, output) = app.build();

    assert_eq!(status, 1, "{output}");
    for path in ["hello_world/.venv", "hello_world/_speedups.so"] {
        assert!(output.contains(&format!("[unexplained-file] {path}")), "{path}:\n{output}");
        assert!(app.path(path).exists(), "{path} was deleted");
    }
    assert!(output.contains("removing dir hello_world/__pycache__"), "{output}");
    assert!(output.contains("failed at step clean"), "{output}");
    assert_eq!(app.changes(), Vec::<String>::new(), "{output}");

    let config = format!("{ONE_LINE_CONFIG}[[workspace.metadata.lambda.functions]]\nlogical_id = \"HelloWorldFunction\"\nallowlist = [\"app.py\", \"requirements.txt\"]\n");
    let app = App::with_config(&borrowed, &config);
    let (status, output) = app.build();
    assert_eq!(status, 2, "{output}");
    assert!(output.contains("hello_world/__init__.py: git tracks it"), "{output}");
    assert!(app.path("hello_world/__init__.py").is_file());
    assert_eq!(app.changes(), Vec::<String>::new(), "{output}");
}

/// What is not a Python zip function is named with the reason; a 5xx from an API function
/// fails, an exception from the app's own logic on a synthetic event is a notice.
#[test]
fn other_functions_are_named_a_5xx_fails_and_app_logic_errors_are_notices() {
    let app = App::new(&[
        (
            "template.yaml",
            &template(&[
                function("Broken", "api/", "broken.handler", "python3.11", &api_event("/broken")),
                function("Picky", "api/", "picky.handler", "python3.11", &api_event("/picky")),
                function("WebFunction", "web/", "index.handler", "nodejs20.x", ""),
            ]),
        ),
        (
            "api/broken.py",
            "def handler(event, context):\n    return {\"statusCode\": 502, \"body\": \"upstream down\"}\n",
        ),
        (
            "api/picky.py",
            "def handler(event, context):\n    return {\"statusCode\": 200, \"body\": event[\"body\"][\"name\"]}\n",
        ),
        ("api/requirements.txt", ""),
        ("web/index.js", "exports.handler = async () => ({});\n"),
    ]);

    let (status, output) = app.build();

    assert_eq!(status, 1, "{output}");
    assert!(output.contains("function WebFunction is not guarded: Runtime nodejs20.x is not Python"), "{output}");
    assert!(output.contains("[smoke-test] .aws-sam/build/Broken/broken.py"), "{output}");
    assert!(output.contains("GET /broken answered 502: upstream down"), "{output}");
    assert!(output.contains("notice: smoke test of Picky: invoking the handler raised TypeError"), "{output}");
    assert!(!output.contains("[smoke-test] .aws-sam/build/Picky"), "{output}");
    assert_eq!(app.changes(), Vec::<String>::new(), "{output}");
}

/// An image function is named; without Docker sam cannot build it, which is bad input before
/// anything changes rather than a failure inside sam.
#[test]
fn an_image_function_without_docker_is_named_and_refused_up_front() {
    if docker_answers() {
        return;
    }
    let app = App::new(&[
        (
            "template.yaml",
            &template(&[
                function("Api", "api/", "app.handler", "python3.11", ""),
                "  ImageFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      PackageType: Image\n    Metadata:\n      Dockerfile: Dockerfile\n      DockerContext: ./image\n".to_string(),
            ]),
        ),
        ("api/app.py", "def handler(event, context):\n    return {}\n"),
    ]);
    let (status, output) = app.build();
    assert_eq!(status, 2, "{output}");
    assert!(output.contains("function ImageFunction has PackageType Image"), "{output}");
    assert_eq!(output.trim().lines().count(), 1, "bad input is one line:\n{output}");
    assert!(!app.path(".aws-sam").exists(), "bad input changed the tree");
    assert_eq!(app.changes(), Vec::<String>::new());
}

/// lambda-init on an app with no xtask configuration: the one-line table, the .gitignore
/// entries, what it found; a second run refuses and changes nothing.
#[test]
fn lambda_init_writes_the_one_line_config_and_reports_what_it_found() {
    let app = App::with_config(
        &[
            (
                "infra/template.yml",
                &template(&[function(
                    "HelloWorldFunction",
                    "hello_world/",
                    "app.lambda_handler",
                    "python3.11",
                    &api_event("/hello"),
                )]),
            ),
            ("infra/hello_world/app.py", HELLO_APP),
            (".gitignore", "*.pyc\n"),
        ],
        "[workspace]\nmembers = [\"xtask\"]\n",
    );

    let (status, output) = app.xtask(&["lambda-init"]);

    assert_eq!(status, 0, "{output}");
    let manifest = fs::read_to_string(app.path("Cargo.toml")).unwrap();
    assert!(manifest.ends_with("[workspace.metadata.lambda]\ntemplate = \"infra/template.yml\"\n"), "{manifest}");
    assert!(manifest.starts_with("[workspace]\nmembers = [\"xtask\"]\n"), "{manifest}");
    let gitignore = fs::read_to_string(app.path(".gitignore")).unwrap();
    assert!(
        gitignore.starts_with("*.pyc\n") && gitignore.contains("\n.aws-sam/\n/target/\n/deploy-log.jsonl\n"),
        "{gitignore}"
    );
    assert!(output.contains("function HelloWorldFunction: python3.11 x86_64, CodeUri infra/hello_world"), "{output}");
    assert!(output.contains("events: Hello (Api)"), "{output}");
    assert!(output.contains("smoke test: import, then invoke with API Gateway REST (v1) GET /hello"), "{output}");
    // No xtask/ yet: the thin one, over the library this binary was built from, and the alias.
    assert!(output.contains("wrote xtask/Cargo.toml and xtask/src/main.rs"), "{output}");
    let xtask_manifest = fs::read_to_string(app.path("xtask/Cargo.toml")).unwrap();
    assert!(xtask_manifest.contains("lambda-xtask = { path = "), "{xtask_manifest}");
    let alias = fs::read_to_string(app.path(".cargo/config.toml")).unwrap();
    assert_eq!(alias, "[alias]\nxtask = \"run --package xtask --\"\n");
    let mut changed = app.changes();
    changed.sort();
    assert_eq!(
        changed,
        [" M .gitignore", " M Cargo.toml", "?? .cargo/", "?? xtask/"],
        "lambda-init changed something else"
    );

    let before = (manifest, gitignore);
    let (status, output) = app.xtask(&["lambda-init"]);
    assert_eq!(status, 2, "{output}");
    assert!(output.contains("already has a [workspace.metadata.lambda] table"), "{output}");
    assert_eq!(
        before,
        (fs::read_to_string(app.path("Cargo.toml")).unwrap(), fs::read_to_string(app.path(".gitignore")).unwrap())
    );
}

/// python3.14 on x86_64 and arm64, with no python3.14 and no Docker here: SAM's python-uv build
/// method (uv provisioned into the tool cache) builds both from a derived template; the user's
/// template is not changed, and the static import check runs on each artifact.
#[test]
fn python_3_14_builds_for_x86_64_and_arm64_without_the_interpreter() {
    if docker_answers()
        || which::which("python3.14").is_ok_and(|p| Command::new(p).arg("-V").status().is_ok_and(|s| s.success()))
    {
        eprintln!("skipped: this machine has Docker or a python3.14, so python-uv would not be used");
        return;
    }
    let template_text = template(&[
        function("HelloFunction", "hello_world/", "app.lambda_handler", "python3.14", &api_event("/hello")),
        function("ArmFunction", "arm/", "app.handler", "python3.14", "      Architectures: [arm64]\n"),
    ]);
    let app = App::new(&[
        ("template.yaml", &template_text),
        ("hello_world/app.py", HELLO_APP),
        ("hello_world/requirements.txt", "requests\n"),
        (
            "arm/app.py",
            "import pydantic_core\n\n\ndef handler(event, context):\n    return pydantic_core.__version__\n",
        ),
        ("arm/requirements.txt", "pydantic-core>=2.41\n"),
    ]);

    let (status, output) = app.build();

    assert_eq!(status, 0, "{output}");
    assert_eq!(app.changes(), Vec::<String>::new(), "{output}");
    assert_eq!(fs::read_to_string(app.path("template.yaml")).unwrap(), template_text);
    assert!(
        output.contains("HelloFunction: no python3.14 here and no Docker: built with SAM's python-uv build method"),
        "{output}"
    );
    assert!(output.contains("--base-dir"), "built from the derived template:\n{output}");
    for id in ["HelloFunction", "ArmFunction"] {
        assert!(output.contains(&format!("{id}: no interpreter can run it here")), "{output}");
    }
    assert!(output.contains("ran the static import check instead"), "{output}");
    let extension = fs::read_dir(app.path(".aws-sam/build/ArmFunction/pydantic_core"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".cpython-314-aarch64-linux-gnu.so"))
        .expect("an aarch64 CPython 3.14 extension in the arm64 artifact");
    let header = fs::read(extension).unwrap();
    assert_eq!(u16::from_le_bytes([header[18], header[19]]), 0xb7, "not aarch64");
}
