//! CloudFormation YAML read the way SAM CLI reads it (`samcli.yamlhelper.yaml_parse`): JSON
//! first, else PyYAML's `SafeLoader` with CloudFormation's short-form tags.
//!
//! - The parser is libyaml's (the `libyaml-safer` port): PyYAML's pure-Python parser and
//!   libyaml are the same design by the same author, so what one accepts the other does.
//!   yaml-rust2's parser refused templates SAM builds (a flow sequence whose closing bracket is
//!   less indented than its items; `ID: !Select [...]` on its own line inside `[ ]`).
//! - Plain scalars are typed by YAML 1.1's rules, as PyYAML types them (`yes` is true, `017`
//!   is 15, `012345678901` stays a string, `1:30` is 90), timestamps stay strings (SAM's
//!   override), merge keys (`<<: *defaults`) are applied.
//! - Each short-form tag becomes its long form, `!Ref X` -> `{Ref: X}`, `!GetAtt A.B.C` ->
//!   `{Fn::GetAtt: [A, B.C]}`, `!Sub s` -> `{Fn::Sub: s}`, any other `!Name v` ->
//!   `{Fn::Name: v}`; a tagged scalar is a string whatever it looks like.
//!
//! The tree is yaml-rust2's [`Yaml`] (an ordered map with indexing that yields `BadValue` for
//! what is missing), which the rest of the crate reads.

use std::collections::HashMap;
use std::fmt;

use libyaml_safer::{EventData, Parser};
use yaml_rust2::yaml::Hash;
use yaml_rust2::Yaml;

/// Why a template could not be read: libyaml's message with its line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError(pub String);

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The one document of `text` (`Yaml::Null` when there is none), short-form intrinsics in
/// their long form. Several documents are an error, as they are to SAM.
pub fn load(text: &str) -> Result<Yaml, YamlError> {
    if let Ok(json) = serde_json::from_str::<JsonNode>(text) {
        return Ok(json.0);
    }
    let text = with_final_newline(text);
    std::panic::catch_unwind(|| load_yaml(&text)).unwrap_or_else(|_| {
        Err(YamlError("the YAML parser stopped at an unexpected end of the text (libyaml-safer panicked)".to_string()))
    })
}

/// libyaml-safer 0.3 panics ("unexpected end of input") on a block scalar that ends the text
/// without a final newline, which PyYAML (sam) reads fine: the text gets one. Every parse of
/// a template goes through here (this loader and the size budget).
pub fn with_final_newline(text: &str) -> std::borrow::Cow<'_, str> {
    if text.ends_with('\n') {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(format!("{text}\n"))
    }
}

fn load_yaml(text: &str) -> Result<Yaml, YamlError> {
    let mut bytes = text.as_bytes();
    let mut parser = Parser::new();
    parser.set_input_string(&mut bytes);
    let mut loader = Loader::default();
    loop {
        let event = parser.parse().map_err(|err| YamlError(libyaml_message(&err)))?;
        let line = event.start_mark.line;
        match event.data {
            EventData::StreamEnd => break,
            data => loader.on_event(data).map_err(|problem| YamlError(format!("line {line}: {problem}")))?,
        }
    }
    Ok(loader.document.unwrap_or(Yaml::Null))
}

/// libyaml's message without its `Parser error: ` prefix.
pub fn libyaml_message(err: &libyaml_safer::Error) -> String {
    let text = err.to_string();
    match text.split_once(" error: ") {
        Some((kind, rest)) if !kind.contains(' ') => rest.to_string(),
        _ => text,
    }
}

/// The long-form key of a local tag: `Ref`, `Condition`, else `Fn::<Name>`; `None` for the
/// non-specific `!` and for `tag:yaml.org,2002:` tags.
fn long_form(tag: &str) -> Option<String> {
    let name = tag.strip_prefix('!')?;
    if name.is_empty() {
        return None;
    }
    Some(match name {
        "Ref" | "Condition" => name.to_string(),
        other => format!("Fn::{other}"),
    })
}

