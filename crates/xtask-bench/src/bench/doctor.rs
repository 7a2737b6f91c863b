//! The doctor's speed target: from `cargo xtask lambda-doctor` to the diagnosis in under 3 s
//! for a stack with 100 events and a function with 10,000 log lines, against moto.
//!
//! moto makes the stack (a real AWS::Lambda::Function in it) and holds the 10,000 log lines
//! (put-log-events); it records only a stack's own create events, so the 100 events are a
//! generated describe-stack-events answer (AWS's shape: 49 resources created, then the stack)
//! that an aws wrapper prints after making the real call, which keeps that call's cost in the
//! timing.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use xshell::Shell;

use lambda_xtask::aws::moto::MotoServer;
use lambda_xtask::aws::Aws;
use lambda_xtask::project::config::Project;

pub const STACK: &str = "credmate-backend-bench";
const FUNCTION: &str = "credmate-backend-bench";
pub const EVENTS: usize = 100;
pub const LOG_LINES: usize = 10_000;

const TEMPLATE: &str = r#"
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
      FunctionName: credmate-backend-bench
      Runtime: python3.11
      Handler: handler.handler
      Timeout: 30
      Role: !GetAtt BackendFunctionRole.Arn
      Code:
        ZipFile: "def handler(event, context):\n    return {'statusCode': 200}\n"
"#;

/// Seeds moto, writes the wrapper and the environment into `repo`; returns the command to time.
pub fn prepare(work: &Path, repo: &Path, xtask: &Path, project: &Project) -> Result<(MotoServer, Command)> {
    let sh = Shell::new()?;
    let moto_exe = lambda_xtask::aws::moto::locate(&sh, &project.config.deploy.moto_version)?;
    let server = MotoServer::start(&lambda_xtask::aws::moto::MotoStart {
        executable: &moto_exe,
        log: &work.join("moto-bench.log"),
        account_id: None,
        work_dir: &work.join("moto-bench"),
        recording: lambda_xtask::aws::moto::Recording::None,
    })?;
    let aws_exe = lambda_xtask::aws::locate(&sh, &project.config.deploy.awscli_version)?;
    let mut aws = Aws::new(aws_exe.clone(), "us-east-1".into(), None);
    let env: [(&str, String); 6] = [
        ("AWS_ENDPOINT_URL", server.endpoint_url()),
        ("AWS_ACCESS_KEY_ID", "bench".into()),
        ("AWS_SECRET_ACCESS_KEY", "bench".into()),
        ("AWS_CONFIG_FILE", "/dev/null".into()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ];
    for (key, value) in &env {
        aws.set_env(key, value);
    }

    create_stack(&sh, &aws, work)?;
    put_log_lines(&sh, &aws, work)?;

    let wrapper_dir = write_aws_wrapper(work, &aws_exe)?;
    add_bench_environment(repo, project)?;

    let mut command = Command::new(xtask);
    command.current_dir(repo).args(["lambda-doctor", "--env", "bench"]);
    for (key, value) in &env {
        command.env(key, value);
    }
    let path = std::env::var("PATH").unwrap_or_default();
    command.env("PATH", format!("{}:{path}", wrapper_dir.display())).env_remove("AWS_PROFILE").env("NO_COLOR", "1");
    check_setup(&mut command)?;
    Ok((server, command))
}

/// The stack in moto, from [`TEMPLATE`].
fn create_stack(sh: &Shell, aws: &Aws, work: &Path) -> Result<()> {
    let template = work.join("doctor-stack.yaml");
    fs::write(&template, TEMPLATE)?;
    let body = format!("file://{}", template.display());
    aws.write(
        sh,
        &[
            "cloudformation",
            "create-stack",
            "--stack-name",
            STACK,
            "--template-body",
            &body,
            "--capabilities",
            "CAPABILITY_IAM",
        ],
        "aws cloudformation create-stack",
    )?;
    Ok(())
}

/// The function's log group with [`LOG_LINES`] lines, in two streams, ten minutes old.
fn put_log_lines(sh: &Shell, aws: &Aws, work: &Path) -> Result<()> {
    let group = format!("/aws/lambda/{FUNCTION}");
    aws.write(sh, &["logs", "create-log-group", "--log-group-name", &group], "aws logs create-log-group")?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64 - 10 * 60_000;
    for batch in 0..2 {
        let stream = format!("2026/12/01/[$LATEST]bench{batch}");
        aws.write(
            sh,
            &["logs", "create-log-stream", "--log-group-name", &group, "--log-stream-name", &stream],
            "aws logs create-log-stream",
        )?;
        let events: Vec<serde_json::Value> = (0..LOG_LINES / 2)
            .map(|i| {
                let n = batch * LOG_LINES / 2 + i;
                serde_json::json!({"timestamp": now + n as i64, "message": log_line(n)})
            })
            .collect();
        let file = work.join(format!("log-events-{batch}.json"));
        fs::write(&file, serde_json::to_string(&events)?)?;
        let file = format!("file://{}", file.display());
        aws.write(
            sh,
            &[
                "logs",
                "put-log-events",
                "--log-group-name",
                &group,
                "--log-stream-name",
                &stream,
                "--log-events",
                &file,
            ],
            "aws logs put-log-events",
        )?;
    }
    Ok(())
}

/// An `aws` that answers describe-stack-events with the generated [`EVENTS`] after making the
/// real call; returns the dir to put first on PATH.
fn write_aws_wrapper(work: &Path, aws_exe: &Path) -> Result<PathBuf> {
    let events = work.join("stack-events.json");
    fs::write(&events, stack_events())?;
    let wrapper_dir = work.join("doctor-bin");
    fs::create_dir_all(&wrapper_dir)?;
    let wrapper = wrapper_dir.join("aws");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ncase \"$*\" in\n  'cloudformation describe-stack-events'*) '{real}' \"$@\" >/dev/null && cat '{events}'; exit $? ;;\nesac\nexec '{real}' \"$@\"\n",
            real = aws_exe.display(),
            events = events.display()
        ),
    )?;
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755))?;
    Ok(wrapper_dir)
}

