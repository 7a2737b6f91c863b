//! lambda-doctor end to end: the real xtask binary, the real aws CLI and a real moto server per
//! test, seeded with each failure the way a broken account holds it (a stack with a Lambda
//! function, its log group written with put-log-events, secrets deleted with a recovery
//! window, security groups without the rule). CloudFormation failures moto cannot produce
//! (resource-level FAILED reasons, ROLLBACK_COMPLETE) are recorded describe-stacks /
//! describe-stack-events answers in crates/lambda-xtask/tests/fixtures/doctor/, replayed by a wrapper around the
//! real aws CLI; every other call still goes to moto.

use std::fs;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::deploy::*;
use crate::support::{run, FakeBin, RepoCopy};
use serde_json::Value;

const FUNCTION: &str = "credmate-backend-staging";
const LOG_GROUP: &str = "/aws/lambda/credmate-backend-staging";

/// The stack as CloudFormation in moto creates it: the function (plain AWS::Lambda::Function:
/// moto runs no SAM transform) in the given security group, naming the secret.
const STACK_TEMPLATE: &str = r#"
Parameters:
  SecurityGroupId: {Type: String}
  SubnetId: {Type: String}
  DatabaseSecretArn: {Type: String}
  ExistingSecretsManagerVpcEndpoint: {Type: String, Default: ""}
Resources:
  BackendFunctionRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: "sts:AssumeRole"}]
  BackendFunction:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: credmate-backend-staging
      Runtime: python3.11
      Handler: handler.handler
      Timeout: 30
      Role: !GetAtt BackendFunctionRole.Arn
      Code:
{CODE}
      Environment:
        Variables:
          DATABASE_SECRET_ARN: !Ref DatabaseSecretArn
          LOG_LEVEL: INFO
      VpcConfig:
        SecurityGroupIds: [!Ref SecurityGroupId]
        SubnetIds: [!Ref SubnetId]
Outputs:
  SecretsManagerVpcEndpointId:
    Value: !Ref ExistingSecretsManagerVpcEndpoint
"#;

/// The account: VPC, subnets, secrets (deploy_support), the function's security group, the
/// Secrets Manager endpoint with its own group admitting `endpoint_ingress` (or nothing), and
/// the stack.
struct Seeded {
    account: Account,
    function_group: String,
    endpoint: String,
    endpoint_group: String,
}

const INLINE_CODE: &str = "        ZipFile: \"def handler(event, context):\\n    return {'statusCode': 200}\\n\"";

fn seed(moto: &Moto, endpoint_ingress: Option<&str>) -> Seeded {
    seed_with_code(moto, seed_account(moto), endpoint_ingress, INLINE_CODE)
}

fn seed_with_code(moto: &Moto, account: Account, endpoint_ingress: Option<&str>, code: &str) -> Seeded {
    let function_group = moto.aws(&[
        "ec2",
        "create-security-group",
        "--group-name",
        "credmate-backend-staging-lambda",
        "--description",
        "credmate backend Lambda function",
        "--vpc-id",
        &account.vpc,
    ])["GroupId"]
        .as_str()
        .unwrap()
        .to_string();
    let (endpoint, endpoint_group) = existing_endpoint(moto, &account, endpoint_ingress);
    let template = tempfile::NamedTempFile::new().unwrap();
    fs::write(template.path(), STACK_TEMPLATE.replace("{CODE}", code)).unwrap();
    let body = format!("file://{}", template.path().display());
    moto.aws(&[
        "cloudformation",
        "create-stack",
        "--stack-name",
        STACK,
        "--template-body",
        &body,
        "--capabilities",
        "CAPABILITY_IAM",
        "--parameters",
        &format!("ParameterKey=SecurityGroupId,ParameterValue={function_group}"),
        &format!("ParameterKey=SubnetId,ParameterValue={}", account.subnets[0]),
        &format!("ParameterKey=DatabaseSecretArn,ParameterValue={}", account.database_secret),
        &format!("ParameterKey=ExistingSecretsManagerVpcEndpoint,ParameterValue={endpoint}"),
    ]);
    assert_eq!(moto.stack(STACK).unwrap()["StackStatus"], "CREATE_COMPLETE");
    Seeded { account, function_group, endpoint, endpoint_group }
}