/// An open collection.
enum Frame {
    Sequence { items: Vec<Yaml>, tag: Option<String>, anchor: Option<String> },
    Mapping(MappingFrame),
}

#[derive(Default)]
struct MappingFrame {
    tag: Option<String>,
    anchor: Option<String>,
    /// Key and value, in order, as written.
    pairs: Vec<(Yaml, Yaml)>,
    /// The values of its `<<` keys, in order.
    merges: Vec<Yaml>,
    /// A key waiting for its value; `true` when it is the merge key `<<`.
    key: Option<(Yaml, bool)>,
}

impl MappingFrame {
    /// The mapping as the PyYAML of SAM CLI (6.0.4) makes it in `flatten_mapping` and
    /// `construct_pairs`: the merged mappings' pairs first, in order, then its own; a later
    /// duplicate key replaces the value and keeps the first one's place. So of `<<: [*a, *b]`
    /// the last mapping wins, not the first as the YAML merge spec has it (PyYAML skips a key
    /// it merged before only when it is the same Python object, which CPython makes true for
    /// one-character keys alone: not followed here).
    fn finish(self) -> Result<Yaml, String> {
        let mut pairs = Vec::new();
        for merge in self.merges {
            match merge {
                Yaml::Hash(hash) => pairs.extend(hash),
                Yaml::Array(items) => {
                    for item in items {
                        match item {
                            Yaml::Hash(hash) => pairs.extend(hash),
                            _ => return Err("expected a mapping for merging (<<)".into()),
                        }
                    }
                }
                _ => return Err("expected a mapping or list of mappings for merging (<<)".into()),
            }
        }
        pairs.extend(self.pairs);
        let mut hash = Hash::new();
        for (key, value) in pairs {
            match hash.get_mut(&key) {
                Some(slot) => *slot = value,
                None => {
                    hash.insert(key, value);
                }
            }
        }
        Ok(Yaml::Hash(hash))
    }
}

#[derive(Default)]
struct Loader {
    document: Option<Yaml>,
    documents: usize,
    stack: Vec<Frame>,
    anchors: HashMap<String, Yaml>,
}

impl Loader {
    fn on_event(&mut self, event: EventData) -> Result<(), String> {
        match event {
            EventData::DocumentStart { .. } => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err("expected a single document in the stream, but found another document".into());
                }
            }
            EventData::SequenceStart { anchor, tag, .. } => {
                self.stack.push(Frame::Sequence { items: Vec::new(), tag, anchor });
            }
            EventData::MappingStart { anchor, tag, .. } => {
                self.stack.push(Frame::Mapping(MappingFrame { tag, anchor, ..MappingFrame::default() }));
            }
            EventData::SequenceEnd | EventData::MappingEnd => {
                let (node, tag, anchor) = match self.stack.pop() {
                    Some(Frame::Sequence { items, tag, anchor }) => (Yaml::Array(items), tag, anchor),
                    Some(Frame::Mapping(mut frame)) => {
                        let (tag, anchor) = (frame.tag.take(), frame.anchor.take());
                        (frame.finish()?, tag, anchor)
                    }
                    None => return Err("a collection ends that never started".into()),
                };
                self.insert(tagged(node, tag.as_deref()), anchor, false)?;
            }
            EventData::Scalar { anchor, tag, value, plain_implicit, .. } => {
                let untagged = tag.as_deref().is_none_or(|t| t == "!");
                let merge = untagged && plain_implicit && value == "<<";
                let node = match tag.as_deref() {
                    _ if untagged && plain_implicit => resolve_plain(&value),
                    _ if untagged => Yaml::String(value),
                    Some(tag) => match long_form(tag) {
                        Some(_) => tagged(Yaml::String(value), Some(tag)),
                        None => resolve_explicit(tag, value),
                    },
                    None => Yaml::String(value),
                };
                self.insert(node, anchor, merge)?;
            }
            EventData::Alias { anchor } => {
                let Some(node) = self.anchors.get(&anchor).cloned() else {
                    return Err(format!("found undefined alias {anchor:?}"));
                };
                self.insert(node, None, false)?;
            }
            EventData::StreamStart { .. } | EventData::DocumentEnd { .. } | EventData::StreamEnd => {}
        }
        Ok(())
    }

    /// Puts a finished node where it belongs: into the open collection, or as the document.
    fn insert(&mut self, node: Yaml, anchor: Option<String>, merge_key: bool) -> Result<(), String> {
        if let Some(anchor) = anchor {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.document = Some(node),
            Some(Frame::Sequence { items, .. }) => items.push(node),
            Some(Frame::Mapping(frame)) => match frame.key.take() {
                None => frame.key = Some((node, merge_key)),
                Some((_, true)) => frame.merges.push(node),
                Some((key, false)) => frame.pairs.push((key, node)),
            },
        }
        Ok(())
    }
}

