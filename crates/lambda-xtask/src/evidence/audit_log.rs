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
//! What [`verify`] refuses besides an edited, deleted or moved line: a line that carries a
//! chain field but not a valid `line_sha256` (its hashes were stripped), a line of a record
//! schema that is always chained but carries none, a rewritten line end (a carriage return,
//! a blank line, a last line cut short), and a log in which no line is chained at all: it
//! proves nothing, so it does not verify.
//!
//! What a chain cannot show on its own: lines removed from the end (the rest is a valid
//! chain), or a log rewritten from scratch with fresh hashes. The copy of each line in an
//! Object Lock bucket (`audit_bucket`) covers both.
//!
//! The log is a regular file beneath the repository root ([`LogPath`]): it is opened through
//! real directories only, never through a symlink, never a FIFO or a device, never a file with
//! another hard link. Appending takes an exclusive lock, reads the last line, writes the new
//! one with a single `write` and syncs: concurrent deploys never interleave or fork the chain,
//! and a crash leaves the whole line or none of it.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;

use super::digest::sha256_hex;
use crate::bad_input;
use crate::sys::beneath::append::{self as beneath, Access, Found, Refusal};

pub const PREV_FIELD: &str = "prev_line_sha256";
pub const SELF_FIELD: &str = "line_sha256";
pub const START_FIELD: &str = "chain_start_sha256";

/// The record schema from which every line is written chained: a line of this schema or a
/// later one without its chain fields had them removed.
pub const FIRST_CHAINED_SCHEMA: u64 = 2;

/// The audit log's place, checked by [`LogPath::check_appendable`]: a regular file, or nothing
/// yet, beneath the repository root, reached through real directories. Every open repeats
/// the walk (`sys::beneath`), so a link swapped in after the check is refused too.
#[derive(Debug, Clone)]
pub struct LogPath {
    root: PathBuf,
    relative: PathBuf,
}

impl LogPath {
    /// Bad input unless the log can be appended to: a symlink (at the log or on the way to
    /// it), a FIFO, a socket, a device, a directory, a file with another hard link, an
    /// unwritable file or directory. Found only after `sam deploy`, an unwritable log would
    /// leave a changed stack with no record of it. Changes nothing: a missing log's deepest
    /// existing directory is probed with a file removed at once.
    pub fn check_appendable(root: &Path, relative: &Path) -> Result<LogPath> {
        let log = LogPath { root: root.to_path_buf(), relative: relative.to_path_buf() };
        let shown = log.shown();
        let setting = "set log in [workspace.metadata.lambda.deploy] to a file inside the repository";
        match beneath::probe(root, relative, Access::AppendExisting) {
            Ok(Found::File(_)) => Ok(log),
            Ok(Found::Missing { deepest, deepest_dir }) => match beneath::can_create_in(&deepest_dir) {
                Ok(()) => Ok(log),
                Err(err) => {
                    let dir = if deepest.as_os_str().is_empty() { ".".into() } else { deepest.display().to_string() };
                    bad_input!("the audit log {shown} cannot be created in {dir} ({err}): make {dir} writable, or {setting} you can append to")
                }
            },
            Err(refusal) => Err(log.bad_input(&refusal, setting)),
        }
    }

    /// The log, to read: [`LogPath::read`] refuses what the appender would.
    pub fn check_readable(root: &Path, relative: &Path) -> LogPath {
        LogPath { root: root.to_path_buf(), relative: relative.to_path_buf() }
    }

    /// The path as the configuration names it.
    pub fn shown(&self) -> String {
        crate::sys::quote::escaped_path(&self.relative)
    }

    pub fn path(&self) -> PathBuf {
        self.root.join(&self.relative)
    }

    /// The path relative to the repository root.
    pub fn relative(&self) -> &Path {
        &self.relative
    }

    /// What is wrong with the path, said of the log itself when it is the log.
    fn what(&self, refusal: &Refusal) -> String {
        match refusal {
            Refusal::Symlink { at } if at == &self.relative => "is a symlink".into(),
            other => other.to_string(),
        }
    }

