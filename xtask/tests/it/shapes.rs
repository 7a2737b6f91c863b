//! Template shapes SAM accepts, each on an app written here in the shape of real ones (no one
//! else's code): a fresh git repository whose only xtask configuration is the template line,
//! built by the real xtask binary with the real SAM CLI. Each test asserts the exit status,
//! that no tracked file changed, and what was guarded and smoke-tested.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::run;

/// A SAM app in its own git repository, committed.
struct App {
    dir: tempfile::TempDir,
}

fn one_line_config(template: &str) -> String {
    format!("[workspace.metadata.lambda]\ntemplate = \"{template}\"\n")
}

impl App {
    /// Writes `files` (path, content) and the Cargo.toml `manifest`, and commits everything.
    fn new(manifest: &str, files: &[(&str, &str)]) -> App {
        let app = App { dir: tempfile::tempdir().unwrap() };
        app.write("Cargo.toml", manifest);
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

    /// `git status`, but for sam's own output.
    fn status(&self) -> Vec<String> {
        self.git(&["status", "--porcelain", "--untracked-files=all"])
            .lines()
            .filter(|l| !l.contains(".aws-sam/"))
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
}

/// Every path below `dir`, relative to it, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        for entry in fs::read_dir(dir.join(&relative)).unwrap() {
            let entry = entry.unwrap();
            let child = relative.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                stack.push(child.clone());
            }
            found.push(child.display().to_string());
        }
    }
    found.sort();
    found
}

fn docker_answers() -> bool {
    std::os::unix::net::UnixStream::connect("/var/run/docker.sock").is_ok()
}

const HELLO: &str = r#"import json

import requests  # noqa: F401


def lambda_handler(event, context):
    return {"statusCode": 200, "body": json.dumps({"message": "hello"})}
"#;

/// The adopted xtask as README has it, and what cargo and an editor leave beside it.
const XTASK_FILES: &[(&str, &str)] = &[
    ("xtask/Cargo.toml", "[package]\nname = \"xtask\"\nversion = \"0.1.0\"\nedition = \"2021\"\n"),
    ("xtask/src/main.rs", "fn main() {\n    lambda_xtask::main()\n}\n"),
    ("Cargo.lock", "version = 4\n"),
    (".cargo/config.toml", "[alias]\nxtask = \"run --package xtask --\"\n"),
];