/// Writes `lines` into the function's log group as Lambda would (one event per line, `\r`
/// inside a traceback), a minute ago.
fn put_logs(moto: &Moto, messages: &[&str]) {
    let _ = moto.try_aws(&["logs", "create-log-group", "--log-group-name", LOG_GROUP]);
    let stream = format!("2026/12/01/[$LATEST]{:x}", SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos());
    moto.aws(&["logs", "create-log-stream", "--log-group-name", LOG_GROUP, "--log-stream-name", &stream]);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64 - 60_000;
    let events: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| serde_json::json!({"timestamp": now + i as i64, "message": m}))
        .collect();
    let file = tempfile::NamedTempFile::new().unwrap();
    fs::write(file.path(), serde_json::to_string(&events).unwrap()).unwrap();
    moto.aws(&[
        "logs",
        "put-log-events",
        "--log-group-name",
        LOG_GROUP,
        "--log-stream-name",
        &stream,
        "--log-events",
        &format!("file://{}", file.path().display()),
    ]);
}

/// A copy of the repository with the staging environment (no build: the doctor reads AWS).
fn doctor_repo(account: &Account) -> RepoCopy {
    let repo = RepoCopy::new();
    repo.append(
        "infra/lambda/samconfig.toml",
        &format!(
            "\n[{ENV}.deploy.parameters]\nstack_name = \"{STACK}\"\nregion = \"{REGION}\"\ncapabilities = \"CAPABILITY_IAM\"\ns3_bucket = \"{BUCKET}\"\nparameter_overrides = [\n  \"Environment=dev\",\n  \"VpcId={}\",\n  \"DatabaseSecretArn={}\",\n]\n",
            account.vpc, account.database_secret
        ),
    );
    repo.append(
        "Cargo.toml",
        &format!("\n[workspace.metadata.lambda.deploy.environments.{ENV}]\nsecret_prefix = \"credmate/staging/\"\n"),
    );
    repo
}

fn doctor(repo: &RepoCopy, moto: &Moto, extra: &[&str]) -> (i32, String) {
    let mut command = repo.xtask();
    command.args(["lambda-doctor", "--env", ENV]).args(extra);
    moto.apply(&mut command);
    run(&mut command)
}

/// The finding printed for `id`: its block of lines, from the `[id]` head to the fix.
fn finding<'a>(output: &'a str, id: &str) -> &'a str {
    let head = format!("[{id}] ");
    let start = output.find(&head).unwrap_or_else(|| panic!("no [{id}] finding in:\n{output}"));
    let rest = &output[start..];
    let fix = rest.find("\n    fix:").unwrap_or(rest.len());
    let end = rest[fix..].find('\n').map(|i| fix + i).unwrap_or(rest.len());
    let end = rest[end + 1..].find('\n').map(|i| end + 1 + i).unwrap_or(rest.len());
    &rest[..end]
}