/// The `bench` environment in the repo's samconfig, pointing at the moto stack.
fn add_bench_environment(repo: &Path, project: &Project) -> Result<()> {
    let samconfig = repo.join(project.samconfig());
    let mut text = fs::read_to_string(&samconfig).with_context(|| format!("reading {}", samconfig.display()))?;
    text.push_str(&format!("\n[bench.deploy.parameters]\nstack_name = \"{STACK}\"\nregion = \"us-east-1\"\n"));
    fs::write(&samconfig, text)?;
    Ok(())
}

fn check_setup(command: &mut Command) -> Result<()> {
    // One run to check the set-up: the diagnosis must see every event and line.
    let output = command.output().context("running lambda-doctor")?;
    let text = String::from_utf8_lossy(&output.stderr);
    if !text.contains(&format!("{EVENTS} stack event(s)"))
        || !text.contains(&format!("{LOG_LINES} log event(s)"))
        || !text.contains("[import-missing-source]")
    {
        bail!("the doctor benchmark's set-up is not what it should be:\n{text}");
    }
    Ok(())
}

/// Lambda's own lines, with an import error on one cold start in fifty and a timeout now and
/// then: the doctor reads every line.
fn log_line(n: usize) -> String {
    let request = format!("{:08x}-1f2e-4d3c-9b8a-{:012x}", n / 4, n / 4);
    match n % 4 {
        0 => format!("START RequestId: {request} Version: $LATEST"),
        1 if n % 200 == 1 => "[ERROR] Runtime.ImportModuleError: Unable to import module 'handler': No module named 'src'\rTraceback (most recent call last):".into(),
        1 => format!("[INFO]\t2026-12-01T08:00:00.000Z\t{request}\tGET /health 200 in 3 ms"),
        2 => format!("END RequestId: {request}"),
        _ => format!("REPORT RequestId: {request}\tDuration: 3.12 ms\tBilled Duration: 4 ms\tMemory Size: 1024 MB\tMax Memory Used: 88 MB"),
    }
}

/// 100 events, newest first: the stack's create with 49 resources, as AWS reports it.
fn stack_events() -> String {
    let stack_id =
        format!("arn:aws:cloudformation:us-east-1:123456789012:stack/{STACK}/0b1c2d3e-4f5a-11f0-8b9c-0a1b2c3d4e5f");
    let event = |i: usize, logical: &str, kind: &str, status: &str| {
        serde_json::json!({
            "StackId": stack_id, "EventId": format!("{logical}-{status}-{i}"), "StackName": STACK,
            "LogicalResourceId": logical, "PhysicalResourceId": if kind == "AWS::CloudFormation::Stack" { stack_id.clone() } else { format!("{logical}-physical") },
            "ResourceType": kind, "Timestamp": format!("2026-12-01T08:{:02}:{:02}.000000+00:00", i / 60, i % 60),
            "ResourceStatus": status,
        })
    };
    let mut events = vec![event(0, STACK, "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS")];
    for r in 0..(EVENTS - 2) / 2 {
        let logical = format!("Parameter{r:02}");
        events.push(event(1 + 2 * r, &logical, "AWS::SSM::Parameter", "CREATE_IN_PROGRESS"));
        events.push(event(2 + 2 * r, &logical, "AWS::SSM::Parameter", "CREATE_COMPLETE"));
    }
    events.push(event(EVENTS - 1, STACK, "AWS::CloudFormation::Stack", "CREATE_COMPLETE"));
    events.reverse();
    serde_json::json!({ "StackEvents": events }).to_string()
}
