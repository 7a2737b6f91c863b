//! Child processes (sam, aws, pip) run in their own process group, so that Ctrl-C and SIGTERM
//! reach the xtask first: it passes the signal on to the child's whole group, waits for it to
//! finish, and reports the interrupted step instead of dying half-way. A second signal kills
//! the group at once.
//!
//! Commands are built with `xshell::cmd!` and converted into `std::process::Command` here,
//! because xshell cannot set a process group, a timeout or a signal-aware wait.

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Mutex, Once};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use signal_hook::consts::{SIGINT, SIGTERM};

use crate::sys::exit::Interrupted;

/// Signals received so far (SIGINT or SIGTERM).
static SIGNALS_RECEIVED: AtomicUsize = AtomicUsize::new(0);
/// Process group of the running child, 0 when none runs.
static CHILD_GROUP: AtomicI32 = AtomicI32::new(0);
static INSTALL: Once = Once::new();
/// Process groups of the servers the run keeps beside its steps (the rehearsal's moto): not
/// the running child, so the signal is not forwarded to them, but killed and reaped before the
/// deadline's exit, which runs no destructor.
static SERVER_GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// A server the run started in a process group of its own (its pid leads the group), to be
/// killed and reaped if the run must exit at the interrupt deadline. Its owner stops it
/// normally and then calls [`server_stopped`].
pub fn server_started(group: i32) {
    SERVER_GROUPS.lock().unwrap_or_else(|p| p.into_inner()).push(group);
}

pub fn server_stopped(group: i32) {
    SERVER_GROUPS.lock().unwrap_or_else(|p| p.into_inner()).retain(|g| *g != group);
}

/// Kills every registered server's group and waits for its leader, our child, to be gone.
fn kill_servers() {
    let groups = std::mem::take(&mut *SERVER_GROUPS.lock().unwrap_or_else(|p| p.into_inner()));
    for group in groups {
        // SAFETY: kill(2) on a group we started, then waitpid(2) on its leader, our child; no
        // memory is touched but the status integer.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
            let mut status = 0;
            libc::waitpid(group, &mut status, 0);
        }
    }
}

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
                    say!("\ninterrupted: waiting for the running step to stop (press Ctrl-C again to kill it now)");
                    thread::spawn(end_within_the_deadline);
                }
            }
        });
    });
}

/// A child still running this long after the first signal is killed with its group.
const CHILD_GRACE: Duration = Duration::from_millis(1000);
/// A run still going this long after the first signal ends here: the promise is 2 s.
const RUN_DEADLINE: Duration = Duration::from_millis(1800);

/// The promise that SIGINT or SIGTERM ends any run within 2 s, kept whatever the run is
/// waiting on: a child that ignores the signal is killed after [`CHILD_GRACE`], and a run
/// still going at [`RUN_DEADLINE`] (a wait that checks no signal) exits with status 130 from
/// here. What is left half-done is what a kill -9 leaves, which every step survives (staged
/// copies, atomic writes, the manifest removed before a build starts).
fn end_within_the_deadline() {
    thread::sleep(CHILD_GRACE);
    let group = CHILD_GROUP.load(Ordering::SeqCst);
    if group > 0 {
        say!("interrupted: the running child did not stop within 1 s of the signal: killing it");
        // SAFETY: kill(2) with a negative pid signals a process group; no memory is touched.
        unsafe { libc::kill(-group, libc::SIGKILL) };
    }
    thread::sleep(RUN_DEADLINE - CHILD_GRACE);
    say!("interrupted: the run did not stop within 2 s of the signal: exiting now");
    kill_servers();
    std::process::exit(i32::from(crate::sys::exit::INTERRUPTED));
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

/// Runs a command with its output streaming to the terminal line by line, scrubbed (sam
/// build and pip echo index URLs, and not every tool masks their credentials). `what` names it
/// in errors ("sam build"). A non-zero exit, a kill by signal, a timeout or an interrupt is an
/// error.
pub fn run(command: impl Into<Command>, what: &str, timeout: Option<Duration>) -> Result<()> {
    run_tee(command, what, timeout).map(|_| ())
}

/// Runs a command with its output streaming to the terminal line by line, with every
/// registered secret scrubbed (see `redact`), and returns that output too: for commands whose
/// output the user must see and the xtask must read (sam deploy prints the change set id).
pub fn run_tee(command: impl Into<Command>, what: &str, timeout: Option<Duration>) -> Result<String> {
    let mut command = command.into();
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let (status, output) = supervise(command, what, timeout, Streams::Tee)?;
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), output.stderr);
    check_status(status, what, "")?;
    Ok(text)
}

