//! lambda-deploy on apps of the shapes real SAM apps have, written here: the `sam init` hello
//! world (no Parameters, no samconfig.toml), a Step Functions app of three functions and a
//! state machine with no API, and a template whose every parameter has a default. Each runs
//! the real xtask, the real SAM CLI and the real aws CLI against a real moto server, with no
//! edit to the app beyond the xtask's table in the root Cargo.toml.

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::deploy::*;
use crate::support::{run, FakeBin, RepoCopy};

pub type Files = Vec<(String, String)>;

/// An app in a directory of its own (named like `hello-app-XXXXXX`), committed to git.
pub fn app(name: &str, files: &Files, lambda_table: &str) -> RepoCopy {
    let repo = RepoCopy { dir: tempfile::Builder::new().prefix(&format!("{name}-")).tempdir().unwrap() };
    for (path, text) in files {
        repo.write(path, text);
    }
    repo.write("Cargo.toml", &format!("[workspace]\nmembers = []\n\n[workspace.metadata.lambda]\n{lambda_table}"));
    git_commit(&repo);
    repo
}

/// The xtask's table as README tells a newcomer to write it: the template line (the functions
/// are discovered from it), plus the samconfig and a short sam timeout for the tests.
pub fn lambda_table() -> String {
    "template = \"template.yaml\"\nsamconfig = \"samconfig.toml\"\nsam_timeout_minutes = 5\n".to_string()
}

const HELLO_TEMPLATE: &str = r#"AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: >
  hello-app: a sample SAM template for a Python function behind API Gateway

Globals:
  Function:
    Timeout: 3
    MemorySize: 128

Resources:
  HelloWorldFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello_world/
      Handler: app.lambda_handler
      Runtime: python3.11
      Architectures:
        - x86_64
      Events:
        HelloWorld:
          Type: Api
          Properties:
            Path: /hello
            Method: get

Outputs:
  HelloWorldApi:
    Description: API Gateway endpoint URL for Prod stage for Hello World function
    Value: !Sub "https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/Prod/hello/"
  HelloWorldFunction:
    Description: Hello World Lambda Function ARN
    Value: !GetAtt HelloWorldFunction.Arn
  HelloWorldFunctionIamRole:
    Description: Implicit IAM Role created for Hello World function
    Value: !GetAtt HelloWorldFunctionRole.Arn
"#;

const HELLO_APP: &str = r#"import json


def lambda_handler(event, context):
    """Sample pure Lambda function: answers GET /hello through API Gateway."""
    return {
        "statusCode": 200,
        "body": json.dumps({"message": "hello world"}),
    }
"#;

pub fn files(list: &[(&str, &str)]) -> Files {
    list.iter().map(|(path, text)| (path.to_string(), text.to_string())).collect()
}

fn hello_files(template: &str) -> Files {
    files(&[
        ("template.yaml", template),
        ("hello_world/__init__.py", ""),
        ("hello_world/app.py", HELLO_APP),
        ("hello_world/requirements.txt", ""),
        ("events/event.json", "{\"httpMethod\": \"GET\", \"path\": \"/hello\"}\n"),
        ("README.md", "# hello-app\n"),
    ])
}

fn hello_table(extra: &str) -> String {
    lambda_table() + extra
}

/// The rehearsal as a user runs it: no AWS variables at all.
pub fn rehearsal(repo: &RepoCopy) -> Command {
    let mut command = repo.xtask();
    command.args(["lambda-deploy", "--env", "local", "--container", "never"]);
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
    command
}

fn git_status(repo: &RepoCopy) -> String {
    let out = Command::new("git").args(["status", "--porcelain"]).current_dir(repo.dir.path()).output().unwrap();
    String::from_utf8(out.stdout).unwrap()
}

pub fn stack_name_of(repo: &RepoCopy) -> String {
    let dir = repo.dir.path().file_name().unwrap().to_string_lossy().into_owned();
    format!("{}-local", dir.trim_start_matches(|c: char| !c.is_ascii_alphabetic()).replace(['.', '_'], "-"))
}

