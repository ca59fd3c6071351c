//! The plain records the store reads and writes: typed ids and states from weir-core,
//! `DateTime<Utc>` for times, `serde_json::Value` for JSON.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use weir_core::ids::{DagId, MapIndex, RunId, TaskId, TeamId, TryKey, TryNumber};
use weir_core::state::{DagRunState, RunType, TaskState};

/// A change of a task instance, one named case each (weir-core decides them; the store
/// applies them, compare-and-set on the state each case expects).
pub use weir_core::lifecycle::TaskInstanceUpdate;

/// One page of a list, with the number of entries across all pages (Airflow's
/// `total_entries`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total_entries: i64,
}

/// A DAG as the scheduler and the API see it: what the latest parse of its file said,
/// plus the user's pause switch and the scheduler's next run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DagRecord {
    pub dag_id: DagId,
    pub team: Option<TeamId>,
    pub file_path: String,
    pub description: Option<String>,
    pub tags: Vec<String>,
    /// The schedule as written (cron, `@daily`, a dataset expression); `None` for manual only.
    pub schedule: Option<String>,
    pub timezone: String,
    /// Content hash of the latest [`DagVersionRecord`].
    pub latest_version: Option<String>,
    /// Only written when the DAG is first seen; afterwards changed by [`crate::Store::set_paused`].
    pub is_paused: bool,
    pub is_active: bool,
    pub owners: Vec<String>,
    pub max_active_runs: u32,
    /// The next scheduled run; only written when the DAG is first seen, afterwards by
    /// [`crate::Store::set_next_dagrun`].
    pub next_dagrun: Option<NextDagRun>,
    pub last_parsed_at: Option<DateTime<Utc>>,
}

/// The logical date and data interval of a DAG's next scheduled run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextDagRun {
    pub logical_date: DateTime<Utc>,
    pub data_interval_start: Option<DateTime<Utc>>,
    pub data_interval_end: Option<DateTime<Utc>>,
}

/// Filter and page for [`crate::Store::list_dags`], sorted by DAG id. The default lists active
/// DAGs, 100 per page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DagFilter {
    /// Leave out DAGs whose file no longer defines them.
    pub only_active: bool,
    pub paused: Option<bool>,
    pub team: Option<TeamId>,
    pub limit: i64,
    pub offset: i64,
}

impl Default for DagFilter {
    fn default() -> Self {
        DagFilter {
            only_active: true,
            paused: None,
            team: None,
            limit: 100,
            offset: 0,
        }
    }
}

/// One content version of a DAG, addressed by its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DagVersionRecord {
    pub dag_id: DagId,
    pub version_hash: String,
    pub spec: Value,
    pub source: String,
    pub created_at: DateTime<Utc>,
}

/// What it takes to create a DAG run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewDagRun {
    pub dag_id: DagId,
    pub run_id: RunId,
    pub version_hash: String,
    pub run_type: RunType,
    /// Initial state, normally [`DagRunState::Queued`].
    pub state: DagRunState,
    pub logical_date: DateTime<Utc>,
    pub data_interval_start: Option<DateTime<Utc>>,
    pub data_interval_end: Option<DateTime<Utc>>,
    pub conf: Value,
    pub external_trigger: bool,
    pub queued_at: DateTime<Utc>,
}

/// A DAG run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DagRunRecord {
    pub dag_id: DagId,
    pub run_id: RunId,
    pub version_hash: String,
    pub run_type: RunType,
    pub state: DagRunState,
    pub logical_date: DateTime<Utc>,
    pub data_interval_start: Option<DateTime<Utc>>,
    pub data_interval_end: Option<DateTime<Utc>>,
    pub conf: Value,
    pub external_trigger: bool,
    pub queued_at: Option<DateTime<Utc>>,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    /// Airflow's note: free text given when the run was triggered.
    pub note: Option<String>,
}

/// Which column [`crate::Store::list_dag_runs`] sorts by (ties broken by run id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DagRunOrder {
    #[default]
    LogicalDate,
    StartDate,
    EndDate,
    RunId,
    DagId,
    State,
}

/// Filter, sort and page for [`crate::Store::list_dag_runs`]. The default lists every run of
/// every DAG, newest logical date first, 100 per page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DagRunFilter {
    pub dag_id: Option<DagId>,
    /// Empty: any state.
    pub states: Vec<DagRunState>,
    pub logical_date_gte: Option<DateTime<Utc>>,
    pub logical_date_lte: Option<DateTime<Utc>>,
    pub order_by: DagRunOrder,
    pub descending: bool,
    pub limit: i64,
    pub offset: i64,
}

