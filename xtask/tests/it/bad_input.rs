//! Issue 5's bad-input list, the cases not covered elsewhere (see reliability.rs, lambda_build.rs
//! and lambda_deploy.rs for the rest): each exits 2 with one line saying what is wrong and how
//! to fix it, before sam or aws runs, with nothing changed on disk, the tool cache included.
//!
//! No AWS is needed: bad input stops before the first AWS call, which the recording fake `aws`
//! on PATH proves.

use crate::support::{run, snapshot, FakeBin, RepoCopy};

const FUNCTION_DIR: &str = "infra/lambda/functions/backend";
const REQUIREMENTS: &str = "infra/lambda/functions/backend/requirements.txt";
const SAMCONFIG: &str = "infra/lambda/samconfig.toml";

/// A machine for one run: the fake tools on a PATH of their own, and an empty tool cache, so
/// nothing the real machine has installed answers for a tool that is "missing".
struct Machine {
    bin: FakeBin,
    cache: tempfile::TempDir,
}

impl Machine {
    /// `tools`: the fake executables on PATH (each records its calls and succeeds). Nothing
    /// else is on PATH: no python3 to install a missing tool with, unless listed.
    fn with(tools: &[&str]) -> Machine {
        let bin = FakeBin::new();
        for tool in tools {
            bin.add(tool, 0);
        }
        Machine { bin, cache: tempfile::tempdir().unwrap() }
    }

    /// Runs the xtask; asserts exit 2, one line of output, and that neither the repository nor
    /// the tool cache changed, and that no tool on PATH ran. Returns the line.
    fn assert_bad_input(&self, repo: &RepoCopy, args: &[&str]) -> String {
        let before = (snapshot(repo.dir.path()), snapshot(self.cache.path()));
        let (status, output) =
            run(repo.xtask().args(args).env("PATH", self.bin.dir.path()).env("LAMBDA_XTASK_CACHE", self.cache.path()));
        assert_eq!(status, 2, "{output}");
        assert_eq!(output.trim().lines().count(), 1, "not one line:\n{output}");
        for tool in ["sam", "aws", "python3", "python3.11", "moto_server", "docker"] {
            assert!(!self.bin.was_called(tool), "{tool} ran before the bad input was refused:\n{output}");
        }
        assert_eq!(before, (snapshot(repo.dir.path()), snapshot(self.cache.path())), "bad input changed the disk");
        assert!(!repo.path("deploy-log.jsonl").exists(), "bad input is no deploy attempt: nothing to audit");
        output.trim().to_string()
    }
}

/// What a deploy of `env` needs on PATH up to its first AWS call, all fakes that record.
fn deploy_machine() -> Machine {
    Machine::with(&["sam", "aws", "python3.11"])
}

fn deploy_args(env: &str) -> [&str; 5] {
    ["lambda-deploy", "--env", env, "--container", "never"]
}

fn edit(repo: &RepoCopy, relative: &str, edit: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(repo.path(relative)).unwrap();
    repo.write(relative, &edit(text));
}

#[test]
fn a_missing_samconfig_is_bad_input_naming_the_file() {
    let repo = RepoCopy::new();
    std::fs::remove_file(repo.path(SAMCONFIG)).unwrap();
    let line = deploy_machine().assert_bad_input(&repo, &deploy_args("dev"));
    assert!(line.contains("infra/lambda/samconfig.toml not found: create it"), "{line}");
}

#[test]
fn a_malformed_samconfig_is_bad_input_with_line_and_column() {
    let repo = RepoCopy::new();
    // Line 17 is dev's region; an unquoted value is the classic slip.
    edit(&repo, SAMCONFIG, |text| text.replacen("region = \"us-east-1\"", "region = us-east-1", 1));
    let line = deploy_machine().assert_bad_input(&repo, &deploy_args("dev"));
    assert!(line.contains("infra/lambda/samconfig.toml is not valid TOML"), "{line}");
    assert!(line.contains("line 17, column 10"), "{line}");
}

#[test]
fn an_environment_without_a_stack_name_is_bad_input_saying_where_to_add_it() {
    let repo = RepoCopy::new();
    repo.append(SAMCONFIG, "\n[qa.deploy.parameters]\nregion = \"us-east-1\"\n");
    let line = deploy_machine().assert_bad_input(&repo, &deploy_args("qa"));
    assert!(
        line.contains(
            "environment qa has no stack_name: add stack_name = \"...\" to [qa.deploy.parameters] in infra/lambda/samconfig.toml"
        ),
        "{line}"
    );
}

#[test]
fn an_aws_cli_that_cannot_be_installed_is_bad_input_before_the_build() {
    let repo = RepoCopy::new();
    // No aws on PATH or in the cache, and no python3 to install it with.
    let machine = Machine::with(&["sam", "python3.11"]);
    let line = machine.assert_bad_input(&repo, &deploy_args("dev"));
    assert!(line.contains("aws not found on PATH, and no python3 to install awscli==1.45.11"), "{line}");
    assert!(line.contains("install Python 3.9 or newer with its venv module"), "{line}");
    assert!(!repo.path(&format!("{FUNCTION_DIR}/src")).exists(), "the build ran");
}

#[test]
fn a_moto_server_that_cannot_be_installed_stops_a_rehearsal_before_the_build() {
    let repo = RepoCopy::new();
    let line = deploy_machine().assert_bad_input(&repo, &deploy_args("local"));
    assert!(line.contains("moto_server not found on PATH, and no python3 to install moto[server]=="), "{line}");
}

