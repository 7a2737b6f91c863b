//! A value for a parameter the rehearsal has none for (no Default, no override), that
//! CloudFormation would accept: one of its `AllowedValues`, a string matching its
//! `AllowedPattern` within `MinLength`..`MaxLength`, a number within `MinValue`..`MaxValue`.
//! Nothing runs against it in moto, so a value that names itself (`rehearsal-tablename`) is
//! preferred where the constraints allow one; a value that breaks a constraint would send the
//! rehearsal down a path (a `!Equals` condition, a name rule) the real deploy never takes.
//!
//! `AllowedPattern` is a Java regular expression matched against the whole value. It is
//! parsed with regex-syntax (already built for `ignore`'s globs) to write a matching string,
//! and every candidate is checked with regex-automata's matcher before it is used.

use regex_automata::meta::Regex;
use regex_syntax::hir::{Class, Hir, HirKind};

use crate::project::template::{ParameterConstraints, TemplateParameter};

/// The plain types a placeholder can be written for; the AWS-specific ones (subnets, key
/// pairs, SSM parameters) need a resource of the local AWS (see `aws::moto`).
pub fn plain_value(param: &TemplateParameter) -> Option<String> {
    let c = &param.constraints;
    match param.kind.as_str() {
        "String" => string_value(&param.name, c),
        "CommaDelimitedList" => c.allowed_values.first().cloned().or_else(|| string_value(&param.name, c)),
        "Number" | "List<Number>" => number_value(c),
        _ => None,
    }
}

fn number_value(c: &ParameterConstraints) -> Option<String> {
    if let Some(first) = c.allowed_values.first() {
        return Some(first.clone());
    }
    let value = match (c.min_value, c.max_value) {
        (Some(min), Some(max)) if min > max => return None,
        (Some(min), _) if min > 1.0 => min,
        (_, Some(max)) if max < 1.0 => max,
        _ => 1.0,
    };
    Some(if value.fract() == 0.0 { format!("{}", value as i64) } else { value.to_string() })
}

fn string_value(name: &str, c: &ParameterConstraints) -> Option<String> {
    if let Some(first) = c.allowed_values.first() {
        return Some(first.clone());
    }
    let pattern = match &c.allowed_pattern {
        None => None,
        Some(text) => Some(Pattern::parse(text)?),
    };
    let own = format!("rehearsal-{}", name.to_ascii_lowercase());
    let mut candidates = vec![own, "rehearsal".to_string()];
    if let Some(pattern) = &pattern {
        candidates.extend([1, 0, 2, 4, 8, 16, 32, 64].iter().map(|&repeat| pattern.example(repeat)));
    }
    // Padding to MinLength, for a value with no pattern to follow.
    candidates.extend(c.min_length.map(|min| "r".repeat(min)));
    candidates.into_iter().find(|value| {
        let length = value.chars().count();
        c.min_length.is_none_or(|min| length >= min)
            && c.max_length.is_none_or(|max| length <= max)
            && pattern.as_ref().is_none_or(|p| p.matches(value))
    })
}

/// An `AllowedPattern`, as a matcher and as the syntax tree strings are written from.
struct Pattern {
    hir: Hir,
    whole: Regex,
}

impl Pattern {
    /// `None` when the pattern is not one regex-syntax reads (Java has constructs it lacks):
    /// then no value can be shown to match, and the user gives one.
    fn parse(text: &str) -> Option<Pattern> {
        // ASCII classes (`\d` is 0-9): the Unicode tables are not built, and a parameter's
        // values are ASCII in practice.
        let hir = regex_syntax::ParserBuilder::new().unicode(false).utf8(false).build().parse(text).ok()?;
        // CloudFormation matches the whole value, anchors or not.
        let whole = Regex::builder()
            .syntax(regex_automata::util::syntax::Config::new().unicode(false).utf8(false))
            .build(&format!(r"\A(?:{text})\z"))
            .ok()?;
        Some(Pattern { hir, whole })
    }

    fn matches(&self, value: &str) -> bool {
        self.whole.is_match(value)
    }

    /// A string the pattern matches, each repetition taken `repeat` times within its bounds.
    fn example(&self, repeat: u32) -> String {
        let mut out = String::new();
        write_example(&self.hir, repeat, &mut out);
        out
    }
}

