//! A YAML document as a tree of located nodes.
//!
//! serde-style deserializers stop at the first problem and lose positions; Weir wants every
//! problem of a file, each at its line and column. So the file is parsed once into this
//! small tree (from saphyr-parser's event stream), and the spec reader walks it.
//! Duplicate keys are reported here; aliases are expanded under a node budget so a
//! "billion laughs" file cannot exhaust memory; `<<` merge keys are applied.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use super::diagnostic::{Diagnostic, Pos};

/// Most nodes a file may expand to (after aliases) before it is refused.
pub const NODE_BUDGET: usize = 200_000;

/// A located YAML node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// A scalar's text, and whether it was written plain (unquoted), which decides whether
/// `true`, `3` or `null` mean a bool, a number or nothing, or the literal text.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub text: String,
    pub plain: bool,
    /// Written as a `|` or `>` block; the node's position is where its text starts.
    pub block: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

impl Node {
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Scalar(s) if s.plain && is_null(&s.text) => "nothing (null)",
            Value::Scalar(s) if s.plain && parse_bool(&s.text).is_some() => "a boolean",
            Value::Scalar(s) if s.plain && s.text.parse::<f64>().is_ok() => "a number",
            Value::Scalar(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar(s) if s.plain && is_null(&s.text))
    }

    /// The node as JSON, with YAML 1.2 core-schema typing of plain scalars.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Scalar(s) => scalar_to_json(s),
            Value::Seq(items) => {
                serde_json::Value::Array(items.iter().map(Node::to_json).collect())
            }
            Value::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }
}

pub fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

pub fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn scalar_to_json(s: &Scalar) -> serde_json::Value {
    if !s.plain {
        return serde_json::Value::String(s.text.clone());
    }
    if is_null(&s.text) {
        return serde_json::Value::Null;
    }
    if let Some(b) = parse_bool(&s.text) {
        return serde_json::Value::Bool(b);
    }
    if let Ok(i) = s.text.parse::<i64>() {
        return serde_json::Value::from(i);
    }
    if s.text.chars().any(|c| c.is_ascii_digit())
        && let Ok(f) = s.text.parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return serde_json::Value::Number(n);
    }
    serde_json::Value::String(s.text.clone())
}

fn pos_of(span: &Span) -> Pos {
    Pos::new(
        u32::try_from(span.start.line()).unwrap_or(u32::MAX),
        u32::try_from(span.start.col() + 1).unwrap_or(u32::MAX),
    )
}

enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
    },
}

/// Parses one YAML document. Returns the root (None for an empty file) and the problems
/// found; a syntax error ends parsing and is returned as the only error.
pub fn parse(source: &str) -> (Option<Node>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut parser = Parser::new_from_str(source);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut budget = NODE_BUDGET;
    let mut documents = 0;

    while let Some(event) = parser.next_event() {
        let (event, span) = match event {
            Ok(ev) => ev,
            Err(err) => {
                let m = err.marker();
                let pos = Pos::new(
                    u32::try_from(m.line()).unwrap_or(u32::MAX),
                    u32::try_from(m.col() + 1).unwrap_or(u32::MAX),
                );
                diags.push(
                    Diagnostic::error(pos, format!("malformed YAML: {}", err.info())).with_help(
                        "check the indentation and quoting on this line and the one above",
                    ),
                );
                return (None, diags);
            }
        };
        let pos = pos_of(&span);
        let finished: Option<(Node, usize)> = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    diags.push(
                        Diagnostic::error(
                            pos,
                            "a DAG file holds one YAML document, this is a second one",
                        )
                        .with_help("put each DAG in a file of its own, or use a factory file"),
                    );
                    return (root, diags);
                }
                None
            }
            Event::Scalar(text, style, anchor, tag) => {
                let quoted_tag = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let plain = style == ScalarStyle::Plain && !quoted_tag;
                let block = matches!(style, ScalarStyle::Literal | ScalarStyle::Folded);
                Some((
                    Node {
                        pos,
                        value: Value::Scalar(Scalar {
                            text: text.into_owned(),
                            plain,
                            block,
                        }),
                    },
                    anchor,
                ))
            }
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq {
                    pos,
                    anchor,
                    items: Vec::new(),
                });
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map {
                    pos,
                    anchor,
                    entries: Vec::new(),
                    pending_key: None,
                });
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq { pos, anchor, items }) => Some((
                    Node {
                        pos,
                        value: Value::Seq(items),
                    },
                    anchor,
                )),
                _ => None,
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    pos,
                    anchor,
                    entries,
                    ..
                }) => Some((
                    Node {
                        pos,
                        value: Value::Map(finish_map(entries, &mut diags)),
                    },
                    anchor,
                )),
                _ => None,
            },
            Event::Alias(id) => match anchors.get(&id) {
                Some(node) => {
                    let size = count_nodes(node);
                    if size > budget {
                        diags.push(Diagnostic::error(
                            pos,
                            format!("this file expands to more than {NODE_BUDGET} YAML nodes through aliases"),
                        ).with_help("use fewer nested aliases (`*name`)"));
                        return (None, diags);
                    }
                    budget -= size;
                    let mut node = node.clone();
                    node.pos = pos;
                    Some((node, 0))
                }
                None => {
                    diags.push(Diagnostic::error(pos, "alias to an unknown anchor"));
                    return (None, diags);
                }
            },
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => None,
        };
        let Some((node, anchor)) = finished else {
            continue;
        };
        if budget == 0 {
            diags.push(Diagnostic::error(
                pos,
                format!("this file has more than {NODE_BUDGET} YAML nodes"),
            ));
            return (None, diags);
        }
        budget -= 1;
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => entries.push((key, node)),
            },
        }
    }
    (root, diags)
}