/// A node under a local tag in its long form; `!GetAtt A.B.C` as `[A, B.C]`, as SAM splits it.
fn tagged(node: Yaml, tag: Option<&str>) -> Yaml {
    let Some(key) = tag.and_then(long_form) else { return node };
    let node = match (key.as_str(), node) {
        ("Fn::GetAtt", Yaml::String(dotted)) => match dotted.split_once('.') {
            Some((resource, attribute)) => {
                Yaml::Array(vec![Yaml::String(resource.into()), Yaml::String(attribute.into())])
            }
            None => Yaml::Array(vec![Yaml::String(dotted)]),
        },
        (_, node) => node,
    };
    let mut hash = Hash::new();
    hash.insert(Yaml::String(key), node);
    Yaml::Hash(hash)
}

/// A scalar with an explicit `!!type` tag.
fn resolve_explicit(tag: &str, value: String) -> Yaml {
    match tag.strip_prefix("tag:yaml.org,2002:") {
        Some("int") => int(&value).unwrap_or(Yaml::String(value)),
        Some("float") => float(&value).unwrap_or(Yaml::String(value)),
        Some("bool") => boolean(&value).unwrap_or(Yaml::String(value)),
        Some("null") => Yaml::Null,
        _ => Yaml::String(value),
    }
}

/// A plain scalar typed by YAML 1.1's implicit rules, as PyYAML's resolver does. A timestamp
/// stays a string: SAM maps the timestamp tag to str.
pub fn resolve_plain(value: &str) -> Yaml {
    if matches!(value, "" | "~" | "null" | "Null" | "NULL") {
        return Yaml::Null;
    }
    boolean(value)
        .or_else(|| float(value).filter(|_| is_yaml11_float(value)))
        .or_else(|| int(value).filter(|_| is_yaml11_int(value)))
        .unwrap_or_else(|| Yaml::String(value.to_string()))
}

fn boolean(value: &str) -> Option<Yaml> {
    match value {
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Some(Yaml::Boolean(true)),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Some(Yaml::Boolean(false)),
        _ => None,
    }
}

/// `[-+]` then the rest, and the sign as a factor.
fn split_sign(value: &str) -> (i128, &str) {
    match value.as_bytes().first() {
        Some(b'-') => (-1, &value[1..]),
        Some(b'+') => (1, &value[1..]),
        _ => (1, value),
    }
}

/// YAML 1.1's int forms: `0b1`, `017` (octal), `0x1F`, decimal, `1:30` (base 60); `_` ignored.
fn is_yaml11_int(value: &str) -> bool {
    let (_, digits) = split_sign(value);
    let all = |s: &str, ok: fn(u8) -> bool| !s.is_empty() && s.bytes().all(|b| b == b'_' || ok(b));
    if let Some(rest) = digits.strip_prefix("0b") {
        return all(rest, |b| b == b'0' || b == b'1');
    }
    if let Some(rest) = digits.strip_prefix("0x") {
        return all(rest, |b| b.is_ascii_hexdigit());
    }
    if let Some(rest) = digits.strip_prefix('0') {
        return rest.is_empty() || all(rest, |b| (b'0'..=b'7').contains(&b));
    }
    let mut parts = digits.split(':');
    let head = parts.next().unwrap_or_default();
    if !head.starts_with(|c: char| ('1'..='9').contains(&c)) || !all(head, |b| b.is_ascii_digit()) {
        return false;
    }
    parts.all(is_sexagesimal_part)
}

