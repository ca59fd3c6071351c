//! Reading the `sql` and `http` task kinds (the work Weir runs inside the server) from
//! the located YAML tree, with the same located diagnostics as the other kinds.

use super::diagnostic::{Diagnostic, did_you_mean};
use super::model::*;
use super::reader::{self, Diags, MapReader};
use super::task::{TemplateSite, duration, id_value, templated, templated_map};
use super::yaml::{Node, Value};

/// `connection:` (or Airflow's `conn_id:`), optional or required.
pub(super) fn connection(
    m: &mut MapReader<'_>,
    required: bool,
    diags: &mut Diags,
) -> Option<String> {
    if let Some(pos) = m.key_pos("conn") {
        m.get("conn");
        diags.push(
            Diagnostic::error(
                pos,
                format!("{} names its connection with `connection`", m.what()),
            )
            .with_help("rename `conn:` to `connection:`"),
        );
        return None;
    }
    let (a, b) = (m.get("connection"), m.get("conn_id"));
    match (a, b) {
        (Some(_), Some(n)) => {
            diags.push(
                Diagnostic::error(n.pos, "`connection` and `conn_id` are the same setting")
                    .with_help("keep only `connection`"),
            );
            None
        }
        (Some(n), None) | (None, Some(n)) => id_value(n, "connection id", diags),
        (None, None) => {
            if required {
                diags.push(
                    Diagnostic::error(m.pos, format!("{} needs a `connection`", m.what()))
                        .with_help("name the connection to run on, e.g. `connection: warehouse`"),
                );
            }
            None
        }
    }
}

