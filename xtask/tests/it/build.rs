//! End to end: the real xtask binary on a copy of this repository.

use std::fs;
use std::process::Command;

use crate::support::{run, FakeBin, RepoCopy};

const FUNCTION_DIR: &str = "infra/lambda/functions/backend";
const ARTIFACT: &str = "infra/lambda/.aws-sam/build/BackendFunction";

/// The real SAM CLI (found on PATH or installed into the tool cache by the xtask) builds the
/// sample natively; the artifact imports and answers GET /health in a bare Python 3.11.
#[test]
fn builds_a_working_artifact_with_the_real_sam_cli() {
    let repo = RepoCopy::new();
    let (status, output) = run(repo.xtask().args(["lambda-build", "--container", "never"]));
    assert_eq!(status, 0, "{output}");
    for step in ["sam-cli", "copy-backend", "clean", "pre-build-guards", "sam-build"] {
        assert!(output.contains(&format!("[lambda-build] {step} done in")), "step {step} not reported:\n{output}");
    }

    // The shipped template passes SAM's own linter (cfn-lint), warnings included.
    let sam = output.lines().find_map(|l| l.trim().strip_prefix("sam: ")).expect("the sam line");
    let sam = sam.rsplit_once(" (").unwrap().0;
    let lint = Command::new(sam)
        .args(["validate", "--lint", "-t", "template.yaml"])
        .current_dir(repo.path("infra/lambda"))
        .env("SAM_CLI_TELEMETRY", "0")
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "sam validate --lint: {}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );

    let artifact = repo.path(ARTIFACT);
    assert!(artifact.join("handler.py").is_file());
    assert!(artifact.join("src/lazy_app.py").is_file());
    let extension = fs::read_dir(artifact.join("pydantic_core"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "so"))
        .expect("pydantic_core extension module in the artifact");
    let header = fs::read(&extension).unwrap();
    assert_eq!(&header[..4], b"\x7fELF", "{} is not ELF", extension.display());
    assert_eq!(header[4], 2, "not 64-bit");
    assert_eq!(u16::from_le_bytes([header[18], header[19]]), 0x3e, "not x86-64");

    // -S: no site-packages of the host can satisfy an import; only the artifact can.
    let event = repo.path("xtask/tests/fixtures/apigw_get_health.json");
    let script = r#"
import json, sys
sys.path.insert(0, sys.argv[1])
import handler
class Context:
    function_name = "credmate-backend-test"
    aws_request_id = "e2e"
response = handler.handler(json.load(open(sys.argv[2])), Context())
print(json.dumps(response))
"#;
    let output = Command::new("python3.11").args(["-S", "-c", script]).arg(&artifact).arg(&event).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let response: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(response["statusCode"], 200, "{response}");
    let body: serde_json::Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["mode"], "lazy");
}

fn build_with_fake_sam(repo: &RepoCopy) -> (i32, String, FakeBin) {
    let bin = FakeBin::new();
    bin.add("sam", 0);
    let (status, output) = run(repo.xtask().args(["lambda-build", "--container", "never"]).env("PATH", bin.path_env()));
    (status, output, bin)
}

#[test]
fn installed_package_in_the_backend_source_stops_the_build_before_sam() {
    let repo = RepoCopy::new();
    repo.write("backend/src/six-1.16.0.dist-info/METADATA", "Name: six\n");
    let (status, output, bin) = build_with_fake_sam(&repo);
    assert_eq!(status, 1, "{output}");
    assert!(
        output.contains("[stale-installed-package] infra/lambda/functions/backend/src/six-1.16.0.dist-info"),
        "{output}"
    );
    assert!(output.contains("rm -rf backend/src/six-1.16.0.dist-info"), "{output}");
    assert!(output.trim_end().lines().last().unwrap().contains("failed at step pre-build-guards"), "{output}");
    assert!(!bin.was_called("sam"), "sam ran despite the finding");
}

#[test]
fn handler_importing_a_missing_module_stops_the_build_before_sam() {
    let repo = RepoCopy::new();
    let handler = repo.path(&format!("{FUNCTION_DIR}/handler.py"));
    let text =
        fs::read_to_string(&handler).unwrap().replace("from src.lazy_app import app", "from src.api_app import app");
    fs::write(&handler, text).unwrap();
    let (status, output, bin) = build_with_fake_sam(&repo);
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("[missing-source] infra/lambda/functions/backend/src/api_app.py"), "{output}");
    assert!(output.contains("No module named 'src.api_app'"), "{output}");
    assert!(!bin.was_called("sam"), "sam ran despite the finding");
}

