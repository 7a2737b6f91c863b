//! End to end: the real xtask binary, the real SAM CLI and aws CLI, and a real moto server on
//! loopback (one per test). A fake program stands in only where moto cannot produce the state
//! (a ROLLBACK_COMPLETE stack) or the timing (a sam deploy that is still running on Ctrl-C).

use std::fs;
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::deploy::*;
use crate::support::{run, FakeBin, RepoCopy};

const SETTINGS: &str =
    "secret_prefix = \"credmate/staging/\"\nhealth_check = { path = \"/health\", expect_json = { status = \"healthy\" } }";

fn tag<'a>(stack: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    stack["Tags"].as_array()?.iter().find(|t| t["Key"] == key)?["Value"].as_str()
}

fn parameter<'a>(stack: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    stack["Parameters"].as_array()?.iter().find(|p| p["ParameterKey"] == key)?["ParameterValue"].as_str()
}

fn last_line(output: &str) -> &str {
    output.trim_end().lines().last().unwrap_or_default()
}

#[test]
fn deploys_a_tagged_stack_records_the_attempt_and_a_second_deploy_has_no_changes() {
    let moto = Moto::start();
    let account = seed_account(&moto);
    let repo = staging_repo(&account, SETTINGS, &[]);
    let health = HealthServer::healthy();

    let (status, output) = run(&mut deploy_command(&repo, &moto, &health));
    assert_eq!(status, 0, "{output}");
    for step in [
        "preflight-offline",
        "build-up-to-date",
        "aws-account",
        "stack-state",
        "secrets",
        "vpc-endpoint",
        "endpoint-ingress",
        "sam-deploy",
        "stack-status",
        "endpoint-ingress-after",
        "health-check",
    ] {
        assert!(output.contains(&format!("[lambda-deploy] {step} done in")), "step {step} not reported:\n{output}");
    }
    let stack = moto.stack(STACK).expect("the stack exists");
    assert_eq!(stack["StackStatus"], "CREATE_COMPLETE");
    assert_eq!(tag(&stack, "xtask:git-commit"), Some(head_commit(&repo).as_str()));
    assert_eq!(tag(&stack, "xtask:git-dirty"), Some("false"));
    assert_eq!(tag(&stack, "xtask:deployer"), Some("arn:aws:sts::123456789012:user/moto"));
    assert_eq!(tag(&stack, "xtask:version"), Some(lambda_xtask::VERSION));
    // No endpoint in the VPC before: the stack made its own, with ingress from the function.
    assert_eq!(parameter(&stack, "ExistingSecretsManagerVpcEndpoint"), Some(""));
    assert!(health.hits.load(std::sync::atomic::Ordering::SeqCst) >= 1, "the health URL was never asked");

    let lines = audit_lines(&repo);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let record = &lines[0];
    assert_eq!(record["result"], "succeeded");
    assert_eq!(record["env"], ENV);
    assert_eq!(record["stack"], STACK);
    assert_eq!(record["region"], REGION);
    assert_eq!(record["account"], MOTO_ACCOUNT);
    assert_eq!(record["deployer"], "arn:aws:sts::123456789012:user/moto");
    assert_eq!(record["commit"], head_commit(&repo).as_str());
    assert_eq!(record["dirty"], false);
    assert_eq!(record["no_changes"], false);
    assert!(record["change_set_id"].as_str().unwrap().contains(":changeSet/"), "{record}");
    for time in ["started_at", "ended_at"] {
        assert!(record[time].as_str().unwrap().ends_with('Z'), "{record}");
    }
    let steps: Vec<&str> = record["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(steps.contains(&"sam-deploy") && steps.contains(&"health-check"), "{steps:?}");
    assert!(record["steps"].as_array().unwrap().iter().all(|s| s["outcome"] == "ok" && s["duration_ms"].is_u64()));

    let (status, output) = run(&mut deploy_command(&repo, &moto, &health));
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("no changes"), "{output}");
    assert_eq!(moto.stack(STACK).unwrap()["StackStatus"], "CREATE_COMPLETE");
    let lines = audit_lines(&repo);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["no_changes"], true);
    assert_eq!(lines[1]["result"], "succeeded");
}