    fn bad_input(&self, refusal: &Refusal, setting: &str) -> anyhow::Error {
        let shown = self.shown();
        let word = crate::sys::quote::shell(&self.relative);
        let message = match refusal {
            Refusal::Symlink { at } if at == &self.relative => format!(
                "the audit log {shown} is a symlink: the xtask never writes through a link, which could append to a file outside the repository; remove the link (rm {word}: the file it points to stays) so the next deploy creates the log, or {setting}"
            ),
            Refusal::Symlink { at } => format!(
                "the audit log {shown} passes through {}, a symlink: the xtask never writes through a link, which could lead out of the repository; make it a real directory, or {setting}",
                at.display()
            ),
            Refusal::Directory => format!("the audit log {shown} is a directory, not a file: remove it, or {setting}"),
            Refusal::Special { kind } => format!(
                "the audit log {shown} is a {kind}, not a regular file: the xtask opens nothing else; remove it (rm {word}), or {setting}"
            ),
            Refusal::HardLinked { links } => format!(
                "the audit log {shown} has {links} hard links: an append would change the other file too; give it a copy of its own (cp -p {word} {word}.copy && mv {word}.copy {word}), or {setting}"
            ),
            Refusal::NotADirectory { at } => format!(
                "the audit log {shown} cannot be created: {} is not a directory; {setting}",
                at.display()
            ),
            Refusal::NotBeneath => format!("the audit log {shown} is not a path inside the repository: {setting}"),
            Refusal::Io { err, .. } => format!(
                "the audit log {shown} cannot be appended to ({err}): make it writable, or {setting} you can append to"
            ),
        };
        anyhow::Error::new(crate::sys::exit::BadInput::new(message))
    }

    /// Appends `record` (which must serialise to a JSON object) as the next chained line and
    /// returns that line, without its line break. Every string in it is scrubbed of secrets
    /// and of the credentials in URLs first.
    pub fn append(&self, record: &impl Serialize) -> Result<String> {
        let file = beneath::open(&self.root, &self.relative, Access::AppendCreating).map_err(|refusal| {
            anyhow::anyhow!("the audit log {} {}: nothing was appended", self.shown(), self.what(&refusal))
        })?;
        append_to(file, &self.shown(), record)
    }

    /// The log's bytes, read beneath the root as it is written; bad input when it is missing
    /// or not a regular file.
    pub fn read(&self) -> Result<Vec<u8>> {
        match self.read_if_present()? {
            Some(bytes) => Ok(bytes),
            None => bad_input!(
                "{}: no such audit log (lambda-deploy writes it on its first attempt); name the file: lambda-audit verify FILE",
                self.shown()
            ),
        }
    }

    /// Like [`LogPath::read`], with `None` for a log not written yet.
    pub fn read_if_present(&self) -> Result<Option<Vec<u8>>> {
        let shown = self.shown();
        match beneath::open(&self.root, &self.relative, Access::Read) {
            Ok(mut file) => {
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes).with_context(|| format!("reading {shown}"))?;
                Ok(Some(bytes))
            }
            Err(Refusal::Io { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(refusal) => bad_input!(
                "the audit log {shown} {}: the xtask reads only a regular file inside the repository, never through a link",
                self.what(&refusal)
            ),
        }
    }
}

/// A log named on the command line (it may lie anywhere): read when it is a regular file;
/// a FIFO or a device is bad input, never waited on.
pub fn read_named(path: &Path) -> Result<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    let shown = crate::sys::quote::escaped_path(path);
    let mut file = match std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => bad_input!(
            "{shown}: no such audit log (lambda-deploy writes it on its first attempt); name the file: lambda-audit verify FILE"
        ),
        Err(err) => bad_input!("{shown}: cannot be read ({err})"),
    };
    let meta = file.metadata().with_context(|| format!("reading {shown}"))?;
    if !meta.is_file() {
        let kind = if meta.is_dir() { "a directory" } else { "not a regular file (a FIFO, a socket or a device)" };
        bad_input!("{shown} is {kind}: name the audit log file")
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).with_context(|| format!("reading {shown}"))?;
    Ok(bytes)
}

fn append_to(mut file: File, shown: &str, record: &impl Serialize) -> Result<String> {
    let mut value = serde_json::to_value(record).context("serialising the audit record")?;
    crate::sys::redact::scrub_json(&mut value);
    let Value::Object(mut fields) = value else {
        anyhow::bail!("an audit record must be a JSON object");
    };
    for name in [PREV_FIELD, SELF_FIELD, START_FIELD] {
        fields.remove(name);
    }
    file.lock().with_context(|| format!("locking the audit log {shown}"))?;
    let mut existing = Vec::new();
    file.read_to_end(&mut existing).with_context(|| format!("reading the audit log {shown}"))?;

    // A last line without its line break (written by hand, or cut short by a crash) is
    // still a line: it is closed first, and the chain continues from it (verify names it).
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
            if chained_body(last).is_none() && !existing_is_chained(&existing) {
                fields.insert(START_FIELD.into(), Value::String(sha256_hex(&existing)));
            }
        }
    }
    let line = seal(&serde_json::to_string(&Value::Object(fields))?);
    let mut bytes = prefix.into_bytes();
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    file.write_all(&bytes).with_context(|| format!("appending to the audit log {shown}"))?;
    file.sync_data().with_context(|| format!("syncing the audit log {shown}"))?;
    Ok(line)
}