fn count_nodes(node: &Node) -> usize {
    1 + match &node.value {
        Value::Scalar(_) => 0,
        Value::Seq(items) => items.iter().map(count_nodes).sum(),
        Value::Map(entries) => entries.iter().map(|e| 1 + count_nodes(&e.value)).sum(),
    }
}

/// Turns raw key/value pairs into entries: keys must be strings, a repeated key is an
/// error (the first one wins), and `<<` merges in keys the map does not set itself.
fn finish_map(raw: Vec<(Node, Node)>, diags: &mut Vec<Diagnostic>) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::with_capacity(raw.len());
    let mut merged: Vec<Entry> = Vec::new();
    for (key, value) in raw {
        let Value::Scalar(Scalar { text, .. }) = key.value else {
            diags.push(Diagnostic::error(
                key.pos,
                "a key must be a plain string, not a list or mapping",
            ));
            continue;
        };
        if text == "<<" {
            let sources: Vec<Node> = match value.value {
                Value::Seq(items) => items,
                _ => vec![value],
            };
            for source in sources {
                match source.value {
                    Value::Map(more) => merged.extend(more),
                    _ => diags.push(Diagnostic::error(source.pos, "`<<` merges mappings only")),
                }
            }
            continue;
        }
        if let Some(first) = entries.iter().find(|e| e.key == text) {
            diags.push(
                Diagnostic::error(key.pos, format!("duplicate key `{text}`"))
                    .with_note(format!(
                        "`{text}` is first set at line {}",
                        first.key_pos.line
                    ))
                    .with_help("remove one of them or rename it; only the first is used"),
            );
            continue;
        }
        entries.push(Entry {
            key: text,
            key_pos: key.pos,
            value,
        });
    }
    for entry in merged {
        if !entries.iter().any(|e| e.key == entry.key) {
            entries.push(entry);
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(src: &str) -> Node {
        let (node, diags) = parse(src);
        assert!(diags.is_empty(), "{diags:?}");
        node.expect("a document")
    }

    #[test]
    fn positions_are_one_based() {
        let node = root("a: 1\nb:\n  c: [x, y]\n");
        let Value::Map(entries) = &node.value else {
            panic!("map")
        };
        assert_eq!(entries[1].key, "b");
        assert_eq!(entries[1].key_pos, Pos::new(2, 1));
        let Value::Map(inner) = &entries[1].value.value else {
            panic!("map")
        };
        assert_eq!(inner[0].key_pos, Pos::new(3, 3));
        assert_eq!(inner[0].value.pos, Pos::new(3, 6));
        assert_eq!(
            node.to_json(),
            serde_json::json!({"a": 1, "b": {"c": ["x", "y"]}})
        );
    }

    #[test]
    fn duplicate_keys_are_reported() {
        let (_, diags) = parse("tasks:\n  a: {noop: true}\n  a: {noop: true}\n");
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].message, "duplicate key `a`");
        assert_eq!(diags[0].pos, Pos::new(3, 3));
    }

    #[test]
    fn malformed_yaml_is_located() {
        let (node, diags) = parse("a: [1, 2\nb: 3\n");
        assert!(node.is_none());
        assert_eq!(diags.len(), 1);
        assert!(
            diags[0].message.starts_with("malformed YAML"),
            "{}",
            diags[0].message
        );
    }

    #[test]
    fn aliases_merge_and_budget() {
        let node = root("base: &b {retries: 2}\nx:\n  <<: *b\n  queue: q\n");
        assert_eq!(
            node.to_json(),
            serde_json::json!({"base": {"retries": 2}, "x": {"queue": "q", "retries": 2}})
        );
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..8 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            bomb.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        let (_, diags) = parse(&bomb);
        assert!(
            diags.iter().any(|d| d.message.contains("YAML nodes")),
            "{diags:?}"
        );
    }

    #[test]
    fn plain_scalars_are_typed_quoted_are_not() {
        let node = root("a: true\nb: 'true'\nc: 1.5\nd: ~\ne: 2026-01-01\n");
        assert_eq!(
            node.to_json(),
            serde_json::json!({"a": true, "b": "true", "c": 1.5, "d": null, "e": "2026-01-01"})
        );
    }
}
