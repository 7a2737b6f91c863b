//! Evidence for audits (issue 14), end to end with the real xtask: the artifact digest and
//! SBOM of real builds (real SAM CLI, real wheels from PyPI), the SBOM checked by the
//! CycloneDX project's own validator, the hash-chained audit log of real deploy attempts.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use crate::support::deploy::{
    self as deploy_support, audit_lines, deploy_command, seed_account, staging_repo, HealthServer, Moto, ENV,
};
use crate::support::{self as common, repo_root, run, RepoCopy};
use serde_json::Value;

const MANIFEST: &str = "infra/lambda/.aws-sam/xtask-build-manifest.json";

fn build_evidence(repo: &RepoCopy) -> Value {
    let manifest: Value = serde_json::from_str(&fs::read_to_string(repo.path(MANIFEST)).unwrap()).unwrap();
    manifest["evidence"].clone()
}

/// The validator's interpreter, installed by the project's own `.ci/python-tool` from the
/// pinned `.ci/requirements/cyclonedx-python-lib.txt` into the tool cache.
fn cyclonedx_python() -> PathBuf {
    let out =
        Command::new("bash").arg(repo_root().join(".ci/python-tool")).arg("cyclonedx-python-lib").output().unwrap();
    assert!(out.status.success(), "installing the validator: {}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()).join("python")
}

fn validate_sbom(path: &std::path::Path) -> (i32, String) {
    run(Command::new(cyclonedx_python()).arg(repo_root().join(".ci/validate-cyclonedx.py")).arg(path))
}

#[test]
fn two_builds_give_the_same_digest_zip_and_a_valid_sbom_listing_the_pinned_packages() {
    // Two checkouts in different places, built at different times: different paths and mtimes.
    let mut digests = Vec::new();
    let mut sboms = Vec::new();
    let mut packages = Vec::new();
    let mut first = None;
    for _ in 0..2 {
        let repo = RepoCopy::new();
        let (status, output) = run(repo.xtask().args(["lambda-build", "--container", "never"]));
        assert_eq!(status, 0, "{output}");
        assert!(output.contains("[lambda-build] evidence done in"), "{output}");
        let evidence = build_evidence(&repo);
        let artifact = evidence["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["logical_id"] == "BackendFunction")
            .cloned()
            .expect("the function's artifact");
        let digest = artifact["digest"].as_str().unwrap().to_string();
        assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
        assert!(output.contains(&format!("BackendFunction: {digest}")), "the digest is not shown:\n{output}");
        let package = repo.dir.path().join(artifact["package"]["path"].as_str().unwrap());
        packages.push((fs::read(&package).unwrap(), artifact["package"]["code_sha256"].as_str().unwrap().to_string()));
        let built_template = fs::read_to_string(repo.path("infra/lambda/.aws-sam/build/template.yaml")).unwrap();
        assert!(built_template.contains("CodeUri: BackendFunction.zip\n"), "{built_template}");
        let sbom_path = repo.dir.path().join(artifact["sbom"]["path"].as_str().unwrap());
        sboms.push(fs::read(&sbom_path).unwrap());
        digests.push(digest);
        first.get_or_insert((repo, sbom_path));
    }
    assert_eq!(digests[0], digests[1], "two builds of the same inputs gave different digests");
    assert!(sboms[0] == sboms[1], "two builds of the same inputs gave different SBOMs");
    assert!(
        packages[0] == packages[1],
        "two builds of the same inputs gave different zips (CodeSha256 {} and {})",
        packages[0].1,
        packages[1].1
    );

    let (repo, sbom_path) = first.unwrap();
    let (status, output) = validate_sbom(&sbom_path);
    assert_eq!(status, 0, "the SBOM is not valid CycloneDX 1.5:\n{output}");
    let sbom: Value = serde_json::from_slice(&sboms[0]).unwrap();
    let components = sbom["components"].as_array().unwrap();
    let requirements = fs::read_to_string(repo.path("infra/lambda/functions/backend/requirements.txt")).unwrap();
    let pinned: Vec<(&str, &str)> = requirements
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && l.contains("=="))
        .map(|l| l.trim().split_once("==").unwrap())
        .collect();
    assert!(pinned.len() >= 4, "{requirements}");
    for (name, version) in pinned {
        let purl = format!("pkg:pypi/{name}@{version}");
        let listed = components.iter().find(|c| c["purl"] == purl.as_str());
        let listed = listed.unwrap_or_else(|| panic!("{purl} is not in the SBOM"));
        assert_eq!(listed["version"], version);
        assert!(listed["licenses"].is_array(), "{name}: no license from METADATA: {listed}");
        let files = listed["components"].as_array().unwrap();
        assert!(files.iter().all(|f| f["hashes"][0]["content"].as_str().is_some_and(|h| h.len() == 64)), "{name}");
    }
    let properties = sbom["metadata"]["component"]["properties"].as_array().unwrap();
    for (name, value) in [
        ("lambda-xtask:runtime", "python3.11"),
        ("lambda-xtask:architecture", "x86_64"),
        ("lambda-xtask:artifact-digest", digests[0].as_str()),
    ] {
        assert!(
            properties.iter().any(|p| p["name"] == name && p["value"] == value),
            "{name}={value} missing: {properties:?}"
        );
    }

    // The validator is real: a document it must refuse, it refuses.
    let mut broken = sbom.clone();
    broken["components"][0]["licenses"] = serde_json::json!([{"license": {}}]);
    let broken_path = repo.path("broken.cdx.json");
    fs::write(&broken_path, serde_json::to_string(&broken).unwrap()).unwrap();
    let (status, output) = validate_sbom(&broken_path);
    assert_eq!(status, 1, "{output}");
}

/// A repository with an environment whose secret names break its path convention, so each
/// `lambda-deploy` is an attempt that aborts in its first step, before any AWS call or build,
/// and appends one audit line.
fn aborting_repo() -> RepoCopy {
    let repo = RepoCopy::new();
    repo.append(
        "infra/lambda/samconfig.toml",
        "\n[audited.deploy.parameters]\nstack_name = \"credmate-backend-audited\"\nregion = \"us-east-1\"\ncapabilities = \"CAPABILITY_IAM\"\ns3_bucket = \"b\"\nparameter_overrides = [\n  \"Environment=dev\",\n  \"VpcId=vpc-0a1b2c3d4e5f60718\",\n  \"SubnetIds=subnet-0a1b2c3d4e5f60718\",\n  \"DatabaseSecretArn=credmate/prod/database\",\n  \"JwtSecretArn=credmate/prod/jwt\",\n]\n",
    );
    repo.append(
        "Cargo.toml",
        "\n[workspace.metadata.lambda.deploy.environments.audited]\nsecret_prefix = \"credmate/audited/\"\n",
    );
    repo
}

fn attempt(repo: &RepoCopy, command: &mut Command) {
    let (status, output) = run(command.args(["lambda-deploy", "--env", "audited"]));
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("failed at step preflight-offline"), "{output}");
    let _ = repo;
}

