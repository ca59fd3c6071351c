//! API tokens: `GET|POST /tokens`, `DELETE /tokens/{token_id}`. A token's secret is shown
//! once, in the answer to `POST`; the store keeps its SHA-256 digest only.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weir_core::access::TeamRole;
use weir_store::{NewToken, TokenFilter};

use crate::AppState;
use crate::auth::{AuditChange, Authorized, api_tokens};
use crate::error::ApiError;
use crate::extract::{ApiJson, QueryParams, path_params};
use crate::json;
use crate::json::access::{CreatedToken, NewTokenBody, TokenCollection};
use crate::openapi::{BadRequest, NotFound};
use crate::pagination::Pagination;

path_params!(TokenPath {
    token_id: String = "token_id"
});

/// Longest life of a token.
const MAX_EXPIRY_DAYS: u32 = 365;
/// Life of a token when the request does not say.
const DEFAULT_EXPIRY_DAYS: u32 = 90;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

/// List tokens: the caller's own, its teams' service tokens where it is an admin, and
/// every token for platform admins (narrow with `username` or `team`).
#[utoipa::path(get, path = "/tokens", operation_id = "get_tokens", tag = "Identity",
    params(Pagination,
        ("username" = Option<String>, Query, description = "Only this user's tokens."),
        ("team" = Option<String>, Query, description = "Only this team's service tokens.")),
    responses((status = 200, description = "Success.", body = TokenCollection),
              (status = 400, response = BadRequest)))]
async fn list_tokens(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    q: QueryParams,
) -> Result<Json<TokenCollection>, ApiError> {
    let page = Pagination::from_query(&q, &state.config)?;
    let caller = &auth.caller;
    let username = q.str("username").map(str::to_string);
    let team = q.str("team").map(str::to_string);
    let found = if caller.platform_admin {
        state
            .store()
            .list_tokens(&TokenFilter { username, team }, page.limit, page.offset)
            .await?
    } else {
        // Everything the caller may see, filtered by what it asked for, then paged.
        let mut visible = state
            .store()
            .list_tokens(
                &TokenFilter {
                    username: Some(caller.name.clone()),
                    team: None,
                },
                i64::MAX / 2,
                0,
            )
            .await?
            .items;
        for admin_of in caller.teams_with(TeamRole::Admin) {
            let team_tokens = state
                .store()
                .list_tokens(
                    &TokenFilter {
                        username: None,
                        team: Some(admin_of.to_string()),
                    },
                    i64::MAX / 2,
                    0,
                )
                .await?;
            visible.extend(
                team_tokens
                    .items
                    .into_iter()
                    .filter(|t| t.username.is_none()),
            );
        }
        visible.retain(|t| {
            username
                .as_ref()
                .is_none_or(|u| t.username.as_ref() == Some(u))
                && team.as_ref().is_none_or(|x| t.team.as_ref() == Some(x))
        });
        visible.sort_by_key(|t| std::cmp::Reverse(t.created_at));
        let total = i64::try_from(visible.len()).unwrap_or(i64::MAX);
        weir_store::Page {
            items: page.slice(visible),
            total_entries: total,
        }
    };
    Ok(Json(TokenCollection {
        tokens: found
            .items
            .into_iter()
            .map(json::token_info)
            .collect::<Result<_, _>>()?,
        total_entries: found.total_entries,
    }))
}

/// Create a token for the caller, or (with `team` and `role`) a team's service token.
/// The answer holds the secret; it is never shown again.
#[utoipa::path(post, path = "/tokens", operation_id = "post_token", tag = "Identity",
    request_body = NewTokenBody,
    responses((status = 201, description = "Created.", body = CreatedToken),
              (status = 400, response = BadRequest)))]
