//! Reading a whole DAG from the located YAML tree.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use indexmap::IndexMap;

use super::diagnostic::{Diagnostic, Pos};
use super::model::*;
use super::reader::{self, Diags, MapReader};
use super::task::{TaskPositions, read_defaults, read_task};
use super::yaml::{Node, Value};
use crate::ids::{DagId, TaskId, TeamId};

/// A DAG as read, with the positions the whole-DAG checks point at.
#[derive(Debug, Clone)]
pub struct ReadDag {
    pub spec: DagSpec,
    pub pos: Pos,
    pub catchup_pos: Option<Pos>,
    pub schedule_pos: Option<Pos>,
    pub start_date_pos: Option<Pos>,
    pub tasks: IndexMap<TaskId, TaskPositions>,
}

/// Parses `2026-01-01`, `2026-01-01T03:00:00` (both in `tz`) or an RFC 3339 date-time.
pub fn parse_date(text: &str, tz: chrono_tz::Tz) -> Result<DateTime<Utc>, String> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Ok(dt.with_timezone(&Utc));
    }
    let naive = if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        d.and_hms_opt(0, 0, 0)
    } else {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
            .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S"))
            .ok()
    };
    let naive = naive.ok_or_else(|| {
        format!("`{text}` is not a date: write `2026-01-01` or `2026-01-01T03:00:00+01:00`")
    })?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|dt| dt.with_timezone(&Utc))
        .ok_or_else(|| {
            format!("`{text}` does not exist in time zone {tz} (it falls in a daylight-saving gap)")
        })
}