fn audit(repo: &RepoCopy, args: &[&str]) -> (i32, String) {
    run(repo.xtask().arg("lambda-audit").args(args))
}

#[test]
fn editing_deleting_or_reordering_any_line_of_the_chained_log_fails_verify_naming_the_line() {
    let repo = aborting_repo();
    // An older, unchained log: accepted as the chain's start.
    let unchained =
        "{\"schema\":1,\"env\":\"dev\",\"result\":\"succeeded\",\"started_at\":\"2026-01-08T10:00:00.000Z\"}\n";
    fs::write(repo.path("deploy-log.jsonl"), unchained).unwrap();
    for _ in 0..4 {
        attempt(&repo, &mut repo.xtask());
    }
    let (status, output) = audit(&repo, &["verify"]);
    assert_eq!(status, 0, "{output}");
    assert!(
        output.contains("deploy-log.jsonl: 5 lines, chain intact (lines 1-1 were written before the chain"),
        "{output}"
    );

    let log = repo.path("deploy-log.jsonl");
    let original: Vec<String> = fs::read_to_string(&log).unwrap().lines().map(str::to_string).collect();
    let tampered = repo.path("tampered.jsonl");
    let check = |lines: &[String], expected_line: usize, what: &str| {
        fs::write(&tampered, lines.join("\n") + "\n").unwrap();
        let (status, output) = audit(&repo, &["verify", tampered.to_str().unwrap()]);
        assert_eq!(status, 1, "{what}: {output}");
        assert!(
            output.contains(&format!("tampered.jsonl:{expected_line}: chain broken: line {expected_line} ")),
            "{what}: expected line {expected_line} named:\n{output}"
        );
    };
    for target in 0..original.len() {
        let mut edited = original.clone();
        edited[target] = edited[target].replacen("\"result\":\"", "\"result\":\"x", 1);
        // The unchained first line is anchored by the first chained line (line 2).
        check(&edited, if target == 0 { 2 } else { target + 1 }, &format!("editing line {}", target + 1));
    }
    for target in 0..original.len() - 1 {
        let mut cut = original.clone();
        cut.remove(target);
        check(&cut, if target == 0 { 1 } else { target + 1 }, &format!("deleting line {}", target + 1));
    }
    for target in 1..original.len() - 1 {
        let mut swapped = original.clone();
        swapped.swap(target, target + 1);
        check(&swapped, target + 1, &format!("swapping lines {} and {}", target + 1, target + 2));
    }

    // show: one row per attempt, with the columns an auditor reads.
    let (status, output) = audit(&repo, &["show"]);
    assert_eq!(status, 0, "{output}");
    let header = output.lines().next().unwrap();
    for column in ["env", "time", "who", "commit", "artifact digest", "result"] {
        assert!(header.contains(column), "{header}");
    }
    assert_eq!(output.lines().filter(|l| l.contains(" audited ") && l.contains("aborted")).count(), 4, "{output}");
    assert!(output.contains("chain: intact over 5 lines"), "{output}");

    // A missing file is bad input.
    let (status, output) = audit(&repo, &["verify", "no-such.jsonl"]);
    assert_eq!(status, 2, "{output}");
    assert!(output.contains("no-such.jsonl: no such audit log"), "{output}");
}

