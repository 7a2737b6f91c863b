//! The rehearsal (`lambda-deploy --env local`) on apps whose plain CloudFormation refers to what
//! the SAM transform generates (a state machine calling `!GetAtt Fn.Arn`, an SNS subscription,
//! `!Ref Fn.Alias`, the function's generated role), on templates whose parameters are of
//! AWS-specific types or constrained, and what it leaves for `lambda-doctor --env local`.
//! Each app is written here in the shape of real ones; the real xtask, SAM CLI, aws CLI and
//! moto run. What the rehearsal's moto held is read back by replaying its recorded requests
//! into another moto, as the doctor does.

use std::fs;
use std::process::Command;

use crate::deploy_any_app::{app, files, lambda_table, rehearsal, stack_name_of, Files};
use crate::support::deploy::*;
use crate::support::{run, FakeBin, RepoCopy};

const HANDLER: &str = r#"import json


def lambda_handler(event, context):
    """Answers with what it was given."""
    return {"statusCode": 200, "body": json.dumps({"received": event})}
"#;

/// A function dir with the handler, as `sam init` lays one out.
fn with_function(mut files: Files, dir: &str) -> Files {
    files.push((format!("{dir}/app.py"), HANDLER.to_string()));
    files.push((format!("{dir}/__init__.py"), String::new()));
    files.push((format!("{dir}/requirements.txt"), String::new()));
    files
}

/// Logical id to physical id of each resource of the stack.
fn resources(moto: &Moto, stack: &str) -> Vec<(String, String)> {
    let answer = moto.aws(&["cloudformation", "describe-stack-resources", "--stack-name", stack]);
    answer["StackResources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["LogicalResourceId"].as_str().unwrap().to_string(), r["PhysicalResourceId"].to_string().replace('"', ""))
        })
        .collect()
}

fn physical(resources: &[(String, String)], logical: &str) -> String {
    resources.iter().find(|(l, _)| l == logical).unwrap_or_else(|| panic!("no {logical} in {resources:?}")).1.clone()
}

fn function_arn(moto: &Moto, name: &str) -> String {
    moto.aws(&["lambda", "get-function", "--function-name", name])["Configuration"]["FunctionArn"]
        .as_str()
        .unwrap()
        .to_string()
}

const ORDER_FLOW_TEMPLATE: &str = r#"AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: order-flow, a plain state machine calling a SAM function

Resources:
  ValidateOrderFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: validate_order/
      Handler: app.lambda_handler
      Runtime: python3.11

  OrderQueue:
    Type: AWS::SQS::Queue

  # The function's generated role gets one more policy, as teams add one.
  ValidateOrderQueueAccess:
    Type: AWS::IAM::Policy
    Properties:
      PolicyName: send-orders
      Roles: [!Ref ValidateOrderFunctionRole]
      PolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Effect: Allow
            Action: sqs:SendMessage
            Resource: !GetAtt OrderQueue.Arn

  OrderFlowRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Effect: Allow
            Principal: {Service: states.amazonaws.com}
            Action: sts:AssumeRole
      Policies:
        - PolicyName: invoke-validate
          PolicyDocument:
            Version: '2012-10-17'
            Statement:
              - Effect: Allow
                Action: lambda:InvokeFunction
                Resource: !GetAtt ValidateOrderFunction.Arn

  OrderFlow:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      RoleArn: !GetAtt OrderFlowRole.Arn
      DefinitionString: |-
        {"StartAt": "Validate", "States": {"Validate": {"Type": "Task", "Resource": "${ValidateArn}", "End": true}}}
      DefinitionSubstitutions:
        ValidateArn: !GetAtt ValidateOrderFunction.Arn
"#;

