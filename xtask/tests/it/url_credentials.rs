//! Credentials written into a URL never reach any output (issue 18): a requirements line
//! quoted in an error is masked as pip masks it (`deploy:****@host`) on the terminal, in the
//! `--json` report and in the CI step summary; and a requirements file that would ship a
//! credential inside the function package is a `secret-file` finding. The real xtask binary on
//! a copy of this repository; the token is a canary searched for in everything it wrote.

use std::fs;
use std::process::Command;

use crate::support::{run, RepoCopy};

const TOKEN: &str = "tok-canary-8d7c6b5a4f3e2d1c";
const REQUIREMENTS: &str = "infra/lambda/functions/backend/requirements.txt";

/// Runs `args` in CI mode with a `--json` report and a step summary; returns the exit status
/// and each place the run wrote text to.
fn run_everywhere(repo: &RepoCopy, args: &[&str]) -> (i32, Vec<(&'static str, String)>) {
    let (report, summary) = (repo.path("report.json"), repo.path("summary.md"));
    let _ = (fs::remove_file(&report), fs::remove_file(&summary));
    let mut command: Command = repo.xtask();
    command.arg("--json").arg(&report).args(args).env("CI", "true").env("GITHUB_STEP_SUMMARY", &summary);
    let (status, output) = run(&mut command);
    let written = vec![
        ("terminal", output),
        ("--json report", fs::read_to_string(&report).unwrap_or_default()),
        ("step summary", fs::read_to_string(&summary).unwrap_or_default()),
    ];
    (status, written)
}

#[test]
fn a_token_in_a_refused_requirements_line_is_masked_on_the_terminal_in_the_report_and_the_summary() {
    let repo = RepoCopy::new();
    repo.append(REQUIREMENTS, &format!("--index-url https://deploy:{TOKEN}@pkgs.example.com/simple --bogus-flag\n"));
    for args in
        [&["lambda-build", "--container", "never"][..], &["lambda-deploy", "--env", "local", "--container", "never"]]
    {
        let (status, written) = run_everywhere(&repo, args);
        let terminal = &written[0].1;
        assert_eq!(status, 2, "{args:?}:\n{terminal}");
        assert!(terminal.contains("requirements.txt:7:"), "{terminal}");
        assert!(terminal.contains("https://deploy:****@pkgs.example.com/simple --bogus-flag"), "{terminal}");
        assert!(written[1].1.contains("deploy:****@pkgs.example.com"), "the report has the error:\n{}", written[1].1);
        for (place, text) in &written {
            assert!(!text.contains(TOKEN), "{args:?}: the token is in the {place}:\n{text}");
        }
    }
}

#[test]
fn a_requirements_file_that_would_ship_a_credential_in_a_url_is_a_secret_file_finding() {
    let repo = RepoCopy::new();
    repo.append(REQUIREMENTS, &format!("--extra-index-url https://deploy:{TOKEN}@pkgs.example.com/simple\n"));
    let (status, written) = run_everywhere(&repo, &["lambda-build", "--container", "never"]);
    let terminal = &written[0].1;
    assert_eq!(status, 1, "{terminal}");
    assert!(terminal.contains(&format!("[secret-file] {REQUIREMENTS}")), "{terminal}");
    assert!(terminal.contains("a pip requirements or configuration file with a credential in a URL"), "{terminal}");
    assert!(terminal.contains("replace the credential in https://deploy:****@pkgs.example.com/simple"), "{terminal}");
    assert!(terminal.contains("https://<user>:${PIP_TOKEN}@<host>/"), "{terminal}");
    assert!(terminal.contains("PIP_INDEX_URL"), "{terminal}");
    assert!(terminal.contains("failed at step pre-build-guards"), "{terminal}");
    assert!(!repo.path("infra/lambda/.aws-sam/build").exists(), "sam build ran");
    for (place, text) in &written {
        assert!(!text.contains(TOKEN), "the token is in the {place}:\n{text}");
    }

    // The fix as the finding words it: the credential becomes a variable pip expands.
    let text = fs::read_to_string(repo.path(REQUIREMENTS)).unwrap();
    repo.write(REQUIREMENTS, &text.replace(&format!("deploy:{TOKEN}@"), "deploy:${PIP_TOKEN}@"));
    let (status, output) = run(repo.xtask().args(["lambda-check", "--dir", "infra/lambda/functions/backend"]));
    assert_eq!(status, 0, "{output}");
    assert!(!output.contains("[secret-file]"), "{output}");
}
