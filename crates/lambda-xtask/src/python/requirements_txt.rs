//! A function's `requirements.txt`, read the way pip reads it, because `sam build` hands it to
//! pip: a line pip would refuse fails sam build a minute in, with pip's traceback. Checked
//! before anything changes instead, it is bad input naming the file, the line and the fix.
//!
//! What pip accepts is accepted, so a working file is never refused:
//! - blank lines and comments (`#` at the start of a line or after whitespace);
//! - lines continued with a trailing `\`, reported at their first line, as pip does;
//! - pip's own options, alone on a line or after a requirement: `-r`/`--requirement`,
//!   `-c`/`--constraint`, `-e`/`--editable`, `-i`/`--index-url`, `--extra-index-url`,
//!   `--no-index`, `-f`/`--find-links`, `--no-binary`, `--only-binary`, `--prefer-binary`,
//!   `--require-hashes`, `--pre`, `--trusted-host`, `--use-feature`, `--global-option`,
//!   `--hash`, `-C`/`--config-settings` (long ones also abbreviated, as optparse allows). The
//!   files that `-r` and `-c` name are pip's to read: they are not followed here;
//! - PEP 508 requirements (`name[extras] specifiers ; marker`, `name @ url`), and the URLs,
//!   paths and archives pip installs directly (`./wheels/x.whl`, `git+https://...`);
//! - lines with a `${VARIABLE}`, which pip expands from its environment: their text is only
//!   known when pip runs.
//!
//! Refused: a line that is none of these (`fastapi=0.115` or `fastapi 0.115`, an unclosed `[`,
//! a broken marker), an unknown option, an option missing its value, and a word after the
//! options (`a==1 --hash=sha256:... b==2`), which pip would silently ignore.

use std::str::FromStr;

use crate::python::pep508::Requirement;

/// The first line pip would refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based, the first physical line of a continued line.
    pub line: usize,
    /// What is wrong, quoting the offending text.
    pub problem: String,
}

/// One option pip accepts in a requirements file: its short and long names, and whether it
/// takes a value.
struct PipOption {
    short: Option<char>,
    long: &'static str,
    takes_value: bool,
}

const fn option(short: Option<char>, long: &'static str, takes_value: bool) -> PipOption {
    PipOption { short, long, takes_value }
}

/// pip's `SUPPORTED_OPTIONS` and `SUPPORTED_OPTIONS_REQ` (pip/_internal/req/req_file.py).
const PIP_OPTIONS: [PipOption; 18] = [
    option(Some('i'), "index-url", true),
    option(None, "pypi-url", true), // an old alias of --index-url pip still takes
    option(None, "extra-index-url", true),
    option(None, "no-index", false),
    option(Some('c'), "constraint", true),
    option(Some('r'), "requirement", true),
    option(Some('e'), "editable", true),
    option(Some('f'), "find-links", true),
    option(None, "no-binary", true),
    option(None, "only-binary", true),
    option(None, "prefer-binary", false),
    option(None, "require-hashes", false),
    option(None, "pre", false),
    option(None, "trusted-host", true),
    option(None, "use-feature", true),
    option(None, "global-option", true),
    option(None, "hash", true),
    option(Some('C'), "config-settings", true),
];

/// Archive suffixes pip installs from a path or URL (`pip._internal.utils.filetypes`).
const ARCHIVE_SUFFIXES: [&str; 12] =
    [".whl", ".zip", ".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tlz", ".tar.lz", ".tar.lzma"];

/// Checks every line; the first one pip would refuse is the error.
pub fn check(text: &str) -> Result<(), BadLine> {
    for (line, content) in logical_lines(text) {
        // The problem quotes the line, which may carry an index URL's token: masked as pip
        // masks it, so no message built from it can show the token.
        check_line(&content)
            .map_err(|problem| BadLine { line, problem: crate::sys::redact::mask_url_credentials(&problem) })?;
    }
    Ok(())
}

/// The PEP 508 requirements of the file, in order, as pip sees them: continued lines joined
/// (a hashed `name==1.0 \` followed by `--hash=...` lines is one requirement), options, URLs,
/// paths and lines pip would refuse skipped.
pub fn requirements(text: &str) -> Vec<Requirement> {
    logical_lines(text)
        .iter()
        .filter_map(|(_, line)| {
            let requirement = requirement_part(line);
            Requirement::from_str(requirement.trim()).ok()
        })
        .collect()
}

