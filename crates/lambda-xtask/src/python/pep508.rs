//! PEP 508 dependency specifiers, as they appear in `Requires-Dist` and requirements.txt:
//! `name[extras] specifiers ; marker`, with markers evaluated for a Lambda runtime.
//!
//! Version numbers and specifiers are `pep440_rs`'s (the PEP 440 rules are subtle: pre-releases,
//! `~=`, `==1.*`, local versions). The requirement and marker grammar around them is small and
//! parsed here: `pep508_rs` does the same but pulls in `url`, `regex` and the ICU crates,
//! about 60 more crates and 15 s more of a cold build on a 2-core machine, for the URL form
//! (`name @ https://...`) that an installed wheel's metadata practically never uses.

use std::str::FromStr;

use anyhow::{anyhow, bail, Result};
use pep440_rs::{Version, VersionSpecifier, VersionSpecifiers};

use crate::python::wheel::normalize_name;

#[derive(Debug, Clone)]
pub struct Requirement {
    pub name: String,
    /// PEP 503 normalised.
    pub normalized: String,
    pub extras: Vec<String>,
    /// Empty when any version will do.
    pub specifiers: VersionSpecifiers,
    /// The specifiers as written, for messages (`>=1.35.0,<1.36.0`).
    pub specifiers_text: String,
    pub marker: Option<Marker>,
}

impl Requirement {
    /// True when the marker holds in `env` with the given extras requested.
    pub fn applies(&self, env: &MarkerEnv, extras: &[String]) -> bool {
        self.marker.as_ref().is_none_or(|m| m.evaluate(env, extras))
    }

    pub fn accepts(&self, version: &str) -> bool {
        match Version::from_str(version) {
            Ok(version) => self.specifiers.contains(&version),
            // An unparseable installed version satisfies only a requirement without bounds.
            Err(_) => self.specifiers.is_empty(),
        }
    }
}

impl FromStr for Requirement {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Requirement> {
        let text = text.trim();
        let name_end =
            text.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))).unwrap_or(text.len());
        let name = &text[..name_end];
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            bail!("no project name at the start of {text:?}");
        }
        let mut rest = text[name_end..].trim_start();
        let mut extras = Vec::new();
        if let Some(after) = rest.strip_prefix('[') {
            let close = after.find(']').ok_or_else(|| anyhow!("unclosed [ in {text:?}"))?;
            extras = after[..close].split(',').map(|e| normalize_name(e.trim())).filter(|e| !e.is_empty()).collect();
            rest = after[close + 1..].trim_start();
        }
        let (spec_part, marker_part) = if let Some(after) = rest.strip_prefix('@') {
            // A URL may contain ';': the marker starts only after whitespace.
            let after = after.trim_start();
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            let tail = after[end..].trim_start();
            ("", tail.strip_prefix(';'))
        } else {
            match rest.split_once(';') {
                Some((spec, marker)) => (spec, Some(marker)),
                None => (rest, None),
            }
        };
        let spec_text = spec_part.trim().trim_start_matches('(').trim_end_matches(')').trim();
        let specifiers = if spec_text.is_empty() {
            VersionSpecifiers::empty()
        } else {
            VersionSpecifiers::from_str(spec_text).map_err(|err| {
                // pep440_rs draws carets under the fault on the lines after the first.
                let err = err.to_string();
                anyhow!(
                    "bad version specifier in {text:?}: {}",
                    err.lines().next().unwrap_or_default().trim().trim_end_matches(':')
                )
            })?
        };
        let marker = match marker_part.map(str::trim).filter(|m| !m.is_empty()) {
            Some(m) => Some(Marker::parse(m).map_err(|err| anyhow!("bad marker in {text:?}: {err}"))?),
            None => None,
        };
        Ok(Requirement {
            name: name.to_string(),
            normalized: normalize_name(name),
            extras,
            specifiers_text: spec_text.split(',').map(str::trim).collect::<Vec<_>>().join(","),
            specifiers,
            marker,
        })
    }
}

