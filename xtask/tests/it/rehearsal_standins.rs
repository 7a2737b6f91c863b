//! The rehearsal (`lambda-deploy --env local`) on apps that real CloudFormation deploys but that
//! moto, as it comes, fails on (CORPUS.md: AA, AB, AE, AF): an SSM document without a format,
//! an API whose integrations run with the caller's credentials, rules on a bus they depend on,
//! and a layer whose content a custom resource makes. Each app is written here in the shape of
//! real ones; the real xtask, SAM CLI, aws CLI and moto run, and what the rehearsal's moto held
//! is read back by replaying its recorded requests into another moto, as the doctor does.

use crate::deploy_any_app::{app, files, lambda_table, rehearsal, stack_name_of, Files};
use crate::support::deploy::*;
use crate::support::run;

const HANDLER: &str = r#"import json


def lambda_handler(event, context):
    """Answers with what it was given."""
    return {"statusCode": 200, "body": json.dumps({"received": event})}
"#;

/// The template and a function dir (with the handler) for each of `dirs`.
fn app_files(template: &str, dirs: &[&str]) -> Files {
    let mut files = files(&[("template.yaml", template)]);
    for dir in dirs {
        files.push((format!("{dir}/app.py"), HANDLER.to_string()));
        files.push((format!("{dir}/requirements.txt"), String::new()));
    }
    files
}

/// The physical id of `logical` in the stack.
fn physical(moto: &Moto, stack: &str, logical: &str) -> String {
    let answer = moto.aws(&[
        "cloudformation",
        "describe-stack-resource",
        "--stack-name",
        stack,
        "--logical-resource-id",
        logical,
    ]);
    answer["StackResourceDetail"]["PhysicalResourceId"].as_str().unwrap_or_else(|| panic!("{answer}")).to_string()
}

const RESTART_TEMPLATE: &str = r#"AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: restart-runbook, an SSM automation document (no DocumentFormat) calling a SAM function

Resources:
  RestartFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: restart/
      Handler: app.lambda_handler
      Runtime: python3.11

  RestartRunbook:
    Type: AWS::SSM::Document
    Properties:
      DocumentType: Automation
      Content:
        schemaVersion: "0.3"
        description: Restarts the service through the function
        parameters:
          ServiceName:
            type: String
        mainSteps:
          - name: restart
            action: aws:invokeLambdaFunction
            inputs:
              FunctionName: !GetAtt RestartFunction.Arn
              Payload: '{"service": "{{ServiceName}}"}'
"#;

/// AE: CloudFormation takes a document without `DocumentFormat` as JSON.
#[test]
fn an_ssm_document_without_a_format_is_rehearsed_as_json_as_cloudformation_takes_it() {
    let repo = app("restart-runbook", &app_files(RESTART_TEMPLATE, &["restart"]), &lambda_table());
    let (status, output) = run(&mut rehearsal(&repo));
    assert_eq!(status, 0, "{output}");
    assert!(!output.contains("RestartRunbook (AWS::SSM::Document)"), "the document is no stand-in:\n{output}");

    let stack = stack_name_of(&repo);
    let moto = replayed_rehearsal(repo.dir.path());
    let document = physical(&moto, &stack, "RestartRunbook");
    let described = moto.aws(&["ssm", "describe-document", "--name", &document]);
    assert_eq!(described["Document"]["DocumentFormat"], "JSON", "{described}");
    assert_eq!(described["Document"]["DocumentType"], "Automation", "{described}");
    let content = moto.aws(&["ssm", "get-document", "--name", &document]);
    let function =
        moto.aws(&["lambda", "get-function", "--function-name", &physical(&moto, &stack, "RestartFunction")]);
    let arn = function["Configuration"]["FunctionArn"].as_str().unwrap();
    let text = content["Content"].as_str().unwrap();
    let parsed: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_eq!(parsed["mainSteps"][0]["inputs"]["FunctionName"], arn, "{text}");
}

const REPORTS_TEMPLATE: &str = r#"AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: signed-reports, an API only IAM-signed callers reach

Resources:
  ReportsApi:
    Type: AWS::Serverless::Api
    Properties:
      StageName: prod
      Auth:
        DefaultAuthorizer: AWS_IAM

  ReportsFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: reports/
      Handler: app.lambda_handler
      Runtime: python3.11
      Events:
        List:
          Type: Api
          Properties:
            RestApiId: !Ref ReportsApi
            Path: /reports
            Method: get
"#;

