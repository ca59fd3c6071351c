//! Conversions to the DAG shapes (`weir_api::dags`) from the store's DAG records and the
//! DAG's current spec.

use weir_api::dags::{ClassRef, Dag, DagDetail, ScheduleInterval, Tag, Task, TaskKind, TimeDelta};
use weir_core::retry::RetryBackoff;
use weir_core::schedule::{Schedule, describe, parse_schedule};
use weir_core::spec::DagSpec;
use weir_core::spec::model::{self, ScheduleSpec, TaskSpec};
use weir_store::DagRecord;

/// The DAG as the store has it, completed from its current spec when there is one.
pub fn dag(record: &DagRecord, spec: Option<&DagSpec>, has_import_errors: bool) -> Dag {
    let (schedule_interval, timetable_description) = schedule_fields(record, spec);
    let next = record.next_dagrun;
    Dag {
        dag_id: record.dag_id.to_string(),
        dag_display_name: record.dag_id.to_string(),
        is_paused: record.is_paused,
        is_active: record.is_active,
        last_parsed_time: record.last_parsed_at,
        fileloc: record.file_path.clone(),
        file_token: weir_api::dag_sources::file_token(record.dag_id.as_str()),
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
        next_dagrun_create_after: next.and_then(|n| n.data_interval_end.or(Some(n.logical_date))),
        team: record.team.as_ref().map(ToString::to_string),
    }
}

/// `schedule_interval` and `timetable_description`; dataset and manual schedules have no
/// interval (`null`), as in Airflow.
fn schedule_fields(
    record: &DagRecord,
    spec: Option<&DagSpec>,
) -> (Option<ScheduleInterval>, Option<String>) {
    if let Some(schedule @ ScheduleSpec::Datasets(d)) = spec.and_then(|s| s.schedule.as_ref()) {
        let interval = d.cron.as_ref().map(|expr| ScheduleInterval {
            kind: "CronExpression".into(),
            value: expr.clone(),
        });
        return (interval, Some(schedule.describe()));
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

/// A DAG with its settings.
pub fn dag_detail(record: &DagRecord, spec: &DagSpec, has_import_errors: bool) -> DagDetail {
    DagDetail {
        dag: dag(record, Some(spec), has_import_errors),
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

/// The task `task_id` of `spec`.
pub fn task(spec: &DagSpec, task_id: &str, task: &TaskSpec) -> Task {
    let eff = spec.effective(task);
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
        kind: TaskKind::from(&task.kind),
        upstream_task_ids: task.depends_on.iter().map(ToString::to_string).collect(),
    }
}

/// `shell` → `ShellTask`.
fn class_name(kind: &model::TaskKind) -> String {
    let name = kind.name();
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => format!("{}{}Task", first.to_ascii_uppercase(), chars.as_str()),
        None => "Task".into(),
    }
}

/// The fields of each kind that are rendered as templates.
fn template_fields(kind: &model::TaskKind) -> Vec<String> {
    let fields: &[&str] = match kind {
        model::TaskKind::Shell(_) => &["shell", "env"],
        model::TaskKind::Container(_) => &["command", "args", "env"],
        model::TaskKind::Job(_) => &["command", "env"],
        model::TaskKind::Sql(_) => &["query"],
        model::TaskKind::Http(_) => &["url", "headers", "body"],
        model::TaskKind::Sensor(s) if s.sql.is_some() => &["query"],
        model::TaskKind::Sensor(s) if s.http.is_some() => &["url", "headers", "body"],
        model::TaskKind::Sensor(s) if s.file.is_some() => &["file"],
        model::TaskKind::Sensor(_) | model::TaskKind::Noop(_) => &[],
    };
    fields.iter().map(ToString::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_come_from_kinds() {
        assert_eq!(class_name(&model::TaskKind::Shell("x".into())), "ShellTask");
        assert_eq!(
            class_name(&model::TaskKind::Noop(Default::default())),
            "NoopTask"
        );
    }
}