#[test]
fn the_approver_is_the_github_run_in_ci_and_the_git_identity_elsewhere() {
    let repo = aborting_repo();
    for args in
        [&["init", "-q"][..], &["config", "user.name", "Ann Auditor"], &["config", "user.email", "ann@example.com"]]
    {
        assert!(Command::new("git").args(args).current_dir(repo.dir.path()).status().unwrap().success());
    }
    attempt(&repo, &mut repo.xtask());
    let mut ci = repo.xtask();
    ci.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "credmate/backend")
        .env("GITHUB_RUN_ID", "4242")
        .env("GITHUB_RUN_ATTEMPT", "1")
        .env("GITHUB_ACTOR", "release-bot")
        .env("XTASK_GITHUB_ENVIRONMENT", "audited")
        .env("GITHUB_TOKEN", "ghs_0123456789abcdefSECRET")
        .env_remove("GITHUB_STEP_SUMMARY");
    attempt(&repo, &mut ci);
    let text = fs::read_to_string(repo.path("deploy-log.jsonl")).unwrap();
    assert!(!text.contains("ghs_"), "a token reached the audit log");
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(
        lines[0]["approval"],
        // Not protected: nobody was asked to confirm, and the line says so.
        serde_json::json!({"via": "not-required", "git_identity": "Ann Auditor <ann@example.com>"})
    );
    assert_eq!(
        lines[1]["approval"],
        serde_json::json!({
            "via": "github-actions",
            "run_url": "https://github.com/credmate/backend/actions/runs/4242/attempts/1",
            "actor": "release-bot",
            "github_environment": "audited",
        })
    );
    let (_, output) = audit(&repo, &["show"]);
    assert!(output.contains("Ann Auditor <ann@example.com>") && output.contains("release-bot"), "{output}");
}

const AUDIT_BUCKET: &str = "credmate-deploy-audit";

