//! The faults run of issue 15, each kept as its reproduction: the real xtask binary on a copy
//! of this repository, the real SAM CLI, and a fake only where a fault must be injected.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;

use crate::support::{run, RepoCopy};

const ARTIFACT: &str = "infra/lambda/.aws-sam/build/BackendFunction";
const FUNCTION_DIR: &str = "infra/lambda/functions/backend";

fn build(repo: &RepoCopy, extra: &[&str]) -> (i32, String) {
    run(repo.xtask().args(["lambda-build", "--container", "never"]).args(extra))
}

/// Fault 1: a chain of links, each inside by its text, reaching the host's /etc/passwd.
#[test]
fn a_symlink_chain_out_of_the_repository_never_ships() {
    let repo = RepoCopy::new();
    let src = repo.path("backend/src");
    symlink(".", src.join("l0.egg")).unwrap();
    for k in 1..=8 {
        symlink(format!("l{}.egg/..", k - 1), src.join(format!("l{k}.egg"))).unwrap();
    }
    symlink("l8.egg/etc/passwd", src.join("passwd.txt")).unwrap();

    let (status, output) = build(&repo, &[]);

    assert_eq!(status, 1, "{output}");
    assert!(output.contains("outside the backend source"), "{output}");
    assert!(output.contains("[lambda-build] copy-backend FAILED"), "{output}");
    assert!(!repo.path(ARTIFACT).join("src/passwd.txt").exists());
    assert!(!repo.path(FUNCTION_DIR).join("src/passwd.txt").exists());
}

/// Fault 1: a loop is refused by copy-backend, naming the link, not inside sam.
#[test]
fn a_symlink_loop_is_refused_by_name_before_sam() {
    let repo = RepoCopy::new();
    let src = repo.path("backend/src");
    symlink("b.py", src.join("a.py")).unwrap();
    symlink("a.py", src.join("b.py")).unwrap();
    let (status, output) = build(&repo, &[]);
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("backend/src/a.py is a symlink loop"), "{output}");
    assert!(!output.contains("[lambda-build] sam-build ..."), "sam ran:\n{output}");
}

const CANARY_KEY: &str =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAcanary0451\n-----END OPENSSH PRIVATE KEY-----\n";

/// Fault 5: private keys and credential files are refused, hidden files never copied whatever
/// an ignore file re-includes, and the secret's content is never printed.
#[test]
fn secrets_never_ship_and_hidden_files_are_never_copied() {
    let repo = RepoCopy::new();
    repo.write("backend/src/id_rsa", CANARY_KEY);
    repo.write("backend/src/deploy_key.txt", CANARY_KEY);
    repo.write("backend/src/credentials", "[default]\naws_secret_access_key = canary0451\n");
    repo.write("backend/src/.gitignore", "!.env\n!.npmrc\n");
    repo.write("backend/src/.ignore", "!.pgpass\n");
    repo.write("backend/src/.env", "DB_PASSWORD=canary0451\n");
    repo.write("backend/src/.npmrc", "//registry.npmjs.org/:_authToken=canary0451\n");
    repo.write("backend/src/.pgpass", "db:5432:app:app:canary0451\n");

    let (status, output) = build(&repo, &[]);

    assert_eq!(status, 1, "{output}");
    for name in ["id_rsa", "deploy_key.txt", "credentials"] {
        assert!(output.contains(&format!("[secret-file] {FUNCTION_DIR}/src/{name}")), "{name} not flagged:\n{output}");
        assert!(output.contains(&format!("(rm backend/src/{name},")), "{name}'s fix names its source:\n{output}");
    }
    assert!(output.contains("--allow secret-file"), "{output}");
    assert!(!output.contains("canary0451"), "a secret was printed:\n{output}");
    for hidden in [".env", ".npmrc", ".pgpass"] {
        assert!(!repo.path(FUNCTION_DIR).join("src").join(hidden).exists(), "{hidden} was copied");
    }
    assert!(!output.contains("[lambda-build] sam-build ..."), "sam ran:\n{output}");

    // Overridden: the build ships, still without a hidden file.
    let (status, output) = build(&repo, &["--allow", "secret-file"]);
    assert_eq!(status, 0, "{output}");
    assert!(repo.path(ARTIFACT).join("src/id_rsa").exists());
    for hidden in [".env", ".npmrc", ".pgpass"] {
        assert!(!repo.path(ARTIFACT).join("src").join(hidden).exists(), "{hidden} shipped");
    }
}