#[test]
fn a_plain_state_machine_calling_a_sam_function_is_rehearsed_with_the_real_function_and_read_back_by_the_doctor() {
    let repo = app(
        "order-flow",
        &with_function(files(&[("template.yaml", ORDER_FLOW_TEMPLATE)]), "validate_order"),
        &lambda_table(),
    );
    assert!(!repo.path("samconfig.toml").exists());
    let (status, output) = run(&mut rehearsal(&repo));
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("[lambda-deploy] sam-transform done"), "{output}");
    assert!(
        output
            .contains("ValidateOrderFunction: runs the build's package, python3.11 x86_64, handler app.lambda_handler"),
        "{output}"
    );

    let stack = stack_name_of(&repo);
    let moto = replayed_rehearsal(repo.dir.path());
    let resources = resources(&moto, &stack);
    let function = physical(&resources, "ValidateOrderFunction");
    let arn = function_arn(&moto, &function);
    let machine = physical(&resources, "OrderFlow");
    let definition = moto.aws(&["stepfunctions", "describe-state-machine", "--state-machine-arn", &machine]);
    let definition = definition["definition"].as_str().unwrap();
    assert!(definition.contains(&format!("\"Resource\": \"{arn}\"")), "{definition}");
    let role = physical(&resources, "ValidateOrderFunctionRole");
    let policies = moto.aws(&["iam", "list-role-policies", "--role-name", &role]);
    assert!(policies["PolicyNames"].to_string().contains("send-orders"), "{policies}");

    // The doctor reads the stack the rehearsal left: no samconfig.toml, no second rehearsal.
    let mut doctor = repo.xtask();
    doctor.args(["lambda-doctor", "--env", "local"]).env_remove("AWS_ENDPOINT_URL");
    let (status, output) = run(&mut doctor);
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("replayed the last rehearsal into it"), "{output}");
    assert!(output.contains(&format!("stack {stack} is CREATE_COMPLETE")), "{output}");
    assert!(output.contains(&format!("{function}: python3.11 on x86_64, handler app.lambda_handler")), "{output}");
    assert!(output.contains("healthy: the stack is complete"), "{output}");
}

const NOTIFY_TEMPLATE: &str = r#"AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: order-notifications, a topic whose subscriber is a SAM function

Resources:
  NotifyFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: notify/
      Handler: app.lambda_handler
      Runtime: python3.11

  OrderEvents:
    Type: AWS::SNS::Topic
    Properties:
      Subscription:
        - Protocol: lambda
          Endpoint: !GetAtt NotifyFunction.Arn

  NotifyFromTopic:
    Type: AWS::Lambda::Permission
    Properties:
      Action: lambda:InvokeFunction
      FunctionName: !Ref NotifyFunction
      Principal: sns.amazonaws.com
      SourceArn: !Ref OrderEvents
"#;

#[test]
fn an_sns_subscription_to_a_sam_function_is_rehearsed_with_the_subscription_and_its_permission() {
    let repo = app(
        "order-notifications",
        &with_function(files(&[("template.yaml", NOTIFY_TEMPLATE)]), "notify"),
        &lambda_table(),
    );
    let (status, output) = run(&mut rehearsal(&repo));
    assert_eq!(status, 0, "{output}");

    let moto = replayed_rehearsal(repo.dir.path());
    let resources = resources(&moto, &stack_name_of(&repo));
    let arn = function_arn(&moto, &physical(&resources, "NotifyFunction"));
    let topic = physical(&resources, "OrderEvents");
    let subscriptions = moto.aws(&["sns", "list-subscriptions-by-topic", "--topic-arn", &topic]);
    let endpoints: Vec<&str> =
        subscriptions["Subscriptions"].as_array().unwrap().iter().map(|s| s["Endpoint"].as_str().unwrap()).collect();
    assert_eq!(endpoints, [arn.as_str()], "{subscriptions}");
    let policy = moto.aws(&["lambda", "get-policy", "--function-name", &arn]);
    assert!(policy["Policy"].as_str().unwrap().contains("sns.amazonaws.com"), "{policy}");
}

const PRICE_TEMPLATE: &str = r#"AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: repricing, a nightly rule calling the published alias of a SAM function