fn locked_bucket(moto: &Moto, bucket: &str, mode: &str) {
    moto.aws(&["s3api", "create-bucket", "--bucket", bucket, "--object-lock-enabled-for-bucket"]);
    let configuration =
        format!(r#"{{"ObjectLockEnabled":"Enabled","Rule":{{"DefaultRetention":{{"Mode":"{mode}","Years":7}}}}}}"#);
    moto.aws(&[
        "s3api",
        "put-object-lock-configuration",
        "--bucket",
        bucket,
        "--object-lock-configuration",
        &configuration,
    ]);
}

#[test]
fn the_audit_bucket_holds_one_object_per_attempt_and_refuses_a_delete_under_object_lock() {
    let moto = Moto::start();
    let account = seed_account(&moto);
    locked_bucket(&moto, AUDIT_BUCKET, "COMPLIANCE");
    let settings = format!("secret_prefix = \"credmate/staging/\"\naudit_bucket = \"{AUDIT_BUCKET}\"");
    let repo = staging_repo(&account, &settings, &[]);
    let health = HealthServer::healthy();

    let (status, output) = run(&mut deploy_command(&repo, &moto, &health));
    assert_eq!(status, 0, "{output}");
    assert!(
        output.contains(&format!("audit bucket {AUDIT_BUCKET}: versioned, Object Lock in COMPLIANCE mode for 7 years")),
        "{output}"
    );
    // sam uploaded the xtask's zip as it is: the same bytes, so the same CodeSha256.
    let zip = fs::read(repo.path("infra/lambda/.aws-sam/build/BackendFunction.zip")).unwrap();
    let uploaded = moto.aws(&["s3api", "list-objects-v2", "--bucket", deploy_support::BUCKET]);
    let scratch = tempfile::tempdir().unwrap();
    let same = uploaded["Contents"].as_array().unwrap().iter().any(|object| {
        let body = scratch.path().join("object");
        moto.aws(&[
            "s3api",
            "get-object",
            "--bucket",
            deploy_support::BUCKET,
            "--key",
            object["Key"].as_str().unwrap(),
            body.to_str().unwrap(),
        ]);
        fs::read(&body).unwrap() == zip
    });
    assert!(same, "no object sam uploaded is the xtask's zip: {uploaded}");

    // A second attempt that fails: recorded and copied all the same.
    let (status, output) =
        run(deploy_command(&repo, &moto, &HealthServer::answering(503, "down")).arg("--health-timeout").arg("1"));
    assert_eq!(status, 1, "{output}");
    assert!(output.contains(&format!("audit: copied to s3://{AUDIT_BUCKET}/deploy-audit/{ENV}/")), "{output}");

    // Each attempt wrote its started line before sam deploy and its end after it.
    let local = fs::read_to_string(repo.path("deploy-log.jsonl")).unwrap();
    let mut local: Vec<String> = local.lines().map(|l| format!("{l}\n")).collect();
    assert_eq!(local.len(), 4);
    let versions = moto.aws(&["s3api", "list-object-versions", "--bucket", AUDIT_BUCKET]);
    let versions = versions["Versions"].as_array().unwrap();
    assert_eq!(versions.len(), 4, "one object per line: {versions:?}");
    let mut objects: Vec<String> = versions
        .iter()
        .map(|version| {
            let key = version["Key"].as_str().unwrap();
            assert!(key.starts_with(&format!("deploy-audit/{ENV}/")), "{key}");
            let body = scratch.path().join("body");
            moto.aws(&["s3api", "get-object", "--bucket", AUDIT_BUCKET, "--key", key, body.to_str().unwrap()]);
            fs::read_to_string(&body).unwrap()
        })
        .collect();
    objects.sort();
    local.sort();
    assert_eq!(objects, local, "each object is a local line");

    // Under Object Lock in compliance mode, a locked version cannot be deleted.
    let key = versions[0]["Key"].as_str().unwrap();
    let version_id = versions[0]["VersionId"].as_str().unwrap();
    let refused =
        moto.try_aws(&["s3api", "delete-object", "--bucket", AUDIT_BUCKET, "--key", key, "--version-id", version_id]);
    let err = refused.expect_err("a locked version was deleted");
    assert!(err.contains("AccessDenied"), "{err}");
    assert_eq!(
        moto.aws(&["s3api", "list-object-versions", "--bucket", AUDIT_BUCKET])["Versions"].as_array().unwrap().len(),
        4
    );
}

#[test]
fn an_audit_bucket_without_compliance_object_lock_aborts_before_the_stack_changes() {
    let moto = Moto::start();
    let account = seed_account(&moto);
    moto.aws(&["s3api", "create-bucket", "--bucket", "plain-bucket"]);
    locked_bucket(&moto, "governance-bucket", "GOVERNANCE");
    for (bucket, why) in [
        ("plain-bucket", "audit bucket plain-bucket has no Object Lock, so its objects can be deleted"),
        (
            "governance-bucket",
            "audit bucket governance-bucket has Object Lock but no default retention in COMPLIANCE mode",
        ),
    ] {
        let settings = format!("secret_prefix = \"credmate/staging/\"\naudit_bucket = \"{bucket}\"");
        let repo = staging_repo(&account, &settings, &[]);
        let (status, output) = run(&mut deploy_command(&repo, &moto, &HealthServer::healthy()));
        assert_eq!(status, 1, "{output}");
        assert!(output.contains(why), "{output}");
        assert!(output.contains("--object-lock-enabled-for-bucket"), "the fix is named:\n{output}");
        assert!(output.trim_end().lines().last().unwrap().contains("failed at step audit-bucket"), "{output}");
        assert!(moto.stack(deploy_support::STACK).is_none(), "the stack was created");
        assert_eq!(audit_lines(&repo)[0]["result"], "aborted");
    }
}

#[test]
fn a_protected_environment_without_an_audit_bucket_is_refused_in_one_line() {
    let repo = RepoCopy::new();
    let manifest = fs::read_to_string(repo.path("Cargo.toml")).unwrap();
    let without: String =
        manifest.lines().filter(|l| !l.starts_with("audit_bucket")).map(|l| format!("{l}\n")).collect();
    assert_ne!(without, manifest, "the repository's prod has an audit_bucket");
    repo.write("Cargo.toml", &without);
    let before = common::snapshot(repo.dir.path());
    let (status, output) = run(repo.xtask().args(["lambda-deploy", "--env", "prod", "--yes"]));
    assert_eq!(status, 2, "{output}");
    assert_eq!(
        output.trim(),
        "error: prod is a protected environment without audit_bucket: add audit_bucket = \"<S3 bucket with Object Lock in compliance mode and versioning>\" to [workspace.metadata.lambda.deploy.environments.prod] in Cargo.toml"
    );
    assert_eq!(common::snapshot(repo.dir.path()), before, "bad input changed the disk");
}

/// A stack with the function as plain CloudFormation (moto runs no SAM transform, so a real
/// deploy leaves no function to ask): its code is the zip at `code` in the artifacts bucket.
fn stack_with_function(moto: &Moto, zip: &std::path::Path) {
    moto.aws(&["s3api", "create-bucket", "--bucket", "code-bucket"]);
    moto.aws(&["s3api", "put-object", "--bucket", "code-bucket", "--key", "f.zip", "--body", zip.to_str().unwrap()]);
    let template = r#"{"Resources": {
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}}},
        "BackendFunction": {"Type": "AWS::Lambda::Function", "Properties": {"FunctionName": "credmate-backend-staging",
            "Runtime": "python3.11", "Handler": "handler.handler", "Role": {"Fn::GetAtt": ["Role", "Arn"]},
            "Code": {"S3Bucket": "code-bucket", "S3Key": "f.zip"}}}}}"#;
    moto.aws(&["cloudformation", "create-stack", "--stack-name", deploy_support::STACK, "--template-body", template]);
    let started = std::time::Instant::now();
    while moto.stack(deploy_support::STACK).is_none_or(|s| s["StackStatus"] != "CREATE_COMPLETE") {
        assert!(started.elapsed().as_secs() < 60, "the stack was not created");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn lambda_check_deployed_says_whether_the_live_code_is_the_build_at_hand() {
    let moto = Moto::start();
    let account = seed_account(&moto);
    let repo = staging_repo(&account, "secret_prefix = \"credmate/staging/\"", &[]);
    let zip = repo.path("infra/lambda/.aws-sam/build/BackendFunction.zip");
    stack_with_function(&moto, &zip);
    let check = |repo: &RepoCopy| {
        let mut command = repo.xtask();
        command.args(["lambda-check", "--env", ENV, "--deployed"]);
        moto.apply(&mut command);
        run(&mut command)
    };

    let (status, output) = check(&repo);
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("BackendFunction: the live code is the build at hand (sha256:"), "{output}");
    assert!(
        output.contains("that of its reproducible package infra/lambda/.aws-sam/build/BackendFunction.zip"),
        "{output}"
    );

    // Someone uploads other code by hand: not the build at hand, and no deploy recorded it.
    let other = repo.path("other.zip");
    let python = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], 'w')\nz.writestr('handler.py', 'def handler(e, c): return 1\\n')\nz.close()";
    assert!(Command::new("python3").args(["-c", python]).arg(&other).status().unwrap().success());
    moto.aws(&[
        "lambda",
        "update-function-code",
        "--function-name",
        "credmate-backend-staging",
        "--zip-file",
        &format!("fileb://{}", other.display()),
    ]);
    let (status, output) = check(&repo);
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("which no deploy in deploy-log.jsonl recorded for staging"), "{output}");
    assert!(output.trim_end().lines().last().unwrap().contains("failed at step deployed"), "{output}");
}