/// A wrapper around the real aws CLI that records every call, and answers `describe-stacks`
/// and `describe-stack-events` from recorded files when given.
fn aws_wrapper(bin: &FakeBin, stacks: Option<&str>, events: Option<&str>) {
    let fixture =
        |name: &str| format!("{}/../crates/lambda-xtask/tests/fixtures/doctor/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut cases = String::new();
    if let Some(stacks) = stacks {
        cases.push_str(&format!("  'cloudformation describe-stacks'*) cat '{}'; exit 0 ;;\n", fixture(stacks)));
    }
    if let Some(events) = events {
        cases.push_str(&format!("  'cloudformation describe-stack-events'*) cat '{}'; exit 0 ;;\n", fixture(events)));
    }
    bin.add_script("aws", &format!("case \"$*\" in\n{cases}esac\nexec '{}' \"$@\"", aws_cli().display()));
}

#[test]
fn a_healthy_stack_exits_0_and_every_call_only_reads() {
    let moto = Moto::start();
    let seeded = seed(&moto, Some("10.20.0.0/16"));
    put_logs(&moto, &["START RequestId: 1 Version: $LATEST", "[INFO] ready", "END RequestId: 1"]);
    let repo = doctor_repo(&seeded.account);
    let bin = FakeBin::new();
    aws_wrapper(&bin, None, None);

    let mut command = repo.xtask();
    command.args(["lambda-doctor", "--env", ENV]).env("PATH", bin.path_env());
    moto.apply(&mut command);
    let (status, output) = run(&mut command);
    assert_eq!(status, 0, "{output}");
    assert!(output.contains(&format!("stack {STACK} is CREATE_COMPLETE")), "{output}");
    assert!(
        output.contains(&format!("{FUNCTION}: python3.11 on x86_64, handler handler.handler, timeout 30 s")),
        "{output}"
    );
    assert!(output.contains("3 log event(s) in /aws/lambda/credmate-backend-staging since 1h"), "{output}");
    assert!(output.contains("healthy"), "{output}");
    // Read-only: describe, get, filter and list calls, nothing else.
    let calls = fs::read_to_string(bin.calls_path("aws")).unwrap();
    assert!(calls.lines().count() >= 5, "{calls}");
    for call in calls.lines() {
        let verb = call.split_whitespace().nth(1).unwrap_or_default();
        assert!(
            ["describe-", "get-", "filter-", "list-"].iter().any(|read| verb.starts_with(read)),
            "lambda-doctor made a call that is not a read: {call}"
        );
    }
}

#[test]
fn every_log_signature_is_named_with_its_fix_and_unknown_errors_are_shown_raw() {
    let moto = Moto::start();
    let seeded = seed(&moto, Some("10.20.0.0/16"));
    put_logs(
        &moto,
        &[
            "[ERROR] Runtime.ImportModuleError: Unable to import module 'handler': No module named 'src'\rTraceback (most recent call last):",
            "[ERROR] Runtime.ImportModuleError: Unable to import module 'handler': No module named 'src'\rTraceback (most recent call last):",
            "[ERROR] Runtime.ImportModuleError: Unable to import module 'handler': No module named 'pydantic_core._pydantic_core'\rTraceback (most recent call last):\r  File \"/var/task/pydantic_core/__init__.py\", line 6, in <module>",
            "[ERROR] Runtime.ImportModuleError: Unable to import module 'handler': cannot import name 'six' from 'botocore.compat' (/var/task/botocore/compat.py)\rTraceback (most recent call last):",
            "[ERROR] AttributeError: module 'os' has no attribute 'add_dll_directory'\rTraceback (most recent call last):\r  File \"/var/task/psycopg2/__init__.py\", line 5, in <module>\r    os.add_dll_directory(libs_dir)",
            "[ERROR] Runtime.ImportModuleError: Unable to import module 'handler': /var/task/orjson/orjson.cpython-311-x86_64-linux-gnu.so: invalid ELF header",
            "[ERROR] Runtime.ImportModuleError: Unable to import module 'handler': /var/task/numpy/core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so: wrong ELF class: ELFCLASS32",
            "[ERROR] Runtime.ImportModuleError: Unable to import module 'handler': libpq.so.5: cannot open shared object file: No such file or directory",
            "[ERROR] Runtime.ImportModuleError: Unable to import module 'handler': /lib64/libc.so.6: version `GLIBC_2.28' not found (required by /var/task/cryptography/hazmat/bindings/_rust.abi3.so)",
            "[ERROR] KeyError: 'DATABASE_URL'\rTraceback (most recent call last):\r  File \"/var/task/handler.py\", line 9, in handler",
        ],
    );
    let repo = doctor_repo(&seeded.account);
    let (status, output) = doctor(&repo, &moto, &["--json", "doctor.json"]);
    assert_eq!(status, 1, "{output}");

    let src = finding(&output, "import-missing-source");
    assert!(
        src.contains(
            "the handler imports src, which the deployed artifact lacks: the artifact lacks the backend source"
        ),
        "{src}"
    );
    assert!(src.contains("logged 2 times since 1h"), "{src}");
    assert!(!src.contains("seed issue"), "a finding names the user's resources, not our incident report: {src}");
    assert!(src.contains(&format!("fix:     cargo xtask lambda-deploy --env {ENV}")), "{src}");

    let dependency = finding(&output, "import-missing-dependency");
    assert!(dependency.contains("cannot import pydantic_core._pydantic_core"), "{dependency}");
    assert!(dependency.contains("add the distribution that provides pydantic_core._pydantic_core to infra/lambda/functions/backend/requirements.txt"), "{dependency}");

    let sdk = finding(&output, "aws-sdk-mismatch");
    assert!(sdk.contains("botocore.compat does not fit the rest of the SDK"), "{sdk}");
    assert!(!sdk.contains("seed issue"), "a finding names the user's resources, not our incident report: {sdk}");
    assert!(sdk.contains("the bundled-aws-sdk guard names the chain"), "{sdk}");

    let windows = finding(&output, "windows-binary");
    assert!(windows.contains("psycopg2: a package in the artifact is a Windows wheel"), "{windows}");
    assert!(
        !windows.contains("seed issue"),
        "a finding names the user's resources, not our incident report: {windows}"
    );

    let elf = finding(&output, "invalid-elf-header");
    assert!(
        elf.contains(
            "orjson/orjson.cpython-311-x86_64-linux-gnu.so: a compiled module in the artifact is not a Linux binary"
        ),
        "{elf}"
    );
    let class = finding(&output, "wrong-elf-class");
    assert!(class.contains("numpy/core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so"), "{class}");
    assert!(class.contains("than the function's x86_64"), "{class}");
    let library = finding(&output, "missing-shared-library");
    assert!(library.contains("libpq.so.5 is missing at run time"), "{library}");
    assert!(library.contains("bundles libpq.so.5"), "{library}");
    let glibc = finding(&output, "glibc-too-new");
    assert!(
        glibc.contains("a binary needs glibc 2.28, but python3.11 runs on Amazon Linux 2 with glibc 2.26"),
        "{glibc}"
    );

    let raw = finding(&output, "unrecognised-log-error");
    assert!(raw.contains("[ERROR] KeyError: 'DATABASE_URL'"), "{raw}");
    assert!(!raw.contains("No module named"), "explained lines are not repeated as unknown: {raw}");
    assert!(output.contains("error: lambda-doctor failed at step diagnosis"), "{output}");

    let report: Value = serde_json::from_str(&fs::read_to_string(repo.path("doctor.json")).unwrap()).unwrap();
    let schema: Value = serde_json::from_str(
        &fs::read_to_string(crate::support::repo_root().join("crates/lambda-xtask/schemas/report.v1.schema.json"))
            .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&report).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(report["command"], "lambda-doctor");
    assert_eq!(report["result"]["exit_status"], 1);
    let guards: Vec<&str> =
        report["findings"].as_array().unwrap().iter().map(|f| f["guard"].as_str().unwrap()).collect();
    for id in ["import-missing-source", "aws-sdk-mismatch", "windows-binary", "glibc-too-new", "unrecognised-log-error"]
    {
        assert!(guards.contains(&id), "{id} not in the report: {guards:?}");
    }
    let src = report["findings"].as_array().unwrap().iter().find(|f| f["guard"] == "import-missing-source").unwrap();
    assert_eq!(src["path"], format!("function BackendFunction ({FUNCTION})"));
    assert_eq!(
        src["fix"].as_str().unwrap().split(' ').take(5).collect::<Vec<_>>().join(" "),
        format!("cargo xtask lambda-deploy --env {ENV}")
    );
}

#[test]
fn a_timeout_in_a_vpc_function_names_both_groups_and_the_ingress_command() {
    let moto = Moto::start();
    // The endpoint's group admits nothing: the seed's Terraform-managed endpoint.
    let seeded = seed(&moto, None);
    put_logs(
        &moto,
        &[
            "START RequestId: 8a1c Version: $LATEST",
            "2026-12-01T08:00:30.021Z 8a1c Task timed out after 30.03 seconds",
            "END RequestId: 8a1c",
        ],
    );
    let repo = doctor_repo(&seeded.account);
    let (status, output) = doctor(&repo, &moto, &["--function", "BackendFunction"]);
    assert_eq!(status, 1, "{output}");
    let timeout = finding(&output, "vpc-endpoint-timeout");
    assert!(
        timeout.contains(&format!(
            "the Secrets Manager endpoint {}'s security group {} does not admit tcp 443 from the function's security group {}",
            seeded.endpoint, seeded.endpoint_group, seeded.function_group
        )),
        "{timeout}"
    );
    assert!(timeout.contains("Task timed out after 30.03 seconds"), "{timeout}");
    assert!(
        !timeout.contains("seed issue"),
        "a finding names the user's resources, not our incident report: {timeout}"
    );
    assert!(
        timeout.contains(&format!(
            "fix:     aws ec2 authorize-security-group-ingress --group-id {} --protocol tcp --port 443 --source-group {} --region {REGION}",
            seeded.endpoint_group, seeded.function_group
        )),
        "{timeout}"
    );

    // With the rule in place the endpoint no longer explains the timeout: it is shown raw.
    moto.aws(&[
        "ec2",
        "authorize-security-group-ingress",
        "--group-id",
        &seeded.endpoint_group,
        "--protocol",
        "tcp",
        "--port",
        "443",
        "--source-group",
        &seeded.function_group,
    ]);
    let (status, output) = doctor(&repo, &moto, &[]);
    assert_eq!(status, 1, "{output}");
    assert!(!output.contains("[vpc-endpoint-timeout]"), "{output}");
    assert!(finding(&output, "unrecognised-log-error").contains("Task timed out after 30.03 seconds"), "{output}");
}

#[test]
fn a_secret_marked_for_deletion_and_a_refused_read_name_the_secret_and_the_commands() {
    let moto = Moto::start();
    let seeded = seed(&moto, Some("10.20.0.0/16"));
    let secret = &seeded.account.database_secret;
    moto.aws(&["secretsmanager", "delete-secret", "--secret-id", secret, "--recovery-window-in-days", "7"]);
    put_logs(
        &moto,
        &[
            "[ERROR] InvalidRequestException: An error occurred (InvalidRequestException) when calling the GetSecretValue operation: You can't perform this operation on the secret because it was marked for deletion.",
            "[ERROR] ClientError: An error occurred (AccessDeniedException) when calling the GetSecretValue operation: User: arn:aws:sts::123456789012:assumed-role/credmate-backend-staging-BackendFunctionRole-X/credmate-backend-staging is not authorized to perform: secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:us-east-1:123456789012:secret:credmate/staging/jwt-AbCdEf because no identity-based policy allows the secretsmanager:GetSecretValue action",
        ],
    );
    let repo = doctor_repo(&seeded.account);
    let (status, output) = doctor(&repo, &moto, &[]);
    assert_eq!(status, 1, "{output}");

    let deleted = finding(&output, "secret-marked-for-deletion");
    assert!(deleted.starts_with("[secret-marked-for-deletion] secret credmate/staging/database"), "{deleted}");
    assert!(
        deleted.contains(&format!("DatabaseSecretArn names {secret}, scheduled for deletion (DeletedDate 20")),
        "{deleted}"
    );
    assert!(deleted.contains("marked for deletion."), "{deleted}");
    assert!(
        !deleted.contains("seed issue"),
        "a finding names the user's resources, not our incident report: {deleted}"
    );
    assert!(
        deleted.contains(&format!("fix:     aws secretsmanager restore-secret --secret-id {secret} --region {REGION}")),
        "{deleted}"
    );
    assert!(
        deleted.contains("aws secretsmanager list-secrets --filters Key=name,Values=credmate/staging/"),
        "{deleted}"
    );
    assert_eq!(output.matches("[secret-marked-for-deletion]").count(), 1, "one finding per secret: {output}");

    let denied = finding(&output, "secret-access-denied");
    let role = moto.aws(&["lambda", "get-function-configuration", "--function-name", FUNCTION])["Role"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        denied.contains(&format!(
            "{role} may not read arn:aws:secretsmanager:us-east-1:123456789012:secret:credmate/staging/jwt-AbCdEf"
        )),
        "{denied}"
    );
    assert!(
        denied.contains(&format!("fix:     aws iam simulate-principal-policy --policy-source-arn {role} --action-names secretsmanager:GetSecretValue --resource-arns arn:aws:secretsmanager:us-east-1:123456789012:secret:credmate/staging/jwt-AbCdEf --region {REGION}")),
        "{denied}"
    );
    assert!(!output.contains("[not-authorized]"), "the secret read is not also a generic denial: {output}");
}

#[test]
fn recorded_stack_failures_name_the_root_cause_and_not_the_cascade() {
    let moto = Moto::start();
    let seeded = seed(&moto, Some("10.20.0.0/16"));
    let repo = doctor_repo(&seeded.account);
    let doctor_with = |stacks: &str, events: &str| {
        let bin = FakeBin::new();
        aws_wrapper(&bin, Some(stacks), Some(events));
        let mut command = repo.xtask();
        command.args(["lambda-doctor", "--env", ENV]).env("PATH", bin.path_env());
        moto.apply(&mut command);
        run(&mut command)
    };

    // The seed's first attempt: the endpoint already exists, the role creation is cancelled.
    let (status, output) = doctor_with("describe_stacks_rollback_complete.json", "stack_events_endpoint_exists.json");
    assert_eq!(status, 1, "{output}");
    let rolled_back = finding(&output, "stack-rollback-complete");
    assert!(rolled_back.contains(&format!("stack {STACK} is ROLLBACK_COMPLETE")), "{rolled_back}");
    assert!(rolled_back.contains("root cause: 2026-01-08T14:02:31.377000+00:00 CREATE_FAILED SecretsManagerVpcEndpoint (AWS::EC2::VPCEndpoint)"), "{rolled_back}");
    assert!(
        rolled_back.contains(&format!("fix:     cargo xtask lambda-deploy --env {ENV} --replace-failed-stack")),
        "{rolled_back}"
    );
    let endpoint = finding(&output, "endpoint-already-exists");
    assert!(endpoint.contains("conflicting DNS domain for secretsmanager.us-east-1.amazonaws.com"), "{endpoint}");
    assert!(
        !endpoint.contains("seed issue"),
        "a finding names the user's resources, not our incident report: {endpoint}"
    );
    assert!(
        endpoint.contains(&format!(
            "add \"ExistingSecretsManagerVpcEndpoint=<endpoint>\" to parameter_overrides in [{ENV}.deploy.parameters]"
        )),
        "{endpoint}"
    );
    assert!(endpoint.contains("Name=vpc-id,Values=vpc-069061f2e220dc500"), "{endpoint}");
    assert!(!output.contains("Resource creation cancelled"), "a cascade is not a cause: {output}");

    // Not authorized to create the endpoint.
    let (status, output) = doctor_with("describe_stacks_rollback_complete.json", "stack_events_not_authorized.json");
    assert_eq!(status, 1, "{output}");
    let denied = finding(&output, "not-authorized");
    assert!(denied.contains("arn:aws:iam::051826703172:user/deployer may not ec2:CreateVpcEndpoint"), "{denied}");
    assert!(
        denied.contains(&format!("fix:     grant ec2:CreateVpcEndpoint to arn:aws:iam::051826703172:user/deployer (check with aws iam simulate-principal-policy --policy-source-arn arn:aws:iam::051826703172:user/deployer --action-names ec2:CreateVpcEndpoint --region {REGION})")),
        "{denied}"
    );
    assert!(denied.contains("pass the VPC's existing one as ExistingSecretsManagerVpcEndpoint"), "{denied}");

    // A failed update and a failed rollback, neither in the table: shown raw.
    let (status, output) =
        doctor_with("describe_stacks_update_rollback_failed.json", "stack_events_update_rollback_failed.json");
    assert_eq!(status, 1, "{output}");
    let locked = finding(&output, "stack-update-rollback-failed");
    assert!(
        locked.contains(&format!(
            "fix:     aws cloudformation continue-update-rollback --stack-name {STACK} --region {REGION}"
        )),
        "{locked}"
    );
    assert_eq!(output.matches("[unrecognised-stack-failure]").count(), 2, "{output}");
    assert!(output.contains("Unzipped size must be smaller than 262144000 bytes"), "{output}");
    assert!(output.contains("The role defined for the function cannot be assumed by Lambda"), "{output}");
}

#[test]
fn a_stack_that_does_not_exist_is_a_diagnosis() {
    let moto = Moto::start();
    let account = seed_account(&moto);
    let repo = doctor_repo(&account);
    let (status, output) = doctor(&repo, &moto, &[]);
    assert_eq!(status, 1, "{output}");
    let missing = finding(&output, "stack-missing");
    assert!(missing.contains(&format!("stack {STACK} does not exist in {REGION}")), "{missing}");
}

#[test]
fn bad_input_is_one_line_and_exit_2_before_any_aws_call() {
    let repo = RepoCopy::new();
    let bin = FakeBin::new();
    bin.add("aws", 0);
    for (args, expected) in [
        (&["--env", "dev", "--since", "5"][..], "error: --since \"5\" is not a duration"),
        (&["--env", "dev", "--function", "Nope"], "error: --function Nope: infra/lambda/template.yaml has no function of that logical id (it has: BackendFunction)"),
        (&["--env", "nowhere"], "error: "),
    ] {
        let mut command = repo.xtask();
        command.arg("lambda-doctor").args(args).env("PATH", bin.path_env());
        let (status, output) = run(&mut command);
        assert_eq!(status, 2, "{args:?}: {output}");
        assert!(output.trim_end().lines().last().unwrap().starts_with(expected), "{args:?}: {output}");
        assert_eq!(output.trim().lines().count(), 1, "{args:?}: {output}");
    }
    assert!(!bin.was_called("aws"));
}

#[test]
fn lambda_deploy_runs_the_doctor_when_a_post_deploy_check_fails_and_prints_its_findings_under_the_failure() {
    let moto = Moto::start();
    let account = seed_account(&moto);
    let repo = staging_repo(&account, "secret_prefix = \"credmate/staging/\"", &[]);
    let health = HealthServer::healthy();
    // moto settles every create in CREATE_COMPLETE: once sam deploy has created the stack,
    // describe-stacks and describe-stack-events answer what AWS answered the seed's first
    // deploy (the endpoint already existed; the stack rolled back).
    let fixture =
        |name: &str| format!("{}/../crates/lambda-xtask/tests/fixtures/doctor/{name}", env!("CARGO_MANIFEST_DIR"));
    let bin = FakeBin::new();
    bin.add_script(
        "aws",
        &format!(
            "case \"$*\" in\n  'cloudformation describe-stacks'*|'cloudformation describe-stack-events'*)\n    if '{real}' cloudformation describe-stacks --stack-name {STACK} --region {REGION} >/dev/null 2>&1; then\n      case \"$*\" in *describe-stacks*) cat '{stacks}' ;; *) cat '{events}' ;; esac; exit 0\n    fi ;;\nesac\nexec '{real}' \"$@\"",
            real = aws_cli().display(),
            stacks = fixture("describe_stacks_rollback_complete.json"),
            events = fixture("stack_events_endpoint_exists.json"),
        ),
    );
    let (status, output) =
        run(deploy_command(&repo, &moto, &health).env("PATH", bin.path_env()).args(["--json", "deploy.json"]));
    assert_eq!(status, 1, "{output}");
    let failed = output.find("[lambda-deploy] stack-status FAILED").unwrap_or_else(|| panic!("{output}"));
    let doctor =
        output.find("[lambda-deploy] doctor: 2 finding(s) explain the failure").unwrap_or_else(|| panic!("{output}"));
    let endpoint = output.find("[endpoint-already-exists]").unwrap_or_else(|| panic!("{output}"));
    let error = output.rfind("error: lambda-deploy failed at step stack-status").unwrap_or_else(|| panic!("{output}"));
    assert!(failed < doctor && doctor < endpoint && endpoint < error, "the findings come under the failure:\n{output}");
    assert!(output.contains("ExistingSecretsManagerVpcEndpoint=<endpoint>"), "{output}");
    let report: Value = serde_json::from_str(&fs::read_to_string(repo.path("deploy.json")).unwrap()).unwrap();
    assert_eq!(report["result"]["failed_step"], "stack-status");
    let steps: Vec<&str> = report["findings"].as_array().unwrap().iter().map(|f| f["step"].as_str().unwrap()).collect();
    assert_eq!(steps, ["doctor", "doctor"], "{report:#}");
}

#[test]
fn a_log_line_about_the_artifact_names_the_offending_file_when_the_local_build_is_what_runs() {
    let moto = Moto::start();
    let account = seed_account(&moto);
    let repo = staging_repo(&account, "secret_prefix = \"credmate/staging/\"", &[]);
    // The seed's issue 6: a macOS build of pydantic_core in what ships.
    let build = repo.path("infra/lambda/.aws-sam/build/BackendFunction");
    crate::support::wheels::install_into(crate::support::wheels::PYDANTIC_CORE_MACOS_ARM64, &build);
    // As a build without the xtask's own package leaves it (sam build alone, or an older
    // xtask): the built template's CodeUri names the directory, and no manifest records a zip.
    let built_template = repo.path("infra/lambda/.aws-sam/build/template.yaml");
    let text = fs::read_to_string(&built_template).unwrap();
    assert!(text.contains("CodeUri: BackendFunction.zip\n"), "the build packaged the function itself:\n{text}");
    fs::write(&built_template, text.replace("CodeUri: BackendFunction.zip\n", "CodeUri: BackendFunction\n")).unwrap();
    let manifest = repo.path("infra/lambda/.aws-sam/xtask-build-manifest.json");
    let recorded = fs::read(&manifest).expect("the build's manifest");
    fs::remove_file(&manifest).unwrap();
    // The real sam packages the build output into moto's S3, as sam deploy would; the function
    // runs that zip, so its CodeSha256 is what sam made.
    let packaged = repo.path("packaged.yaml");
    let mut package = std::process::Command::new(real_sam());
    package
        .args(["package", "--template-file"])
        .arg(repo.path("infra/lambda/.aws-sam/build/template.yaml"))
        .args(["--s3-bucket", BUCKET, "--s3-prefix", "doctor", "--region", REGION, "--output-template-file"])
        .arg(&packaged);
    moto.apply(&mut package);
    let (status, output) = run(&mut package);
    assert_eq!(status, 0, "sam package: {output}");
    let text = fs::read_to_string(&packaged).unwrap();
    let uri =
        text.lines().find_map(|l| l.trim().strip_prefix("CodeUri: s3://")).expect("a CodeUri in the packaged template");
    let (bucket, key) = uri.trim().split_once('/').unwrap();
    let code = format!("        S3Bucket: {bucket}\n        S3Key: {key}");
    seed_with_code(&moto, account, Some("10.20.0.0/16"), &code);
    put_logs(
        &moto,
        &["[ERROR] Runtime.ImportModuleError: Unable to import module 'handler': No module named 'pydantic_core._pydantic_core'\rTraceback (most recent call last):"],
    );
    let mut command = repo.xtask();
    command.args(["lambda-doctor", "--env", ENV]);
    moto.apply(&mut command);
    let (status, output) = run(&mut command);
    assert_eq!(status, 1, "{output}");
    let dependency = finding(&output, "import-missing-dependency");
    assert!(dependency.contains("the local build output is what is deployed (CodeSha256 "), "{dependency}");
    assert!(
        output.contains("[platform-binary] infra/lambda/.aws-sam/build/BackendFunction/pydantic_core/_pydantic_core.cpython-311-darwin.so"),
        "the guard names the file:\n{output}"
    );

    // A build that differs from what runs does not speak for it.
    fs::write(build.join("extra.py"), "x = 1\n").unwrap();
    let (status, output) = run(&mut command);
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("is not what BackendFunction runs"), "{output}");
    assert!(!output.contains("[platform-binary]"), "{output}");

    // With the manifest back, the build's own zip (made before the directory was edited) is
    // what a deploy would upload, and the edited directory does not speak for it either.
    fs::write(&manifest, recorded).unwrap();
    let (status, output) = run(&mut command);
    assert_eq!(status, 1, "{output}");
    assert!(
        output.contains("changed since the build packaged it as infra/lambda/.aws-sam/build/BackendFunction.zip, so it is not what BackendFunction runs"),
        "{output}"
    );
    assert!(!output.contains("[platform-binary]"), "{output}");
}

#[test]
fn the_local_env_starts_the_rehearsal_emulator_again_with_its_seeded_state() {
    let repo = RepoCopy::new();
    let mut command = repo.xtask();
    command
        .args(["lambda-doctor", "--env", "local"])
        .env_remove("AWS_ENDPOINT_URL")
        .env("AWS_ACCESS_KEY_ID", "AKIAREALLOOKINGKEY01")
        .env("AWS_SECRET_ACCESS_KEY", "real-looking-secret-not-used")
        .env_remove("AWS_PROFILE");
    let (status, output) = run(&mut command);
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("[lambda-doctor] local-aws done"), "{output}");
    assert!(output.contains("secret credmate/local/database (random value, never printed)"), "{output}");
    let missing = finding(&output, "stack-missing");
    assert!(missing.contains("stack credmate-backend-local does not exist in us-east-1"), "{missing}");
    assert!(output.contains("local AWS (moto) on port"), "moto is stopped at the end: {output}");
    assert!(!output.contains("real-looking-secret-not-used"), "{output}");
}