/// No CodeUri (SAM's default: the template's directory, here the repository root) and
/// `CodeUri: ./`, with a path-form Handler: built from what git shows of the root, and the
/// artifact holds the app and none of the xtask, cargo's target/ or what git ignores.
#[test]
fn code_uri_at_the_repository_root_ships_the_app_and_nothing_of_the_xtask_or_ignored() {
    let template = "AWSTemplateFormatVersion: '2010-09-09'\nTransform: AWS::Serverless-2016-10-31\nGlobals:\n  Function:\n    Runtime: python3.11\n    Timeout: 10\nResources:\n  AgentFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      Handler: agent/handler.lambda_handler\n      Environment:\n        Variables:\n          ACCOUNT_ID: 012345678901\n      Events:\n        Ask:\n          Type: Api\n          Properties: {Path: /ask, Method: post}\n  HelloFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: ./\n      Handler: app.lambda_handler\n";
    let agent = "import os\n\nfrom agent.tools import answer\n\n\ndef lambda_handler(event, context):\n    assert os.environ[\"ACCOUNT_ID\"] == \"012345678901\", os.environ[\"ACCOUNT_ID\"]\n    return {\"statusCode\": 200, \"body\": answer()}\n";
    let mut files = vec![
        ("template.yaml", template),
        ("agent/__init__.py", ""),
        ("agent/handler.py", agent),
        ("agent/tools.py", "def answer():\n    return '42'\n"),
        ("app.py", HELLO),
        ("requirements.txt", "requests\n"),
        (".gitignore", "/target/\n.aws-sam/\n.venv/\n*.env\n"),
        ("README.md", "# agent\n"),
    ];
    files.extend_from_slice(XTASK_FILES);
    let manifest =
        format!("[workspace]\nmembers = [\"xtask\"]\nresolver = \"2\"\n\n{}", one_line_config("template.yaml"));
    let app = App::new(&manifest, &files);
    // What a developer's tree holds besides: cargo's output, a virtualenv, a secret, a new file.
    app.write("target/debug/xtask", "a 300 MB binary, in spirit");
    app.write(".venv/lib/python3.11/site-packages/boto3/__init__.py", "");
    app.write("local.env", "OPENAI_API_KEY=sk-not-for-lambda\n");
    app.write("agent/prompts.py", "SYSTEM = 'be brief'\n");
    let before = app.status();

    let (status, output) = app.build();

    assert_eq!(status, 0, "{output}");
    assert_eq!(app.status(), before, "{output}");
    assert!(
        output.contains("function AgentFunction: python3.11 x86_64 in . (Handler agent/handler.lambda_handler)"),
        "{output}"
    );
    assert!(output.contains(". (shared by AgentFunction, HelloFunction): not cleaned"), "{output}");
    let staged = output.lines().find(|l| l.contains("sam builds a copy of what git shows of it")).unwrap_or_default();
    for left_out in [".cargo", "Cargo.lock", "Cargo.toml", "target", "xtask"] {
        assert!(staged.contains(left_out), "{left_out} not named as left out:\n{output}");
    }
    assert!(
        output.contains("AgentFunction: invoking it with API Gateway REST (v1) POST /ask -> statusCode 200"),
        "{output}"
    );
    assert!(output.contains("HelloFunction: import only -> ok"), "{output}");
    for id in ["AgentFunction", "HelloFunction"] {
        let artifact = app.path(&format!(".aws-sam/build/{id}"));
        let shipped = listing(&artifact);
        for present in ["agent/handler.py", "agent/tools.py", "agent/prompts.py", "app.py", "requests/__init__.py"] {
            assert!(shipped.iter().any(|p| p == present), "{id}: {present} missing: {shipped:?}");
        }
        for absent in
            ["xtask", "target", "Cargo.toml", "Cargo.lock", ".cargo", ".venv", "local.env", ".aws-sam", ".git"]
        {
            assert!(
                !shipped.iter().any(|p| p == absent || p.starts_with(&format!("{absent}/"))),
                "{id} ships {absent}"
            );
        }
    }
    // The account id stays text through the derived template (PyYAML reads 012345678901 so).
    let built = fs::read_to_string(app.path(".aws-sam/build/template.yaml")).unwrap();
    assert!(built.contains("ACCOUNT_ID: '012345678901'"), "{built}");

    // The check agrees without building; cargo's output churning is no reason to rebuild.
    let (status, output) = app.xtask(&["lambda-check"]);
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("[lambda-check] pre-build-guards done"), "{output}");
    app.write("target/debug/incremental/x.o", "another cargo build");
    let (status, output) = app.build();
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("up to date"), "{output}");
    app.write("agent/tools.py", "def answer():\n    return '43'\n");
    let (status, output) = app.build();
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("building: function/AgentFunction/agent/tools.py changed"), "{output}");
    assert_eq!(
        fs::read_to_string(app.path(".aws-sam/build/AgentFunction/agent/tools.py")).unwrap(),
        "def answer():\n    return '43'\n"
    );

    // The audit log's default place is the root, inside this staged dir: the stage leaves it
    // out as it leaves every xtask file, so the rehearsal runs (a corpus app got exit 2 here)
    // and no artifact holds the log.
    let (status, output) = app.xtask(&["lambda-deploy", "--env", "local", "--container", "never"]);
    assert_eq!(status, 0, "{output}");
    assert!(app.path("deploy-log.jsonl").is_file(), "{output}");
    for id in ["AgentFunction", "HelloFunction"] {
        let shipped = listing(&app.path(&format!(".aws-sam/build/{id}")));
        assert!(!shipped.iter().any(|p| p == "deploy-log.jsonl"), "{id} ships the audit log");
    }
}