#[test]
fn a_fresh_clone_without_the_copied_source_fails_the_check_with_the_seed_symptom() {
    let repo = RepoCopy::new();
    let (status, output) = run(repo.xtask().arg("lambda-check"));
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("[missing-source] infra/lambda/functions/backend/src"), "{output}");
    assert!(output.contains("No module named 'src'"), "{output}");
    assert!(output.contains("run cargo xtask lambda-build"), "{output}");
}

#[test]
fn clean_removes_and_lists_exactly_the_entries_off_the_allowlist() {
    let repo = RepoCopy::new();
    repo.write(&format!("{FUNCTION_DIR}/psycopg2/__init__.py"), "# start delvewheel patch\n");
    repo.write(&format!("{FUNCTION_DIR}/psycopg2_binary-2.9.11.dist-info/WHEEL"), "Tag: cp311-cp311-win_amd64\n");
    repo.write(&format!("{FUNCTION_DIR}/six.py"), "");
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("keep.txt"), "precious").unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.path(&format!("{FUNCTION_DIR}/linked"))).unwrap();

    let (_, output, bin) = build_with_fake_sam(&repo);

    // The fake sam builds nothing, so the run stops after it (post-build-guards); what
    // matters here is that clean left guards and sam nothing to object to.
    assert!(output.contains("[lambda-build] pre-build-guards done"), "{output}");
    assert!(bin.was_called("sam"), "{output}");
    for removed in [
        "dir infra/lambda/functions/backend/psycopg2",
        "dir infra/lambda/functions/backend/psycopg2_binary-2.9.11.dist-info",
        "file infra/lambda/functions/backend/six.py",
        "symlink infra/lambda/functions/backend/linked",
    ] {
        assert!(output.contains(&format!("removing {removed}")), "{removed} not listed:\n{output}");
    }
    let mut left: Vec<String> =
        fs::read_dir(repo.path(FUNCTION_DIR)).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    left.sort();
    assert_eq!(left, [".gitignore", "handler.py", "requirements.txt", "src"]);
    assert_eq!(fs::read_to_string(outside.path().join("keep.txt")).unwrap(), "precious");
}

#[test]
fn dry_run_lists_what_clean_would_remove_and_changes_nothing() {
    let repo = RepoCopy::new();
    repo.write(&format!("{FUNCTION_DIR}/boto3/__init__.py"), "");
    let bin = FakeBin::new();
    bin.add("sam", 0);
    let (status, output) = run(repo.xtask().args(["lambda-build", "--dry-run"]).env("PATH", bin.path_env()));
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("would remove dir infra/lambda/functions/backend/boto3"), "{output}");
    assert!(repo.path(&format!("{FUNCTION_DIR}/boto3/__init__.py")).exists());
    assert!(!repo.path(&format!("{FUNCTION_DIR}/src")).exists(), "dry run copied the backend");
    assert!(!bin.was_called("sam"));
}

