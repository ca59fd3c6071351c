//! DAG factories: one DAG template and a table of rows, expanded to one DAG per row.
//!
//! ```yaml
//! factory: ingest_tables
//! rows:
//!   - {table: orders, hour: 2}
//!   - {table: customers, hour: 3}
//! template:
//!   dag: ingest_${table}
//!   schedule: "0 ${hour} * * *"
//!   ...
//! ```
//!
//! `${name}` placeholders are replaced in the YAML tree, before the DAG is read, so each
//! expanded DAG is diagnosed as if written by hand and every position still points into
//! the factory file. `${...}` cannot clash with the run-time `{{ ... }}` templates;
//! `$${` writes a literal `${`.

use super::diagnostic::{Diagnostic, Pos};
use super::reader::{Diags, MapReader};
use super::yaml::{Entry, Node, Scalar, Value};

/// One expanded row: its DAG's YAML tree and where the row was written.
pub struct Expanded {
    pub row: usize,
    pub row_pos: Pos,
    pub node: Node,
    /// Problems with the substitution itself (unknown placeholders).
    pub diagnostics: Diags,
}

/// Is this document a factory? (It has `factory:` at the top.)
pub fn is_factory(root: &Node) -> bool {
    matches!(&root.value, Value::Map(entries) if entries.iter().any(|e| e.key == "factory"))
}

/// Expands a factory document into one DAG tree per row.
pub fn expand(root: &Node, diags: &mut Diags) -> (String, Vec<Expanded>) {
    let Some(mut m) = MapReader::new(root, "the factory", diags) else {
        return (String::new(), Vec::new());
    };
    let name = m
        .require("factory", diags)
        .and_then(|n| super::reader::string(n, "`factory`", diags))
        .unwrap_or_default();
    let rows = m.require("rows", diags);
    let template = m.require("template", diags);
    m.finish(diags);
    let (Some(rows), Some(template)) = (rows, template) else {
        return (name, Vec::new());
    };
    let Value::Seq(rows) = &rows.value else {
        diags.push(Diagnostic::error(
            rows.pos,
            format!(
                "`rows` must be a list of mappings, found {}",
                rows.kind_name()
            ),
        ));
        return (name, Vec::new());
    };
    if rows.is_empty() {
        diags.push(Diagnostic::warning(
            root.pos,
            format!("factory `{name}` has no rows, so it makes no DAG"),
        ));
    }
    let mut out = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let Value::Map(values) = &row.value else {
            diags.push(Diagnostic::error(
                row.pos,
                format!(
                    "row {} must be a mapping of names to values, found {}",
                    i + 1,
                    row.kind_name()
                ),
            ));
            continue;
        };
        let mut row_diags = Vec::new();
        let node = substitute(template, values, &mut row_diags);
        out.push(Expanded {
            row: i + 1,
            row_pos: row.pos,
            node,
            diagnostics: row_diags,
        });
    }
    (name, out)
}

fn substitute(node: &Node, row: &[Entry], diags: &mut Diags) -> Node {
    let value = match &node.value {
        Value::Scalar(s) => {
            // A scalar that is exactly one placeholder takes the row's value whole, so a
            // row can supply a list or a number, not only text.
            if let Some(name) = whole_placeholder(&s.text)
                && let Some(entry) = row.iter().find(|e| e.key == name)
            {
                return Node {
                    pos: node.pos,
                    value: entry.value.value.clone(),
                };
            }
            Value::Scalar(Scalar {
                text: replace(&s.text, node.pos, row, diags),
                plain: s.plain,
                block: s.block,
            })
        }
        Value::Seq(items) => Value::Seq(items.iter().map(|n| substitute(n, row, diags)).collect()),
        Value::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|e| Entry {
                    key: replace(&e.key, e.key_pos, row, diags),
                    key_pos: e.key_pos,
                    value: substitute(&e.value, row, diags),
                })
                .collect(),
        ),
    };
    Node {
        pos: node.pos,
        value,
    }
}

fn whole_placeholder(text: &str) -> Option<&str> {
    let inner = text.strip_prefix("${")?.strip_suffix('}')?;
    inner
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_')
        .then_some(inner)
}

fn replace(text: &str, pos: Pos, row: &[Entry], diags: &mut Diags) -> String {
    if !text.contains('$') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let Some(end) = after.find('}') else {
                diags.push(
                    Diagnostic::error(pos, "unclosed `${` placeholder")
                        .with_help("close it with `}`, or write `$${` for a literal `${`"),
                );
                out.push_str(tail);
                return out;
            };
            let name = &after[..end];
            match row.iter().find(|e| e.key == name) {
                Some(entry) => out.push_str(&scalar_text(&entry.value)),
                None => {
                    let known: Vec<&str> = row.iter().map(|e| e.key.as_str()).collect();
                    let d = Diagnostic::error(
                        pos,
                        format!("placeholder `${{{name}}}` has no value in this row"),
                    );
                    diags.push(
                        match super::diagnostic::did_you_mean(name, known.iter().copied()) {
                            Some(s) => d.with_help(format!("did you mean `${{{s}}}`?")),
                            None => d.with_help(format!("the row sets: {}", known.join(", "))),
                        },
                    );
                }
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

fn scalar_text(node: &Node) -> String {
    match &node.value {
        Value::Scalar(s) => s.text.clone(),
        _ => node.to_json().to_string(),
    }
}
