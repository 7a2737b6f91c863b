//! The aws CLI (v1) kept running in one Python process for the whole run. Each `aws` process
//! spends about 0.7 s starting Python and loading botocore before its call takes 50 ms; a
//! deploy makes 10 to 30 calls. When the executable found is awscli v1's Python entry script
//! (on PATH, behind a pyenv shim, or in the tool cache), the calls are sent to
//! `aws_driver.py`, which runs the very CLI the script would (`awscli.clidriver`, a fresh
//! driver per call, with the call's own environment) and answers with its exit status,
//! standard output and standard error. Anything else (aws CLI v2, a wrapper script, a fake in
//! a test) runs one process per call as before, and so does a call made while another thread
//! holds the driver.
//!
//! The driver is no child of a step: it sits in a process group of its own (a Ctrl-C reaches
//! the xtask, which kills it), registered as one of the run's servers so the interrupt
//! deadline kills it too, and it exits when its standard input closes, which the kernel does
//! when the xtask dies however it dies.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use serde::{Deserialize, Serialize};

use crate::sys::exit::Interrupted;
use crate::sys::process;

const DRIVER: &str = include_str!("aws_driver.py");

/// How long a starting driver may take to import awscli before the run falls back to one
/// process per call.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// One driver shared by an [`Aws`](super::Aws) and its clones.
#[derive(Clone, Default)]
pub struct SharedDriver(Arc<Mutex<Slot>>);

impl std::fmt::Debug for SharedDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedDriver")
    }
}

#[derive(Default)]
enum Slot {
    #[default]
    Untried,
    /// The executable is no awscli v1 script, or its driver could not start: one process per call.
    Unavailable,
    Running(Driver),
}

/// One call: the aws CLI's arguments, and the environment the `aws` process would have had.
pub struct Call<'a> {
    pub executable: &'a Path,
    pub args: Vec<String>,
    pub set: &'a [(String, OsString)],
    pub removed: &'a [String],
    pub cwd: &'a Path,
    pub what: &'a str,
    pub timeout: Duration,
}

/// What the aws CLI answered: as a process would have exited, with its two streams.
#[derive(Debug, Deserialize)]
pub struct Answer {
    pub rc: i32,
    pub out: String,
    pub err: String,
}

#[derive(Serialize)]
struct Request<'a> {
    args: &'a [String],
    set: std::collections::BTreeMap<&'a str, &'a str>,
    remove: &'a [String],
    cwd: &'a str,
}

impl SharedDriver {
    /// The call's answer through the driver, or `None` when the driver cannot take it (the
    /// caller then runs `aws` as a process). An error is the call's own failure: a timeout,
    /// an interrupt, or a driver that died during the call.
    pub fn call(&self, call: &Call) -> Option<Result<Answer>> {
        let request = request_line(call)?;
        // Another thread's call in flight: this one runs as a process, in parallel.
        let mut slot = self.0.try_lock().ok()?;
        if let Slot::Untried = *slot {
            *slot = match Driver::start(call.executable) {
                Some(driver) => Slot::Running(driver),
                None => Slot::Unavailable,
            };
        }
        let Slot::Running(driver) = &mut *slot else { return None };
        let answer = driver.ask(&request, call);
        if answer.is_err() {
            // A driver that timed out, was interrupted or died is gone; the next call starts
            // another.
            *slot = Slot::Untried;
        }
        Some(answer)
    }
}

fn request_line(call: &Call) -> Option<String> {
    // Only text crosses JSON: a call with a variable or directory that is not UTF-8 runs as a
    // process.
    let mut set = std::collections::BTreeMap::new();
    for (name, value) in call.set {
        set.insert(name.as_str(), value.to_str()?);
    }
    let request = Request { args: &call.args, set, remove: call.removed, cwd: call.cwd.to_str()? };
    let mut line = serde_json::to_string(&request).ok()?;
    line.push('\n');
    Some(line)
}

struct Driver {
    child: Child,
    stdin: ChildStdin,
    answers: Receiver<String>,
}

