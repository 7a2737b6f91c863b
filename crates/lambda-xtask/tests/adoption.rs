//! Adoption from scratch, as a team does it: a SAM app with no Rust in it, `lambda-xtask
//! lambda-init` (the library's own binary, as `cargo install` provides it), a commit, a fresh
//! clone, and `cargo xtask lambda-build` from that clone, with the library as a path dependency
//! and as a git dependency on a tag (a `file://` clone of this repository stands in for the
//! remote). The app's .gitignore holds the rules of common Python ignore templates, which must
//! hide nothing lambda-init wrote.
//!
//! The adopted app builds with this workspace's Cargo.lock and profile, and with this
//! workspace's target dir as its build dir (cargo's `build.build-dir`: the compiled crates and
//! their fingerprints), so every crate `cargo test` already compiled is reused, as a CI cache
//! keyed on the lock file would give a team: the path form compiles only the app's own binary,
//! the git form the library again (a git source is another package to cargo). The app's final
//! artifacts go to a target dir of its own: its package is named `xtask` too, and its binary
//! would replace `target/debug/xtask`, which the end-to-end tests run (a CI run's tests once
//! ran the binary built from the git checkout in cargo's cache).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// This workspace's target dir: the test binary runs from `<target>/debug/deps/`.
fn workspace_target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

/// The adopted apps' target dir (their final artifacts), inside this workspace's.
fn target_dir() -> PathBuf {
    workspace_target_dir().join("adopted-apps")
}