#[test]
fn the_hello_world_without_parameters_or_samconfig_rehearses_with_defaults_and_no_vpc() {
    let repo = app("hello-app", &hello_files(HELLO_TEMPLATE), &hello_table(""));
    assert!(!repo.path("samconfig.toml").exists());

    let (status, output) = run(&mut rehearsal(&repo));
    assert_eq!(status, 0, "{output}");
    let stack = stack_name_of(&repo);
    assert!(
        output.contains(&format!(
            "rehearsal defaults (no [local.deploy.parameters] in samconfig.toml): stack {stack}, bucket {}-artifacts, region us-east-1",
            stack.to_lowercase()
        )),
        "{output}"
    );
    assert!(
        output.contains("no VPC: no function has a VpcConfig, and no parameter is a VPC, subnet or security group id"),
        "{output}"
    );
    assert!(!output.contains("create-vpc") && !output.contains("Secrets Manager endpoint vpce-"), "{output}");
    assert!(!output.contains("--parameter-overrides"), "{output}");
    assert!(output.contains(&format!("Successfully created/updated stack - {stack} in us-east-1")), "{output}");
    assert!(output.contains("HelloWorldFunction: smoke test passed: 200 {\"message\": \"hello world\"}"), "{output}");

    let lines = audit_lines(&repo);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let record = &lines[0];
    assert_eq!(record["result"], "succeeded");
    assert_eq!(record["env"], "local");
    assert_eq!(record["stack"], stack.as_str());
    assert_eq!(record["health_check"]["check"], "smoke-test");
    assert_eq!(record["health_check"]["functions"][0]["function"], "HelloWorldFunction");
    assert_eq!(record["health_check"]["passed"], true);

    // The app has no .gitignore: the xtask's own .aws-sam/ and audit log are there, untracked,
    // and still the tree is clean to the next deploy; no tracked file changed.
    let status_text = git_status(&repo);
    assert!(status_text.contains("?? .aws-sam/") && status_text.contains("?? deploy-log.jsonl"), "{status_text}");
    assert!(status_text.lines().all(|l| l.starts_with("??")), "a tracked file changed:\n{status_text}");
    let (status, output) = run(rehearsal(&repo).arg("--skip-build"));
    assert_eq!(status, 0, "{output}");
    let second = &audit_lines(&repo)[1];
    assert_eq!(second["dirty"], false, "{second}");
}

const STOCK_TEMPLATE: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Description: >
  stock-trader: a state machine that checks a stock price and buys or sells

Globals:
  Function:
    Runtime: python3.11
    Architectures: [x86_64]
    Timeout: 5

Resources:
  StockTradingStateMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: statemachine/stock_trader.asl.json
      DefinitionSubstitutions:
        StockCheckerFunctionArn: !GetAtt StockCheckerFunction.Arn
        StockSellerFunctionArn: !GetAtt StockSellerFunction.Arn
        StockBuyerFunctionArn: !GetAtt StockBuyerFunction.Arn
        DDBPutItem: !Sub arn:${AWS::Partition}:states:::dynamodb:putItem
        DDBTable: !Ref TransactionTable
      Events:
        HourlyTradingSchedule:
          Type: Schedule
          Properties:
            Description: Schedule to run the stock trading state machine every hour
            Enabled: false
            Schedule: "rate(1 hour)"
      Policies:
        - LambdaInvokePolicy:
            FunctionName: !Ref StockCheckerFunction
        - LambdaInvokePolicy:
            FunctionName: !Ref StockSellerFunction
        - LambdaInvokePolicy:
            FunctionName: !Ref StockBuyerFunction
        - DynamoDBWritePolicy:
            TableName: !Ref TransactionTable

  StockCheckerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/stock_checker/
      Handler: app.lambda_handler

  StockSellerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/stock_seller/
      Handler: app.lambda_handler

  StockBuyerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/stock_buyer/
      Handler: app.lambda_handler

  TransactionTable:
    Type: AWS::Serverless::SimpleTable
    Properties:
      PrimaryKey:
        Name: Id
        Type: String

Outputs:
  StockTradingStateMachineArn:
    Description: Stock Trading State machine ARN
    Value: !Ref StockTradingStateMachine
  StockTradingStateMachineRoleArn:
    Description: IAM Role created for Stock Trading State machine based on the specified SAM Policy Templates
    Value: !GetAtt StockTradingStateMachineRole.Arn
"#;

