//! Variables: `GET|POST /variables` and `GET|PATCH|DELETE /variables/{variable_key}`
//! (keys may hold `/`, as in Airflow). `POST` creates or replaces.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, QueryParams, path_params};
use crate::json::{Variable, VariableBody, VariableCollection};
use crate::pagination::{Pagination, bad_order_by, order_by};

path_params!(KeyPath {
    key: String = "variable_key"
});

/// Longest variable key (Airflow's limit).
const MAX_KEY_LEN: usize = 250;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/variables", get(list_variables).post(create_variable))
        .route(
            "/variables/{*variable_key}",
            get(get_variable)
                .patch(patch_variable)
                .delete(delete_variable),
        )
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

async fn list_variables(
    State(state): State<AppState>,
    q: QueryParams,
) -> Result<Json<VariableCollection>, ApiError> {
    let page = Pagination::from_query(&q, &state.config)?;
    if let Some((field, desc)) = order_by(&q)
        && (field != "key" || desc)
    {
        return Err(bad_order_by(field, &["key"]));
    }
    let found = state
        .store()
        .list_variables(page.limit, page.offset)
        .await?;
    Ok(Json(VariableCollection {
        variables: found.items.into_iter().map(Variable::from).collect(),
        total_entries: found.total_entries,
    }))
}

async fn create_variable(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<VariableBody>,
) -> Result<Json<Variable>, ApiError> {
    check_key(&body.key)?;
    let value = body
        .value
        .ok_or_else(|| ApiError::bad_request("`value` is required"))?;
    let v = state
        .store()
        .set_variable(&body.key, &value, body.description.as_deref())
        .await?;
    Ok(Json(v.into()))
}

async fn get_variable(
    State(state): State<AppState>,
    path: KeyPath,
) -> Result<Json<Variable>, ApiError> {
    let v = state
        .store()
        .get_variable(&path.key)
        .await?
        .ok_or_else(|| variable_not_found(&path.key))?;
    Ok(Json(v.into()))
}

/// Updates a variable. `update_mask` (`value`, `description`) limits which fields of the
/// body are applied; without it, `value` is required and `description` replaced.
async fn patch_variable(
    State(state): State<AppState>,
    path: KeyPath,
    q: QueryParams,
    ApiJson(body): ApiJson<VariableBody>,
) -> Result<Json<Variable>, ApiError> {
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
        (value, body.description)
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
        .set_variable(&path.key, &value, description.as_deref())
        .await?;
    Ok(Json(v.into()))
}

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