/// Runs a command and returns its standard output; its standard error is returned in the
/// error when it fails. For commands whose output is parsed (aws ... --output json).
pub fn capture(command: impl Into<Command>, what: &str, timeout: Option<Duration>) -> Result<String> {
    String::from_utf8(capture_bytes(command, what, timeout)?)
        .map_err(|_| anyhow!("{what} printed output that is not UTF-8"))
}

/// [`capture`] for output that need not be text (`git ls-files -z` of any file name).
pub fn capture_bytes(command: impl Into<Command>, what: &str, timeout: Option<Duration>) -> Result<Vec<u8>> {
    let mut command = command.into();
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let (status, output) = supervise(command, what, timeout, Streams::Capture)?;
    check_status(status, what, output.stderr.trim())?;
    Ok(output.stdout)
}

struct Captured {
    stdout: Vec<u8>,
    stderr: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Streams {
    /// Both are collected, nothing is shown.
    Capture,
    /// Both are collected and shown line by line, scrubbed of secrets.
    Tee,
}

/// A command run in-process (the aws CLI driver) fails exactly as its process would have.
pub fn check_exit_code(code: i32, what: &str, stderr: &str) -> Result<()> {
    use std::os::unix::process::ExitStatusExt;
    check_status(ExitStatus::from_raw((code & 0xff) << 8), what, stderr)
}

fn check_status(status: ExitStatus, what: &str, stderr: &str) -> Result<()> {
    use std::os::unix::process::ExitStatusExt;
    // aws and sam may echo what they were given; nothing secret goes into an error chain.
    let stderr = crate::sys::redact::scrub(stderr);
    let detail = if stderr.is_empty() { String::new() } else { format!(": {}", last_lines(&stderr, 5)) };
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
    streams: Streams,
) -> Result<(ExitStatus, Captured)> {
    use std::os::unix::process::CommandExt;
    install_signal_handlers();
    check_interrupted()?;
    command.process_group(0);
    tie_to_this_process(&mut command);
    let mut child = command.spawn().with_context(|| format!("starting {what}"))?;
    CHILD_GROUP.store(child.id() as i32, Ordering::SeqCst);
    crate::sys::orphans::started(child.id() as i32);
    let (out, err) = spawn_readers(&mut child, streams == Streams::Tee);
    let waited = wait(&mut child, timeout);
    CHILD_GROUP.store(0, Ordering::SeqCst);
    crate::sys::orphans::finished();
    let captured = Captured {
        stdout: out.join().unwrap_or_default(),
        stderr: String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned(),
    };
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

/// The kernel kills the child when the xtask dies, however it dies (PR_SET_PDEATHSIG): a
/// `sam build` must not keep writing the build output after a SIGKILL of its xtask.
pub fn tie_to_this_process(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: getpid is async-signal-safe and called before the fork.
    let parent = unsafe { libc::getpid() };
    // SAFETY: prctl and getppid are async-signal-safe, as a pre_exec hook must be.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The xtask died between fork and prctl: the signal would never come.
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        })
    };
}

type Reader = thread::JoinHandle<Vec<u8>>;

/// Pipes are drained on threads, or a chatty child blocks on a full pipe and never exits.
/// With `echo`, each line is also printed (stdout to stdout, stderr to stderr), scrubbed.
fn spawn_readers(child: &mut Child, echo: bool) -> (Reader, Reader) {
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    // Echoed to stderr too: the xtask's stdout carries only what machines read.
    let out = thread::spawn(move || drain(stdout, echo.then(|| Box::new(std::io::stderr()) as Box<dyn Write>)));
    let err = thread::spawn(move || drain(stderr, echo.then(|| Box::new(std::io::stderr()) as Box<dyn Write>)));
    (out, err)
}

fn drain(mut pipe: impl Read, echo: Option<Box<dyn Write>>) -> Vec<u8> {
    let mut buf = Vec::new();
    let Some(mut echo) = echo else {
        let _ = pipe.read_to_end(&mut buf);
        return buf;
    };
    // Segments end at a newline or a carriage return (sam's upload progress redraws one line
    // with \r): each is shown as soon as it is complete, scrubbed whole.
    let mut pending = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut emit = |segment: &[u8], buf: &mut Vec<u8>| {
        let scrubbed = crate::sys::redact::scrub(&String::from_utf8_lossy(segment));
        let _ = echo.write_all(scrubbed.as_bytes());
        let _ = echo.flush();
        buf.extend_from_slice(scrubbed.as_bytes());
    };
    loop {
        let n = match pipe.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&chunk[..n]);
        while let Some(end) = pending.iter().position(|b| *b == b'\n' || *b == b'\r') {
            let segment: Vec<u8> = pending.drain(..=end).collect();
            emit(&segment, &mut buf);
        }
    }
    if !pending.is_empty() {
        emit(&pending, &mut buf);
    }
    buf
}