/// Like [`requirements`], each with the number of its line and the requirement as written
/// there (`aws-lambda-powertools[tracer]>=2.0`), for messages that point at the line.
pub fn requirements_as_written(text: &str) -> Vec<(usize, String, Requirement)> {
    logical_lines(text)
        .into_iter()
        .filter_map(|(line, content)| {
            let written = requirement_part(&content).trim().to_string();
            let requirement = Requirement::from_str(&written).ok()?;
            Some((line, written, requirement))
        })
        .collect()
}

/// The files a requirements file pulls in with `-r`/`--requirement` and `-c`/`--constraint`
/// (pip reads them too, relative to the including file's directory), as written, in order.
/// URLs are left out: they are not files of the repository.
pub fn included_files(text: &str) -> Vec<String> {
    let mut files = Vec::new();
    for (_, line) in logical_lines(text) {
        let mut tokens = line.split(' ').skip_while(|t| !t.starts_with('-')).map(str::trim).filter(|t| !t.is_empty());
        while let Some(token) = tokens.next() {
            let (option, inline) = if let Some(long) = token.strip_prefix("--") {
                let (name, value) = match long.split_once('=') {
                    Some((name, value)) => (name, Some(value)),
                    None => (long, None),
                };
                (long_option(name), value)
            } else if let Some(short) = token.strip_prefix('-') {
                let mut chars = short.chars();
                let option = chars.next().and_then(|c| PIP_OPTIONS.iter().find(|o| o.short == Some(c)));
                let rest = chars.as_str();
                (option, (!rest.is_empty()).then_some(rest))
            } else {
                (None, None)
            };
            let Some(option) = option else { continue };
            let value = match (option.takes_value, inline) {
                (true, Some(value)) => Some(value.to_string()),
                (true, None) => tokens.next().map(str::to_string),
                _ => None,
            };
            if let Some(value) = value.filter(|_| matches!(option.long, "requirement" | "constraint")) {
                if !value.contains("://") {
                    files.push(value);
                }
            }
        }
    }
    files
}

/// pip's `break_args_options`: the requirement is every space-separated token before the
/// first one that starts with `-`; the rest are options.
fn requirement_part(line: &str) -> String {
    line.split(' ').take_while(|token| !token.starts_with('-')).collect::<Vec<_>>().join(" ")
}

/// pip's preprocessing: continued lines joined (not after a comment), comments removed, blank
/// lines dropped. Each line comes with the number of its first physical line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    // A byte order mark is not part of the first line (pip's auto_decode drops it too).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.ends_with('\\') && !is_comment_line(line) {
            let (_, joined) = pending.get_or_insert_with(|| (number, String::new()));
            joined.push_str(line.trim_matches('\\'));
            continue;
        }
        let line = if is_comment_line(line) { format!(" {line}") } else { line.to_string() };
        match pending.take() {
            Some((first, mut joined)) => {
                joined.push_str(&line);
                lines.push((first, joined));
            }
            None => lines.push((number, line)),
        }
    }
    lines.extend(pending);
    lines
        .into_iter()
        .filter_map(|(number, line)| {
            let content = strip_comment(&line).trim().to_string();
            (!content.is_empty()).then_some((number, content))
        })
        .collect()
}

