//! A bound on what a YAML document expands to, checked before it is loaded.
//!
//! yaml-rust2 resolves each alias by copying the anchored node, so nine aliases of nine
//! aliases of ... (the "billion laughs") turn a few kilobytes into gigabytes. The event
//! parser sees each alias once, so the expanded size is counted here first, as PyYAML-based
//! loaders and kubectl do, and a document over the budget is refused.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Nodes a document may expand to: a large real template has tens of thousands.
pub const MAX_NODES: u64 = 1_000_000;

/// `Err` with the expanded size when the text expands past `max_nodes`. Text that does not
/// parse is left to the loader, which names the syntax error.
pub fn check(text: &str, max_nodes: u64) -> Result<(), u64> {
    let mut counter = Counter { max_nodes, anchors: Vec::new(), open: Vec::new(), total: 0 };
    let _ = Parser::new_from_str(text).load(&mut counter, true);
    if counter.total > max_nodes {
        Err(counter.total)
    } else {
        Ok(())
    }
}

struct Counter {
    max_nodes: u64,
    /// Expanded size of each anchor, by the parser's anchor id.
    anchors: Vec<u64>,
    /// Collections being read: (anchor id, expanded size so far).
    open: Vec<(usize, u64)>,
    total: u64,
}

impl Counter {
    fn add(&mut self, size: u64) {
        if let Some((_, open)) = self.open.last_mut() {
            *open = open.saturating_add(size);
        }
        self.total = self.total.saturating_add(size);
    }

    fn remember(&mut self, anchor: usize, size: u64) {
        if anchor == 0 {
            return;
        }
        if self.anchors.len() <= anchor {
            self.anchors.resize(anchor + 1, 1);
        }
        self.anchors[anchor] = size;
    }
}

impl MarkedEventReceiver for Counter {
    fn on_event(&mut self, event: Event, _mark: Marker) {
        let counter = self;
        if counter.total > counter.max_nodes {
            return; // over budget already: the rest need not be counted
        }
        match event {
            Event::Scalar(_, _, anchor, _) => {
                counter.remember(anchor, 1);
                counter.add(1);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => counter.open.push((anchor, 1)),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((anchor, size)) = counter.open.pop() {
                    counter.remember(anchor, size);
                    // The nodes inside were counted into `total` as they came; only the
                    // collection itself is new to the parent.
                    counter.total = counter.total.saturating_add(1);
                    if let Some((_, open)) = counter.open.last_mut() {
                        *open = open.saturating_add(size);
                    }
                }
            }
            Event::Alias(anchor) => {
                let size = counter.anchors.get(anchor).copied().unwrap_or(1);
                counter.add(size);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let expanded = check(&text, MAX_NODES).unwrap_err();
        assert!(expanded > MAX_NODES, "{expanded}");
    }

    #[test]
    fn ordinary_aliases_and_documents_pass() {
        assert_eq!(check(&bomb(3), MAX_NODES), Ok(()));
        let template =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/lambda/template.yaml")).unwrap();
        assert_eq!(check(&template, MAX_NODES), Ok(()));
        assert_eq!(check("a: [unclosed", MAX_NODES), Ok(()), "syntax errors are the loader's to name");
    }
}
