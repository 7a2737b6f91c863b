//! The rehearsal (`lambda-deploy --env local`) on apps that real CloudFormation deploys but that
//! moto, as it comes, fails on (CORPUS.md: AA, AB, AE, AF, and sp-alb-lambda-rest-api-sam-py's
//! listener): an SSM document without a format, an API whose integrations run with the caller's
//! credentials, rules on a bus they depend on, a layer whose content a custom resource makes, and
//! a load balancer listener with numbers where CloudFormation declares strings. Each app is
//! written here in the shape of real ones; the real xtask, SAM CLI, aws CLI and moto run, and
//! what the rehearsal's moto held is read back by replaying its recorded requests into another
//! moto, as the doctor does.

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

const FRONT_DOOR_TEMPLATE: &str = r#"AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: front-door, a function behind an application load balancer, 404 for any other path

Parameters:
  HelloPriority:
    Type: Number
    Default: 10

Resources:
  Network:
    Type: AWS::EC2::VPC
    Properties:
      CidrBlock: 10.20.0.0/16

  SubnetA:
    Type: AWS::EC2::Subnet
    Properties:
      VpcId: !Ref Network
      CidrBlock: 10.20.1.0/24
      AvailabilityZone: !Select [0, !GetAZs '']

  SubnetB:
    Type: AWS::EC2::Subnet
    Properties:
      VpcId: !Ref Network
      CidrBlock: 10.20.2.0/24
      AvailabilityZone: !Select [1, !GetAZs '']

  DoorSecurityGroup:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: http in
      VpcId: !Ref Network
      SecurityGroupIngress:
        - IpProtocol: tcp
          FromPort: 80
          ToPort: 80
          CidrIp: 0.0.0.0/0

  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello/
      Handler: app.lambda_handler
      Runtime: python3.11

  HelloInvokePermission:
    Type: AWS::Lambda::Permission
    Properties:
      FunctionName: !GetAtt HelloFunction.Arn
      Action: lambda:InvokeFunction
      Principal: elasticloadbalancing.amazonaws.com

  DoorBalancer:
    Type: AWS::ElasticLoadBalancingV2::LoadBalancer
    Properties:
      Type: application
      Scheme: internet-facing
      Subnets: [!Ref SubnetA, !Ref SubnetB]
      SecurityGroups: [!Ref DoorSecurityGroup]

  HelloTargets:
    Type: AWS::ElasticLoadBalancingV2::TargetGroup
    DependsOn: HelloInvokePermission
    Properties:
      TargetType: lambda
      HealthCheckEnabled: false
      Targets:
        - Id: !GetAtt HelloFunction.Arn

  DoorListener:
    Type: AWS::ElasticLoadBalancingV2::Listener
    Properties:
      LoadBalancerArn: !Ref DoorBalancer
      Port: 80
      Protocol: HTTP
      DefaultActions:
        - Type: fixed-response
          FixedResponseConfig:
            ContentType: text/plain
            MessageBody: nothing here
            StatusCode: 404

  HelloRule:
    Type: AWS::ElasticLoadBalancingV2::ListenerRule
    Properties:
      ListenerArn: !Ref DoorListener
      Priority: !Ref HelloPriority
      Conditions:
        - Field: path-pattern
          Values: [/hello]
      Actions:
        - Type: forward
          TargetGroupArn: !Ref HelloTargets
"#;

/// CloudFormation converts each ELBv2 property to the type it declares (`Port: 80`,
/// `StatusCode: 404`); moto's CloudFormation passed the integer StatusCode to a regular
/// expression, so the listener was a stand-in and its rule found no listener.
#[test]
fn a_load_balancer_listener_with_numbers_for_strings_is_rehearsed_as_cloudformation_types_them() {
    let repo = app("front-door", &app_files(FRONT_DOOR_TEMPLATE, &["hello"]), &lambda_table());
    let (status, output) = run(&mut rehearsal(&repo));
    assert_eq!(status, 0, "{output}");
    assert!(!output.contains("(AWS::ElasticLoadBalancingV2::"), "no load balancer part is a stand-in:\n{output}");

    let stack = stack_name_of(&repo);
    let moto = replayed_rehearsal(repo.dir.path());
    let balancer = physical(&moto, &stack, "DoorBalancer");
    let listeners = moto.aws(&["elbv2", "describe-listeners", "--load-balancer-arn", &balancer]);
    let listener = &listeners["Listeners"][0];
    assert_eq!(listener["ListenerArn"], physical(&moto, &stack, "DoorListener").as_str(), "{listeners}");
    assert_eq!(listener["Port"], 80, "{listeners}");
    let default = &listener["DefaultActions"][0];
    assert_eq!(default["Type"], "fixed-response", "{listeners}");
    assert_eq!(default["FixedResponseConfig"]["StatusCode"], "404", "{listeners}");

    let rules = moto.aws(&["elbv2", "describe-rules", "--listener-arn", listener["ListenerArn"].as_str().unwrap()]);
    let rule = rules["Rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["IsDefault"] == false)
        .unwrap_or_else(|| panic!("{rules}"));
    assert_eq!(rule["Priority"], "10", "{rules}");
    assert_eq!(rule["Conditions"][0]["Values"][0], "/hello", "{rules}");
    assert_eq!(rule["Actions"][0]["TargetGroupArn"], physical(&moto, &stack, "HelloTargets").as_str(), "{rules}");
}
