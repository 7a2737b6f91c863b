//! Signals and the xtask's life: a second Ctrl-C kills sam's group at once, Ctrl-C in CI mode
//! still writes its summary and report, and a SIGKILL of the xtask takes its children along
//! (the next run stops what a child left running). sam is a fake here: the real one cannot be
//! made to hang on cue.

use std::fs;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{FakeBin, RepoCopy};

/// A sam that stays busy and ignores SIGINT (as a child deep in a pip install may), records
/// its own pid and that of a grandchild in its group, and marks when it started.
fn stubborn_sam(bin: &FakeBin) {
    let dir = bin.dir.path().display().to_string();
    bin.add_script(
        "sam",
        &format!(
            "trap 'echo got-INT >> {dir}/signals' INT\necho $$ > {dir}/sam.pid\nsleep 600 &\necho $! > {dir}/grandchild.pid\ntouch {dir}/started\nwhile :; do sleep 0.05; done"
        ),
    );
}

fn pid(bin: &FakeBin, name: &str) -> i32 {
    fs::read_to_string(bin.dir.path().join(name)).unwrap().trim().parse().unwrap()
}

/// Alive and not a zombie.
fn runs(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn wait_for(path: &Path, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !path.exists() {
        assert!(child.try_wait().unwrap().is_none(), "the xtask ended before {}", path.display());
        assert!(Instant::now() < deadline, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `pid` no longer runs; a liveness bound, not a timing claim.
fn assert_ends(pid: i32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while runs(pid) {
        assert!(Instant::now() < deadline, "{what} (pid {pid}) still runs");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn_build(repo: &RepoCopy, bin: &FakeBin, extra: &[&str]) -> Child {
    repo.xtask()
        .args(["lambda-build", "--container", "never"])
        .args(extra)
        .env("PATH", bin.path_env())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_second_sigint_kills_sams_whole_group_at_once() {
    let repo = RepoCopy::new();
    let bin = FakeBin::new();
    stubborn_sam(&bin);
    let mut child = spawn_build(&repo, &bin, &[]);
    wait_for(&bin.dir.path().join("started"), &mut child);
    let (sam, grandchild) = (pid(&bin, "sam.pid"), pid(&bin, "grandchild.pid"));

    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    wait_for(&bin.dir.path().join("signals"), &mut child);
    // The first signal reached sam, which ignores it: everything still runs.
    assert!(child.try_wait().unwrap().is_none() && runs(sam) && runs(grandchild));

    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let output = child.wait_with_output().unwrap();
    let text = crate::support::text(&output);
    assert_eq!(output.status.code(), Some(130), "{text}");
    assert!(text.contains("press Ctrl-C again to kill it now"), "{text}");
    assert_ends(sam, "sam");
    assert_ends(grandchild, "sam's child");
}

#[test]
fn ctrl_c_in_ci_mode_exits_130_with_its_summary_and_report() {
    let repo = RepoCopy::new();
    let bin = FakeBin::new();
    stubborn_sam(&bin);
    let summary = repo.path("summary.md");
    let report = repo.path("report.json");
    let mut child = repo
        .xtask()
        .args(["lambda-build", "--container", "never", "--json"])
        .arg(&report)
        .env("PATH", bin.path_env())
        .env("CI", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&bin.dir.path().join("started"), &mut child);
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    wait_for(&bin.dir.path().join("signals"), &mut child);
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let output = child.wait_with_output().unwrap();
    let text = crate::support::text(&output);
    assert_eq!(output.status.code(), Some(130), "{text}");

    let report: serde_json::Value = serde_json::from_str(&fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["result"]["outcome"], "interrupted", "{report}");
    assert_eq!(report["result"]["exit_status"], 130);
    assert_eq!(report["result"]["failed_step"], "sam-build");
    let summary = fs::read_to_string(&summary).unwrap();
    assert!(
        summary.contains("`cargo xtask lambda-build` was interrupted at step `sam-build` (exit status 130)"),
        "{summary}"
    );
    assert!(summary.contains("| sam-build | ⚠️ interrupted |"), "{summary}");
}

/// Fault 10: `kill -9` of the xtask during sam build. The kernel kills sam with it
/// (PR_SET_PDEATHSIG); what sam started in its group is stopped by the next run, which says so.
#[test]
fn a_killed_xtask_takes_sam_along_and_the_next_run_stops_the_rest() {
    let repo = RepoCopy::new();
    let bin = FakeBin::new();
    stubborn_sam(&bin);
    let mut child = spawn_build(&repo, &bin, &[]);
    wait_for(&bin.dir.path().join("started"), &mut child);
    let (sam, grandchild) = (pid(&bin, "sam.pid"), pid(&bin, "grandchild.pid"));

    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    assert_ends(sam, "sam after its xtask was killed");
    assert!(runs(grandchild), "the grandchild is meant to outlive sam here (it is not the xtask's child)");

    let rerun = FakeBin::new();
    rerun.add("sam", 0);
    let (_, output) = crate::support::run(
        repo.xtask().args(["lambda-build", "--container", "never", "--force"]).env("PATH", rerun.path_env()),
    );
    assert!(output.contains("an earlier xtask run was killed while its child"), "{output}");
    assert!(!runs(grandchild), "the rerun built while the killed run's child still ran:\n{output}");
    assert!(rerun.was_called("sam"), "{output}");
}
