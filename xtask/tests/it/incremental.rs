//! Incremental builds: a no-op lambda-build does not run sam; every input that matters does.
//!
//! sam here is the real SAM CLI behind a recording wrapper, so the test sees whether it ran.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{run, RepoCopy};

struct RecordingSam {
    dir: tempfile::TempDir,
}

impl RecordingSam {
    fn wrapping(real_sam: &Path) -> RecordingSam {
        let dir = tempfile::tempdir().unwrap();
        let script = format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nexec '{}' \"$@\"\n",
            dir.path().join("calls").display(),
            real_sam.display()
        );
        let path = dir.path().join("sam");
        fs::write(&path, script).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        crate::support::set_age(&path, std::time::Duration::from_secs(60));
        RecordingSam { dir }
    }

    fn calls(&self) -> usize {
        fs::read_to_string(self.dir.path().join("calls")).map(|t| t.lines().count()).unwrap_or(0)
    }

    fn path_env(&self) -> String {
        format!("{}:{}", self.dir.path().display(), std::env::var("PATH").unwrap_or_default())
    }
}

/// The sam the xtask used, from its "sam: PATH (...)" line.
fn sam_path(output: &str) -> PathBuf {
    let line = output.lines().find_map(|l| l.trim().strip_prefix("sam: ")).expect("sam line in the output");
    PathBuf::from(line.rsplit_once(" (").unwrap().0)
}

struct Session {
    repo: RepoCopy,
    sam: RecordingSam,
    xtask: PathBuf,
}

impl Session {
    /// Runs lambda-build and returns (did sam run, output).
    fn build(&self, extra: &[&str]) -> (bool, String) {
        let before = self.sam.calls();
        let mut command = Command::new(&self.xtask);
        command
            .current_dir(self.repo.dir.path())
            .arg("lambda-build")
            .args(extra)
            .env("PATH", self.sam.path_env())
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
        let (status, output) = run(&mut command);
        assert_eq!(status, 0, "{output}");
        (self.sam.calls() > before, output)
    }

    fn assert_up_to_date(&self, after: &str) {
        let (ran, output) = self.build(&["--container", "never"]);
        assert!(!ran, "sam ran on a no-op build after {after}:\n{output}");
        assert!(output.contains("up to date"), "{output}");
    }

    fn assert_rebuilds(&self, change: &str, reason: &str, extra: &[&str]) {
        let args: Vec<&str> = if extra.is_empty() { vec!["--container", "never"] } else { extra.to_vec() };
        let (ran, output) = self.build(&args);
        assert!(ran, "no rebuild after {change}:\n{output}");
        assert!(
            output.contains(&format!("building: {reason}")),
            "after {change}, expected 'building: {reason}':\n{output}"
        );
    }
}

#[test]
fn a_no_op_build_skips_sam_and_every_input_change_rebuilds() {
    let repo = RepoCopy::new();
    let (status, output) = run(repo.xtask().args(["lambda-build", "--container", "never"]));
    assert_eq!(status, 0, "{output}");
    let sam = RecordingSam::wrapping(&sam_path(&output));
    let s = Session { repo, sam, xtask: PathBuf::from(env!("CARGO_BIN_EXE_xtask")) };

    // The first build ran sam without the wrapper on PATH; the wrapper is a different sam
    // executable, so one rebuild is due before the no-op.
    s.assert_rebuilds("putting another sam first on PATH", "sam/executable changed", &[]);
    s.assert_up_to_date("a build");

    s.repo.append("backend/src/lazy_app.py", "\n# edited\n");
    s.assert_rebuilds("editing backend/src", "backend/BackendFunction/lazy_app.py changed", &[]);
    s.assert_up_to_date("rebuilding");

    s.repo.write("backend/src/extra.py", "EXTRA = 1\n");
    s.assert_rebuilds("adding a backend file", "backend/BackendFunction/extra.py is new", &[]);

    fs::remove_file(s.repo.path("backend/src/extra.py")).unwrap();
    s.assert_rebuilds("removing a backend file", "backend/BackendFunction/extra.py was removed", &[]);

    s.repo.write("backend/src/__pycache__/lazy_app.cpython-311.pyc", "bytecode");
    s.repo.write("backend/src/notes.log", "ignored");
    s.repo.write("backend/.gitignore", "*.log\n");
    // backend/.gitignore itself is outside backend/src and not an input.
    s.assert_up_to_date("touching only files copy-backend never copies");

    s.repo.append("infra/lambda/functions/backend/handler.py", "\n# edited\n");
    s.assert_rebuilds("editing handler.py", "function/BackendFunction/handler.py changed", &[]);

    s.repo.append("infra/lambda/functions/backend/requirements.txt", "# edited\n");
    s.assert_rebuilds("editing requirements.txt", "function/BackendFunction/requirements.txt changed", &[]);

    s.repo.append("infra/lambda/template.yaml", "# edited\n");
    s.assert_rebuilds("editing the template", "config/template changed", &[]);

    s.repo.append("infra/lambda/samconfig.toml", "# edited\n");
    s.assert_rebuilds("editing samconfig.toml", "config/samconfig changed", &[]);

    let manifest = fs::read_to_string(s.repo.path("Cargo.toml")).unwrap();
    s.repo.write(
        "Cargo.toml",
        &manifest.replace("sam_cli_version = \"1.170.0\"", "sam_cli_version = \"1.170.0\"\n# edited"),
    );
    s.assert_rebuilds("editing the xtask config", "config/Cargo.toml changed", &[]);

    // What the mode chose is the input, not the flag: auto with no Docker (DOCKER_HOST points
    // nowhere) builds natively as never does, so lambda-deploy's default is current after a
    // --container never build.
    let (ran, output) = s.build(&["--container", "auto"]);
    assert!(!ran && output.contains("up to date"), "auto without Docker rebuilt a native build:\n{output}");

    let build_file = s.repo.path("infra/lambda/.aws-sam/build/BackendFunction/handler.py");
    fs::remove_file(build_file).unwrap();
    s.assert_rebuilds("deleting a file of the build output", "the build output was modified", &[]);
    s.assert_up_to_date("repairing the build output");

    // The no-op check stats only what the manifest lists: a file added deep in the output
    // (an entry it never listed) is still seen, by its directory's time.
    s.repo.write("infra/lambda/.aws-sam/build/BackendFunction/fastapi/middleware/added.py", "X = 1\n");
    s.assert_rebuilds(
        "adding a file to the build output",
        "the build output was modified: build/BackendFunction/fastapi/middleware/added.py is new",
        &[],
    );
    s.assert_up_to_date("repairing the build output again");

    s.repo.write("infra/lambda/functions/backend/six.py", "");
    s.assert_rebuilds("polluting the function dir", "function/BackendFunction/six.py is new", &[]);
    assert!(!s.repo.path("infra/lambda/functions/backend/six.py").exists(), "clean did not run");
    s.assert_up_to_date("cleaning");

    let (ran, output) = s.build(&["--container", "never", "--force"]);
    assert!(ran, "--force did not rebuild:\n{output}");

    // Another xtask binary (a new version of the tool) rebuilds.
    let other_xtask = s.repo.path("xtask-copy");
    fs::copy(&s.xtask, &other_xtask).unwrap();
    crate::support::set_age(&other_xtask, std::time::Duration::from_secs(60));
    let s = Session { xtask: other_xtask, ..s };
    s.assert_rebuilds("running another xtask binary", "xtask/binary changed", &[]);
    s.assert_up_to_date("rebuilding with the new binary");
}