fn write(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn run(command: &mut Command) -> (i32, String) {
    let out = command.env("NO_COLOR", "1").env_remove("CI").env_remove("GITHUB_ACTIONS").output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

fn git(dir: &Path, args: &[&str]) -> String {
    let (status, out) = run(Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir));
    assert_eq!(status, 0, "git {args:?}: {out}");
    out
}

/// Ignore rules of the kinds common Python templates carry (packaging output, virtualenvs,
/// caches), including `build/` and `lib/`, which would hide a folder of Rust sources so named.
const PYTHON_IGNORES: &str =
    "__pycache__/\n*.py[cod]\nbuild/\ndist/\nlib/\nlib64/\n*.egg-info/\n.venv/\nenv/\n.cache\n*.log\n";

/// A SAM app as `sam init` leaves it: no Cargo.toml, no xtask, committed.
fn sam_app() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "template.yaml",
        "AWSTemplateFormatVersion: '2010-09-09'\nTransform: AWS::Serverless-2016-10-31\nResources:\n  HelloFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: hello/\n      Handler: app.handler\n      Runtime: python3.11\n      Events:\n        Hello:\n          Type: Api\n          Properties:\n            Path: /hello\n            Method: get\n",
    );
    write(root, "hello/app.py", "def handler(event, context):\n    return {\"statusCode\": 200, \"body\": \"hi\"}\n");
    write(root, "hello/requirements.txt", "");
    write(root, ".gitignore", PYTHON_IGNORES);
    git(root, &["init", "-q"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-qm", "sam init"]);
    dir
}

/// lambda-init with `source_flags`, commit, clone, build from the clone.
fn adopt_commit_clone_build(source_flags: &[&str], expected_dependency: &str) {
    let app = sam_app();
    let (status, out) = run(Command::new(env!("CARGO_BIN_EXE_lambda-xtask"))
        .arg("lambda-init")
        .args(source_flags)
        .current_dir(app.path()));
    assert_eq!(status, 0, "{out}");
    assert!(!out.contains("warning: git ignores"), "{out}");

    // What the team now owns: two files of the xtask, the alias, the root manifest, .gitignore.
    let xtask_manifest = fs::read_to_string(app.path().join("xtask/Cargo.toml")).unwrap();
    assert!(xtask_manifest.contains(expected_dependency), "{xtask_manifest}");
    let main_rs = fs::read_to_string(app.path().join("xtask/src/main.rs")).unwrap();
    assert_eq!(main_rs, "fn main() -> std::process::ExitCode {\n    lambda_xtask::main()\n}\n");
    let status_lines = git(app.path(), &["status", "--porcelain", "--untracked-files=all"]);
    let mut changed: Vec<&str> = status_lines.lines().collect();
    changed.sort();
    assert_eq!(
        changed,
        [" M .gitignore", "?? .cargo/config.toml", "?? Cargo.toml", "?? xtask/Cargo.toml", "?? xtask/src/main.rs"],
        "lambda-init wrote something else, or git hides part of it"
    );

    // The team's first build resolves the same crates this workspace pins (a fresh adopter's
    // cargo resolves them from crates.io).
    fs::copy(repo_root().join("Cargo.lock"), app.path().join("Cargo.lock")).unwrap();
    let (status, out) = run(Command::new("cargo")
        .args(["metadata", "--format-version", "1"])
        .current_dir(app.path())
        .stdout(std::process::Stdio::null()));
    assert_eq!(status, 0, "trimming Cargo.lock to the app's crates: {out}");
    git(app.path(), &["add", "-A"]);
    git(app.path(), &["commit", "-qm", "adopt lambda-xtask"]);

    let clone = tempfile::tempdir().unwrap();
    git(clone.path(), &["clone", "-q", app.path().to_str().unwrap(), "app"]);
    let cloned = clone.path().join("app");
    let (status, out) = run(Command::new("cargo")
        .args(["xtask", "lambda-build", "--container", "never"])
        .env("CARGO_TARGET_DIR", target_dir())
        .env("CARGO_BUILD_BUILD_DIR", workspace_target_dir())
        .current_dir(&cloned));
    assert_eq!(status, 0, "{out}");
    assert!(out.contains("[lambda-build] succeeded"), "{out}");
    assert!(cloned.join(".aws-sam/build/HelloFunction/app.py").is_file());
    // The build changed nothing git tracks and left nothing git would commit.
    let status_after = git(&cloned, &["status", "--porcelain"]);
    assert_eq!(status_after, "", "the build dirtied the clone");
}

#[test]
fn an_app_adopted_with_a_path_dependency_builds_from_a_fresh_clone() {
    let library = repo_root().join("crates/lambda-xtask");
    adopt_commit_clone_build(
        &["--path", library.to_str().unwrap()],
        &format!("lambda-xtask = {{ path = \"{}\" }}", library.display()),
    );
}

#[test]
fn an_app_adopted_with_a_git_tag_dependency_builds_from_a_fresh_clone() {
    // The remote: a clone of this repository's committed state, tagged as a release.
    let remote = tempfile::tempdir().unwrap();
    git(remote.path(), &["clone", "-q", "--no-hardlinks", repo_root().to_str().unwrap(), "lambda-xtask"]);
    let remote_repo = remote.path().join("lambda-xtask");
    git(&remote_repo, &["tag", "v0.2.0"]);
    let url = format!("file://{}", remote_repo.display());
    adopt_commit_clone_build(
        &["--git", &url, "--tag", "v0.2.0"],
        &format!("lambda-xtask = {{ git = \"{url}\", tag = \"v0.2.0\" }}"),
    );
}

/// A rule that hides the xtask: lambda-init names the file and the rule, and its fix works.
#[test]
fn an_ignore_rule_that_hides_the_xtask_is_named_with_a_fix_that_works() {
    let app = sam_app();
    fs::write(app.path().join(".gitignore"), format!("{PYTHON_IGNORES}src/\n")).unwrap();
    git(app.path(), &["commit", "-qam", "ignore src/"]);
    let library = repo_root().join("crates/lambda-xtask");
    let (status, out) = run(Command::new(env!("CARGO_BIN_EXE_lambda-xtask"))
        .args(["lambda-init", "--path", library.to_str().unwrap()])
        .current_dir(app.path()));
    assert_eq!(status, 0, "{out}");
    let warning = out.lines().find(|l| l.starts_with("warning: git ignores")).expect(&out);
    assert!(warning.contains("xtask/src/main.rs (by .gitignore:"), "{warning}");
    let fix = warning.split("fix: ").nth(1).unwrap();
    let args: Vec<&str> = fix.split_whitespace().collect();
    assert_eq!(&args[..3], ["git", "add", "-f"], "{fix}");
    git(app.path(), &args[1..]);
    let staged = git(app.path(), &["diff", "--cached", "--name-only"]);
    assert!(staged.lines().any(|l| l == "xtask/src/main.rs"), "{staged}");
}
