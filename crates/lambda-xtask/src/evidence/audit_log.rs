//! The tamper-evident audit log: JSON lines, each carrying the SHA-256 of the line before it
//! (`prev_line_sha256`) and of itself (`line_sha256`), so that editing, deleting or reordering
//! any line breaks the chain at a line [`verify`] can name.
//!
//! A line is written as `{<the record's fields, prev_line_sha256>,"line_sha256":"<hex>"}`,
//! where the hex is the SHA-256 of the same text without the `line_sha256` member: a reader
//! strips that suffix, closes the brace and hashes. The first line of a new log has
//! `prev_line_sha256: null`. A log written before the chain existed is accepted as the chain's
//! start: the first chained line also carries `chain_start_sha256`, the SHA-256 of every byte
//! before it, so those unchained lines cannot change unnoticed either.
//!
//! What a chain cannot show on its own: lines removed from the end (the rest is a valid
//! chain), or a log rewritten from scratch with fresh hashes. The copy of each line in an
//! Object Lock bucket (`audit_bucket`) covers both.
//!
//! Appending takes an exclusive lock, reads the last line, writes the new one with a single
//! `write` and syncs: concurrent deploys never interleave or fork the chain, and a crash leaves
//! the whole line or none of it.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;

use super::digest::sha256_hex;

pub const PREV_FIELD: &str = "prev_line_sha256";
pub const SELF_FIELD: &str = "line_sha256";
pub const START_FIELD: &str = "chain_start_sha256";

/// Appends `record` (which must serialise to a JSON object) as the next chained line and
/// returns that line, without its line break.
pub fn append(log: &Path, record: &impl Serialize) -> Result<String> {
    let Value::Object(mut fields) = serde_json::to_value(record).context("serialising the audit record")? else {
        anyhow::bail!("an audit record must be a JSON object");
    };
    for name in [PREV_FIELD, SELF_FIELD, START_FIELD] {
        fields.remove(name);
    }
    if let Some(dir) = log.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening the audit log {}", log.display()))?;
    file.lock().with_context(|| format!("locking the audit log {}", log.display()))?;
    let mut existing = Vec::new();
    file.read_to_end(&mut existing).with_context(|| format!("reading the audit log {}", log.display()))?;

    // A last line without its line break (written by hand, or by something that crashed) is
    // still a line: it is closed first, and the chain continues from it.
    let mut prefix = String::new();
    if !existing.is_empty() && !existing.ends_with(b"\n") {
        prefix.push('\n');
        existing.push(b'\n');
    }
    match last_line(&existing) {
        None => {
            fields.insert(PREV_FIELD.into(), Value::Null);
        }
        Some(last) => {
            fields.insert(PREV_FIELD.into(), Value::String(sha256_hex(last)));
            if chained_body(last).is_none() {
                fields.insert(START_FIELD.into(), Value::String(sha256_hex(&existing)));
            }
        }
    }
    let line = seal(&serde_json::to_string(&Value::Object(fields))?);
    let mut bytes = prefix.into_bytes();
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    file.write_all(&bytes).with_context(|| format!("appending to the audit log {}", log.display()))?;
    file.sync_data().with_context(|| format!("syncing the audit log {}", log.display()))?;
    Ok(line)
}

/// `{...}` becomes `{...,"line_sha256":"<sha256 of {...}>"}`.
fn seal(body: &str) -> String {
    let hash = sha256_hex(body.as_bytes());
    let open = body.strip_suffix('}').unwrap_or(body);
    format!("{open},\"{SELF_FIELD}\":\"{hash}\"}}")
}

/// For a chained line: the text its `line_sha256` was computed over, and that hash.
fn chained_body(line: &[u8]) -> Option<(Vec<u8>, &str)> {
    let text = std::str::from_utf8(line).ok()?;
    let head = text.strip_suffix("\"}")?;
    let (open, hash) = head.rsplit_once(&format!(",\"{SELF_FIELD}\":\""))?;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut body = open.as_bytes().to_vec();
    body.push(b'}');
    Some((body, hash))
}