async fn create_token(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    ApiJson(body): ApiJson<NewTokenBody>,
) -> Result<(StatusCode, Extension<AuditChange>, Json<CreatedToken>), ApiError> {
    let name = body.name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "`name` must be 1 to 100 printable characters, e.g. `cli@laptop` or `ci-deploy`",
        ));
    }
    let caller = &auth.caller;
    let expires_at = expiry(&body, &auth, Utc::now())?;
    let (username, team, role) = match (&body.team, &body.role) {
        (Some(team), Some(role)) => {
            // The guard has checked that the caller is an admin of `team`
            // (`Need::CreateToken` reads the body's `team`).
            (None, Some(team.clone()), Some(role.as_str().to_string()))
        }
        (Some(_), None) => {
            return Err(ApiError::bad_request(
                "a service token needs a `role` in its team: viewer, operator or admin",
            ));
        }
        (None, Some(_)) => {
            return Err(ApiError::bad_request(
                "`role` is only for service tokens: give `team` too, or leave `role` out",
            ));
        }
        (None, None) => (Some(caller.name.clone()), None, None),
    };
    let (secret, digest) =
        api_tokens::generate().map_err(|e| ApiError::Internal(e.to_string().into()))?;
    let id = uuid::Uuid::new_v4().to_string();
    let record = state
        .store()
        .create_token(&NewToken {
            id: &id,
            name,
            token_hash: &digest,
            username: username.as_deref(),
            team: team.as_deref(),
            role: role.as_deref(),
            created_by: &caller.name,
            expires_at,
        })
        .await?;
    let info = json::token_info(record)?;
    let change = AuditChange {
        before: None,
        after: Some(
            serde_json::json!({"token_id": info.token_id, "name": info.name,
            "username": info.username, "team": info.team, "role": info.role,
            "expires_at": info.expires_at, "never_expires": info.expires_at.is_none()}),
        ),
    };
    Ok((
        StatusCode::CREATED,
        Extension(change),
        Json(CreatedToken {
            token: secret,
            token_info: info,
        }),
    ))
}

/// When a new token expires (`None`: never). Every token expires within
/// [`MAX_EXPIRY_DAYS`] (by default [`DEFAULT_EXPIRY_DAYS`]), and never after the token the
/// caller signed in with, so a stolen token cannot mint a longer-lived one. Only platform
/// admins' service tokens may never expire, or outlive the token that made them; the
/// guard audits their creation like every other.
fn expiry(
    body: &NewTokenBody,
    auth: &Authorized,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    let platform_service_token = auth.caller.platform_admin && body.team.is_some();
    let cap = if platform_service_token {
        None
    } else {
        auth.credential_expires_at
    };
    let days = match body.expires_in_days {
        Some(None) if platform_service_token => return Ok(None),
        Some(None) => {
            return Err(ApiError::bad_request(format!(
                "`expires_in_days: null` (a token that never expires) is only for service \
                 tokens made by platform admins; give a number of days, 1 to {MAX_EXPIRY_DAYS}"
            )));
        }
        Some(Some(days)) if days == 0 || days > MAX_EXPIRY_DAYS => {
            return Err(ApiError::bad_request(format!(
                "`expires_in_days` must be 1 to {MAX_EXPIRY_DAYS} (got {days})"
            )));
        }
        Some(Some(days)) => days,
        None => {
            let default = now + TimeDelta::days(i64::from(DEFAULT_EXPIRY_DAYS));
            return Ok(Some(cap.map_or(default, |cap| cap.min(default))));
        }
    };
    let at = now + TimeDelta::days(i64::from(days));
    match cap {
        Some(cap) if at > cap => Err(ApiError::bad_request(format!(
            "`expires_in_days` is at most {} here: a token may not outlive the token you \
             signed in with, which expires at {}; ask for fewer days, or sign in with your \
             password or single sign-on to make a longer-lived one",
            (cap - now).num_days(),
            cap.to_rfc3339()
        ))),
        _ => Ok(Some(at)),
    }
}

/// Revoke a token: it stops working at once.
#[utoipa::path(delete, path = "/tokens/{token_id}", operation_id = "delete_token",
    tag = "Identity", params(TokenPath),
    responses((status = 204, description = "Revoked."),
              (status = 404, response = NotFound)))]
async fn revoke_token(
    State(state): State<AppState>,
    path: TokenPath,
) -> Result<StatusCode, ApiError> {
    if state
        .store()
        .revoke_token(&path.token_id, Utc::now())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(
            "Token not found",
            format!(
                "Token `{}` does not exist or is already revoked",
                path.token_id
            ),
        ))
    }
}