#[test]
fn a_secret_scheduled_for_deletion_aborts_before_the_stack_exists() {
    let moto = Moto::start();
    let account = seed_account(&moto);
    moto.aws(&[
        "secretsmanager",
        "delete-secret",
        "--secret-id",
        &account.database_secret,
        "--recovery-window-in-days",
        "7",
    ]);
    let repo = staging_repo(&account, SETTINGS, &[]);
    let health = HealthServer::healthy();

    let (status, output) = run(&mut deploy_command(&repo, &moto, &health));
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("[secret] infra/lambda/samconfig.toml:"), "{output}");
    assert!(
        output.contains(&format!(
            "DatabaseSecretArn names {}, which is scheduled for deletion (DeletedDate 20",
            account.database_secret
        )),
        "{output}"
    );
    assert!(output.contains("aws secretsmanager restore-secret --secret-id"), "{output}");
    assert!(last_line(&output).contains("failed at step secrets"), "{output}");
    assert!(moto.stack(STACK).is_none(), "the stack was created despite the finding");
    assert_eq!(audit_lines(&repo)[0]["result"], "aborted");
}

#[test]
fn an_existing_endpoint_in_the_vpc_is_passed_as_an_override_and_not_duplicated() {
    let moto = Moto::start();
    let account = seed_account(&moto);
    let (endpoint, _group) = existing_endpoint(&moto, &account, Some(&account.vpc_cidr));
    let repo = staging_repo(&account, SETTINGS, &[]);
    let health = HealthServer::healthy();

    let (status, output) = run(&mut deploy_command(&repo, &moto, &health));
    assert_eq!(status, 0, "{output}");
    assert!(
        output.contains(&format!("found the existing Secrets Manager endpoint {endpoint} in {}: passing it as ExistingSecretsManagerVpcEndpoint", account.vpc)),
        "{output}"
    );
    let stack = moto.stack(STACK).unwrap();
    assert_eq!(parameter(&stack, "ExistingSecretsManagerVpcEndpoint"), Some(endpoint.as_str()));
    assert!(output.contains(&format!("admits 443 from {}, which covers the VPC", account.vpc_cidr)), "{output}");
    let endpoints =
        moto.aws(&["ec2", "describe-vpc-endpoints", "--filters", &format!("Name=vpc-id,Values={}", account.vpc)]);
    let ids: Vec<&str> =
        endpoints["VpcEndpoints"].as_array().unwrap().iter().map(|e| e["VpcEndpointId"].as_str().unwrap()).collect();
    assert_eq!(ids, [endpoint.as_str()], "a second endpoint was created");
}

#[test]
fn missing_endpoint_ingress_is_caught_after_the_first_deploy_and_before_the_next_with_the_fix() {
    let moto = Moto::start();
    let account = seed_account(&moto);
    // The seed's endpoint group admitted only itself and the database's group.
    let (endpoint, endpoint_group) = existing_endpoint(&moto, &account, None);
    let repo = staging_repo(&account, SETTINGS, &[]);
    let health = HealthServer::healthy();

    // First deploy: the function's group does not exist until the stack does, so only the
    // check after the deploy can see the gap (as in the seed).
    let (status, output) = run(&mut deploy_command(&repo, &moto, &health));
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("[endpoint-ingress] infra/iac/main.tf"), "{output}");
    assert!(
        output.contains(&format!("{endpoint}'s security group {endpoint_group} does not admit tcp 443")),
        "{output}"
    );
    assert!(!output.contains("seed issue"), "a finding names the user's resources, not our incident report: {output}");
    assert!(last_line(&output).contains("failed at step endpoint-ingress-after"), "{output}");
    let fix = output
        .lines()
        .find_map(|l| l.trim().strip_prefix("fix:     "))
        .and_then(|l| l.split(';').next())
        .expect("a fix line")
        .to_string();
    assert!(
        fix.starts_with(&format!("aws ec2 authorize-security-group-ingress --group-id {endpoint_group} --protocol tcp --port 443 --source-group sg-")),
        "{fix}"
    );
    assert_eq!(audit_lines(&repo)[0]["result"], "failed");

    // Second deploy: now the preflight sees it and stops before sam changes the stack.
    let before = moto.stack_snapshot(STACK);
    let (status, output) = run(&mut deploy_command(&repo, &moto, &health));
    assert_eq!(status, 1, "{output}");
    assert!(last_line(&output).contains("failed at step endpoint-ingress"), "{output}");
    assert!(!output.contains("sam-deploy ..."), "sam deploy ran:\n{output}");
    assert_eq!(moto.stack_snapshot(STACK), before, "the stack changed");
    assert_eq!(audit_lines(&repo)[1]["result"], "aborted");

    // The printed command is the fix.
    let args: Vec<&str> = fix.split_whitespace().skip(1).collect();
    moto.aws(&args);
    let (status, output) = run(&mut deploy_command(&repo, &moto, &health));
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("admits 443 from the function's security group"), "{output}");
}