/// `[0-5]?[0-9]`.
fn is_sexagesimal_part(part: &str) -> bool {
    match part.as_bytes() {
        [d] => d.is_ascii_digit(),
        [t, d] => (b'0'..=b'5').contains(t) && d.is_ascii_digit(),
        _ => false,
    }
}

fn int(value: &str) -> Option<Yaml> {
    let cleaned = value.replace('_', "");
    let (sign, digits) = split_sign(&cleaned);
    let magnitude: i128 = if let Some(rest) = digits.strip_prefix("0b") {
        i128::from_str_radix(rest, 2).ok()?
    } else if let Some(rest) = digits.strip_prefix("0x") {
        i128::from_str_radix(rest, 16).ok()?
    } else if digits == "0" {
        0
    } else if let Some(rest) = digits.strip_prefix('0') {
        i128::from_str_radix(rest, 8).ok()?
    } else if digits.contains(':') {
        digits.split(':').try_fold(0i128, |total, part| Some(total * 60 + part.parse::<i128>().ok()?))?
    } else {
        digits.parse().ok()?
    };
    match i64::try_from(sign * magnitude) {
        Ok(small) => Some(Yaml::Integer(small)),
        // Beyond i64: kept as the number it is, in decimal.
        Err(_) => Some(Yaml::Real((sign * magnitude).to_string())),
    }
}

/// YAML 1.1's float forms: `1.5`, `1.`, `.5`, `1.5e+3` (the exponent's sign is required),
/// `1:30.5` (base 60), `.inf`, `.nan`; `_` ignored.
fn is_yaml11_float(value: &str) -> bool {
    let (_, body) = split_sign(value);
    if matches!(body, ".inf" | ".Inf" | ".INF") || matches!(value, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    if let Some(exponent) = exponent {
        let signed = exponent.starts_with(['-', '+']) && exponent.len() > 1;
        if !signed || !exponent[1..].bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    let Some((whole, fraction)) = mantissa.split_once('.') else { return false };
    let digits_or_underscore = |s: &str| s.bytes().all(|b| b == b'_' || b.is_ascii_digit());
    if !digits_or_underscore(fraction) {
        return false;
    }
    if whole.is_empty() {
        // `.5`: a digit must follow the dot, and no sign may precede it... PyYAML allows none.
        return value == body && fraction.starts_with(|c: char| c.is_ascii_digit());
    }
    let mut parts = whole.split(':');
    let head = parts.next().unwrap_or_default();
    let head_ok = head.starts_with(|c: char| c.is_ascii_digit()) && digits_or_underscore(head);
    if whole.contains(':') {
        return exponent.is_none() && head_ok && parts.all(is_sexagesimal_part);
    }
    head_ok
}

fn float(value: &str) -> Option<Yaml> {
    let cleaned = value.replace('_', "").to_ascii_lowercase();
    let (sign, body) = split_sign(&cleaned);
    let number: f64 = match body {
        ".inf" => f64::INFINITY,
        ".nan" => f64::NAN,
        _ if body.contains(':') => {
            body.split(':').try_fold(0f64, |total, part| Some(total * 60.0 + part.parse::<f64>().ok()?))?
        }
        _ => body.parse().ok()?,
    };
    Some(Yaml::Real(format!("{:?}", sign as f64 * number)))
}

/// A JSON document as SAM's `json.loads` reads it, in key order (a later duplicate key
/// replaces the value and keeps the first one's place).
struct JsonNode(Yaml);

impl<'de> serde::Deserialize<'de> for JsonNode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor).map(JsonNode)
    }
}

struct JsonVisitor;