fn template(resources: &str) -> String {
    format!("AWSTemplateFormatVersion: '2010-09-09'\nTransform: AWS::Serverless-2016-10-31\nResources:\n{resources}")
}

const USES_LAYER: &str = "from common_utils import greeting\n\n\ndef handler(event, context):\n    return {\"statusCode\": 200, \"body\": greeting()}\n";

/// A layer with no BuildMethod: SAM ships its ContentUri as it is (a `python/` dir inside). It
/// is guarded in place and on the function's import path; its runtime is its users'.
#[test]
fn a_layer_without_build_method_ships_as_is_and_is_on_the_import_path() {
    let resources = "  CommonLayer:\n    Type: AWS::Serverless::LayerVersion\n    Properties:\n      ContentUri: layers/common/\n  ApiFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: api/\n      Handler: app.handler\n      Runtime: python3.11\n      Layers: [!Ref CommonLayer]\n      Events:\n        Greet:\n          Type: HttpApi\n          Properties: {Path: /greet, Method: get}\n";
    let app = App::new(
        &one_line_config("template.yaml"),
        &[
            ("template.yaml", &template(resources)),
            ("layers/common/python/common_utils.py", "def greeting():\n    return 'hello from the layer'\n"),
            ("api/app.py", USES_LAYER),
            ("api/requirements.txt", ""),
        ],
    );
    let before = app.status();

    let (status, output) = app.build();

    assert_eq!(status, 0, "{output}");
    assert_eq!(app.status(), before, "{output}");
    assert!(output.contains("layer CommonLayer: python3.11 in layers/common"), "{output}");
    assert!(
        output.contains("ApiFunction: invoking it with API Gateway HTTP API (v2) GET /greet -> statusCode 200"),
        "{output}"
    );
    assert!(!app.path(".aws-sam/build/CommonLayer").exists(), "sam builds no layer without BuildMethod");
    let (status, output) = app.xtask(&["lambda-check"]);
    assert_eq!(status, 0, "{output}");
}

/// python3.14 with no python3.14 and no Docker: two functions sharing one CodeUri (python-uv)
/// each get their own build output, and their python3.14 layer, which SAM's python-uv cannot
/// build, is built by the xtask with uv and shipped as built.
#[test]
fn python_3_14_functions_sharing_a_code_uri_and_their_layer_build_without_the_interpreter() {
    if docker_answers()
        || which::which("python3.14").is_ok_and(|p| Command::new(p).arg("-V").status().is_ok_and(|s| s.success()))
    {
        eprintln!("skipped: this machine has Docker or a python3.14, so python-uv would not be used");
        return;
    }
    let function = |id: &str, handler: &str| {
        format!("  {id}:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src/\n      Handler: {handler}\n      Runtime: python3.14\n      Layers: [!Ref SharedLayer]\n")
    };
    let resources = format!(
        "  SharedLayer:\n    Type: AWS::Serverless::LayerVersion\n    Properties:\n      ContentUri: layers/shared/\n      CompatibleRuntimes: [python3.14]\n    Metadata:\n      BuildMethod: python3.14\n{}{}",
        function("ReaderFunction", "reader.handler"),
        function("WriterFunction", "writer.handler")
    );
    let handler = |name: &str| {
        format!("import six\n\nfrom shared_util import tag\n\n\ndef handler(event, context):\n    return tag('{name}', six.PY3)\n")
    };
    let (reader, writer) = (handler("reader"), handler("writer"));
    let app = App::new(
        &one_line_config("template.yaml"),
        &[
            ("template.yaml", &template(&resources)),
            ("layers/shared/shared_util.py", "def tag(name, flag):\n    return {'name': name, 'py3': flag}\n"),
            ("layers/shared/requirements.txt", "six==1.17.0\n"),
            ("src/reader.py", &reader),
            ("src/writer.py", &writer),
            ("src/requirements.txt", ""),
        ],
    );
    let before = app.status();

    let (status, output) = app.build();

    assert_eq!(status, 0, "{output}");
    assert_eq!(app.status(), before, "{output}");
    assert!(
        output.contains(
            "layer SharedLayer: no python3.14 here and no Docker, and SAM's python-uv builds no layer: built with uv"
        ),
        "{output}"
    );
    let layer = app.path(".aws-sam/xtask/layers/SharedLayer/python");
    assert!(layer.join("six.py").is_file() && layer.join("shared_util.py").is_file(), "{output}");
    for id in ["ReaderFunction", "WriterFunction"] {
        assert!(
            app.path(&format!(".aws-sam/build/{id}/reader.py")).is_file(),
            "{id} has no build output of its own:\n{output}"
        );
        assert!(output.contains(&format!("{id}: no interpreter can run it here")), "{output}");
    }
    assert!(!app.path(".aws-sam/build/ReaderFunction-Shared").exists());
    assert!(output.contains("ran the static import check instead"), "{output}");
    let built = fs::read_to_string(app.path(".aws-sam/build/template.yaml")).unwrap();
    assert!(built.contains("xtask/layers/SharedLayer"), "the built template ships another layer:\n{built}");
}

