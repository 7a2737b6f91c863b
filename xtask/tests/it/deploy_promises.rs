//! README promises of lambda-deploy that had no test of their own (issue 15), against the real
//! aws CLI, SAM CLI and moto. A fake stands in only to inject a state moto cannot produce (a
//! ROLLBACK_COMPLETE status, for the state check alone) or to hold sam deploy still.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::deploy::*;
use crate::support::{run, FakeBin, RepoCopy};

const SETTINGS: &str = "secret_prefix = \"credmate/staging/\"";

/// `--replace-failed-stack` on a stack that really exists in moto: the state check is told
/// ROLLBACK_COMPLETE; the delete, the wait and the new create are real.
#[test]
fn replace_failed_stack_deletes_the_real_stack_waits_and_creates_it_again() {
    let moto = Moto::start();
    let account = seed_account(&moto);
    // The account's own endpoint, as the seed's brownfield VPC has: the stack creates none, so
    // deleting it leaves nothing behind that moto would keep (it does not delete endpoints).
    existing_endpoint(&moto, &account, Some(&account.vpc_cidr));
    let repo = staging_repo(&account, SETTINGS, &[]);
    let health = HealthServer::healthy();
    let (status, output) = run(&mut deploy_command(&repo, &moto, &health));
    assert_eq!(status, 0, "{output}");
    let first = moto.stack(STACK).unwrap()["StackId"].as_str().unwrap().to_string();

    let bin = FakeBin::new();
    let calls = bin.calls_path("aws");
    bin.add_script(
        "aws",
        &format!(
            "case \"$*\" in\n  'cloudformation describe-stacks'*)\n    if ! grep -q 'cloudformation delete-stack' '{calls}'; then '{real}' \"$@\" | sed 's/\"StackStatus\": \"[A-Z_]*\"/\"StackStatus\": \"ROLLBACK_COMPLETE\"/'; exit 0; fi ;;\nesac\nexec '{real}' \"$@\"",
            calls = calls.display(),
            real = aws_cli().display()
        ),
    );
    let (status, output) =
        run(deploy_command(&repo, &moto, &health).arg("--replace-failed-stack").env("PATH", bin.path_env()));
    assert_eq!(status, 0, "{output}");

    // The old stack is really gone, and a new one of the same name was created after it.
    let old = moto.aws(&["cloudformation", "describe-stacks", "--stack-name", &first]);
    assert_eq!(old["Stacks"][0]["StackStatus"], "DELETE_COMPLETE", "{old}");
    let new = moto.stack(STACK).unwrap();
    assert_ne!(new["StackId"].as_str().unwrap(), first);
    assert_eq!(new["StackStatus"], "CREATE_COMPLETE");
    // In that order: deleted (the wait saw it gone), then sam deploy.
    let deleted = output.find(&format!("    {STACK} deleted")).expect("the wait's end");
    let deploy = output.find("[lambda-deploy] sam-deploy ...").expect("the deploy");
    assert!(output.find("    deleting").unwrap() < deleted && deleted < deploy, "{output}");
}

/// The SAM CLI of the tool cache (installed by the first `cargo xtask lambda-build`).
fn cached_sam() -> PathBuf {
    let home = std::env::var("HOME").unwrap();
    let cache = std::env::var_os("LAMBDA_XTASK_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(home).join(".cache/lambda-xtask"));
    cache.join("tools/aws-sam-cli-1.170.0/bin/sam")
}

fn real(executable: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(format!("command -v {executable}")).output().unwrap();
    let found = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!found.is_empty(), "{executable} on PATH");
    found
}

/// A rehearsal whose moto records its pid and whose sam deploy runs `deploy_body` (sam
/// build is the real one).
fn rehearsal_with(deploy_body: &str) -> (RepoCopy, FakeBin, Command) {
    let repo = RepoCopy::new();
    git_commit(&repo);
    let bin = FakeBin::new();
    let dir = bin.dir.path().display().to_string();
    bin.add_script("moto_server", &format!("echo $$ > {dir}/moto.pid\nexec '{}' \"$@\"", real("moto_server")));
    bin.add_script(
        "sam",
        &format!("if [ \"$1\" = deploy ]; then\n{deploy_body}\nfi\nexec '{}' \"$@\"", cached_sam().display()),
    );
    let mut command = repo.xtask();
    command.args(["lambda-deploy", "--env", "local", "--container", "never"]).env("PATH", bin.path_env());
    for name in ["AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"] {
        command.env_remove(name);
    }
    (repo, bin, command)
}

fn moto_pid(bin: &FakeBin) -> i32 {
    fs::read_to_string(bin.dir.path().join("moto.pid")).unwrap().trim().parse().unwrap()
}

fn runs(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')))
}