#[test]
fn container_always_without_docker_is_bad_usage_and_changes_nothing() {
    let repo = RepoCopy::new();
    let bin = FakeBin::new();
    bin.add("sam", 0);
    bin.add("docker", 1); // a client with no daemon behind it
                          // A socket nobody listens on: "not answering" on any machine, one with a daemon too.
    let (status, output) = run(repo
        .xtask()
        .args(["lambda-build", "--container", "always"])
        .env("PATH", bin.path_env())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock"));
    assert_eq!(status, 2, "{output}");
    assert_eq!(output.trim().lines().count(), 1, "not one line:\n{output}");
    assert!(output.contains("--container never"), "{output}");
    assert!(!repo.path(&format!("{FUNCTION_DIR}/src")).exists(), "bad usage changed the disk");
    assert!(!bin.was_called("sam"));
}

#[test]
fn unknown_config_key_is_bad_usage_with_one_line() {
    let repo = RepoCopy::new();
    let manifest = repo.path("Cargo.toml");
    let text = fs::read_to_string(&manifest).unwrap().replace("copy_to =", "copy_into =");
    fs::write(&manifest, text).unwrap();
    let (status, output) = run(repo.xtask().args(["lambda-build", "--container", "never"]));
    assert_eq!(status, 2, "{output}");
    assert_eq!(output.trim().lines().count(), 1, "not one line:\n{output}");
    assert!(output.contains("copy_into"), "{output}");
    assert!(!repo.path(&format!("{FUNCTION_DIR}/src")).exists());
}

#[test]
fn unknown_flag_is_bad_usage() {
    let repo = RepoCopy::new();
    let (status, output) = run(repo.xtask().args(["lambda-build", "--containr", "never"]));
    assert_eq!(status, 2, "{output}");
    assert!(output.contains("unexpected argument '--containr'"), "{output}");
    assert!(output.contains("--container"), "the usage names the real flag: {output}");
}

/// A fake sam that stays busy until a signal: the real one can't be made to wait on cue.
fn add_slow_sam(bin: &FakeBin, started_marker: &std::path::Path) {
    let calls = bin.calls_path("sam");
    bin.add_script(
        "sam",
        &format!(
            "trap 'echo got-INT >> \"{calls}\"; exit 130' INT\ntrap 'echo got-TERM >> \"{calls}\"; exit 143' TERM\ntouch \"{started}\"\nwhile :; do sleep 0.05; done",
            calls = calls.display(),
            started = started_marker.display()
        ),
    );
}

fn interrupt_sam_build(signal: i32) -> (i32, String, String) {
    let repo = RepoCopy::new();
    let bin = FakeBin::new();
    let started = bin.dir.path().join("started");
    add_slow_sam(&bin, &started);
    let child = repo
        .xtask()
        .args(["lambda-build", "--container", "never"])
        .env("PATH", bin.path_env())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !started.exists() {
        assert!(std::time::Instant::now() < deadline, "fake sam never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Only the xtask gets the signal, as from `kill` or a CI runner cancelling the job.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let output = child.wait_with_output().unwrap();
    let calls = fs::read_to_string(bin.calls_path("sam")).unwrap();
    (output.status.code().unwrap_or(-1), crate::support::text(&output), calls)
}

#[test]
fn sigint_during_sam_build_reaches_sam_and_exits_130_naming_the_step() {
    let (status, output, calls) = interrupt_sam_build(libc::SIGINT);
    assert_eq!(status, 130, "{output}");
    assert!(calls.contains("got-INT"), "sam never got the signal: {calls}");
    assert!(output.trim_end().lines().last().unwrap().contains("interrupted at step sam-build"), "{output}");
}

#[test]
fn sigterm_during_sam_build_reaches_sam_and_exits_130() {
    let (status, output, calls) = interrupt_sam_build(libc::SIGTERM);
    assert_eq!(status, 130, "{output}");
    assert!(calls.contains("got-TERM"), "sam never got the signal: {calls}");
}

/// A second function needs only a template resource and a config entry: both are built,
/// guarded and smoke-tested.
#[test]
fn a_second_function_is_built_by_config_alone() {
    let repo = RepoCopy::new();
    repo.write(
        "infra/lambda/functions/worker/handler.py",
        "def handler(event, context):\n    return {\"statusCode\": 200, \"body\": '{\"status\": \"healthy\"}'}\n",
    );
    repo.write("infra/lambda/functions/worker/requirements.txt", "");
    repo.write("infra/lambda/functions/worker/.gitignore", "*\n!.gitignore\n!handler.py\n!requirements.txt\n");
    repo.write("infra/lambda/functions/worker/leftover.py", "");
    let template = fs::read_to_string(repo.path("infra/lambda/template.yaml")).unwrap();
    let worker = "  WorkerFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: functions/worker/\n      Handler: handler.handler\n      Runtime: python3.11\n\n  ErrorsAlarm:";
    repo.write("infra/lambda/template.yaml", &template.replacen("  ErrorsAlarm:", worker, 1));
    repo.append(
        "Cargo.toml",
        "\n[[workspace.metadata.lambda.functions]]\nlogical_id = \"WorkerFunction\"\nfunction_dir = \"infra/lambda/functions/worker\"\nallowlist = [\"handler.py\", \"requirements.txt\", \".gitignore\"]\n",
    );

    let (status, output) = run(repo.xtask().args(["lambda-build", "--container", "never"]));

    assert_eq!(status, 0, "{output}");
    assert!(output.contains("removing file infra/lambda/functions/worker/leftover.py"), "{output}");
    assert!(repo.path("infra/lambda/.aws-sam/build/WorkerFunction/handler.py").is_file());
    assert!(repo.path(&format!("{ARTIFACT}/src/lazy_app.py")).is_file());
    assert!(!repo.path("infra/lambda/.aws-sam/build/WorkerFunction/leftover.py").exists());
}
