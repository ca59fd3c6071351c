//! DAGs and their tasks (`GET /dags`, `/dags/{dag_id}/details`, `/dags/{dag_id}/tasks`,
//! `PATCH /dags/{dag_id}`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use weir_core::spec::model;
use weir_core::trigger_rule::TriggerRule;

use crate::schema::TriggerRuleSchema;
use crate::time;

/// Airflow's `{"__type": "CronExpression", "value": "0 3 * * *"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = CronExpression)]
pub struct ScheduleInterval {
    /// Always `CronExpression`.
    #[serde(rename = "__type")]
    pub kind: String,
    pub value: String,
}

/// A tag, an object for Airflow's sake: `{"name": "revenue"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Tag {
    pub name: String,
}

/// A DAG (`GET /dags/{dag_id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = DAG)]
pub struct Dag {
    pub dag_id: String,
    pub dag_display_name: String,
    pub is_paused: bool,
    pub is_active: bool,
    #[serde(default, with = "time::option")]
    pub last_parsed_time: Option<DateTime<Utc>>,
    pub fileloc: String,
    /// Names the DAG's file for `GET /dagSources/{file_token}` (opaque: not a path).
    pub file_token: String,
    pub owners: Vec<String>,
    pub description: Option<String>,
    pub schedule_interval: Option<ScheduleInterval>,
    pub timetable_description: Option<String>,
    pub tags: Vec<Tag>,
    pub max_active_tasks: Option<u32>,
    pub max_active_runs: Option<u32>,
    pub has_task_concurrency_limits: Option<bool>,
    pub has_import_errors: Option<bool>,
    #[serde(default, with = "time::option")]
    pub next_dagrun: Option<DateTime<Utc>>,
    #[serde(default, with = "time::option")]
    pub next_dagrun_data_interval_start: Option<DateTime<Utc>>,
    #[serde(default, with = "time::option")]
    pub next_dagrun_data_interval_end: Option<DateTime<Utc>>,
    #[serde(default, with = "time::option")]
    pub next_dagrun_create_after: Option<DateTime<Utc>>,
    /// Weir: the team that owns the DAG.
    pub team: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = DAGCollection)]
pub struct DagCollection {
    pub dags: Vec<Dag>,
    pub total_entries: i64,
}

/// A DAG with its settings (`GET /dags/{dag_id}/details`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = DAGDetail)]
pub struct DagDetail {
    #[serde(flatten)]
    pub dag: Dag,
    pub timezone: String,
    pub catchup: bool,
    pub orientation: String,
    pub concurrency: u32,
    #[serde(default, with = "time::option")]
    pub start_date: Option<DateTime<Utc>>,
    #[serde(default, with = "time::option")]
    pub end_date: Option<DateTime<Utc>>,
    pub dag_run_timeout: Option<TimeDelta>,
    pub doc_md: Option<String>,
    pub default_view: String,
    pub params: serde_json::Map<String, serde_json::Value>,
    pub is_paused_upon_creation: bool,
    #[serde(default, with = "time::option")]
    pub last_parsed: Option<DateTime<Utc>>,
    pub render_template_as_native_obj: bool,
    /// Weir: new versions need a second person's approval.
    pub production: bool,
    /// Weir: content hash of the current version.
    pub version: Option<String>,
}

/// Airflow's time delta object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TimeDelta {
    /// Always `TimeDelta`.
    #[serde(rename = "__type")]
    pub kind: String,
    pub days: u64,
    pub seconds: u64,
    pub microseconds: u64,
}

impl From<std::time::Duration> for TimeDelta {
    fn from(d: std::time::Duration) -> Self {
        let secs = d.as_secs();
        TimeDelta {
            kind: "TimeDelta".into(),
            days: secs / 86_400,
            seconds: secs % 86_400,
            microseconds: u64::from(d.subsec_micros()),
        }
    }
}

/// Airflow's operator class reference; Weir names the task kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = ClassReference)]
pub struct ClassRef {
    pub module_path: String,
    pub class_name: String,
}

/// A task of a DAG (`GET /dags/{dag_id}/tasks`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Task {
    pub class_ref: ClassRef,
    pub task_id: String,
    pub task_display_name: String,
    pub owner: String,
    #[serde(default, with = "time::option")]
    pub start_date: Option<DateTime<Utc>>,
    #[serde(default, with = "time::option")]
    pub end_date: Option<DateTime<Utc>>,
    #[schema(value_type = TriggerRuleSchema)]
    pub trigger_rule: TriggerRule,
    pub extra_links: Vec<serde_json::Value>,
    pub depends_on_past: bool,
    pub is_mapped: bool,
    pub wait_for_downstream: bool,
    pub retries: u32,
    pub queue: Option<String>,
    pub pool: String,
    pub pool_slots: u32,
    pub execution_timeout: Option<TimeDelta>,
    pub retry_delay: Option<TimeDelta>,
    pub retry_exponential_backoff: bool,
    pub template_fields: Vec<String>,
    pub downstream_task_ids: Vec<String>,
    /// Weir: the task kind.
    pub kind: TaskKind,
    /// Weir: the upstream task ids.
    pub upstream_task_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskCollection {
    pub tasks: Vec<Task>,
    pub total_entries: i64,
}

/// The kind of a task: the key that names it in a DAG file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    Shell,
    Container,
    Job,
    Sql,
    Http,
    Sensor,
    Noop,
}

impl TaskKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Shell => "shell",
            TaskKind::Container => "container",
            TaskKind::Job => "job",
            TaskKind::Sql => "sql",
            TaskKind::Http => "http",
            TaskKind::Sensor => "sensor",
            TaskKind::Noop => "noop",
        }
    }
}

impl std::fmt::Display for TaskKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&model::TaskKind> for TaskKind {
    fn from(k: &model::TaskKind) -> Self {
        match k {
            model::TaskKind::Shell(_) => TaskKind::Shell,
            model::TaskKind::Container(_) => TaskKind::Container,
            model::TaskKind::Job(_) => TaskKind::Job,
            model::TaskKind::Sql(_) => TaskKind::Sql,
            model::TaskKind::Http(_) => TaskKind::Http,
            model::TaskKind::Sensor(_) => TaskKind::Sensor,
            model::TaskKind::Noop(_) => TaskKind::Noop,
        }
    }
}

/// `PATCH /dags/{dag_id}` without `update_mask`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DAGPatch)]
pub struct PatchDag {
    pub is_paused: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_deltas_split_days() {
        let d = TimeDelta::from(std::time::Duration::from_millis(90_061_500));
        assert_eq!((d.days, d.seconds, d.microseconds), (1, 3661, 500_000));
        assert_eq!(d.kind, "TimeDelta");
    }

    #[test]
    fn task_kinds_are_spelled_as_in_dag_files() {
        let kinds = [
            TaskKind::Shell,
            TaskKind::Container,
            TaskKind::Job,
            TaskKind::Sql,
            TaskKind::Http,
            TaskKind::Sensor,
            TaskKind::Noop,
        ];
        let names: Vec<_> = kinds.iter().map(|k| k.as_str()).collect();
        assert_eq!(names, model::TaskKind::NAMES);
        for k in kinds {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        let shell = model::TaskKind::Shell("true".into());
        assert_eq!(TaskKind::from(&shell).as_str(), shell.name());
    }
}