/// A failed rehearsal stops its moto (checked by pid), and what it ran never saw the user's
/// real credentials: sam deploy's environment holds the rehearsal's dummy ones and moto's
/// endpoint only.
#[test]
fn a_failed_rehearsal_stops_moto_and_never_hands_on_the_users_credentials() {
    const KEY_ID: &str = "AKIACANARY7Q2W3E4R5T";
    const SECRET_KEY: &str = "canary-secret-access-key-9f8e7d6c5b4a";
    const TOKEN: &str = "canary-session-token-1a2b3c4d5e6f";
    let env_seen = tempfile::NamedTempFile::new().unwrap();
    let (_repo, bin, mut command) = rehearsal_with(&format!(
        "env > '{}'\necho 'Error: deploy failed on cue' >&2\nexit 1",
        env_seen.path().display()
    ));
    command.env("AWS_ACCESS_KEY_ID", KEY_ID).env("AWS_SECRET_ACCESS_KEY", SECRET_KEY).env("AWS_SESSION_TOKEN", TOKEN);

    let (status, output) = run(&mut command);

    assert_eq!(status, 1, "{output}");
    assert!(output.contains("failed at step sam-deploy"), "{output}");
    let moto = moto_pid(&bin);
    assert!(!runs(moto), "moto_server (pid {moto}) still runs after the failed rehearsal");
    let seen = fs::read_to_string(env_seen.path()).unwrap();
    for canary in [KEY_ID, SECRET_KEY, TOKEN] {
        assert!(!seen.contains(canary), "sam deploy got the user's {canary}");
        assert!(!output.contains(canary), "{canary} in the output");
    }
    assert!(seen.contains("AWS_ACCESS_KEY_ID=rehearsal"), "{seen}");
    assert!(seen.contains("AWS_ENDPOINT_URL=http://localhost:"), "{seen}");
}

/// Ctrl-C during the rehearsal's sam deploy: exit 130 and its moto stopped (checked by pid).
#[test]
fn ctrl_c_during_a_rehearsal_stops_moto() {
    let started = tempfile::tempdir().unwrap();
    let marker = started.path().join("deploying");
    let (_repo, bin, mut command) =
        rehearsal_with(&format!("trap 'exit 130' INT\ntouch '{}'\nwhile :; do sleep 0.05; done", marker.display()));
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    while !marker.exists() {
        assert!(child.try_wait().unwrap().is_none(), "the rehearsal ended before sam deploy");
        assert!(Instant::now() < deadline, "sam deploy never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let moto = moto_pid(&bin);
    assert!(runs(moto));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", crate::support::text(&output));
    assert!(!runs(moto), "moto_server (pid {moto}) still runs after Ctrl-C");
}

/// Canary credentials echoed by sam deploy (stdout and stderr) and by aws in a failing call's
/// error: searched in the terminal, the --json report, the step summary and the audit log.
#[test]
fn credentials_echoed_by_sam_or_aws_reach_no_output_report_summary_or_log() {
    const SECRET_KEY: &str = "canary-secret-access-key-9f8e7d6c5b4a";
    const TOKEN: &str = "canary-session-token-1a2b3c4d5e6f";
    let moto = Moto::start();
    let account = seed_account(&moto);
    let repo = staging_repo(&account, SETTINGS, &[]);
    let health = HealthServer::healthy();
    let sam_echoing = format!(
        "if [ \"$1\" = deploy ]; then echo \"deploying with $AWS_SECRET_ACCESS_KEY\"; echo \"token $AWS_SESSION_TOKEN\" >&2; exit 1; fi\nexec '{}' \"$@\"",
        cached_sam().display()
    );
    // First run: aws echoes the credential in the error of a read (the endpoint lookup).
    let first = FakeBin::new();
    first.add_script("sam", &sam_echoing);
    first.add_script(
        "aws",
        &format!(
            "case \"$*\" in\n  'ec2 describe-vpc-endpoints'*) echo \"An error occurred (AuthFailure) for key $AWS_SECRET_ACCESS_KEY\" >&2; exit 254 ;;\nesac\nexec '{}' \"$@\"",
            aws_cli().display()
        ),
    );
    // Second run: the real aws; sam deploy echoes the credentials and fails.
    let second = FakeBin::new();
    second.add_script("sam", &sam_echoing);
    let report = repo.path("report.json");
    let summary = repo.path("summary.md");
    let mut outputs = Vec::new();
    for (bin, step) in [(&first, "vpc-endpoint"), (&second, "sam-deploy")] {
        let mut command = deploy_command(&repo, &moto, &health);
        command
            .arg("--json")
            .arg(&report)
            .env("PATH", bin.path_env())
            .env("CI", "true")
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_SESSION_TOKEN", TOKEN);
        let (status, output) = run(&mut command);
        assert_eq!(status, 1, "{output}");
        assert!(output.contains(&format!("failed at step {step}")), "{output}");
        outputs.push(("terminal", output));
        outputs.push(("--json report", fs::read_to_string(&report).unwrap()));
        outputs.push(("step summary", fs::read_to_string(&summary).unwrap()));
    }
    assert!(outputs[0].1.contains("AuthFailure) for key [redacted]"), "aws's echo is not shown: {}", outputs[0].1);
    assert!(outputs.iter().any(|(_, text)| text.contains("deploying with [redacted]")), "sam's echo is not shown");
    outputs.push(("audit log", fs::read_to_string(repo.path("deploy-log.jsonl")).unwrap()));
    for (what, text) in &outputs {
        for canary in [SECRET_KEY, TOKEN] {
            assert!(!text.contains(canary), "{canary} appears in the {what}:\n{text}");
        }
    }
}
