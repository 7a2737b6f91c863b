//! CloudFormation YAML: yaml-rust2's loader drops tags, so `!Ref Table` would read as the plain
//! string `Table` and an environment variable set to it could not be told from one whose value
//! is really "Table". This loader keeps them the way CloudFormation itself reads them: each
//! short-form tag becomes its long form, `!Ref X` -> `{Ref: X}`, `!GetAtt A.B` ->
//! `{Fn::GetAtt: A.B}`, `!Sub s` -> `{Fn::Sub: s}`, any other `!Name v` -> `{Fn::Name: v}`.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::yaml::Hash;
use yaml_rust2::{ScanError, Yaml};

/// The documents of `text`, short-form intrinsics in their long form.
pub fn load(text: &str) -> Result<Vec<Yaml>, ScanError> {
    let mut loader = Loader::default();
    Parser::new_from_str(text).load(&mut loader, true)?;
    match loader.error {
        Some(err) => Err(err),
        None => Ok(loader.docs),
    }
}

/// The long-form key of a short-form tag: `Ref`, `Condition`, else `Fn::<Name>`.
fn long_form(tag: &Tag) -> Option<String> {
    if tag.handle != "!" || tag.suffix.is_empty() {
        return None;
    }
    Some(match tag.suffix.as_str() {
        "Ref" | "Condition" => tag.suffix.clone(),
        other => format!("Fn::{other}"),
    })
}

#[derive(Default)]
struct Loader {
    docs: Vec<Yaml>,
    /// Open collections, each with the intrinsic its tag names and its anchor.
    stack: Vec<(Yaml, Option<String>, usize)>,
    keys: Vec<Option<Yaml>>,
    anchors: std::collections::HashMap<usize, Yaml>,
    error: Option<ScanError>,
}

impl Loader {
    fn insert(&mut self, node: Yaml, intrinsic: Option<String>, anchor: usize, mark: Marker) {
        let node = match intrinsic {
            Some(key) => {
                let mut hash = Hash::new();
                hash.insert(Yaml::String(key), node);
                Yaml::Hash(hash)
            }
            None => node,
        };
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some((Yaml::Array(items), _, _)) => items.push(node),
            Some((Yaml::Hash(hash), _, _)) => {
                let key = self.keys.last_mut().expect("a key slot per open mapping");
                match key.take() {
                    None => *key = Some(node),
                    Some(k) => {
                        hash.insert(k, node);
                    }
                }
            }
            Some(_) => self.error = Some(ScanError::new(mark, "a scalar cannot hold a value")),
        }
    }
}

impl MarkedEventReceiver for Loader {
    fn on_event(&mut self, event: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match event {
            Event::SequenceStart(anchor, tag) => {
                self.stack.push((Yaml::Array(Vec::new()), tag.as_ref().and_then(long_form), anchor))
            }
            Event::MappingStart(anchor, tag) => {
                self.stack.push((Yaml::Hash(Hash::new()), tag.as_ref().and_then(long_form), anchor));
                self.keys.push(None);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if matches!(event, Event::MappingEnd) {
                    self.keys.pop();
                }
                if let Some((node, intrinsic, anchor)) = self.stack.pop() {
                    self.insert(node, intrinsic, anchor, mark);
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                let intrinsic = tag.as_ref().and_then(long_form);
                let node = if style != TScalarStyle::Plain || intrinsic.is_some() {
                    Yaml::String(value)
                } else {
                    match &tag {
                        Some(Tag { handle, .. }) if handle == "tag:yaml.org,2002:" => Yaml::String(value),
                        _ => Yaml::from_str(&value),
                    }
                };
                self.insert(node, intrinsic, anchor, mark);
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().unwrap_or(Yaml::BadValue);
                self.insert(node, None, 0, mark);
            }
            Event::DocumentEnd if self.stack.is_empty() && self.docs.is_empty() => self.docs.push(Yaml::Null),
            _ => {}
        }
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
        let docs = load(
            "A: !Ref Table\nB: !GetAtt Queue.Arn\nC: !Sub 'arn:${AWS::Partition}:x'\nD: plain\nE: !Join [',', [a, b]]\nF: 3\n",
        )
        .unwrap();
        let doc = &docs[0];
        assert_eq!(doc["A"]["Ref"].as_str(), Some("Table"));
        assert_eq!(doc["B"]["Fn::GetAtt"].as_str(), Some("Queue.Arn"));
        assert_eq!(doc["C"]["Fn::Sub"].as_str(), Some("arn:${AWS::Partition}:x"));
        assert_eq!(doc["D"].as_str(), Some("plain"));
        assert!(matches!(doc["E"]["Fn::Join"], Yaml::Array(_)));
        assert_eq!(doc["F"].as_i64(), Some(3));
        assert_eq!(describe(&doc["A"]), "!Ref Table");
        assert_eq!(describe(&doc["B"]), "!GetAtt Queue.Arn");
        assert!(is_intrinsic(&doc["C"]) && !is_intrinsic(&doc["D"]));
    }

    #[test]
    fn invalid_yaml_is_an_error() {
        assert!(load("A: [unclosed").is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,200}") {
            let _ = load(&text);
        }
    }
}