/// `BuildMethod: makefile` on functions and a layer: sam runs each one's `build-<LogicalId>`
/// target and what it writes is guarded and smoke-tested like any build output; the layer
/// names no runtime (its users' is taken), and a python3.14 makefile build needs no python3.14.
#[test]
fn makefile_builds_of_functions_and_a_layer_are_guarded_and_smoke_tested() {
    let function = |id: &str, runtime: &str, events: &str| {
        format!("  {id}:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: fn/\n      Handler: app.handler\n      Runtime: {runtime}\n      Layers: [!Ref HelpersLayer]\n{events}    Metadata:\n      BuildMethod: makefile\n")
    };
    let resources = format!(
        "  HelpersLayer:\n    Type: AWS::Serverless::LayerVersion\n    Properties:\n      ContentUri: layers/helpers/\n    Metadata:\n      BuildMethod: makefile\n{}{}",
        function("MakeFunction", "python3.11", "      Events:\n        Nightly:\n          Type: Schedule\n          Properties: {Schedule: rate(1 day)}\n"),
        function("ModernFunction", "python3.14", "")
    );
    let recipe =
        "\tcp app.py \"$(ARTIFACTS_DIR)/\"\n\tprintf 'GENERATED = True\\n' > \"$(ARTIFACTS_DIR)/generated.py\"\n";
    let makefile = format!("build-MakeFunction:\n{recipe}\nbuild-ModernFunction:\n{recipe}");
    let app = App::new(
        &one_line_config("template.yaml"),
        &[
            ("template.yaml", &template(&resources)),
            ("fn/Makefile", &makefile),
            ("fn/app.py", "from generated import GENERATED\nfrom helpers import double\n\n\ndef handler(event, context):\n    return {\"doubled\": double(21), \"generated\": GENERATED}\n"),
            ("layers/helpers/Makefile", "build-HelpersLayer:\n\tmkdir -p \"$(ARTIFACTS_DIR)/python\"\n\tcp helpers.py \"$(ARTIFACTS_DIR)/python/\"\n"),
            ("layers/helpers/helpers.py", "def double(x):\n    return 2 * x\n"),
        ],
    );
    let before = app.status();

    let (status, output) = app.build();

    assert_eq!(status, 0, "{output}");
    assert_eq!(app.status(), before, "{output}");
    assert!(output.contains("layer HelpersLayer: python3.11 in layers/helpers"), "{output}");
    assert!(
        output.contains("MakeFunction: invoking it with a scheduled EventBridge event -> returned dict"),
        "{output}"
    );
    assert!(app.path(".aws-sam/build/HelpersLayer/python/helpers.py").is_file());
    assert!(app.path(".aws-sam/build/ModernFunction/generated.py").is_file(), "{output}");

    // What a makefile writes is judged like any build output: a Windows DLL it copies in fails.
    app.write("fn/Makefile", &format!("{makefile}\tprintf 'MZ' > \"$(ARTIFACTS_DIR)/native.pyd\"\n"));
    let (status, output) = app.build();
    assert_eq!(status, 1, "{output}");
    assert!(output.contains(".aws-sam/build/ModernFunction/native.pyd"), "{output}");
}

