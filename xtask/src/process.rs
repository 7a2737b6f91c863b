//! Child processes (sam, aws, pip) run in their own process group, so that Ctrl-C and SIGTERM
//! reach the xtask first: it passes the signal on to the child's whole group, waits for it to
//! finish, and reports the interrupted step instead of dying half-way. A second signal kills
//! the group at once.
//!
//! Commands are built with `xshell::cmd!` and converted into `std::process::Command` here,
//! because xshell cannot set a process group, a timeout or a signal-aware wait.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::Once;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use signal_hook::consts::{SIGINT, SIGTERM};

use crate::exit::Interrupted;

/// Signals received so far (SIGINT or SIGTERM).
static SIGNALS_RECEIVED: AtomicUsize = AtomicUsize::new(0);
/// Process group of the running child, 0 when none runs.
static CHILD_GROUP: AtomicI32 = AtomicI32::new(0);
static INSTALL: Once = Once::new();

/// Takes over SIGINT and SIGTERM for the rest of the process. Called before the first child
/// starts; without a child running, the first signal makes the pipeline stop at the next step
/// boundary (see [`interrupted`]).
pub fn install_signal_handlers() {
    INSTALL.call_once(|| {
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
            return;
        };
        thread::spawn(move || {
            for signal in signals.forever() {
                let count = SIGNALS_RECEIVED.fetch_add(1, Ordering::SeqCst) + 1;
                let group = CHILD_GROUP.load(Ordering::SeqCst);
                if group > 0 {
                    let forwarded = if count == 1 { signal } else { libc::SIGKILL };
                    // SAFETY: kill(2) with a negative pid signals a process group; no memory is touched.
                    unsafe { libc::kill(-group, forwarded) };
                }
                if count == 1 {
                    eprintln!(
                        "\ninterrupted: waiting for the running step to stop (press Ctrl-C again to kill it now)"
                    );
                }
            }
        });
    });
}

/// True once SIGINT or SIGTERM arrived.
pub fn interrupted() -> bool {
    SIGNALS_RECEIVED.load(Ordering::SeqCst) > 0
}

/// Returns [`Interrupted`] when a signal arrived; steps call it between units of work.
pub fn check_interrupted() -> Result<()> {
    if interrupted() {
        Err(anyhow::Error::new(Interrupted))
    } else {
        Ok(())
    }
}

/// Runs a command with its output streaming to the terminal. `what` names it in errors
/// ("sam build"). A non-zero exit, a kill by signal, a timeout or an interrupt is an error.
pub fn run(command: impl Into<Command>, what: &str, timeout: Option<Duration>) -> Result<()> {
    let mut command = command.into();
    // The child's output goes to stderr with the xtask's own progress: stdout carries only
    // what machines read (GitHub workflow commands in CI mode).
    command.stdin(Stdio::null()).stdout(std::io::stderr());
    let (status, _) = supervise(command, what, timeout, false)?;
    check_status(status, what, "")
}

/// Runs a command and returns its standard output; its standard error is returned in the
/// error when it fails. For commands whose output is parsed (aws ... --output json).
pub fn capture(command: impl Into<Command>, what: &str, timeout: Option<Duration>) -> Result<String> {
    let mut command = command.into();
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let (status, output) = supervise(command, what, timeout, true)?;
    let output = output.expect("captured");
    check_status(status, what, output.stderr.trim())?;
    String::from_utf8(output.stdout).map_err(|_| anyhow!("{what} printed output that is not UTF-8"))
}

struct Captured {
    stdout: Vec<u8>,
    stderr: String,
}

fn check_status(status: ExitStatus, what: &str, stderr: &str) -> Result<()> {
    use std::os::unix::process::ExitStatusExt;
    let detail = if stderr.is_empty() { String::new() } else { format!(": {}", last_lines(stderr, 5)) };
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok(()),
        (Some(code), _) => Err(anyhow!("{what} exited with status {code}{detail}")),
        (None, Some(signal)) => Err(anyhow!("{what} was killed by signal {signal}{detail}")),
        (None, None) => Err(anyhow!("{what} ended abnormally{detail}")),
    }
}

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(count)..].join(" | ")
}

fn supervise(
    mut command: Command,
    what: &str,
    timeout: Option<Duration>,
    capture: bool,
) -> Result<(ExitStatus, Option<Captured>)> {
    use std::os::unix::process::CommandExt;
    install_signal_handlers();
    check_interrupted()?;
    command.process_group(0);
    let mut child = command.spawn().with_context(|| format!("starting {what}"))?;
    CHILD_GROUP.store(child.id() as i32, Ordering::SeqCst);
    let readers = capture.then(|| spawn_readers(&mut child));
    let waited = wait(&mut child, timeout);
    CHILD_GROUP.store(0, Ordering::SeqCst);
    let captured = readers.map(|(out, err)| Captured {
        stdout: out.join().unwrap_or_default(),
        stderr: String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned(),
    });
    let status = match waited? {
        Some(status) => status,
        None => {
            return Err(anyhow!(
                "{what} did not finish within {}s and was killed",
                timeout.map(|t| t.as_secs()).unwrap_or_default()
            ))
        }
    };
    if interrupted() {
        return Err(anyhow::Error::new(Interrupted).context(format!("{what} was interrupted")));
    }
    Ok((status, captured))
}

type Reader = thread::JoinHandle<Vec<u8>>;

/// Pipes are drained on threads, or a chatty child blocks on a full pipe and never exits.
fn spawn_readers(child: &mut Child) -> (Reader, Reader) {
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    (out, err)
}

/// Waits for the child; `None` when the timeout ran out (the group is then killed).
fn wait(child: &mut Child, timeout: Option<Duration>) -> Result<Option<ExitStatus>> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        if let Some(status) = child.try_wait().context("waiting for a child process")? {
            return Ok(Some(status));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // SAFETY: signals the child's own process group.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn capture_returns_stdout() {
        let out = capture(shell("echo hello; echo noise >&2"), "sh", None).unwrap();
        assert_eq!(out, "hello\n");
    }

    #[test]
    fn failure_names_the_command_status_and_stderr() {
        let err = capture(shell("echo 'AccessDenied' >&2; exit 3"), "aws sts", None).unwrap_err().to_string();
        assert!(err.contains("aws sts exited with status 3"), "{err}");
        assert!(err.contains("AccessDenied"), "{err}");
    }

    #[test]
    fn a_child_killed_by_a_signal_is_named() {
        let err = run(shell("kill -9 $$"), "sam build", None).unwrap_err().to_string();
        assert!(err.contains("sam build was killed by signal 9"), "{err}");
    }

    #[test]
    fn a_hanging_child_is_killed_at_the_timeout() {
        let err = run(shell("sleep 30"), "sam deploy", Some(Duration::from_millis(200))).unwrap_err();
        assert!(err.to_string().contains("sam deploy did not finish within"), "{err}");
    }

    #[test]
    fn a_large_output_does_not_block_the_child() {
        let out = capture(shell("head -c 1000000 /dev/zero | tr '\\0' x"), "sh", None).unwrap();
        assert_eq!(out.len(), 1_000_000);
    }
}
