//! `GET /health` and `GET /version`. Health answers 200 whatever the state, with each
//! component's status in the body, as Airflow's does; the scheduler runs inside this
//! process, so it is healthy whenever the API answers.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::json::{
    ComponentStatus, DagProcessorStatus, HealthInfo, SchedulerStatus, TriggererStatus, VersionInfo,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(version))
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
    Json(HealthInfo {
        metadatabase: ComponentStatus {
            status: Some(database.into()),
        },
        scheduler: SchedulerStatus {
            status: Some("healthy".into()),
            latest_scheduler_heartbeat: Some(Utc::now()),
        },
        triggerer: TriggererStatus {
            status: None,
            latest_triggerer_heartbeat: None,
        },
        dag_processor: DagProcessorStatus {
            status: None,
            latest_dag_processor_heartbeat: None,
        },
    })
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
