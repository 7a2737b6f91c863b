//! The bad-input cases whose tests checked only the exit status or the message (issue 15):
//! each now also proves, against a snapshot of the repository and the tool cache, that nothing
//! changed and that no tool ran. And the bad-input list of docs/deploy.md, case by case.

use std::process::Stdio;

use crate::support::{run, snapshot, FakeBin, RepoCopy};

const SAMCONFIG: &str = "infra/lambda/samconfig.toml";

/// The fake tools on a PATH of their own and an empty tool cache (see bad_input.rs).
struct Machine {
    bin: FakeBin,
    cache: tempfile::TempDir,
}

impl Machine {
    fn with(tools: &[&str]) -> Machine {
        let bin = FakeBin::new();
        for tool in tools {
            bin.add(tool, 0);
        }
        Machine { bin, cache: tempfile::tempdir().unwrap() }
    }

    /// Exit 2, one line, nothing changed on disk (repository and cache), no tool ran, no
    /// audit line. Returns the line.
    fn assert_bad_input(&self, repo: &RepoCopy, args: &[&str]) -> String {
        let log_before = std::fs::symlink_metadata(repo.path("deploy-log.jsonl")).is_ok();
        let before = (snapshot(repo.dir.path()), snapshot(self.cache.path()));
        let (status, output) = run(repo
            .xtask()
            .args(args)
            .env("PATH", self.bin.dir.path())
            .env("LAMBDA_XTASK_CACHE", self.cache.path())
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .stdin(Stdio::null()));
        assert_eq!(status, 2, "{output}");
        assert_eq!(output.trim().lines().count(), 1, "not one line:\n{output}");
        // python3.11 is only asked its version (a name on PATH may be a shim that cannot run),
        // which changes nothing; every other tool must not have run at all.
        for tool in ["sam", "aws", "python3", "moto_server", "docker"] {
            assert!(!self.bin.was_called(tool), "{tool} ran before the bad input was refused:\n{output}");
        }
        assert_eq!(before, (snapshot(repo.dir.path()), snapshot(self.cache.path())), "bad input changed the disk");
        if !log_before {
            assert!(!repo.path("deploy-log.jsonl").exists(), "bad input is no deploy attempt: nothing to audit");
        }
        output.trim().to_string()
    }
}

fn deploy(env: &str) -> [&str; 5] {
    ["lambda-deploy", "--env", env, "--container", "never"]
}

fn build() -> [&'static str; 3] {
    ["lambda-build", "--container", "never"]
}

/// The 1-based number of the first line of the root Cargo.toml that starts with `text`.
fn line_of(repo: &RepoCopy, text: &str) -> usize {
    let manifest = std::fs::read_to_string(repo.path("Cargo.toml")).unwrap();
    manifest.lines().position(|l| l.starts_with(text)).expect("the edited line") + 1
}

fn edit(repo: &RepoCopy, relative: &str, edit: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(repo.path(relative)).unwrap();
    let edited = edit(text.clone());
    assert_ne!(text, edited, "the edit of {relative} changed nothing");
    repo.write(relative, &edited);
}

#[test]
fn an_unknown_config_key_is_bad_input_with_its_line_and_column() {
    let repo = RepoCopy::new();
    edit(&repo, "Cargo.toml", |t| t.replace("copy_to =", "copy_into ="));
    let line = Machine::with(&["sam", "python3.11"]).assert_bad_input(&repo, &build());
    assert!(line.contains("copy_into"), "{line}");
    // The key starts its line of the repository's Cargo.toml.
    let at = line_of(&repo, "copy_into =");
    assert!(line.contains(&format!("line {at}, column 1")), "{line}");
}

#[test]
fn a_malformed_config_value_is_bad_input_with_its_line_and_column() {
    let repo = RepoCopy::new();
    edit(&repo, "Cargo.toml", |t| t.replace("template = \"infra/lambda/template.yaml\"", "template = infra"));
    let line = Machine::with(&["sam", "python3.11"]).assert_bad_input(&repo, &build());
    let at = line_of(&repo, "template = infra");
    assert!(line.contains(&format!("line {at}, column 12")), "{line}");
}

/// DOCKER_HOST names a socket nobody listens on: "not answering" whatever this machine has.
#[test]
fn container_always_without_an_answering_docker_is_bad_input() {
    let repo = RepoCopy::new();
    let line = Machine::with(&["sam", "docker", "python3.11"])
        .assert_bad_input(&repo, &["lambda-build", "--container", "always"]);
    assert!(line.contains("--container never"), "{line}");
}

#[test]
fn an_unknown_environment_is_bad_input_listing_the_known_ones() {
    let repo = RepoCopy::new();
    let line = Machine::with(&["sam", "aws", "python3.11"]).assert_bad_input(&repo, &deploy("production"));
    assert!(line.contains("unknown environment \"production\""), "{line}");
    assert!(line.contains("defines dev, local, prod"), "{line}");
}

#[test]
fn a_protected_environment_without_a_terminal_is_bad_input() {
    let repo = RepoCopy::new();
    let line = Machine::with(&["sam", "aws", "python3.11"]).assert_bad_input(&repo, &deploy("prod"));
    assert!(line.contains("no terminal to confirm on: pass --yes"), "{line}");
}

#[test]
fn an_unknown_allow_is_bad_input_for_every_command() {
    let repo = RepoCopy::new();
    let machine = Machine::with(&["sam", "aws", "python3.11"]);
    for args in [&["lambda-build", "--allow", "platform"][..], &["lambda-check", "--allow", "platform"][..]] {
        let line = machine.assert_bad_input(&repo, args);
        assert!(line.contains("--allow platform: no such guard"), "{line}");
        assert!(line.contains("secret-file"), "the list names every guard: {line}");
    }
}