/// Whether any line of the log is chained: a chain once begun is never begun again (no second
/// `chain_start_sha256`), even after a line that broke it.
fn existing_is_chained(text: &[u8]) -> bool {
    text.split(|&b| b == b'\n').any(|line| chained_body(line).is_some())
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
    /// No line is chained, so nothing shows the lines are unedited: not verified.
    pub unanchored: bool,
    pub broken: Option<Broken>,
}

impl Verification {
    /// The chain holds over every line, and there is one.
    pub fn intact(&self) -> bool {
        self.broken.is_none() && !self.unanchored
    }
}

/// The first line at which the chain does not hold, 1-based, and why.
#[derive(Debug, PartialEq, Eq)]
pub struct Broken {
    pub line: usize,
    pub why: String,
}

/// Checks the whole chain and stops at the first line that breaks it.
pub fn verify(text: &[u8]) -> Verification {
    // The appender ends every line with \n: a log that does not end with one was cut short.
    let cut_short = !text.is_empty() && !text.ends_with(b"\n");
    let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let mut verification = Verification { lines: lines.len(), unchained_start: 0, unanchored: false, broken: None };
    let mut chain_started = false;
    let mut offset = 0usize;
    for (index, line) in lines.iter().enumerate() {
        let line_start = offset;
        offset += line.len() + 1;
        let place = Place { index, lines: &lines, before: &text[..line_start], chain_started };
        let last_cut_short = cut_short && index + 1 == lines.len();
        match judge(line, &place, last_cut_short) {
            Ok(true) => chain_started = true,
            Ok(false) => verification.unchained_start = index + 1,
            Err(why) => {
                verification.broken = Some(Broken { line: index + 1, why });
                return verification;
            }
        }
    }
    if chain_started && cut_short {
        let why = "has no line end: the log was cut short after it (a crash, a full disk, or a truncation)";
        verification.broken = Some(Broken { line: lines.len(), why: why.into() });
    }
    verification.unanchored = !chain_started && !lines.is_empty();
    verification
}

/// Where a line stands in the log, for [`judge`].
struct Place<'a> {
    index: usize,
    lines: &'a [&'a [u8]],
    /// Every byte before the line.
    before: &'a [u8],
    chain_started: bool,
}

/// `Ok(true)` for a chained line that holds, `Ok(false)` for a line of the unchained start,
/// `Err(why)` for a line that breaks the chain.
fn judge(line: &[u8], place: &Place, last_cut_short: bool) -> std::result::Result<bool, String> {
    let index = place.index;
    let marked =
        [PREV_FIELD, SELF_FIELD, START_FIELD].into_iter().find(|field| contains(line, &format!("\"{field}\"")));
    if (place.chain_started || marked.is_some()) && line.contains(&b'\r') {
        return Err("holds a carriage return: its line end was rewritten (the xtask ends lines with \\n alone)".into());
    }
    let Some((body, hash)) = chained_body(line) else {
        if last_cut_short && (place.chain_started || marked.is_some()) {
            return Err("is cut short: the log ends inside it (a crash, a full disk, or a truncation)".into());
        }
        if let Some(field) = marked {
            return Err(format!(
                "carries {field} but no valid {SELF_FIELD}: its hash was removed, or the line was edited or cut short"
            ));
        }
        if place.chain_started {
            return Err(match line.is_empty() {
                true => "is empty: a line break was added".into(),
                false => format!("has no {SELF_FIELD}: it was added or edited by something other than the xtask, or its chain fields were removed"),
            });
        }
        if let Some(schema) = chained_schema(line) {
            return Err(format!(
                "is a schema {schema} record, which is always written chained, but carries no chain fields: they were removed"
            ));
        }
        return Ok(false);
    };
    if sha256_hex(&body) != hash {
        return Err(format!("its content does not match its {SELF_FIELD}: the line was edited"));
    }
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&body) else {
        return Err("is not a JSON object".into());
    };
    let prev = fields.get(PREV_FIELD);
    let start = fields.get(START_FIELD).and_then(Value::as_str);
    let expected_prev = index.checked_sub(1).map(|i| sha256_hex(place.lines[i]));
    match (&expected_prev, prev) {
        (None, Some(Value::Null)) => {}
        (None, _) => {
            return Err(format!(
                "is the first line but its {PREV_FIELD} names a line before it: the lines before it were deleted"
            ))
        }
        (Some(expected), Some(Value::String(found))) if found == expected => {}
        (Some(_), _) => {
            return Err(format!(
                "its {PREV_FIELD} is not the SHA-256 of line {index}: a line between them was deleted, lines were reordered, or line {index} was edited"
            ))
        }
    }
    if !place.chain_started && index > 0 {
        // The first chained line after an older log anchors every byte before it.
        if start != Some(sha256_hex(place.before).as_str()) {
            return Err(format!(
                "its {START_FIELD} does not match lines 1-{index}, written before the chain: one of them was edited, deleted or reordered"
            ));
        }
    } else if start.is_some() {
        return Err(format!(
            "carries a {START_FIELD} but is not the chain's first line: lines before it were replaced"
        ));
    }
    Ok(true)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    memchr::memmem::find(haystack, needle.as_bytes()).is_some()
}