Resources:
  PriceFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: price/
      Handler: app.lambda_handler
      Runtime: python3.11
      AutoPublishAlias: live

  NightlyRepricing:
    Type: AWS::Events::Rule
    Properties:
      ScheduleExpression: rate(1 day)
      Targets:
        - Arn: !Ref PriceFunction.Alias
          Id: price-live

  RepricingPermission:
    Type: AWS::Lambda::Permission
    Properties:
      Action: lambda:InvokeFunction
      FunctionName: !Ref PriceFunction.Alias
      Principal: events.amazonaws.com
      SourceArn: !GetAtt NightlyRepricing.Arn
"#;

#[test]
fn a_rule_calling_a_published_alias_is_rehearsed_with_the_version_and_the_alias() {
    let repo = app("repricing", &with_function(files(&[("template.yaml", PRICE_TEMPLATE)]), "price"), &lambda_table());
    let (status, output) = run(&mut rehearsal(&repo));
    assert_eq!(status, 0, "{output}");

    let moto = replayed_rehearsal(repo.dir.path());
    let resources = resources(&moto, &stack_name_of(&repo));
    let function = physical(&resources, "PriceFunction");
    let alias = moto.aws(&["lambda", "get-alias", "--function-name", &function, "--name", "live"]);
    assert_eq!(alias["FunctionVersion"], "1", "{alias}");
    let alias_arn = alias["AliasArn"].as_str().unwrap();
    let rule = physical(&resources, "NightlyRepricing");
    let rule_name = rule.rsplit('/').next().unwrap();
    let targets = moto.aws(&["events", "list-targets-by-rule", "--rule", rule_name]);
    assert_eq!(targets["Targets"][0]["Arn"], alias_arn, "{targets}");
    let version = moto.aws(&["lambda", "get-function", "--function-name", &function, "--qualifier", "1"]);
    let latest = moto.aws(&["lambda", "get-function", "--function-name", &function]);
    assert_eq!(version["Configuration"]["CodeSha256"], latest["Configuration"]["CodeSha256"]);
}

const FULFILLMENT_TEMPLATE: &str = r#"AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: fulfillment, a function in the account's existing private subnets

Parameters:
  VpcId:
    Type: AWS::EC2::VPC::Id
  PrivateSubnet1:
    Type: AWS::EC2::Subnet::Id
  PrivateSubnet2:
    Type: AWS::EC2::Subnet::Id
  AppSecurityGroup:
    Type: AWS::EC2::SecurityGroup::Id

Resources:
  FulfillmentFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fulfillment/
      Handler: app.lambda_handler
      Runtime: python3.11
      VpcConfig:
        SubnetIds: [!Ref PrivateSubnet1, !Ref PrivateSubnet2]
        SecurityGroupIds: [!Ref AppSecurityGroup]

  DatabaseIngress:
    Type: AWS::EC2::SecurityGroupIngress
    Properties:
      GroupId: !Ref AppSecurityGroup
      IpProtocol: tcp
      FromPort: 5432
      ToPort: 5432
      CidrIp: 10.0.0.0/16
"#;

#[test]
fn subnet_and_security_group_parameters_get_resources_of_the_local_aws() {
    let repo = app(
        "fulfillment",
        &with_function(files(&[("template.yaml", FULFILLMENT_TEMPLATE)]), "fulfillment"),
        &lambda_table(),
    );
    let (status, output) = run(&mut rehearsal(&repo));
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("parameters from the local AWS: VpcId=vpc-"), "{output}");

    let moto = replayed_rehearsal(repo.dir.path());
    let resources = resources(&moto, &stack_name_of(&repo));
    let function = physical(&resources, "FulfillmentFunction");
    let config = moto.aws(&["lambda", "get-function-configuration", "--function-name", &function]);
    let subnets: Vec<&str> =
        config["VpcConfig"]["SubnetIds"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(subnets.len(), 2, "{config}");
    assert_ne!(subnets[0], subnets[1], "two subnet parameters, two subnets: {config}");
    let group = config["VpcConfig"]["SecurityGroupIds"][0].as_str().unwrap();
    let described = moto.aws(&["ec2", "describe-subnets", "--subnet-ids", subnets[0], subnets[1]]);
    let vpc = described["Subnets"][0]["VpcId"].as_str().unwrap();
    assert_eq!(described["Subnets"][1]["VpcId"], vpc);
    let groups = moto.aws(&["ec2", "describe-security-groups", "--group-ids", group]);
    assert_eq!(groups["SecurityGroups"][0]["VpcId"], vpc, "{groups}");
    assert!(groups["SecurityGroups"][0]["IpPermissions"].to_string().contains("5432"), "{groups}");
}