/// The marker environment of the Lambda runtime a function runs on.
#[derive(Debug, Clone)]
pub struct MarkerEnv {
    pub python_version: String,
    pub python_full_version: String,
    pub platform_machine: String,
}

/// The CPython patch release taken as each Lambda runtime's `python_full_version`.
///
/// Lambda runs a patch release, not `3.X.0` once a runtime has been out a while, and moves
/// each runtime to newer patch releases without notice (never back); AWS publishes no table
/// of them. What a Requires-Python or a marker on the patch level decides in practice is
/// whether the runtime is past an early, excluded patch (cryptography's `>=3.9,!=3.9.0,
/// !=3.9.1`; `>=3.8.1`). So each runtime is taken at a patch release CPython published a
/// year or more into that runtime's life on Lambda (python3.9: 3.9.16, December 2022; the
/// runtime launched in August 2021 and ran to December 2025): past every such exclusion, and
/// still below the final patch release, below which no package's bound falls. A runtime
/// newer than the table (python3.14 and on) is taken at `3.X.0`, the release Lambda launches
/// a runtime on.
pub fn lambda_patch_release(python_minor: u32) -> u32 {
    match python_minor {
        8 => 17,
        9 => 16,
        10 => 13,
        11 => 9,
        12 => 7,
        13 => 2,
        _ => 0,
    }
}

impl MarkerEnv {
    /// CPython `3.minor` on Linux, at the patch release [`lambda_patch_release`] gives.
    pub fn lambda(python_minor: u32, platform_machine: &str) -> MarkerEnv {
        MarkerEnv {
            python_version: format!("3.{python_minor}"),
            python_full_version: format!("3.{python_minor}.{}", lambda_patch_release(python_minor)),
            platform_machine: platform_machine.to_string(),
        }
    }

