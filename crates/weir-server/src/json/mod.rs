//! The JSON shapes of the API: Airflow's stable REST API v1 field for field (plus a few
//! Weir fields such as a DAG's `team`), built from store records.
//!
//! The types derive both `Serialize` and `Deserialize`, so the `weir` CLI reads responses
//! into the very structs the server writes them from, and `utoipa::ToSchema`, so the
//! OpenAPI document describes the very structs too; schema names are Airflow's (`DAG`,
//! `DAGRun`, `Error`, …). Times are written as Airflow writes them
//! (`2026-01-01T03:00:00+00:00`).

pub mod access;
pub mod batch;
pub mod config;
pub mod connections;
pub mod costs;
mod dag;
pub mod job_definitions;
mod queues;
mod requests;
mod run;
pub mod schema;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use weir_store::{ImportErrorRecord, PoolRecord, VariableRecord};

pub use costs::{CostReport, CostRow};
pub use dag::{
    ClassRef, Dag, DagCollection, DagDetail, ScheduleInterval, Tag, Task, TaskCollection, TimeDelta,
};
pub use queues::{ComputeEnvironment, Queue, QueueCollection, QueueDepth, WaitingTry};
pub use requests::{
    BackfillRequest, BackfillResponse, ClearTaskInstances, PatchDag, TriggerDagRun,
    UpdateDagRunState, VariableBody,
};
pub use run::{
    DagRun, DagRunCollection, LogResponse, TaskInstance, TaskInstanceCollection,
    TaskInstanceReference, TaskInstanceReferenceCollection, XCom, XComCollection, XComEntry,
};

/// Airflow's time format: RFC 3339 with `+00:00`, and microseconds only when there are
/// any (Python's `isoformat()`; Python's datetimes have no nanoseconds).
pub mod time {
    use chrono::{DateTime, SecondsFormat, Timelike, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn format(t: &DateTime<Utc>) -> String {
        let precision = if t.nanosecond() / 1000 == 0 {
            SecondsFormat::Secs
        } else {
            SecondsFormat::Micros
        };
        t.to_rfc3339_opts(precision, false)
    }

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        DateTime::<Utc>::deserialize(d)
    }

    /// The same for an optional time (`null` when absent).
    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(
            t: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&format(t)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            Option::<DateTime<Utc>>::deserialize(d)
        }
    }
}

/// A variable (`GET /variables/{key}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Variable {
    pub key: String,
    pub value: String,
    pub description: Option<String>,
    /// Weir: the owning team (its admins change the variable, its members read it);
    /// `null` for a platform-wide variable, which every signed-in user reads.
    pub team: Option<String>,
}

impl From<VariableRecord> for Variable {
    fn from(v: VariableRecord) -> Self {
        Variable {
            key: v.key,
            value: v.value,
            description: v.description,
            team: v.team,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VariableCollection {
    pub variables: Vec<Variable>,
    pub total_entries: i64,
}

/// A DAG file that failed to load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImportError {
    pub import_error_id: i64,
    #[serde(with = "time")]
    pub timestamp: DateTime<Utc>,
    pub filename: String,
    pub stack_trace: String,
}

impl From<ImportErrorRecord> for ImportError {
    fn from(e: ImportErrorRecord) -> Self {
        ImportError {
            import_error_id: e.import_error_id,
            timestamp: e.timestamp,
            filename: e.filename,
            stack_trace: e.stack_trace,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImportErrorCollection {
    pub import_errors: Vec<ImportError>,
    pub total_entries: i64,
}

/// A pool and how many of its slots are taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Pool {
    pub name: String,
    /// `-1` for unlimited.
    pub slots: i64,
    pub occupied_slots: i64,
    pub running_slots: i64,
    pub queued_slots: i64,
    /// `-1` for an unlimited pool.
    pub open_slots: i64,
    pub scheduled_slots: i64,
    pub deferred_slots: i64,
    pub description: Option<String>,
    pub include_deferred: bool,
}

impl Pool {
    pub fn new(p: PoolRecord, running: i64, queued: i64, scheduled: i64) -> Self {
        let slots = i64::from(p.slots);
        let occupied = running + queued;
        Pool {
            name: p.name,
            slots,
            occupied_slots: occupied,
            running_slots: running,
            queued_slots: queued,
            open_slots: if slots < 0 {
                -1
            } else {
                (slots - occupied).max(0)
            },
            scheduled_slots: scheduled,
            deferred_slots: 0,
            description: p.description,
            include_deferred: p.include_deferred,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PoolCollection {
    pub pools: Vec<Pool>,
    pub total_entries: i64,
}

/// `healthy` or `unhealthy`; `null` for a component Weir does not have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = MetadatabaseStatus)]
pub struct ComponentStatus {
    #[schema(value_type = Option<schema::HealthStatusSchema>)]
    pub status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SchedulerStatus {
    #[schema(value_type = Option<schema::HealthStatusSchema>)]
    pub status: Option<String>,
    #[serde(default, with = "time::option")]
    pub latest_scheduler_heartbeat: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TriggererStatus {
    #[schema(value_type = Option<schema::HealthStatusSchema>)]
    pub status: Option<String>,
    #[serde(default, with = "time::option")]
    pub latest_triggerer_heartbeat: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DagProcessorStatus {
    #[schema(value_type = Option<schema::HealthStatusSchema>)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_airflow_writes_them() {
        let t = DateTime::parse_from_rfc3339("2026-01-01T03:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(time::format(&t), "2026-01-01T03:00:00+00:00");
        let e = ImportError {
            import_error_id: 1,
            timestamp: t,
            filename: "f.yaml".into(),
            stack_trace: "boom".into(),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["timestamp"], "2026-01-01T03:00:00+00:00");
        let back: ImportError = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn pool_slots_add_up() {
        let p = Pool::new(
            PoolRecord {
                name: "p".into(),
                slots: 4,
                description: None,
                include_deferred: false,
            },
            1,
            2,
            0,
        );
        assert_eq!((p.occupied_slots, p.open_slots), (3, 1));
        let unlimited = Pool::new(
            PoolRecord {
                name: "u".into(),
                slots: -1,
                description: None,
                include_deferred: false,
            },
            5,
            0,
            0,
        );
        assert_eq!(unlimited.open_slots, -1);
    }
}
