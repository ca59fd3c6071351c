//! DAG runs, task instances, XComs and logs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use weir_core::state::{DagRunState, RunType, TaskState};
use weir_store::{DagRunRecord, TaskInstanceRecord, XComRecord};

use super::schema::{DagStateSchema, RunTypeSchema, TaskStateSchema};
use super::time;

/// A DAG run (`GET /dags/{dag_id}/dagRuns/{dag_run_id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = DAGRun)]
pub struct DagRun {
    pub dag_run_id: String,
    pub dag_id: String,
    #[serde(with = "time")]
    pub logical_date: DateTime<Utc>,
    /// The same as `logical_date` (Airflow's older name).
    #[serde(with = "time")]
    pub execution_date: DateTime<Utc>,
    #[serde(default, with = "time::option")]
    pub start_date: Option<DateTime<Utc>>,
    #[serde(default, with = "time::option")]
    pub end_date: Option<DateTime<Utc>>,
    #[serde(default, with = "time::option")]
    pub data_interval_start: Option<DateTime<Utc>>,
    #[serde(default, with = "time::option")]
    pub data_interval_end: Option<DateTime<Utc>>,
    #[serde(default, with = "time::option")]
    pub last_scheduling_decision: Option<DateTime<Utc>>,
    #[schema(value_type = RunTypeSchema, inline)]
    pub run_type: RunType,
    #[schema(value_type = DagStateSchema)]
    pub state: DagRunState,
    pub external_trigger: bool,
    /// The run's conf. `{}` for callers who may not read the DAG's task logs (it may
    /// hold the team's data).
    #[schema(value_type = Object)]
    pub conf: Value,
    pub note: Option<String>,
    /// Weir: when the run was queued.
    #[serde(default, with = "time::option")]
    pub queued_at: Option<DateTime<Utc>>,
    /// Weir: the content hash of the DAG version the run executes.
    pub dag_hash: Option<String>,
}

impl From<DagRunRecord> for DagRun {
    fn from(r: DagRunRecord) -> Self {
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
            note: None,
            queued_at: r.queued_at,
            dag_hash: Some(r.version_hash),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = DAGRunCollection)]
pub struct DagRunCollection {
    pub dag_runs: Vec<DagRun>,
    pub total_entries: i64,
}

/// A task instance. `state` is `null` for Airflow's "no status" (Weir's `none`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskInstance {
    pub task_id: String,
    pub task_display_name: String,
    pub dag_id: String,
    pub dag_run_id: String,
    #[serde(with = "time")]
    pub execution_date: DateTime<Utc>,
    #[serde(default, with = "time::option")]
    pub start_date: Option<DateTime<Utc>>,
    #[serde(default, with = "time::option")]
    pub end_date: Option<DateTime<Utc>>,
    /// Seconds between start and end, once finished.
    pub duration: Option<f64>,
    #[schema(value_type = Option<TaskStateSchema>)]
    pub state: Option<TaskState>,
    pub try_number: u32,
    pub map_index: i32,
    pub max_tries: u32,
    pub hostname: String,
    pub pool: String,
    pub pool_slots: u32,
    pub queue: Option<String>,
    pub priority_weight: Option<i32>,
    /// The task kind (`shell`, `container`, …).
    pub operator: Option<String>,
    #[serde(default, with = "time::option")]
    pub queued_when: Option<DateTime<Utc>>,
    pub pid: Option<u32>,
    pub rendered_map_index: Option<String>,
    /// The rendered `command` once a try started. `{}` for callers who may not read the
    /// DAG's task logs (it may hold pulled XComs and variable values).
    pub rendered_fields: serde_json::Map<String, Value>,
    pub sla_miss: Option<Value>,
    pub trigger: Option<Value>,
    pub triggerer_job: Option<Value>,
    pub note: Option<String>,
    /// Weir: when a task instance waiting to retry becomes due.
    #[serde(default, with = "time::option")]
    pub next_retry_at: Option<DateTime<Utc>>,
}

impl TaskInstance {
    /// `execution_date` is the run's logical date; `operator` the task's kind, if the
    /// DAG still has the task.
    pub fn new(
        ti: TaskInstanceRecord,
        execution_date: DateTime<Utc>,
        operator: Option<String>,
    ) -> Self {
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
            max_tries: ti.max_tries,
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
            next_retry_at: ti.next_retry_at,
        }
    }

    /// The state, with Airflow's `null` read back as `none`.
    pub fn state(&self) -> TaskState {
        self.state.unwrap_or(TaskState::None)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskInstanceCollection {
    pub task_instances: Vec<TaskInstance>,
    pub total_entries: i64,
}

/// What `clearTaskInstances` cleared (or would clear).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskInstanceReference {
    pub task_id: String,
    pub dag_id: String,
    #[serde(with = "time")]
    pub execution_date: DateTime<Utc>,
    pub dag_run_id: String,
    /// Weir: the map index of the instance.
    pub map_index: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskInstanceReferenceCollection {
    pub task_instances: Vec<TaskInstanceReference>,
}

/// An XCom without its value (in lists).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = XComCollectionItem)]
pub struct XComEntry {
    pub key: String,
    #[serde(with = "time")]
    pub timestamp: DateTime<Utc>,
    #[serde(with = "time")]
    pub execution_date: DateTime<Utc>,
    pub map_index: i32,
    pub task_id: String,
    pub dag_id: String,
    /// Weir: the run the XCom belongs to.
    pub dag_run_id: String,
}

impl XComEntry {
    pub fn new(x: &XComRecord, execution_date: DateTime<Utc>) -> Self {
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
}

/// An XCom with its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct XCom {
    #[serde(flatten)]
    pub entry: XComEntry,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct XComCollection {
    pub xcom_entries: Vec<XComEntry>,
    pub total_entries: i64,
}

/// A piece of a try's log, and the token to ask for what follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogResponse {
    pub content: String,
    pub continuation_token: Option<String>,
}