const STOCK_ASL: &str = r#"{
  "Comment": "A state machine that does mock stock trading.",
  "StartAt": "Check Stock Value",
  "States": {
    "Check Stock Value": {"Type": "Task", "Resource": "${StockCheckerFunctionArn}", "Next": "Buy or Sell?"},
    "Buy or Sell?": {
      "Type": "Choice",
      "Choices": [{"Variable": "$.stock_price", "NumericLessThanEquals": 50, "Next": "Buy Stock"}],
      "Default": "Sell Stock"
    },
    "Sell Stock": {"Type": "Task", "Resource": "${StockSellerFunctionArn}", "Next": "Record Transaction"},
    "Buy Stock": {"Type": "Task", "Resource": "${StockBuyerFunctionArn}", "Next": "Record Transaction"},
    "Record Transaction": {
      "Type": "Task",
      "Resource": "${DDBPutItem}",
      "Parameters": {"TableName": "${DDBTable}", "Item": {"Id": {"S.$": "$.id"}}},
      "End": true
    }
  }
}
"#;

const STOCK_CHECKER: &str = r#"from random import randint


def lambda_handler(event, context):
    """A state machine task: returns the stock price, no API involved."""
    return {"stock_price": randint(0, 100)}
"#;

const STOCK_TRADE: &str = r#"from datetime import datetime
from random import randint
from uuid import uuid4


def lambda_handler(event, context):
    stock_price = event["stock_price"]
    return {
        "id": str(uuid4()),
        "price": str(stock_price),
        "type": "trade",
        "qty": str(randint(1, 10)),
        "timestamp": datetime.now().isoformat(),
    }
"#;

fn stock_repo() -> RepoCopy {
    let mut files = files(&[("template.yaml", STOCK_TEMPLATE), ("statemachine/stock_trader.asl.json", STOCK_ASL)]);
    for dir in ["stock_checker", "stock_seller", "stock_buyer"] {
        let code = if dir == "stock_checker" { STOCK_CHECKER } else { STOCK_TRADE };
        files.push((format!("functions/{dir}/app.py"), code.to_string()));
        files.push((format!("functions/{dir}/__init__.py"), String::new()));
        files.push((format!("functions/{dir}/requirements.txt"), String::new()));
    }
    let table =
        lambda_table() + "\n[workspace.metadata.lambda.deploy.environments.staging]\nsecret_prefix = \"stock/\"\n";
    let samconfig = format!(
        "version = 0.1\n\n[staging.deploy.parameters]\nstack_name = \"stock-trader-staging\"\nregion = \"{REGION}\"\ncapabilities = \"CAPABILITY_IAM\"\ns3_bucket = \"{BUCKET}\"\n"
    );
    files.push(("samconfig.toml".into(), samconfig));
    app("stock-trader", &files, &table)
}

#[test]
fn a_state_machine_app_without_an_api_rehearses_and_deploys_with_the_checks_that_fit() {
    let repo = stock_repo();

    // Each task's smoke test fits its event source (a state machine's task gets no API event),
    // so nothing needs --allow.
    let (status, output) = run(&mut rehearsal(&repo));
    assert_eq!(status, 0, "{output}");
    assert!(!output.contains("--allow"), "{output}");
    assert!(
        output.contains("no VPC: no function has a VpcConfig, and no parameter is a VPC, subnet or security group id"),
        "{output}"
    );
    assert!(!output.contains("--parameter-overrides"), "{output}");
    let record = &audit_lines(&repo)[0];
    assert_eq!(record["result"], "succeeded", "{record}");
    assert_eq!(record["env"], "local");
    assert_eq!(record["health_check"]["check"], "smoke-test");
    let functions: Vec<&str> = record["health_check"]["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["function"].as_str().unwrap())
        .collect();
    assert_eq!(functions, ["StockCheckerFunction", "StockSellerFunction", "StockBuyerFunction"]);

    // A real environment (moto standing in for the account): no API output, so no HTTP check,
    // and the audit line says so.
    let moto = Moto::start();
    moto.aws(&["s3api", "create-bucket", "--bucket", BUCKET]);
    let mut deploy = repo.xtask();
    deploy.args(["lambda-deploy", "--env", "staging", "--skip-build"]);
    moto.apply(&mut deploy);
    let (status, output) = run(&mut deploy);
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("no check: template.yaml has no execute-api URL output"), "{output}");
    assert_eq!(moto.stack("stock-trader-staging").unwrap()["StackStatus"], "CREATE_COMPLETE");
    let record = &audit_lines(&repo)[1];
    assert_eq!(record["env"], "staging");
    assert_eq!(record["health_check"]["check"], "none");
    assert!(record["health_check"]["answer"].as_str().unwrap().contains("no execute-api URL output"), "{record}");

    let (status, output) = run(rehearsal(&repo).args(["--allow", "no-such-guard"]));
    assert_eq!(status, 2, "{output}");
    assert!(output.contains("--allow no-such-guard: no such guard"), "{output}");
}

