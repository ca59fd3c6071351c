//! Pools: `GET /pools[/{pool_name}]`, with how many slots running and queued task
//! instances take.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weir_core::state::TaskState;
use weir_store::{PoolRecord, TaskInstanceRecord};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{QueryParams, path_params};
use crate::json::{self, Pool, PoolCollection};
use crate::openapi::{BadRequest, NotFound};
use crate::pagination::Pagination;

path_params!(PoolPath {
    name: String = "pool_name"
});

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_pools))
        .routes(routes!(get_pool))
}

/// The task instances that count against pools: scheduled, queued or running.
async fn active(state: &AppState) -> Result<Vec<TaskInstanceRecord>, ApiError> {
    Ok(state
        .store()
        .list_task_instances_in_states(&[
            TaskState::Scheduled,
            TaskState::Queued,
            TaskState::Running,
        ])
        .await?)
}

fn pool_json(p: PoolRecord, active: &[TaskInstanceRecord]) -> Pool {
    let count = |s: TaskState| {
        let n = active
            .iter()
            .filter(|t| t.pool == p.name && t.state == s)
            .count();
        i64::try_from(n).unwrap_or(i64::MAX)
    };
    let (running, queued, scheduled) = (
        count(TaskState::Running),
        count(TaskState::Queued),
        count(TaskState::Scheduled),
    );
    json::pool(p, running, queued, scheduled)
}

/// List pools.
#[utoipa::path(
    get,
    path = "/pools",
    operation_id = "get_pools",
    tag = "Pool",
    params(Pagination),
    responses(
        (status = 200, description = "Success.", body = PoolCollection),
        (status = 400, response = BadRequest),
    )
)]
async fn list_pools(
    State(state): State<AppState>,
    q: QueryParams,
) -> Result<Json<PoolCollection>, ApiError> {
    let page = Pagination::from_query(&q, &state.config)?;
    let found = state.store().list_pools(page.limit, page.offset).await?;
    let active = active(&state).await?;
    Ok(Json(PoolCollection {
        pools: found
            .items
            .into_iter()
            .map(|p| pool_json(p, &active))
            .collect(),
        total_entries: found.total_entries,
    }))
}

/// Get a pool.
#[utoipa::path(
    get,
    path = "/pools/{pool_name}",
    operation_id = "get_pool",
    tag = "Pool",
    params(PoolPath),
    responses(
        (status = 200, description = "Success.", body = Pool),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn get_pool(State(state): State<AppState>, path: PoolPath) -> Result<Json<Pool>, ApiError> {
    let pool = state.store().get_pool(&path.name).await?.ok_or_else(|| {
        ApiError::not_found(
            "Pool not found",
            format!("Pool with name:'{}' not found", path.name),
        )
    })?;
    let active = active(&state).await?;
    Ok(Json(pool_json(pool, &active)))
}
