//! Weir: a DAG's versions with their provenance, `GET /dags/{dag_id}/versions[/{version}]`,
//! the diff of two of them, `GET /dags/{dag_id}/versions/{a}/diff/{b}`, and break-glass,
//! `POST /dags/{dag_id}/versions/{version}/activate` (platform admins, with a reason).
//!
//! Everyone signed in sees every DAG's code, so every DAG's versions and diffs too.

use axum::Json;
use axum::extract::{Extension, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weir_core::governance::{summarize, unified_diff};
use weir_core::ids::DagId;
use weir_core::spec::DagSpec;
use weir_store::GovernedVersion;

use crate::AppState;
use crate::auth::Authorized;
use crate::error::ApiError;
use crate::extract::{ApiJson, QueryParams, path_params};
use crate::json::{
    self, BreakGlass, DagVersion, DagVersionCollection, DagVersionDetail, DagVersionDiff,
};
use crate::openapi::{BadRequest, NotFound};
use crate::pagination::Pagination;

path_params!(DagPath {
    dag_id: DagId = "dag_id"
});
path_params!(VersionPath {
    dag_id: DagId = "dag_id",
    version: String = "version"
});
path_params!(DiffPath {
    dag_id: DagId = "dag_id",
    from: String = "version",
    to: String = "other_version"
});

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_versions))
        .routes(routes!(get_version))
        .routes(routes!(diff_versions))
        .routes(routes!(activate_version))
}

/// The version, or a 404 naming the DAG and the version (a DAG's versions only: a hash
/// of another DAG is unknown here).
async fn load_version(
    state: &AppState,
    dag_id: &DagId,
    version: &str,
) -> Result<GovernedVersion, ApiError> {
    crate::routes::load_dag(state, dag_id).await?;
    state
        .store()
        .get_governed_version(dag_id, version)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "Version not found",
                format!(
                    "DAG `{dag_id}` has no version `{version}` (`weir dags versions {dag_id}` lists them)"
                ),
            )
        })
}

/// List a DAG's versions.
///
/// Newest first, each with its provenance (commit, author, message) and status under
/// four-eyes approval.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/versions",
    operation_id = "get_dag_versions",
    tag = "DAGVersion",
    params(DagPath, Pagination),
    responses(
        (status = 200, description = "Success.", body = DagVersionCollection),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn list_versions(
    State(state): State<AppState>,
    path: DagPath,
    q: QueryParams,
) -> Result<Json<DagVersionCollection>, ApiError> {
    let page = Pagination::from_query(&q, &state.config)?;
    crate::routes::load_dag(&state, &path.dag_id).await?;
    let found = state
        .store()
        .list_governed_versions(&path.dag_id, page.limit, page.offset)
        .await?;
    Ok(Json(DagVersionCollection {
        versions: found.items.iter().map(json::dag_version).collect(),
        total_entries: found.total_entries,
    }))
}

/// Get one version of a DAG, with its YAML.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/versions/{version}",
    operation_id = "get_dag_version",
    tag = "DAGVersion",
    params(VersionPath),
    responses(
        (status = 200, description = "Success.", body = DagVersionDetail),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn get_version(
    State(state): State<AppState>,
    path: VersionPath,
) -> Result<Json<DagVersionDetail>, ApiError> {
    let v = load_version(&state, &path.dag_id, &path.version).await?;
    Ok(Json(DagVersionDetail {
        version: json::dag_version(&v),
        source: v.source.clone(),
        job_definitions: v.jobs.clone(),
    }))
}

fn spec_of(v: &GovernedVersion) -> Result<DagSpec, ApiError> {
    serde_json::from_value(v.spec.clone()).map_err(|e| {
        ApiError::internal(std::io::Error::other(format!(
            "stored version {} of DAG `{}` cannot be read: {e}",
            v.version_hash, v.dag_id
        )))
    })
}

/// Compare two versions of a DAG.
///
/// A unified diff of the two files and a semantic summary: tasks added, removed and
/// changed, schedule, images, resources, secrets and connections referenced.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/versions/{version}/diff/{other_version}",
    operation_id = "get_dag_version_diff",
    tag = "DAGVersion",
    params(DiffPath),
    responses(
        (status = 200, description = "Success.", body = DagVersionDiff),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn diff_versions(
    State(state): State<AppState>,
    path: DiffPath,
) -> Result<Json<DagVersionDiff>, ApiError> {
    let from = load_version(&state, &path.dag_id, &path.from).await?;
    let to = load_version(&state, &path.dag_id, &path.to).await?;
    let summary = summarize(Some(&spec_of(&from)?), &spec_of(&to)?);
    let short = |h: &str| h.get(..12).unwrap_or(h).to_string();
    Ok(Json(DagVersionDiff {
        dag_id: path.dag_id.to_string(),
        from_version: from.version_hash.clone(),
        to_version: to.version_hash.clone(),
        headline: summary.headline(),
        summary: serde_json::to_value(&summary).unwrap_or_default(),
        diff: unified_diff(
            &from.source,
            &to.source,
            &format!("{}@{}", path.dag_id, short(&from.version_hash)),
            &format!("{}@{}", path.dag_id, short(&to.version_hash)),
        ),
    }))
}

/// Activate a version without approval (break-glass).
///
/// Platform admins only, and only with a `reason`; the version is flagged and the act
/// audited. For an emergency fix that cannot wait for a second person.
#[utoipa::path(
    post,
    path = "/dags/{dag_id}/versions/{version}/activate",
    operation_id = "activate_dag_version",
    tag = "DAGVersion",
    params(VersionPath),
    request_body = BreakGlass,
    responses(
        (status = 200, description = "Now active.", body = DagVersion),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn activate_version(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    path: VersionPath,
    ApiJson(body): ApiJson<BreakGlass>,
) -> Result<Json<DagVersion>, ApiError> {
    load_version(&state, &path.dag_id, &path.version).await?;
    state
        .engine
        .break_glass(&path.dag_id, &path.version, &auth.caller, &body.reason)
        .await?;
    let v = load_version(&state, &path.dag_id, &path.version).await?;
    Ok(Json(json::dag_version(&v)))
}