const DEFAULTS_TEMPLATE: &str = r#"AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: hello-app with parameters that all have defaults

Parameters:
  Stage:
    Type: String
    Default: Prod
    AllowedValues: [Prod, Dev]
  LogLevel:
    Type: String
    Default: INFO
  HealthBase:
    Type: String
    Description: Where the app's status page answers
    Default: http://127.0.0.1:9

Globals:
  Function:
    Timeout: 3
    Environment:
      Variables:
        LOG_LEVEL: !Ref LogLevel
        STAGE: !Ref Stage

Resources:
  HelloWorldFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello_world/
      Handler: app.lambda_handler
      Runtime: python3.11
      Events:
        HelloWorld:
          Type: Api
          Properties:
            Path: /hello
            Method: get
  DeployNotifications:
    Type: AWS::SNS::Topic

Outputs:
  HelloWorldApi:
    Value: !Sub "https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/${Stage}/hello/"
  StatusPage:
    Description: The app's status page
    Value: !Sub "${HealthBase}/status"
"#;

/// moto computes no Outputs for a stack made by a change set (sam deploy's way), so the
/// describe-stacks answer gets the one CloudFormation would have: StatusPage, `${HealthBase}/status`
/// from the stack's own parameter. Every call still goes to the real aws CLI and moto.
fn aws_with_computed_outputs(bin: &FakeBin) {
    let script = r#"import json, sys
answer = json.load(sys.stdin)
for stack in answer.get("Stacks", []):
    base = next((p["ParameterValue"] for p in stack.get("Parameters", []) if p["ParameterKey"] == "HealthBase"), None)
    if base is not None:
        stack["Outputs"] = [{"OutputKey": "StatusPage", "OutputValue": base + "/status"}]
print(json.dumps(answer))"#;
    bin.add_script(
        "aws",
        &format!(
            "case \"$*\" in\n  'cloudformation describe-stacks'*)\n    out=$('{real}' \"$@\") || exit $?\n    printf '%s' \"$out\" | python3 -c '{script}'\n    exit 0 ;;\nesac\nexec '{real}' \"$@\"",
            real = aws_cli().display()
        ),
    );
}

fn parameter<'a>(stack: &'a Value, key: &str) -> Option<&'a str> {
    stack["Parameters"].as_array()?.iter().find(|p| p["ParameterKey"] == key)?["ParameterValue"].as_str()
}

