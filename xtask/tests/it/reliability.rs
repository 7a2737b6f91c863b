//! The promises of "What lambda-build and lambda-deploy guarantee" in README: bad input is one
//! line and exit 2 with nothing changed; failures are named; nothing outside is touched.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use crate::support::{run, snapshot, FakeBin, RepoCopy};

const FUNCTION_DIR: &str = "infra/lambda/functions/backend";

/// Runs lambda-build with a recording fake sam; asserts exit 2, one line naming `expected`,
/// sam never called and the tree unchanged.
fn assert_bad_input(repo: &RepoCopy, expected: &str) {
    let bin = FakeBin::new();
    bin.add("sam", 0);
    let before = snapshot(repo.dir.path());
    let (status, output) = run(repo.xtask().args(["lambda-build", "--container", "never"]).env("PATH", bin.path_env()));
    assert_eq!(status, 2, "{output}");
    assert_eq!(output.trim().lines().count(), 1, "not one line:\n{output}");
    assert!(output.contains(expected), "expected {expected:?} in:\n{output}");
    assert!(!bin.was_called("sam"));
    assert_eq!(before, snapshot(repo.dir.path()), "bad input changed the disk");
}

#[test]
fn missing_template_is_bad_input() {
    let repo = RepoCopy::new();
    fs::remove_file(repo.path("infra/lambda/template.yaml")).unwrap();
    assert_bad_input(&repo, "SAM template infra/lambda/template.yaml not found");
}

#[test]
fn template_without_the_configured_function_is_bad_input() {
    let repo = RepoCopy::new();
    let template = fs::read_to_string(repo.path("infra/lambda/template.yaml")).unwrap();
    repo.write("infra/lambda/template.yaml", &template.replace("BackendFunction", "ApiFunction"));
    assert_bad_input(&repo, "has no AWS::Serverless::Function BackendFunction (it has: ApiFunction)");
}

#[test]
fn malformed_handler_is_bad_input() {
    let repo = RepoCopy::new();
    let template = fs::read_to_string(repo.path("infra/lambda/template.yaml")).unwrap();
    repo.write("infra/lambda/template.yaml", &template.replace("Handler: handler.handler", "Handler: handler-handler"));
    assert_bad_input(&repo, "Handler \"handler-handler\"");
}

#[test]
fn invalid_template_yaml_is_bad_input() {
    let repo = RepoCopy::new();
    repo.write("infra/lambda/template.yaml", "Resources: [unclosed\n");
    assert_bad_input(&repo, "is not valid YAML");
}

#[test]
fn malformed_cargo_toml_is_bad_input_with_the_position() {
    let repo = RepoCopy::new();
    let manifest = fs::read_to_string(repo.path("Cargo.toml")).unwrap();
    repo.write("Cargo.toml", &manifest.replace("template = \"infra", "template = infra"));
    assert_bad_input(&repo, "line ");
}

#[test]
fn missing_backend_source_is_bad_input() {
    let repo = RepoCopy::new();
    fs::remove_dir_all(repo.path("backend/src")).unwrap();
    assert_bad_input(&repo, "backend_src backend/src is not a directory");
}

#[test]
fn function_dir_outside_the_repository_is_refused() {
    let repo = RepoCopy::new();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("precious.txt"), "keep").unwrap();
    fs::remove_dir_all(repo.path(FUNCTION_DIR)).unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.path(FUNCTION_DIR)).unwrap();
    assert_bad_input(&repo, "is a symlink");
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 1);
}

#[test]
fn function_dir_at_the_repository_root_is_refused() {
    let repo = RepoCopy::new();
    let manifest = fs::read_to_string(repo.path("Cargo.toml")).unwrap();
    repo.write(
        "Cargo.toml",
        &manifest.replace("function_dir = \"infra/lambda/functions/backend\"", "function_dir = \".\""),
    );
    assert_bad_input(&repo, "not strictly inside the repository");
}

