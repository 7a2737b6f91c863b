//! How the xtask talks: to a person at a terminal (colour, progress heartbeats) or to a CI job
//! (plain lines, GitHub workflow commands, a step summary, and never a prompt).
//!
//! Decided once in `main` from the global flags and the environment ([`Output`]), then passed
//! down as a [`Ui`] value (cargo's Shell, uv's Printer): everything the engine and the
//! commands print goes through it, and a test can capture it. Commands never look at `CI`
//! themselves.

use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anstream::{AutoStream, ColorChoice};
use anstyle::{AnsiColor, Style};

/// The rendering decisions for this run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// CI mode (`--ci`, `CI=true` or `GITHUB_ACTIONS=true`): no prompt, no colour, no
    /// progress; guard findings become GitHub annotations and a step summary is appended.
    pub ci: bool,
    /// ANSI colour on stderr: only on a terminal, never in CI mode, never with `NO_COLOR`.
    pub color: bool,
    /// "still running" heartbeats for long steps: only on a terminal, never in CI mode.
    pub progress: bool,
    /// Where `--json` writes the machine-readable report.
    pub json_report: Option<PathBuf>,
    /// `$GITHUB_STEP_SUMMARY`, the file the step summary is appended to, in CI mode only.
    pub step_summary: Option<PathBuf>,
}