#[test]
fn every_parameter_defaulted_deploys_with_no_overrides_and_a_named_output_is_health_checked() {
    let samconfig = format!(
        "version = 0.1\n\n[staging.deploy.parameters]\nstack_name = \"hello-staging\"\nregion = \"{REGION}\"\ncapabilities = \"CAPABILITY_IAM\"\ns3_bucket = \"{BUCKET}\"\n"
    );
    let mut files = hello_files(DEFAULTS_TEMPLATE);
    files.push(("samconfig.toml".into(), samconfig));
    let settings = "\n[workspace.metadata.lambda.deploy.environments.staging]\nhealth_check = \"off\"\n";
    let repo = app("hello-app", &files, &hello_table(settings));
    let moto = Moto::start();
    moto.aws(&["s3api", "create-bucket", "--bucket", BUCKET]);
    let bin = FakeBin::new();
    aws_with_computed_outputs(&bin);
    let deploy = |repo: &RepoCopy| {
        let mut command = repo.xtask();
        command.args(["lambda-deploy", "--env", "staging", "--container", "never"]).env("PATH", bin.path_env());
        moto.apply(&mut command);
        command
    };

    let (status, output) = run(&mut deploy(&repo));
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("health_check = \"off\" for staging: no check"), "{output}");
    let stack = moto.stack("hello-staging").unwrap();
    assert_eq!(parameter(&stack, "Stage"), Some("Prod"));
    assert_eq!(parameter(&stack, "LogLevel"), Some("INFO"));
    assert_eq!(audit_lines(&repo)[0]["health_check"]["check"], "off");

    // The check names the output, a path under it, the status and part of the body.
    let health = HealthServer::healthy();
    let base = health.url().trim_end_matches("/health").to_string();
    repo.append("samconfig.toml", &format!("parameter_overrides = [\"HealthBase={base}\"]\n"));
    let manifest = fs::read_to_string(repo.path("Cargo.toml")).unwrap().replace(
        "health_check = \"off\"",
        "health_check = { output = \"StatusPage\", path = \"/health\", expect_status = 200, expect_json = { status = \"healthy\" } }",
    );
    repo.write("Cargo.toml", &manifest);
    // The two edited files only: the app has no .gitignore, and a tracked `.aws-sam/` is
    // refused (exit 2) as the build's own work dir.
    git_commit_paths(&repo, &["samconfig.toml", "Cargo.toml"]);
    let (status, output) = run(&mut deploy(&repo));
    assert_eq!(status, 0, "{output}");
    let url = format!("{base}/status/health");
    assert!(output.contains(&format!("GET {url}: 200 {{\"status\":\"healthy\",\"mode\":\"lazy\"}}")), "{output}");
    let check = &audit_lines(&repo)[1]["health_check"];
    assert_eq!(check["check"], "http");
    assert_eq!(check["output"], "StatusPage");
    assert_eq!(check["url"], url.as_str());
    assert_eq!(check["expected"], "200 with {\"status\":\"healthy\"}");
    assert_eq!(check["answer"], "200 {\"status\":\"healthy\",\"mode\":\"lazy\"}");
    assert_eq!(check["passed"], true);
}

/// Records where each aws and sam call went, then runs the real tool.
fn recording_wrappers(bin: &FakeBin) {
    for (name, real) in [("aws", aws_cli()), ("sam", real_sam())] {
        bin.add_script(
            name,
            &format!(
                "echo \"endpoint=${{AWS_ENDPOINT_URL:-none}} profile=${{AWS_PROFILE:-none}} key=${{AWS_ACCESS_KEY_ID:-none}} $1 $2\" >> '{}'\nexec '{}' \"$@\"",
                bin.dir.path().join(format!("{name}.endpoints")).display(),
                real.display()
            ),
        );
    }
}

#[test]
fn a_samconfig_environment_named_local_never_reaches_a_real_account() {
    // A local table of the user's own, and no rehearsal = true anywhere.
    let samconfig = "version = 0.1\n\n[default.deploy.parameters]\nstack_name = \"hello-app\"\nresolve_s3 = true\nconfirm_changeset = true\n\n[local.deploy.parameters]\nstack_name = \"hello-mine\"\nregion = \"us-east-1\"\ncapabilities = \"CAPABILITY_IAM\"\n";
    let mut files = hello_files(HELLO_TEMPLATE);
    files.push(("samconfig.toml".into(), samconfig.to_string()));
    let repo = app("hello-app", &files, &hello_table(""));
    let bin = FakeBin::new();
    recording_wrappers(&bin);
    // The user's real profile, as `aws configure sso` leaves it.
    let config = bin.dir.path().join("aws-config");
    fs::write(&config, "[profile real-admin]\nsso_session = corp\nsso_account_id = 051826703172\nsso_role_name = Admin\nregion = us-east-1\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n").unwrap();

    let mut command = repo.xtask();
    command
        .args(["lambda-deploy", "--env", "local", "--container", "never"])
        .env("PATH", bin.path_env())
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_PROFILE", "real-admin")
        .env("AWS_ACCESS_KEY_ID", "AKIAREALLOOKING12345")
        .env("AWS_SECRET_ACCESS_KEY", "real-looking-secret-key")
        .env_remove("AWS_ENDPOINT_URL");
    let (status, output) = run(&mut command);
    assert_eq!(status, 0, "{output}");
    assert!(
        output.contains(
            "rehearsal defaults (not set in [local.deploy.parameters] of samconfig.toml): bucket hello-mine-artifacts"
        ),
        "{output}"
    );
    assert!(output.contains("Successfully created/updated stack - hello-mine in us-east-1"), "{output}");
    let mut calls = String::new();
    for name in ["aws", "sam"] {
        calls.push_str(&fs::read_to_string(bin.dir.path().join(format!("{name}.endpoints"))).unwrap_or_default());
    }
    let to_aws: Vec<&str> = calls.lines().filter(|l| !l.contains(" build")).collect();
    assert!(to_aws.iter().any(|l| l.contains("sts get-caller-identity")), "{calls}");
    assert!(to_aws.iter().any(|l| l.contains(" deploy")), "{calls}");
    for call in &to_aws {
        assert!(call.starts_with("endpoint=http://localhost:"), "a call not to moto: {call}");
        assert!(call.contains("profile=none key=rehearsal"), "the user's profile or key reached a call: {call}");
    }
    assert_eq!(audit_lines(&repo)[0]["rehearsal"], true);
}

