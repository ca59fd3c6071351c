//! Weir: four-eyes approval of production DAG versions. `GET /approvals[?status=…]`,
//! `GET /approvals/{approval_id}`, `POST /approvals/{approval_id}/approve|reject`.
//!
//! The guard lets any team's operator (or a platform admin) ask; whether this person may
//! decide this version is `weir_core::governance::may_approve`, asked by the engine: never
//! the version's author (platform admins included), and per the team's `approval` setting
//! someone outside the team or in the reviewing team. A refusal is a 403 naming the rule.

use axum::Json;
use axum::extract::{Extension, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weir_core::governance::ApprovalState;
use weir_core::ids::DagId;
use weir_store::ApprovalFilter;

use crate::AppState;
use crate::auth::Authorized;
use crate::error::ApiError;
use crate::extract::{ApiJson, QueryParams, path_params};
use crate::json::{self, Approval, ApprovalCollection, ApprovalDecision};
use crate::openapi::{BadRequest, NotFound};
use crate::pagination::Pagination;

path_params!(ApprovalPath {
    id: i64 = "approval_id"
});

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_approvals))
        .routes(routes!(get_approval))
        .routes(routes!(approve))
        .routes(routes!(reject))
}

/// List approval requests.
///
/// Newest first; `status` keeps one state (`pending`, `approved`, `rejected`,
/// `superseded`), `dag_id` one DAG's. Each carries the semantic summary of its change.
#[utoipa::path(
    get,
    path = "/approvals",
    operation_id = "get_approvals",
    tag = "Approval",
    params(
        Pagination,
        ("status" = Option<String>, Query, description = "pending, approved, rejected or superseded."),
        ("dag_id" = Option<String>, Query, description = "Only this DAG's requests."),
    ),
    responses(
        (status = 200, description = "Success.", body = ApprovalCollection),
        (status = 400, response = BadRequest),
    )
)]
async fn list_approvals(
    State(state): State<AppState>,
    q: QueryParams,
) -> Result<Json<ApprovalCollection>, ApiError> {
    let page = Pagination::from_query(&q, &state.config)?;
    let status = match q.str("status") {
        None => None,
        Some(s) => Some(s.parse::<ApprovalState>().map_err(|_| {
            ApiError::bad_request(format!(
                "unknown approval status `{s}`; use one of: {}",
                ApprovalState::ALL.map(|s| s.as_str()).join(", ")
            ))
        })?),
    };
    let dag_id = match q.str("dag_id") {
        None => None,
        Some(d) => Some(
            DagId::new(d)
                .map_err(|e| ApiError::bad_request(format!("`{d}` is not a valid DAG id: {e}")))?,
        ),
    };
    let found = state
        .store()
        .list_approvals(&ApprovalFilter {
            state: status,
            dag_id,
            limit: page.limit,
            offset: page.offset,
        })
        .await?;
    Ok(Json(ApprovalCollection {
        approvals: found.items.into_iter().map(json::approval).collect(),
        total_entries: found.total_entries,
    }))
}

async fn load(state: &AppState, id: i64) -> Result<weir_store::ApprovalRecord, ApiError> {
    state.store().get_approval(id).await?.ok_or_else(|| {
        ApiError::not_found(
            "Approval not found",
            format!("approval {id} not found (`weir approvals list` shows the pending ones)"),
        )
    })
}

/// Get an approval request.
#[utoipa::path(
    get,
    path = "/approvals/{approval_id}",
    operation_id = "get_approval",
    tag = "Approval",
    params(ApprovalPath),
    responses(
        (status = 200, description = "Success.", body = Approval),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn get_approval(
    State(state): State<AppState>,
    path: ApprovalPath,
) -> Result<Json<Approval>, ApiError> {
    Ok(Json(json::approval(load(&state, path.id).await?)))
}

/// Approve a version.
///
/// The version becomes the DAG's active one. Refused (403) to its author, always, and to
/// whoever the team's `approval` rule excludes; 409 when the request is no longer pending
/// (a newer version superseded it, or someone decided it).
#[utoipa::path(
    post,
    path = "/approvals/{approval_id}/approve",
    operation_id = "approve",
    tag = "Approval",
    params(ApprovalPath),
    request_body = ApprovalDecision,
    responses(
        (status = 200, description = "Approved: the version is active.", body = Approval),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn approve(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    path: ApprovalPath,
    ApiJson(body): ApiJson<ApprovalDecision>,
) -> Result<Json<Approval>, ApiError> {
    let comment = body.comment.as_deref();
    let decided = state.engine.approve(path.id, &auth.caller, comment).await?;
    Ok(Json(json::approval(decided)))
}

/// Reject a version.
///
/// The DAG keeps its active version. The same rule as approving decides who may.
#[utoipa::path(
    post,
    path = "/approvals/{approval_id}/reject",
    operation_id = "reject",
    tag = "Approval",
    params(ApprovalPath),
    request_body = ApprovalDecision,
    responses(
        (status = 200, description = "Rejected.", body = Approval),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn reject(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    path: ApprovalPath,
    ApiJson(body): ApiJson<ApprovalDecision>,
) -> Result<Json<Approval>, ApiError> {
    let comment = body.comment.as_deref();
    let decided = state.engine.reject(path.id, &auth.caller, comment).await?;
    Ok(Json(json::approval(decided)))
}