/// Fault 8: sam build reads samconfig.toml too, so a malformed one is bad input for every
/// command that runs sam (and for lambda-check, which reports what a build would meet).
#[test]
fn a_malformed_samconfig_is_bad_input_for_build_and_check_too() {
    let repo = RepoCopy::new();
    edit(&repo, SAMCONFIG, |t| t.replacen("region = \"us-east-1\"", "region = us-east-1", 1));
    let machine = Machine::with(&["sam", "aws", "python3.11"]);
    for args in [&build()[..], &["lambda-check"][..], &deploy("dev")[..]] {
        let line = machine.assert_bad_input(&repo, args);
        assert!(line.contains("samconfig.toml is not valid TOML"), "{args:?}: {line}");
        assert!(line.contains("line 17, column 10"), "{args:?}: {line}");
    }
}

/// Fault 7: an audit log that cannot be appended to is found before the deploy changes
/// anything.
#[test]
fn an_audit_log_that_cannot_be_written_is_bad_input_before_any_aws_call() {
    let repo = RepoCopy::new();
    std::fs::create_dir(repo.path("deploy-log.jsonl")).unwrap();
    let line = Machine::with(&["sam", "aws", "python3.11"]).assert_bad_input(&repo, &deploy("dev"));
    assert!(line.contains("the audit log deploy-log.jsonl is a directory"), "{line}");
}

// docs/deploy.md, Environments, Bad input: each of its cases.

#[test]
fn an_override_the_template_does_not_declare_is_bad_input_at_its_line() {
    let repo = RepoCopy::new();
    edit(&repo, SAMCONFIG, |t| t.replacen("\"Environment=dev\",", "\"Environment=dev\",\n  \"Stage=dev\",", 1));
    let line = Machine::with(&["sam", "aws", "python3.11"]).assert_bad_input(&repo, &deploy("dev"));
    assert!(line.contains("samconfig.toml:25 [dev.deploy.parameters] overrides Stage"), "{line}");
    assert!(line.contains("remove it or add the parameter"), "{line}");
}

#[test]
fn a_parameter_without_a_default_or_a_value_is_bad_input() {
    let repo = RepoCopy::new();
    edit(&repo, SAMCONFIG, |t| t.replacen("  \"VpcId=vpc-0a1b2c3d4e5f60718\",\n", "", 1));
    let line = Machine::with(&["sam", "aws", "python3.11"]).assert_bad_input(&repo, &deploy("dev"));
    assert!(line.contains("dev gives no value for infra/lambda/template.yaml parameter VpcId (no Default)"), "{line}");
}

#[test]
fn a_protected_environment_without_an_account_id_is_bad_input() {
    let repo = RepoCopy::new();
    edit(&repo, "Cargo.toml", |t| {
        t.replacen("protected = true\naccount_id = \"051826703172\"\n", "protected = true\n", 1)
    });
    let line = Machine::with(&["sam", "aws", "python3.11"])
        .assert_bad_input(&repo, &["lambda-deploy", "--env", "prod", "--yes", "--container", "never"]);
    assert!(line.contains("prod is a protected environment without an account_id"), "{line}");
}

#[test]
fn a_rehearsal_with_resolve_s3_is_bad_input() {
    let repo = RepoCopy::new();
    edit(&repo, SAMCONFIG, |t| t.replacen("s3_bucket = \"credmate-sam-artifacts-local\"\n", "resolve_s3 = true\n", 1));
    let line = Machine::with(&["sam", "aws", "python3.11", "moto_server"]).assert_bad_input(&repo, &deploy("local"));
    assert!(line.contains("local is the rehearsal against moto, where resolve_s3 fails"), "{line}");
}

#[test]
fn a_value_with_a_quote_or_a_backslash_is_bad_input_at_its_line() {
    for value in ["vpc-0a1b\\\\2c3d", "vpc-0a1b\\\"2c3d"] {
        let repo = RepoCopy::new();
        edit(&repo, SAMCONFIG, |t| t.replacen("\"VpcId=vpc-0a1b2c3d4e5f60718\"", &format!("\"VpcId={value}\""), 1));
        let line = Machine::with(&["sam", "aws", "python3.11"]).assert_bad_input(&repo, &deploy("dev"));
        assert!(line.contains("samconfig.toml:25 the value of VpcId contains a quote or backslash"), "{value}: {line}");
    }
}

/// `--dry-run --json`: the report is written, valid, says the run succeeded with no step, and
/// nothing else on disk changed (the dry run's own promise).
#[test]
fn a_dry_run_writes_its_report_and_changes_nothing_else() {
    let repo = RepoCopy::new();
    repo.write("infra/lambda/functions/backend/six.py", "x");
    let report_dir = tempfile::tempdir().unwrap();
    let report = report_dir.path().join("report.json");
    let before = snapshot(repo.dir.path());
    let (status, output) = run(repo.xtask().args(["lambda-build", "--dry-run", "--json"]).arg(&report));
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("would remove file infra/lambda/functions/backend/six.py"), "{output}");
    assert_eq!(before, snapshot(repo.dir.path()), "the dry run changed the repository");

    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let schema_text =
        std::fs::read_to_string(crate::support::repo_root().join("crates/lambda-xtask/schemas/report.v1.schema.json"))
            .unwrap();
    let schema = jsonschema::draft202012::new(&serde_json::from_str(&schema_text).unwrap()).unwrap();
    let errors: Vec<String> = schema.iter_errors(&report).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}\n{report:#}");
    assert_eq!(report["command"], "lambda-build");
    assert_eq!(report["result"]["outcome"], "succeeded");
    assert_eq!(report["steps"], serde_json::json!([]), "a dry run runs no step");
}
