//! The server's health and version (`GET /health`, `GET /version`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::schema::HealthStatusSchema;
use crate::time;

/// `healthy` or `unhealthy`; `null` for a component Weir does not have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = MetadatabaseStatus)]
pub struct ComponentStatus {
    #[schema(value_type = Option<HealthStatusSchema>)]
    pub status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SchedulerStatus {
    #[schema(value_type = Option<HealthStatusSchema>)]
    pub status: Option<String>,
    #[serde(default, with = "time::option")]
    pub latest_scheduler_heartbeat: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TriggererStatus {
    #[schema(value_type = Option<HealthStatusSchema>)]
    pub status: Option<String>,
    #[serde(default, with = "time::option")]
    pub latest_triggerer_heartbeat: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DagProcessorStatus {
    #[schema(value_type = Option<HealthStatusSchema>)]
    pub status: Option<String>,
    #[serde(default, with = "time::option")]
    pub latest_dag_processor_heartbeat: Option<DateTime<Utc>>,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HealthInfo {
    pub metadatabase: ComponentStatus,
    pub scheduler: SchedulerStatus,
    pub triggerer: TriggererStatus,
    pub dag_processor: DagProcessorStatus,
}

/// `GET /version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VersionInfo {
    pub version: String,
    pub git_version: Option<String>,
}
