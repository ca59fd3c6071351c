//! DAG runs (`/dags/{dag_id}/dagRuns`), the bodies that trigger and change them, and
//! backfills (`POST /backfills`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use weir_core::state::{DagRunState, RunType};

use crate::schema::{DagStateSchema, RunTypeSchema};
use crate::time::{self, ApiDateTime};

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
    /// Weir: that version's provenance (its commit) and who approved it; given by
    /// `GET /dags/{dag_id}/dagRuns/{dag_run_id}`, not in lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dag_version: Option<crate::governance::RunVersion>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = DAGRunCollection)]
pub struct DagRunCollection {
    pub dag_runs: Vec<DagRun>,
    pub total_entries: i64,
}

/// `POST /dags/{dag_id}/dagRuns`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TriggerDAGRun)]
pub struct TriggerDagRun {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dag_run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub logical_date: Option<ApiDateTime>,
    /// Airflow's older name of `logical_date`; if both are given they must agree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub execution_date: Option<ApiDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conf: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub data_interval_start: Option<ApiDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub data_interval_end: Option<ApiDateTime>,
}

/// `PATCH /dags/{dag_id}/dagRuns/{dag_run_id}`: `success`, `failed` or `queued`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDagRunState {
    #[schema(value_type = DagStateSchema)]
    pub state: DagRunState,
}

/// `POST /backfills` (Weir; the shape of Airflow 3's backfill request): a run for every
/// schedule interval whose logical date is in `[from_date, to_date]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackfillRequest {
    pub dag_id: String,
    #[schema(value_type = String, format = DateTime)]
    pub from_date: ApiDateTime,
    #[schema(value_type = String, format = DateTime)]
    pub to_date: ApiDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dag_run_conf: Option<Map<String, Value>>,
}

/// The runs a backfill created (dates that already had a run are skipped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BackfillResponse {
    pub dag_id: String,
    pub dag_runs: Vec<DagRun>,
    pub total_entries: i64,
}
