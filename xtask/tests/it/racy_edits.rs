//! The incremental build never ships stale code: edits made right before a build (inside the
//! two-second window where file times cannot tell two edits apart) are never taken for "up to
//! date", and a build that failed or was interrupted is never current.
//!
//! Unlike the other tests, nothing here is backdated: each edit is written just now, as a user
//! saving a file and rerunning would write it.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::support::{run, RepoCopy};

const BUILD: &str = "infra/lambda/.aws-sam/build";

/// Replaces `from` by `to` in a file, now (no backdating).
fn edit_now(repo: &RepoCopy, relative: &str, from: &str, to: &str) {
    let path = repo.path(relative);
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{relative} lacks {from:?}");
    fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

fn build(command: &mut Command) -> String {
    let (status, output) = run(command.args(["lambda-build", "--container", "never"]));
    assert_eq!(status, 0, "{output}");
    output
}

fn built(repo: &RepoCopy, relative: &str) -> String {
    fs::read_to_string(repo.path(BUILD).join(relative)).unwrap()
}

/// Two edits in a row, each followed at once by a build: both builds run and ship the edit.
fn assert_each_quick_edit_ships(repo: &RepoCopy, source: &str, built_as: &str, marker: &str) {
    for round in ["1", "2"] {
        let line = format!("# {marker} edit {round}\n");
        let previous = format!("# {marker} edit {}\n", if round == "1" { "0" } else { "1" });
        edit_now(repo, source, &previous, &line);
        let output = build(&mut repo.xtask());
        assert!(
            !output.contains("[lambda-build] up to date"),
            "edit {round} of {source} was taken for up to date:\n{output}"
        );
        assert!(built(repo, built_as).contains(&line), "edit {round} of {source} is not in {built_as}:\n{output}");
    }
}

#[test]
fn edits_inside_the_racy_window_always_reach_the_build_output() {
    let repo = RepoCopy::new();
    for (file, marker) in [
        ("backend/src/lazy_app.py", "source"),
        ("infra/lambda/functions/backend/handler.py", "handler"),
        ("infra/lambda/template.yaml", "template"),
    ] {
        let mut text = fs::read_to_string(repo.path(file)).unwrap();
        text.push_str(&format!("# {marker} edit 0\n"));
        repo.write(file, &text);
    }
    build(&mut repo.xtask());

    assert_each_quick_edit_ships(&repo, "backend/src/lazy_app.py", "BackendFunction/src/lazy_app.py", "source");
    assert_each_quick_edit_ships(
        &repo,
        "infra/lambda/functions/backend/handler.py",
        "BackendFunction/handler.py",
        "handler",
    );
    // sam rewrites the template it builds, but keeps comments out: the edit goes into a
    // Description, which it keeps.
    edit_now(
        &repo,
        "infra/lambda/template.yaml",
        "Description: credmate backend",
        "Description: racy-1 credmate backend",
    );
    assert!(!build(&mut repo.xtask()).contains("[lambda-build] up to date"));
    edit_now(&repo, "infra/lambda/template.yaml", "racy-1", "racy-2");
    let output = build(&mut repo.xtask());
    assert!(!output.contains("[lambda-build] up to date"), "{output}");
    assert!(built(&repo, "template.yaml").contains("racy-2 credmate backend"), "{output}");
}

/// The xtask binary is freshly linked each time `cargo xtask` rebuilds it: two quick edits to
/// the xtask are two different binaries, and the second one's guards must run.
#[test]
fn a_freshly_relinked_xtask_binary_rebuilds_every_time() {
    let repo = RepoCopy::new();
    let xtask = repo.path("xtask-fresh");
    let relink = |extra: &[u8]| {
        let mut bytes = fs::read(env!("CARGO_BIN_EXE_xtask")).unwrap();
        bytes.extend_from_slice(extra); // another build of the tool: runs the same, differs
        let staged = repo.path("xtask-fresh.new");
        fs::write(&staged, bytes).unwrap();
        fs::set_permissions(&staged, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        fs::rename(&staged, &xtask).unwrap(); // as the linker replaces it: a new file, now
    };
    let command = |xtask: &Path| {
        let mut command = Command::new(xtask);
        command.current_dir(repo.dir.path()).env("NO_COLOR", "1").env_remove("CI").env_remove("GITHUB_ACTIONS");
        command
    };

    relink(b"first");
    build(&mut command(&xtask));
    relink(b"second");
    let output = build(&mut command(&xtask));
    assert!(output.contains("building: xtask/binary changed"), "the new xtask binary was not used:\n{output}");
}

/// A build that fails after it removed the manifest, then is rerun unchanged: it builds again
/// (and fails again), it never says "up to date".
#[test]
fn a_failed_build_is_never_up_to_date_next_time() {
    let repo = RepoCopy::new();
    build(&mut repo.xtask());
    // The handler now fails at import as a packaging failure does (a module not found): sam
    // build succeeds, the smoke test fails, after the manifest was removed.
    let handler = "infra/lambda/functions/backend/handler.py";
    let text = fs::read_to_string(repo.path(handler)).unwrap();
    repo.write(handler, &format!("raise ModuleNotFoundError('broken at import')\n{text}"));
    for attempt in ["first", "second"] {
        let (status, output) = run(repo.xtask().args(["lambda-build", "--container", "never"]));
        assert_eq!(status, 1, "{attempt} failing build:\n{output}");
        assert!(!output.contains("[lambda-build] up to date"), "{attempt} failing build:\n{output}");
        assert!(output.contains("broken at import"), "{output}");
    }
}

/// A build interrupted during sam build, rerun unchanged: it builds again.
#[test]
fn an_interrupted_build_is_never_up_to_date_next_time() {
    let repo = RepoCopy::new();
    build(&mut repo.xtask());
    let bin = crate::support::FakeBin::new();
    // A sam that hangs like a slow build: the interrupt lands inside the sam-build step.
    bin.add_script("sam", &format!("touch '{}'\nexec sleep 600", repo.path("sam-started").display()));
    repo.append("backend/src/lazy_app.py", "\n# edited\n");
    let mut child = repo
        .xtask()
        .args(["lambda-build", "--container", "never", "--force"])
        .env("PATH", bin.path_env())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = repo.path("sam-started");
    while !started.exists() {
        assert!(child.try_wait().unwrap().is_none(), "the build ended before sam started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", crate::support::text(&output));

    let output = build(&mut repo.xtask());
    assert!(output.contains("building: no previous build"), "{output}");
}