#[test]
fn credentials_of_another_account_abort_before_any_stack_change() {
    let moto = Moto::start();
    let mut account = seed_account(&moto);
    // samconfig names the right account's secrets; the credentials are for another one.
    account.database_secret = account.database_secret.replace(MOTO_ACCOUNT, "051826703172");
    account.jwt_secret = account.jwt_secret.replace(MOTO_ACCOUNT, "051826703172");
    let repo = staging_repo(&account, &format!("{SETTINGS}\naccount_id = \"051826703172\""), &[]);
    let health = HealthServer::healthy();

    let (status, output) = run(&mut deploy_command(&repo, &moto, &health));
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("[aws-account]"), "{output}");
    assert!(
        output.contains("the credentials belong to account 123456789012 (arn:aws:sts::123456789012:user/moto), but staging lives in account 051826703172"),
        "{output}"
    );
    assert!(last_line(&output).contains("failed at step aws-account"), "{output}");
    assert!(moto.stack(STACK).is_none());
    let record = &audit_lines(&repo)[0];
    assert_eq!(record["result"], "aborted");
    assert_eq!(record["account"], MOTO_ACCOUNT);
}

#[test]
fn a_secret_outside_the_path_convention_is_flagged_at_its_samconfig_line_before_any_aws_call() {
    let moto = Moto::start();
    let mut account = seed_account(&moto);
    // The seed's mix-up: prod named the stale credmate/prod/ secrets.
    account.jwt_secret = create_secret(&moto, "credmate/prod/jwt", "stale");
    let repo = staging_repo(&account, SETTINGS, &[]);
    let health = HealthServer::healthy();
    let bin = FakeBin::new();
    bin.add("aws", 1);

    // In CI mode, as the workflow runs it: the finding is also an annotation on that line, a
    // row of the step summary and a finding of the report, like a guard's.
    let summary = repo.path("step-summary.md");
    let mut command = deploy_command(&repo, &moto, &health);
    command.args(["--json", "report.json"]).env("PATH", bin.path_env()).env("CI", "true");
    let output = command.env("GITHUB_STEP_SUMMARY", &summary).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let status = output.status.code();
    assert_eq!(status, Some(1), "{stderr}");
    let samconfig = fs::read_to_string(repo.path("infra/lambda/samconfig.toml")).unwrap();
    let line =
        samconfig.lines().position(|l| l.contains("JwtSecretArn=") && l.contains("credmate/prod/jwt")).unwrap() + 1;
    assert!(stderr.contains(&format!("[secret-path] infra/lambda/samconfig.toml:{line}")), "{stderr}");
    assert!(
        stderr.contains("names secret credmate/prod/jwt, outside staging's path convention credmate/staging/"),
        "{stderr}"
    );
    assert!(last_line(&stderr).contains("failed at step preflight-offline"), "{stderr}");
    assert!(!bin.was_called("aws"), "aws was called before the offline checks passed");

    let annotations: Vec<&str> = stdout.lines().filter(|l| l.starts_with("::error")).collect();
    assert_eq!(annotations.len(), 1, "one annotation per finding, none for the failure: {stdout}");
    let expected = format!("::error file=infra/lambda/samconfig.toml,line={line},title=secret-path::");
    assert!(annotations[0].starts_with(&expected), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(repo.path("report.json")).unwrap()).unwrap();
    assert_eq!(report["findings"][0]["step"], "preflight-offline", "{report:#}");
    assert_eq!(report["findings"][0]["line"], line, "{report:#}");
    assert_eq!(report["deploy"]["result"], "aborted", "{report:#}");
    let summary = fs::read_to_string(&summary).unwrap();
    assert!(summary.contains("#### Findings (1)"), "{summary}");
    assert!(summary.contains(&format!("- **secret-path** `infra/lambda/samconfig.toml:{line}`")), "{summary}");
    assert_eq!(audit_lines(&repo)[0]["result"], "aborted");
}

