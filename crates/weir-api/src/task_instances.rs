//! Task instances (`…/dagRuns/{dag_run_id}/taskInstances`), what clearing them answers,
//! and their logs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use weir_core::state::TaskState;

use crate::dags::TaskKind;
use crate::schema::TaskStateSchema;
use crate::time::{self, ApiDateTime};

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
    /// Airflow's meaning: the try number after which no retry is left (the task's
    /// retries at first; a clear raises it by the retries again, so it is the tries made
    /// before the clear plus the retries). At most `max_tries + 1` tries in all.
    pub max_tries: u32,
    pub hostname: String,
    pub pool: String,
    pub pool_slots: u32,
    pub queue: Option<String>,
    pub priority_weight: Option<i32>,
    /// The task kind, if the DAG still has the task.
    pub operator: Option<TaskKind>,
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
    /// Weir: when a sensor waiting for its condition (`up_for_reschedule`) is checked
    /// next; its `note` says what it waits for.
    #[serde(default, with = "time::option")]
    pub next_check_at: Option<DateTime<Utc>>,
}

impl TaskInstance {
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

/// `POST /dags/{dag_id}/clearTaskInstances`. As in Airflow, `dry_run` and `only_failed`
/// default to true.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClearTaskInstances {
    #[serde(default = "yes")]
    pub dry_run: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub start_date: Option<ApiDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub end_date: Option<ApiDateTime>,
    #[serde(default = "yes")]
    pub only_failed: bool,
    #[serde(default)]
    pub only_running: bool,
    /// Accepted for compatibility: clearing always sets the runs back to running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_dag_runs: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dag_run_id: Option<String>,
    #[serde(default)]
    pub include_upstream: bool,
    #[serde(default)]
    pub include_downstream: bool,
    #[serde(default)]
    pub include_future: bool,
    #[serde(default)]
    pub include_past: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_subdags: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_parentdag: Option<bool>,
    /// Airflow 3: run the cleared tasks on the DAG's latest version instead of their
    /// run's own one (the run moves to that version). Default: the run's own version.
    #[serde(default)]
    pub run_on_latest_version: bool,
}

impl Default for ClearTaskInstances {
    fn default() -> Self {
        ClearTaskInstances {
            dry_run: true,
            task_ids: None,
            start_date: None,
            end_date: None,
            only_failed: true,
            only_running: false,
            reset_dag_runs: None,
            dag_run_id: None,
            include_upstream: false,
            include_downstream: false,
            include_future: false,
            include_past: false,
            include_subdags: None,
            include_parentdag: None,
            run_on_latest_version: false,
        }
    }
}

fn yes() -> bool {
    true
}

/// A piece of a try's log, and the token to ask for what follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogResponse {
    pub content: String,
    pub continuation_token: Option<String>,
}

/// One try of a task instance, as Weir recorded it (Weir's own resource):
/// `GET …/taskInstances/{task_id}/tries`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskTry {
    pub try_number: u32,
    #[schema(value_type = TaskStateSchema)]
    pub state: TaskState,
    pub start_date: DateTime<Utc>,
    pub end_date: Option<DateTime<Utc>>,
    pub hostname: Option<String>,
    /// The compute backend that ran it (`process`, `docker`, …).
    pub executor: Option<String>,
    pub exit_code: Option<i32>,
    /// Why it ended, in Weir's words (e.g. `exit code 1`, `OutOfMemory…`, `timed out`);
    /// `null` for callers who may not read the DAG's task logs.
    pub reason: Option<String>,
    pub cpu_seconds: Option<f64>,
    pub peak_memory_bytes: Option<u64>,
    /// What the try cost at the prices in force when it ran, once it ended.
    pub cost: Option<f64>,
}

/// The tries of a task instance, and the names of the environment variables its task
/// declares (never their values: some are secrets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskTryCollection {
    pub tries: Vec<TaskTry>,
    /// Declared in the task (and the DAG's defaults), in order; secrets and connections
    /// included by name.
    pub env_names: Vec<String>,
    /// Those of `env_names` whose value is a secret or a connection (masked in logs).
    pub secret_env_names: Vec<String>,
    pub total_entries: i64,
}