impl Driver {
    fn start(executable: &Path) -> Option<Driver> {
        use std::os::unix::process::CommandExt;
        let python = awscli_v1_python(executable)?;
        let mut command = Command::new(python);
        // A script file would put its directory first on sys.path; `-c` puts the working
        // directory there, which the driver removes before importing anything.
        command
            .args(["-c", DRIVER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .env("AWS_PAGER", "")
            .process_group(0);
        let mut child = command.spawn().ok()?;
        process::server_started(child.id() as i32);
        let stdin = child.stdin.take()?;
        let stdout = child.stdout.take()?;
        let (sender, answers) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut driver = Driver { child, stdin, answers };
        match driver.answers.recv_timeout(START_TIMEOUT) {
            Ok(line) if line.contains("\"ready\"") => Some(driver),
            _ => {
                driver.stop();
                None
            }
        }
    }

    fn ask(&mut self, request: &str, call: &Call) -> Result<Answer> {
        let what = call.what;
        process::check_interrupted()?;
        self.stdin
            .write_all(request.as_bytes())
            .and_then(|()| self.stdin.flush())
            .map_err(|err| anyhow!("{what}: the aws CLI driver stopped taking calls: {err}"))?;
        let deadline = Instant::now() + call.timeout;
        loop {
            if process::interrupted() {
                self.stop();
                return Err(anyhow::Error::new(Interrupted).context(format!("{what} was interrupted")));
            }
            if Instant::now() >= deadline {
                self.stop();
                return Err(anyhow!("{what} did not finish within {}s and was killed", call.timeout.as_secs()));
            }
            match self.answers.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => {
                    return serde_json::from_str(&line)
                        .map_err(|err| anyhow!("{what}: the aws CLI driver answered with no answer ({err})"))
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => {
                    self.stop();
                    return Err(anyhow!("{what}: the aws CLI driver ended during the call"));
                }
            }
        }
    }

    fn stop(&mut self) {
        let group = self.child.id() as i32;
        // SAFETY: kill(2) on the driver's own process group; no memory is touched.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = self.child.wait();
        process::server_stopped(group);
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.stop();
        }
    }
}

/// The interpreter of awscli v1's entry script: the `aws` that pip writes is a Python script
/// whose first line names its interpreter and which imports `awscli.clidriver`. A pyenv shim is
/// looked through. Anything else (aws v2's binary, a wrapper, a shebang with arguments) is
/// `None`.
fn awscli_v1_python(executable: &Path) -> Option<PathBuf> {
    let resolved = match executable.components().count() {
        1 => which::which(executable).ok()?,
        _ => executable.to_path_buf(),
    };
    let script = crate::sys::interpreters::behind_shim(&resolved)?;
    let start = crate::sys::beneath::read_start(&script, 4096).ok()?;
    let text = std::str::from_utf8(&start).ok()?;
    let interpreter = text.lines().next()?.strip_prefix("#!")?.trim();
    let is_plain_path = interpreter.starts_with('/') && !interpreter.contains(char::is_whitespace);
    let is_python = Path::new(interpreter).file_name()?.to_str()?.starts_with("python");
    (is_plain_path && is_python && text.contains("awscli.clidriver")).then(|| PathBuf::from(interpreter))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A stand-in for awscli's package: `main` prints its arguments, the process id and a
    /// variable, fails with status 254 on `fail`, and sleeps on `hang`.
    const STAND_IN_CLIDRIVER: &str = r#"
import os, sys, time
class Driver:
    def main(self, args):
        if args[0] == "fail":
            sys.stderr.write("\nAn error occurred (ResourceNotFoundException): no such thing\n")
            return 254
        if args[0] == "hang":
            time.sleep(60)
        print(" ".join(args), os.getpid(), os.environ.get("CALL_VAR", "-"))
        return 0
def create_clidriver():
    return Driver()
"#;

    /// An `aws` entry script like pip's, over the stand-in package: its interpreter is the real
    /// python3 with the package on its path, as a virtualenv's python has awscli.
    fn stand_in_aws(dir: &Path) -> PathBuf {
        let site = dir.join("site");
        std::fs::create_dir_all(site.join("awscli")).unwrap();
        std::fs::write(site.join("awscli/__init__.py"), "").unwrap();
        std::fs::write(site.join("awscli/clidriver.py"), STAND_IN_CLIDRIVER).unwrap();
        let python = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap();
        let venv_python =
            script(dir, "python3", &format!("#!/bin/sh\nPYTHONPATH='{}' exec '{python}' \"$@\"\n", site.display()));
        let entry = "import sys\nimport awscli.clidriver\nsys.exit(awscli.clidriver.main())\n";
        script(dir, "aws", &format!("#!{}\n{entry}", venv_python.display()))
    }

    fn call<'a>(executable: &'a Path, args: &[&str], set: &'a [(String, OsString)], timeout: Duration) -> Call<'a> {
        Call {
            executable,
            args: args.iter().map(|a| a.to_string()).collect(),
            set,
            removed: &[],
            cwd: Path::new("/"),
            what: "aws test",
            timeout,
        }
    }

    #[test]
    fn one_process_answers_every_call_with_the_call_s_own_environment() {
        let dir = tempfile::tempdir().unwrap();
        let aws = stand_in_aws(dir.path());
        let driver = SharedDriver::default();
        let with_var = [("CALL_VAR".to_string(), OsString::from("first"))];
        let first = driver.call(&call(&aws, &["sts", "get-caller-identity"], &with_var, Duration::from_secs(30)));
        let first = first.expect("the stand-in is awscli v1's script").unwrap();
        assert_eq!(first.rc, 0, "{first:?}");
        let second =
            driver.call(&call(&aws, &["ec2", "describe-vpcs"], &[], Duration::from_secs(30))).unwrap().unwrap();
        let pid = |answer: &Answer| answer.out.split_whitespace().nth(2).unwrap().to_string();
        assert!(first.out.starts_with("sts get-caller-identity "), "{first:?}");
        assert_eq!(first.out.split_whitespace().nth(3), Some("first"), "{first:?}");
        // The second call did not set the variable: it does not see the first call's.
        assert_eq!(second.out.split_whitespace().nth(3), Some("-"), "{second:?}");
        assert_eq!(pid(&first), pid(&second), "one process answers both calls");

        // A failure reads as the process's would.
        let failed = driver.call(&call(&aws, &["fail"], &[], Duration::from_secs(30))).unwrap().unwrap();
        let err = process::check_exit_code(failed.rc, "aws test", failed.err.trim()).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "aws test exited with status 254: An error occurred (ResourceNotFoundException): no such thing"
        );

        // A call past its timeout is killed, named, and the next call gets a new process.
        let hung = driver.call(&call(&aws, &["hang"], &[], Duration::from_secs(1))).unwrap();
        assert_eq!(format!("{:#}", hung.unwrap_err()), "aws test did not finish within 1s and was killed");
        let after =
            driver.call(&call(&aws, &["sts", "get-caller-identity"], &[], Duration::from_secs(30))).unwrap().unwrap();
        assert_ne!(pid(&after), pid(&first), "{after:?}");
    }

