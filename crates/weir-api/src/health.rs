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
    /// Weir's own: every Weir process sharing the database (`weir standalone` is one).
    #[serde(default)]
    pub replicas: Vec<ReplicaInfo>,
}

/// What a Weir process does among its replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaRole {
    Standalone,
    All,
    Api,
    Scheduler,
}

impl ReplicaRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicaRole::Standalone => "standalone",
            ReplicaRole::All => "all",
            ReplicaRole::Api => "api",
            ReplicaRole::Scheduler => "scheduler",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [
            ReplicaRole::Standalone,
            ReplicaRole::All,
            ReplicaRole::Api,
            ReplicaRole::Scheduler,
        ]
        .into_iter()
        .find(|r| r.as_str() == name)
    }
}

/// One Weir process sharing the database, as `GET /health` and `weir replicas list`
/// show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReplicaInfo {
    pub replica_id: String,
    pub role: ReplicaRole,
    pub host: String,
    pub version: String,
    #[serde(with = "time")]
    pub started_at: DateTime<Utc>,
    #[serde(with = "time")]
    pub latest_heartbeat: DateTime<Utc>,
    /// Until when its leases hold without another heartbeat.
    #[serde(with = "time")]
    pub lease_until: DateTime<Utc>,
    /// `healthy` while its lease holds, `unhealthy` once it ran out, `stopped` after a
    /// clean shutdown.
    #[schema(value_type = String)]
    pub status: String,
    /// How many DAGs it holds scheduler leases on.
    pub dags: i64,
    /// Whether it is the replica that answered this request.
    pub this_replica: bool,
}

/// `GET /version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VersionInfo {
    pub version: String,
    pub git_version: Option<String>,
}
