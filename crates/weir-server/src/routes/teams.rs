//! Teams and their members: `GET /teams`, `GET /teams/{team_name}`,
//! `PUT|DELETE /teams/{team_name}/members/{username}`.
//!
//! A team's settings (weight, images, log readers) come from `weir.toml`; its members
//! from the store. The teams listed are those of `weir.toml`, those owning DAGs and
//! those with members.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weir_store::DagFilter;

use crate::AppState;
use crate::auth::AuditChange;
use crate::error::ApiError;
use crate::extract::{ApiJson, QueryParams, path_params};
use crate::json;
use crate::json::access::{MemberBody, Membership, Team, TeamCollection};
use crate::openapi::{BadRequest, NotFound};
use crate::pagination::Pagination;

path_params!(TeamPath {
    team: String = "team_name"
});
path_params!(MemberPath {
    team: String = "team_name",
    username: String = "username"
});

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_teams))
        .routes(routes!(get_team))
        .routes(routes!(set_member, remove_member))
}

/// Every team Weir knows of, sorted.
async fn team_names(state: &AppState) -> Result<BTreeSet<String>, ApiError> {
    let mut names: BTreeSet<String> = state
        .platform
        .teams
        .iter()
        .map(|t| t.name.clone())
        .collect();
    names.extend(state.store().teams_with_members().await?);
    let filter = DagFilter {
        limit: 100_000,
        ..DagFilter::default()
    };
    for dag in state.store().list_dags(&filter).await?.items {
        if let Some(team) = dag.team {
            names.insert(team.to_string());
        }
    }
    Ok(names)
}

async fn team(state: &AppState, name: &str) -> Result<Team, ApiError> {
    let platform = &state.platform;
    let settings = platform.team(name);
    let members = state.store().members_of(name).await?;
    Ok(Team {
        name: name.to_string(),
        weight: platform.weight(name),
        image_prefixes: settings
            .map(|t| t.image_prefixes.clone())
            .unwrap_or_default(),
        logs_readable_by: platform.log_readers(name),
        members: members
            .into_iter()
            .map(json::membership)
            .collect::<Result<_, _>>()?,
    })
}

/// List teams, with their members.
#[utoipa::path(get, path = "/teams", operation_id = "get_teams", tag = "Identity",
    params(Pagination),
    responses((status = 200, description = "Success.", body = TeamCollection),
              (status = 400, response = BadRequest)))]
async fn list_teams(
    State(state): State<AppState>,
    q: QueryParams,
) -> Result<Json<TeamCollection>, ApiError> {
    let page = Pagination::from_query(&q, &state.config)?;
    let names: Vec<String> = team_names(&state).await?.into_iter().collect();
    let total_entries = i64::try_from(names.len()).unwrap_or(i64::MAX);
    let mut teams = Vec::new();
    for name in page.slice(names) {
        teams.push(team(&state, &name).await?);
    }
    Ok(Json(TeamCollection {
        teams,
        total_entries,
    }))
}

/// Get a team and its members.
#[utoipa::path(get, path = "/teams/{team_name}", operation_id = "get_team", tag = "Identity",
    params(TeamPath),
    responses((status = 200, description = "Success.", body = Team),
              (status = 404, response = NotFound)))]
async fn get_team(State(state): State<AppState>, path: TeamPath) -> Result<Json<Team>, ApiError> {
    if !team_names(&state).await?.contains(&path.team) {
        return Err(ApiError::not_found(
            "Team not found",
            format!(
                "Team `{}` is not in weir.toml, owns no DAG and has no members",
                path.team
            ),
        ));
    }
    Ok(Json(team(&state, &path.team).await?))
}

/// Give a user a role in a team (or change it).
#[utoipa::path(put, path = "/teams/{team_name}/members/{username}", operation_id = "put_team_member",
    tag = "Identity", params(MemberPath), request_body = MemberBody,
    responses((status = 200, description = "Success.", body = Membership),
              (status = 400, response = BadRequest),
              (status = 404, response = NotFound)))]
async fn set_member(
    State(state): State<AppState>,
    path: MemberPath,
    ApiJson(body): ApiJson<MemberBody>,
) -> Result<(Extension<AuditChange>, Json<Membership>), ApiError> {
    let role = body.role;
    if weir_core::ids::TeamId::new(path.team.as_str()).is_err() {
        return Err(ApiError::bad_request(format!(
            "invalid team name `{}`",
            path.team
        )));
    }
    let before = state
        .store()
        .members_of(&path.team)
        .await?
        .into_iter()
        .find(|m| m.username == path.username)
        .map(|m| json!({"role": m.role}));
    let m = state
        .store()
        .set_membership(&path.team, &path.username, role.as_str())
        .await?;
    let change = AuditChange {
        before,
        after: Some(json!({"role": m.role})),
    };
    Ok((Extension(change), Json(json::membership(m)?)))
}

/// Take a user out of a team.
#[utoipa::path(delete, path = "/teams/{team_name}/members/{username}", operation_id = "delete_team_member",
    tag = "Identity", params(MemberPath),
    responses((status = 204, description = "Removed."),
              (status = 404, response = NotFound)))]
async fn remove_member(
    State(state): State<AppState>,
    path: MemberPath,
) -> Result<StatusCode, ApiError> {
    if state
        .store()
        .remove_membership(&path.team, &path.username)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(
            "Member not found",
            format!(
                "`{}` is not a member of team `{}`",
                path.username, path.team
            ),
        ))
    }
}