/// The last line of `text` (which ends with a line break), without it.
fn last_line(text: &[u8]) -> Option<&[u8]> {
    let body = text.strip_suffix(b"\n")?;
    Some(match body.iter().rposition(|&b| b == b'\n') {
        Some(at) => &body[at + 1..],
        None => body,
    })
}

/// The result of checking a log.
#[derive(Debug, PartialEq, Eq)]
pub struct Verification {
    pub lines: usize,
    /// Lines written before the chain began (an older, unchained log), accepted as its start.
    pub unchained_start: usize,
    pub broken: Option<Broken>,
}

/// The first line at which the chain does not hold, 1-based, and why.
#[derive(Debug, PartialEq, Eq)]
pub struct Broken {
    pub line: usize,
    pub why: String,
}

/// Checks the whole chain and stops at the first line that breaks it.
pub fn verify(text: &[u8]) -> Verification {
    let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let mut verification = Verification { lines: lines.len(), unchained_start: 0, broken: None };
    let mut chain_started = false;
    let mut offset = 0usize;
    for (index, line) in lines.iter().enumerate() {
        let number = index + 1;
        let line_start = offset;
        offset += line.len() + 1;
        let broken = |why: String| Some(Broken { line: number, why });
        let Some((body, hash)) = chained_body(line) else {
            if chain_started {
                verification.broken = broken(format!(
                    "has no {SELF_FIELD}: it was added or edited by something other than the xtask, or its chain fields were removed"
                ));
                return verification;
            }
            verification.unchained_start = number;
            continue;
        };
        if sha256_hex(&body) != hash {
            verification.broken = broken(format!("its content does not match its {SELF_FIELD}: the line was edited"));
            return verification;
        }
        let fields: Value = match serde_json::from_slice(&body) {
            Ok(Value::Object(fields)) => Value::Object(fields),
            _ => {
                verification.broken = broken("is not a JSON object".into());
                return verification;
            }
        };
        let prev = fields.get(PREV_FIELD);
        let start = fields.get(START_FIELD).and_then(Value::as_str);
        let expected_prev = index.checked_sub(1).map(|i| sha256_hex(lines[i]));
        match (&expected_prev, prev) {
            (None, Some(Value::Null)) => {}
            (None, _) => {
                verification.broken = broken(format!(
                    "is the first line but its {PREV_FIELD} names a line before it: the lines before it were deleted"
                ));
                return verification;
            }
            (Some(expected), Some(Value::String(found))) if found == expected => {}
            (Some(_), _) => {
                verification.broken = broken(format!(
                    "its {PREV_FIELD} is not the SHA-256 of line {index}: a line between them was deleted, lines were reordered, or line {index} was edited"
                ));
                return verification;
            }
        }
        if !chain_started && index > 0 {
            // The first chained line after an older log anchors every byte before it.
            if start != Some(sha256_hex(&text[..line_start]).as_str()) {
                verification.broken = broken(format!(
                    "its {START_FIELD} does not match lines 1-{index}, written before the chain: one of them was edited, deleted or reordered"
                ));
                return verification;
            }
        } else if start.is_some() {
            verification.broken = broken(format!(
                "carries a {START_FIELD} but is not the chain's first line: lines before it were replaced"
            ));
            return verification;
        }
        chain_started = true;
    }
    verification
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chained_log(dir: &Path, count: usize) -> std::path::PathBuf {
        let log = dir.join("deploy-log.jsonl");
        for n in 0..count {
            append(&log, &json!({"env": "prod", "attempt": n, "result": "succeeded"})).unwrap();
        }
        log
    }

    fn lines_of(log: &Path) -> Vec<String> {
        fs::read_to_string(log).unwrap().lines().map(str::to_string).collect()
    }

    fn verify_lines(lines: &[String]) -> Verification {
        verify((lines.join("\n") + "\n").as_bytes())
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let log = chained_log(dir.path(), 4);
        let verification = verify(&fs::read(&log).unwrap());
        assert_eq!(verification, Verification { lines: 4, unchained_start: 0, broken: None });
        let first: Value = serde_json::from_str(&lines_of(&log)[0]).unwrap();
        assert_eq!(first[PREV_FIELD], Value::Null);
        assert_eq!(first["attempt"], 0);
    }

    #[test]
    fn editing_any_line_names_that_line() {
        let dir = tempfile::tempdir().unwrap();
        let lines = lines_of(&chained_log(dir.path(), 4));
        for target in 0..lines.len() {
            let mut edited = lines.clone();
            edited[target] = edited[target].replace("succeeded", "failed");
            let broken = verify_lines(&edited).broken.expect("an edit went unnoticed");
            assert_eq!(broken.line, target + 1, "{broken:?}");
            assert!(broken.why.contains("edited"), "{broken:?}");
        }
    }

    #[test]
    fn an_edit_with_a_recomputed_own_hash_is_caught_by_the_next_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut lines = lines_of(&chained_log(dir.path(), 3));
        let (body, _) = chained_body(lines[1].as_bytes()).unwrap();
        let forged = String::from_utf8(body).unwrap().replace("succeeded", "failed");
        lines[1] = seal(&forged);
        let broken = verify_lines(&lines).broken.unwrap();
        assert_eq!(broken.line, 3, "{broken:?}");
        assert!(broken.why.contains("SHA-256 of line 2"), "{broken:?}");
    }

    #[test]
    fn deleting_any_line_but_the_last_names_the_line_after_the_gap() {
        let dir = tempfile::tempdir().unwrap();
        let lines = lines_of(&chained_log(dir.path(), 4));
        for target in 0..lines.len() - 1 {
            let mut cut = lines.clone();
            cut.remove(target);
            let broken = verify_lines(&cut).broken.expect("a deletion went unnoticed");
            assert_eq!(broken.line, target + 1, "deleting line {}: {broken:?}", target + 1);
            assert!(broken.why.contains("deleted"), "{broken:?}");
        }
    }

    #[test]
    fn reordering_lines_names_the_first_line_out_of_place() {
        let dir = tempfile::tempdir().unwrap();
        let lines = lines_of(&chained_log(dir.path(), 4));
        for (a, b) in [(0, 1), (1, 2), (2, 3), (0, 3)] {
            let mut swapped = lines.clone();
            swapped.swap(a, b);
            let broken = verify_lines(&swapped).broken.expect("a reorder went unnoticed");
            assert_eq!(broken.line, a + 1, "swapping {a} and {b}: {broken:?}");
        }
    }

    #[test]
    fn an_unchained_log_is_accepted_as_the_start_and_then_anchored() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("deploy-log.jsonl");
        // Two lines as the unchained writer left them, the last without its line break.
        fs::write(&log, "{\"schema\":1,\"env\":\"dev\"}\n{\"schema\":1,\"env\":\"prod\"}").unwrap();
        append(&log, &json!({"schema": 1, "env": "prod", "n": 3})).unwrap();
        append(&log, &json!({"schema": 1, "env": "prod", "n": 4})).unwrap();
        let lines = lines_of(&log);
        assert_eq!(lines.len(), 4);
        assert_eq!(verify_lines(&lines), Verification { lines: 4, unchained_start: 2, broken: None });

        let mut edited = lines.clone();
        edited[0] = edited[0].replace("dev", "qa");
        let broken = verify_lines(&edited).broken.unwrap();
        assert_eq!(broken.line, 3);
        assert!(broken.why.contains("lines 1-2, written before the chain"), "{broken:?}");

        // An unchained line slipped in after the chain began.
        let mut inserted = lines.clone();
        inserted.insert(3, "{\"env\":\"prod\",\"result\":\"succeeded\"}".into());
        assert_eq!(verify_lines(&inserted).broken.unwrap().line, 4);
    }

    #[test]
    fn concurrent_appends_keep_one_unbroken_chain() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("deploy-log.jsonl");
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for n in 0..10 {
                        append(&log, &json!({"thread": t, "n": n, "padding": "x".repeat(5000)})).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(verify(&fs::read(&log).unwrap()), Verification { lines: 60, unchained_start: 0, broken: None });
    }
}
