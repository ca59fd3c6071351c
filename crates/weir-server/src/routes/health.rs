//! `GET /health` and `GET /version`. Health answers 200 whatever the state, with each
//! component's status in the body, as Airflow's does. The scheduler is healthy while
//! one replica that schedules holds its lease; every replica is listed (Weir's own
//! `replicas`), with its role, host, version and last heartbeat.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::json::{
    ComponentStatus, DagProcessorStatus, HealthInfo, ReplicaInfo, ReplicaRole, SchedulerStatus,
    TriggererStatus, VersionInfo,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(version))
}

/// `/health` and `/version` without the API's access guard (both are public), for a
/// replica that serves nothing else.
pub fn plain() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/version", get(version))
}

/// `/health` at the root too, where Airflow's webserver has it.
pub fn root() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

/// Get the status of Weir's components.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "get_health",
    tag = "Monitoring",
    responses((status = 200, description = "Success.", body = HealthInfo))
)]
async fn health(State(state): State<AppState>) -> Json<HealthInfo> {
    let database = match state.store().health_check().await {
        Ok(()) => "healthy",
        Err(e) => {
            tracing::warn!(error = %e, "health check: the database does not answer");
            "unhealthy"
        }
    };
    let replicas = replicas(&state).await;
    let schedulers = replicas.iter().filter(|r| r.role != ReplicaRole::Api);
    let latest: Option<DateTime<Utc>> = schedulers.clone().map(|r| r.latest_heartbeat).max();
    let scheduling = schedulers.clone().any(|r| r.status == "healthy");
    Json(HealthInfo {
        metadatabase: ComponentStatus {
            status: Some(database.into()),
        },
        scheduler: SchedulerStatus {
            status: Some(if scheduling { "healthy" } else { "unhealthy" }.into()),
            latest_scheduler_heartbeat: latest,
        },
        triggerer: TriggererStatus {
            status: None,
            latest_triggerer_heartbeat: None,
        },
        dag_processor: DagProcessorStatus {
            status: None,
            latest_dag_processor_heartbeat: None,
        },
        replicas,
    })
}

/// Every replica on record with what it holds; none when the database does not answer.
async fn replicas(state: &AppState) -> Vec<ReplicaInfo> {
    let store = state.store();
    let (records, counts) = match (store.list_replicas().await, store.lease_counts().await) {
        (Ok(records), Ok(counts)) => (records, counts),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "health check: cannot list the replicas");
            return Vec::new();
        }
    };
    let now = state.engine.now();
    let this = state.engine.replica_id();
    records
        .into_iter()
        .map(|r| {
            let status = if r.stopped_at.is_some() {
                "stopped"
            } else if r.alive_at(now) {
                "healthy"
            } else {
                "unhealthy"
            };
            let dags = counts
                .iter()
                .find(|(id, _)| *id == r.replica_id)
                .map_or(0, |(_, n)| *n);
            ReplicaInfo {
                this_replica: r.replica_id == this,
                role: ReplicaRole::from_name(&r.role).unwrap_or(ReplicaRole::All),
                status: status.into(),
                dags,
                replica_id: r.replica_id,
                host: r.host,
                version: r.version,
                started_at: r.started_at,
                latest_heartbeat: r.heartbeat_at,
                lease_until: r.lease_until,
            }
        })
        .collect()
}

/// Get the version of Weir.
#[utoipa::path(
    get,
    path = "/version",
    operation_id = "get_version",
    tag = "Monitoring",
    responses((status = 200, description = "Success.", body = VersionInfo))
)]
async fn version() -> Json<VersionInfo> {
    Json(VersionInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        git_version: None,
    })
}
