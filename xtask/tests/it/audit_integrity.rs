//! The audit record cannot be forged, skipped or written elsewhere, and a protected
//! environment cannot be deployed dirty or unpushed by a side door (issue 18). The real xtask
//! binary on a copy of this repository; fake `sam`, `aws` and `moto_server` only to prove
//! they were not called, or to hold a sam deploy still while the run is killed. The full
//! protected deploy runs the real SAM CLI and aws CLI against a real moto server.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::deploy::*;
use crate::support::{run, FakeBin, RepoCopy};

/// sam, aws and moto_server that only record being called: none of them may run.
fn tools_that_must_not_run() -> FakeBin {
    let bin = FakeBin::new();
    for tool in ["sam", "aws", "moto_server"] {
        bin.add(tool, 0);
    }
    bin
}

/// Runs `command`, killed after `limit`: an audit log that is a FIFO used to block the deploy
/// forever in its open.
fn run_within(command: &mut Command, limit: Duration) -> (i32, String) {
    let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!("still running after {limit:?}:\n{}", crate::support::text(&output));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    (output.status.code().unwrap_or(-1), crate::support::text(&output))
}

/// Every regular file below `root` with its content (a FIFO is never opened).
fn regular_files(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = ignore::WalkBuilder::new(root)
        .standard_filters(false)
        .build()
        .flatten()
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .map(|e| (e.path().display().to_string(), fs::read(e.path()).unwrap()))
        .collect();
    files.sort();
    files
}

fn mkfifo(path: &Path) {
    let name = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o644) }, 0);
}

fn set_log(repo: &RepoCopy, log: &str) {
    let manifest = fs::read_to_string(repo.path("Cargo.toml")).unwrap();
    repo.write("Cargo.toml", &manifest.replacen("log = \"deploy-log.jsonl\"", &format!("log = {log:?}"), 1));
}

/// Reproduction 9 (`ln -s /tmp/victim-outside.txt deploy-log.jsonl`: the rehearsal appended
/// its line outside) and its neighbours: a link on the way, a dangling link, a hard link, a
/// FIFO, a directory, a `..`. Each is bad input in one line before anything runs: no tool
/// called, nothing outside the repository changed or created, the repository unchanged.
#[test]
fn an_audit_log_that_leads_out_of_the_repository_or_is_no_regular_file_is_refused_before_anything_runs() {
    type Setup = fn(&RepoCopy, &Path);
    let cases: [(&str, Setup, &str); 8] = [
        (
            "a symlink to a file outside",
            |repo, outside| symlink(outside.join("victim-outside.txt"), repo.path("deploy-log.jsonl")).unwrap(),
            "the audit log deploy-log.jsonl is a symlink: the xtask never writes through a link",
        ),
        (
            "a dangling symlink out",
            |repo, outside| symlink(outside.join("created-outside.jsonl"), repo.path("deploy-log.jsonl")).unwrap(),
            "the audit log deploy-log.jsonl is a symlink",
        ),
        (
            "a symlinked directory on the way",
            |repo, outside| {
                symlink(outside, repo.path("logs")).unwrap();
                set_log(repo, "logs/victim-outside.txt");
            },
            "the audit log logs/victim-outside.txt passes through logs, a symlink",
        ),
        (
            "a hard link to a file outside",
            |repo, outside| fs::hard_link(outside.join("victim-outside.txt"), repo.path("deploy-log.jsonl")).unwrap(),
            "the audit log deploy-log.jsonl has 2 hard links: an append would change the other file too",
        ),
        (
            "a FIFO",
            |repo, _| mkfifo(&repo.path("deploy-log.jsonl")),
            "the audit log deploy-log.jsonl is a FIFO, not a regular file",
        ),
        (
            "a directory",
            |repo, _| fs::create_dir(repo.path("deploy-log.jsonl")).unwrap(),
            "the audit log deploy-log.jsonl is a directory",
        ),
        (
            "a log inside the source the build packages",
            |repo, _| set_log(repo, "backend/src/deploy-log.jsonl"),
            "the audit log backend/src/deploy-log.jsonl is inside backend_src backend/src of BackendFunction",
        ),
        (
            "a path climbing out",
            |repo, _| set_log(repo, "../victim-outside.txt"),
            "must be relative to the repository root and stay inside it",
        ),
    ];
    for (what, setup, expected) in cases {
        // Beside the repository's copy, on the same file system (a hard link needs that).
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("victim-outside.txt"), "the victim's own line\n").unwrap();
        let repo = RepoCopy::new();
        setup(&repo, outside.path());
        let before = (regular_files(repo.dir.path()), regular_files(outside.path()));
        let bin = tools_that_must_not_run();
        let mut command = repo.xtask();
        command.args(["lambda-deploy", "--env", "local", "--container", "never"]).env("PATH", bin.path_env());
        let (status, output) = run_within(&mut command, Duration::from_secs(120));

        assert_eq!(status, 2, "{what}:\n{output}");
        assert_eq!(output.trim().lines().count(), 1, "{what}: not one line:\n{output}");
        assert!(output.contains(expected), "{what}:\n{output}");
        for tool in ["sam", "aws", "moto_server"] {
            assert!(!bin.was_called(tool), "{what}: {tool} ran:\n{output}");
        }
        assert_eq!(before, (regular_files(repo.dir.path()), regular_files(outside.path())), "{what}: files changed");
        assert!(!outside.path().join("created-outside.jsonl").exists(), "{what}: a file was created outside");
    }
}