/// moto cannot leave a stack in ROLLBACK_COMPLETE (a failed create stays CREATE_IN_PROGRESS
/// there), so `aws cloudformation describe-stacks` replays a recorded answer; every other
/// call goes to the real aws CLI and moto.
fn fake_aws_with_a_rolled_back_stack(bin: &FakeBin) {
    let recorded = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/describe_stacks_rollback_complete.json");
    let calls = bin.calls_path("aws");
    bin.add_script(
        "aws",
        &format!(
            "case \"$*\" in\n  'cloudformation describe-stacks'*)\n    if ! grep -q 'cloudformation delete-stack' '{calls}'; then cat '{recorded}'; exit 0; fi ;;\n  'cloudformation delete-stack'*) exit 0 ;;\nesac\nexec '{real}' \"$@\"",
            calls = calls.display(),
            real = aws_cli().display()
        ),
    );
}

#[test]
fn a_rolled_back_stack_aborts_with_the_delete_command_and_replace_failed_stack_replaces_it() {
    let moto = Moto::start();
    let account = seed_account(&moto);
    let repo = staging_repo(&account, SETTINGS, &[]);
    let health = HealthServer::healthy();
    let bin = FakeBin::new();
    fake_aws_with_a_rolled_back_stack(&bin);

    let (status, output) = run(deploy_command(&repo, &moto, &health).env("PATH", bin.path_env()));
    assert_eq!(status, 1, "{output}");
    assert!(output.contains(&format!("[stack-state] stack {STACK}")), "{output}");
    assert!(output.contains("is ROLLBACK_COMPLETE: its first create failed"), "{output}");
    assert!(
        output.contains(&format!("aws cloudformation delete-stack --stack-name {STACK} --region {REGION} && aws cloudformation wait stack-delete-complete --stack-name {STACK}")),
        "{output}"
    );
    assert!(output.contains("--replace-failed-stack"), "{output}");
    assert!(last_line(&output).contains("failed at step stack-state"), "{output}");
    assert!(moto.stack(STACK).is_none(), "sam deploy ran");
    let calls = fs::read_to_string(bin.calls_path("aws")).unwrap();
    assert!(!calls.contains("delete-stack"), "{calls}");

    let (status, output) =
        run(deploy_command(&repo, &moto, &health).arg("--replace-failed-stack").env("PATH", bin.path_env()));
    assert_eq!(status, 0, "{output}");
    let calls = fs::read_to_string(bin.calls_path("aws")).unwrap();
    assert!(calls.contains(&format!("cloudformation delete-stack --stack-name {STACK}")), "{calls}");
    assert_eq!(moto.stack(STACK).unwrap()["StackStatus"], "CREATE_COMPLETE");
}

