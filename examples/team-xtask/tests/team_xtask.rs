//! The example team xtask (src/main.rs) on an app this test writes: its command, its
//! step placed before sam-build, and its guard with `--allow`, through the library's pipeline
//! with the real SAM CLI.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn example_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_team-xtask"))
}

fn write(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn git(root: &Path, args: &[&str]) {
    let status = Command::new("git").args(args).current_dir(root).status().unwrap();
    assert!(status.success(), "git {args:?}");
}

const TEMPLATE: &str = "AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello/
      Handler: app.handler
      Runtime: python3.11
";

/// A one-function app with its own unit tests at the root, committed.
fn app(test_body: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "Cargo.toml", "[workspace.metadata.lambda]\ntemplate = \"template.yaml\"\n");
    write(root, "template.yaml", TEMPLATE);
    write(root, "hello/app.py", "def handler(event, context):\n    return {\"ok\": True}\n");
    write(root, "hello/requirements.txt", "");
    write(root, "tests/__init__.py", "");
    write(
        root,
        "tests/test_hello.py",
        &format!("import unittest\n\nclass T(unittest.TestCase):\n    def test_it(self):\n        {test_body}\n"),
    );
    git(root, &["init", "-q"]);
    git(root, &["add", "-A"]);
    git(root, &["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "app"]);
    dir
}

fn run(root: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(example_binary())
        .args(args)
        .current_dir(root)
        .env("NO_COLOR", "1")
        .env_remove("CI")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_team_command_step_and_guard_run_through_the_library() {
    let app = app("self.assertEqual(1 + 1, 2)");
    let root = app.path();

    let (status, out) = run(root, &["lambda-functions"]);
    assert_eq!(status, 0, "{out}");
    assert!(out.contains("HelloFunction python3.11 hello"), "{out}");

    // The team's guard: test code in the function dir ships and fails the build, after the
    // team's step ran before sam-build.
    write(root, "hello/test_app.py", "def test_handler():\n    pass\n");
    let (status, out) = run(root, &["lambda-build", "--container", "never"]);
    assert_eq!(status, 1, "{out}");
    let tests_at = out.find("[lambda-build] unit-tests done").expect(&out);
    let sam_at = out.find("[lambda-build] sam-build ...").expect(&out);
    assert!(tests_at < sam_at, "the team step runs before sam-build:\n{out}");
    assert!(out.contains("[no-test-code] .aws-sam/build/HelloFunction/test_app.py"), "{out}");
    assert!(out.contains("failed at step no-test-code"), "{out}");

    // --allow takes the team guard's name like a built-in one.
    let (status, out) = run(root, &["lambda-build", "--container", "never", "--allow", "no-test-code"]);
    assert_eq!(status, 0, "{out}");
    assert!(out.contains("allowed: --allow no-test-code"), "{out}");
}

#[test]
fn a_failing_team_step_stops_the_build_before_sam_runs() {
    let app = app("self.assertEqual(1 + 1, 3)");
    let (status, out) = run(app.path(), &["lambda-build", "--container", "never"]);
    assert_eq!(status, 1, "{out}");
    assert!(out.contains("failed at step unit-tests"), "{out}");
    assert!(!out.contains("[lambda-build] sam-build ..."), "{out}");
    assert!(!app.path().join(".aws-sam/build").exists());
}