fn write_example(hir: &Hir, repeat: u32, out: &mut String) {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => {}
        HirKind::Literal(literal) => out.push_str(&String::from_utf8_lossy(&literal.0)),
        HirKind::Class(class) => out.extend(class_example(class)),
        HirKind::Repetition(rep) => {
            let times = repeat.max(rep.min).min(rep.max.unwrap_or(u32::MAX));
            for _ in 0..times {
                write_example(&rep.sub, repeat, out);
            }
        }
        HirKind::Capture(capture) => write_example(&capture.sub, repeat, out),
        HirKind::Concat(parts) => parts.iter().for_each(|part| write_example(part, repeat, out)),
        HirKind::Alternation(options) => {
            if let Some(first) = options.first() {
                write_example(first, repeat, out);
            }
        }
    }
}

/// A readable member of the class: a lower-case letter, a digit or `-` when it has one.
fn class_example(class: &Class) -> Option<char> {
    let ranges: Vec<(char, char)> = match class {
        Class::Unicode(unicode) => unicode.ranges().iter().map(|r| (r.start(), r.end())).collect(),
        Class::Bytes(bytes) => bytes.ranges().iter().map(|r| (char::from(r.start()), char::from(r.end()))).collect(),
    };
    let contains = |c: char| ranges.iter().any(|&(start, end)| start <= c && c <= end);
    ['r', 'a', 'x', 'R', 'A', '1', '0', '-', '_'].into_iter().find(|&c| contains(c)).or_else(|| {
        ranges.iter().map(|&(start, _)| start).find(|c| !c.is_control()).or(ranges.first().map(|&(start, _)| start))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(kind: &str, constraints: ParameterConstraints) -> TemplateParameter {
        TemplateParameter { name: "TableName".into(), kind: kind.into(), default: None, no_echo: false, constraints }
    }

    fn value(kind: &str, constraints: ParameterConstraints) -> Option<String> {
        plain_value(&param(kind, constraints))
    }

    #[test]
    fn a_value_that_names_the_parameter_when_nothing_forbids_it() {
        assert_eq!(value("String", ParameterConstraints::default()).as_deref(), Some("rehearsal-tablename"));
        assert_eq!(value("Number", ParameterConstraints::default()).as_deref(), Some("1"));
        assert_eq!(value("AWS::EC2::KeyPair::KeyName", ParameterConstraints::default()), None);
    }

    #[test]
    fn allowed_values_win() {
        let c = ParameterConstraints { allowed_values: vec!["dev".into(), "prod".into()], ..Default::default() };
        assert_eq!(value("String", c.clone()).as_deref(), Some("dev"));
        assert_eq!(value("CommaDelimitedList", c).as_deref(), Some("dev"));
        let numbers = ParameterConstraints { allowed_values: vec!["128".into(), "256".into()], ..Default::default() };
        assert_eq!(value("Number", numbers).as_deref(), Some("128"));
    }

    #[test]
    fn patterns_and_lengths_are_met() {
        let cases = [
            ("^[a-z0-9-]+$", None, None),
            ("[A-Z][A-Z0-9]{2,5}", None, None),
            (r"\d{12}", None, None),
            ("^arn:aws:iam::[0-9]{12}:role/.+$", None, None),
            ("(dev|test|prod)", None, None),
            ("[a-z]*", Some(3), Some(3)),
            (r"^[a-zA-Z][-a-zA-Z0-9]*$", Some(1), Some(8)),
        ];
        for (pattern, min_length, max_length) in cases {
            let c = ParameterConstraints {
                allowed_pattern: Some(pattern.into()),
                min_length,
                max_length,
                ..Default::default()
            };
            let chosen = value("String", c).unwrap_or_else(|| panic!("no value for {pattern}"));
            assert!(Pattern::parse(pattern).unwrap().matches(&chosen), "{chosen:?} does not match {pattern}");
            let length = chosen.chars().count();
            assert!(min_length.is_none_or(|m| length >= m) && max_length.is_none_or(|m| length <= m), "{chosen:?}");
        }
    }

    #[test]
    fn numbers_stay_within_their_bounds() {
        let c = |min, max| ParameterConstraints { min_value: min, max_value: max, ..Default::default() };
        assert_eq!(value("Number", c(Some(30.0), Some(900.0))).as_deref(), Some("30"));
        assert_eq!(value("Number", c(None, Some(0.5))).as_deref(), Some("0.5"));
        assert_eq!(value("Number", c(Some(5.0), Some(1.0))), None);
    }

    #[test]
    fn a_pattern_nothing_can_be_shown_to_match_asks_the_user() {
        // Look-ahead (Java has it, regex-syntax does not): unreadable, so no value is claimed.
        let c = ParameterConstraints { allowed_pattern: Some("^(?=.*[0-9])[a-z0-9]+$".into()), ..Default::default() };
        assert_eq!(value("String", c), None);
        let c = ParameterConstraints { min_length: Some(5), max_length: Some(2), ..Default::default() };
        assert_eq!(value("String", c), None);
    }
}