impl Default for DagRunFilter {
    fn default() -> Self {
        DagRunFilter {
            dag_id: None,
            states: Vec::new(),
            logical_date_gte: None,
            logical_date_lte: None,
            order_by: DagRunOrder::LogicalDate,
            descending: true,
            limit: 100,
            offset: 0,
        }
    }
}

/// The identity of a task instance: one task (and map index) in one DAG run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TaskInstanceKey {
    pub dag_id: DagId,
    pub run_id: RunId,
    pub task_id: TaskId,
    pub map_index: MapIndex,
}

impl TaskInstanceKey {
    /// The key of try `try_number` of this task instance.
    pub fn try_key(&self, try_number: TryNumber) -> TryKey {
        TryKey {
            dag_id: self.dag_id.clone(),
            run_id: self.run_id.clone(),
            task_id: self.task_id.clone(),
            map_index: self.map_index,
            try_number,
        }
    }
}

impl From<&TryKey> for TaskInstanceKey {
    fn from(k: &TryKey) -> Self {
        TaskInstanceKey {
            dag_id: k.dag_id.clone(),
            run_id: k.run_id.clone(),
            task_id: k.task_id.clone(),
            map_index: k.map_index,
        }
    }
}

impl fmt::Display for TaskInstanceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}[{}]",
            self.dag_id, self.run_id, self.task_id, self.map_index
        )
    }
}

/// A task instance to create in a DAG run (state `none`, try number 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTaskInstance {
    pub task_id: TaskId,
    pub map_index: MapIndex,
    pub max_tries: u32,
    pub pool: String,
    pub queue: String,
    pub priority_weight: i32,
}

/// A task instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInstanceRecord {
    pub key: TaskInstanceKey,
    pub state: TaskState,
    /// Number of the current (or last) try; 0 before the first.
    pub try_number: TryNumber,
    pub max_tries: u32,
    pub pool: String,
    pub queue: String,
    pub priority_weight: i32,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub next_retry_at: Option<DateTime<Utc>>,
    pub hostname: Option<String>,
    pub pid: Option<u32>,
    /// The rendered command shown to the user.
    pub rendered_command: Option<String>,
    pub note: Option<String>,
}

/// One try of a task instance, as recorded when it starts and completed when it finishes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TryRecord {
    pub key: TryKey,
    pub state: TaskState,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub hostname: Option<String>,
    /// Directory holding the try's log and working files.
    pub try_dir: Option<String>,
    pub pid: Option<u32>,
    /// The compute backend that runs it (`process`, `docker`, …).
    pub executor: Option<String>,
    /// The backend's own id of the job, when it assigns one (for adoption after a crash).
    pub external_id: Option<String>,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub cpu_seconds: Option<f64>,
    pub peak_rss_bytes: Option<u64>,
    /// The Weir replica that watches the try (see `replicas`); another takes it over
    /// when that replica's lease runs out.
    pub replica_id: Option<String>,
}

impl TryRecord {
    /// A try that starts now: state `running`, nothing finished yet.
    pub fn started(key: TryKey, started_at: DateTime<Utc>) -> Self {
        TryRecord {
            key,
            state: TaskState::Running,
            started_at,
            finished_at: None,
            hostname: None,
            try_dir: None,
            pid: None,
            executor: None,
            external_id: None,
            exit_code: None,
            reason: None,
            cpu_seconds: None,
            peak_rss_bytes: None,
            replica_id: None,
        }
    }
}

/// How a try ended, for [`crate::Store::finish_try`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TryOutcome {
    pub state: TaskState,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub finished_at: DateTime<Utc>,
    pub cpu_seconds: Option<f64>,
    pub peak_rss_bytes: Option<u64>,
}

/// One XCom value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct XComRecord {
    pub key: TaskInstanceKey,
    pub xcom_key: String,
    pub value: Value,
    pub timestamp: DateTime<Utc>,
}

/// A variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableRecord {
    pub key: String,
    pub value: String,
    pub description: Option<String>,
    /// The owning team (`None`: platform-wide), fixed when the variable is created.
    pub team: Option<String>,
}

/// A DAG file that failed to load, with the error text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportErrorRecord {
    pub import_error_id: i64,
    pub filename: String,
    pub stack_trace: String,
    pub timestamp: DateTime<Utc>,
}

/// A pool of slots limiting how many task instances run at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolRecord {
    pub name: String,
    /// Number of slots; `-1` for unlimited (Airflow's convention).
    pub slots: i32,
    pub description: Option<String>,
    /// Whether deferred task instances count against the slots (Airflow's field; Weir
    /// has no deferred state, so it is only stored and shown).
    pub include_deferred: bool,
}
