//! XComs (`…/taskInstances/{task_id}/xcomEntries`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::time;

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