/// AF: with `DefaultAuthorizer: AWS_IAM` the transform has each integration run with the
/// caller's credentials (`arn:aws:iam::*:user/*`), which API Gateway takes.
#[test]
fn an_api_with_iam_auth_is_rehearsed_with_integrations_run_as_the_caller() {
    let repo = app("signed-reports", &app_files(REPORTS_TEMPLATE, &["reports"]), &lambda_table());
    let (status, output) = run(&mut rehearsal(&repo));
    assert_eq!(status, 0, "{output}");

    let stack = stack_name_of(&repo);
    let moto = replayed_rehearsal(repo.dir.path());
    let api = physical(&moto, &stack, "ReportsApi");
    let resources = moto.aws(&["apigateway", "get-resources", "--rest-api-id", &api]);
    let resource = resources["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == "/reports")
        .unwrap_or_else(|| panic!("no /reports in {resources}"));
    let id = resource["id"].as_str().unwrap();
    let method =
        moto.aws(&["apigateway", "get-method", "--rest-api-id", &api, "--resource-id", id, "--http-method", "GET"]);
    assert_eq!(method["methodIntegration"]["credentials"], "arn:aws:iam::*:user/*", "{method}");
}

const NOTIFY_TEMPLATE: &str = r#"AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: order-notices, rules on the app's own bus (named by !Sub, as the rules name it) feeding a queue

Resources:
  # The rules come first in the template; each depends on the bus it names by the same !Sub.
  PaymentFailedRule:
    Type: AWS::Events::Rule
    DependsOn: [NoticeBus]
    Properties:
      EventBusName: !Sub ${AWS::StackName}-notices
      EventPattern:
        source: [orders]
        detail-type: [PaymentFailed]
      Targets:
        - Id: notices
          Arn: !GetAtt NoticeQueue.Arn

  ShippedRule:
    Type: AWS::Events::Rule
    DependsOn:
      - NoticeBus
    Properties:
      EventBusName: !Sub ${AWS::StackName}-notices
      EventPattern:
        source: [orders]
        detail-type: [Shipped]
      Targets:
        - Id: notices
          Arn: !GetAtt NoticeQueue.Arn

  NoticeBus:
    Type: AWS::Events::EventBus
    Properties:
      Name: !Sub ${AWS::StackName}-notices

  NoticeQueue:
    Type: AWS::SQS::Queue

  NotifyFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: notify/
      Handler: app.lambda_handler
      Runtime: python3.11
      Events:
        Notices:
          Type: SQS
          Properties:
            Queue: !GetAtt NoticeQueue.Arn
"#;

/// AB: CloudFormation creates a resource after what it `DependsOn`, whatever the template's
/// order; moto's change sets created in template order.
#[test]
fn rules_on_a_bus_they_depend_on_are_rehearsed_after_the_bus() {
    let repo = app("order-notices", &app_files(NOTIFY_TEMPLATE, &["notify"]), &lambda_table());
    let (status, output) = run(&mut rehearsal(&repo));
    assert_eq!(status, 0, "{output}");

    let stack = stack_name_of(&repo);
    let moto = replayed_rehearsal(repo.dir.path());
    let bus = format!("{stack}-notices");
    let rules = moto.aws(&["events", "list-rules", "--event-bus-name", &bus]);
    let mut patterns: Vec<String> =
        rules["Rules"].as_array().unwrap().iter().map(|r| r["EventPattern"].as_str().unwrap().to_string()).collect();
    patterns.sort();
    assert_eq!(patterns.len(), 2, "{rules}");
    assert!(patterns[0].contains("PaymentFailed") && patterns[1].contains("Shipped"), "{rules}");
}

const ASSISTANT_TEMPLATE: &str = r#"AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: assistant, a function on a layer whose zip a custom resource of the stack builds

Resources:
  LayerBucket:
    Type: AWS::S3::Bucket

  BuildLayerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: build_layer/
      Handler: app.lambda_handler
      Runtime: python3.11
      Environment:
        Variables:
          LAYER_BUCKET: !Ref LayerBucket

  LayerZip:
    Type: Custom::LayerZip
    Properties:
      ServiceToken: !GetAtt BuildLayerFunction.Arn
      Bucket: !Ref LayerBucket

  SdkLayer:
    Type: AWS::Lambda::LayerVersion
    Properties:
      Content:
        S3Bucket: !GetAtt LayerZip.Bucket
        S3Key: !GetAtt LayerZip.Key
      CompatibleRuntimes: [python3.11]

  AskFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ask/
      Handler: app.lambda_handler
      Runtime: python3.11
      Layers: [!Ref SdkLayer]
"#;

/// AA: moto runs no custom resource, so the bucket and key it would return name nothing; the
/// layer built from them is created empty, and the rehearsal says what it did not prove.
#[test]
fn a_layer_a_custom_resource_makes_is_an_empty_stand_in_and_said_so() {
    let repo = app("assistant", &app_files(ASSISTANT_TEMPLATE, &["build_layer", "ask"]), &lambda_table());
    let (status, output) = run(&mut rehearsal(&repo));
    assert_eq!(status, 0, "{output}");
    assert!(
        output.contains(
            "LayerZip (Custom::LayerZip): not created by the local AWS, a custom resource: the local AWS does not run the function its ServiceToken names"
        ),
        "{output}"
    );
    assert!(
        output.contains(
            "SdkLayer (AWS::Lambda::LayerVersion): its Content (S3Bucket, S3Key) comes from LayerZip (Custom::LayerZip), which the local AWS did not run: the layer was created empty, so the rehearsal proves nothing about its content"
        ),
        "{output}"
    );

    let stack = stack_name_of(&repo);
    let moto = replayed_rehearsal(repo.dir.path());
    let layer = physical(&moto, &stack, "SdkLayer");
    let function = moto.aws(&["lambda", "get-function", "--function-name", &physical(&moto, &stack, "AskFunction")]);
    assert_eq!(function["Configuration"]["Layers"][0]["Arn"], layer.as_str(), "{function}");
}
