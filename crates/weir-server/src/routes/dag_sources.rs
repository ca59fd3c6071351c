//! `DELETE /dags/{dag_id}` (a DAG's history) and `GET /dagSources/{file_token}` (a DAG
//! file's text).
//!
//! Deleting a DAG removes its runs, task instances, tries, XComs, versions and the DAG
//! itself (usage records stay: costs are history); it is refused with 409 while any of
//! its task instances is queued or running, as in Airflow. The DAG folder is synced right
//! after, so a DAG whose file is still there comes back at once as a new DAG with no
//! history (the watcher only reacts to file changes, which a deletion is not).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::json;
use weir_api::dag_sources::{DagSource, token_dag_id};
use weir_core::ids::DagId;

use super::load_dag;
use crate::AppState;
use crate::auth::AuditChange;
use crate::error::ApiError;
use crate::extract::path_params;
use crate::openapi::{AlreadyExists, BadRequest, NotFound};

path_params!(DagPath {
    dag_id: DagId = "dag_id"
});
path_params!(TokenPath {
    token: String = "file_token"
});

/// Delete a DAG.
///
/// Deletes the DAG's history: its runs, task instances, tries, XComs and versions, and
/// the DAG. Refused (409) while any of its task instances is queued or running. If the
/// DAG's file is still in the DAG folder, the DAG comes back at once as a new DAG.
#[utoipa::path(
    delete,
    path = "/dags/{dag_id}",
    operation_id = "delete_dag",
    tag = "DAG",
    params(DagPath),
    responses(
        (status = 204, description = "Success."),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = AlreadyExists),
    )
)]
pub(super) async fn delete_dag(
    State(state): State<AppState>,
    path: DagPath,
) -> Result<(StatusCode, Extension<AuditChange>), ApiError> {
    let record = load_dag(&state, &path.dag_id).await?;
    if !state.store().delete_dag(&path.dag_id).await? {
        return Err(ApiError::dag_not_found(&path.dag_id));
    }
    // A file still in the folder brings the DAG back now, not at its next edit. A failed
    // sync does not undo the deletion: the next sync (any file change, or a restart)
    // brings it back.
    if let Err(e) = state.engine.sync_dags().await {
        tracing::warn!(dag_id = %path.dag_id, error = %e, "cannot sync the DAG folder after deleting a DAG");
    }
    let change = AuditChange {
        before: Some(json!({
            "dag_id": record.dag_id.as_str(),
            "team": record.team.as_ref().map(ToString::to_string),
            "fileloc": record.file_path,
            "version": record.latest_version,
        })),
        after: None,
    };
    Ok((StatusCode::NO_CONTENT, Extension(change)))
}

/// Get a source code.
///
/// The text of the DAG file a `file_token` (from the DAG's JSON) names, as Weir read it
/// last. JSON (`{"content": …}`) unless the `Accept` header asks for `text/plain`.
#[utoipa::path(
    get,
    path = "/dagSources/{file_token}",
    operation_id = "get_dag_source",
    tag = "DagSource",
    params(TokenPath),
    responses(
        (status = 200, description = "Success.", body = DagSource,
         content(
             (DagSource = "application/json"),
             (String = "text/plain"),
         )),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
pub(super) async fn get_dag_source(
    State(state): State<AppState>,
    path: TokenPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let not_found = || {
        ApiError::not_found(
            "DAG source not found",
            format!(
                "no DAG file has the token `{}`; take `file_token` from `GET /dags/{{dag_id}}`",
                path.token
            ),
        )
    };
    let dag_id = token_dag_id(&path.token)
        .and_then(|d| DagId::new(d).ok())
        .ok_or_else(not_found)?;
    let dag = state
        .store()
        .get_dag(&dag_id)
        .await?
        .ok_or_else(not_found)?;
    let version = match dag.latest_version {
        Some(hash) => state.store().get_dag_version(&dag_id, &hash).await?,
        None => None,
    };
    let content = version.ok_or_else(not_found)?.source;
    let wants_text = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/plain") && !a.contains("application/json"));
    if wants_text {
        let mut response = content.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return Ok(response);
    }
    Ok(Json(DagSource { content }).into_response())
}
