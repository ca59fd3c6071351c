//! Reading `sensor:` from the located YAML tree: exactly one thing to wait for (`dag`
//! with `task`/`logical_date_offset`/`fail_on_failure`, `dataset` with `since`, `sql`,
//! `http` or `file`), and how to wait (`poke_interval`, `timeout`, `soft_fail`,
//! `exponential_backoff`). Unknown keys and keys that belong to another target are
//! located errors, with a "did you mean" from the [`MapReader`].

use super::diagnostic::Diagnostic;
use super::model::*;
use super::reader::{self, Diags, MapReader};
use super::task::{TemplateSite, checked, duration, templated};
use super::yaml::Node;
use crate::ids::{DagId, TaskId};

/// The keys that name what a sensor waits for.
const TARGETS: [&str; 5] = ["dag", "dataset", "sql", "http", "file"];

/// Reads `sensor:`.
pub(super) fn read_sensor(
    node: &Node,
    sites: &mut Vec<TemplateSite>,
    diags: &mut Diags,
) -> Option<TaskKind> {
    let mut m = MapReader::new(node, "`sensor`", diags)?;
    let http = m
        .get("http")
        .and_then(|n| match super::sql_http::read_http(n, sites, diags)? {
            TaskKind::Http(http) => Some(Box::new(http)),
            _ => None,
        });
    let s = SensorTask {
        dag: m
            .get("dag")
            .and_then(|n| checked(n, "DAG id", diags, DagId::new)),
        task: m
            .get("task")
            .and_then(|n| checked(n, "task id", diags, TaskId::new)),
        logical_date_offset: m.get("logical_date_offset").and_then(|n| {
            let text = reader::string(n, "`logical_date_offset`", diags)?;
            SignedDuration::parse(&text)
                .map_err(|why| {
                    diags.push(
                        Diagnostic::error(n.pos, format!("`logical_date_offset`: {why}"))
                            .with_help("e.g. `-1d` for the other DAG's run of the day before"),
                    )
                })
                .ok()
        }),
        fail_on_failure: m
            .get("fail_on_failure")
            .and_then(|n| reader::boolean(n, "`fail_on_failure`", diags))
            .unwrap_or(false),
        dataset: m
            .get("dataset")
            .and_then(|n| reader::string(n, "`dataset`", diags)),
        since: m
            .get("since")
            .and_then(|n| reader::string(n, "`since`", diags)),
        sql: m.get("sql").and_then(|n| read_sql(n, sites, diags)),
        http,
        file: m.get("file").and_then(|n| {
            let path = templated(n, "`file`", sites, diags)?;
            if !path.starts_with('/') && !path.starts_with("{{") {
                diags.push(
                    Diagnostic::error(n.pos, format!("`file` must be an absolute path, not `{path}`"))
                        .with_help("name the file under one of the platform's `[sensors] file_roots`, e.g. `file: /data/landing/{{ ds }}/_SUCCESS`"),
                );
                return None;
            }
            Some(path)
        }),
        poke_interval: m
            .get("poke_interval")
            .and_then(|n| positive(n, "`poke_interval`", diags)),
        timeout: m
            .get("timeout")
            .and_then(|n| positive(n, "`timeout`", diags)),
        soft_fail: m
            .get("soft_fail")
            .and_then(|n| reader::boolean(n, "`soft_fail`", diags))
            .unwrap_or(false),
        exponential_backoff: m
            .get("exponential_backoff")
            .and_then(|n| reader::boolean(n, "`exponential_backoff`", diags))
            .unwrap_or(false),
    };
    let given: Vec<&str> = TARGETS
        .into_iter()
        .filter(|k| m.key_pos(k).is_some())
        .collect();
    if given.len() != 1 {
        diags.push(
            Diagnostic::error(node.pos, "a sensor waits for exactly one thing").with_help(
                if given.is_empty() {
                    "give it one of `dag:` (and optionally `task:`), `dataset:`, `sql:`, `http:` or `file:`".to_string()
                } else {
                    format!(
                        "it names {}: keep one of them (a second sensor can wait for the other)",
                        given
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(" and ")
                    )
                },
            ),
        );
    } else if m.key_pos("task").is_some() && m.key_pos("dag").is_none() {
        diags.push(Diagnostic::error(
            node.pos,
            "a sensor's `task` needs the `dag` it belongs to",
        ));
    }
    // Settings of one target given with another: said where they are written.
    let belongs = [
        ("logical_date_offset", "dag"),
        ("fail_on_failure", "dag"),
        ("since", "dataset"),
    ];
    for (key, target) in belongs {
        if let Some(pos) = m.key_pos(key)
            && m.key_pos(target).is_none()
            && given.len() == 1
        {
            diags.push(
                Diagnostic::error(
                    pos,
                    format!("`{key}` only applies to a sensor on a `{target}`"),
                )
                .with_help(format!("remove `{key}`, or wait for a `{target}:`")),
            );
        }
    }
    if let Some(pos) = m.key_pos("mode") {
        m.get("mode");
        diags.push(
            Diagnostic::error(pos, "a sensor's `mode` is always `reschedule` in Weir")
                .with_help("remove `mode`: a waiting sensor never holds a worker or a slot"),
        );
    }
    m.finish(diags);
    Some(TaskKind::Sensor(s))
}

/// `sql: {connection, query}` of a sensor.
fn read_sql(node: &Node, sites: &mut Vec<TemplateSite>, diags: &mut Diags) -> Option<SensorSql> {
    let mut m = MapReader::new(node, "a sensor's `sql`", diags)?;
    let connection = super::sql_http::connection(&mut m, true, diags);
    let query = m
        .require("query", diags)
        .and_then(|n| templated(n, "`query`", sites, diags));
    m.finish(diags);
    Some(SensorSql {
        connection: connection?,
        query: query?,
    })
}

/// A duration that must be more than zero.
fn positive(node: &Node, what: &str, diags: &mut Diags) -> Option<HumanDuration> {
    let d = duration(node, what, diags)?;
    if d.0.is_zero() {
        diags.push(
            Diagnostic::error(node.pos, format!("{what} must be more than zero"))
                .with_help("e.g. `30s` or `5m`"),
        );
        return None;
    }
    Some(d)
}

#[cfg(test)]
#[path = "sensor_tests.rs"]
mod tests;
