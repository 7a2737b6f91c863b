//! The shapes of the corpus run's failure classes (CORPUS.md: N, S, F, J, G, M, R, U, W, X, Y
//! and the smoke test's parameter values), each on an app written here in that shape (no one else's
//! code): a fresh git repository whose only xtask configuration is the template line, built by
//! the real xtask binary with the real SAM CLI, and where it matters compared with what plain
//! `sam build` does with the same template.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::run;

/// A SAM app in its own git repository, committed.
struct App {
    dir: tempfile::TempDir,
}

const ONE_LINE_CONFIG: &str = "[workspace.metadata.lambda]\ntemplate = \"template.yaml\"\n";

impl App {
    /// Writes `files` (path, content) and the one-line config, runs `prepare` (zips, modes),
    /// and commits everything.
    fn new(files: &[(&str, &str)], prepare: impl FnOnce(&App)) -> App {
        let app = App { dir: tempfile::tempdir().unwrap() };
        app.write("Cargo.toml", ONE_LINE_CONFIG);
        for (path, text) in files {
            app.write(path, text);
        }
        prepare(&app);
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

    /// `git status`, but for the outputs `lambda-init` puts in `.gitignore` (sam's `.aws-sam/`
    /// and the audit log a rehearsal appends to): these apps were committed without one.
    fn status(&self) -> Vec<String> {
        self.git(&["status", "--porcelain", "--untracked-files=all"])
            .lines()
            .filter(|l| !l.contains(".aws-sam/") && !l.ends_with(" deploy-log.jsonl"))
            .map(String::from)
            .collect()
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

    fn build(&self) -> (i32, String) {
        self.xtask(&["lambda-build", "--container", "never"])
    }

    /// The rehearsal as a user runs it: `--env local`, no AWS variables at all.
    fn rehearse(&self) -> (i32, String) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command
            .args(["lambda-deploy", "--env", "local", "--container", "never"])
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("CI")
            .env_remove("GITHUB_ACTIONS");
        for name in [
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
        ] {
            command.env_remove(name);
        }
        run(&mut command)
    }

    /// `.aws-sam/build/template.yaml`, as sam wrote it.
    fn built_template(&self) -> String {
        fs::read_to_string(self.path(".aws-sam/build/template.yaml")).unwrap()
    }

    /// A zip of (name, content, unix mode) entries, written by Python's zipfile as a user's
    /// own packaging script would.
    fn zip(&self, relative: &str, entries: &[(&str, &[u8], u32)]) {
        let path = self.path(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let entries: Vec<serde_json::Value> = entries
            .iter()
            .map(|(name, bytes, mode)| serde_json::json!([name, String::from_utf8_lossy(bytes), mode]))
            .collect();
        let script = "import json, sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n    for name, text, mode in json.loads(sys.argv[2]):\n        info = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))\n        info.external_attr = (0o100000 | mode) << 16\n        info.compress_type = zipfile.ZIP_DEFLATED\n        z.writestr(info, text)\n";
        let out = Command::new("python3")
            .args(["-c", script, &path.display().to_string(), &serde_json::Value::Array(entries).to_string()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

fn template(body: &str) -> String {
    format!("AWSTemplateFormatVersion: '2010-09-09'\nTransform: AWS::Serverless-2016-10-31\n{body}")
}

fn docker_answers() -> bool {
    std::os::unix::net::UnixStream::connect("/var/run/docker.sock").is_ok()
}

/// No Docker and no python3.14 here: sam builds a python3.14 function with python-uv, from the
/// derived template in `.aws-sam/xtask/`.
fn python_3_14_builds_with_uv() -> bool {
    !docker_answers()
        && !which::which("python3.14").is_ok_and(|p| Command::new(p).arg("-V").status().is_ok_and(|s| s.success()))
}

/// The SAM CLI the xtask provisioned, from the `sam:` line of a build's output.
fn sam_of(output: &str) -> PathBuf {
    let line = output.lines().find_map(|l| l.trim().strip_prefix("sam: ")).expect("a sam: line in the output");
    PathBuf::from(line.rsplit_once(" (").unwrap().0)
}

/// Plain `sam build` in `dir` with pyenv's Python `version` first on PATH, as the corpus run
/// compared: its exit status and output.
fn plain_sam_build(sam: &Path, dir: &Path, version: &str) -> (i32, String) {
    let pyenv_root =
        Command::new("pyenv").arg("root").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let mut path = std::env::var("PATH").unwrap_or_default();
    if let Ok(root) = pyenv_root {
        path = format!("{root}/versions/{version}/bin:{path}");
    }
    let mut command = Command::new(sam);
    command.args(["build"]).current_dir(dir).env("PATH", path).env("SAM_CLI_TELEMETRY", "0");
    run(&mut command)
}

/// A copy of the app's committed files in a directory of its own, for plain `sam build`.
fn plain_copy(app: &App) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    let out = Command::new("git")
        .args(["clone", "-q", &app.dir.path().display().to_string(), &copy.path().display().to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    copy
}

const HANDLER: &str = "def handler(event, context):\n    return {\"statusCode\": 200, \"body\": \"ok\"}\n";

/// N: `CodeUri: code.zip` (and a layer's `ContentUri: deps.zip`): sam builds no zip and uploads
/// it as it is, so the tool builds none either and guards its entries; a zip without the
/// handler module, with a Windows binary or a key in it fails naming the entry.
#[test]
fn a_zip_code_uri_is_guarded_on_its_entries_and_shipped_as_it_is() {
    let body = "Resources:\n  DepsLayer:\n    Type: AWS::Serverless::LayerVersion\n    Properties:\n      ContentUri: layers/deps.zip\n      CompatibleRuntimes: [python3.11]\n  ZipFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: dist/code.zip\n      Handler: app.handler\n      Runtime: python3.11\n      Layers: [!Ref DepsLayer]\n";
    let app = App::new(&[("template.yaml", &template(body))], |app| {
        app.zip("dist/code.zip", &[("app.py", HANDLER.as_bytes(), 0o644), ("lib/helpers.py", b"X = 1\n", 0o644)]);
        app.zip("layers/deps.zip", &[("python/shared.py", b"def f():\n    return 1\n", 0o644)]);
    });
    let before = app.status();

    let (status, output) = app.build();

    assert_eq!(status, 0, "{output}");
    assert_eq!(app.status(), before, "{output}");
    assert!(
        output.contains("notice: function ZipFunction ships dist/code.zip as it is (python3.11 x86_64): sam builds no zip and uploads it unchanged"),
        "{output}"
    );
    assert!(output.contains("notice: layer DepsLayer ships layers/deps.zip as it is"), "{output}");
    assert!(!app.path(".aws-sam/build/ZipFunction").exists(), "nothing is built from a zip");
    let built = app.built_template();
    assert!(built.contains("CodeUri: ../../dist/code.zip"), "{built}");
    assert!(built.contains("ContentUri: ../../layers/deps.zip"), "{built}");
    // Plain sam build points its built template at the same zips.
    let copy = plain_copy(&app);
    let (plain, plain_output) = plain_sam_build(&sam_of(&output), copy.path(), "3.11.7");
    assert_eq!(plain, 0, "{plain_output}");
    let plain_built = fs::read_to_string(copy.path().join(".aws-sam/build/template.yaml")).unwrap();
    assert!(plain_built.contains("CodeUri: ../../dist/code.zip"), "{plain_built}");
    let (status, output) = app.xtask(&["lambda-check"]);
    assert_eq!(status, 0, "{output}");

    // A zip whose module sits in a folder, with a Windows DLL and a private key.
    app.zip(
        "dist/code.zip",
        &[
            ("src/app.py", HANDLER.as_bytes(), 0o644),
            ("_native.pyd", b"MZ\x90\x00\x03\x00\x00\x00", 0o644),
            ("config/server.key", b"-----BEGIN RSA PRIVATE KEY-----\nMIIE\n", 0o600),
        ],
    );
    let (status, output) = app.build();
    assert_eq!(status, 1, "{output}");
    for path in [
        "[missing-source] dist/code.zip!/app.py",
        "[platform-binary] dist/code.zip!/_native.pyd",
        "[secret-file] dist/code.zip!/config/server.key",
    ] {
        assert!(output.contains(path), "{path}:\n{output}");
    }
    assert!(output.contains("zip -d dist/code.zip config/server.key"), "{output}");
    assert!(!output.contains("MIIE"), "a secret's content was printed:\n{output}");
}

/// S and the smoke test's values: `Architectures: [!Ref Architecture]` with `Default: arm64`
/// (and Runtime, Handler and a layer from parameters) is read as sam build reads it, so the
/// aarch64 wheels sam installs pass; an environment variable from a parameter reaches the
/// smoke test as the parameter's value, except a NoEcho one; an Architectures with no value is
/// bad input, as it fails sam build.
#[test]
fn build_properties_from_parameters_are_resolved_as_sam_resolves_them() {
    let body = r#"Parameters:
  Architecture: {Type: String, Default: arm64}
  PythonRuntime: {Type: String, Default: python3.11}
  Module: {Type: String, Default: app}
  Region: {Type: String, Default: eu-west-3}
  PowertoolsArn: {Type: String, Default: "arn:aws:lambda:eu-west-3:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-arm64:7"}
  ApiToken: {Type: String, Default: not-a-real-token-4f2a, NoEcho: true}
Globals:
  Function:
    Runtime: !Ref PythonRuntime
    Architectures:
      - !Ref Architecture
Resources:
  ArmFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: arm/
      Handler: !Sub "${Module}.handler"
      Layers: [!Ref PowertoolsArn]
  ReportFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: report/
      Handler: report.handler
      Architectures: [x86_64]
      Environment:
        Variables:
          TABLE_REGION: !Ref Region
          BUCKET: !Sub "reports-${Region}"
          API_TOKEN: !Ref ApiToken
"#;
    let report = "import os\n\nassert os.environ[\"TABLE_REGION\"] == \"eu-west-3\", os.environ[\"TABLE_REGION\"]\nassert os.environ[\"BUCKET\"] == \"reports-eu-west-3\", os.environ[\"BUCKET\"]\nassert os.environ[\"API_TOKEN\"] == \"xtask-placeholder(!Ref ApiToken)\", \"NoEcho\"\n\n\ndef handler(event, context):\n    return {}\n";
    let app = App::new(
        &[
            ("template.yaml", &template(body)),
            (
                "arm/app.py",
                "import rpds\n\n\ndef handler(event, context):\n    return {\"size\": len(rpds.HashTrieMap())}\n",
            ),
            ("arm/requirements.txt", "rpds-py==0.27.1\n"),
            ("report/report.py", report),
            ("report/requirements.txt", ""),
        ],
        |_| {},
    );
    let before = app.status();

    let (status, output) = app.build();

    assert_eq!(status, 0, "{output}");
    assert_eq!(app.status(), before, "{output}");
    assert!(output.contains("function ArmFunction: python3.11 arm64 in arm (Handler app.handler)"), "{output}");
    assert!(output.contains("function ReportFunction: python3.11 x86_64 in report"), "{output}");
    let native = fs::read_dir(app.path(".aws-sam/build/ArmFunction/rpds"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".so"));
    let native = native.expect("rpds' extension module").file_name().to_string_lossy().into_owned();
    assert!(native.contains("aarch64"), "sam built {native} for ArmFunction");
    assert!(!output.contains("[platform-binary]") && !output.contains("[python-abi]"), "{output}");
    assert!(output.contains("ReportFunction: import only -> ok"), "{output}");
    assert!(!output.contains("not-a-real-token-4f2a"), "a NoEcho default was printed:\n{output}");

    // An Architectures with no value: bad input, as sam build fails on it too.
    let unresolved =
        template(&body.replace("Architecture: {Type: String, Default: arm64}", "Architecture: {Type: String}"));
    app.write("template.yaml", &unresolved);
    let (status, output) = app.build();
    assert_eq!(status, 2, "{output}");
    assert_eq!(output.trim().lines().count(), 1, "{output}");
    assert!(
        output.contains("function ArmFunction: Architectures is !Ref Architecture, which has no value here"),
        "{output}"
    );
    // A value for it in samconfig.toml's default build table, which plain sam build reads.
    app.write(
        "samconfig.toml",
        "version = 0.1\n[default.build.parameters]\nparameter_overrides = \"Architecture=x86_64\"\n",
    );
    let (status, output) = app.build();
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("function ArmFunction: python3.11 x86_64 in arm"), "{output}");
    assert!(output.contains("--parameter-overrides Architecture=\"x86_64\""), "{output}");
    assert!(output.contains("ArmFunction: invoking") || output.contains("ArmFunction: import only -> ok"), "{output}");
}

/// F: cryptography's `Requires-Python: >=3.9, !=3.9.0, !=3.9.1` on python3.9 is judged against
/// a patch release Lambda's python3.9 runs, not 3.9.0.
#[test]
fn a_requires_python_excluding_early_patches_passes_on_the_runtime_s_patch_release() {
    let body = "Resources:\n  SignerFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: signer/\n      Handler: app.handler\n      Runtime: python3.9\n";
    let app = App::new(
        &[
            ("template.yaml", &template(body)),
            ("signer/app.py", "from cryptography.fernet import Fernet\n\n\ndef handler(event, context):\n    return {\"key\": len(Fernet.generate_key())}\n"),
            ("signer/requirements.txt", "cryptography==51.0.1\n"),
        ],
        |_| {},
    );

    let (status, output) = app.build();

    assert_eq!(status, 0, "{output}");
    assert!(!output.contains("[dependency-consistency]"), "{output}");
    assert!(app.path(".aws-sam/build/SignerFunction/cryptography-51.0.1.dist-info").is_dir(), "{output}");
    assert!(output.contains("SignerFunction: import only -> ok"), "{output}");
}

/// J: a Lambda Web Adapter function (`Handler: run.sh`, the adapter's layer by ARN and
/// `AWS_LAMBDA_EXEC_WRAPPER`): the script must be an executable file of the build output; it
/// is not imported. A script that lost its execute bit fails with a fix that works.
#[test]
fn a_web_adapter_script_handler_must_be_executable_and_is_not_imported() {
    let body = "Resources:\n  WebFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: web/\n      Handler: run.sh\n      Runtime: python3.11\n      MemorySize: 256\n      Environment:\n        Variables:\n          AWS_LAMBDA_EXEC_WRAPPER: /opt/bootstrap\n          PORT: \"8000\"\n      Layers:\n        - !Sub arn:aws:lambda:${AWS::Region}:753240598075:layer:LambdaAdapterLayerX86:25\n      Events:\n        Root:\n          Type: HttpApi\n";
    let app = App::new(
        &[
            ("template.yaml", &template(body)),
            ("web/run.sh", "#!/bin/bash\nexec python -m http.server \"$PORT\"\n"),
            ("web/app.py", "print('served by http.server')\n"),
            ("web/requirements.txt", ""),
        ],
        |app| {
            fs::set_permissions(app.path("web/run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        },
    );
    let before = app.status();

    let (status, output) = app.build();

    assert_eq!(status, 0, "{output}");
    assert_eq!(app.status(), before, "{output}");
    assert!(output.contains("notice: function WebFunction: Handler run.sh is a script AWS_LAMBDA_EXEC_WRAPPER (/opt/bootstrap) runs, not a Python import"), "{output}");
    assert!(output.contains("WebFunction: not smoke-tested: Handler run.sh is a script"), "{output}");
    assert!(!output.contains("run.py"), "{output}");
    let shipped = fs::metadata(app.path(".aws-sam/build/WebFunction/run.sh")).unwrap();
    assert!(shipped.permissions().mode() & 0o111 != 0, "run.sh ships without its execute bit");

    // The execute bit lost (a checkout on a file system without modes, a chmod): a finding,
    // whose fix works first try.
    app.git(&["update-index", "--chmod=-x", "web/run.sh"]);
    fs::set_permissions(app.path("web/run.sh"), fs::Permissions::from_mode(0o644)).unwrap();
    let (status, output) = app.build();
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("[missing-source] web/run.sh"), "{output}");
    let fix = output.lines().find_map(|l| l.trim().strip_prefix("fix:")).unwrap().trim().to_string();
    assert!(fix.starts_with("chmod +x web/run.sh && git update-index --chmod=+x web/run.sh"), "{fix}");
    let fix_command = fix.split(" (").next().unwrap();
    let out = Command::new("sh").args(["-c", fix_command]).current_dir(app.dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (status, output) = app.build();
    assert_eq!(status, 0, "{output}");
}

/// G: a private key a wheel installs (tornado's test key) is a notice naming the distribution
/// and the requirement that pulls it in, since removing it from the build cannot last; a key
/// in the app's own code stays a finding with its fix.
#[test]
fn a_key_a_wheel_installs_is_a_notice_and_the_app_s_own_key_a_finding() {
    let body = "Resources:\n  StreamFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: stream/\n      Handler: app.handler\n      Runtime: python3.11\n";
    let app = App::new(
        &[
            ("template.yaml", &template(body)),
            (
                "stream/app.py",
                "import tornado\n\n\ndef handler(event, context):\n    return {\"tornado\": tornado.version}\n",
            ),
            ("stream/requirements.txt", "tornado==6.6.1\n"),
        ],
        |_| {},
    );

    let (status, output) = app.build();

    assert_eq!(status, 0, "{output}");
    assert!(app.path(".aws-sam/build/StreamFunction/tornado/test/test.key").is_file(), "{output}");
    assert!(!output.contains("[secret-file]"), "{output}");
    assert!(
        output.contains("notice: .aws-sam/build/StreamFunction/tornado/test/test.key is a private key (its content starts with a private-key header), but a file of the installed distribution tornado 6.6.1, pulled in by tornado (from stream/requirements.txt)"),
        "{output}"
    );
    assert!(output.contains("StreamFunction: import only -> ok"), "{output}");

    // The app's own key, committed beside its code: a finding, and its content never printed.
    app.write("stream/certs/dev.key", "-----BEGIN PRIVATE KEY-----\nMIIEvQ-own-key\n-----END PRIVATE KEY-----\n");
    // Only the key: `add -A` would also track `.aws-sam/`, which the xtask refuses (exit 2).
    app.git(&["add", "stream/certs/dev.key"]);
    app.git(&["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "a dev key"]);
    let (status, output) = app.build();
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("[secret-file] stream/certs/dev.key"), "{output}");
    assert!(output.contains("rm stream/certs/dev.key"), "{output}");
    assert!(!output.contains("own-key"), "a secret's content was printed:\n{output}");
}

/// M: a template whose functions are all InlineCode: nothing to guard, and sam builds and
/// deploys it, so lambda-build and the rehearsal do too.
#[test]
fn an_inline_code_template_builds_and_rehearses_with_nothing_to_guard() {
    let body = "Resources:\n  Table:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      BillingMode: PAY_PER_REQUEST\n      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]\n      KeySchema: [{AttributeName: pk, KeyType: HASH}]\n  InlineFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      Handler: index.handler\n      Runtime: python3.12\n      InlineCode: |\n        def handler(event, context):\n            return {\"ok\": True}\n";
    let app = App::new(&[("template.yaml", &template(body))], |_| {});
    let before = app.status();

    let (status, output) = app.build();

    assert_eq!(status, 0, "{output}");
    assert!(output.contains("function InlineFunction is not guarded: InlineCode"), "{output}");
    assert!(output.contains("notice: no Python function here has code on disk to build or guard"), "{output}");
    assert!(app.built_template().contains("InlineCode"), "sam built no template");
    let (status, output) = app.xtask(&["lambda-check"]);
    assert_eq!(status, 0, "{output}");

    let (status, output) = app.rehearse();
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("Successfully created/updated stack"), "{output}");
    assert_eq!(app.status(), before, "{output}");
}

/// R: with python-uv (no python3.14 here), sam builds from the derived template in
/// `.aws-sam/xtask/`; what sam only uploads (a state machine's DefinitionUri, an OpenAPI file
/// included with AWS::Include, a layer without BuildMethod) still names the app's files, as in
/// plain sam build's output, and the rehearsal's sam deploy uploads them.
#[test]
fn paths_sam_only_uploads_resolve_from_the_derived_template() {
    if !python_3_14_builds_with_uv() {
        eprintln!("skipped: this machine has Docker or a python3.14, so no derived template is used");
        return;
    }
    let body = |runtime: &str| {
        format!("Resources:\n  SharedLayer:\n    Type: AWS::Serverless::LayerVersion\n    Properties:\n      ContentUri: layers/shared/\n      CompatibleRuntimes: [{runtime}]\n  TaskFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: task/\n      Handler: app.handler\n      Runtime: {runtime}\n      Layers: [!Ref SharedLayer]\n  Workflow:\n    Type: AWS::Serverless::StateMachine\n    Properties:\n      DefinitionUri: statemachine/workflow.asl.json\n      DefinitionSubstitutions:\n        TaskArn: !GetAtt TaskFunction.Arn\n      Policies:\n        - LambdaInvokePolicy:\n            FunctionName: !Ref TaskFunction\n  OrdersApi:\n    Type: AWS::Serverless::Api\n    Properties:\n      StageName: prod\n      DefinitionBody:\n        Fn::Transform:\n          Name: AWS::Include\n          Parameters:\n            Location: api/openapi.yaml\n")
    };
    let files = |runtime: &str| {
        vec![
            ("template.yaml".to_string(), template(&body(runtime))),
            ("task/app.py".to_string(), "from shared import tag\n\n\ndef handler(event, context):\n    return tag(event)\n".to_string()),
            ("task/requirements.txt".to_string(), String::new()),
            ("layers/shared/python/shared.py".to_string(), "def tag(event):\n    return {'tagged': event}\n".to_string()),
            ("statemachine/workflow.asl.json".to_string(), "{\"StartAt\": \"Task\", \"States\": {\"Task\": {\"Type\": \"Task\", \"Resource\": \"${TaskArn}\", \"End\": true}}}\n".to_string()),
            // One method at least: API Gateway (and moto) refuses to deploy a REST API without one.
            ("api/openapi.yaml".to_string(), "openapi: 3.0.1\ninfo: {title: orders, version: '1'}\npaths:\n  /orders:\n    get:\n      responses: {'200': {description: ok}}\n      x-amazon-apigateway-integration: {type: mock, requestTemplates: {application/json: '{\"statusCode\": 200}'}}\n".to_string()),
        ]
    };
    let as_refs = |files: &[(String, String)]| -> Vec<(String, String)> { files.to_vec() };
    let owned = as_refs(&files("python3.14"));
    let borrowed: Vec<(&str, &str)> = owned.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let app = App::new(&borrowed, |_| {});
    let before = app.status();

    let (status, output) = app.build();

    assert_eq!(status, 0, "{output}");
    assert!(output.contains("TaskFunction: no python3.14 here and no Docker: built with SAM's python-uv"), "{output}");
    let built = app.built_template();
    // Plain sam build of the same app on a runtime it can build here writes these paths.
    let plain_owned = files("python3.11");
    let plain_borrowed: Vec<(&str, &str)> = plain_owned.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let plain_app = App::new(&plain_borrowed, |_| {});
    let (plain, plain_output) = plain_sam_build(&sam_of(&output), plain_app.dir.path(), "3.11.7");
    assert_eq!(plain, 0, "{plain_output}");
    let plain_built = plain_app.built_template();
    for expected in [
        "DefinitionUri: ../../statemachine/workflow.asl.json",
        "Location: ../../api/openapi.yaml",
        "ContentUri: ../../layers/shared",
    ] {
        assert!(plain_built.contains(expected), "plain sam build differs: {expected}\n{plain_built}");
        assert!(built.contains(expected), "{expected}:\n{built}");
    }
    assert!(!built.contains("../xtask/"), "{built}");

    let (status, output) = app.rehearse();
    assert_eq!(status, 0, "{output}");
    assert!(!output.contains("Unable to upload artifact"), "{output}");
    assert!(output.contains("Successfully created/updated stack"), "{output}");
    assert_eq!(app.status(), before, "{output}");
}

/// W: a Handler whose module file has a hyphen (`create-report.handler`, and the path form
/// `tasks/run-nightly.handler`): Lambda's runtime client imports it with importlib, so the
/// tool builds it and its smoke test imports it the same way, for real: a missing import in
/// it is then found at that import.
#[test]
fn a_hyphenated_handler_module_is_imported_as_lambda_imports_it() {
    let body = "Resources:\n  ReportFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: report/\n      Handler: create-report.handler\n      Runtime: python3.11\n  NightlyFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: jobs/\n      Handler: tasks/run-nightly.handler\n      Runtime: python3.11\n";
    let app = App::new(
        &[
            ("template.yaml", &template(body)),
            ("report/create-report.py", HANDLER),
            ("jobs/tasks/__init__.py", ""),
            ("jobs/tasks/run-nightly.py", HANDLER),
        ],
        |_| {},
    );
    let before = app.status();

    let (status, output) = app.build();

    assert_eq!(status, 0, "{output}");
    assert_eq!(app.status(), before, "{output}");
    assert!(output.contains("ReportFunction: import only -> ok"), "{output}");
    assert!(output.contains("NightlyFunction: import only -> ok"), "{output}");

    // The smoke test really imports the hyphenated module: an import it lacks fails there.
    app.write("report/create-report.py", &format!("import reportlab_not_installed\n{HANDLER}"));
    let (status, output) = app.build();
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("No module named 'reportlab_not_installed'"), "{output}");
}

/// X: the handler imports `v1.schemas.order` where `v1/schemas/` has no `__init__.py`: a
/// namespace package, which Python (and Lambda) imports; no missing-source finding.
#[test]
fn a_package_directory_without_init_imports_as_a_namespace_package() {
    let body = "Resources:\n  OrdersFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: api/\n      Handler: app.handler\n      Runtime: python3.11\n";
    let app = App::new(
        &[
            ("template.yaml", &template(body)),
            (
                "api/app.py",
                "from v1.schemas import order\nimport v1.schemas.order\n\n\ndef handler(event, context):\n    return {\"fields\": order.FIELDS}\n",
            ),
            ("api/v1/__init__.py", ""),
            ("api/v1/schemas/order.py", "FIELDS = [\"id\", \"total\"]\n"),
        ],
        |_| {},
    );

    let (status, output) = app.build();

    assert_eq!(status, 0, "{output}");
    assert!(!output.contains("[missing-source]"), "{output}");
    assert!(output.contains("OrdersFunction: import only -> ok"), "{output}");
}

/// A CA bundle of our own making: `comment_bytes` of comment lines, then `blocks` PEM blocks
/// (placeholder bodies: only the headers are judged).
fn pem_bundle(comment_bytes: usize, blocks: &[&str]) -> String {
    let mut text = String::new();
    while text.len() < comment_bytes {
        text.push_str("# Issuer: CN=Example Root CA, O=Example Trust Services, C=XX (public)\n");
    }
    for label in blocks {
        text.push_str(&format!("-----BEGIN {label}-----\nMIIBexamplebody{}\n-----END {label}-----\n", label.len()));
    }
    text
}

/// Y: a CA bundle whose first certificate follows 5.5 KB of comments (grpcio's `roots.pem`
/// shape) ships: only certificates, however far in. A private key far into a `.pem` is still
/// found, and its content never printed.
#[test]
fn a_certificate_bundle_with_a_long_preamble_ships_and_a_key_deep_in_a_pem_is_found() {
    let body = "Resources:\n  TlsFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: tls/\n      Handler: app.handler\n      Runtime: python3.11\n";
    let app = App::new(
        &[
            ("template.yaml", &template(body)),
            ("tls/app.py", HANDLER),
            ("tls/certs/roots.pem", &pem_bundle(5561, &["CERTIFICATE", "CERTIFICATE", "CERTIFICATE"])),
        ],
        |_| {},
    );

    let (status, output) = app.build();

    assert_eq!(status, 0, "{output}");
    assert!(!output.contains("[secret-file]"), "{output}");
    assert!(app.path(".aws-sam/build/TlsFunction/certs/roots.pem").is_file(), "{output}");

    let with_key = pem_bundle(5561, &["CERTIFICATE"]).replace("MIIBexamplebody", "MIIBownkeybody")
        + &pem_bundle(2000, &["EC PRIVATE KEY"]).replace("MIIBexamplebody", "MIIBownkeybody");
    app.write("tls/certs/roots.pem", &with_key);
    app.git(&["add", "tls/certs/roots.pem"]);
    app.git(&["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "a key"]);
    let (status, output) = app.build();
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("[secret-file] tls/certs/roots.pem"), "{output}");
    assert!(output.contains("a private key"), "{output}");
    assert!(!output.contains("ownkeybody"), "a secret's content was printed:\n{output}");
}

/// U: a layer with `BuildMethod: makefile` and `ContentUri: ./` (the repository root): sam
/// runs its `build-<LogicalId>` target and ships only what it writes to $ARTIFACTS_DIR, so
/// that is no reason to refuse; the layer is built, guarded and used by the smoke test, and
/// none of the xtask's files ship in it.
#[test]
fn a_makefile_layer_over_the_repository_root_ships_only_what_make_writes() {
    let body = "Resources:\n  DepsLayer:\n    Type: AWS::Serverless::LayerVersion\n    Properties:\n      ContentUri: ./\n      CompatibleRuntimes: [python3.11]\n    Metadata:\n      BuildMethod: makefile\n  PriceFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: price/\n      Handler: app.handler\n      Runtime: python3.11\n      Layers: [!Ref DepsLayer]\n";
    let app = App::new(
        &[
            ("template.yaml", &template(body)),
            ("Makefile", "build-DepsLayer:\n\tmkdir -p \"$(ARTIFACTS_DIR)/python\"\n\tcp shared/pricing.py \"$(ARTIFACTS_DIR)/python/\"\n"),
            ("shared/pricing.py", "def with_tax(amount):\n    return round(amount * 1.2, 2)\n"),
            ("price/app.py", "from pricing import with_tax\n\n\ndef handler(event, context):\n    return {\"total\": with_tax(10)}\n"),
        ],
        |_| {},
    );
    let before = app.status();

    let (status, output) = app.build();

    assert_eq!(status, 0, "{output}");
    assert_eq!(app.status(), before, "{output}");
    assert!(output.contains("notice: layer DepsLayer: ContentUri ./ is"), "{output}");
    assert!(output.contains("$ARTIFACTS_DIR"), "{output}");
    assert!(output.contains("PriceFunction: import only -> ok"), "{output}");
    assert!(app.path(".aws-sam/build/DepsLayer/python/pricing.py").is_file(), "{output}");
    for tool_file in ["Cargo.toml", "python/Cargo.toml", "template.yaml", "Makefile"] {
        assert!(!app.path(".aws-sam/build/DepsLayer").join(tool_file).exists(), "{tool_file} shipped in the layer");
    }

    // lambda-init on the app as it was before adoption (no config): the same notice, exit 0.
    fs::remove_file(app.path("Cargo.toml")).unwrap();
    let (status, output) = app.xtask(&["lambda-init"]);
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("notice: layer DepsLayer: ContentUri ./ is"), "{output}");

    // The same root ContentUri without a BuildMethod ships the root as it is: still refused.
    app.write("template.yaml", &template(&body.replace("    Metadata:\n      BuildMethod: makefile\n", "")));
    let (status, output) = app.build();
    assert_eq!(status, 2, "{output}");
    assert!(output.contains("that sam would put in the layer"), "{output}");
}

/// Z: an OpenAPI body included with `AWS::Include` whose `Location` is `!Ref` of a parameter
/// (an S3 URL the app's CI uploads and passes at deploy time). The rehearsal cannot read it:
/// a minimal OpenAPI document stands in, the rest is rehearsed, and a notice says what was
/// not; the SAM transform's refusal of the unexpanded include is never stated as the real
/// deploy's. Given a value that names a file of the repository, the file is included for real.
#[test]
fn an_include_located_by_a_parameter_gets_a_stand_in_unless_its_value_names_a_file() {
    let body = "Parameters:\n  ApiSpecUrl:\n    Type: String\n    Description: S3 URL of the OpenAPI document, uploaded by CI\nResources:\n  NotesApi:\n    Type: AWS::Serverless::Api\n    Properties:\n      StageName: dev\n      Cors:\n        AllowOrigin: \"'*'\"\n      DefinitionBody:\n        Fn::Transform:\n          Name: AWS::Include\n          Parameters:\n            Location: !Ref ApiSpecUrl\n  ListNotesFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: notes/\n      Handler: app.handler\n      Runtime: python3.11\n      Events:\n        List:\n          Type: Api\n          Properties: {RestApiId: !Ref NotesApi, Path: /notes, Method: get}\n";
    let spec = "openapi: 3.0.1\ninfo: {title: notes, version: '1'}\npaths:\n  /notes-from-the-spec:\n    get:\n      responses: {'200': {description: ok}}\n      x-amazon-apigateway-integration: {type: mock, requestTemplates: {application/json: '{\"statusCode\": 200}'}}\n";
    let app = App::new(
        &[
            ("template.yaml", &template(body)),
            ("notes/app.py", HANDLER),
            ("notes/requirements.txt", ""),
            ("api/notes.yaml", spec),
        ],
        |_| {},
    );
    let before = app.status();

    let (status, output) = app.rehearse();

    assert_eq!(status, 0, "{output}");
    assert!(
        output.contains("notice: the AWS::Include at !Ref ApiSpecUrl (rehearsal-apispecurl) of resource NotesApi is supplied at deploy time and not rehearsed"),
        "{output}"
    );
    assert!(
        output.contains("a minimal OpenAPI document (one mock GET /rehearsal-stand-in) stands in for it"),
        "{output}"
    );
    assert!(!output.contains("the SAM transform refuses the template"), "{output}");
    assert!(output.contains("Successfully created/updated stack"), "{output}");
    assert_eq!(app.status(), before, "{output}");

    // The rehearsal's environment names the repository's file: it is included for real.
    app.write(
        "samconfig.toml",
        "version = 0.1\n[local.deploy.parameters]\nparameter_overrides = \"ApiSpecUrl=api/notes.yaml\"\n",
    );
    app.write("Cargo.toml", &format!("{ONE_LINE_CONFIG}samconfig = \"samconfig.toml\"\n"));
    app.git(&["add", "samconfig.toml", "Cargo.toml"]);
    app.git(&["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "samconfig"]);

    let (status, output) = app.rehearse();

    assert_eq!(status, 0, "{output}");
    assert!(!output.contains("AWS::Include at"), "{output}");
    let transformed = fs::read_to_string(app.path(".aws-sam/xtask-rehearsal/transformed.json")).unwrap();
    assert!(transformed.contains("/notes-from-the-spec"), "{transformed}");
    assert!(!transformed.contains("rehearsal-stand-in"), "{transformed}");
    assert!(output.contains("Successfully created/updated stack"), "{output}");
}

/// AC: a VPC id and subnets declared `Type: String` with placeholder Defaults (`VPC_ID`,
/// `subnet-1,subnet-2`), used by a security group's VpcId and a load balancer's Subnets: they
/// are VPC parameters by their use, so the rehearsal's own VPC fills them and says so.
#[test]
fn string_parameters_used_as_a_vpc_and_subnets_take_the_rehearsal_s_vpc() {
    let body = "Parameters:\n  NetworkId:\n    Type: String\n    Default: VPC_ID\n  PublicSubnets:\n    Type: String\n    Default: subnet-1,subnet-2\nResources:\n  HelloFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: hello/\n      Handler: app.handler\n      Runtime: python3.11\n  WebGroup:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n      GroupDescription: http in\n      VpcId: !Ref NetworkId\n      SecurityGroupIngress:\n        - {IpProtocol: tcp, FromPort: 80, ToPort: 80, CidrIp: 0.0.0.0/0}\n  WebBalancer:\n    Type: AWS::ElasticLoadBalancingV2::LoadBalancer\n    Properties:\n      Type: application\n      Scheme: internet-facing\n      Subnets: !Split [',', !Ref PublicSubnets]\n      SecurityGroups: [!Ref WebGroup]\n";
    let app = App::new(
        &[("template.yaml", &template(body)), ("hello/app.py", HANDLER), ("hello/requirements.txt", "")],
        |_| {},
    );

    let (status, output) = app.rehearse();

    assert_eq!(status, 0, "{output}");
    assert!(!output.contains("no VPC:"), "{output}");
    assert!(
        output.contains("by their use in the template, not their Type: NetworkId (Type String, used as AWS::EC2::VPC::Id), PublicSubnets (Type String, used as List<AWS::EC2::Subnet::Id>)"),
        "{output}"
    );
    let seeded = output.lines().find(|l| l.contains("parameters from the local AWS:")).expect("seeded parameters");
    assert!(seeded.contains("NetworkId=vpc-") && seeded.contains("PublicSubnets=subnet-"), "{seeded}");
    assert!(!seeded.contains("VPC_ID") && !seeded.contains("subnet-1,") && !seeded.ends_with("subnet-2"), "{seeded}");
    assert!(!output.contains("InvalidSubnetID"), "{output}");
    assert!(output.contains("Successfully created/updated stack"), "{output}");
}

/// AD: `Fn::ImportValue` of exports of a prerequisite stack (a shared user pool and a policy,
/// named with `!Sub` over a parameter). The local AWS has no such stack: one stand-in stack
/// exports each name, with a value of a sensible shape, and a notice names each import.
#[test]
fn imports_of_a_prerequisite_stack_are_exported_by_a_stand_in() {
    let body = "Parameters:\n  AuthStackName:\n    Type: String\n    Default: shared-auth\nResources:\n  AuthorizerRole:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument:\n        Version: '2012-10-17'\n        Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]\n      ManagedPolicyArns:\n        - Fn::ImportValue: !Sub ${AuthStackName}-read-policy\n  AuthorizerFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: auth/\n      Handler: app.handler\n      Runtime: python3.11\n      Role: !GetAtt AuthorizerRole.Arn\n      Environment:\n        Variables:\n          USER_POOL_ID:\n            Fn::ImportValue: !Sub ${AuthStackName}-UserPool\n          ADMIN_GROUP:\n            Fn::ImportValue: !Sub \"${AuthStackName}-AdminGroupName\"\n";
    let app = App::new(
        &[("template.yaml", &template(body)), ("auth/app.py", HANDLER), ("auth/requirements.txt", "")],
        |_| {},
    );

    let (status, output) = app.rehearse();

    assert_eq!(status, 0, "{output}");
    for (name, value) in [
        ("shared-auth-read-policy", "arn:aws:iam::123456789012:policy/shared-auth-read-policy"),
        ("shared-auth-UserPool", "rehearsal-shared-auth-userpool"),
        ("shared-auth-AdminGroupName", "rehearsal-shared-auth-admingroupname"),
    ] {
        let line = format!("notice: Fn::ImportValue {name}: no stack of the local AWS exports it, so the stand-in stack rehearsal-imports-stand-in exports {value}; the real account must have the stack that exports it");
        assert!(output.contains(&line), "{line}\n{output}");
    }
    assert!(!output.contains("No export named"), "{output}");
    assert!(output.contains("Successfully created/updated stack"), "{output}");
}

/// AD, the doctor: an import whose name the rehearsal cannot resolve gets no stand-in; the
/// deploy fails on it, and the doctor (after the failure, and `lambda-doctor --env local`)
/// names the import and what to deploy first, not only "could not read the stack".
#[test]
fn an_import_with_no_export_is_the_doctor_s_finding() {
    let body = "Parameters:\n  SharedNames:\n    Type: CommaDelimitedList\n    Default: shared-bus-name,other\nResources:\n  PublishFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: publish/\n      Handler: app.handler\n      Runtime: python3.11\n      Environment:\n        Variables:\n          BUS_NAME:\n            Fn::ImportValue: !Select [0, !Ref SharedNames]\n";
    let app = App::new(
        &[("template.yaml", &template(body)), ("publish/app.py", HANDLER), ("publish/requirements.txt", "")],
        |_| {},
    );

    let (status, output) = app.rehearse();

    assert_ne!(status, 0, "{output}");
    assert!(output.contains("the rehearsal cannot resolve the export's name, so nothing stands in for it"), "{output}");
    assert!(output.contains("No export named shared-bus-name found"), "{output}");
    assert!(!output.contains("could not read the stack"), "{output}");
    assert!(output.contains("import-not-exported"), "{output}");
    assert!(output.contains("deploy first the stack that exports shared-bus-name"), "{output}");

    let (_, output) = app.xtask(&["lambda-doctor", "--env", "local"]);
    assert!(!output.contains("could not read the stack"), "{output}");
    assert!(output.contains("deploy first the stack that exports shared-bus-name"), "{output}");
}
