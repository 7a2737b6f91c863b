//! A bound on what a YAML document expands to, checked before it is loaded.
//!
//! The loader resolves each alias by copying the anchored node, so nine aliases of nine
//! aliases of ... (the "billion laughs") turn a few kilobytes into gigabytes. The event
//! parser sees each alias once, so the expanded size is counted here first, as PyYAML-based
//! loaders and kubectl do, and a document over the budget is refused. The count also says
//! whether aliases made it big: a template that is simply huge is not an alias bomb.

use std::collections::HashMap;

use libyaml_safer::{EventData, Parser};

/// Nodes a document may expand to: a large real template has tens of thousands.
pub const MAX_NODES: u64 = 1_000_000;

/// A document over the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget {
    /// The expanded size counted before stopping (at least the budget).
    pub expanded: u64,
    /// Whether aliases (`*name`) made most of it: an alias bomb, not just a big document.
    pub through_aliases: bool,
}

/// `Err` with the expanded size when the text expands past `max_nodes`. Text that does not
/// parse is left to the loader, which names the syntax error.
pub fn check(text: &str, max_nodes: u64) -> Result<(), OverBudget> {
    // See `cfn_yaml::with_final_newline`. Any other panic of the scanner leaves the text to
    // the loader, which says what it could not read, rather than ending the run.
    let text = crate::project::cfn_yaml::with_final_newline(text);
    std::panic::catch_unwind(|| count(&text, max_nodes)).unwrap_or(Ok(()))
}

fn count(text: &str, max_nodes: u64) -> Result<(), OverBudget> {
    let mut counter = Counter { anchors: HashMap::new(), open: Vec::new(), total: 0, aliased: 0 };
    let mut bytes = text.as_bytes();
    let mut parser = Parser::new();
    parser.set_input_string(&mut bytes);
    while counter.total <= max_nodes {
        match parser.parse() {
            Ok(event) if matches!(event.data, EventData::StreamEnd) => break,
            Ok(event) => counter.on_event(event.data),
            Err(_) => break,
        }
    }
    if counter.total > max_nodes {
        Err(OverBudget { expanded: counter.total, through_aliases: counter.aliased.saturating_mul(2) > counter.total })
    } else {
        Ok(())
    }
}

struct Counter {
    /// Expanded size of each anchor, by name (a later anchor of the same name replaces it).
    anchors: HashMap<String, u64>,
    /// Collections being read: (anchor, expanded size so far).
    open: Vec<(Option<String>, u64)>,
    total: u64,
    /// Nodes that aliases added.
    aliased: u64,
}

impl Counter {
    fn add(&mut self, size: u64) {
        if let Some((_, open)) = self.open.last_mut() {
            *open = open.saturating_add(size);
        }
        self.total = self.total.saturating_add(size);
    }

    fn on_event(&mut self, event: EventData) {
        match event {
            EventData::Scalar { anchor, .. } => {
                if let Some(anchor) = anchor {
                    self.anchors.insert(anchor, 1);
                }
                self.add(1);
            }
            EventData::SequenceStart { anchor, .. } | EventData::MappingStart { anchor, .. } => {
                self.open.push((anchor, 1))
            }
            EventData::SequenceEnd | EventData::MappingEnd => {
                if let Some((anchor, size)) = self.open.pop() {
                    if let Some(anchor) = anchor {
                        self.anchors.insert(anchor, size);
                    }
                    // The nodes inside were counted into `total` as they came; only the
                    // collection itself is new to the parent.
                    self.total = self.total.saturating_add(1);
                    if let Some((_, open)) = self.open.last_mut() {
                        *open = open.saturating_add(size);
                    }
                }
            }
            EventData::Alias { anchor } => {
                let size = self.anchors.get(&anchor).copied().unwrap_or(1);
                self.aliased = self.aliased.saturating_add(size);
                self.add(size);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_scalar_at_the_end_without_a_final_newline_is_counted_not_a_crash() {
        let text = "Outputs:\n  Note:\n    Value: |\n      hello";
        assert_eq!(check(text, MAX_NODES), Ok(()));
    }

    fn bomb(levels: usize) -> String {
        let mut text = String::from(
            "Metadata:\n  l0: &l0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for k in 1..=levels {
            let aliases: Vec<String> = (0..9).map(|_| format!("*l{}", k - 1)).collect();
            text.push_str(&format!("  l{k}: &l{k} [{}]\n", aliases.join(",")));
        }
        text
    }

    #[test]
    fn an_alias_bomb_is_refused_before_it_expands() {
        let text = bomb(8);
        assert!(text.len() < 8000, "{}", text.len());
        let over = check(&text, MAX_NODES).unwrap_err();
        assert!(over.expanded > MAX_NODES && over.through_aliases, "{over:?}");
    }

    #[test]
    fn a_big_document_without_aliases_is_over_but_not_through_aliases() {
        let text = format!("Metadata: [{}]\n", vec!["1"; 2_000].join(","));
        let over = check(&text, 1_000).unwrap_err();
        assert!(!over.through_aliases, "{over:?}");
        assert_eq!(check(&text, 10_000), Ok(()));
    }

    #[test]
    fn ordinary_aliases_and_documents_pass() {
        assert_eq!(check(&bomb(3), MAX_NODES), Ok(()));
        // A template's ordinary anchors: shared tags and a policy used by two functions.
        let template = "Globals:\n  Function:\n    Tags: &tags {team: payments, env: prod}\nResources:\n  A:\n    Type: AWS::Serverless::Function\n    Properties:\n      Policies: &policies [{DynamoDBReadPolicy: {TableName: t}}]\n      Tags: *tags\n  B:\n    Type: AWS::Serverless::Function\n    Properties:\n      Policies: *policies\n      Tags: *tags\n";
        assert_eq!(check(template, MAX_NODES), Ok(()));
        assert_eq!(check("a: [unclosed", MAX_NODES), Ok(()), "syntax errors are the loader's to name");
    }
}