/// The record's `schema` when it is one that is always written chained.
fn chained_schema(line: &[u8]) -> Option<u64> {
    let schema = serde_json::from_slice::<Value>(line).ok()?.get("schema")?.as_u64()?;
    (schema >= FIRST_CHAINED_SCHEMA).then_some(schema)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fs;

    fn append(log: &Path, record: &impl Serialize) -> Result<String> {
        let (root, relative) = (log.parent().unwrap(), Path::new(log.file_name().unwrap()));
        LogPath::check_appendable(root, relative)?.append(record)
    }

    fn chained_log(dir: &Path, count: usize) -> std::path::PathBuf {
        let log = dir.join("deploy-log.jsonl");
        for n in 0..count {
            append(&log, &json!({"schema": 2, "env": "prod", "attempt": n, "result": "succeeded"})).unwrap();
        }
        log
    }

    fn intact(lines: usize, unchained_start: usize) -> Verification {
        Verification { lines, unchained_start, unanchored: false, broken: None }
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
        assert_eq!(verification, intact(4, 0));
        assert!(verification.intact());
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
        assert_eq!(verify_lines(&lines), intact(4, 2));

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
        assert_eq!(verify(&fs::read(&log).unwrap()), intact(60, 0));
    }

    /// The faults run's forgery: every `line_sha256` stripped and a line edited verified as
    /// "chain intact, anchored by line 5" of a 4-line log.
    #[test]
    fn stripping_every_line_hash_and_editing_a_line_does_not_verify() {
        let dir = tempfile::tempdir().unwrap();
        let lines = lines_of(&chained_log(dir.path(), 4));
        let mut forged: Vec<String> = lines
            .iter()
            .map(|line| {
                let (body, _) = chained_body(line.as_bytes()).unwrap();
                String::from_utf8(body).unwrap()
            })
            .collect();
        forged[2] = forged[2].replace("succeeded", "failed");
        let verification = verify_lines(&forged);
        let broken = verification.broken.expect("a stripped chain verified");
        assert_eq!(broken.line, 1, "{broken:?}");
        assert!(broken.why.contains("carries prev_line_sha256 but no valid line_sha256"), "{broken:?}");

        // Every chain field stripped: the schema says the lines were written chained.
        let bare: Vec<String> = forged
            .iter()
            .map(|line| {
                let mut value: Value = serde_json::from_str(line).unwrap();
                value.as_object_mut().unwrap().remove(PREV_FIELD);
                value.to_string()
            })
            .collect();
        let broken = verify_lines(&bare).broken.expect("a bare schema-2 log verified");
        assert_eq!(broken.line, 1);
        assert!(broken.why.contains("always written chained"), "{broken:?}");
        // After the first chained line, a line without its chain field breaks it there.
        let mut one_stripped = lines.clone();
        one_stripped[3] = forged[3].clone();
        assert_eq!(verify_lines(&one_stripped).broken.unwrap().line, 4);
    }

    #[test]
    fn a_log_with_no_chained_line_is_not_verified() {
        let old = "{\"schema\":1,\"env\":\"dev\"}\n{\"schema\":1,\"env\":\"prod\"}\n";
        let verification = verify(old.as_bytes());
        assert_eq!(verification, Verification { lines: 2, unchained_start: 2, unanchored: true, broken: None });
        assert!(!verification.intact());
        assert!(verify(b"").intact(), "an empty log has nothing to prove");
    }

    #[test]
    fn rewritten_line_ends_break_the_chain_at_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let text = fs::read_to_string(chained_log(dir.path(), 3)).unwrap();

        let crlf = text.replace('\n', "\r\n");
        let broken = verify(crlf.as_bytes()).broken.expect("CRLF line ends verified");
        assert_eq!(broken.line, 1);
        assert!(broken.why.contains("carriage return"), "{broken:?}");

        let one_crlf = text.replacen('\n', "\r\n", 2).replacen("\r\n", "\n", 1);
        assert_eq!(verify(one_crlf.as_bytes()).broken.unwrap().line, 2);

        let blank = text.replacen('\n', "\n\n", 1);
        let broken = verify(blank.as_bytes()).broken.unwrap();
        assert_eq!(broken.line, 2);
        assert!(broken.why.contains("is empty"), "{broken:?}");

        let no_final_break = text.trim_end_matches('\n');
        let broken = verify(no_final_break.as_bytes()).broken.unwrap();
        assert_eq!(broken.line, 3);
        assert!(broken.why.contains("has no line end"), "{broken:?}");
    }

    #[test]
    fn a_line_cut_short_by_a_crash_is_named_and_the_next_append_continues_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = chained_log(dir.path(), 3);
        let text = fs::read(&log).unwrap();
        let cut = &text[..text.len() - 30];
        fs::write(&log, cut).unwrap();
        let broken = verify(cut).broken.unwrap();
        assert_eq!(broken.line, 3);
        assert!(broken.why.contains("cut short"), "{broken:?}");

        append(&log, &json!({"schema": 2, "attempt": 4})).unwrap();
        let after = fs::read(&log).unwrap();
        assert!(after.starts_with(cut), "the lines before were changed");
        assert_eq!(after.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count(), 4);
        let broken = verify(&after).broken.unwrap();
        assert_eq!(broken.line, 3, "{broken:?}");
        assert!(!String::from_utf8_lossy(&after).lines().last().unwrap().contains(START_FIELD));
    }

    #[test]
    fn secrets_and_url_credentials_never_reach_a_line() {
        crate::sys::redact::register("audit-canary-4d3c2b1a");
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("deploy-log.jsonl");
        let line = append(
            &log,
            &json!({"error": "denied for audit-canary-4d3c2b1a", "url": "https://deploy:TOKEN-5e6f@h/simple", "ok": true}),
        )
        .unwrap();
        let text = fs::read_to_string(&log).unwrap();
        assert_eq!(text, format!("{line}\n"));
        assert!(!text.contains("audit-canary-4d3c2b1a") && !text.contains("TOKEN-5e6f"), "{text}");
        assert!(text.contains("https://deploy:****@h/simple") && text.contains("[redacted]"), "{text}");
        assert!(verify(text.as_bytes()).intact());
    }

    #[test]
    fn a_symlink_swapped_in_after_the_check_is_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim.txt");
        fs::write(&victim, "untouched\n").unwrap();
        let log = LogPath::check_appendable(dir.path(), Path::new("deploy-log.jsonl")).unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join("deploy-log.jsonl")).unwrap();
        let err = log.append(&json!({"schema": 2})).unwrap_err();
        assert!(
            err.to_string().contains("deploy-log.jsonl is a symlink") || err.to_string().contains("a symlink"),
            "{err}"
        );
        assert_eq!(fs::read_to_string(&victim).unwrap(), "untouched\n");
    }

    #[test]
    fn the_configured_log_is_read_beneath_the_root_only() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogPath::check_readable(dir.path(), Path::new("deploy-log.jsonl"));
        assert_eq!(log.read_if_present().unwrap(), None);
        assert_eq!(crate::sys::exit::status_of(&log.read().unwrap_err()), crate::sys::exit::BAD_INPUT);
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("other.jsonl"), "{}\n").unwrap();
        std::os::unix::fs::symlink(outside.path().join("other.jsonl"), dir.path().join("deploy-log.jsonl")).unwrap();
        let err = log.read_if_present().unwrap_err();
        assert!(err.to_string().contains("the audit log deploy-log.jsonl is a symlink: the xtask reads only"), "{err}");
        fs::remove_file(dir.path().join("deploy-log.jsonl")).unwrap();
        let fifo = std::ffi::CString::new(dir.path().join("deploy-log.jsonl").to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let err = log.read_if_present().unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
    }

    #[test]
    fn a_named_fifo_is_refused_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("log.fifo");
        let c_fifo = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o644) }, 0);
        let err = read_named(&fifo).unwrap_err();
        assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }
}