impl<'de> serde::de::Visitor<'de> for JsonVisitor {
    type Value = Yaml;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Yaml, E> {
        Ok(Yaml::Boolean(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Yaml, E> {
        Ok(Yaml::Integer(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Yaml, E> {
        Ok(i64::try_from(v).map(Yaml::Integer).unwrap_or_else(|_| Yaml::Real(v.to_string())))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Yaml, E> {
        Ok(Yaml::Real(format!("{v:?}")))
    }
    fn visit_str<E>(self, v: &str) -> Result<Yaml, E> {
        Ok(Yaml::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Yaml, E> {
        Ok(Yaml::String(v))
    }
    fn visit_unit<E>(self) -> Result<Yaml, E> {
        Ok(Yaml::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Yaml, A::Error> {
        let mut items = Vec::new();
        while let Some(JsonNode(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Yaml::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Yaml, A::Error> {
        let mut hash = Hash::new();
        while let Some((key, JsonNode(value))) = map.next_entry::<String, JsonNode>()? {
            let key = Yaml::String(key);
            match hash.get_mut(&key) {
                Some(slot) => *slot = value,
                None => {
                    hash.insert(key, value);
                }
            }
        }
        Ok(Yaml::Hash(hash))
    }
}

/// A value as a short, readable name of what it is: a plain scalar as written, an intrinsic as
/// its short form (`!Ref Table`, `!GetAtt Queue.Arn`, `!Sub arn:...`).
pub fn describe(node: &Yaml) -> String {
    match node {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        Yaml::Hash(hash) if hash.len() == 1 => {
            let (key, value) = hash.iter().next().expect("one entry");
            let name = key.as_str().unwrap_or("?");
            let short = name.strip_prefix("Fn::").unwrap_or(name);
            let value = match value {
                Yaml::Array(items) if short == "GetAtt" => items.iter().map(describe).collect::<Vec<_>>().join("."),
                Yaml::Array(items) => items.iter().map(describe).collect::<Vec<_>>().join(", "),
                other => describe(other),
            };
            format!("!{short} {value}")
        }
        Yaml::Array(items) => items.iter().map(describe).collect::<Vec<_>>().join(", "),
        _ => String::new(),
    }
}

/// True when the node is an intrinsic function (`{Ref: ..}`, `{Fn::..: ..}`).
pub fn is_intrinsic(node: &Yaml) -> bool {
    match node {
        Yaml::Hash(hash) if hash.len() == 1 => hash
            .keys()
            .next()
            .and_then(Yaml::as_str)
            .is_some_and(|k| k == "Ref" || k == "Condition" || k.starts_with("Fn::")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms_become_long_forms() {
        let doc = load(
            "A: !Ref Table\nB: !GetAtt Queue.Arn\nC: !Sub 'arn:${AWS::Partition}:x'\nD: plain\nE: !Join [',', [a, b]]\nF: 3\nG: !GetAtt Db.Endpoint.Address\nH: !Ref 5\n",
        )
        .unwrap();
        assert_eq!(doc["A"]["Ref"].as_str(), Some("Table"));
        assert_eq!(doc["B"]["Fn::GetAtt"], Yaml::Array(vec![Yaml::String("Queue".into()), Yaml::String("Arn".into())]));
        assert_eq!(doc["C"]["Fn::Sub"].as_str(), Some("arn:${AWS::Partition}:x"));
        assert_eq!(doc["D"].as_str(), Some("plain"));
        assert!(matches!(doc["E"]["Fn::Join"], Yaml::Array(_)));
        assert_eq!(doc["F"].as_i64(), Some(3));
        assert_eq!(doc["G"]["Fn::GetAtt"][1].as_str(), Some("Endpoint.Address"));
        assert_eq!(doc["H"]["Ref"].as_str(), Some("5"), "a tagged scalar is a string");
        assert_eq!(describe(&doc["A"]), "!Ref Table");
        assert_eq!(describe(&doc["B"]), "!GetAtt Queue.Arn");
        assert!(is_intrinsic(&doc["C"]) && !is_intrinsic(&doc["D"]));
    }

    #[test]
    fn plain_scalars_are_typed_as_pyyaml_types_them() {
        let doc = load(
            "a: yes\nb: off\nc: 017\nd: 012345678901\ne: 1:30\nf: 1.5e3\ng: 1.5e+3\nh: 0x_1F\ni: 1_000\nj: 2024-01-01\nk: ~\nl:\nm: '5'\nn: !!str 5\no: ! 5\np: .5\nq: 08\nr: 0o17\ns: 1.\nt: 190:20:30.15\n",
        )
        .unwrap();
        assert_eq!(doc["a"], Yaml::Boolean(true));
        assert_eq!(doc["b"], Yaml::Boolean(false));
        assert_eq!(doc["c"], Yaml::Integer(15));
        assert_eq!(doc["d"].as_str(), Some("012345678901"), "an account id is not a number");
        assert_eq!(doc["e"], Yaml::Integer(90));
        assert_eq!(doc["f"].as_str(), Some("1.5e3"));
        assert_eq!(doc["g"].as_f64(), Some(1500.0));
        assert_eq!(doc["h"], Yaml::Integer(31));
        assert_eq!(doc["i"], Yaml::Integer(1000));
        assert_eq!(doc["j"].as_str(), Some("2024-01-01"));
        assert_eq!((&doc["k"], &doc["l"]), (&Yaml::Null, &Yaml::Null));
        assert_eq!(doc["m"].as_str(), Some("5"));
        assert_eq!(doc["n"].as_str(), Some("5"));
        assert_eq!(doc["o"], Yaml::Integer(5));
        assert_eq!(doc["p"].as_f64(), Some(0.5));
        assert_eq!(doc["q"].as_str(), Some("08"));
        assert_eq!(doc["r"].as_str(), Some("0o17"));
        assert_eq!(doc["s"].as_f64(), Some(1.0));
        assert!((doc["t"].as_f64().unwrap() - 685_230.15).abs() < 1e-6);
    }

    #[test]
    fn merge_keys_apply_as_sam_cli_applies_them() {
        let doc = load(
            "base: &base {Runtime: python3.11, Handler: a.h}\nother: &other {Runtime: python3.12, CodeUri: x}\nown: {<<: *base, Runtime: python3.9}\nlist: {<<: [*base, *other]}\nquoted: {'<<': 1}\n",
        )
        .unwrap();
        assert_eq!(doc["own"]["Runtime"].as_str(), Some("python3.9"), "its own key wins");
        assert_eq!(doc["own"]["Handler"].as_str(), Some("a.h"));
        assert_eq!(doc["list"]["Runtime"].as_str(), Some("python3.12"), "as SAM reads it: the last mapping wins");
        assert_eq!(doc["list"]["CodeUri"].as_str(), Some("x"));
        assert_eq!(doc["quoted"]["<<"], Yaml::Integer(1), "a quoted << is a plain key");
    }

    #[test]
    fn duplicate_keys_keep_the_last_value_in_the_first_place() {
        let doc = load("a: 1\nb: 2\na: 3\n").unwrap();
        let keys: Vec<&str> = doc.as_hash().unwrap().keys().filter_map(Yaml::as_str).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(doc["a"], Yaml::Integer(3));
    }

    #[test]
    fn json_is_read_as_json() {
        let doc = load("{\"a\": 1e5, \"b\": \"x\", \"a2\": [1, 2.5, null, true]}").unwrap();
        assert_eq!(doc["a"].as_f64(), Some(100000.0), "JSON's 1e5 is a number, YAML 1.1's a string");
        assert_eq!(doc["a2"][1].as_f64(), Some(2.5));
    }

    #[test]
    fn errors_name_the_line_and_several_documents_are_refused() {
        let err = load("A: [unclosed\nB: 1\n").unwrap_err();
        assert!(err.0.contains("line"), "{err}");
        let err = load("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(err.0.contains("single document"), "{err}");
        let err = load("a: *nowhere\n").unwrap_err();
        assert!(err.0.contains("undefined alias"), "{err}");
        assert_eq!(load("").unwrap(), Yaml::Null);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,200}") {
            let _ = load(&text);
        }

        #[test]
        fn plain_scalars_never_panic(text in "[-+0-9._:xXbeE]{0,12}") {
            let _ = resolve_plain(&text);
        }
    }
}