const ORDERS_API_TEMPLATE: &str = r#"AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: orders-api, parameters with the constraints real templates give them

Parameters:
  Stage:
    Type: String
    AllowedValues: [dev, prod]
  BucketPrefix:
    Type: String
    AllowedPattern: '^[a-z0-9-]{3,20}$'
  PartnerKeyName:
    Type: String
    Description: The partner's API key, as the partner named it (letters and at least one digit)
    AllowedPattern: '^(?=.*[0-9])[a-z0-9-]{8,32}$'

Conditions:
  IsProd: !Equals [!Ref Stage, prod]

Resources:
  OrdersFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: orders/
      Handler: app.lambda_handler
      Runtime: python3.11
      Environment:
        Variables:
          STAGE: !Ref Stage
          BUCKET_PREFIX: !Ref BucketPrefix
          PARTNER_KEY_NAME: !Ref PartnerKeyName
          ALARMS: !If [IsProd, "on", "off"]
"#;

#[test]
fn placeholders_keep_to_allowed_values_and_patterns_and_the_fix_for_the_rest_works_as_printed() {
    let repo =
        app("orders-api", &with_function(files(&[("template.yaml", ORDERS_API_TEMPLATE)]), "orders"), &lambda_table());
    // A look-ahead pattern no value can be shown to match: the user gives one.
    let (status, output) = run(&mut rehearsal(&repo));
    assert_eq!(status, 2, "{output}");
    let line = output.lines().find(|l| l.starts_with("error:")).unwrap_or_default();
    assert_eq!(
        line,
        "error: local gives no value for template.yaml parameter PartnerKeyName (no Default): create samconfig.toml holding the line version = 0.1 and a [local.deploy.parameters] table with parameter_overrides = \"PartnerKeyName=...\"",
        "{output}"
    );
    // Done as it says, and nothing more.
    fs::write(
        repo.path("samconfig.toml"),
        "version = 0.1\n[local.deploy.parameters]\nparameter_overrides = \"PartnerKeyName=partner-key-7\"\n",
    )
    .unwrap();
    let (status, output) = run(&mut rehearsal(&repo));
    assert_eq!(status, 0, "{output}");
    let placeholders = output.lines().find(|l| l.contains("placeholders for parameters")).unwrap_or_default();
    assert!(placeholders.contains("Stage=dev"), "{output}");

    let moto = replayed_rehearsal(repo.dir.path());
    let resources = resources(&moto, &stack_name_of(&repo));
    let function = physical(&resources, "OrdersFunction");
    let config = moto.aws(&["lambda", "get-function-configuration", "--function-name", &function]);
    let variables = &config["Environment"]["Variables"];
    assert_eq!(variables["STAGE"], "dev", "{config}");
    assert_eq!(variables["ALARMS"], "off", "{config}");
    assert_eq!(variables["PARTNER_KEY_NAME"], "partner-key-7", "{config}");
    let prefix = variables["BUCKET_PREFIX"].as_str().unwrap();
    assert!(
        (3..=20).contains(&prefix.len())
            && prefix.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
        "{prefix:?} is not what BucketPrefix allows"
    );
}

const TICKETS_TEMPLATE: &str = r#"AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: tickets, an arm64 function with a layer of the template

Globals:
  Function:
    Runtime: python3.11
    Architectures: [arm64]

Resources:
  SharedLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: shared/
      CompatibleRuntimes: [python3.11]
      CompatibleArchitectures: [arm64]
    Metadata:
      BuildMethod: python3.11
      BuildArchitecture: arm64

  TicketsFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: tickets/
      Handler: app.lambda_handler
      Layers: [!Ref SharedLayer]
