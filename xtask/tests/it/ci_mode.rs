//! CI mode, the step summary and the `--json` report, end to end: the real xtask binary on a
//! copy of this repository.
//!
//! Snapshots are plain expected files in `tests/snapshots/`, compared after normalising what
//! changes from run to run (durations, temporary directories, dates). To accept a deliberate
//! change of the output: `UPDATE_SNAPSHOTS=1 cargo test -p xtask --test it ci_mode`, then review
//! the diff like any other.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use crate::support::{repo_root, FakeBin, RepoCopy};
use serde_json::Value;

/// The seed's issue 6 in a fixture: installed package metadata in the backend source. The
/// pre-build guard stops the build before sam, so a recording fake `sam` is enough.
fn failing_guard_fixture() -> (RepoCopy, FakeBin) {
    let repo = RepoCopy::new();
    repo.write("backend/src/six-1.16.0.dist-info/METADATA", "Name: six\nVersion: 1.16.0\n");
    let bin = FakeBin::new();
    bin.add("sam", 0);
    (repo, bin)
}

fn build(repo: &RepoCopy, bin: &FakeBin) -> Command {
    let mut command = repo.xtask();
    command.args(["lambda-build", "--container", "never"]).env("PATH", bin.path_env());
    command
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Replaces what differs between runs: temp dirs, `1.23s` durations, and dates.
fn normalise(text: &str, temp_dirs: &[&Path]) -> String {
    let mut text = text.to_string();
    for (dir, label) in temp_dirs.iter().zip(["[REPO]", "[BIN]", "[TMP]"]) {
        text = text.replace(&dir.display().to_string(), label);
    }
    // copy-backend's counts follow the sample backend, which is not what these snapshots test.
    let text: String = text
        .lines()
        .map(|line| {
            if line.starts_with("    backend/src -> ") {
                let (head, _) = line.split_once(": ").unwrap_or((line, ""));
                format!("{head}: [COUNTS]\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        // A duration as the xtask prints it: digits '.' two digits 's'.
        if chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_ascii_alphanumeric()) {
            let mut j = i;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            let is_duration = j + 3 < chars.len()
                && chars[j] == '.'
                && chars[j + 1].is_ascii_digit()
                && chars[j + 2].is_ascii_digit()
                && chars[j + 3] == 's'
                && !chars.get(j + 4).is_some_and(|c| c.is_ascii_alphanumeric());
            if is_duration {
                out.push_str("[DURATION]");
                i = j + 4;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn assert_snapshot(name: &str, actual: &str) {
    let path = repo_root().join("xtask/tests/snapshots").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, actual).unwrap();
        return;
    }
    let expected = fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("no snapshot {}: run with UPDATE_SNAPSHOTS=1 and review it", path.display()));
    assert!(
        expected == actual,
        "{name} differs from its snapshot (UPDATE_SNAPSHOTS=1 to accept):\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

#[test]
fn ci_mode_annotates_each_finding_and_writes_the_step_summary() {
    let (repo, bin) = failing_guard_fixture();
    let scratch = tempfile::tempdir().unwrap();
    let summary = scratch.path().join("step_summary.md");
    fs::write(&summary, "### an earlier step's summary\n\n").unwrap();

    let output = build(&repo, &bin).env("CI", "true").env("GITHUB_STEP_SUMMARY", &summary).output().unwrap();

    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let dirs = [repo.dir.path(), bin.dir.path(), scratch.path()];
    // stdout carries the workflow commands and nothing else.
    assert_snapshot("failing_guard.ci.stdout.txt", &normalise(&stdout(&output), &dirs));
    assert_snapshot("failing_guard.ci.stderr.txt", &normalise(&stderr(&output), &dirs));
    let appended = fs::read_to_string(&summary).unwrap();
    assert!(appended.starts_with("### an earlier step's summary\n\n"), "the summary file was overwritten:\n{appended}");
    assert_snapshot("failing_guard.ci.summary.md", &normalise(&appended, &dirs));
    assert!(!bin.was_called("sam"), "sam ran despite the finding");
}

#[test]
fn github_actions_or_the_ci_flag_alone_turn_ci_mode_on() {
    let (repo, bin) = failing_guard_fixture();
    let by_variable = build(&repo, &bin).env("GITHUB_ACTIONS", "true").output().unwrap();
    let by_flag = build(&repo, &bin).arg("--ci").output().unwrap();
    for output in [by_variable, by_flag] {
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(
            stdout(&output).starts_with(
                "::error file=infra/lambda/functions/backend/src/six-1.16.0.dist-info,title=stale-installed-package::"
            ),
            "{}",
            stdout(&output)
        );
    }
}

#[test]
fn outside_ci_mode_there_is_no_annotation_and_no_summary() {
    let (repo, bin) = failing_guard_fixture();
    let scratch = tempfile::tempdir().unwrap();
    let summary = scratch.path().join("step_summary.md");
    let output = build(&repo, &bin).env("GITHUB_STEP_SUMMARY", &summary).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(stdout(&output), "");
    assert!(
        stderr(&output).contains("[stale-installed-package] infra/lambda/functions/backend/src/six-1.16.0.dist-info")
    );
    assert!(!summary.exists(), "a step summary was written outside CI mode");
}

#[test]
fn a_successful_build_in_ci_mode_summarises_every_step_and_annotates_nothing() {
    let repo = RepoCopy::new();
    let bin = FakeBin::new(); // no fake sam: the real SAM CLI builds, so every guard has an artifact
    let scratch = tempfile::tempdir().unwrap();
    let summary = scratch.path().join("step_summary.md");
    let output = build(&repo, &bin).env("CI", "true").env("GITHUB_STEP_SUMMARY", &summary).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "");
    let dirs = [repo.dir.path(), bin.dir.path(), scratch.path()];
    assert_snapshot("success.ci.summary.md", &normalise(&fs::read_to_string(&summary).unwrap(), &dirs));
}

#[test]
fn a_failure_without_findings_gets_one_annotation_naming_the_step() {
    let repo = RepoCopy::new();
    let bin = FakeBin::new();
    bin.add("sam", 1); // sam build fails: no guard finding explains it
    let output = build(&repo, &bin).env("CI", "true").output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let annotations = stdout(&output);
    assert_eq!(annotations.lines().count(), 1, "{annotations}");
    assert!(
        annotations.starts_with("::error title=lambda-build failed at step sam-build::sam-build: "),
        "{annotations}"
    );
    assert!(stderr(&output).trim_end().lines().last().unwrap().contains("failed at step sam-build"));
}

/// A prompt in CI mode would hang the job until its timeout. With stdin an open pipe that
/// never delivers a byte, as a runner's may be, the build must end by itself.
#[test]
fn ci_mode_never_waits_for_input() {
    let (repo, bin) = failing_guard_fixture();
    let mut child = build(&repo, &bin)
        .env("CI", "true")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _open_stdin = child.stdin.take();
    // Generous: a build that needs no input ends in well under a second here.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("lambda-build in CI mode was still running after 120 s with stdin open: is it waiting for input?");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1));
}

// --- the JSON report -------------------------------------------------------------------

fn schema() -> jsonschema::Validator {
    let text = fs::read_to_string(repo_root().join("crates/lambda-xtask/schemas/report.v1.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::draft202012::new(&schema).expect("the schema is a valid draft 2020-12 schema")
}

fn assert_valid(report: &Value) {
    let errors: Vec<String> = schema().iter_errors(report).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "report does not validate against the schema:\n{}\n{report:#}", errors.join("\n"));
}

fn read_report(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).expect("the report was written")).expect("the report is JSON")
}

#[test]
fn json_report_of_a_failing_guard_names_the_finding_and_validates_against_the_schema() {
    let (repo, bin) = failing_guard_fixture();
    let report_path = repo.path("lambda-report.json");
    let output = build(&repo, &bin).args(["--json", "lambda-report.json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));

    let report = read_report(&report_path);
    assert_valid(&report);
    assert_eq!(report["command"], "lambda-build");
    assert_eq!(report["ci"], false);
    let steps: Vec<(&str, &str)> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [("sam-cli", "ok"), ("copy-backend", "ok"), ("clean", "ok"), ("pre-build-guards", "failed")],
        "sam-build must not appear: it never ran"
    );
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{report:#}");
    assert_eq!(findings[0]["guard"], "stale-installed-package");
    assert_eq!(findings[0]["path"], "infra/lambda/functions/backend/src/six-1.16.0.dist-info");
    assert_eq!(findings[0]["step"], "pre-build-guards");
    assert!(findings[0]["fix"].as_str().unwrap().contains("rm -rf backend/src/six-1.16.0.dist-info"));
    assert_eq!(report["result"]["outcome"], "failed");
    assert_eq!(report["result"]["exit_status"], 1);
    assert_eq!(report["result"]["failed_step"], "pre-build-guards");
    assert_eq!(report["deploy"], Value::Null);
}

#[test]
fn json_report_of_a_successful_build_lists_every_step_and_validates() {
    let repo = RepoCopy::new();
    let bin = FakeBin::new(); // no fake sam: the real SAM CLI builds, so every guard has an artifact
    let scratch = tempfile::tempdir().unwrap();
    let report_path = scratch.path().join("report.json");
    let output = build(&repo, &bin).arg("--json").arg(&report_path).env("CI", "true").output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = read_report(&report_path);
    assert_valid(&report);
    assert_eq!(report["ci"], true);
    let names: Vec<&str> = report["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "sam-cli",
            "copy-backend",
            "clean",
            "pre-build-guards",
            "sam-build",
            "post-build-guards",
            "smoke-test",
            "evidence"
        ]
    );
    assert_eq!(
        report["result"],
        serde_json::json!({"outcome": "succeeded", "exit_status": 0, "failed_step": null, "error": null})
    );
    // Written by rename: no temporary file is left beside it.
    let left: Vec<_> = fs::read_dir(scratch.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["report.json"]);
}

#[test]
fn json_report_on_bad_configuration_records_exit_2_and_keeps_the_one_line() {
    let repo = RepoCopy::new();
    let manifest = repo.path("Cargo.toml");
    fs::write(&manifest, fs::read_to_string(&manifest).unwrap().replace("copy_to =", "copy_into =")).unwrap();
    let report_path = repo.path("report.json");
    let (status, text) =
        crate::support::run(repo.xtask().args(["lambda-check", "--json", "report.json"]).env("CI", "true"));
    assert_eq!(status, 2, "{text}");
    assert_eq!(text.trim().lines().count(), 1, "bad input must stay one line in CI mode too:\n{text}");
    let report = read_report(&report_path);
    assert_valid(&report);
    assert_eq!(report["result"]["outcome"], "bad-input");
    assert_eq!(report["result"]["exit_status"], 2);
    assert!(report["result"]["error"].as_str().unwrap().contains("copy_into"), "{report:#}");
    assert_eq!(report["steps"], serde_json::json!([]));
}

#[test]
fn json_report_into_a_missing_directory_is_bad_usage_before_anything_runs() {
    let (repo, bin) = failing_guard_fixture();
    let (status, text) = crate::support::run(build(&repo, &bin).args(["--json", "no/such/dir/report.json"]));
    assert_eq!(status, 2, "{text}");
    assert_eq!(text.trim().lines().count(), 1, "{text}");
    assert!(text.contains("no/such/dir"), "{text}");
    assert!(!repo.path("infra/lambda/functions/backend/src").exists(), "the build ran despite the bad flag");
}

#[test]
fn the_schema_rejects_a_report_that_breaks_it() {
    let (repo, bin) = failing_guard_fixture();
    let report_path = repo.path("r.json");
    build(&repo, &bin).args(["--json", "r.json"]).output().unwrap();
    let valid = read_report(&report_path);
    assert_valid(&valid);

    let mut without_result = valid.clone();
    without_result.as_object_mut().unwrap().remove("result");
    let mut absolute_path = valid.clone();
    absolute_path["findings"][0]["path"] = "/abs/path".into();
    let mut unknown_outcome = valid.clone();
    unknown_outcome["steps"][0]["outcome"] = "skipped".into();
    let mut success_with_error = valid;
    success_with_error["result"]["outcome"] = "succeeded".into();
    for broken in [without_result, absolute_path, unknown_outcome, success_with_error] {
        assert!(!schema().is_valid(&broken), "the schema accepted:\n{broken:#}");
    }
}

// --- on a terminal -----------------------------------------------------------------------

/// Runs the build under `script`, which gives it a pseudo-terminal as stdin, stdout and
/// stderr, as a person's shell would.
fn build_on_a_terminal(repo: &RepoCopy, bin: &FakeBin, extra_env: &[(&str, &str)]) -> String {
    let mut command = Command::new("script");
    command
        .args(["-qec", &format!("{} lambda-build --container never", env!("CARGO_BIN_EXE_xtask")), "/dev/null"])
        .current_dir(repo.dir.path())
        .env("PATH", bin.path_env())
        .env_remove("NO_COLOR")
        .env_remove("CI")
        .env_remove("GITHUB_ACTIONS")
        .env("TERM", "xterm");
    for (name, value) in extra_env {
        command.env(name, value);
    }
    let output = command.output().expect("running script(1) from util-linux");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn on_a_terminal_outcomes_are_coloured_unless_no_color_or_ci() {
    let (repo, bin) = failing_guard_fixture();
    let coloured = build_on_a_terminal(&repo, &bin, &[]);
    assert!(coloured.contains("\x1b[1m\x1b[31mFAILED\x1b[0m"), "no colour on a terminal:\n{coloured}");
    assert!(coloured.contains("\x1b[32mdone\x1b[0m"), "{coloured}");
    assert!(!coloured.contains("::error"), "annotations outside CI mode:\n{coloured}");

    let plain = build_on_a_terminal(&repo, &bin, &[("NO_COLOR", "1")]);
    assert!(plain.contains("FAILED") && !plain.contains('\x1b'), "NO_COLOR ignored:\n{plain}");

    let ci = build_on_a_terminal(&repo, &bin, &[("CI", "true")]);
    assert!(ci.contains("FAILED") && !ci.contains('\x1b'), "colour in CI mode:\n{ci}");
    assert!(ci.contains("::error file=infra/lambda/functions/backend/src/six-1.16.0.dist-info"), "{ci}");
}

/// In CI mode a protected environment is never confirmed at a prompt, even with a terminal on
/// stdin (here a real one, from script(1)): without --yes it exits 2 before any AWS call.
#[test]
fn a_protected_env_in_ci_mode_without_yes_exits_2_before_any_aws_call_even_on_a_terminal() {
    let repo = RepoCopy::new();
    let bin = FakeBin::new();
    bin.add("aws", 0);
    bin.add("sam", 0);
    let summary = repo.path("summary.md");
    let output = Command::new("script")
        .args(["-qec", &format!("{} lambda-deploy --env prod; echo EXIT=$?", env!("CARGO_BIN_EXE_xtask")), "/dev/null"])
        .current_dir(repo.dir.path())
        .env("PATH", bin.path_env())
        .env("CI", "true")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .expect("running script(1) from util-linux");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("EXIT=2"), "{text}");
    assert!(text.contains("prod is a protected environment"), "{text}");
    assert!(text.contains("pass --yes"), "{text}");
    assert!(!bin.was_called("aws"), "aws was called");
    assert!(!bin.was_called("sam"), "sam was called");
    assert!(!repo.path("deploy-log.jsonl").exists());
}