/// The adopter wrote the xtask before lambda-init (so lambda-init writes none of it), and a
/// GitHub-style Python .gitignore with a `src/` rule hides its main.rs: lambda-init names it
/// with its rule and a fix that works first try.
#[test]
fn lambda_init_names_an_existing_xtask_file_git_ignores_and_how_to_keep_it() {
    let app = App::new(
        "[workspace]\nmembers = [\"xtask\"]\n",
        &[
            ("template.yaml", &template("  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: hello/\n      Handler: app.handler\n      Runtime: python3.11\n")),
            ("hello/app.py", "def handler(event, context):\n    return {}\n"),
            (".gitignore", "# Distribution / packaging\nbuild/\ndist/\n# a rule some teams add\nsrc/\n"),
        ],
    );
    for (path, text) in XTASK_FILES {
        app.write(path, text);
    }

    let (status, output) = app.xtask(&["lambda-init"]);

    assert_eq!(status, 0, "{output}");
    assert!(output.contains("warning: git ignores xtask/src/main.rs (by .gitignore:5:src/)"), "{output}");
    assert!(output.contains("fix: git add -f xtask/src/main.rs"), "{output}");
    assert!(!output.contains("xtask/Cargo.toml (by"), "{output}");
    assert!(fs::read_to_string(app.path("Cargo.toml")).unwrap().contains("[workspace.metadata.lambda]"));
    // The fix works first try: the file is then in what a clone gets.
    app.git(&["add", "-f", "xtask/src/main.rs"]);
    app.git(&["add", "-A"]);
    let tracked = app.git(&["ls-files"]);
    assert!(tracked.lines().any(|l| l == "xtask/src/main.rs"), "{tracked}");
}

/// Bad input in a template, one line each, exit 2, nothing changed: a byte that is not UTF-8
/// (with its line), a template over the node budget without aliases (not an "alias bomb"),
/// an intrinsic Handler, a CodeUri naming a missing dir.
#[test]
fn template_bad_input_is_one_line_that_names_the_problem() {
    let function = |properties: &str| {
        template(&format!(
            "  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: python3.11\n{properties}"
        ))
    };
    let big = format!(
        "{}Metadata:\n  Numbers: [{}]\n",
        function("      CodeUri: hello/\n      Handler: app.handler\n"),
        vec!["1"; 1_000_100].join(",")
    );
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            [
                function("      CodeUri: hello/\n      Handler: app.handler\n").as_bytes(),
                b"      Description: caf\xe9\n",
            ]
            .concat(),
            "SAM template template.yaml:10:23: byte 0xe9 is not UTF-8",
        ),
        (big.into_bytes(), "has more than 1000000 YAML nodes"),
        (
            function("      CodeUri: hello/\n      Handler: !Sub '${Module}.handler'\n").into_bytes(),
            "Handler in template.yaml is !Sub ${Module}.handler, an intrinsic function",
        ),
        (
            function("      CodeUri: helo/\n      Handler: app.handler\n").into_bytes(),
            "CodeUri helo/ in template.yaml names helo, which does not exist",
        ),
    ];
    for (text, expected) in cases {
        let app =
            App::new(&one_line_config("template.yaml"), &[("hello/app.py", "def handler(e, c):\n    return {}\n")]);
        fs::write(app.path("template.yaml"), &text).unwrap();
        for args in [&["lambda-build", "--container", "never"][..], &["lambda-check"][..]] {
            let before = crate::support::snapshot(app.dir.path());
            let (status, output) = app.xtask(args);
            assert_eq!(status, 2, "{args:?}: {output}");
            assert_eq!(output.trim().lines().count(), 1, "{args:?}: {output}");
            assert!(output.contains(expected), "{args:?}: {output}");
            assert!(!output.contains("alias"), "{output}");
            assert_eq!(before, crate::support::snapshot(app.dir.path()), "{args:?} changed the tree");
        }
    }
}

