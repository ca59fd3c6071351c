//! Conversions to the shapes of DAG runs, task instances and XComs from the store's
//! records.

use chrono::{DateTime, Utc};
use serde_json::Value;
use weir_api::dags::TaskKind;
use weir_api::runs::DagRun;
use weir_api::task_instances::TaskInstance;
use weir_api::xcom::XComEntry;
use weir_core::state::TaskState;
use weir_store::{DagRunRecord, TaskInstanceRecord, XComRecord};

/// A DAG run as the store has it.
pub fn dag_run(r: DagRunRecord) -> DagRun {
    DagRun {
        dag_run_id: r.run_id.to_string(),
        dag_id: r.dag_id.to_string(),
        logical_date: r.logical_date,
        execution_date: r.logical_date,
        start_date: r.start_date,
        end_date: r.end_date,
        data_interval_start: r.data_interval_start,
        data_interval_end: r.data_interval_end,
        last_scheduling_decision: None,
        run_type: r.run_type,
        state: r.state,
        external_trigger: r.external_trigger,
        conf: r.conf,
        note: r.note,
        queued_at: r.queued_at,
        dag_hash: Some(r.version_hash),
        dag_version: None,
    }
}

/// A task instance. `execution_date` is the run's logical date; `operator` the task's
/// kind, if the DAG still has the task.
pub fn task_instance(
    ti: TaskInstanceRecord,
    execution_date: DateTime<Utc>,
    operator: Option<TaskKind>,
) -> TaskInstance {
    let duration = match (ti.start_date, ti.end_date) {
        (Some(s), Some(e)) => Some((e - s).num_microseconds().unwrap_or(0) as f64 / 1e6),
        _ => None,
    };
    let mut rendered_fields = serde_json::Map::new();
    if let Some(cmd) = ti.rendered_command {
        rendered_fields.insert("command".into(), Value::String(cmd));
    }
    TaskInstance {
        task_id: ti.key.task_id.to_string(),
        task_display_name: ti.key.task_id.to_string(),
        dag_id: ti.key.dag_id.to_string(),
        dag_run_id: ti.key.run_id.to_string(),
        execution_date,
        start_date: ti.start_date,
        end_date: ti.end_date,
        duration,
        state: (ti.state != TaskState::None).then_some(ti.state),
        try_number: ti.try_number,
        map_index: ti.key.map_index,
        // The store keeps the last try number allowed; Airflow's `max_tries` is the last
        // try after which a retry is still allowed.
        max_tries: ti.max_tries.saturating_sub(1),
        hostname: ti.hostname.unwrap_or_default(),
        pool: ti.pool,
        pool_slots: 1,
        queue: Some(ti.queue),
        priority_weight: Some(ti.priority_weight),
        operator,
        queued_when: None,
        pid: ti.pid,
        rendered_map_index: None,
        rendered_fields,
        sla_miss: None,
        trigger: None,
        triggerer_job: None,
        note: ti.note,
        // One column holds both: the time of the next try, or of a sensor's next check.
        next_retry_at: ti
            .next_retry_at
            .filter(|_| ti.state != TaskState::UpForReschedule),
        next_check_at: ti
            .next_retry_at
            .filter(|_| ti.state == TaskState::UpForReschedule),
    }
}

/// An XCom without its value; `execution_date` is the run's logical date.
pub fn xcom_entry(x: &XComRecord, execution_date: DateTime<Utc>) -> XComEntry {
    XComEntry {
        key: x.xcom_key.clone(),
        timestamp: x.timestamp,
        execution_date,
        map_index: x.key.map_index,
        task_id: x.key.task_id.to_string(),
        dag_id: x.key.dag_id.to_string(),
        dag_run_id: x.key.run_id.to_string(),
    }
}
