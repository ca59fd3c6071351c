//! Weir: `GET /queues[/{queue_name}]`, the job queues and compute environments as the
//! dispatcher last saw them: depth per team, each waiting try's place and reason.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::path_params;
use crate::json::{self, Queue, QueueCollection};
use crate::openapi::{BadRequest, NotFound};

path_params!(QueuePath {
    name: String = "queue_name"
});

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_queues))
        .routes(routes!(get_queue))
}

/// List queues.
///
/// Every job queue, with its depth per team and its waiting tries in service order, and
/// every compute environment with its capacity and use.
#[utoipa::path(
    get,
    path = "/queues",
    operation_id = "get_queues",
    tag = "Queue",
    responses((status = 200, description = "Success.", body = QueueCollection))
)]
async fn list_queues(State(state): State<AppState>) -> Json<QueueCollection> {
    Json(QueueCollection {
        queues: state.engine.queues().into_iter().map(json::queue).collect(),
        compute_environments: state
            .engine
            .compute_environments()
            .into_iter()
            .map(json::compute_environment)
            .collect(),
    })
}

/// Get a queue.
///
/// One job queue: its depth per team, and its waiting tries with their place in line and
/// the reason each waits.
#[utoipa::path(
    get,
    path = "/queues/{queue_name}",
    operation_id = "get_queue",
    tag = "Queue",
    params(QueuePath),
    responses(
        (status = 200, description = "Success.", body = Queue),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn get_queue(
    State(state): State<AppState>,
    path: QueuePath,
) -> Result<Json<Queue>, ApiError> {
    state
        .engine
        .queues()
        .into_iter()
        .find(|q| q.name == path.name)
        .map(|q| Json(json::queue(q)))
        .ok_or_else(|| {
            let known: Vec<String> = state.engine.queues().into_iter().map(|q| q.name).collect();
            ApiError::not_found(
                "Queue not found",
                format!(
                    "Queue with name:'{}' not found; the queues are: {}",
                    path.name,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            )
        })
}
