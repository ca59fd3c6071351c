//! Weir: `GET /jobDefinitions[/{job_definition_name}]`, the job definitions the engine
//! loaded from the jobs folder, with their revisions. Secrets are shown by name only.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{QueryParams, path_params};
use crate::json::job_definitions::{JobDefinition, JobDefinitionCollection};
use crate::openapi::{BadRequest, NotFound};
use crate::pagination::{Pagination, bad_order_by, order_by};

path_params!(JobPath {
    name: String = "job_definition_name"
});

/// A definition as the API shows it, with the commit that first brought its revision.
async fn with_provenance(
    state: &AppState,
    def: weir_core::job_def::JobDefinition,
) -> Result<JobDefinition, ApiError> {
    let found = state
        .store()
        .job_version(def.team.as_str(), &def.job, &def.revision())
        .await?;
    let mut shown = JobDefinition::from(def);
    shown.provenance = found.map(|v| crate::json::Provenance {
        origin: v.provenance.origin,
        commit: v.provenance.commit_sha,
        author: v.provenance.author_name,
        author_email: v.provenance.author_email,
        committer: v.provenance.committer,
        message: v.provenance.message,
        committed_at: v.provenance.committed_at,
        created_at: v.created_at,
    });
    Ok(shown)
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_job_definitions))
        .routes(routes!(get_job_definition))
}

/// List job definitions.
///
/// Every job definition the engine loaded, by team then name; `team` keeps one team's.
#[utoipa::path(
    get,
    path = "/jobDefinitions",
    operation_id = "get_job_definitions",
    tag = "JobDefinition",
    params(
        Pagination,
        ("team" = Option<String>, Query, description = "Only this team's definitions."),
        ("order_by" = Option<String>, Query, description = "`name` (within each team)."),
    ),
    responses(
        (status = 200, description = "Success.", body = JobDefinitionCollection),
        (status = 400, response = BadRequest),
    )
)]
async fn list_job_definitions(
    State(state): State<AppState>,
    q: QueryParams,
) -> Result<Json<JobDefinitionCollection>, ApiError> {
    let page = Pagination::from_query(&q, &state.config)?;
    if let Some((field, desc)) = order_by(&q)
        && (field != "name" || desc)
    {
        return Err(bad_order_by(field, &["name"]));
    }
    let mut defs = state.engine.job_definitions();
    if let Some(team) = q.str("team") {
        defs.retain(|d| d.team == team);
    }
    let total = i64::try_from(defs.len()).unwrap_or(i64::MAX);
    Ok(Json(JobDefinitionCollection {
        job_definitions: {
            let mut shown = Vec::new();
            for def in page.slice(defs) {
                shown.push(with_provenance(&state, def).await?);
            }
            shown
        },
        total_entries: total,
    }))
}

/// Get a job definition.
///
/// Names are unique within a team: when several teams have a definition of this name,
/// `team` says which (else a 400 naming the teams).
#[utoipa::path(
    get,
    path = "/jobDefinitions/{job_definition_name}",
    operation_id = "get_job_definition",
    tag = "JobDefinition",
    params(
        JobPath,
        ("team" = Option<String>, Query, description = "The team whose definition to get."),
    ),
    responses(
        (status = 200, description = "Success.", body = JobDefinition),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn get_job_definition(
    State(state): State<AppState>,
    path: JobPath,
    q: QueryParams,
) -> Result<Json<JobDefinition>, ApiError> {
    let team = q.str("team");
    let mut found: Vec<_> = state
        .engine
        .job_definitions()
        .into_iter()
        .filter(|d| d.job == path.name && team.is_none_or(|t| d.team == t))
        .collect();
    match found.len() {
        0 => Err(ApiError::not_found(
            "Job definition not found",
            match team {
                Some(t) => format!(
                    "Team `{t}` has no job definition with name: `{}`",
                    path.name
                ),
                None => format!(
                    "The job definition with name: `{}` was not found",
                    path.name
                ),
            },
        )),
        1 => Ok(Json(with_provenance(&state, found.remove(0)).await?)),
        _ => {
            let teams: Vec<String> = found.into_iter().map(|d| d.team.to_string()).collect();
            Err(ApiError::bad_request(format!(
                "several teams have a job definition `{}` ({}); say which with `?team=`",
                path.name,
                teams.join(", ")
            )))
        }
    }
}