fn without_credentials(command: &mut Command) -> &mut Command {
    command
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_DEFAULT_REGION", REGION)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
}

#[test]
fn missing_or_rejected_credentials_are_one_line_and_exit_2_before_the_build() {
    let samconfig = format!(
        "version = 0.1\n\n[dev.deploy.parameters]\nstack_name = \"hello-dev\"\nregion = \"{REGION}\"\ns3_bucket = \"{BUCKET}\"\n\n[sso.deploy.parameters]\nstack_name = \"hello-sso\"\nregion = \"{REGION}\"\nprofile = \"dev-admin\"\n"
    );
    let mut files = hello_files(HELLO_TEMPLATE);
    files.push(("samconfig.toml".into(), samconfig));
    let settings = "\n[workspace.metadata.lambda.deploy.environments.dev]\naccount_id = \"051826703172\"\n";
    let repo = app("hello-app", &files, &hello_table(settings));
    let check = |command: &mut Command, expected: &[&str]| {
        let (status, output) = run(command);
        assert_eq!(status, 2, "{output}");
        assert_eq!(output.trim().lines().count(), 1, "not one line:\n{output}");
        for text in expected {
            assert!(output.contains(text), "{text:?} missing:\n{output}");
        }
        assert!(!repo.path(".aws-sam/build").exists(), "the build ran");
        assert!(audit_lines(&repo).is_empty(), "an attempt was recorded");
    };

    // None at all.
    check(
        without_credentials(repo.xtask().args(["lambda-deploy", "--env", "dev"])),
        &[
            "no valid AWS credentials for dev, which expects account 051826703172",
            "Unable to locate credentials",
            "aws sso login --profile <profile for account 051826703172>",
        ],
    );
    // A profile that is not configured (an SSO login never made on this machine).
    check(
        without_credentials(repo.xtask().args(["lambda-deploy", "--env", "sso"])),
        &["no valid AWS credentials for sso", "aws sso login --profile dev-admin"],
    );
    // In CI: the OIDC role.
    check(
        without_credentials(repo.xtask().args(["lambda-deploy", "--env", "dev"]).env("CI", "true")),
        &["OIDC role in account 051826703172", "role-to-assume"],
    );
    // Rejected by the service: moto checking keys like STS does.
    let moto = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]);
    let mut command = repo.xtask();
    command.args(["lambda-deploy", "--env", "dev"]);
    moto.apply(&mut command);
    check(command.env("AWS_ACCESS_KEY_ID", "AKIAEXPIREDKEY123456"), &["InvalidClientTokenId"]);
}