/// What the manifest of the last build recorded: each artifact's digest, SBOM and package.
fn recorded_evidence(repo: &RepoCopy) -> serde_json::Value {
    let text = fs::read_to_string(repo.path("infra/lambda/.aws-sam/xtask-build-manifest.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&text).unwrap()["evidence"].clone()
}

/// The package's identity on disk: rewritten, it would have another inode or mtime.
fn package_identity(repo: &RepoCopy) -> (u64, std::time::SystemTime, Vec<u8>) {
    use std::os::unix::fs::MetadataExt;
    let zip = repo.path("infra/lambda/.aws-sam/build/BackendFunction.zip");
    let meta = fs::metadata(&zip).unwrap();
    (meta.ino(), meta.modified().unwrap(), fs::read(&zip).unwrap())
}

#[test]
fn a_deploy_of_an_up_to_date_build_neither_rebuilds_nor_repackages() {
    let repo = RepoCopy::new();
    crate::support::deploy::git_commit(&repo);
    let sam = RecordingSam::wrapping(&crate::support::deploy::real_sam());
    let s = Session { repo, sam, xtask: PathBuf::from(env!("CARGO_BIN_EXE_xtask")) };
    let (ran, output) = s.build(&["--container", "never"]);
    assert!(ran, "the first build ran no sam:\n{output}");
    let (evidence, package) = (recorded_evidence(&s.repo), package_identity(&s.repo));
    assert!(evidence["artifacts"][0]["package"]["code_sha256"].is_string(), "{evidence}");
    let calls_before = fs::read_to_string(s.sam.dir.path().join("calls")).unwrap();

    // The rehearsal: a whole deploy, against moto, with no --skip-build.
    let report = s.repo.dir.path().join("deploy-report.json");
    let mut command = Command::new(&s.xtask);
    command
        .current_dir(s.repo.dir.path())
        .args(["lambda-deploy", "--env", "local", "--container", "never", "--json"])
        .arg(&report)
        .env("PATH", s.sam.path_env())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    for name in ["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"] {
        command.env_remove(name);
    }
    let (status, output) = run(&mut command);
    assert_eq!(status, 0, "{output}");

    let report: serde_json::Value = serde_json::from_str(&fs::read_to_string(&report).unwrap()).unwrap();
    let steps: Vec<&str> = report["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(steps.contains(&"build-up-to-date") && steps.contains(&"sam-deploy"), "{steps:?}");
    for rebuilt in ["copy-backend", "clean", "pre-build-guards", "sam-build", "post-build-guards", "evidence"] {
        assert!(!steps.contains(&rebuilt), "step {rebuilt} ran on an up-to-date build: {steps:?}");
    }
    // sam was called (package, deploy) but never to build.
    let calls = fs::read_to_string(s.sam.dir.path().join("calls")).unwrap();
    let new_calls = &calls[calls_before.len()..];
    assert!(new_calls.lines().any(|l| l.starts_with("deploy")), "{new_calls}");
    assert!(!new_calls.lines().any(|l| l.starts_with("build")), "sam build ran:\n{new_calls}");
    // The package deployed is the one the build wrote, untouched, and the audit line says so.
    assert_eq!(package_identity(&s.repo), package, "the package was rewritten");
    assert_eq!(recorded_evidence(&s.repo), evidence, "the evidence was recomputed differently");
    assert_eq!(report["deploy"]["artifacts"], evidence["artifacts"], "{}", report["deploy"]);

    // --force rebuilds, as lambda-build --force does.
    let (status, output) = run(command.arg("--force"));
    assert_eq!(status, 0, "{output}");
    let calls = fs::read_to_string(s.sam.dir.path().join("calls")).unwrap();
    assert!(calls[calls_before.len()..].lines().any(|l| l.starts_with("build")), "--force did not rebuild");
}