    fn value(&self, variable: &str) -> Option<&str> {
        Some(match variable {
            "python_version" => &self.python_version,
            "python_full_version" | "implementation_version" => &self.python_full_version,
            "os_name" | "os.name" => "posix",
            "sys_platform" | "sys.platform" => "linux",
            "platform_system" => "Linux",
            "platform_machine" | "platform.machine" => &self.platform_machine,
            "platform_python_implementation" | "platform.python_implementation" | "python_implementation" => "CPython",
            "implementation_name" => "cpython",
            // Unknown on a build machine; markers on them are vanishingly rare in metadata.
            "platform_release" | "platform_version" | "platform.version" => "",
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    And(Box<Marker>, Box<Marker>),
    Or(Box<Marker>, Box<Marker>),
    Compare { left: Operand, op: String, right: Operand },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    Variable(String),
    Literal(String),
}

impl Marker {
    pub fn parse(text: &str) -> Result<Marker> {
        let tokens = tokenize(text)?;
        // `a or b or ...` becomes a tree as deep as it is long, and evaluating or dropping it
        // recurses that deep: a marker of a million terms would overflow the stack.
        if tokens.len() > MAX_MARKER_TOKENS {
            bail!("{} tokens: longer than any real marker (at most {MAX_MARKER_TOKENS})", tokens.len());
        }
        let mut parser = Parser { tokens, position: 0, depth: 0 };
        let marker = parser.or()?;
        if parser.position != parser.tokens.len() {
            bail!("unexpected {:?}", parser.tokens[parser.position]);
        }
        Ok(marker)
    }

    /// PEP 508 semantics: version comparison when both sides parse as PEP 440, else string
    /// comparison. `extra == "x"` holds when x is among the requested extras.
    pub fn evaluate(&self, env: &MarkerEnv, extras: &[String]) -> bool {
        match self {
            Marker::And(a, b) => a.evaluate(env, extras) && b.evaluate(env, extras),
            Marker::Or(a, b) => a.evaluate(env, extras) || b.evaluate(env, extras),
            Marker::Compare { left, op, right } => {
                let is_extra = |o: &Operand| matches!(o, Operand::Variable(v) if v == "extra");
                if is_extra(left) || is_extra(right) {
                    let wanted = match (left, right) {
                        (_, Operand::Literal(v)) | (Operand::Literal(v), _) => normalize_name(v),
                        _ => return false,
                    };
                    let requested = extras.iter().any(|e| normalize_name(e) == wanted);
                    return match op.as_str() {
                        "==" | "===" => requested,
                        "!=" => !requested,
                        _ => false,
                    };
                }
                let value = |o: &Operand| match o {
                    Operand::Literal(v) => v.clone(),
                    Operand::Variable(v) => env.value(v).unwrap_or_default().to_string(),
                };
                compare(&value(left), op, &value(right))
            }
        }
    }
}

fn compare(left: &str, op: &str, right: &str) -> bool {
    match op {
        "in" => return right.contains(left),
        "not in" => return !right.contains(left),
        "===" => return left == right,
        _ => {}
    }
    if let (Ok(version), Ok(specifier)) = (Version::from_str(left), VersionSpecifier::from_str(&format!("{op}{right}")))
    {
        return specifier.contains(&version);
    }
    match op {
        "==" => left == right,
        "!=" => left != right,
        "<" => left < right,
        "<=" => left <= right,
        ">" => left > right,
        ">=" => left >= right,
        _ => false,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    Op(String),
    Literal(String),
    Variable(String),
}

fn tokenize(text: &str) -> Result<Vec<Token>> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' || c == ')' {
            tokens.push(if c == '(' { Token::Open } else { Token::Close });
            i += 1;
        } else if c == '"' || c == '\'' {
            let end = chars[i + 1..].iter().position(|&d| d == c).ok_or_else(|| anyhow!("unclosed quote"))?;
            tokens.push(Token::Literal(chars[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
        } else if "<>=!~".contains(c) {
            let mut end = i;
            while end < chars.len() && "<>=!~".contains(chars[end]) {
                end += 1;
            }
            let op: String = chars[i..end].iter().collect();
            if !["<", "<=", ">", ">=", "==", "!=", "~=", "==="].contains(&op.as_str()) {
                bail!("unknown operator {op}");
            }
            tokens.push(Token::Op(op));
            i = end;
        } else if c.is_ascii_alphanumeric() || c == '_' {
            let mut end = i;
            while end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '_' || chars[end] == '.') {
                end += 1;
            }
            let word: String = chars[i..end].iter().collect();
            i = end;
            match word.as_str() {
                "and" => tokens.push(Token::And),
                "or" => tokens.push(Token::Or),
                "in" => tokens.push(Token::Op("in".into())),
                "not" => {
                    // Counted in chars, as `i` is: a multi-byte space must not shift it.
                    let spaces = chars[i..].iter().take_while(|c| c.is_whitespace()).count();
                    if chars[i + spaces..].iter().take(2).ne(['i', 'n'].iter()) {
                        bail!("`not` must be followed by `in`");
                    }
                    i += spaces + 2;
                    tokens.push(Token::Op("not in".into()));
                }
                _ => tokens.push(Token::Variable(word)),
            }
        } else {
            bail!("unexpected character {c:?}");
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
    /// Parentheses open around the current position: the parser recurses once per level, so
    /// a line of a hundred thousand `(` would otherwise overflow the stack and abort.
    depth: usize,
}

/// Deeper than any real marker (they nest two or three levels) and far from the stack's limit.
const MAX_MARKER_DEPTH: usize = 64;
/// Real markers have a few dozen tokens at most.
const MAX_MARKER_TOKENS: usize = 1024;

impl Parser {
    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn or(&mut self) -> Result<Marker> {
        let mut marker = self.and()?;
        while self.peek() == Some(&Token::Or) {
            self.position += 1;
            marker = Marker::Or(Box::new(marker), Box::new(self.and()?));
        }
        Ok(marker)
    }

    fn and(&mut self) -> Result<Marker> {
        let mut marker = self.atom()?;
        while self.peek() == Some(&Token::And) {
            self.position += 1;
            marker = Marker::And(Box::new(marker), Box::new(self.atom()?));
        }
        Ok(marker)
    }

    fn atom(&mut self) -> Result<Marker> {
        if self.peek() == Some(&Token::Open) {
            self.position += 1;
            self.depth += 1;
            if self.depth > MAX_MARKER_DEPTH {
                bail!("parentheses nested more than {MAX_MARKER_DEPTH} deep");
            }
            let marker = self.or()?;
            if self.next() != Some(Token::Close) {
                bail!("unclosed (");
            }
            self.depth -= 1;
            return Ok(marker);
        }
        let left = self.operand()?;
        let op = match self.next() {
            Some(Token::Op(op)) => op,
            other => bail!("expected a comparison operator, found {other:?}"),
        };
        let right = self.operand()?;
        Ok(Marker::Compare { left, op, right })
    }

    fn operand(&mut self) -> Result<Operand> {
        match self.next() {
            Some(Token::Literal(v)) => Ok(Operand::Literal(v)),
            Some(Token::Variable(v)) => Ok(Operand::Variable(v)),
            other => bail!("expected a marker variable or a quoted string, found {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> MarkerEnv {
        MarkerEnv::lambda(11, "x86_64")
    }

    fn holds(marker: &str) -> bool {
        Marker::parse(marker).unwrap().evaluate(&env(), &[])
    }

    #[test]
    fn requirement_forms_from_real_metadata_parse() {
        let r: Requirement = "typing-extensions >=4.6.0, !=4.7.0".parse().unwrap();
        assert_eq!(r.normalized, "typing-extensions");
        assert_eq!(r.specifiers_text, ">=4.6.0,!=4.7.0");
        assert!(r.accepts("4.12.2") && !r.accepts("4.7.0") && !r.accepts("4.5"));

        let r: Requirement = "botocore<2.0a.0,>=1.37.4".parse().unwrap();
        assert!(r.accepts("1.38.0") && !r.accepts("2.0.0") && !r.accepts("1.36.0"));

        let r: Requirement = "email-validator>=2.0.0; extra == \"email\"".parse().unwrap();
        assert!(!r.applies(&env(), &[]));
        assert!(r.applies(&env(), &["email".into()]));

        let r: Requirement = "Pydantic_Core[Speedups] (==2.33.2)".parse().unwrap();
        assert_eq!((r.normalized.as_str(), r.extras.as_slice()), ("pydantic-core", &["speedups".to_string()][..]));
        assert!(r.accepts("2.33.2") && !r.accepts("2.33.1"));

        let r: Requirement = "pkg @ https://example.invalid/p;x.whl ; python_version < \"3.8\"".parse().unwrap();
        assert!(r.specifiers.is_empty() && !r.applies(&env(), &[]), "the ; inside the URL is not the marker");

        assert!("".parse::<Requirement>().is_err());
        assert!(">=1.0".parse::<Requirement>().is_err());
        assert!("pkg >=>1".parse::<Requirement>().is_err());
    }

    #[test]
    fn python_version_compares_as_a_version_not_a_string() {
        assert!(holds("python_version >= \"3.8\""));
        assert!(!holds("python_version < \"3.8\""));
        assert!(holds("python_version > \"3.9\""), "3.11 > 3.9 numerically, not as strings");
        assert!(holds("\"3.12\" > python_version"));
        assert!(holds("python_full_version >= \"3.11.0\" and python_version == \"3.11\""));
        assert!(holds("python_version == \"3.*\""));
    }

    #[test]
    fn the_full_version_is_a_patch_release_lambda_ran() {
        // cryptography's Requires-Python, and a marker excluding an early patch: Lambda's
        // python3.9 is past both.
        let python39 = MarkerEnv::lambda(9, "x86_64");
        let requires = VersionSpecifiers::from_str(">=3.9, !=3.9.0, !=3.9.1").unwrap();
        assert!(requires.contains(&Version::from_str(&python39.python_full_version).unwrap()));
        assert!(Marker::parse("python_full_version >= '3.9.2'").unwrap().evaluate(&python39, &[]));
        for minor in 8..=14 {
            let env = MarkerEnv::lambda(minor, "x86_64");
            assert!(env.python_full_version.starts_with(&format!("3.{minor}.")), "{}", env.python_full_version);
        }
        assert_eq!(MarkerEnv::lambda(15, "x86_64").python_full_version, "3.15.0");
    }

    #[test]
    fn platform_markers_describe_linux_on_the_function_arch() {
        assert!(holds("sys_platform == \"linux\""));
        assert!(!holds("sys_platform == \"win32\""));
        assert!(!holds("platform_system == \"Windows\" or sys_platform == \"darwin\""));
        assert!(holds("platform_machine == \"x86_64\" and (os_name == 'posix' or os_name == 'nt')"));
        assert!(holds("'linux' in sys_platform"));
        assert!(holds("platform_python_implementation != \"PyPy\""));
        let arm = MarkerEnv::lambda(12, "aarch64");
        assert!(Marker::parse("platform_machine == \"aarch64\"").unwrap().evaluate(&arm, &[]));
    }

    #[test]
    fn extra_markers_follow_the_requested_extras() {
        let marker = Marker::parse("extra == \"AWS_Lambda\" and python_version >= \"3.7\"").unwrap();
        assert!(!marker.evaluate(&env(), &[]));
        assert!(marker.evaluate(&env(), &["aws-lambda".into()]));
        assert!(Marker::parse("extra != \"x\"").unwrap().evaluate(&env(), &[]));
    }

    #[test]
    fn malformed_markers_are_errors() {
        for bad in ["python_version", "python_version >= ", "(os_name == 'posix'", "os_name = 'posix'", "a not b"] {
            assert!(Marker::parse(bad).is_err(), "{bad}");
        }
    }

    /// `Requires-Dist` lines from real wheels' METADATA (pydantic, fastapi, boto3, watchtower,
    /// requests, uvicorn, moto): the samples the mutations start from.
    const REAL_REQUIREMENTS: &[&str] = &[
        "typing-extensions>=4.6.1",
        "pydantic-core==2.33.2",
        "email-validator>=2.0.0; extra == \"email\"",
        "tzdata; (python_version >= \"3.9\" and platform_system == \"Windows\") and extra == \"timezone\"",
        "starlette<0.47.0,>=0.40.0",
        "botocore<1.36.0,>=1.35.0",
        "s3transfer<0.11.0,>=0.10.0",
        "jmespath<2.0.0,>=0.7.1",
        "boto3<2,>=1.9.253",
        "charset_normalizer<4,>=2",
        "PySocks!=1.5.7,>=1.5.6; extra == \"socks\"",
        "uvloop!=0.15.0,!=0.15.1,>=0.14.0; (sys_platform != \"win32\" and (sys_platform != \"cygwin\" and platform_python_implementation != \"PyPy\")) and extra == \"standard\"",
        "importlib-metadata; python_version < \"3.8\"",
        "docker>=3.0.0; extra == \"all\"",
        "Pydantic_Core[Speedups] (==2.33.2)",
        "pkg @ https://example.invalid/p;x.whl ; python_version < \"3.8\"",
        "cffi>=1.12; platform_python_implementation != 'PyPy'",
        "exceptiongroup>=1.0.2; python_version < '3.11'",
    ];

    /// Parses and, when it parses, uses the requirement the way the guards do.
    fn parse_and_use(text: &str) {
        if let Ok(requirement) = text.parse::<Requirement>() {
            for env in [env(), MarkerEnv::lambda(13, "aarch64")] {
                let _ = requirement.applies(&env, &["email".into()]);
            }
            let _ = requirement.accepts("2.33.2");
            let _ = requirement.accepts("not a version");
        }
    }

    /// Words and symbols of the marker grammar, to reach deep into the parser.
    fn marker_piece() -> impl proptest::strategy::Strategy<Value = &'static str> {
        proptest::sample::select(vec![
            "(",
            ")",
            " and ",
            " or ",
            " not ",
            " in ",
            "not in",
            "==",
            "!=",
            "<",
            "<=",
            ">=",
            "~=",
            "===",
            ">>",
            "python_version",
            "python_full_version",
            "extra",
            "sys_platform",
            "platform_machine",
            "os.name",
            "'3.8'",
            "\"3.*\"",
            "'linux'",
            "\"email\"",
            "'",
            "\"",
            " ",
            "\u{3000}",
            "1.0",
            "",
        ])
    }

    proptest::proptest! {

        /// Arbitrary text as a requirement and as a marker: an error, never a panic.
        #[test]
        fn arbitrary_text_never_panics(text in "(\\PC|\\s){0,120}") {
            parse_and_use(&text);
            if let Ok(marker) = Marker::parse(&text) {
                let _ = marker.evaluate(&env(), &[]);
            }
        }

        /// Real `Requires-Dist` lines with a piece cut out and arbitrary text put in.
        #[test]
        fn mangled_real_requirements_never_panic(
            sample in proptest::sample::select(REAL_REQUIREMENTS),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            cut in 0usize..8,
            insert in "([ -~]|\\PC){0,6}",
        ) {
            let mut text = sample.to_string();
            let start = at.index(text.len() + 1);
            let end = (start + cut).min(text.len());
            text.replace_range(start..end, &insert);
            parse_and_use(&text);
        }

        /// Markers assembled from the grammar's own words: parsed and evaluated, or refused.
        #[test]
        fn assembled_markers_never_panic(pieces in proptest::collection::vec(marker_piece(), 0..24)) {
            let text = pieces.concat();
            if let Ok(marker) = Marker::parse(&text) {
                let _ = marker.evaluate(&env(), &["email".into()]);
            }
            parse_and_use(&format!("pkg>=1.0; {text}"));
        }

        /// Version specifiers of any shape: refused or compared, never a panic.
        #[test]
        fn arbitrary_specifiers_never_panic(op in marker_piece(), version in "[0-9.*!+a-z_-]{0,24}") {
            parse_and_use(&format!("pkg {op}{version}"));
            let _ = compare("3.11", op.trim(), &version);
        }
    }

    #[test]
    fn not_in_with_any_whitespace_between() {
        // `i` counts chars: a multi-byte space between `not` and `in` once shifted it past
        // the next token.
        assert!(holds("'win' not\u{3000}in sys_platform"));
        assert!(holds("'win' not   in sys_platform"));
    }

    #[test]
    fn a_marker_nested_or_chained_past_any_real_one_is_an_error_not_a_stack_overflow() {
        let nested = |depth: usize| format!("{}os_name == 'posix'{}", "(".repeat(depth), ")".repeat(depth));
        assert!(Marker::parse(&nested(100)).unwrap_err().to_string().contains("nested more than 64 deep"));
        assert!(Marker::parse(&nested(100_000)).is_err());
        let chained = vec!["os_name == 'posix'"; 100_000].join(" or ");
        assert!(Marker::parse(&chained).unwrap_err().to_string().contains("longer than any real marker"));
        assert!(format!("pkg; {chained}").parse::<Requirement>().is_err());
        // Real markers are far inside both limits.
        assert!(holds(&nested(8)));
    }
}