impl Output {
    /// Decides from the `--ci` flag, an environment lookup and whether stderr is a terminal.
    /// Pure, so every combination is unit-tested without touching the process environment.
    pub fn detect(
        ci_flag: bool,
        json_report: Option<PathBuf>,
        env: impl Fn(&str) -> Option<String>,
        stderr_is_terminal: bool,
    ) -> Output {
        let is_true = |name: &str| env(name).is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        let ci = ci_flag || is_true("CI") || is_true("GITHUB_ACTIONS");
        // https://no-color.org: any non-empty value disables colour.
        let no_color = env("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb_terminal = env("TERM").is_some_and(|t| t == "dumb");
        let step_summary =
            if ci { env("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()).map(PathBuf::from) } else { None };
        Output {
            ci,
            color: !ci && stderr_is_terminal && !no_color && !dumb_terminal,
            progress: !ci && stderr_is_terminal,
            json_report,
            step_summary,
        }
    }

    /// Whether a question may be asked: never in CI mode, and only when someone can read it
    /// (stderr) and answer it (stdin) on a terminal.
    pub fn can_prompt_with(&self, stdin_is_terminal: bool, stderr_is_terminal: bool) -> bool {
        !self.ci && stdin_is_terminal && stderr_is_terminal
    }
}

/// How this run talks, passed down by value (cheap to clone): the decisions, and where the
/// text goes (the process's stderr and stdout, or buffers a test reads).
#[derive(Clone)]
pub struct Ui {
    output: Arc<Output>,
    sink: Sink,
}

#[derive(Clone)]
enum Sink {
    Process,
    Captured(Captured),
}

/// What a captured [`Ui`] printed.
#[derive(Clone, Default)]
pub struct Captured {
    stderr: Arc<Mutex<Vec<u8>>>,
    stdout: Arc<Mutex<Vec<u8>>>,
}

impl Captured {
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl Ui {
    /// Prints to this process's stderr (the xtask's own lines) and stdout (workflow commands).
    pub fn new(output: Output) -> Ui {
        Ui { output: Arc::new(output), sink: Sink::Process }
    }

    /// Prints into buffers instead, as the process would (escapes only with colour).
    pub fn capture(output: Output) -> (Ui, Captured) {
        let captured = Captured::default();
        (Ui { output: Arc::new(output), sink: Sink::Captured(captured.clone()) }, captured)
    }

    pub fn output(&self) -> &Output {
        &self.output
    }

    /// True in CI mode. A command that would ask a question must not: it either has the
    /// answer from a flag (e.g. `--yes`) or exits 2 with one line naming that flag.
    pub fn ci(&self) -> bool {
        self.output.ci
    }

    /// True when a question may be asked and answered: not in CI mode, and both stdin and
    /// stderr are terminals. Where this is false, a command that needs confirmation requires a
    /// flag.
    pub fn can_prompt(&self) -> bool {
        matches!(self.sink, Sink::Process)
            && self.output.can_prompt_with(std::io::stdin().is_terminal(), std::io::stderr().is_terminal())
    }

    /// One line on stderr: a status, a detail of a step, a notice.
    pub fn line(&self, text: impl Display) {
        self.write_stderr(format!("{text}\n").as_bytes());
    }

    /// A question on stderr, without the line break: the answer is typed after it.
    pub fn prompt(&self, text: impl Display) {
        self.write_stderr(format!("{text}").as_bytes());
    }

    /// "warning: ..." on stderr.
    pub fn warn(&self, text: impl Display) {
        self.line(format_args!("{} {text}", self.paint(Tone::Warn, "warning:")));
    }

    /// "error: ..." on stderr.
    pub fn error(&self, text: impl Display) {
        self.line(format_args!("{} {text}", self.paint(Tone::Bad, "error:")));
    }

    /// One line of the command's own output on stdout (a table, a verdict a script reads).
    pub fn out(&self, text: impl Display) {
        let line = format!("{}\n", crate::sys::redact::scrub(&text.to_string()));
        self.write_stdout(line.as_bytes());
    }

    /// Makes this Ui the one `say!` and `say_out!` write to for the whole process (the
    /// command's, set once in `main`).
    pub fn install(&self) {
        *PROCESS_UI.write().unwrap_or_else(|p| p.into_inner()) = Some(self.clone());
    }

    /// Runs `f` with this Ui as the one `say!` and `say_out!` write to on this thread: a test
    /// runs a command in-process and reads everything it printed.
    pub fn scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let previous = SCOPED_UI.with(|scoped| scoped.replace(Some(self.clone())));
        let result = f();
        SCOPED_UI.with(|scoped| scoped.replace(previous));
        result
    }

    /// A GitHub workflow command on stdout (the xtask's own lines go to stderr, so stdout
    /// carries nothing else), flushed so it is not held back behind a long sam run.
    pub fn emit(&self, command: &str) {
        let line = format!("{}\n", crate::sys::redact::scrub(command));
        self.write_stdout(line.as_bytes());
    }

    fn write_stdout(&self, line: &[u8]) {
        match &self.sink {
            Sink::Process => {
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(line);
                let _ = stdout.flush();
            }
            Sink::Captured(captured) => {
                captured.stdout.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(line)
            }
        }
    }

    /// `text` styled for its tone. The escapes reach the terminal only when this run uses
    /// colour: the stream strips them otherwise.
    pub fn paint(&self, tone: Tone, text: &str) -> String {
        let style = tone.style();
        format!("{}{text}{}", style.render(), style.render_reset())
    }

    /// A writer onto this Ui's stderr, for a thread that prints on its own (heartbeats).
    pub fn stderr_writer(&self) -> StderrWriter {
        StderrWriter(self.clone())
    }

    fn color_choice(&self) -> ColorChoice {
        if self.output.color {
            ColorChoice::Always
        } else {
            ColorChoice::Never
        }
    }

    fn write_stderr(&self, bytes: &[u8]) {
        // Whatever a line quotes (a URL, a command, an error chain) reaches no terminal or log
        // with a secret or a URL's credentials in it.
        let scrubbed = crate::sys::redact::scrub(&String::from_utf8_lossy(bytes));
        let bytes = scrubbed.as_bytes();
        // A closed stderr must not take the run down with it.
        match &self.sink {
            Sink::Process => {
                let mut stderr = AutoStream::new(std::io::stderr().lock(), self.color_choice());
                let _ = stderr.write_all(bytes);
                let _ = stderr.flush();
            }
            Sink::Captured(captured) => {
                let mut buffer = AutoStream::new(Vec::new(), self.color_choice());
                let _ = buffer.write_all(bytes);
                let written = buffer.into_inner();
                captured.stderr.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(&written);
            }
        }
    }
}

static PROCESS_UI: std::sync::RwLock<Option<Ui>> = std::sync::RwLock::new(None);

thread_local! {
    static SCOPED_UI: std::cell::RefCell<Option<Ui>> = const { std::cell::RefCell::new(None) };
}

/// What `say!` (stderr) and `say_out!` (stdout) print: a line through the Ui of this thread's
/// [`Ui::scope`], else the process's ([`Ui::install`]), else a plain one on the process's
/// streams (before `main` decided how to talk). Scrubbed of secrets either way.
#[doc(hidden)]
pub fn say(to_stdout: bool, args: std::fmt::Arguments) {
    let ui = SCOPED_UI
        .with(|scoped| scoped.borrow().clone())
        .or_else(|| PROCESS_UI.read().unwrap_or_else(|p| p.into_inner()).clone())
        .unwrap_or_else(|| Ui::new(Output::default()));
    match to_stdout {
        true => ui.out(args),
        false => ui.line(args),
    }
}

/// See [`Ui::stderr_writer`].
pub struct StderrWriter(Ui);

impl Write for StderrWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_stderr(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether stderr is a terminal, for [`Output::detect`].
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// What a piece of text means, which decides its colour on a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// A step that finished well.
    Ok,
    /// A failed step, an error, a finding's path.
    Bad,
    /// Notices and the guard's name.
    Warn,
    /// Secondary detail: heartbeats, step start lines.
    Dim,
    /// Emphasis without judgement.
    Bold,
}

impl Tone {
    fn style(self) -> Style {
        match self {
            Tone::Ok => AnsiColor::Green.on_default(),
            Tone::Bad => AnsiColor::Red.on_default().bold(),
            Tone::Warn => AnsiColor::Yellow.on_default(),
            Tone::Dim => Style::new().dimmed(),
            Tone::Bold => Style::new().bold(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn what_say_prints_inside_a_scope_is_captured_scrubbed_and_nothing_leaks_after() {
        crate::sys::redact::register("canary-ui-scope-4d1e");
        let (ui, captured) = Ui::capture(Output::default());
        ui.scope(|| {
            say!("building {}", "HelloFunction");
            say_out!("token canary-ui-scope-4d1e");
        });
        assert_eq!(captured.stderr(), "building HelloFunction\n");
        assert_eq!(captured.stdout(), "token [redacted]\n");
        say!("after the scope");
        assert_eq!(captured.stderr(), "building HelloFunction\n", "the scope ended with the closure");
    }

    fn detect(ci_flag: bool, vars: &[(&str, &str)], terminal: bool) -> Output {
        let env: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Output::detect(ci_flag, None, |name| env.get(name).cloned(), terminal)
    }

    #[test]
    fn terminal_without_ci_gets_colour_and_progress() {
        let out = detect(false, &[], true);
        assert!(!out.ci && out.color && out.progress);
    }

    #[test]
    fn a_pipe_gets_neither_colour_nor_progress() {
        let out = detect(false, &[], false);
        assert!(!out.ci && !out.color && !out.progress);
    }

    #[test]
    fn ci_mode_comes_from_the_flag_or_either_variable() {
        assert!(detect(true, &[], true).ci);
        assert!(detect(false, &[("CI", "true")], true).ci);
        assert!(detect(false, &[("CI", "1")], true).ci);
        assert!(detect(false, &[("GITHUB_ACTIONS", "true")], true).ci);
        assert!(!detect(false, &[("CI", "false")], true).ci);
        assert!(!detect(false, &[("CI", "")], true).ci);
    }

    #[test]
    fn ci_mode_on_a_terminal_has_no_colour_and_no_progress() {
        let out = detect(false, &[("GITHUB_ACTIONS", "true")], true);
        assert!(!out.color && !out.progress);
    }

    #[test]
    fn no_color_and_dumb_terminals_turn_colour_off_but_keep_progress() {
        let out = detect(false, &[("NO_COLOR", "1")], true);
        assert!(!out.color && out.progress);
        assert!(!detect(false, &[("TERM", "dumb")], true).color);
        // An empty NO_COLOR does not count (no-color.org).
        assert!(detect(false, &[("NO_COLOR", "")], true).color);
    }

    #[test]
    fn the_step_summary_file_is_used_only_in_ci_mode() {
        let vars = [("GITHUB_STEP_SUMMARY", "/tmp/summary.md")];
        assert_eq!(detect(false, &vars, false).step_summary, None);
        assert_eq!(detect(true, &vars, false).step_summary, Some(PathBuf::from("/tmp/summary.md")));
    }

    #[test]
    fn ci_mode_never_prompts_even_on_a_terminal() {
        assert!(detect(false, &[], true).can_prompt_with(true, true));
        assert!(!detect(true, &[], true).can_prompt_with(true, true));
        assert!(!detect(false, &[("CI", "true")], true).can_prompt_with(true, true));
        // No terminal to answer on: no question either.
        assert!(!detect(false, &[], true).can_prompt_with(false, true));
        assert!(!detect(false, &[], false).can_prompt_with(true, false));
    }

    #[test]
    fn colour_reaches_the_output_only_when_the_run_uses_it() {
        for color in [false, true] {
            let (ui, captured) = Ui::capture(Output { color, ..Output::default() });
            ui.line(format_args!("[lambda-build] sam-build {}", ui.paint(Tone::Bad, "FAILED")));
            ui.emit("::error title=x::y");
            let expected = if color {
                "[lambda-build] sam-build \x1b[1m\x1b[31mFAILED\x1b[0m\n"
            } else {
                "[lambda-build] sam-build FAILED\n"
            };
            assert_eq!(captured.stderr(), expected);
            assert_eq!(captured.stdout(), "::error title=x::y\n");
        }
    }

    #[test]
    fn a_captured_ui_never_prompts() {
        let (ui, _) = Ui::capture(Output::default());
        assert!(!ui.can_prompt());
    }
}