/// What bash makes of a word printed by the xtask: the bytes it would pass to rm.
fn bash_word(word: &str) -> Vec<u8> {
    let output = std::process::Command::new("bash").arg("-c").arg(format!("printf '%s' {word}")).output().unwrap();
    assert!(output.status.success(), "bash refused {word}");
    output.stdout
}

/// The `rm -rf WORD` of a fix line, as printed.
fn rm_word(output: &str, marker: &str) -> String {
    let line = output
        .lines()
        .find(|l| l.contains("rm -rf") && l.contains(marker))
        .unwrap_or_else(|| panic!("no rm -rf naming {marker}:\n{output}"));
    let after = line.split("rm -rf ").nth(1).unwrap();
    // The word ends where the fix's prose resumes: ") or ignore it" after the path.
    let end = after.find(") or ignore").unwrap_or(after.len());
    after[..end].to_string()
}

/// Fault 4: a printed fix pasted into bash removes the reported dir and nothing else, a name
/// with a line break cannot forge a line, and a non-UTF-8 name (fault 9) is flagged and named.
#[test]
fn printed_fix_commands_name_exactly_the_reported_file() {
    let repo = RepoCopy::new();
    let src = repo.path("backend/src");
    fs::create_dir(src.join("x ~ y-1.0.dist-info")).unwrap();
    fs::create_dir(src.join(OsStr::from_bytes(b"bad\xff-2.0.dist-info"))).unwrap();
    fs::create_dir(src.join("z\n[platform-binary] forged-1.0.dist-info")).unwrap();

    let (status, output) = build(&repo, &[]);

    assert_eq!(status, 1, "{output}");
    assert_eq!(bash_word(&rm_word(&output, "x ~ y")), b"backend/src/x ~ y-1.0.dist-info");
    assert_eq!(bash_word(&rm_word(&output, "bad")), b"backend/src/bad\xff-2.0.dist-info");
    assert_eq!(bash_word(&rm_word(&output, "forged")), b"backend/src/z\n[platform-binary] forged-1.0.dist-info");
    assert!(output.contains(r"bad\xff-2.0.dist-info"), "{output}");
    assert!(!output.lines().any(|l| l.starts_with("[platform-binary] forged")), "a forged line:\n{output}");
    assert!(output.contains(r"z\n[platform-binary] forged"), "{output}");
}

/// Fault 9: two names that differ only in a non-UTF-8 byte are two inputs: editing one rebuilds.
#[test]
fn names_differing_in_a_non_utf8_byte_are_two_inputs() {
    let repo = RepoCopy::new();
    let src = repo.path("backend/src");
    for (name, text) in [(&b"c\xfe.txt"[..], "a"), (&b"c\xff.txt"[..], "b")] {
        let path = src.join(OsStr::from_bytes(name));
        fs::write(&path, text).unwrap();
        crate::support::set_age(&path, std::time::Duration::from_secs(60));
    }
    let (status, output) = build(&repo, &[]);
    assert_eq!(status, 0, "{output}");
    let edited = src.join(OsStr::from_bytes(b"c\xff.txt"));
    fs::write(&edited, "bb").unwrap();
    crate::support::set_age(&edited, std::time::Duration::from_secs(30));
    let (status, output) = build(&repo, &[]);
    assert_eq!(status, 0, "{output}");
    assert!(output.contains(r"building: backend/BackendFunction/c\xff.txt changed"), "{output}");
    assert_eq!(fs::read(repo.path(ARTIFACT).join("src").join(OsStr::from_bytes(b"c\xff.txt"))).unwrap(), b"bb");
}

/// Fault 2: a YAML alias bomb of a few kilobytes is bad input, not 4 GB of memory.
#[test]
fn a_yaml_alias_bomb_is_one_line_of_bad_input() {
    let repo = RepoCopy::new();
    let template = repo.path("infra/lambda/template.yaml");
    let mut text = fs::read_to_string(&template).unwrap();
    text.push_str("Metadata:\n  l0: &l0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for k in 1..=8 {
        let aliases: Vec<String> = (0..9).map(|_| format!("*l{}", k - 1)).collect();
        text.push_str(&format!("  l{k}: &l{k} [{}]\n", aliases.join(",")));
    }
    repo.write("infra/lambda/template.yaml", &text);
    for command in [&["lambda-check"][..], &["lambda-build", "--container", "never"][..]] {
        let before = crate::support::snapshot(repo.dir.path());
        let (status, output) = run(repo.xtask().args(command));
        assert_eq!(status, 2, "{command:?}: {output}");
        assert_eq!(output.trim().lines().count(), 1, "{output}");
        assert!(output.contains("through its aliases"), "{output}");
        assert_eq!(before, crate::support::snapshot(repo.dir.path()));
    }
}

