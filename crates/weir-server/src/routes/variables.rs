//! Variables: `GET|POST /variables` and `GET|PATCH|DELETE /variables/{variable_key}`
//! (keys may hold `/`, as in Airflow). `POST` creates or replaces.
//!
//! Each variable belongs to a team (or to no team: platform-wide); the guard checks
//! access, the list shows only what the caller may read.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::extract::Extension;
use weir_core::access::TeamRole;
use weir_store::Page;

use crate::AppState;
use crate::auth::{AuditAction, Authorized};
use crate::error::ApiError;
use crate::extract::{ApiJson, QueryParams, from_value, path_params};
use crate::json::{self, Variable, VariableBody, VariableCollection};
use crate::openapi::{BadRequest, NotFound};
use crate::pagination::{Pagination, bad_order_by, order_by};

path_params!(KeyPath {
    key: String = "variable_key"
});

/// Longest variable key (Airflow's limit).
const MAX_KEY_LEN: usize = 250;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_variables, create_variable))
        .routes(routes!(get_variable, patch_variable, delete_variable))
}

fn check_key(key: &str) -> Result<(), ApiError> {
    let len = key.chars().count();
    if key.is_empty() || len > MAX_KEY_LEN || key.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "invalid variable key `{}`: use 1 to {MAX_KEY_LEN} printable characters",
            key.escape_debug()
        )));
    }
    Ok(())
}

fn variable_not_found(key: &str) -> ApiError {
    ApiError::not_found(
        "Variable not found",
        format!("Variable `{key}` does not exist"),
    )
}

/// List variables.
#[utoipa::path(
    get,
    path = "/variables",
    operation_id = "get_variables",
    tag = "Variable",
    params(
        Pagination,
        ("order_by" = Option<String>, Query, description = "`key`."),
    ),
    responses(
        (status = 200, description = "Success.", body = VariableCollection),
        (status = 400, response = BadRequest),
    )
)]
async fn list_variables(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    q: QueryParams,
) -> Result<Json<VariableCollection>, ApiError> {
    let page = Pagination::from_query(&q, &state.config)?;
    if let Some((field, desc)) = order_by(&q)
        && (field != "key" || desc)
    {
        return Err(bad_order_by(field, &["key"]));
    }
    let caller = &auth.caller;
    let found = if caller.platform_admin {
        state
            .store()
            .list_variables(page.limit, page.offset)
            .await?
    } else {
        // Only what the caller may read: platform-wide variables and its teams' ones.
        let mut all = state.store().list_variables(i64::MAX / 2, 0).await?.items;
        all.retain(|v| {
            v.team
                .as_deref()
                .is_none_or(|t| caller.has(t, TeamRole::Viewer))
        });
        Page {
            total_entries: i64::try_from(all.len()).unwrap_or(i64::MAX),
            items: page.slice(all),
        }
    };
    Ok(Json(VariableCollection {
        variables: found.items.into_iter().map(json::variable).collect(),
        total_entries: found.total_entries,
    }))
}

/// Create a variable, or replace the one with the same key.
#[utoipa::path(
    post,
    path = "/variables",
    operation_id = "post_variables",
    tag = "Variable",
    request_body = VariableBody,
    responses(
        (status = 200, description = "Success.", body = Variable),
        (status = 400, response = BadRequest),
    )
)]
async fn create_variable(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    ApiJson(body): ApiJson<VariableBody>,
) -> Result<(Extension<AuditAction>, Json<Variable>), ApiError> {
    check_key(&body.key)?;
    let value = body
        .value
        .ok_or_else(|| ApiError::bad_request("`value` is required"))?;
    // `POST` replaces a variable with the same key: that is an update in the audit trail.
    let action = match state.store().get_variable(&body.key).await? {
        Some(_) => "variable.update",
        None => "variable.create",
    };
    let v = state
        .store()
        .set_variable(
            &body.key,
            &value,
            body.description.as_deref(),
            auth.team.as_deref(),
        )
        .await?;
    Ok((Extension(AuditAction(action)), Json(json::variable(v))))
}

/// Get a variable (keys may hold `/`).
#[utoipa::path(
    get,
    path = "/variables/{*variable_key}",
    operation_id = "get_variable",
    tag = "Variable",
    params(KeyPath),
    responses(
        (status = 200, description = "Success.", body = Variable),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn get_variable(
    State(state): State<AppState>,
    path: KeyPath,
) -> Result<Json<Variable>, ApiError> {
    let v = state
        .store()
        .get_variable(&path.key)
        .await?
        .ok_or_else(|| variable_not_found(&path.key))?;
    Ok(Json(json::variable(v)))
}

/// Update a variable.
///
/// `update_mask` (`value`, `description`) limits which fields of the body are applied;
/// without it, `value` is required, and `description` is changed when the body has it (as
/// in Airflow, a body without it keeps the current one).
#[utoipa::path(
    patch,
    path = "/variables/{*variable_key}",
    operation_id = "patch_variable",
    tag = "Variable",
    params(
        KeyPath,
        ("update_mask" = Option<Vec<String>>, Query, description = "The fields to update: `value` and/or `description`."),
    ),
    request_body = VariableBody,
    responses(
        (status = 200, description = "Success.", body = Variable),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn patch_variable(
    State(state): State<AppState>,
    path: KeyPath,
    q: QueryParams,
    ApiJson(raw): ApiJson<Value>,
) -> Result<Json<Variable>, ApiError> {
    let has_description = raw.get("description").is_some();
    let body: VariableBody = from_value(raw)?;
    if body.key != path.key {
        return Err(ApiError::BadRequest {
            title: "Invalid post body".into(),
            detail: "key from request body doesn't match uri parameter".into(),
        });
    }
    let current = state
        .store()
        .get_variable(&path.key)
        .await?
        .ok_or_else(|| variable_not_found(&path.key))?;
    let mask = q.all("update_mask");
    if let Some(bad) = mask
        .iter()
        .find(|f| !matches!(**f, "value" | "description"))
    {
        return Err(ApiError::bad_request(format!(
            "update_mask field `{bad}` cannot be updated; use `value` and/or `description`"
        )));
    }
    let (value, description) = if mask.is_empty() {
        let value = body
            .value
            .ok_or_else(|| ApiError::bad_request("`value` is required"))?;
        let description = if has_description {
            body.description
        } else {
            current.description
        };
        (value, description)
    } else {
        let value = if mask.contains(&"value") {
            body.value.ok_or_else(|| {
                ApiError::bad_request("`value` is in update_mask but not in the body")
            })?
        } else {
            current.value
        };
        let description = if mask.contains(&"description") {
            body.description
        } else {
            current.description
        };
        (value, description)
    };
    let v = state
        .store()
        .set_variable(&path.key, &value, description.as_deref(), None)
        .await?;
    Ok(Json(json::variable(v)))
}

/// Delete a variable.
#[utoipa::path(
    delete,
    path = "/variables/{*variable_key}",
    operation_id = "delete_variable",
    tag = "Variable",
    params(KeyPath),
    responses(
        (status = 204, description = "Success."),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn delete_variable(
    State(state): State<AppState>,
    path: KeyPath,
) -> Result<StatusCode, ApiError> {
    if state.store().delete_variable(&path.key).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(variable_not_found(&path.key))
    }
}