#[test]
fn dry_run_creates_and_describes_a_change_set_and_executes_nothing() {
    let moto = Moto::start();
    let account = seed_account(&moto);
    let repo = staging_repo(&account, SETTINGS, &[]);
    let health = HealthServer::healthy();
    let (status, output) = run(&mut deploy_command(&repo, &moto, &health));
    assert_eq!(status, 0, "{output}");

    // Preview an update: the template gains a resource. The build output is now older than
    // the template, so --skip-build builds anyway.
    let template = repo.path("infra/lambda/template.yaml");
    let text = fs::read_to_string(&template).unwrap();
    fs::write(
        &template,
        text.replace("\nResources:\n", "\nResources:\n  DeployNotifications:\n    Type: AWS::SNS::Topic\n\n"),
    )
    .unwrap();
    git_commit(&repo);
    let hits_before = health.hits.load(std::sync::atomic::Ordering::SeqCst);
    let (status, output) = run(deploy_command(&repo, &moto, &health).args(["--dry-run", "--container", "never"]));
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("[lambda-build] building: config/template changed"), "{output}");
    assert!(output.contains("[lambda-deploy] sam-build done in"), "{output}");
    assert!(output.contains("not executed"), "{output}");
    assert!(output.lines().any(|l| l.contains("Add") && l.contains("DeployNotifications")), "{output}");
    assert!(!output.contains("health-check ..."), "{output}");
    let stack = moto.stack(STACK).unwrap();
    assert_eq!(stack["StackStatus"], "CREATE_COMPLETE", "the change set was executed");
    let resources = moto.aws(&["cloudformation", "describe-stack-resources", "--stack-name", STACK]);
    assert!(!resources.to_string().contains("DeployNotifications"), "the change set was executed");
    let change_sets = moto.aws(&["cloudformation", "list-change-sets", "--stack-name", STACK]);
    let pending: Vec<&serde_json::Value> =
        change_sets["Summaries"].as_array().unwrap().iter().filter(|c| c["ExecutionStatus"] == "AVAILABLE").collect();
    assert_eq!(pending.len(), 1, "{change_sets}");
    let record = &audit_lines(&repo)[1];
    assert_eq!(record["dry_run"], true);
    assert_eq!(record["result"], "succeeded");
    assert_eq!(record["change_set_id"], pending[0]["ChangeSetId"]);
    assert_eq!(health.hits.load(std::sync::atomic::Ordering::SeqCst), hits_before);
}

