//! `cargo xtask lambda-audit verify [FILE]` and `lambda-audit show [FILE]`: check the audit
//! log's hash chain and print its attempts. FILE defaults to the configured `log`
//! (`[workspace.metadata.lambda.deploy]`); outside a repository FILE is required.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::bad_input;
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

fn log_path(file: Option<&PathBuf>) -> Result<(PathBuf, String)> {
    let path = match file {
        Some(file) => file.clone(),
        None => {
            let project = Project::discover()?;
            project.path(&project.config.deploy.log)
        }
    };
    let shown = match file {
        Some(file) => file.display().to_string(),
        None => path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
    };
    if !path.is_file() {
        bad_input!("{shown}: no such audit log (lambda-deploy writes it on its first attempt); name the file: lambda-audit verify FILE")
    }
    Ok((path, shown))
}

fn verify(file: Option<&PathBuf>) -> Result<Finished> {
    let (path, shown) = log_path(file)?;
    let bytes = crate::sys::beneath::read(&path).with_context(|| format!("reading {shown}"))?;
    let verification = audit_log::verify(&bytes);
    if let Some(broken) = &verification.broken {
        println!("{shown}:{}: chain broken: line {} {}", broken.line, broken.line, broken.why);
        return Ok(Finished::failed_as_printed("the audit log's chain is broken"));
    }
    let start = match verification.unchained_start {
        0 => String::new(),
        n => format!(" (lines 1-{n} were written before the chain and are anchored by line {})", n + 1),
    };
    println!("{shown}: {} lines, chain intact{start}", verification.lines);
    Ok(Finished::without_pipeline())
}

fn show(file: Option<&PathBuf>, env: Option<&str>) -> Result<Finished> {
    let (path, shown) = log_path(file)?;
    let bytes = crate::sys::beneath::read(&path).with_context(|| format!("reading {shown}"))?;
    let text = String::from_utf8_lossy(&bytes);
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
        rows.push(row(index + 1, &record));
    }
    let widths: Vec<usize> = (0..7).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    for row in &rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        println!("{}", cells.join("  ").trim_end());
    }
    let verification = audit_log::verify(&bytes);
    match verification.broken {
        Some(broken) => println!("chain: broken at line {} (lambda-audit verify says why)", broken.line),
        None => println!("chain: intact over {} lines", verification.lines),
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
