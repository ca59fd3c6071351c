//! Datasets (`GET /datasets`, `GET /datasets/events`, `POST /datasets/events`) in Airflow
//! 2.9's shapes, and lineage (`GET /lineage`, Weir's own).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use weir_core::dataset::lineage;

use crate::time;

/// A DAG whose schedule waits for a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DagScheduleDatasetReference {
    pub dag_id: String,
    /// The name the schedule gives (an exact URI or a pattern).
    pub uri: String,
}

/// A task whose `outlets` produce a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskOutletDatasetReference {
    pub dag_id: String,
    pub task_id: String,
    /// The outlet as written (maybe templated).
    pub uri: String,
}

/// A dataset: a URI some event named.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Dataset {
    pub id: i64,
    pub uri: String,
    #[schema(value_type = Option<Object>)]
    pub extra: Option<Value>,
    #[serde(with = "time")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(with = "time")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    pub consuming_dags: Vec<DagScheduleDatasetReference>,
    pub producing_tasks: Vec<TaskOutletDatasetReference>,
    /// The team whose `[[teams]] datasets` prefix holds the URI (Weir).
    pub owner_team: Option<String>,
    /// How many events it has had (Weir).
    pub events: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DatasetCollection {
    pub datasets: Vec<Dataset>,
    pub total_entries: i64,
}

/// A run a dataset event triggered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BasicDagRun {
    pub dag_id: String,
    pub run_id: String,
    pub state: String,
    #[serde(with = "time")]
    #[schema(value_type = String, format = DateTime)]
    pub logical_date: DateTime<Utc>,
    #[serde(with = "time::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub start_date: Option<DateTime<Utc>>,
    #[serde(with = "time::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub end_date: Option<DateTime<Utc>>,
    #[serde(with = "time::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub data_interval_start: Option<DateTime<Utc>>,
    #[serde(with = "time::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub data_interval_end: Option<DateTime<Utc>>,
}

/// An update of a dataset: a task's outlet on a successful try, or a post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DatasetEvent {
    pub id: i64,
    pub dataset_id: i64,
    pub dataset_uri: String,
    #[schema(value_type = Option<Object>)]
    pub extra: Option<Value>,
    pub source_dag_id: Option<String>,
    pub source_task_id: Option<String>,
    pub source_run_id: Option<String>,
    pub source_map_index: i64,
    pub created_dagruns: Vec<BasicDagRun>,
    #[serde(with = "time")]
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: DateTime<Utc>,
    /// The producing team (Weir).
    pub team: String,
    /// Who posted it through the API (Weir); none for an outlet.
    pub posted_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DatasetEventCollection {
    pub dataset_events: Vec<DatasetEvent>,
    pub total_entries: i64,
}

/// `POST /datasets/events` (Airflow 2.9's `CreateDatasetEvent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDatasetEvent {
    pub dataset_uri: String,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub extra: Option<Value>,
    /// The producing team, when the caller operates several (Weir).
    #[serde(default)]
    pub team: Option<String>,
}

/// `GET /lineage`: the DAGs and datasets around one of them (Weir's own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Lineage {
    /// `dag:<id>` or `dataset:<uri>`.
    pub root: String,
    pub depth: u32,
    /// Each dataset name: `uri`, `owner_team`, `producers`, `consumers`, `depth`.
    #[schema(value_type = Vec<Object>)]
    pub datasets: Vec<lineage::LineageDataset>,
    /// Each DAG: `dag_id`, `team`, `depth` (negative upstream, positive downstream).
    #[schema(value_type = Vec<Object>)]
    pub dags: Vec<lineage::LineageDag>,
    /// `{from, to}` in the direction data flows.
    #[schema(value_type = Vec<Object>)]
    pub edges: Vec<lineage::LineageEdge>,
}