/// pip's `COMMENT_RE` anchored at the start: optional whitespace, then `#`.
fn is_comment_line(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// The line up to its comment: a `#` at the start or after whitespace (`pkg#egg` is no comment).
fn strip_comment(line: &str) -> &str {
    let mut previous_is_space = true;
    for (index, c) in line.char_indices() {
        if c == '#' && previous_is_space {
            return &line[..index];
        }
        previous_is_space = c.is_whitespace();
    }
    line
}

fn check_line(line: &str) -> Result<(), String> {
    let requirement = requirement_part(line);
    let options: Vec<&str> = line.split(' ').skip_while(|token| !token.starts_with('-')).collect();
    check_options(&options).map_err(|problem| {
        // The problem quotes the option; the line too, when it holds more than that.
        if line.contains(' ') {
            format!("{:?}: {problem}", crate::sys::quote::cut(line))
        } else {
            problem
        }
    })?;
    let requirement = requirement.trim();
    if requirement.is_empty() || requirement.contains("${") || installs_from_a_location(requirement) {
        return Ok(());
    }
    Requirement::from_str(requirement).map(|_| ()).map_err(|err| format!("{err:#}"))
}

/// A URL, a path or an archive pip installs directly rather than a PEP 508 name.
fn installs_from_a_location(requirement: &str) -> bool {
    let location = requirement.split([';', ' ', '\t']).next().unwrap_or_default();
    let lower = location.to_ascii_lowercase();
    location.contains(['/', '\\'])
        || location.starts_with('.')
        || lower.contains("://")
        || lower.starts_with("file:")
        || ARCHIVE_SUFFIXES.iter().any(|suffix| lower.ends_with(suffix))
}

/// Every option known to pip, with a value where it needs one.
fn check_options(tokens: &[&str]) -> Result<(), String> {
    let mut tokens = tokens.iter().map(|t| t.trim()).filter(|t| !t.is_empty());
    while let Some(token) = tokens.next() {
        let (option, inline_value) = if let Some(long) = token.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (long, None),
            };
            (
                long_option(name)
                    .ok_or_else(|| format!("{token:?} is not an option pip accepts in a requirements file"))?,
                value,
            )
        } else if let Some(short) = token.strip_prefix('-') {
            let mut chars = short.chars();
            let name = chars.next().ok_or_else(|| "a lone \"-\" is not a requirement or an option".to_string())?;
            let option = PIP_OPTIONS
                .iter()
                .find(|o| o.short == Some(name))
                .ok_or_else(|| format!("{token:?} is not an option pip accepts in a requirements file"))?;
            let rest = chars.as_str();
            (option, (!rest.is_empty()).then_some(rest))
        } else {
            // pip drops it without a word: what it names would never be installed.
            return Err(format!("{token:?} follows the options, where pip silently ignores it: put each requirement on a line of its own"));
        };
        match (option.takes_value, inline_value) {
            (true, Some(_)) | (false, None) => {}
            (true, None) => {
                if tokens.next().is_none() {
                    return Err(format!("--{} needs a value", option.long));
                }
            }
            (false, Some(_)) => return Err(format!("--{} takes no value", option.long)),
        }
    }
    Ok(())
}

