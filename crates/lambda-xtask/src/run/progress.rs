//! Progress for long steps on a terminal: a "still running" line every few seconds naming the
//! step and how long it has run.
//!
//! Whole lines, never a spinner redrawn with `\r`: sam streams its own output to the same
//! terminal, and a redrawn line would garble it or hide its last line on failure. A step that
//! ends before the first interval prints nothing extra.

use std::io::Write;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often a running step says so on a terminal.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

/// Prints heartbeats until dropped.
pub struct Heartbeat {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Heartbeat {
    /// No thread and no output: for CI mode and pipes.
    pub fn off() -> Heartbeat {
        Heartbeat { stop: None, thread: None }
    }

    /// Writes `line(elapsed)` to `out` every `interval` until the heartbeat is dropped.
    pub fn start(
        interval: Duration,
        mut out: impl Write + Send + 'static,
        line: impl Fn(Duration) -> String + Send + 'static,
    ) -> Heartbeat {
        let (stop, stopped) = mpsc::channel::<()>();
        let started = Instant::now();
        let thread = std::thread::spawn(move || {
            // A message or a dropped sender both mean the step ended.
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                // A closed stderr must not take the step down with it.
                let _ = writeln!(out, "{}", line(started.elapsed()));
                let _ = out.flush();
            }
        });
        Heartbeat { stop: Some(stop), thread: Some(thread) }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// "12s", "3m05s": how long a step has run, at a glance.
pub fn elapsed_label(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    if secs < 60 {
        format!("{secs}s")
    } else {
        format!("{}m{:02}s", secs / 60, secs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn a_long_step_gets_heartbeats_naming_it_and_they_stop_when_it_ends() {
        let out = Shared::default();
        let heartbeat = Heartbeat::start(Duration::from_millis(5), out.clone(), |elapsed| {
            format!("sam-build still running ({})", elapsed_label(elapsed))
        });
        // Far longer than the interval: at least one heartbeat whatever the scheduler does.
        std::thread::sleep(Duration::from_millis(300));
        drop(heartbeat);
        let printed = out.text();
        assert!(printed.lines().count() >= 1, "no heartbeat:\n{printed}");
        assert!(printed.lines().all(|l| l.starts_with("sam-build still running (") && l.ends_with("s)")), "{printed}");

        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(out.text(), printed, "heartbeats went on after the step ended");
    }

    #[test]
    fn a_step_shorter_than_the_interval_prints_nothing() {
        let out = Shared::default();
        drop(Heartbeat::start(Duration::from_secs(3600), out.clone(), |_| "tick".to_string()));
        assert_eq!(out.text(), "");
    }

    #[test]
    fn elapsed_reads_in_seconds_then_minutes() {
        assert_eq!(elapsed_label(Duration::from_millis(12_400)), "12s");
        assert_eq!(elapsed_label(Duration::from_secs(185)), "3m05s");
    }
}