/// An environment whose secret names break its path convention: every `lambda-deploy` is an
/// attempt that aborts in its first step, before any AWS call or build, and appends one line.
fn aborting_repo() -> RepoCopy {
    let repo = RepoCopy::new();
    repo.append(
        "infra/lambda/samconfig.toml",
        "\n[audited.deploy.parameters]\nstack_name = \"app-audited\"\nregion = \"us-east-1\"\ncapabilities = \"CAPABILITY_IAM\"\ns3_bucket = \"b\"\nparameter_overrides = [\n  \"Environment=dev\",\n  \"VpcId=vpc-0a1b2c3d4e5f60718\",\n  \"SubnetIds=subnet-0a1b2c3d4e5f60718\",\n  \"DatabaseSecretArn=other/prod/database\",\n  \"JwtSecretArn=other/prod/jwt\",\n]\n",
    );
    repo.append(
        "Cargo.toml",
        "\n[workspace.metadata.lambda.deploy.environments.audited]\nsecret_prefix = \"app/audited/\"\n",
    );
    repo
}

fn verify(repo: &RepoCopy, file: &Path) -> (i32, String) {
    let mut command = repo.xtask();
    command.args(["lambda-audit", "verify"]).arg(file);
    run_within(&mut command, Duration::from_secs(60))
}

