//! `cargo xtask lambda-audit verify [FILE]` and `lambda-audit show [FILE]`: check the audit
//! log's hash chain and print its attempts. FILE defaults to the configured `log`
//! (`[workspace.metadata.lambda.deploy]`); outside a repository FILE is required. An attempt
//! whose `started` line has no end after it (the run was killed during sam deploy) is named
//! by both.

use std::path::PathBuf;

use anyhow::Result;
use serde_json::Value;

use crate::cli::{AuditArgs, AuditCommand};
use crate::evidence::{self, audit_log};
use crate::project::config::Project;
use crate::run::record::Finished;

pub fn run(args: &AuditArgs) -> Result<Finished> {
    match &args.command {
        AuditCommand::Verify { file } => verify(file.as_ref()),
        AuditCommand::Show { file, env } => show(file.as_ref(), env.as_deref()),
    }
}

/// The log's bytes and its name as shown: the named FILE (anywhere; a regular file), else the
/// configured log beneath the repository root (never through a symlink).
fn read_log(file: Option<&PathBuf>) -> Result<(Vec<u8>, String)> {
    match file {
        Some(file) => Ok((audit_log::read_named(file)?, file.display().to_string())),
        None => {
            let project = Project::discover()?;
            let log = audit_log::LogPath::check_readable(&project.root, &project.config.deploy.log);
            Ok((log.read()?, log.shown()))
        }
    }
}

fn verify(file: Option<&PathBuf>) -> Result<Finished> {
    let (bytes, shown) = read_log(file)?;
    let verification = audit_log::verify(&bytes);
    if let Some(broken) = &verification.broken {
        say_out!("{shown}:{}: chain broken: line {} {}", broken.line, broken.line, broken.why);
        return Ok(Finished::failed_as_printed("the audit log's chain is broken"));
    }
    if verification.unanchored {
        say_out!(
            "{shown}: {} lines, none of them chained: nothing shows they are unedited (an xtask older than the chain wrote them, or their chain fields were removed); the next lambda-deploy anchors them",
            verification.lines
        );
        return Ok(Finished::failed_as_printed("the audit log is not chained"));
    }
    let start = match verification.unchained_start {
        0 => String::new(),
        n => format!(" (lines 1-{n} were written before the chain and are anchored by line {})", n + 1),
    };
    say_out!("{shown}: {} lines, chain intact{start}", verification.lines);
    for (line, id) in unfinished_attempts(&String::from_utf8_lossy(&bytes)) {
        say_out!(
            "{shown}:{line}: attempt {id} started sam deploy and recorded no end: the run was killed or lost (or is still running); check the stack"
        );
    }
    Ok(Finished::without_pipeline())
}

/// Each `started` line with no later line of its attempt: (line number, attempt id).
fn unfinished_attempts(text: &str) -> Vec<(usize, String)> {
    let records: Vec<Option<Value>> = text.lines().map(|line| serde_json::from_str(line).ok()).collect();
    let id = |record: &Value| record["attempt_id"].as_str().map(str::to_string);
    records
        .iter()
        .enumerate()
        .filter_map(|(index, record)| {
            let record = record.as_ref()?;
            let attempt = id(record)?;
            let started = record["result"] == "started";
            let ended = records[index + 1..]
                .iter()
                .flatten()
                .any(|later| id(later).as_deref() == Some(attempt.as_str()) && later["result"] != "started");
            (started && !ended).then_some((index + 1, attempt))
        })
        .collect()
}

fn show(file: Option<&PathBuf>, env: Option<&str>) -> Result<Finished> {
    let (bytes, _shown) = read_log(file)?;
    let text = String::from_utf8_lossy(&bytes);
    let unfinished: Vec<usize> = unfinished_attempts(&text).into_iter().map(|(line, _)| line).collect();
    let mut rows = vec![["line", "env", "time", "who", "commit", "artifact digest", "result"].map(String::from)];
    for (index, line) in text.lines().enumerate() {
        let Ok(record) = serde_json::from_str::<Value>(line) else {
            rows.push([
                (index + 1).to_string(),
                "?".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "unreadable".into(),
            ]);
            continue;
        };
        if env.is_some_and(|e| record["env"] != e) {
            continue;
        }
        // A started attempt that ended has its row at its end; one that never did keeps its own.
        let started = record["result"] == "started";
        if started && !unfinished.contains(&(index + 1)) {
            continue;
        }
        let mut row = row(index + 1, &record);
        if started {
            row[6] = "started, no end recorded (killed?)".into();
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..7).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    for row in &rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        say_out!("{}", cells.join("  ").trim_end());
    }
    let verification = audit_log::verify(&bytes);
    match (&verification.broken, verification.unanchored) {
        (Some(broken), _) => say_out!("chain: broken at line {} (lambda-audit verify says why)", broken.line),
        (None, true) => say_out!("chain: none (no line is chained; lambda-audit verify says more)"),
        (None, false) => say_out!("chain: intact over {} lines", verification.lines),
    }
    Ok(Finished::without_pipeline())
}

fn row(number: usize, record: &Value) -> [String; 7] {
    let text = |v: &Value| v.as_str().map(str::to_string);
    let approval = &record["approval"];
    let who = text(&approval["actor"])
        .or_else(|| text(&approval["git_identity"]))
        .or_else(|| text(&record["deployer"]))
        .unwrap_or_else(|| "-".into());
    let commit = text(&record["commit"]).map(|c| c.chars().take(12).collect()).unwrap_or_else(|| "-".into());
    let commit = if record["dirty"] == true { format!("{commit}+dirty") } else { commit };
    let artifacts: Vec<String> = record["artifacts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| Some(format!("{} {}", a["logical_id"].as_str()?, evidence::short(a["digest"].as_str()?))))
        .collect();
    let artifact = if artifacts.is_empty() { "-".to_string() } else { artifacts.join(", ") };
    let mut result = text(&record["result"]).unwrap_or_else(|| "-".into());
    if record["dry_run"] == true {
        result.push_str(" (dry run)");
    }
    [
        number.to_string(),
        text(&record["env"]).unwrap_or_else(|| "-".into()),
        text(&record["started_at"]).unwrap_or_else(|| "-".into()),
        who,
        commit,
        artifact,
        result,
    ]
}
