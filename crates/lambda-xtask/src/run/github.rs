//! Speaking a CI job's language: GitHub workflow-command annotations (one per guard finding,
//! printed on stdout by `ui::emit`, where the runner reads them) and the markdown step summary
//! that `run::conclude` appends to `$GITHUB_STEP_SUMMARY`.
//!
//! Escaping follows GitHub's workflow-command rules (the runner's `ActionCommand` escaping):
//! in the message `%`, `\r` and `\n`; in a property value also `:` and `,`.

use crate::guards::Finding;
use crate::run::record::{seconds, Conclusion, Outcome, RunOutcome};
use crate::run::report::finding_message;
use crate::sys::redact::scrub as mask_credentials;

/// Escapes a workflow command's message.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a workflow command's property value (`file=`, `title=` ...).
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// `::error file=PATH,line=N,title=GUARD::problem / breaks / fix`, for one finding. The path
/// is relative to the repository root, as GitHub resolves it against the checkout.
pub fn finding_annotation(finding: &Finding) -> String {
    let mut properties = vec![format!("file={}", escape_property(&finding.path))];
    if let Some(line) = finding.line {
        properties.push(format!("line={line}"));
    }
    properties.push(format!("title={}", escape_property(finding.guard)));
    mask_credentials(&format!("::error {}::{}", properties.join(","), escape_data(&finding_message(finding))))
}

/// `::error title=lambda-build failed::error chain`, for a failure no finding explains.
pub fn failure_annotation(command: &str, failed_step: Option<&str>, error: &str) -> String {
    let title = match failed_step {
        Some(step) => format!("{command} failed at step {step}"),
        None => format!("{command} failed"),
    };
    mask_credentials(&format!("::error title={}::{}", escape_property(&title), escape_data(error)))
}

/// Findings listed in the step summary; GitHub caps a step's summary at 1 MiB, and a tree full
/// of installed packages can produce thousands. The log and the report keep every one.
const SUMMARY_FINDINGS_LIMIT: usize = 100;

/// The step summary: the command's result, its steps with outcome and duration, the findings
/// with their fixes, the error, and the deploy record when there is one.
pub fn step_summary(conclusion: &Conclusion) -> String {
    let run = &conclusion.run;
    let command = format!("cargo xtask {}", conclusion.command);
    let mut md = String::new();
    let headline = match conclusion.outcome() {
        RunOutcome::Succeeded => {
            format!("✅ `{command}` succeeded in {}", seconds(conclusion.duration))
        }
        outcome => {
            let verb = match outcome {
                RunOutcome::BadInput => "was refused (bad usage or configuration)",
                RunOutcome::Interrupted => "was interrupted",
                _ => "failed",
            };
            let at = run.failed_step.as_deref().map(|s| format!(" at step `{s}`")).unwrap_or_default();
            format!("❌ `{command}` {verb}{at} (exit status {})", conclusion.exit_status)
        }
    };
    md.push_str(&format!("### {headline}\n\n"));

    if !run.steps.is_empty() {
        md.push_str("| step | outcome | duration |\n| --- | --- | --- |\n");
        for step in &run.steps {
            let outcome = match step.outcome {
                Outcome::Ok => "✅ ok",
                Outcome::Failed => "❌ failed",
                Outcome::Interrupted => "⚠️ interrupted",
            };
            md.push_str(&format!("| {} | {outcome} | {} |\n", markdown_text(&step.name), seconds(step.duration)));
        }
        md.push('\n');
    }

    if !run.findings.is_empty() {
        md.push_str(&format!("#### Findings ({})\n\n", run.findings.len()));
        for entry in run.findings.iter().take(SUMMARY_FINDINGS_LIMIT) {
            let finding = &entry.finding;
            let place = match finding.line {
                Some(line) => format!("{}:{line}", finding.path),
                None => finding.path.clone(),
            };
            md.push_str(&format!("- **{}** {}\n", markdown_text(finding.guard), code_span(&place)));
            md.push_str(&format!("  - problem: {}\n", markdown_text(&finding.problem)));
            md.push_str(&format!("  - breaks: {}\n", markdown_text(&finding.symptom)));
            md.push_str(&format!("  - fix: {}\n", markdown_text(&finding.fix)));
        }
        if run.findings.len() > SUMMARY_FINDINGS_LIMIT {
            md.push_str(&format!(
                "- … and {} more: the log and the `--json` report list them all\n",
                run.findings.len() - SUMMARY_FINDINGS_LIMIT
            ));
        }
        md.push('\n');
    }

    // A guard failure's error only counts the findings listed above.
    if let Some(error) = run.error.as_ref().filter(|_| run.findings.is_empty()) {
        md.push_str(&format!("#### Error\n\n{}\n", code_block(error)));
    }

    if let Some(deploy) = &run.deploy {
        md.push_str("#### Deploy\n\n");
        md.push_str(&deploy_table(deploy));
        md.push('\n');
    }
    mask_credentials(&md)
}

/// The deploy record's top-level fields as a two-column table; nested values as compact JSON.
fn deploy_table(record: &serde_json::Value) -> String {
    let Some(fields) = record.as_object() else {
        return format!("{}\n", code_block(&record.to_string()));
    };
    let mut md = String::from("| field | value |\n| --- | --- |\n");
    for (key, value) in fields {
        let shown = match value {
            serde_json::Value::String(text) => markdown_text(text),
            serde_json::Value::Null => "—".to_string(),
            // Inside a table cell a pipe ends the cell, even in a code span (GFM).
            other => code_span(&other.to_string()).replace('|', "\\|"),
        };
        md.push_str(&format!("| {} | {shown} |\n", markdown_text(key)));
    }
    md
}