    #[test]
    fn only_awscli_v1_s_entry_script_is_driven() {
        let dir = tempfile::tempdir().unwrap();
        let v1 = script(dir.path(), "aws", "#!/opt/venv/bin/python3.11\nimport sys\nimport awscli.clidriver\n");
        assert_eq!(awscli_v1_python(&v1), Some(PathBuf::from("/opt/venv/bin/python3.11")));
        // pipx puts a link to the venv's script on PATH: the script behind it is what runs.
        let linked = dir.path().join("linked-aws");
        std::os::unix::fs::symlink(&v1, &linked).unwrap();
        assert_eq!(awscli_v1_python(&linked), Some(PathBuf::from("/opt/venv/bin/python3.11")));
        // A FIFO named aws is never opened (the check would block on it).
        let fifo = dir.path().join("fifo-aws");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert_eq!(awscli_v1_python(&fifo), None);
        let wrapper = script(dir.path(), "aws-wrapper", "#!/bin/sh\nexec aws \"$@\"\n");
        assert_eq!(awscli_v1_python(&wrapper), None);
        let flags = script(dir.path(), "aws-flags", "#!/usr/bin/env python3\nimport awscli.clidriver\n");
        assert_eq!(awscli_v1_python(&flags), None);
        let other = script(dir.path(), "tool", "#!/usr/bin/python3\nprint('hello')\n");
        assert_eq!(awscli_v1_python(&other), None);
        assert_eq!(awscli_v1_python(&dir.path().join("missing")), None);
    }
}