pub fn read_dag(node: &Node, diags: &mut Diags) -> Option<ReadDag> {
    let mut m = MapReader::new(node, "the DAG", diags)?;
    let id_node = m.require("dag", diags);
    let dag = id_node.and_then(|n| {
        let id = reader::string(n, "`dag`", diags)?;
        match DagId::new(id.as_str()) {
            Ok(id) => Some(id),
            Err(e) => {
                diags.push(Diagnostic::error(
                    n.pos,
                    format!("`{id}` is not a valid DAG id: {e}"),
                ));
                None
            }
        }
    });
    let team = m.require("team", diags).and_then(|n| {
        let team = reader::string(n, "`team`", diags)?;
        match TeamId::new(team.as_str()) {
            Ok(team) => Some(team),
            Err(e) => {
                diags.push(Diagnostic::error(
                    n.pos,
                    format!("`{team}` is not a valid team id: {e}"),
                ));
                None
            }
        }
    });
    let description = m
        .get("description")
        .and_then(|n| reader::string(n, "`description`", diags));
    let tags = m
        .get("tags")
        .and_then(|n| reader::string_list(n, "`tags`", diags))
        .map(|t| t.into_iter().map(|(s, _)| s).collect())
        .unwrap_or_default();
    let production = m
        .get("production")
        .and_then(|n| reader::boolean(n, "`production`", diags));

    let tz_node = m.get("timezone");
    let timezone = tz_node.and_then(|n| reader::string(n, "`timezone`", diags));
    let tz = match (&timezone, tz_node) {
        (Some(name), Some(n)) => match crate::schedule::parse_timezone(name) {
            Ok(tz) => Some(tz),
            Err(e) => {
                diags.push(Diagnostic::error(n.pos, e.to_string()));
                None
            }
        },
        _ => Some(chrono_tz::UTC),
    };

    let schedule_node = m.get("schedule");
    let schedule = schedule_node.and_then(|n| read_schedule(n, diags));

    let date = |key: &'static str,
                m: &mut MapReader<'_>,
                diags: &mut Diags|
     -> (Option<DateTime<Utc>>, Option<Pos>) {
        let Some(n) = m.get(key) else {
            return (None, None);
        };
        let Some(text) = reader::string(n, &format!("`{key}`"), diags) else {
            return (None, Some(n.pos));
        };
        // With an unknown time zone (already reported) the date is still checked.
        match parse_date(&text, tz.unwrap_or(chrono_tz::UTC)) {
            Ok(d) => (Some(d), Some(n.pos)),
            Err(msg) => {
                diags.push(Diagnostic::error(n.pos, format!("`{key}`: {msg}")));
                (None, Some(n.pos))
            }
        }
    };
    let (start_date, start_date_pos) = date("start_date", &mut m, diags);
    let (end_date, end_date_pos) = date("end_date", &mut m, diags);
    if let (Some(s), Some(e), Some(pos)) = (start_date, end_date, end_date_pos)
        && e < s
    {
        diags.push(Diagnostic::error(pos, "`end_date` is before `start_date`"));
    }

    let catchup_node = m.get("catchup");
    let catchup = catchup_node.and_then(|n| reader::boolean(n, "`catchup`", diags));
    let paused = m
        .get("paused")
        .and_then(|n| reader::boolean(n, "`paused`", diags));
    let at_least_one = |key: &'static str, m: &mut MapReader<'_>, diags: &mut Diags| {
        let n = m.get(key)?;
        let v = reader::unsigned(n, &format!("`{key}`"), diags)?;
        if v == 0 {
            diags.push(Diagnostic::error(
                n.pos,
                format!("`{key}` must be at least 1"),
            ));
            return None;
        }
        Some(v)
    };
    let max_active_runs = at_least_one("max_active_runs", &mut m, diags);
    let max_active_tasks = at_least_one("max_active_tasks", &mut m, diags);
    let params = m.get("params").and_then(|n| match n.to_json() {
        serde_json::Value::Object(map) => Some(map),
        _ => {
            diags.push(Diagnostic::error(
                n.pos,
                format!(
                    "`params` must be a mapping of names to values, found {}",
                    n.kind_name()
                ),
            ));
            None
        }
    });
    let defaults = m
        .get("defaults")
        .map(|n| read_defaults(n, diags))
        .unwrap_or_default();
    let notify = m
        .get("notify")
        .and_then(|n| crate::notify::read_notify(n, true, diags))
        .unwrap_or_default();
    let deadline = m
        .get("deadline")
        .and_then(|n| crate::notify::read_run_deadline(n, diags));

    let mut tasks = IndexMap::new();
    let mut positions = IndexMap::new();
    if let Some(tasks_node) = m.require("tasks", diags) {
        match &tasks_node.value {
            Value::Map(entries) if entries.is_empty() => {
                diags.push(Diagnostic::error(tasks_node.pos, "the DAG has no tasks"));
            }
            Value::Map(entries) => {
                for entry in entries {
                    let id = match TaskId::new(entry.key.as_str()) {
                        Ok(id) => id,
                        Err(e) => {
                            diags.push(Diagnostic::error(
                                entry.key_pos,
                                format!("`{}` is not a valid task id: {e}", entry.key),
                            ));
                            continue;
                        }
                    };
                    if let Some((spec, at)) =
                        read_task(&entry.key, entry.key_pos, &entry.value, diags)
                    {
                        tasks.insert(id.clone(), spec);
                        positions.insert(id, at);
                    } else {
                        // Keep the id known so dependencies on it are not reported twice.
                        positions.insert(
                            id,
                            TaskPositions {
                                pos: entry.key_pos,
                                ..TaskPositions::default()
                            },
                        );
                    }
                }
            }
            _ => diags.push(Diagnostic::error(
                tasks_node.pos,
                format!(
                    "`tasks` must be a mapping of task ids to tasks, found {}",
                    tasks_node.kind_name()
                ),
            )),
        }
    }
    m.finish(diags);
    if production == Some(true) {
        refuse_unversioned_files(&tasks, &positions, diags);
    }

    let spec = DagSpec {
        dag: dag?,
        team: team?,
        description,
        tags,
        production: production.unwrap_or(false),
        schedule,
        timezone: timezone.unwrap_or_else(|| "UTC".into()),
        start_date,
        end_date,
        catchup: catchup.unwrap_or(false),
        paused: paused.unwrap_or(true),
        max_active_runs: max_active_runs.unwrap_or(16),
        max_active_tasks: max_active_tasks.unwrap_or(16),
        params: params.unwrap_or_default(),
        defaults,
        notify,
        deadline,
        tasks,
    };
    Some(ReadDag {
        spec,
        pos: node.pos,
        catchup_pos: catchup_node.map(|n| n.pos),
        schedule_pos: schedule_node.map(|n| n.pos),
        start_date_pos,
        tasks: positions,
    })
}

