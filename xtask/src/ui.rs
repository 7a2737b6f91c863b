//! How the xtask talks: to a person at a terminal (colour, progress heartbeats) or to a CI job
//! (plain lines, GitHub workflow commands, a step summary, and never a prompt).
//!
//! Decided once in `main` from the global flags and the environment, then read from anywhere
//! with [`get`], [`ci_mode`] and [`can_prompt`]. Commands never look at `CI` themselves.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::OnceLock;

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

static OUTPUT: OnceLock<Output> = OnceLock::new();

/// Sets this run's output decisions; called once by `main` before any command runs.
pub fn init(output: Output) {
    // A second call would only come from a test harness; the first decision stands.
    let _ = OUTPUT.set(output);
}

/// This run's output decisions. Before `init` (unit tests): plain text, no CI, no report.
pub fn get() -> &'static Output {
    OUTPUT.get_or_init(Output::default)
}

/// True in CI mode. A command that would ask a question must not: it either has the answer
/// from a flag (e.g. `--yes`) or exits 2 with one line naming that flag.
pub fn ci_mode() -> bool {
    get().ci
}

/// True when a question may be asked and answered: not in CI mode, and both stdin and stderr
/// are terminals. Where this is false, a command that needs confirmation requires a flag.
pub fn can_prompt() -> bool {
    get().can_prompt_with(std::io::stdin().is_terminal(), std::io::stderr().is_terminal())
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
    fn ansi(self) -> &'static str {
        match self {
            Tone::Ok => "\x1b[32m",
            Tone::Bad => "\x1b[1;31m",
            Tone::Warn => "\x1b[33m",
            Tone::Dim => "\x1b[2m",
            Tone::Bold => "\x1b[1m",
        }
    }
}

/// `text` in the tone's colour when this run uses colour, else unchanged.
pub fn paint(tone: Tone, text: &str) -> String {
    paint_if(get().color, tone, text)
}

pub fn paint_if(color: bool, tone: Tone, text: &str) -> String {
    if color {
        format!("{}{text}\x1b[0m", tone.ansi())
    } else {
        text.to_string()
    }
}

/// Prints a workflow command on stdout (the xtask's own lines go to stderr, so stdout carries
/// nothing else) and flushes it, so it is not held back behind a long sam run.
pub fn emit(command: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{command}");
    let _ = stdout.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

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
    fn paint_adds_escapes_only_with_colour() {
        assert_eq!(paint_if(false, Tone::Bad, "FAILED"), "FAILED");
        assert_eq!(paint_if(true, Tone::Bad, "FAILED"), "\x1b[1;31mFAILED\x1b[0m");
    }
}