/// The faults run's forgery (every `line_sha256` stripped and a line edited verified as "chain
/// intact, anchored by line 5" of a 4-line log) and the other rewrites a chain must not
/// survive: all chain fields stripped, CRLF line ends, a blank line, a line cut short, a log
/// with no chained line at all. A FIFO named as the log is refused without waiting.
#[test]
fn lambda_audit_verify_fails_a_log_whose_chain_fields_or_line_ends_were_rewritten() {
    let repo = aborting_repo();
    for _ in 0..4 {
        let (status, output) = run(repo.xtask().args(["lambda-deploy", "--env", "audited"]));
        assert_eq!(status, 1, "{output}");
    }
    let log = repo.path("deploy-log.jsonl");
    let (status, output) = verify(&repo, &log);
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("4 lines, chain intact"), "{output}");

    let original = fs::read_to_string(&log).unwrap();
    let without_field = |text: &str, field: &str| -> String {
        text.lines()
            .map(|line| {
                let mut value: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
                value.remove(field);
                // As a hand edit would leave it: the same fields in the same order, one removed.
                serde_json::to_string(&value).unwrap() + "\n"
            })
            .collect()
    };
    let stripped = without_field(&original, "line_sha256").replacen("\"aborted\"", "\"succeeded\"", 3);
    let bare = without_field(&without_field(&original, "line_sha256"), "prev_line_sha256");
    let crlf = original.replace('\n', "\r\n");
    let blank = original.replacen('\n', "\n\n", 1);
    let cut = &original[..original.len() - 25];
    let cases: [(&str, &str, usize, &str); 5] = [
        (
            "every line_sha256 stripped, a line edited",
            &stripped,
            1,
            "carries prev_line_sha256 but no valid line_sha256",
        ),
        ("every chain field stripped", &bare, 1, "always written chained"),
        ("CRLF line ends", &crlf, 1, "carriage return"),
        ("a blank line", &blank, 2, "is empty"),
        ("the last line cut short", cut, 4, "cut short"),
    ];
    let tampered = repo.path("tampered.jsonl");
    for (what, text, line, why) in cases {
        fs::write(&tampered, text).unwrap();
        let (status, output) = verify(&repo, &tampered);
        assert_eq!(status, 1, "{what} verified:\n{output}");
        assert!(output.contains(&format!("tampered.jsonl:{line}: chain broken: line {line} ")), "{what}:\n{output}");
        assert!(output.contains(why), "{what}:\n{output}");
        assert!(!output.contains("chain intact"), "{what}:\n{output}");
    }

    // A report or a step summary written over the log would destroy it: refused first.
    for (what, args, env) in [
        ("--json", vec!["--json", "deploy-log.jsonl", "lambda-audit", "verify"], None),
        ("GITHUB_STEP_SUMMARY", vec!["lambda-audit", "verify"], Some(("GITHUB_STEP_SUMMARY", log.clone()))),
    ] {
        let mut command = repo.xtask();
        command.args(&args).env("CI", "true");
        if let Some((name, value)) = env {
            command.env(name, value);
        }
        let (status, output) = run(&mut command);
        assert_eq!(status, 2, "{what}: {output}");
        assert!(output.contains("is a deploy audit log"), "{what}: {output}");
        assert_eq!(fs::read_to_string(&log).unwrap(), original, "{what} changed the log");
    }

    // Lines no chain covers prove nothing: not verified, and no line N+1 is invented.
    fs::write(&tampered, "{\"schema\":1,\"env\":\"prod\",\"result\":\"succeeded\"}\n").unwrap();
    let (status, output) = verify(&repo, &tampered);
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("1 lines, none of them chained: nothing shows they are unedited"), "{output}");
    assert!(!output.contains("anchored by line 2"), "{output}");

    let fifo = repo.path("fifo.jsonl");
    mkfifo(&fifo);
    let (status, output) = verify(&repo, &fifo);
    assert_eq!(status, 2, "{output}");
    assert!(output.contains("is not a regular file"), "{output}");
}