/// A production DAG's version is what a second person approved, so everything it runs
/// must be in it: a `sql` task's `file` is read when the task runs, from whatever the
/// folder holds then, and would run changes nobody approved.
fn refuse_unversioned_files(
    tasks: &IndexMap<TaskId, TaskSpec>,
    positions: &IndexMap<TaskId, TaskPositions>,
    diags: &mut Diags,
) {
    for (id, task) in tasks {
        if let TaskKind::Sql(sql) = &task.kind
            && let SqlSource::File(file) = &sql.source
        {
            let pos = positions.get(id).map_or(Pos::new(1, 1), |p| p.pos);
            diags.push(
                Diagnostic::error(
                    pos,
                    format!(
                        "task `{id}` of a production DAG reads its SQL from `{file}` when it runs, so a change to that file would run without approval"
                    ),
                )
                .with_help("write the SQL in the task's `query:` (it is then part of the approved version), or take `production` off"),
            );
        }
    }
}

/// `datasets: [uri, ...]` (all of them), `datasets: {any: [...]}` or `{all: [...]}`.
fn read_datasets(node: &Node, diags: &mut Diags) -> Option<DatasetsSpec> {
    let (list, any) = match &node.value {
        Value::Map(_) => {
            let mut m = MapReader::new(node, "`datasets`", diags)?;
            let any = m.get("any");
            let all = m.get("all");
            m.finish(diags);
            match (any, all) {
                (Some(list), None) => (list, true),
                (None, Some(list)) => (list, false),
                _ => {
                    diags.push(
                        Diagnostic::error(node.pos, "`datasets` takes one of `any:` or `all:`")
                            .with_help("e.g. `datasets: {any: [s3://a, s3://b]}`; a plain list means all of them"),
                    );
                    return None;
                }
            }
        }
        _ => (node, false),
    };
    let uris = reader::string_list(list, "`datasets`", diags)?;
    if uris.is_empty() {
        diags.push(Diagnostic::error(
            list.pos,
            "a dataset schedule needs at least one dataset URI",
        ));
        return None;
    }
    let mut ok = true;
    for (uri, pos) in &uris {
        if let Err(problem) = crate::dataset::UriPattern::parse(uri) {
            diags.push(Diagnostic::error(*pos, problem).with_help(
                "a URI, or a pattern with `*` (within a segment) or `**` (across segments)",
            ));
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    let uris: Vec<String> = uris.into_iter().map(|(s, _)| s).collect();
    Some(if any {
        DatasetsSpec::Any { any: uris }
    } else {
        DatasetsSpec::All(uris)
    })
}

fn read_schedule(node: &Node, diags: &mut Diags) -> Option<ScheduleSpec> {
    if node.is_null() {
        return None;
    }
    match &node.value {
        Value::Scalar(s) => match crate::schedule::parse_schedule(&s.text) {
            Ok(_) => Some(ScheduleSpec::Cron(s.text.clone())),
            Err(e) => {
                diags.push(Diagnostic::error(node.pos, e.to_string()));
                None
            }
        },
        Value::Map(_) => {
            let mut m = MapReader::new(node, "`schedule`", diags)?;
            let cron = m.get("cron").and_then(|n| {
                let text = reader::string(n, "`cron`", diags)?;
                match crate::schedule::parse_schedule(&text) {
                    Ok(s) if s.is_time_based() => Some(text),
                    Ok(_) => {
                        diags.push(Diagnostic::error(
                            n.pos,
                            format!("`{text}` is no time-based schedule to run beside datasets"),
                        ));
                        None
                    }
                    Err(e) => {
                        diags.push(Diagnostic::error(n.pos, e.to_string()));
                        None
                    }
                }
            });
            let had_cron = m.get("cron").is_some();
            let datasets = m
                .require("datasets", diags)
                .and_then(|n| read_datasets(n, diags));
            m.finish(diags);
            if had_cron && cron.is_none() {
                return None;
            }
            Some(ScheduleSpec::Datasets(DatasetSchedule {
                cron,
                datasets: datasets?,
            }))
        }
        Value::Seq(_) => {
            diags.push(
                Diagnostic::error(
                    node.pos,
                    "`schedule` must be a cron expression, a preset or `{datasets: [...]}`",
                )
                .with_help("e.g. `schedule: \"0 3 * * *\"` or `schedule: \"@daily\"`"),
            );
            None
        }
    }
}
