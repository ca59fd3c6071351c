//! The bodies of Airflow's batch and action endpoints on runs and task instances:
//! `POST /dags/~/dagRuns/list` ([`ListDagRunsForm`]), `POST
//! /dags/~/dagRuns/~/taskInstances/list` ([`ListTaskInstanceForm`]), `PATCH
//! …/taskInstances/{task_id}` ([`UpdateTaskInstance`]) and `POST
//! …/dagRuns/{dag_run_id}/clear` ([`ClearDagRun`], answered with a
//! [`ClearDagRunResponse`]). Unknown fields are refused, as Airflow's schemas refuse them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::runs::DagRun;
use crate::task_instances::TaskInstanceCollection;
use crate::time::ApiDateTime;

/// `POST /dags/~/dagRuns/list`: DAG runs of many DAGs at once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListDagRunsForm {
    /// A field to sort by (`-` first for descending order): id, execution_date,
    /// logical_date, dag_run_id, start_date, end_date, state, dag_id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_by: Option<String>,
    /// The number of items to skip before starting to collect the result set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub page_offset: Option<i64>,
    /// The numbers of items to return (default 100, capped at the maximum page limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub page_limit: Option<i64>,
    /// Only runs of these DAGs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dag_ids: Option<Vec<String>>,
    /// Only runs in these states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub states: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub execution_date_gte: Option<ApiDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub execution_date_lte: Option<ApiDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub start_date_gte: Option<ApiDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub start_date_lte: Option<ApiDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub end_date_gte: Option<ApiDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub end_date_lte: Option<ApiDateTime>,
}

/// `POST /dags/~/dagRuns/~/taskInstances/list`: task instances of many DAGs and runs at
/// once. A list that is given but empty matches nothing (as in Airflow), except `state`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListTaskInstanceForm {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dag_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dag_run_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_ids: Option<Vec<String>>,
    /// On the logical date of the instance's run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub execution_date_gte: Option<ApiDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub execution_date_lte: Option<ApiDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub start_date_gte: Option<ApiDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub start_date_lte: Option<ApiDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub end_date_gte: Option<ApiDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub end_date_lte: Option<ApiDateTime>,
    /// Seconds from start to end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_gte: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_lte: Option<f64>,
    /// Task states; `null` or `none` is "no status yet".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Option<String>>>)]
    pub state: Option<Vec<Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<Vec<String>>,
    /// Not supported by Weir, which has no executors: a 400 when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<Vec<String>>,
    /// The number of items to skip before starting to collect the result set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub page_offset: Option<i64>,
    /// The numbers of items to return (default 100, capped at the maximum page limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub page_limit: Option<i64>,
}

/// The states a task instance can be set to through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpdateTaskState {
    Success,
    Failed,
    Skipped,
}

/// `PATCH /dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}`. As
/// in Airflow, `dry_run` defaults to true.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTaskInstance {
    #[serde(default = "yes")]
    pub dry_run: bool,
    pub new_state: UpdateTaskState,
}

/// `POST /dags/{dag_id}/dagRuns/{dag_run_id}/clear`. As in Airflow, `dry_run` defaults to
/// true.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClearDagRun {
    #[serde(default = "yes")]
    pub dry_run: bool,
    /// Airflow 3: run the cleared tasks on the DAG's latest version instead of the run's
    /// own one (the run moves to that version). Default: the run's own version.
    #[serde(default)]
    pub run_on_latest_version: bool,
}

impl Default for ClearDagRun {
    fn default() -> Self {
        ClearDagRun {
            dry_run: true,
            run_on_latest_version: false,
        }
    }
}

/// What clearing a run answers: the task instances it would clear (`dry_run`), or the run
/// once cleared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ClearDagRunResponse {
    Run(Box<DagRun>),
    TaskInstances(TaskInstanceCollection),
}

fn yes() -> bool {
    true
}
