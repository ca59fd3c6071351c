//! DAGs and their tasks (`GET /dags`, `/dags/{dag_id}/details`, `/dags/{dag_id}/tasks`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use weir_core::retry::RetryBackoff;
use weir_core::schedule::{Schedule, describe, parse_schedule};
use weir_core::spec::DagSpec;
use weir_core::spec::model::{ScheduleSpec, TaskKind, TaskSpec};
use weir_core::trigger_rule::TriggerRule;
use weir_store::DagRecord;

use super::schema::TriggerRuleSchema;
use super::time;

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

impl Dag {
    /// The DAG as the store has it, completed from its current spec when there is one.
    pub fn new(record: &DagRecord, spec: Option<&DagSpec>, has_import_errors: bool) -> Self {
        let (schedule_interval, timetable_description) = schedule_fields(record, spec);
        let next = record.next_dagrun;
        Dag {
            dag_id: record.dag_id.to_string(),
            dag_display_name: record.dag_id.to_string(),
            is_paused: record.is_paused,
            is_active: record.is_active,
            last_parsed_time: record.last_parsed_at,
            fileloc: record.file_path.clone(),
            owners: record.owners.clone(),
            description: record.description.clone(),
            schedule_interval,
            timetable_description,
            tags: record
                .tags
                .iter()
                .map(|t| Tag { name: t.clone() })
                .collect(),
            max_active_tasks: spec.map(|s| s.max_active_tasks),
            max_active_runs: Some(record.max_active_runs),
            has_task_concurrency_limits: Some(false),
            has_import_errors: Some(has_import_errors),
            next_dagrun: next.map(|n| n.logical_date),
            next_dagrun_data_interval_start: next.and_then(|n| n.data_interval_start),
            next_dagrun_data_interval_end: next.and_then(|n| n.data_interval_end),
            next_dagrun_create_after: next
                .and_then(|n| n.data_interval_end.or(Some(n.logical_date))),
            team: record.team.as_ref().map(ToString::to_string),
        }
    }
}

/// `schedule_interval` and `timetable_description`; dataset and manual schedules have no
/// interval (`null`), as in Airflow.
fn schedule_fields(
    record: &DagRecord,
    spec: Option<&DagSpec>,
) -> (Option<ScheduleInterval>, Option<String>) {
    if let Some(ScheduleSpec::Datasets { datasets }) = spec.and_then(|s| s.schedule.as_ref()) {
        return (None, Some(describe(&Schedule::datasets(datasets.clone()))));
    }
    match &record.schedule {
        None => (None, Some(describe(&Schedule::Manual))),
        Some(s) if s.starts_with("datasets:") => (None, Some(format!("Triggered by {s}"))),
        Some(expr) => (
            Some(ScheduleInterval {
                kind: "CronExpression".into(),
                value: expr.clone(),
            }),
            parse_schedule(expr).ok().map(|s| describe(&s)),
        ),
    }
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

impl DagDetail {
    pub fn new(record: &DagRecord, spec: &DagSpec, has_import_errors: bool) -> Self {
        DagDetail {
            dag: Dag::new(record, Some(spec), has_import_errors),
            timezone: spec.timezone.clone(),
            catchup: spec.catchup,
            orientation: "LR".into(),
            concurrency: spec.max_active_tasks,
            start_date: spec.start_date,
            end_date: spec.end_date,
            dag_run_timeout: None,
            doc_md: None,
            default_view: "grid".into(),
            params: spec.params.clone(),
            is_paused_upon_creation: spec.paused,
            last_parsed: record.last_parsed_at,
            render_template_as_native_obj: false,
            production: spec.production,
            version: record.latest_version.clone(),
        }
    }
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
    /// Weir: the task kind (`shell`, `container`, `job`, `sql`, `http`, `sensor`, `noop`).
    pub kind: String,
    /// Weir: the upstream task ids.
    pub upstream_task_ids: Vec<String>,
}

impl Task {
    pub fn new(spec: &DagSpec, task_id: &str, task: &TaskSpec) -> Self {
        let eff = spec.effective(task);
        let kind = task.kind.name();
        let downstream = spec
            .tasks
            .iter()
            .filter(|(_, t)| t.depends_on.iter().any(|d| d == task_id))
            .map(|(id, _)| id.to_string())
            .collect();
        Task {
            class_ref: ClassRef {
                module_path: "weir.tasks".into(),
                class_name: class_name(&task.kind),
            },
            task_id: task_id.to_string(),
            task_display_name: task_id.to_string(),
            owner: spec.team.to_string(),
            start_date: spec.start_date,
            end_date: spec.end_date,
            trigger_rule: eff.trigger_rule,
            extra_links: Vec::new(),
            depends_on_past: false,
            is_mapped: task.for_each.is_some(),
            wait_for_downstream: false,
            retries: eff.retries,
            queue: Some(eff.queue),
            pool: eff.pool,
            pool_slots: 1,
            execution_timeout: eff.timeout.map(TimeDelta::from),
            retry_delay: Some(eff.retry_delay.into()),
            retry_exponential_backoff: eff.retry_backoff == RetryBackoff::Exponential,
            template_fields: template_fields(&task.kind),
            downstream_task_ids: downstream,
            kind: kind.to_string(),
            upstream_task_ids: task.depends_on.iter().map(ToString::to_string).collect(),
        }
    }
}

/// `shell` → `ShellTask`.
fn class_name(kind: &TaskKind) -> String {
    let name = kind.name();
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => format!("{}{}Task", first.to_ascii_uppercase(), chars.as_str()),
        None => "Task".into(),
    }
}

/// The fields of each kind that are rendered as templates.
fn template_fields(kind: &TaskKind) -> Vec<String> {
    let fields: &[&str] = match kind {
        TaskKind::Shell(_) => &["shell", "env"],
        TaskKind::Container(_) => &["command", "args", "env"],
        TaskKind::Job(_) => &["command", "env"],
        TaskKind::Sql(_) => &["query"],
        TaskKind::Http(_) => &["url", "headers", "body"],
        TaskKind::Sensor(_) | TaskKind::Noop(_) => &[],
    };
    fields.iter().map(ToString::to_string).collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskCollection {
    pub tasks: Vec<Task>,
    pub total_entries: i64,
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
    fn class_names_come_from_kinds() {
        assert_eq!(class_name(&TaskKind::Shell("x".into())), "ShellTask");
        assert_eq!(class_name(&TaskKind::Noop(Default::default())), "NoopTask");
    }
}