#[test]
fn an_unhealthy_api_fails_the_deploy_naming_the_url_and_the_answer() {
    let moto = Moto::start();
    let account = seed_account(&moto);
    let repo = staging_repo(&account, SETTINGS, &[]);
    let health = HealthServer::answering(502, r#"{"message": "Internal server error"}"#);

    let (status, output) = run(deploy_command(&repo, &moto, &health).args(["--health-timeout", "3"]));
    assert_eq!(status, 1, "{output}");
    assert!(
        output.contains(&format!(
            "GET {} did not answer 2xx/3xx with {{\"status\":\"healthy\"}} within 3s",
            health.url()
        )),
        "{output}"
    );
    assert!(output.contains("status 502, expected 2xx/3xx (a 5xx always fails)"), "{output}");
    assert!(health.hits.load(std::sync::atomic::Ordering::SeqCst) >= 2, "not retried");
    assert!(last_line(&output).contains("failed at step health-check"), "{output}");
    let record = &audit_lines(&repo)[0];
    assert_eq!(record["result"], "failed");
    assert_eq!(record["health_check"]["check"], "http");
    assert_eq!(record["health_check"]["url"], health.url());
    assert_eq!(record["health_check"]["passed"], false);
    assert!(record["health_check"]["answer"].as_str().unwrap().starts_with("502 "), "{record}");
}

#[test]
fn no_secret_value_or_credential_reaches_the_output_or_the_audit_log() {
    const KEY_ID: &str = "AKIACANARY7Q2W3E4R5T";
    const SECRET_KEY: &str = "canary-secret-access-key-9f8e7d6c5b4a";
    const TOKEN: &str = "canary-session-token-1a2b3c4d5e6f";
    const SECRET_VALUE: &str = "canary-secret-value-0a9b8c7d";
    let moto = Moto::start();
    let mut account = seed_account(&moto);
    account.database_secret = create_secret(&moto, "credmate/staging/canary", SECRET_VALUE);
    let repo = staging_repo(&account, SETTINGS, &[]);
    let health = HealthServer::healthy();
    let with_canaries = |command: &mut std::process::Command| {
        command
            .env("AWS_ACCESS_KEY_ID", KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_SESSION_TOKEN", TOKEN);
    };

    let mut deploy = deploy_command(&repo, &moto, &health);
    with_canaries(&mut deploy);
    let (status, succeeded) = run(&mut deploy);
    assert_eq!(status, 0, "{succeeded}");
    // A failing run prints error chains too.
    moto.aws(&[
        "secretsmanager",
        "delete-secret",
        "--secret-id",
        &account.database_secret,
        "--recovery-window-in-days",
        "7",
    ]);
    let mut deploy = deploy_command(&repo, &moto, &health);
    with_canaries(&mut deploy);
    let (status, failed) = run(deploy.arg("--dry-run"));
    assert_eq!(status, 1, "{failed}");

    let audit = fs::read_to_string(repo.path("deploy-log.jsonl")).unwrap();
    for (what, text) in [("successful run", &succeeded), ("failed run", &failed), ("audit log", &audit)] {
        for canary in [KEY_ID, SECRET_KEY, TOKEN, SECRET_VALUE] {
            assert!(!text.contains(canary), "{canary} appears in the {what}:\n{text}");
        }
    }
}

#[test]
fn sigint_during_sam_deploy_reaches_sam_records_an_interrupted_attempt_and_exits_130() {
    let moto = Moto::start();
    let account = seed_account(&moto);
    let repo = staging_repo(&account, SETTINGS, &[]);
    let health = HealthServer::healthy();
    // The real sam deploy finishes against moto in seconds; this one waits for the signal.
    // Another sam on PATH is a new build input, so `sam build` runs first: that goes to the
    // real SAM CLI.
    let bin = FakeBin::new();
    let started = bin.dir.path().join("started");
    bin.add_script(
        "sam",
        &format!(
            "if [ \"$1\" = build ]; then exec '{real}' \"$@\"; fi\ntrap 'echo got-INT >> \"{calls}\"; exit 130' INT\ntouch \"{started}\"\nwhile :; do sleep 0.05; done",
            real = real_sam().display(),
            calls = bin.calls_path("sam").display(),
            started = started.display()
        ),
    );

    let child = deploy_command(&repo, &moto, &health)
        .env("PATH", bin.path_env())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !started.exists() {
        assert!(Instant::now() < deadline, "sam deploy never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let output = child.wait_with_output().unwrap();
    let text = crate::support::text(&output);
    assert_eq!(output.status.code(), Some(130), "{text}");
    assert!(fs::read_to_string(bin.calls_path("sam")).unwrap().contains("got-INT"), "sam never got the signal");
    assert!(last_line(&text).contains("interrupted at step sam-deploy"), "{text}");
    assert!(text.contains("CloudFormation may still be applying the change set"), "{text}");
    let record = &audit_lines(&repo)[0];
    assert_eq!(record["result"], "interrupted");
    assert_eq!(record["exit_status"], 130);
}

/// moto never answers garbage; a proxy or a broken install can. A fake aws prints an HTML
/// error page where JSON belongs.
#[test]
fn garbage_instead_of_json_from_aws_fails_naming_the_call_and_is_audited() {
    let account = Account {
        vpc: "vpc-0a1b2c3d4e5f60718".into(),
        vpc_cidr: "10.20.0.0/16".into(),
        subnets: vec!["subnet-0a1b2c3d4e5f60718".into()],
        database_secret: "arn:aws:secretsmanager:us-east-1:123456789012:secret:credmate/staging/database-Q1w2E3".into(),
        jwt_secret: "arn:aws:secretsmanager:us-east-1:123456789012:secret:credmate/staging/jwt-R4t5Y6".into(),
    };
    let repo = staging_repo(&account, SETTINGS, &[]);
    let bin = FakeBin::new();
    let path = bin.dir.path().join("aws");
    fs::write(&path, "#!/bin/sh\necho '<html><body>502 Bad Gateway</body></html>'\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();

    let mut command = repo.xtask();
    command.args(["lambda-deploy", "--env", ENV, "--skip-build"]).env("PATH", bin.path_env());
    let (status, output) = run(&mut command);
    assert_eq!(status, 1, "{output}");
    assert!(
        output.contains("aws sts get-caller-identity answered with something that is not the JSON expected"),
        "{output}"
    );
    assert!(output.contains("502 Bad Gateway"), "{output}");
    assert!(last_line(&output).contains("failed at step aws-account"), "{output}");
    let record = &audit_lines(&repo)[0];
    assert_eq!(record["result"], "failed");
    assert!(record["error"].as_str().unwrap().contains("not the JSON expected"), "{record}");
}

#[test]
fn an_unknown_environment_is_bad_usage_listing_the_known_ones() {
    let repo = RepoCopy::new();
    let bin = FakeBin::new();
    bin.add("aws", 0);
    bin.add("sam", 0);
    let (status, output) = run(repo.xtask().args(["lambda-deploy", "--env", "production"]).env("PATH", bin.path_env()));
    assert_eq!(status, 2, "{output}");
    assert_eq!(output.trim().lines().count(), 1, "not one line:\n{output}");
    assert!(output.contains("unknown environment \"production\""), "{output}");
    assert!(output.contains("defines dev, local, prod"), "{output}");
    assert!(!bin.was_called("aws") && !bin.was_called("sam"));
    assert!(!repo.path("deploy-log.jsonl").exists());
}

#[test]
fn a_protected_environment_without_a_terminal_or_yes_is_refused_before_any_aws_call() {
    let repo = RepoCopy::new();
    let bin = FakeBin::new();
    bin.add("aws", 0);
    bin.add("sam", 0);
    let (status, output) =
        run(repo.xtask().args(["lambda-deploy", "--env", "prod"]).env("PATH", bin.path_env()).stdin(Stdio::null()));
    assert_eq!(status, 2, "{output}");
    assert_eq!(output.trim().lines().count(), 1, "not one line:\n{output}");
    assert!(
        output.contains("prod is a protected environment and there is no terminal to confirm on: pass --yes"),
        "{output}"
    );
    assert!(!bin.was_called("aws"), "aws was called");
    assert!(!bin.was_called("sam"), "sam was called");
    assert!(!repo.path("infra/lambda/functions/backend/src").exists(), "the build ran");
    assert!(!repo.path("deploy-log.jsonl").exists());
}

#[test]
fn a_protected_environment_refuses_a_dirty_tree_before_any_aws_call() {
    let repo = RepoCopy::new();
    git_commit(&repo);
    repo.write("backend/src/uncommitted.py", "x = 1\n");
    let bin = FakeBin::new();
    bin.add("aws", 0);
    bin.add("sam", 0);
    let (status, output) =
        run(repo.xtask().args(["lambda-deploy", "--env", "prod", "--yes"]).env("PATH", bin.path_env()));
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("[protected-env]"), "{output}");
    assert!(output.contains("uncommitted or untracked changes in 1 file: backend/src/uncommitted.py"), "{output}");
    assert!(output.contains("--allow-dirty"), "{output}");
    assert!(!bin.was_called("aws"), "aws was called:\n{output}");
    assert!(!bin.was_called("sam"), "sam was called:\n{output}");
    assert_eq!(audit_lines(&repo)[0]["result"], "aborted");
}

/// The README's rehearsal, on a fresh clone: builds, starts moto, seeds it, deploys into it,
/// checks the deployed stack and the built handler, stops moto.
#[test]
fn the_local_rehearsal_deploys_without_an_aws_account_and_stops_its_server() {
    let repo = RepoCopy::new();
    git_commit(&repo);
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
    let (status, output) = run(&mut command);
    assert_eq!(status, 0, "{output}");
    for step in [
        "sam-build",
        "local-aws",
        "aws-account",
        "secrets",
        "vpc-endpoint",
        "sam-deploy",
        "stack-status",
        "endpoint-ingress-after",
        "health-check",
    ] {
        assert!(output.contains(&format!("[lambda-deploy] {step} done in")), "step {step} not reported:\n{output}");
    }
    assert!(output.contains("passing it as ExistingSecretsManagerVpcEndpoint"), "{output}");
    assert!(output.contains("BackendFunction: smoke test passed: 200"), "{output}");
    let port: u16 = output
        .split("at http://localhost:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .expect("the moto port in the output");
    assert!(output.contains(&format!("local AWS (moto) on port {port} stopped")), "{output}");
    assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(), "moto still answers on {port}");
    let record = &audit_lines(&repo)[0];
    assert_eq!(record["result"], "succeeded");
    assert_eq!(record["rehearsal"], true);
    assert_eq!(record["env"], "local");
    assert_eq!(record["health_check"]["check"], "smoke-test");
    assert_eq!(record["health_check"]["functions"][0]["function"], "BackendFunction");
}
