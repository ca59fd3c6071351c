//! Weir: the Git repository and uploaded deployments. `GET /repository` (the commit in
//! use, when, the last error), `POST /repository/sync` (what a CI/CD pipeline calls after
//! a merge: sync now), `POST /deployments` (a bundle of a team's DAG and job files, for
//! teams without Git hosting; the same versions and approvals as a commit).

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weir_core::ids::TeamId;
use weir_engine::{Bundle, Submitted};

use crate::AppState;
use crate::auth::Authorized;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::json::{self, DeployedDag, Deployment, DeploymentResult, RepositoryStatus, SyncSummary};
use crate::openapi::BadRequest;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_repository))
        .routes(routes!(sync_repository))
        .routes(routes!(deploy))
}

async fn status(state: &AppState) -> Result<RepositoryStatus, ApiError> {
    let stored = state.store().repository_state().await?;
    Ok(json::repository_status(
        state.engine.repository_settings(),
        stored,
    ))
}

/// Get the repository's sync state.
///
/// The commit in use, when it was synced, and why the last attempt failed, if it did.
#[utoipa::path(
    get,
    path = "/repository",
    operation_id = "get_repository",
    tag = "Repository",
    responses(
        (status = 200, description = "Success.", body = RepositoryStatus),
    )
)]
async fn get_repository(State(state): State<AppState>) -> Result<Json<RepositoryStatus>, ApiError> {
    Ok(Json(status(&state).await?))
}

/// Sync the repository now.
///
/// Fetches the branch and loads its tip if it moved. A failed sync answers 503 with the
/// reason and keeps the last good commit in use. Any team's operator, or a platform
/// admin's token.
#[utoipa::path(
    post,
    path = "/repository/sync",
    operation_id = "sync_repository",
    tag = "Repository",
    responses(
        (status = 200, description = "Synced.", body = RepositoryStatus),
        (status = 409, description = "No `[repository]` is configured."),
        (status = 503, description = "The sync failed; the last good commit stays in use."),
    )
)]
async fn sync_repository(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
) -> Result<Json<RepositoryStatus>, ApiError> {
    let done = state.engine.sync_repository(&auth.caller.name).await?;
    let mut shown = json::repository_status(state.engine.repository_settings(), Some(done.state));
    shown.loaded = done.report.map(|r| SyncSummary {
        dags: r.dags,
        new_versions: r.new_versions,
        pending_approval: r.pending_approval,
        files_with_errors: r.files_with_errors,
    });
    Ok(Json(shown))
}

/// Deploy a bundle of DAG and job definition files.
///
/// For teams without Git hosting (`weir deploy PATH`). All or nothing: a broken file
/// refuses the bundle (400, every problem named). Every DAG and job definition must be
/// the team's. Production DAGs wait for approval as after a commit, with the uploader as
/// the author.
#[utoipa::path(
    post,
    path = "/deployments",
    operation_id = "create_deployment",
    tag = "Repository",
    request_body = Deployment,
    responses(
        (status = 201, description = "Deployed.", body = DeploymentResult),
        (status = 400, response = BadRequest),
    )
)]
async fn deploy(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    ApiJson(body): ApiJson<Deployment>,
) -> Result<(StatusCode, Json<DeploymentResult>), ApiError> {
    let team = TeamId::new(&body.team).map_err(|e| {
        ApiError::bad_request(format!("`{}` is not a valid team id: {e}", body.team))
    })?;
    let bundle = Bundle {
        team,
        files: body
            .files
            .into_iter()
            .map(|f| (f.path, f.content))
            .collect(),
        message: body.message,
    };
    let done = state.engine.deploy(bundle, &auth.caller).await?;
    let dags = done
        .dags
        .into_iter()
        .map(|(dag_id, submitted)| {
            let (outcome, version, approval_id) = match submitted {
                Submitted::Unchanged => ("unchanged", None, None),
                Submitted::Activated { hash } => ("active", Some(hash), None),
                Submitted::Pending { hash, approval, .. } => {
                    ("pending_approval", Some(hash), Some(approval))
                }
                Submitted::Rejected { hash } => ("rejected", Some(hash), None),
            };
            DeployedDag {
                dag_id: dag_id.to_string(),
                version,
                outcome: outcome.into(),
                approval_id,
            }
        })
        .collect();
    Ok((
        StatusCode::CREATED,
        Json(DeploymentResult {
            dags,
            job_definitions: done.job_definitions,
        }),
    ))
}
