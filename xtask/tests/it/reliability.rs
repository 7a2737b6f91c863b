//! The promises of docs/guarantees.md: bad input is one line and exit 2 with nothing changed;
//! failures are named; nothing outside is touched.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

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
    // The CodeUri check (discovery) refuses it first; either way one line, exit 2.
    assert_bad_input(&repo, "is not its CodeUri");
}

/// A makefile build runs what its Makefile says: sam checks no interpreter for it, and neither
/// does the xtask. python3.9 is on no PATH, in no pyenv version and no uv dir of this machine
/// (pyenv's shim for it fails when run): sam is still called, where it used to be bad input.
#[test]
fn a_makefile_build_without_its_runtimes_python_is_handed_to_sam() {
    let repo = RepoCopy::new();
    let template = fs::read_to_string(repo.path("infra/lambda/template.yaml")).unwrap();
    let edited = template.replacen("      Runtime: python3.11\n", "      Runtime: python3.9\n", 1);
    assert_ne!(edited, template, "the sample's function names python3.11");
    let edited =
        edited.replacen("  BackendFunction:\n", "  BackendFunction:\n    Metadata:\n      BuildMethod: makefile\n", 1);
    repo.write("infra/lambda/template.yaml", &edited);
    let home = tempfile::tempdir().unwrap();
    let bin = FakeBin::new();
    bin.add("sam", 0);
    let mut command = repo.xtask();
    command.args(["lambda-build", "--container", "never"]).env("PATH", bin.path_env());
    // Nothing of this machine's own Pythons in reach but PATH's: an empty HOME, pyenv and uv dirs.
    command.env("HOME", home.path()).env("PYENV_ROOT", home.path()).env("UV_PYTHON_INSTALL_DIR", home.path());
    let (status, output) = run(&mut command);
    assert!(bin.was_called("sam"), "{output}");
    assert!(!output.contains("python3.9 not found"), "{output}");
    // The fake sam built nothing: that, not the missing Python, is what fails.
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("left no build output at infra/lambda/.aws-sam/build/BackendFunction"), "{output}");
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

/// Two real runs at once: the second's first step starts only after the first run ended.
/// Both write to one file opened for appending, so the file's order is the order of events.
#[test]
fn a_second_run_waits_for_the_first() {
    let repo = RepoCopy::new();
    let log = repo.path("both-runs.log");
    let spawn = || {
        let out = fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        repo.xtask()
            .args(["lambda-build", "--container", "never", "--force"])
            .stdout(std::process::Stdio::null())
            .stderr(out)
            .spawn()
            .unwrap()
    };
    let mut first = spawn();
    // The first run holds the lock once it has named its first step.
    while !fs::read_to_string(&log).unwrap().contains("[lambda-build] sam-cli ...") {
        assert!(first.try_wait().unwrap().is_none(), "{}", fs::read_to_string(&log).unwrap());
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut second = spawn();
    assert!(first.wait().unwrap().success(), "{}", fs::read_to_string(&log).unwrap());
    assert!(second.wait().unwrap().success(), "{}", fs::read_to_string(&log).unwrap());

    let text = fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let position = |needle: &str, nth: usize| {
        lines.iter().enumerate().filter(|(_, l)| l.contains(needle)).nth(nth).map(|(i, _)| i)
    };
    let waiting = position("waiting for it to finish", 0).expect("the second run waited");
    let first_end = position("[lambda-build] succeeded in", 0).expect("the first run's end");
    let second_start = position("[lambda-build] sam-cli ...", 1).expect("the second run's first step");
    assert!(waiting < first_end, "the second run did not wait while the first ran:\n{text}");
    assert!(first_end < second_start, "the second run started a step before the first ended:\n{text}");
}