fn git(repo: &RepoCopy, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(repo.dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A bare repository as the team's remote `origin`, holding the current branch.
fn push_to_a_new_remote(repo: &RepoCopy) -> tempfile::TempDir {
    let remote = tempfile::tempdir().unwrap();
    assert!(Command::new("git").args(["init", "-q", "--bare"]).current_dir(remote.path()).status().unwrap().success());
    git(repo, &["remote", "add", "origin", remote.path().to_str().unwrap()]);
    let branch = git(repo, &["symbolic-ref", "--short", "HEAD"]);
    git(repo, &["push", "-q", "-u", "origin", &branch]);
    remote
}

/// The sample's prod (protected, with account_id and audit_bucket) with `--yes` and no
/// terminal; fake aws and sam: a deploy that passes the offline checks fails at its build, so
/// each run is one cheap recorded attempt.
fn deploy_prod(repo: &RepoCopy, bin: &FakeBin) -> Command {
    let mut command = repo.xtask();
    command
        .args(["lambda-deploy", "--env", "prod", "--yes", "--container", "never"])
        .env("PATH", bin.path_env())
        .stdin(Stdio::null());
    command
}

fn fake_aws_and_sam() -> FakeBin {
    let bin = FakeBin::new();
    bin.add("aws", 0);
    bin.add("sam", 0);
    bin
}

/// The side door: a tool cache inside the repository (`LAMBDA_XTASK_CACHE=$PWD/backend`)
/// excluded all of `backend/` from the dirty check, so an uncommitted change deployed to a
/// protected environment recorded `"dirty": false`. Only the venvs and locks the xtask wrote
/// there are its own; the change is found and recorded. The approval says `--yes` without a
/// terminal, not "terminal".
#[test]
fn a_tool_cache_inside_the_repository_hides_no_change_from_a_protected_deploy() {
    let repo = RepoCopy::new();
    git_commit(&repo);
    let _remote = push_to_a_new_remote(&repo);
    // What the xtask writes into its cache: a finished venv (marker last) and its lock.
    let venv = "backend/tools/aws-sam-cli-1.170.0";
    repo.write(&format!("{venv}/bin/sam"), "#!/bin/sh\n");
    repo.write(&format!("{venv}/.xtask-complete"), "aws-sam-cli==1.170.0");
    repo.write("backend/tools/aws-sam-cli-1.170.0.lock", "");
    repo.write("backend/src/uncommitted.py", "TOKEN_CHECK = False\n");
    let bin = fake_aws_and_sam();

    let (status, output) = run(deploy_prod(&repo, &bin).env("LAMBDA_XTASK_CACHE", repo.path("backend")));
    assert_eq!(status, 1, "{output}");
    assert!(
        output.contains("prod is a protected environment and the working tree has uncommitted or untracked changes in 1 file: backend/src/uncommitted.py"),
        "{output}"
    );
    assert!(!bin.was_called("aws") && !bin.was_called("sam"), "{output}");
    let record = &audit_lines(&repo)[0];
    assert_eq!(record["result"], "aborted");
    assert_eq!(record["dirty"], true, "{record}");
    assert_eq!(record["approval"]["via"], "yes-flag", "{record}");

    // Committed and pushed, the xtask's venv alone is no change: the attempt goes on.
    git(&repo, &["add", "backend/src/uncommitted.py"]);
    git(&repo, &["commit", "-qm", "the change"]);
    git(&repo, &["push", "-q"]);
    let (_, output) = run(deploy_prod(&repo, &bin).env("LAMBDA_XTASK_CACHE", repo.path("backend")));
    assert!(!output.contains("[protected-env]"), "{output}");
    let record = audit_lines(&repo).pop().unwrap();
    assert_eq!(record["dirty"], false, "{record}");
    assert_eq!(record["commit"], git(&repo, &["rev-parse", "HEAD"]).as_str());
}

/// A protected environment ships a commit the team can see. No remote at all, or a commit
/// on no remote branch: refused before any AWS call with the push to run, which works as
/// printed; `--allow-unpushed` deploys it anyway. The audit line records the remote
/// branches that held the commit (none).
#[test]
fn a_protected_environment_refuses_a_commit_no_remote_branch_holds_and_says_what_to_push() {
    let repo = RepoCopy::new();
    git_commit(&repo);
    let bin = fake_aws_and_sam();

    let (status, output) = run(&mut deploy_prod(&repo, &bin));
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("[protected-env]"), "{output}");
    assert!(output.contains("this repository has no remote"), "{output}");
    assert!(output.contains("git remote add origin <URL> && git push -u origin"), "{output}");
    assert!(!bin.was_called("aws") && !bin.was_called("sam"), "{output}");
    let record = &audit_lines(&repo)[0];
    assert_eq!(record["result"], "aborted");
    assert_eq!(record["remote_branches"], serde_json::json!([]), "{record}");

    // A remote, and a new commit not pushed to it.
    let _remote = push_to_a_new_remote(&repo);
    repo.append("backend/src/__init__.py", "\n# hotfix\n");
    git(&repo, &["commit", "-qam", "hotfix"]);
    let (status, output) = run(&mut deploy_prod(&repo, &bin));
    assert_eq!(status, 1, "{output}");
    let short = &git(&repo, &["rev-parse", "HEAD"])[..12];
    assert!(output.contains(&format!("commit {short} is on no remote branch")), "{output}");
    let push = output
        .split("push it: ")
        .nth(1)
        .and_then(|rest| rest.split(", then deploy again").next())
        .expect("the push to run")
        .to_string();
    assert!(push.starts_with("git push -u origin "), "{push}");

    // --allow-unpushed goes on, and says so in the record.
    let (_, output) = run(deploy_prod(&repo, &bin).arg("--allow-unpushed"));
    assert!(!output.contains("on no remote branch"), "{output}");
    assert_eq!(audit_lines(&repo).pop().unwrap()["remote_branches"], serde_json::json!([]));

    // The fix, as printed, is all it takes.
    let pushed = Command::new("sh").args(["-c", &push]).current_dir(repo.dir.path()).output().unwrap();
    assert!(pushed.status.success(), "{push}: {}", crate::support::text(&pushed));
    let (_, output) = run(&mut deploy_prod(&repo, &bin));
    assert!(!output.contains("[protected-env]"), "{output}");
    let branch = git(&repo, &["symbolic-ref", "--short", "HEAD"]);
    assert_eq!(audit_lines(&repo).pop().unwrap()["remote_branches"], serde_json::json!([format!("origin/{branch}")]));
}

/// A rehearsal whose sam deploy signals that it started and then waits; sam build is real.
fn rehearsal_holding_sam_deploy(marker: &Path) -> (RepoCopy, FakeBin, Command) {
    let repo = RepoCopy::new();
    git_commit(&repo);
    let bin = FakeBin::new();
    bin.add_script(
        "sam",
        &format!(
            "if [ \"$1\" = deploy ]; then touch '{}'; while :; do sleep 0.05; done; fi\nexec '{}' \"$@\"",
            marker.display(),
            real_sam().display()
        ),
    );
    let mut command = repo.xtask();
    command.args(["lambda-deploy", "--env", "local", "--container", "never"]).env("PATH", bin.path_env());
    for name in ["AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"] {
        command.env_remove(name);
    }
    (repo, bin, command)
}

/// An attempt is on record before `sam deploy` starts: a run killed with SIGKILL while sam
/// changes the stack leaves its `started` line (commit, approval, steps so far), which
/// `lambda-audit verify` and `show` name as an attempt with no end; the next attempt writes
/// its `started` line and its end under one attempt id.
#[test]
fn a_deploy_killed_during_sam_deploy_leaves_a_started_line_that_verify_and_show_name() {
    let scratch = tempfile::tempdir().unwrap();
    let marker = scratch.path().join("deploying");
    let (repo, _bin, mut command) = rehearsal_holding_sam_deploy(&marker);
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    while !marker.exists() {
        assert!(child.try_wait().unwrap().is_none(), "the rehearsal ended before sam deploy");
        assert!(Instant::now() < deadline, "sam deploy never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let lines = all_audit_lines(&repo);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let started = &lines[0];
    assert_eq!(started["result"], "started");
    assert_eq!(started["ended_at"], Value::Null);
    assert_eq!(started["commit"], head_commit(&repo).as_str());
    assert_eq!(started["approval"]["via"], "not-required");
    let id = started["attempt_id"].as_str().unwrap().to_string();
    let steps: Vec<&str> = started["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(steps.contains(&"endpoint-ingress") && !steps.contains(&"sam-deploy"), "{steps:?}");

    let (status, output) = verify(&repo, &repo.path("deploy-log.jsonl"));
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("1 lines, chain intact"), "{output}");
    assert!(
        output.contains(&format!("deploy-log.jsonl:1: attempt {id} started sam deploy and recorded no end")),
        "{output}"
    );
    let (status, output) = run(repo.xtask().args(["lambda-audit", "show"]));
    assert_eq!(status, 0, "{output}");
    assert!(output.lines().any(|l| l.starts_with("1 ") && l.contains("started, no end recorded")), "{output}");

    // The next attempt, with the real sam deploy: its started line and its end, one id.
    let mut command = repo.xtask();
    command.args(["lambda-deploy", "--env", "local", "--container", "never"]);
    for name in [
        "AWS_ENDPOINT_URL",
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ] {
        command.env_remove(name);
    }
    let (status, output) = run(&mut command);
    assert_eq!(status, 0, "{output}");
    let lines = all_audit_lines(&repo);
    let results: Vec<&str> = lines.iter().map(|l| l["result"].as_str().unwrap()).collect();
    assert_eq!(results, ["started", "started", "succeeded"]);
    assert_eq!(lines[1]["attempt_id"], lines[2]["attempt_id"]);
    assert_ne!(lines[1]["attempt_id"], id.as_str());
    assert_eq!(lines[1]["started_at"], lines[2]["started_at"]);
    let (status, output) = verify(&repo, &repo.path("deploy-log.jsonl"));
    assert_eq!(status, 0, "{output}");
    assert_eq!(output.matches("recorded no end").count(), 1, "{output}");
    let (_, output) = run(repo.xtask().args(["lambda-audit", "show"]));
    let rows: Vec<&str> = output.lines().filter(|l| l.contains(" local ")).collect();
    assert_eq!(rows.len(), 2, "one row per attempt:\n{output}");
    assert!(rows[1].starts_with("3 ") && rows[1].ends_with("succeeded"), "{output}");
}

const AUDIT_BUCKET: &str = "app-deploy-audit";

/// A protected environment deployed for real (moto): a pushed, clean commit goes through
/// with `--yes`; the log holds its `started` line and its end, each copied to the Object Lock
/// bucket, recording the remote branch and how it was approved.
#[test]
fn a_protected_deploy_records_its_start_and_end_locally_and_in_the_audit_bucket() {
    let moto = Moto::start();
    let account = seed_account(&moto);
    moto.aws(&["s3api", "create-bucket", "--bucket", AUDIT_BUCKET, "--object-lock-enabled-for-bucket"]);
    moto.aws(&[
        "s3api",
        "put-object-lock-configuration",
        "--bucket",
        AUDIT_BUCKET,
        "--object-lock-configuration",
        r#"{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"COMPLIANCE","Years":7}}}"#,
    ]);
    let settings = format!(
        "protected = true\naccount_id = \"{MOTO_ACCOUNT}\"\naudit_bucket = \"{AUDIT_BUCKET}\"\nsecret_prefix = \"credmate/staging/\""
    );
    let repo = staging_repo(&account, &settings, &[]);
    let _remote = push_to_a_new_remote(&repo);
    let health = HealthServer::healthy();

    let (status, output) = run(deploy_command(&repo, &moto, &health).arg("--yes").stdin(Stdio::null()));
    assert_eq!(status, 0, "{output}");
    let started = output.find("[lambda-deploy] audit-started done").expect("the started line's step");
    assert!(started < output.find("[lambda-deploy] sam-deploy ...").unwrap(), "{output}");

    let lines = all_audit_lines(&repo);
    let results: Vec<&str> = lines.iter().map(|l| l["result"].as_str().unwrap()).collect();
    assert_eq!(results, ["started", "succeeded"]);
    let branch = git(&repo, &["symbolic-ref", "--short", "HEAD"]);
    for line in &lines {
        assert_eq!(line["attempt_id"], lines[0]["attempt_id"]);
        assert_eq!(line["approval"]["via"], "yes-flag", "{line}");
        assert_eq!(line["remote_branches"], serde_json::json!([format!("origin/{branch}")]), "{line}");
        assert_eq!(line["dirty"], false, "{line}");
    }
    let local: Vec<String> =
        fs::read_to_string(repo.path("deploy-log.jsonl")).unwrap().lines().map(|l| format!("{l}\n")).collect();
    let objects = moto.aws(&["s3api", "list-objects-v2", "--bucket", AUDIT_BUCKET]);
    let scratch = tempfile::tempdir().unwrap();
    let mut copied: Vec<String> = objects["Contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|object| {
            let body = scratch.path().join("body");
            let key = object["Key"].as_str().unwrap();
            moto.aws(&["s3api", "get-object", "--bucket", AUDIT_BUCKET, "--key", key, body.to_str().unwrap()]);
            fs::read_to_string(&body).unwrap()
        })
        .collect();
    copied.sort();
    let mut expected = local.clone();
    expected.sort();
    assert_eq!(copied, expected, "each local line is an object of the audit bucket");
}