/// A long option by its name or, as optparse allows, an unambiguous prefix of it.
fn long_option(name: &str) -> Option<&'static PipOption> {
    if let Some(exact) = PIP_OPTIONS.iter().find(|o| o.long == name) {
        return Some(exact);
    }
    let mut matching = PIP_OPTIONS.iter().filter(|o| !name.is_empty() && o.long.starts_with(name));
    match (matching.next(), matching.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(text: &str) -> BadLine {
        check(text).expect_err(text)
    }

    #[test]
    fn included_files_are_every_requirement_and_constraint_file_however_written() {
        let text = "-r ../shared-reqs.txt\n--requirement=more.txt\n-cconstraints.txt\nrequests==2.32 --hash=sha256:ab\n--constraint \\\n  pins.txt\n--requirem abbreviated.txt\n-r https://example.com/r.txt\n# -r commented.txt\n-i https://pypi.org/simple\n";
        assert_eq!(
            included_files(text),
            ["../shared-reqs.txt", "more.txt", "constraints.txt", "pins.txt", "abbreviated.txt"]
        );
    }

    #[test]
    fn what_pip_accepts_is_accepted() {
        let text = "\u{feff}# pinned runtime dependencies\n\
            \n\
            -r common.txt\n\
            --requirement=more.txt\n\
            -c constraints.txt\n\
            -i https://pypi.org/simple\n\
            --index-url https://pypi.org/simple\n\
            --extra-index-url=https://mirror.invalid/simple\n\
            --no-index\n\
            --find-links ./wheels\n\
            -f./wheels\n\
            --only-binary=:all:\n\
            --prefer-binary\n\
            --pre\n\
            --trusted-host mirror.invalid\n\
            -e ./libs/shared\n\
            --editable git+https://github.com/org/repo.git#egg=shared\n\
            fastapi==0.115.12  # the API\n\
            pydantic[email]>=2.11,<3 ; python_version >= \"3.9\"\n\
            Mangum (==0.19.0)\n\
            psycopg2-binary==2.9.11 \\\n    --hash=sha256:0123abcd \\\n    --hash=sha256:4567ef01\n\
            requests @ https://files.invalid/requests-2.32.3-py3-none-any.whl\n\
            ./wheels/orjson-3.10.0-cp311-cp311-manylinux_2_17_x86_64.whl\n\
            https://files.invalid/ujson-5.10.0.tar.gz\n\
            git+https://github.com/org/tool.git@v1#egg=tool\n\
            private-lib==${PRIVATE_LIB_VERSION}\n\
            --extra-index https://abbreviated.invalid/simple\n\
            \t\n";
        assert_eq!(check(text), Ok(()));
    }

    #[test]
    fn an_invalid_requirement_is_refused_with_its_line() {
        let err = bad("fastapi==0.115.12\n\n# ok\nfastapi=0.115.12\npydantic==2\n");
        assert_eq!(err.line, 4);
        assert!(err.problem.contains("fastapi=0.115.12"), "{err:?}");

        assert_eq!(bad("fastapi 0.115.12\n").line, 1);
        assert_eq!(bad("pydantic[email\n").line, 1);
        assert_eq!(bad("a==1\nb ; python_version >> '3'\n").line, 2);
        assert_eq!(bad("==1.0\n").line, 1);
    }

    #[test]
    fn a_continued_line_is_reported_at_its_first_line() {
        let err = bad("a==1\nbroken=\\\n1.0\n");
        assert_eq!(err.line, 2);
        // A comment ending in a backslash does not swallow the next line.
        assert_eq!(check("# see \\\nfastapi==1.0\n"), Ok(()));
    }

    #[test]
    fn unknown_options_and_missing_values_are_refused() {
        assert!(bad("--no\n").problem.contains("\"--no\" is not an option"), "ambiguous: --no-index, --no-binary");
        assert!(bad("--upgrade\n").problem.contains("\"--upgrade\" is not an option"));
        assert!(bad("-x\n").problem.contains("\"-x\" is not an option"));
        assert!(bad("-r\n").problem.contains("--requirement needs a value"));
        assert!(bad("--pre=yes\n").problem.contains("--pre takes no value"));
        assert!(bad("fastapi==1.0 --hash\n").problem.contains("--hash needs a value"));
        assert!(bad("fastapi==1.0 --hash=sha256:1 extra\n").problem.contains("\"extra\" follows the options"));
    }

    #[test]
    fn a_refused_line_is_quoted_with_its_credentials_masked() {
        let err = bad("fastapi==1\n--index-url https://deploy:TOKEN-9c8b7a@pkgs.example.com/simple --bogus-flag\n");
        assert_eq!(err.line, 2);
        assert!(err.problem.contains("https://deploy:****@pkgs.example.com/simple"), "{err:?}");
        assert!(err.problem.contains("--bogus-flag"), "{err:?}");
        assert!(!err.problem.contains("TOKEN-9c8b7a"), "{err:?}");
        let err = bad("-i=https://TOKEN-9c8b7a@pkgs.example.com/simple extra\n");
        assert!(!err.problem.contains("TOKEN-9c8b7a"), "{err:?}");
    }

    #[test]
    fn a_hash_inside_a_name_is_no_comment() {
        assert_eq!(check("git+https://github.com/org/repo.git#egg=x\n"), Ok(()));
        assert_eq!(bad("fastapi#1\n").line, 1);
    }

    #[test]
    fn requirements_are_read_through_continuations_and_options() {
        let text = "# c\n-r other.txt\n--index-url x\nfastapi==0.115.12  # web\n\nwatchtower>=3 \\\n    --hash=sha256:0123\n./local.whl\n";
        let names: Vec<String> = requirements(text).into_iter().map(|r| r.normalized).collect();
        assert_eq!(names, ["fastapi", "watchtower"]);
    }

    proptest::proptest! {
        /// Whatever the file holds: a verdict, never a panic.
        #[test]
        fn check_never_panics(text in "(\\PC|\n|\t|\\\\|#| -){0,300}") {
            let _ = check(&text);
        }

        /// A line that checks alone checks in any file around it, at its own line number.
        #[test]
        fn a_bad_line_is_found_at_its_line(good in proptest::collection::vec("[a-z]{1,8}(==[0-9]{1,3}(\\.[0-9]{1,3}){0,2})?", 0..6), at in 0usize..6) {
            let mut lines = good.clone();
            let at = at.min(lines.len());
            lines.insert(at, "broken=1.0".to_string());
            let err = check(&lines.join("\n")).unwrap_err();
            proptest::prop_assert_eq!(err.line, at + 1);
        }
    }
}