/// A value among `names`, with a "did you mean".
fn choice<T>(
    node: &Node,
    what: &str,
    names: [&'static str; 3],
    values: [T; 3],
    diags: &mut Diags,
) -> Option<T> {
    let text = reader::string(node, what, diags)?;
    if let Some(i) = names.iter().position(|n| *n == text) {
        return values.into_iter().nth(i);
    }
    let d = Diagnostic::error(node.pos, format!("unknown {what} `{text}`"));
    diags.push(match did_you_mean(&text, names) {
        Some(s) => d.with_help(format!("did you mean `{s}`?")),
        None => d.with_help(format!("use one of {}", names.join(", "))),
    });
    None
}

/// Reports `a` and `b` given together; true when they are.
fn exclusive(m: &MapReader<'_>, a: &str, b: &str, diags: &mut Diags) -> bool {
    match (m.key_pos(a), m.key_pos(b)) {
        (Some(_), Some(pos)) => {
            diags.push(
                Diagnostic::error(pos, format!("{} takes `{a}` or `{b}`, not both", m.what()))
                    .with_help(format!("keep one of `{a}` and `{b}`")),
            );
            true
        }
        _ => false,
    }
}

/// Reads `sql:`.
pub(super) fn read_sql(
    node: &Node,
    sites: &mut Vec<TemplateSite>,
    diags: &mut Diags,
) -> Option<TaskKind> {
    let mut m = MapReader::new(node, "`sql`", diags)?;
    let connection = connection(&mut m, true, diags);
    let both = exclusive(&m, "query", "file", diags);
    let query = m
        .get("query")
        .and_then(|n| templated(n, "`query`", sites, diags));
    let file = m.get("file").and_then(|n| {
        let path = reader::string(n, "`file`", diags)?;
        if path.starts_with('/') || path.is_empty() {
            diags.push(
                Diagnostic::error(
                    n.pos,
                    format!("`file` must be a path relative to the DAG file, not `{path}`"),
                )
                .with_help("put the SQL file in the DAG folder, e.g. `file: sql/revenue.sql`"),
            );
            return None;
        }
        Some(path)
    });
    let source = match (query, file) {
        (Some(q), _) => Some(SqlSource::Query(q)),
        (None, Some(f)) => Some(SqlSource::File(f)),
        (None, None) => {
            if !both && m.key_pos("query").is_none() && m.key_pos("file").is_none() {
                diags.push(
                    Diagnostic::error(node.pos, "`sql` needs a `query` or a `file`").with_help(
                        "e.g. `query: SELECT count(*) FROM orders WHERE day = '{{ ds }}'`",
                    ),
                );
            }
            None
        }
    };
    let parameters = m
        .get("parameters")
        .and_then(|n| parameters(n, sites, diags))
        .unwrap_or_default();
    let output = m
        .get("output")
        .and_then(|n| {
            choice(
                n,
                "`output`",
                SqlOutput::NAMES,
                [SqlOutput::None, SqlOutput::FirstRow, SqlOutput::Rows],
                diags,
            )
        })
        .unwrap_or_default();
    let max_rows = m.get("max_rows").and_then(|n| {
        let rows = reader::unsigned(n, "`max_rows`", diags)?;
        if rows == 0 {
            diags.push(Diagnostic::error(n.pos, "`max_rows` must be at least 1"));
            return None;
        }
        Some(rows)
    });
    m.finish(diags);
    if both {
        return None;
    }
    Some(TaskKind::Sql(SqlTask {
        connection: connection?,
        source: source?,
        parameters,
        output,
        max_rows,
    }))
}

/// `parameters: [..]`: scalars only; strings are templates.
fn parameters(
    node: &Node,
    sites: &mut Vec<TemplateSite>,
    diags: &mut Diags,
) -> Option<Vec<serde_json::Value>> {
    let Value::Seq(items) = &node.value else {
        diags.push(
            Diagnostic::error(
                node.pos,
                format!("`parameters` must be a list, found {}", node.kind_name()),
            )
            .with_help("the values of $1, $2, … in order, e.g. `parameters: [\"{{ ds }}\", 10]`"),
        );
        return None;
    };
    let mut out = Vec::new();
    for item in items {
        let value = item.to_json();
        match (&item.value, &value) {
            (Value::Scalar(s), serde_json::Value::String(text)) => {
                sites.push(TemplateSite {
                    text: text.clone(),
                    pos: item.pos,
                    block: s.block,
                    shell: false,
                });
            }
            (Value::Scalar(_), _) => {}
            _ => {
                diags.push(
                    Diagnostic::error(
                        item.pos,
                        format!(
                            "each parameter must be a string, number, boolean or null, found {}",
                            item.kind_name()
                        ),
                    )
                    .with_help(
                        "pass structured values as JSON text and cast them in SQL (`$1::jsonb`)",
                    ),
                );
                continue;
            }
        }
        out.push(value);
    }
    Some(out)
}

/// Reads `http:`.
pub(super) fn read_http(
    node: &Node,
    sites: &mut Vec<TemplateSite>,
    diags: &mut Diags,
) -> Option<TaskKind> {
    let mut m = MapReader::new(node, "`http`", diags)?;
    let connection = connection(&mut m, false, diags);
    let url = m
        .require("url", diags)
        .and_then(|n| templated(n, "`url`", sites, diags));
    let method = m.get("method").and_then(|n| {
        let text = reader::string(n, "`method`", diags)?.to_ascii_uppercase();
        if ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"].contains(&text.as_str()) {
            Some(text)
        } else {
            diags.push(
                Diagnostic::error(n.pos, format!("unknown HTTP method `{text}`"))
                    .with_help("use GET, POST, PUT, PATCH, DELETE or HEAD"),
            );
            None
        }
    });
    let both = exclusive(&m, "body", "json", diags);
    let body = m
        .get("body")
        .and_then(|n| templated(n, "`body`", sites, diags));
    let json = m.get("json").map(|n| {
        json_templates(n, sites);
        n.to_json()
    });
    let expect_status = m
        .get("expect_status")
        .map(|n| expect_status(n, diags))
        .unwrap_or_default();
    let output = m
        .get("output")
        .and_then(|n| {
            choice(
                n,
                "`output`",
                HttpOutput::NAMES,
                [HttpOutput::None, HttpOutput::Json, HttpOutput::Text],
                diags,
            )
        })
        .unwrap_or_default();
    let timeout = m
        .get("timeout")
        .and_then(|n| duration(n, "`timeout`", diags));
    let task = HttpTask {
        connection,
        url: url?,
        method: method.unwrap_or_else(|| "GET".into()),
        headers: m
            .get("headers")
            .and_then(|n| templated_map(n, "`headers`", sites, diags))
            .unwrap_or_default(),
        body,
        json,
        expect_status,
        output,
        timeout,
    };
    m.finish(diags);
    (!both).then_some(TaskKind::Http(task))
}

/// The strings of a `json:` body are templates.
fn json_templates(node: &Node, sites: &mut Vec<TemplateSite>) {
    match &node.value {
        Value::Scalar(s) => {
            if let serde_json::Value::String(text) = node.to_json() {
                sites.push(TemplateSite {
                    text,
                    pos: node.pos,
                    block: s.block,
                    shell: false,
                });
            }
        }
        Value::Seq(items) => items.iter().for_each(|n| json_templates(n, sites)),
        Value::Map(entries) => entries.iter().for_each(|e| json_templates(&e.value, sites)),
    }
}

/// `expect_status: 404`, `expect_status: [2xx, 404]`.
fn expect_status(node: &Node, diags: &mut Diags) -> Vec<StatusPattern> {
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    items
        .into_iter()
        .filter_map(|n| {
            let text = reader::string(n, "`expect_status`", diags)?;
            StatusPattern::parse(&text)
                .map_err(|why| diags.push(Diagnostic::error(n.pos, why)))
                .ok()
        })
        .collect()
}

#[cfg(test)]
#[path = "sql_http_tests.rs"]
pub(super) mod tests;