#[test]
fn a_sam_cli_that_cannot_be_installed_is_bad_input_with_the_install_hint() {
    let repo = RepoCopy::new();
    let line = Machine::with(&["python3.11"]).assert_bad_input(&repo, &["lambda-build", "--container", "never"]);
    assert!(line.contains("sam not found on PATH, and no python3 to install aws-sam-cli==1.170.0"), "{line}");
    assert!(line.contains("or put sam on PATH"), "{line}");
}

#[test]
fn a_python3_without_venv_is_bad_input_naming_the_package_to_install() {
    let repo = RepoCopy::new();
    let machine = Machine::with(&["python3.11"]);
    // Debian's python3 without python3-venv: `import ensurepip` fails.
    machine.bin.add_script("python3", "exit 1");
    let before = snapshot(repo.dir.path());
    let (status, output) = run(repo
        .xtask()
        .args(["lambda-build", "--container", "never"])
        .env("PATH", machine.bin.dir.path())
        .env("LAMBDA_XTASK_CACHE", machine.cache.path()));
    assert_eq!(status, 2, "{output}");
    assert_eq!(output.trim().lines().count(), 1, "not one line:\n{output}");
    assert!(output.contains("cannot create the virtualenv to install aws-sam-cli==1.170.0"), "{output}");
    assert!(output.contains("apt-get install python3-venv"), "{output}");
    assert_eq!(before, snapshot(repo.dir.path()));
    // The check ran the interpreter once, to import venv, and installed nothing.
    let calls = std::fs::read_to_string(machine.bin.calls_path("python3")).unwrap();
    assert_eq!(calls.trim(), "-c import venv, ensurepip");
    assert_eq!(std::fs::read_dir(machine.cache.path()).unwrap().count(), 0);
}

/// A fault rather than bad input: python3 and its venv are there, but pip cannot install (no
/// network, no such version). The step that needed sam fails, names the install and the way
/// out, and exits 1.
#[test]
fn pip_failing_to_install_sam_fails_the_sam_cli_step_with_the_way_out() {
    let repo = RepoCopy::new();
    let machine = Machine::with(&["python3.11"]);
    // Only the fake tools are on PATH: the script names the system's own by absolute path.
    machine.bin.add_script(
        "python3",
        r#"case "$1" in
  -c) exit 0 ;;
  -m) /bin/mkdir -p "$3/bin"
      printf '#!/bin/sh\necho "ERROR: Could not find a version that satisfies the requirement" >&2\nexit 1\n' > "$3/bin/pip"
      /bin/chmod +x "$3/bin/pip" ;;
esac"#,
    );
    let (status, output) = run(repo
        .xtask()
        .args(["lambda-build", "--container", "never"])
        .env("PATH", machine.bin.dir.path())
        .env("LAMBDA_XTASK_CACHE", machine.cache.path()));
    assert_eq!(status, 1, "{output}");
    assert!(
        output.contains(
            "installing aws-sam-cli==1.170.0 from PyPI (if PyPI cannot be reached from here, put sam on PATH)"
        ),
        "{output}"
    );
    assert!(output.contains("pip install exited with status 1"), "{output}");
    assert!(output.trim_end().lines().last().unwrap().contains("failed at step sam-cli"), "{output}");
    // The half-made virtualenv is not taken for an install on the next run.
    assert!(!machine.cache.path().join("tools/aws-sam-cli-1.170.0/.xtask-complete").exists());
}

#[test]
fn an_invalid_requirements_line_is_bad_input_naming_file_line_and_text() {
    let repo = RepoCopy::new();
    // The sample's line 5 (mangum==0.19.0), mistyped with a single `=`.
    edit(&repo, REQUIREMENTS, |text| text.replace("mangum==0.19.0", "mangum=0.19.0"));
    let line = Machine::with(&["sam", "python3.11"]).assert_bad_input(&repo, &["lambda-build", "--container", "never"]);
    assert!(
        line.contains("infra/lambda/functions/backend/requirements.txt:5: bad version specifier in \"mangum=0.19.0\""),
        "{line}"
    );
    assert!(line.contains("fix or remove the line"), "{line}");
}

#[test]
fn an_unknown_pip_option_in_requirements_is_bad_input_for_every_command() {
    let repo = RepoCopy::new();
    repo.append(REQUIREMENTS, "--upgrade\n");
    let machine = Machine::with(&["sam", "aws", "python3.11"]);
    for args in [&["lambda-build", "--container", "never"][..], &["lambda-check"][..], &deploy_args("dev")[..]] {
        let line = machine.assert_bad_input(&repo, args);
        assert!(line.contains("requirements.txt:7: \"--upgrade\" is not an option pip accepts"), "{args:?}: {line}");
    }
}

/// pip's own option lines, comments, continued lines and hashes are what pip accepts, so the
/// build goes on to sam with them (a fake sam here: what it does with them is pip's business).
#[test]
fn pip_options_comments_and_hashes_in_requirements_reach_sam() {
    let repo = RepoCopy::new();
    repo.append(
        REQUIREMENTS,
        "\n# shared pins and a private index\n-r ../shared-requirements.txt\n--extra-index-url https://pypi.invalid/simple\n\
         -e ./libs/local\nstarlette==0.41.3 \\\n    --hash=sha256:0123456789abcdef\n",
    );
    let machine = Machine::with(&["sam", "python3.11"]);
    let (status, output) = run(repo
        .xtask()
        .args(["lambda-build", "--container", "never"])
        .env("PATH", machine.bin.dir.path())
        .env("LAMBDA_XTASK_CACHE", machine.cache.path()));
    assert_ne!(status, 2, "refused as bad input:\n{output}");
    assert!(machine.bin.was_called("sam"), "{output}");
}