/// Work done once: a build with --container never is current for the default mode when no
/// Docker answers (both build natively), which is what lambda-deploy asks; lambda-check with
/// no build output for a function fails, naming it and the fix.
#[test]
fn a_native_build_is_current_whatever_flag_chose_it_and_a_check_of_nothing_fails() {
    if docker_answers() {
        eprintln!("skipped: with Docker, auto builds in a container");
        return;
    }
    let app = App::new(
        &one_line_config("template.yaml"),
        &[
            ("template.yaml", &template("  HelloFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: hello/\n      Handler: app.lambda_handler\n      Runtime: python3.11\n")),
            ("hello/app.py", "def lambda_handler(event, context):\n    return {}\n"),
            ("hello/requirements.txt", ""),
        ],
    );
    let (status, output) = app.xtask(&["lambda-check"]);
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("no build output for HelloFunction (.aws-sam/build/HelloFunction)"), "{output}");
    assert!(output.contains("cargo xtask lambda-build"), "{output}");

    let (status, output) = app.build();
    assert_eq!(status, 0, "{output}");
    let (status, output) = app.xtask(&["lambda-build"]);
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("up to date"), "the default mode rebuilt what --container never built:\n{output}");
    let (status, output) = app.xtask(&["lambda-check"]);
    assert_eq!(status, 0, "{output}");
}

/// template.yml in flow style, as real apps write it: `!Sub [..., ID: !Select [...]]` with the
/// implicit key on its own line, closing brackets at their key's indent, comments inside flow
/// collections, quoted keys, both forms of !GetAtt, merge keys and a long folded string.
#[test]
fn a_flow_style_template_yml_builds_as_sam_reads_it() {
    let template_yml = r#"AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Description: >-
  An orders API, written the way
  real templates are.
Parameters:
  Stage: {Type: String, Default: "dev-blue"}
Globals:
  Function: &defaults
    Runtime: python3.11
    Timeout: 10
    Architectures: [
      x86_64
    ]
Resources:
  "OrdersQueue": {Type: AWS::SQS::Queue}
  OrdersFunction:
    Type: AWS::Serverless::Function
    Properties:
      <<: {MemorySize: 256}
      CodeUri: orders/
      'Handler': app.handler
      FunctionName: !Sub [
        "orders-${Color}",
        Color: !Select [1, !Split ["-", !Ref Stage]]
      ]
      Environment:
        Variables: {
          QUEUE_ARN: !GetAtt OrdersQueue.Arn,   # short form
          QUEUE_URL: !GetAtt [OrdersQueue, QueueUrl],  # list form
          STAGE: !Ref Stage,
          ACCOUNT: 012345678901
        }
      Events:
        Create: {Type: Api, Properties: {Path: /orders, Method: post}}
"#;
    let handler = "import os\n\n\ndef handler(event, context):\n    assert os.environ[\"ACCOUNT\"] == \"012345678901\"\n    assert os.environ[\"QUEUE_ARN\"].startswith(\"xtask-placeholder(!GetAtt OrdersQueue.Arn\")\n    return {\"statusCode\": 201, \"body\": os.environ[\"STAGE\"]}\n";
    let app = App::new(
        &one_line_config("template.yml"),
        &[("template.yml", template_yml), ("orders/app.py", handler), ("orders/requirements.txt", "")],
    );
    let before = app.status();

    let (status, output) = app.build();

    assert_eq!(status, 0, "{output}");
    assert_eq!(app.status(), before, "{output}");
    assert!(output.contains("function OrdersFunction: python3.11 x86_64 in orders"), "{output}");
    assert!(
        output.contains("OrdersFunction: invoking it with API Gateway REST (v1) POST /orders -> statusCode 201"),
        "{output}"
    );
}