"#;

fn tickets_repo() -> RepoCopy {
    let mut files = with_function(files(&[("template.yaml", TICKETS_TEMPLATE)]), "tickets");
    files.push(("shared/shared_text.py".into(), "GREETING = 'hello'\n".into()));
    files.push(("shared/requirements.txt".into(), String::new()));
    app("tickets", &files, &lambda_table())
}

#[test]
fn the_live_function_is_the_build_and_a_package_changed_before_upload_is_caught() {
    let repo = tickets_repo();
    let (status, output) = run(&mut rehearsal(&repo));
    assert_eq!(status, 0, "{output}");
    assert!(
        output.contains(
            "TicketsFunction: runs the build's package, python3.11 arm64, handler app.lambda_handler, 1 layer(s)"
        ),
        "{output}"
    );
    let record = &audit_lines(&repo)[0];
    let built = record["artifacts"].as_array().unwrap().iter().find(|a| a["logical_id"] == "TicketsFunction").unwrap()
        ["package"]["code_sha256"]
        .clone();
    assert_eq!(record["deployed"][0]["code_sha256"], built, "{record}");
    let moto = replayed_rehearsal(repo.dir.path());
    let resources = resources(&moto, &stack_name_of(&repo));
    let config = moto.aws(&[
        "lambda",
        "get-function-configuration",
        "--function-name",
        &physical(&resources, "TicketsFunction"),
    ]);
    assert_eq!(config["CodeSha256"], built);
    assert_eq!(config["Architectures"][0], "arm64");
    let layer = resources.iter().find(|(logical, _)| logical.starts_with("SharedLayer")).unwrap();
    assert_eq!(config["Layers"][0]["Arn"], layer.1.as_str(), "{config}");
    drop(moto);

    // Something rewrites the package between the build and its upload (a fault the real tools
    // cannot show: a sam that appends a file to the zip, then runs the real sam).
    let bin = FakeBin::new();
    bin.add_script(
        "sam",
        &format!(
            "case \"$1\" in package) python3 -c 'import zipfile; z = zipfile.ZipFile(\".aws-sam/build/TicketsFunction.zip\", \"a\"); z.writestr(\"injected.py\", \"x = 1\"); z.close()' ;; esac\nexec '{}' \"$@\"",
            real_sam().display()
        ),
    );
    let mut tampered = rehearsal(&repo);
    tampered.env("PATH", bin.path_env());
    let (status, output) = run(&mut tampered);
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("[deployed-function]"), "{output}");
    assert!(output.contains(".aws-sam/build/TicketsFunction.zip"), "{output}");
    assert!(output.contains(&format!("but the build has {}", built.as_str().unwrap())), "{output}");
    let fix = output.lines().find(|l| l.trim_start().starts_with("fix:")).unwrap_or_default();
    assert!(fix.contains("cargo xtask lambda-deploy --env local"), "{output}");
    assert_eq!(audit_lines(&repo)[1]["result"], "failed");

    // The fix, as printed, without the fault.
    let (status, output) = run(&mut rehearsal(&repo));
    assert_eq!(status, 0, "{output}");
}

/// The doctor without a rehearsal to read names the rehearsal, and exits 1, not 2, with no
/// samconfig.toml (the rehearsal needs none, so its doctor does not either).
#[test]
fn the_doctor_of_a_rehearsal_never_run_needs_no_samconfig_and_says_to_run_it() {
    let repo =
        app("never-rehearsed", &with_function(files(&[("template.yaml", NOTIFY_TEMPLATE)]), "notify"), &lambda_table());
    let mut doctor: Command = repo.xtask();
    doctor.args(["lambda-doctor", "--env", "local"]).env_remove("AWS_ENDPOINT_URL");
    let (status, output) = run(&mut doctor);
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("no rehearsal recorded at .aws-sam/xtask-rehearsal/moto-recording.jsonl"), "{output}");
    assert!(output.contains(&format!("stack {} does not exist", stack_name_of(&repo))), "{output}");
}