#[test]
fn missing_runtime_python_is_bad_input_with_the_install_hint() {
    let repo = RepoCopy::new();
    let bin = FakeBin::new();
    bin.add("sam", 0);
    // A PATH with nothing but the fake sam: no python3.11 anywhere on it.
    let path = bin.dir.path().display().to_string();
    let before = snapshot(repo.dir.path());
    let (status, output) = run(repo.xtask().args(["lambda-build", "--container", "never"]).env("PATH", path));
    assert_eq!(status, 2, "{output}");
    assert_eq!(output.trim().lines().count(), 1, "{output}");
    assert!(output.contains("python3.11 not found on PATH") && output.contains("install Python 3.11"), "{output}");
    assert_eq!(before, snapshot(repo.dir.path()));
}

#[test]
fn sam_failing_is_named_and_exits_1() {
    let repo = RepoCopy::new();
    let bin = FakeBin::new();
    bin.add("sam", 3);
    let (status, output) = run(repo.xtask().args(["lambda-build", "--container", "never"]).env("PATH", bin.path_env()));
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("sam build exited with status 3"), "{output}");
    assert!(output.trim_end().lines().last().unwrap().contains("failed at step sam-build"), "{output}");
}

#[test]
fn dry_run_lists_exactly_what_a_real_run_removes() {
    let repo = RepoCopy::new();
    for polluted in ["boto3/__init__.py", "six.py", ".DS_Store", "psycopg2_binary.libs/libpq.dll"] {
        repo.write(&format!("{FUNCTION_DIR}/{polluted}"), "x");
    }
    std::os::unix::fs::symlink("/etc", repo.path(&format!("{FUNCTION_DIR}/etc-link"))).unwrap();
    // The real SAM CLI builds: every step, the post-build guards included, has real input.
    let (status, dry) = run(repo.xtask().args(["lambda-build", "--dry-run"]));
    assert_eq!(status, 0, "{dry}");
    let (status, real) = run(repo.xtask().args(["lambda-build", "--container", "never"]));
    assert_eq!(status, 0, "{real}");

    let listed = |text: &str, prefix: &str| -> Vec<String> {
        let mut v: Vec<String> = text.lines().filter_map(|l| l.trim().strip_prefix(prefix).map(String::from)).collect();
        v.sort();
        v
    };
    let would = listed(&dry, "would remove ");
    assert_eq!(would.len(), 5, "{dry}");
    assert_eq!(would, listed(&real, "removing "), "dry run:\n{dry}\nreal run:\n{real}");
}

#[test]
fn a_non_utf8_file_name_in_the_backend_is_copied_faithfully() {
    let repo = RepoCopy::new();
    let name = OsStr::from_bytes(b"data-\xff\xfe.bin");
    fs::write(repo.path("backend/src").join(name), b"raw").unwrap();
    let (status, output) = run(repo.xtask().args(["lambda-build", "--container", "never"]));
    assert_eq!(status, 0, "{output}");
    assert_eq!(fs::read(repo.path(&format!("{FUNCTION_DIR}/src")).join(name)).unwrap(), b"raw");
    // sam ships it too: the artifact has the same bytes under the same name.
    assert_eq!(fs::read(repo.path("infra/lambda/.aws-sam/build/BackendFunction/src").join(name)).unwrap(), b"raw");
}

#[test]
fn a_second_run_waits_for_the_first() {
    let repo = RepoCopy::new();
    fs::create_dir_all(repo.path("infra/lambda/.aws-sam")).unwrap();
    // This test plays the first run: it holds the lock the xtask takes.
    let lock = fs::File::create(repo.path("infra/lambda/.aws-sam/xtask.lock")).unwrap();
    lock.lock().unwrap();

    let child = repo
        .xtask()
        .args(["lambda-build", "--container", "never"])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!repo.path(&format!("{FUNCTION_DIR}/src")).exists(), "the second run copied while the first held the lock");
    assert!(!repo.path("infra/lambda/.aws-sam/build").exists(), "the second run built while the first held the lock");

    let released = Instant::now();
    drop(lock);
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("waiting for it to finish"), "{text}");
    assert!(text.contains("sam-build done"), "{text}");
    assert!(released.elapsed() < Duration::from_secs(60));
}
