//! Weir's users: `GET /me`, `GET|POST /users`, `GET|DELETE /users/{username}`,
//! `POST /users/{username}/password`. Who may call each is the guard's business
//! (`auth::rules`); these handlers only do the work.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weir_store::NewUser;

use crate::AppState;
use crate::auth::password;
use crate::auth::{AuditChange, Authorized};
use crate::error::ApiError;
use crate::extract::{ApiJson, QueryParams, path_params};
use crate::json;
use crate::json::access::{Me, NewUserBody, PasswordBody, User, UserCollection};
use crate::openapi::{AlreadyExists, BadRequest, NotFound};
use crate::pagination::Pagination;

path_params!(UserPath {
    username: String = "username"
});

/// Longest user name.
const MAX_USERNAME_LEN: usize = 100;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, delete_user))
        .routes(routes!(set_password))
}

/// User names name people in the audit trail: letters, digits and `._@+-`.
pub(crate) fn check_username(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_USERNAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@+-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid user name `{}`: use 1 to {MAX_USERNAME_LEN} letters, digits or `._@+-`",
            name.escape_debug()
        )))
    }
}

fn user_not_found(name: &str) -> ApiError {
    ApiError::not_found("User not found", format!("User `{name}` does not exist"))
}

async fn load_user(state: &AppState, name: &str) -> Result<User, ApiError> {
    let user = state
        .store()
        .get_user(name)
        .await?
        .ok_or_else(|| user_not_found(name))?;
    let teams = state.store().memberships_of(name).await?;
    json::user(user, teams)
}

/// Who the server takes the caller for, with its roles.
#[utoipa::path(get, path = "/me", operation_id = "get_me", tag = "Identity",
    responses((status = 200, description = "Success.", body = Me)))]
async fn me(Extension(auth): Extension<Authorized>) -> Json<Me> {
    let c = auth.caller;
    Json(Me {
        kind: c.kind,
        teams: json::team_roles(&c.teams),
        username: c.name,
        platform_admin: c.platform_admin,
    })
}

/// List users, with their team roles.
#[utoipa::path(get, path = "/users", operation_id = "get_users", tag = "Identity",
    params(Pagination),
    responses((status = 200, description = "Success.", body = UserCollection),
              (status = 400, response = BadRequest)))]
async fn list_users(
    State(state): State<AppState>,
    q: QueryParams,
) -> Result<Json<UserCollection>, ApiError> {
    let page = Pagination::from_query(&q, &state.config)?;
    let found = state.store().list_users(page.limit, page.offset).await?;
    let mut users = Vec::with_capacity(found.items.len());
    for u in found.items {
        let teams = state.store().memberships_of(&u.username).await?;
        users.push(json::user(u, teams)?);
    }
    Ok(Json(UserCollection {
        users,
        total_entries: found.total_entries,
    }))
}

/// Create a local user (with a password).
#[utoipa::path(post, path = "/users", operation_id = "post_user", tag = "Identity",
    request_body = NewUserBody,
    responses((status = 201, description = "Created.", body = User),
              (status = 400, response = BadRequest),
              (status = 409, response = AlreadyExists)))]
async fn create_user(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewUserBody>,
) -> Result<(StatusCode, Extension<AuditChange>, Json<User>), ApiError> {
    check_username(&body.username)?;
    let hash = hash_password(&state, body.password).await?;
    state
        .store()
        .create_user(&NewUser {
            username: &body.username,
            password_hash: Some(&hash),
            email: body.email.as_deref(),
            source: "local",
            platform_admin: body.platform_admin,
        })
        .await?;
    let user = load_user(&state, &body.username).await?;
    let change = AuditChange {
        before: None,
        after: Some(
            serde_json::json!({"platform_admin": user.platform_admin, "email": user.email}),
        ),
    };
    Ok((StatusCode::CREATED, Extension(change), Json(user)))
}

/// Get a user.
#[utoipa::path(get, path = "/users/{username}", operation_id = "get_user", tag = "Identity",
    params(UserPath),
    responses((status = 200, description = "Success.", body = User),
              (status = 404, response = NotFound)))]
async fn get_user(State(state): State<AppState>, path: UserPath) -> Result<Json<User>, ApiError> {
    Ok(Json(load_user(&state, &path.username).await?))
}

/// Delete a user, with its memberships and tokens.
#[utoipa::path(delete, path = "/users/{username}", operation_id = "delete_user", tag = "Identity",
    params(UserPath),
    responses((status = 204, description = "Deleted."),
              (status = 400, response = BadRequest),
              (status = 404, response = NotFound)))]
async fn delete_user(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    path: UserPath,
) -> Result<StatusCode, ApiError> {
    if path.username == auth.caller.name {
        return Err(ApiError::bad_request(
            "you cannot delete yourself; ask another platform admin",
        ));
    }
    if !state.store().delete_user(&path.username).await? {
        return Err(user_not_found(&path.username));
    }
    state.auth.forget(&path.username);
    // A new password ends the user's browser sessions: whoever knew the old one is out.
    state.store().delete_ui_sessions_of(&path.username).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Set a local user's password. Changing your own needs `current_password`; a platform
/// admin setting someone else's does not.
#[utoipa::path(post, path = "/users/{username}/password", operation_id = "set_user_password",
    tag = "Identity", params(UserPath), request_body = PasswordBody,
    responses((status = 204, description = "Changed."),
              (status = 400, response = BadRequest),
              (status = 404, response = NotFound)))]
async fn set_password(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    path: UserPath,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    let user = state
        .store()
        .get_user(&path.username)
        .await?
        .ok_or_else(|| user_not_found(&path.username))?;
    if user.source != "local" {
        return Err(ApiError::bad_request(format!(
            "`{}` signs in through the identity provider and has no password here",
            path.username
        )));
    }
    // Your own password: prove you know it, so a stolen token cannot take the account
    // over. (The guard let others through only as platform admins.)
    if auth.caller.name == path.username {
        let Some(current) = body.current_password.as_deref() else {
            return Err(ApiError::bad_request(
                "give your current password as `current_password` to change your own password \
                 (`weir users set-password` asks for it)",
            ));
        };
        let ok = state
            .auth
            .check_current_password(&path.username, current, auth.address)
            .await?;
        if !ok {
            return Err(ApiError::bad_request(
                "`current_password` is not your current password; nothing was changed",
            ));
        }
    }
    let hash = hash_password(&state, body.password).await?;
    state
        .store()
        .set_password_hash(&path.username, &hash)
        .await?;
    state.auth.forget(&path.username);
    // A new password ends the user's browser sessions: whoever knew the old one is out.
    state.store().delete_ui_sessions_of(&path.username).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Hashes on the blocking pool (argon2 takes tens of milliseconds by design).
async fn hash_password(state: &AppState, password: String) -> Result<String, ApiError> {
    let cost = state.config.password_cost;
    tokio::task::spawn_blocking(move || password::hash(&password, cost))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::bad_request(e.to_string()))
}
