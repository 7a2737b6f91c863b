//! Children that outlive a killed xtask. A SIGKILL runs no handler: without more, `sam build`
//! would keep writing `.aws-sam/build` while an immediate rerun builds there too.
//!
//! Two defences. Every child gets `PR_SET_PDEATHSIG` (the kernel kills it when the xtask
//! dies), and while a child runs, its process group is recorded in `.aws-sam/xtask-children`;
//! the next run, once it holds the repository lock, stops whatever is left of that group (a
//! pip that sam started, which the death signal does not reach) before it changes anything.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::sys::beneath::OwnedDir;

/// `.aws-sam`, where the record is kept, once the repository lock is held.
static RECORD: Mutex<Option<OwnedDir>> = Mutex::new(None);

pub const RECORD_NAME: &str = "xtask-children";

/// From now on, running children are recorded in `<aws_sam>/xtask-children` (called under the
/// repository lock).
pub fn record_children_in(aws_sam: OwnedDir) {
    *RECORD.lock().unwrap_or_else(|p| p.into_inner()) = Some(aws_sam);
}

/// A child's process group started: record it with its leader's start time, which tells it
/// apart from a later process that reuses the number.
pub fn started(group: i32) {
    if let Some(aws_sam) = RECORD.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
        let start = start_time(group).unwrap_or_default();
        let _ = aws_sam.overwrite(Path::new(RECORD_NAME), format!("{group} {start}\n").as_bytes());
    }
}

/// The child's process group ended normally.
pub fn finished() {
    if let Some(aws_sam) = RECORD.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
        let _ = aws_sam.remove_if_present(Path::new(RECORD_NAME));
    }
}

/// Stops the process group an earlier, killed run left running, if any; says so.
pub fn stop_leftover(aws_sam: &OwnedDir) -> Result<()> {
    let record = Path::new(RECORD_NAME);
    let Ok(text) = aws_sam.handle().read_to_string(record) else { return Ok(()) };
    let mut fields = text.split_whitespace();
    let group: i32 = fields.next().and_then(|g| g.parse().ok()).unwrap_or(0);
    let recorded_start: u64 = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    if group > 1 && is_that_group(group, recorded_start) {
        say!(
            "notice: an earlier xtask run was killed while its child (process group {group}) ran; stopping what is left of it before building"
        );
        stop_group(group);
    }
    aws_sam.remove(record).with_context(|| format!("removing {}", aws_sam.join(record).display()))
}

/// True when process group `group` still has members and is the recorded one: its leader is
/// alive with the recorded start time, or gone, leaving members behind (a group id is not
/// reused while any process holds it).
fn is_that_group(group: i32, recorded_start: u64) -> bool {
    if !group_runs(group) {
        return false;
    }
    match start_time(group) {
        Some(start) => start == recorded_start,
        None => true,
    }
}

fn stop_group(group: i32) {
    // SAFETY: kill(2) on the recorded process group; no memory is touched.
    unsafe { libc::kill(-group, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if !group_runs(group) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    unsafe { libc::kill(-group, libc::SIGKILL) };
    while group_runs(group) && Instant::now() < deadline + Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// True while a process of the group runs (a zombie, dead but not yet reaped, does not).
fn group_runs(group: i32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else { return false };
    entries.flatten().any(|entry| {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { return false };
        let Ok(stat) = crate::sys::beneath::read_to_string(format!("/proc/{pid}/stat")) else { return false };
        let Some((_, rest)) = stat.rsplit_once(')') else { return false };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let process_group = fields.nth(1).and_then(|g| g.parse::<i32>().ok());
        process_group == Some(group) && state != Some("Z")
    })
}

/// A process's start time in clock ticks since boot (`/proc/PID/stat` field 22).
fn start_time(pid: i32) -> Option<u64> {
    let stat = crate::sys::beneath::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    after_name.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn a_recorded_group_is_stopped_and_a_reused_number_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join(RECORD_NAME);
        let aws_sam = OwnedDir::tool_cache(dir.path()).unwrap();

        // The number with another start time: someone else's process now; left alone.
        let mut other = std::process::Command::new("sleep").arg("600").process_group(0).spawn().unwrap();
        std::fs::write(&record, format!("{} 1\n", other.id())).unwrap();
        stop_leftover(&aws_sam).unwrap();
        assert!(other.try_wait().unwrap().is_none(), "a process that only shares the number was stopped");
        other.kill().unwrap();
        other.wait().unwrap();

        // An orphan as a killed run leaves it: the group's leader is gone, a member runs on.
        let output = std::process::Command::new("sh")
            .args(["-c", "sleep 600 >/dev/null 2>&1 & echo $!"])
            .process_group(0)
            .output()
            .unwrap();
        let orphan: i32 = String::from_utf8_lossy(&output.stdout).trim().parse().unwrap();
        let group = std::fs::read_to_string(format!("/proc/{orphan}/stat")).unwrap();
        let group: i32 = group.rsplit_once(')').unwrap().1.split_whitespace().nth(2).unwrap().parse().unwrap();
        std::fs::write(&record, format!("{group} 12345\n")).unwrap();
        stop_leftover(&aws_sam).unwrap();
        assert!(unsafe { libc::kill(orphan, 0) } != 0 || is_zombie(orphan), "the orphan still runs");
        assert!(!record.exists());
    }

    fn is_zombie(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')))
    }
}