/// Waits for the child; `None` when the timeout ran out (the group is then killed).
///
/// The wait ends as soon as the child does: a `git ls-files` of a few milliseconds must not
/// cost a polling interval (a no-op build runs several short children). On Linux the kernel
/// says when (a pidfd, polled with the time left); elsewhere the poll's sleep starts short
/// and grows.
fn wait(child: &mut Child, timeout: Option<Duration>) -> Result<Option<ExitStatus>> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let exit_notice = ExitNotice::open(child.id());
    let mut pause = Duration::from_micros(250);
    loop {
        if let Some(status) = child.try_wait().context("waiting for a child process")? {
            return Ok(Some(status));
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            // SAFETY: signals the child's own process group.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            return Ok(None);
        }
        match &exit_notice {
            Some(notice) => notice.wait(left.unwrap_or(Duration::from_secs(1)).min(Duration::from_secs(1))),
            None => {
                thread::sleep(left.map_or(pause, |l| l.min(pause)));
                pause = (pause * 2).min(Duration::from_millis(10));
            }
        }
    }
}

/// A pidfd of the child (Linux 5.3 and later): readable once the child has exited.
struct ExitNotice(std::os::fd::OwnedFd);

impl ExitNotice {
    #[cfg(target_os = "linux")]
    fn open(pid: u32) -> Option<ExitNotice> {
        use std::os::fd::FromRawFd;
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        // SAFETY: a descriptor pidfd_open just returned is ours alone.
        (fd >= 0).then(|| ExitNotice(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) }))
    }

    #[cfg(not(target_os = "linux"))]
    fn open(_pid: u32) -> Option<ExitNotice> {
        None
    }

    /// Returns when the child has exited, `at_most` has passed, or a signal interrupted it.
    fn wait(&self, at_most: Duration) {
        use std::os::fd::AsRawFd;
        let mut poll = libc::pollfd { fd: self.0.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let millis = at_most.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one pollfd, owned by this frame, for the call's duration.
        unsafe { libc::poll(&mut poll, 1, millis) };
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
    fn tee_returns_the_output_scrubbed_of_registered_secrets() {
        crate::sys::redact::register("tee-canary-0f9e8d");
        let out = run_tee(shell("echo key=tee-canary-0f9e8d; echo err >&2"), "sh", None).unwrap();
        assert!(out.contains("key=[redacted]"), "{out}");
        assert!(!out.contains("tee-canary-0f9e8d"), "{out}");
        assert!(out.contains("err"), "{out}");
    }

    #[test]
    fn an_echoed_secret_never_reaches_the_error() {
        crate::sys::redact::register("err-canary-5c4b3a");
        let err = capture(shell("echo 'bad key err-canary-5c4b3a' >&2; exit 1"), "aws sts", None).unwrap_err();
        assert!(!format!("{err:#}").contains("err-canary-5c4b3a"), "{err:#}");
    }

    /// However the child fails, its echo of a registered secret reaches the error chain (and
    /// so the terminal, the report and the audit log) only as `[redacted]`: the stderr is kept
    /// for the diagnosis, the secret is not.
    #[test]
    fn a_secret_echoed_by_a_failing_child_is_redacted_in_every_error_chain() {
        const CANARY: &str = "chain-canary-SECRET-9d8c7b6a";
        crate::sys::redact::register(CANARY);
        let echo = format!("echo 'Unable to parse config: aws_secret_access_key = {CANARY}' >&2");
        let failures = [
            (format!("{echo}; exit 255"), "exited with status 255"),
            (format!("echo noise >&2; {echo}; echo 'more noise' >&2; exit 1"), "exited with status 1"),
            (format!("{echo}; kill -9 $$"), "was killed by signal 9"),
            // Repeated and glued to other text: every occurrence goes.
            (format!("echo 'x{CANARY}y {CANARY}' >&2; exit 2"), "exited with status 2"),
        ];
        for (script, failure) in failures {
            let err = capture(shell(&script), "aws secretsmanager get-secret-value", None)
                .context("aws-account")
                .unwrap_err();
            let chain = format!("{err:#}");
            assert!(chain.contains(failure), "{chain}");
            assert!(chain.contains("[redacted]"), "the stderr was dropped rather than scrubbed: {chain}");
            assert!(!chain.contains(CANARY), "{chain}");
            assert!(!format!("{err:?}").contains(CANARY), "{err:?}");
        }
    }

    #[test]
    fn a_large_output_does_not_block_the_child() {
        let out = capture(shell("head -c 1000000 /dev/zero | tr '\\0' x"), "sh", None).unwrap();
        assert_eq!(out.len(), 1_000_000);
    }
}