/// Fault 6: a handler that reads its ancestors' environment at import and prints what it
/// finds: the credential is scrubbed on the terminal as in the report.
#[test]
fn a_credential_read_by_the_handler_is_scrubbed_on_the_terminal() {
    let repo = RepoCopy::new();
    let handler = format!("{FUNCTION_DIR}/handler.py");
    let text = fs::read_to_string(repo.path(&handler)).unwrap();
    repo.write(
        &handler,
        &format!(
            "import os\nfound = []\npid = os.getppid()\nwhile pid > 1:\n    try:\n        found += [e for e in open(f'/proc/{{pid}}/environ', 'rb').read().decode('utf-8', 'replace').split('\\0') if 'SECRET' in e]\n    except OSError:\n        pass\n    pid = int(open(f'/proc/{{pid}}/stat').read().rsplit(')', 1)[1].split()[1])\nraise ModuleNotFoundError('import failed after reading the environment: ' + ' '.join(found))\n{text}"
        ),
    );
    let canary = "AKIAcanarySecretValue0451xyz";
    let json = repo.path("report.json");
    let summary = repo.path("summary.md");
    let (status, output) = run(repo
        .xtask()
        .args(["lambda-build", "--container", "never", "--json"])
        .arg(&json)
        .env("CI", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("AWS_SECRET_ACCESS_KEY", canary));
    assert_eq!(status, 1, "{output}");
    assert!(
        output.contains("import failed after reading the environment: AWS_SECRET_ACCESS_KEY=[redacted]"),
        "{output}"
    );
    assert!(!output.contains(canary), "the credential reached the terminal:\n{output}");
    for (what, path) in [("--json report", &json), ("step summary", &summary)] {
        let text = fs::read_to_string(path).unwrap();
        assert!(text.contains("[redacted]"), "the failure is not in the {what}:\n{text}");
        assert!(!text.contains(canary), "the credential reached the {what}:\n{text}");
    }
}

/// Fault 12: lambda-check during a build waits for it (the repository lock) instead of
/// reading a half-written build output.
#[test]
fn lambda_check_waits_for_a_running_build() {
    use std::io::{BufRead, BufReader};
    let repo = RepoCopy::new();
    fs::create_dir_all(repo.path("infra/lambda/.aws-sam")).unwrap();
    // This test plays the running build: it holds the lock lambda-build takes.
    let lock = fs::File::create(repo.path("infra/lambda/.aws-sam/xtask.lock")).unwrap();
    lock.lock().unwrap();
    let mut child = repo
        .xtask()
        .arg("lambda-check")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    // What was discovered in the template comes first; the first line after it is the wait.
    let first = lines
        .by_ref()
        .map(|line| line.unwrap())
        .find(|line| !line.trim_start().starts_with("function ") && !line.starts_with("notice:"))
        .expect("a line");
    assert!(first.contains("waiting for it to finish"), "{first}");
    // Still waiting while the build holds the lock: no guard has read anything.
    assert!(child.try_wait().unwrap().is_none(), "lambda-check ran during the build");
    drop(lock);
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    child.wait().unwrap();
    assert!(rest.iter().any(|l| l.starts_with("[lambda-check] pre-build-guards")), "{rest:?}");
}

/// Fault 14: a 10 MB requirements line gives a short error line, still naming file and fix.
#[test]
fn a_huge_requirements_line_gives_a_short_error() {
    let repo = RepoCopy::new();
    let path = format!("{FUNCTION_DIR}/requirements.txt");
    let mut text = fs::read_to_string(repo.path(&path)).unwrap();
    text.push_str(&format!("{} --no-such-option\n", "a".repeat(10_000_000)));
    repo.write(&path, &text);
    let (status, output) = build(&repo, &[]);
    assert_eq!(status, 2, "{}", &output[..output.len().min(2000)]);
    assert_eq!(output.trim().lines().count(), 1);
    assert!(output.len() < 1000, "{} bytes: {}", output.len(), &output[..2000.min(output.len())]);
    assert!(output.contains("requirements.txt:"), "{output}");
}
