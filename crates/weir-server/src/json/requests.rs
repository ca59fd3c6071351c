//! Request bodies. Unknown fields are refused (a 400 naming the field), as Airflow's
//! schemas refuse them; ids and dates are checked when the handler reads them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use weir_core::state::DagRunState;

use super::DagRun;
use super::schema::DagStateSchema;
use crate::extract::ApiDateTime;

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

/// `PATCH /dags/{dag_id}` without `update_mask`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DAGPatch)]
pub struct PatchDag {
    pub is_paused: bool,
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
        }
    }
}

fn yes() -> bool {
    true
}

/// `POST /variables` and `PATCH /variables/{key}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariableBody {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Weir: the team that owns a new variable (default: the caller's only admin team;
    /// none, platform-wide, for platform admins). Ignored on update: ownership stays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
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