#[test]
fn a_dirty_tree_refusal_names_the_files_and_its_fix_leaves_the_xtask_outputs_alone() {
    let mut files = hello_files(HELLO_TEMPLATE);
    let samconfig = format!("version = 0.1\n\n[prod.deploy.parameters]\nstack_name = \"hello-prod\"\nregion = \"{REGION}\"\ns3_bucket = \"{BUCKET}\"\n");
    files.push(("samconfig.toml".into(), samconfig));
    let settings = "\n[workspace.metadata.lambda.deploy.environments.prod]\naccount_id = \"051826703172\"\naudit_bucket = \"hello-audit\"\n";
    let repo = app("hello-app", &files, &hello_table(settings));
    // The xtask's outputs, not ignored by this app, and the user's own changes.
    repo.write(".aws-sam/build/template.yaml", "built\n");
    repo.write("deploy-log.jsonl", "{}\n");
    repo.write("report.json", "{}\n");
    repo.write("hello_world/app.py", &format!("{HELLO_APP}\n# edited\n"));
    for i in 0..11 {
        repo.write(&format!("notes/n{i:02}.txt"), "draft\n");
    }
    let bin = FakeBin::new();
    bin.add("aws", 0);
    bin.add("sam", 0);

    let mut command = repo.xtask();
    command.args(["--json", "report.json", "lambda-deploy", "--env", "prod", "--yes"]).env("PATH", bin.path_env());
    let (status, output) = run(&mut command);
    assert_eq!(status, 1, "{output}");
    assert!(
        output.contains("prod is a protected environment and the working tree has uncommitted or untracked changes in 12 files: hello_world/app.py, notes/n00.txt,"),
        "{output}"
    );
    assert!(output.contains("notes/n08.txt and 2 more"), "{output}");
    for own in [".aws-sam", "deploy-log.jsonl", "report.json"] {
        assert!(!output.contains(&format!(", {own}")), "{own} listed as a change:\n{output}");
    }
    assert!(!bin.was_called("aws") && !bin.was_called("sam"));

    // The suggested fix, as printed, sets aside the user's changes and nothing of the xtask's.
    let fix = output
        .lines()
        .find_map(|l| l.split("set them aside with ").nth(1))
        .and_then(|rest| rest.split(" (it leaves").next())
        .expect("the stash command in the fix")
        .to_string();
    assert!(fix.starts_with("git stash push --include-untracked -- . "), "{fix}");
    let status = Command::new("sh").args(["-c", &fix]).current_dir(repo.dir.path()).status().unwrap();
    assert!(status.success(), "{fix}");
    assert!(
        !repo.path("notes").exists()
            && !fs::read_to_string(repo.path("hello_world/app.py")).unwrap().contains("edited")
    );
    for own in [".aws-sam/build/template.yaml", "deploy-log.jsonl", "report.json"] {
        assert!(repo.path(own).exists(), "the fix removed {own}");
    }
    assert!(Path::new(&repo.path(".aws-sam")).is_dir());
}

/// A python3.14 hello world, on a machine with no python3.14 and no Docker, configured by the
/// one line `template = "template.yaml"`: the rehearsal builds it with SAM's python-uv method,
/// deploys it into moto, and its check is the static import check that stands in for the smoke
/// test where no interpreter can run the code. One audit line names the env and that check.
#[test]
fn a_python_3_14_function_rehearses_without_python_3_14() {
    let has_python_3_14 =
        which::which("python3.14").is_ok_and(|p| Command::new(p).arg("-V").status().is_ok_and(|s| s.success()));
    let docker_answers = std::os::unix::net::UnixStream::connect("/var/run/docker.sock").is_ok();
    if has_python_3_14 || docker_answers {
        eprintln!("skipped: this machine has Docker or a python3.14, so python-uv would not be used");
        return;
    }
    let template = HELLO_TEMPLATE.replace("Runtime: python3.11", "Runtime: python3.14");
    let repo = app("hello314", &hello_files(&template), "template = \"template.yaml\"\n");

    let (status, output) = run(&mut rehearsal(&repo));

    assert_eq!(status, 0, "{output}");
    assert!(output.contains("built with SAM's python-uv build method"), "{output}");
    assert!(output.contains("ran the static import check instead"), "{output}");
    let stack = stack_name_of(&repo);
    assert!(output.contains(&format!("Successfully created/updated stack - {stack} in us-east-1")), "{output}");
    let lines = audit_lines(&repo);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["result"], "succeeded");
    assert_eq!(lines[0]["env"], "local");
    assert_eq!(lines[0]["health_check"]["check"], "smoke-test");
    assert_eq!(lines[0]["health_check"]["functions"][0]["function"], "HelloWorldFunction");
    assert!(git_status(&repo).lines().all(|l| l.starts_with("??")), "a tracked file changed");
}
