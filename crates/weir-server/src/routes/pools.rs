//! Pools: `GET /pools[/{pool_name}]`, with how many slots running and queued task
//! instances take; `POST /pools`, `PATCH /pools/{pool_name}` (with Airflow's
//! `update_mask`) and `DELETE /pools/{pool_name}` (platform admins: pools are
//! platform-wide). The dispatcher reads pools from the store at each pass, and each
//! change wakes the engine for a pass, so it is honoured at once.
//!
//! Deleting a pool that task instances use does what Airflow does: the pool goes at once
//! (only `default_pool` is refused); instances already queued or running in it carry on
//! and finish, and those still waiting for a slot fail at the next dispatch with a note
//! saying the pool does not exist (Airflow leaves them waiting forever instead).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weir_api::pool_changes::PoolBody;
use weir_core::state::TaskState;
use weir_store::{NewPool, PoolChange};
use weir_store::{PoolRecord, TaskInstanceRecord};

use crate::AppState;
use crate::auth::AuditChange;
use crate::error::ApiError;
use crate::extract::{ApiJson, QueryParams, path_params};
use crate::json::{self, Pool, PoolCollection};
use crate::openapi::{AlreadyExists, BadRequest, NotFound};
use crate::pagination::Pagination;

path_params!(PoolPath {
    name: String = "pool_name"
});

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_pools, create_pool))
        .routes(routes!(get_pool, patch_pool, delete_pool))
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
    let pool = state
        .store()
        .get_pool(&path.name)
        .await?
        .ok_or_else(|| pool_not_found(&path.name))?;
    let active = active(&state).await?;
    Ok(Json(pool_json(pool, &active)))
}

fn pool_not_found(name: &str) -> ApiError {
    ApiError::not_found(
        "Pool not found",
        format!("Pool with name:'{name}' not found"),
    )
}

/// A pool's slots as the store keeps them: `-1` (unlimited) or a count that fits.
fn slots(slots: i64) -> Result<i32, ApiError> {
    i32::try_from(slots)
        .ok()
        .filter(|s| *s >= -1)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "`slots` is {slots}; use -1 for unlimited, or a count from 0 to {}",
                i32::MAX
            ))
        })
}

/// What the audit event records of a pool.
fn audited(pool: &Pool) -> Option<serde_json::Value> {
    serde_json::to_value(pool).ok()
}

/// Create a pool.
///
/// `name` and `slots` are required; `slots` is `-1` for an unlimited pool. Platform admins
/// only: pools are shared by every team.
#[utoipa::path(
    post,
    path = "/pools",
    operation_id = "post_pool",
    tag = "Pool",
    request_body = PoolBody,
    responses(
        (status = 200, description = "Success.", body = Pool),
        (status = 400, response = BadRequest),
        (status = 409, response = AlreadyExists),
    )
)]
async fn create_pool(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PoolBody>,
) -> Result<(Extension<AuditChange>, Json<Pool>), ApiError> {
    let missing: Vec<&str> = ["name", "slots"]
        .into_iter()
        .filter(|f| !body.has(f))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Missing required property(ies): {missing:?}"
        )));
    }
    let new = NewPool {
        name: body.name.unwrap_or_default(),
        slots: slots(body.slots.unwrap_or_default())?,
        description: body.description.flatten(),
        include_deferred: body.include_deferred.unwrap_or(false),
    };
    let created = state.store().create_pool(&new).await?;
    state.engine.pools_changed();
    let pool = pool_json(created, &active(&state).await?);
    let change = AuditChange {
        before: None,
        after: audited(&pool),
    };
    Ok((Extension(change), Json(pool)))
}

/// Update a pool.
///
/// With `update_mask` (any of `name`, `slots`, `description`, `include_deferred`; repeated
/// or comma-separated) only those fields are applied and each must be in the body;
/// without it, `name` and `slots` are required and every field in the body is applied. A
/// different `name` renames the pool; `default_pool` cannot be renamed.
#[utoipa::path(
    patch,
    path = "/pools/{pool_name}",
    operation_id = "patch_pool",
    tag = "Pool",
    params(
        PoolPath,
        ("update_mask" = Option<Vec<String>>, Query, description = "The fields to update: `name`, `slots`, `description`, `include_deferred`."),
    ),
    request_body = PoolBody,
    responses(
        (status = 200, description = "Success.", body = Pool),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = AlreadyExists),
    )
)]
async fn patch_pool(
    State(state): State<AppState>,
    path: PoolPath,
    q: QueryParams,
    ApiJson(body): ApiJson<PoolBody>,
) -> Result<(Extension<AuditChange>, Json<Pool>), ApiError> {
    let mask: Vec<&str> = q
        .all("update_mask")
        .into_iter()
        .flat_map(|m| m.split(','))
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .collect();
    if let Some(bad) = mask.iter().find(|f| !PoolBody::FIELDS.contains(f)) {
        return Err(ApiError::bad_request(format!(
            "Invalid field: {bad} in update mask; use any of: {}",
            PoolBody::FIELDS.join(", ")
        )));
    }
    let applied: Vec<&str> = if mask.is_empty() {
        let missing: Vec<&str> = ["name", "slots"]
            .into_iter()
            .filter(|f| !body.has(f))
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::bad_request(format!(
                "Missing required property(ies): {missing:?} (or name the fields to change \
                 with `update_mask`)"
            )));
        }
        PoolBody::FIELDS.to_vec()
    } else {
        if let Some(absent) = mask.iter().find(|f| !body.has(f)) {
            return Err(ApiError::bad_request(format!(
                "`{absent}` is in update_mask but not in the body"
            )));
        }
        mask
    };
    let before = state
        .store()
        .get_pool(&path.name)
        .await?
        .ok_or_else(|| pool_not_found(&path.name))?;
    let on = |f: &str| applied.contains(&f);
    let change = PoolChange {
        name: body.name.filter(|_| on("name")),
        slots: match body.slots.filter(|_| on("slots")) {
            Some(s) => Some(slots(s)?),
            None => None,
        },
        description: body.description.filter(|_| on("description")),
        include_deferred: body.include_deferred.filter(|_| on("include_deferred")),
    };
    let updated = state.store().update_pool(&path.name, &change).await?;
    state.engine.pools_changed();
    let active = active(&state).await?;
    let before = pool_json(before, &active);
    let pool = pool_json(updated, &active);
    let change = AuditChange {
        before: audited(&before),
        after: audited(&pool),
    };
    Ok((Extension(change), Json(pool)))
}

/// Delete a pool.
///
/// `default_pool` cannot be deleted. Task instances queued or running in the pool finish;
/// those still waiting for one of its slots fail at the next dispatch, since their pool no
/// longer exists.
#[utoipa::path(
    delete,
    path = "/pools/{pool_name}",
    operation_id = "delete_pool",
    tag = "Pool",
    params(PoolPath),
    responses(
        (status = 204, description = "Success."),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn delete_pool(
    State(state): State<AppState>,
    path: PoolPath,
) -> Result<(StatusCode, Extension<AuditChange>), ApiError> {
    if path.name == weir_store::DEFAULT_POOL {
        return Err(ApiError::bad_request("Default Pool can't be deleted"));
    }
    let before = state
        .store()
        .get_pool(&path.name)
        .await?
        .ok_or_else(|| pool_not_found(&path.name))?;
    if !state.store().delete_pool(&path.name).await? {
        return Err(pool_not_found(&path.name));
    }
    state.engine.pools_changed();
    let change = AuditChange {
        before: serde_json::to_value(&before).ok(),
        after: None,
    };
    Ok((StatusCode::NO_CONTENT, Extension(change)))
}