/// Text that renders as itself in markdown, inside a table cell or a list item.
fn markdown_text(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' => {
                escaped.push('\\');
                escaped.push(c);
            }
            '\n' | '\r' => escaped.push(' '),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// A code span that survives backticks in its content (CommonMark: a longer fence).
fn code_span(text: &str) -> String {
    let text = text.replace(['\n', '\r'], " ");
    let fence = "`".repeat(longest_backtick_run(&text) + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{text}{pad}{fence}")
}

fn code_block(text: &str) -> String {
    let fence = "`".repeat(longest_backtick_run(text).max(2) + 1);
    format!("{fence}text\n{}\n{fence}\n", text.trim_end())
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(path: &str, line: Option<u32>) -> Finding {
        let mut f = Finding::new(
            "missing-source",
            path,
            "100% broken: a, b",
            "No module named 'src'",
            "run cargo xtask lambda-build",
        );
        f.line = line;
        f
    }

    #[test]
    fn annotation_names_file_line_and_guard_and_escapes_per_github_rules() {
        assert_eq!(
            finding_annotation(&finding("infra/a,b:c.py", Some(7))),
            "::error file=infra/a%2Cb%3Ac.py,line=7,title=missing-source::100%25 broken: a, b%0Abreaks: No module named 'src'%0Afix: run cargo xtask lambda-build"
        );
    }

    #[test]
    fn annotation_without_a_line_has_no_line_property() {
        let annotation = finding_annotation(&finding("infra/lambda/functions/backend/src", None));
        assert!(annotation.starts_with("::error file=infra/lambda/functions/backend/src,title=missing-source::"));
    }

    #[test]
    fn data_escaping_keeps_colons_and_commas_but_not_newlines() {
        assert_eq!(escape_data("a:b,c\r\nd%"), "a:b,c%0D%0Ad%25");
        assert_eq!(escape_property("a:b,c\r\nd%"), "a%3Ab%2Cc%0D%0Ad%25");
    }

    #[test]
    fn failure_annotation_names_the_command_and_step() {
        assert_eq!(
            failure_annotation("lambda-build", Some("sam-build"), "sam-build: sam build failed\nexit 1"),
            "::error title=lambda-build failed at step sam-build::sam-build: sam build failed%0Aexit 1"
        );
    }

    fn conclusion(exit_status: u8, run: crate::run::record::RunRecord) -> Conclusion {
        Conclusion {
            command: "lambda-deploy".to_string(),
            ci: true,
            started_at: std::time::UNIX_EPOCH,
            duration: std::time::Duration::from_millis(1500),
            exit_status,
            run,
        }
    }

    #[test]
    fn a_deploy_record_becomes_a_table_in_the_summary() {
        let run = crate::run::record::RunRecord {
            deploy: Some(serde_json::json!({
                "env": "prod",
                "stack": "credmate-backend-prod",
                "change_set_id": null,
                "steps": [{"name": "preflight", "outcome": "ok"}],
                "result": "succeeded | no changes",
            })),
            ..Default::default()
        };
        let summary = step_summary(&conclusion(0, run));
        assert!(summary.starts_with("### ✅ `cargo xtask lambda-deploy` succeeded in 1.50s\n"), "{summary}");
        assert!(summary.contains("#### Deploy\n\n| field | value |\n| --- | --- |\n"), "{summary}");
        assert!(summary.contains("| env | prod |\n"), "{summary}");
        assert!(summary.contains("| change\\_set\\_id | — |\n"), "{summary}");
        assert!(summary.contains("| steps | `[{\"name\":\"preflight\",\"outcome\":\"ok\"}]` |\n"), "{summary}");
        // A pipe would end the cell early.
        assert!(summary.contains("| result | succeeded \\| no changes |\n"), "{summary}");
    }

    #[test]
    fn a_flood_of_findings_is_cut_short_in_the_summary_with_a_count() {
        let findings = (0..SUMMARY_FINDINGS_LIMIT + 7)
            .map(|i| crate::run::record::StepFinding {
                step: "pre-build-guards".to_string(),
                finding: finding(&format!("pkg{i}.dist-info"), None),
            })
            .collect();
        let run = crate::run::record::RunRecord { findings, ..Default::default() };
        let summary = step_summary(&conclusion(1, run));
        assert!(summary.contains(&format!("#### Findings ({})\n", SUMMARY_FINDINGS_LIMIT + 7)));
        assert_eq!(summary.matches("- **missing-source**").count(), SUMMARY_FINDINGS_LIMIT);
        assert!(summary.contains("- … and 7 more: the log and the `--json` report list them all\n"), "{summary}");
    }

    #[test]
    fn bad_input_is_summarised_with_its_one_line() {
        let run = crate::run::record::RunRecord {
            error: Some("unknown environment staging: known are dev, prod, local".to_string()),
            ..Default::default()
        };
        let summary = step_summary(&conclusion(2, run));
        assert_eq!(
            summary,
            "### ❌ `cargo xtask lambda-deploy` was refused (bad usage or configuration) (exit status 2)\n\n\
             #### Error\n\n```text\nunknown environment staging: known are dev, prod, local\n```\n\n"
        );
    }

    #[test]
    fn markdown_escapes_what_would_render_differently() {
        assert_eq!(markdown_text("__pycache__ | *.pyc"), "\\_\\_pycache\\_\\_ \\| \\*.pyc");
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(code_span("`a"), "`` `a ``");
    }
}
