//! Typed reads from the located YAML tree, each reporting a located diagnostic when the
//! node is not what the format expects. A [`MapReader`] remembers which keys were asked
//! for, so unknown keys (and their likely spelling) come from the reading code itself,
//! never from a second list that could drift.

use indexmap::IndexMap;

use super::diagnostic::{Diagnostic, Pos, did_you_mean};
use super::yaml::{Entry, Node, Scalar, Value, parse_bool};

pub type Diags = Vec<Diagnostic>;

/// Reads the keys of one mapping.
pub struct MapReader<'n> {
    pub pos: Pos,
    what: String,
    entries: &'n [Entry],
    asked: Vec<&'static str>,
    used: Vec<bool>,
}

impl<'n> MapReader<'n> {
    /// `what` names the mapping in messages, e.g. "task `extract`".
    pub fn new(node: &'n Node, what: impl Into<String>, diags: &mut Diags) -> Option<Self> {
        let what = what.into();
        match &node.value {
            Value::Map(entries) => Some(MapReader {
                pos: node.pos,
                what,
                entries,
                asked: Vec::new(),
                used: vec![false; entries.len()],
            }),
            _ => {
                diags.push(Diagnostic::error(
                    node.pos,
                    format!(
                        "{what} must be a mapping of keys to values, found {}",
                        node.kind_name()
                    ),
                ));
                None
            }
        }
    }

    pub fn what(&self) -> &str {
        &self.what
    }

    /// The node under `key`, if present.
    pub fn get(&mut self, key: &'static str) -> Option<&'n Node> {
        self.asked.push(key);
        let idx = self.entries.iter().position(|e| e.key == key)?;
        self.used[idx] = true;
        Some(&self.entries[idx].value)
    }

    /// Position of `key` itself (for messages about the key rather than its value).
    pub fn key_pos(&self, key: &str) -> Option<Pos> {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.key_pos)
    }

    /// The node under `key`, or an error that the key is missing.
    pub fn require(&mut self, key: &'static str, diags: &mut Diags) -> Option<&'n Node> {
        let node = self.get(key);
        if node.is_none() {
            diags.push(Diagnostic::error(
                self.pos,
                format!("{} is missing the required key `{key}`", self.what),
            ));
        }
        node
    }

    /// Reports every key that was never asked for, with a suggestion.
    pub fn finish(self, diags: &mut Diags) {
        for (entry, used) in self.entries.iter().zip(&self.used) {
            if *used {
                continue;
            }
            let mut d = Diagnostic::error(
                entry.key_pos,
                format!("unknown key `{}` in {}", entry.key, self.what),
            );
            d = match did_you_mean(&entry.key, self.asked.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("known keys here: {}", self.asked.join(", "))),
            };
            diags.push(d);
        }
    }
}

fn type_error(node: &Node, what: &str, expected: &str) -> Diagnostic {
    Diagnostic::error(
        node.pos,
        format!("{what} must be {expected}, found {}", node.kind_name()),
    )
}

/// A string (scalars of any kind are accepted as their text, since `2026` or `true` may
/// well be meant as text; lists and mappings are not).
pub fn string(node: &Node, what: &str, diags: &mut Diags) -> Option<String> {
    match &node.value {
        Value::Scalar(Scalar { text, plain, .. }) if !(*plain && super::yaml::is_null(text)) => {
            Some(text.clone())
        }
        _ => {
            diags.push(type_error(node, what, "a string"));
            None
        }
    }
}

pub fn boolean(node: &Node, what: &str, diags: &mut Diags) -> Option<bool> {
    match &node.value {
        Value::Scalar(Scalar {
            text, plain: true, ..
        }) if parse_bool(text).is_some() => parse_bool(text),
        _ => {
            diags.push(type_error(node, what, "`true` or `false`"));
            None
        }
    }
}

pub fn unsigned(node: &Node, what: &str, diags: &mut Diags) -> Option<u32> {
    match &node.value {
        Value::Scalar(Scalar {
            text, plain: true, ..
        }) => match text.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                diags.push(type_error(node, what, "a whole number (0 or more)"));
                None
            }
        },
        _ => {
            diags.push(type_error(node, what, "a whole number (0 or more)"));
            None
        }
    }
}

pub fn number(node: &Node, what: &str, diags: &mut Diags) -> Option<f64> {
    match &node.value {
        Value::Scalar(Scalar {
            text, plain: true, ..
        }) => match text.parse::<f64>() {
            Ok(n) if n.is_finite() && n > 0.0 => Some(n),
            _ => {
                diags.push(type_error(node, what, "a positive number"));
                None
            }
        },
        _ => {
            diags.push(type_error(node, what, "a positive number"));
            None
        }
    }
}

/// A list of strings, each with its position. A single string is refused (rather than
/// read as a one-item list) because `depends_on: a, b` is a common mistake.
pub fn string_list(node: &Node, what: &str, diags: &mut Diags) -> Option<Vec<(String, Pos)>> {
    match &node.value {
        Value::Seq(items) => Some(
            items
                .iter()
                .filter_map(|item| {
                    string(item, &format!("each item of {what}"), diags).map(|s| (s, item.pos))
                })
                .collect(),
        ),
        _ => {
            diags.push(
                type_error(node, what, "a list")
                    .with_help("write a list as `[a, b]` or one `- item` per line"),
            );
            None
        }
    }
}

/// A mapping of string keys to string values (`env`, `headers`, `secrets`), keeping order.
pub fn string_map(
    node: &Node,
    what: &str,
    diags: &mut Diags,
) -> Option<IndexMap<String, (String, Pos)>> {
    match &node.value {
        Value::Map(entries) => Some(
            entries
                .iter()
                .filter_map(|e| {
                    let v = match &e.value.value {
                        // Numbers and booleans are fine as env values: they are text.
                        Value::Scalar(s) if !(s.plain && super::yaml::is_null(&s.text)) => {
                            s.text.clone()
                        }
                        _ => {
                            diags.push(type_error(
                                &e.value,
                                &format!("`{}` in {what}", e.key),
                                "a string",
                            ));
                            return None;
                        }
                    };
                    Some((e.key.clone(), (v, e.value.pos)))
                })
                .collect(),
        ),
        _ => {
            diags.push(type_error(node, what, "a mapping of names to values"));
            None
        }
    }
}
