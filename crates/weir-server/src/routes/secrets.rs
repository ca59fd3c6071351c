//! Secrets: `GET /secrets` (every secret the caller administers), `GET
//! /teams/{team_name}/secrets`, `GET|PUT|DELETE /teams/{team_name}/secrets/{secret_name}`,
//! and `POST /secrets/rotateKey`.
//!
//! A team's admins manage its secrets; nobody reads a value back: every answer is
//! metadata ([`Secret`]). The one body with a value (`PUT`) is redacted in the audit
//! trail like every field the redactor does not know to be safe.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weir_core::access::TeamRole;
use weir_secrets::{SecretInfo, SecretsError};

use crate::AppState;
use crate::auth::Authorized;
use crate::error::ApiError;
use crate::extract::{ApiJson, path_params};
use crate::json::{KeyRotation, Secret, SecretBody, SecretCollection};
use crate::openapi::{BadRequest, NotFound};

path_params!(TeamPath {
    team: String = "team_name"
});
path_params!(SecretPath {
    team: String = "team_name",
    name: String = "secret_name"
});

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_all_secrets))
        .routes(routes!(list_team_secrets))
        .routes(routes!(get_secret, put_secret, delete_secret))
        .routes(routes!(rotate_key))
}

fn secret(info: SecretInfo) -> Secret {
    Secret {
        team: info.team,
        name: info.name,
        backend: info.backend.to_owned(),
        version: info.version,
        created_at: info.created_at,
        created_by: info.created_by,
        updated_at: info.updated_at,
        updated_by: info.updated_by,
    }
}

fn collection(items: Vec<SecretInfo>) -> SecretCollection {
    SecretCollection {
        total_entries: i64::try_from(items.len()).unwrap_or(i64::MAX),
        secrets: items.into_iter().map(secret).collect(),
    }
}

/// A secrets error as the API answers it: the caller's mistakes are 400/404, a backend
/// that does not answer 503, the store's own failures 500.
fn api_error(e: SecretsError) -> ApiError {
    match e {
        SecretsError::Invalid(detail) => ApiError::bad_request(detail),
        SecretsError::NotFound { team, name } => ApiError::not_found(
            "Secret not found",
            format!("team `{team}` has no secret `{name}`"),
        ),
        SecretsError::Store(e) => ApiError::from(e),
        e @ (SecretsError::NoMasterKey
        | SecretsError::Aws { .. }
        | SecretsError::UnknownKey { .. }
        | SecretsError::KeyFile { .. }
        | SecretsError::RotationNeedsKey) => ApiError::Unavailable {
            detail: e.to_string(),
        },
        e => ApiError::Internal(Box::new(e)),
    }
}

/// List the secrets the caller administers.
///
/// Platform admins see every team's; a team admin the secrets of the teams they
/// administer. Metadata only.
#[utoipa::path(
    get,
    path = "/secrets",
    operation_id = "get_secrets",
    tag = "Secret",
    responses(
        (status = 200, description = "Success.", body = SecretCollection),
    )
)]
async fn list_all_secrets(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
) -> Result<Json<SecretCollection>, ApiError> {
    let secrets = state.engine.secrets();
    let items = if auth.caller.platform_admin {
        secrets.list(None).await.map_err(api_error)?
    } else {
        let mut items = Vec::new();
        for team in auth.caller.teams_with(TeamRole::Admin) {
            items.extend(secrets.list(Some(team)).await.map_err(api_error)?);
        }
        items
    };
    Ok(Json(collection(items)))
}

/// List a team's secrets (metadata only).
#[utoipa::path(
    get,
    path = "/teams/{team_name}/secrets",
    operation_id = "get_team_secrets",
    tag = "Secret",
    params(TeamPath),
    responses(
        (status = 200, description = "Success.", body = SecretCollection),
        (status = 400, response = BadRequest),
    )
)]
async fn list_team_secrets(
    State(state): State<AppState>,
    path: TeamPath,
) -> Result<Json<SecretCollection>, ApiError> {
    weir_core::ids::TeamId::new(path.team.as_str()).map_err(|e| {
        ApiError::bad_request(format!("`{}` is not a valid team id: {e}", path.team))
    })?;
    let items = state
        .engine
        .secrets()
        .list(Some(&path.team))
        .await
        .map_err(api_error)?;
    Ok(Json(collection(items)))
}

/// Get a secret's metadata (never its value).
#[utoipa::path(
    get,
    path = "/teams/{team_name}/secrets/{secret_name}",
    operation_id = "get_secret",
    tag = "Secret",
    params(SecretPath),
    responses(
        (status = 200, description = "Success.", body = Secret),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn get_secret(
    State(state): State<AppState>,
    path: SecretPath,
) -> Result<Json<Secret>, ApiError> {
    match state
        .engine
        .secrets()
        .get(&path.team, &path.name)
        .await
        .map_err(api_error)?
    {
        Some(info) => Ok(Json(secret(info))),
        None => Err(api_error(SecretsError::NotFound {
            team: path.team,
            name: path.name,
        })),
    }
}

/// Set a secret's value (creating it, or replacing its value).
///
/// The answer is the secret's metadata; the value is never returned.
#[utoipa::path(
    put,
    path = "/teams/{team_name}/secrets/{secret_name}",
    operation_id = "put_secret",
    tag = "Secret",
    params(SecretPath),
    request_body = SecretBody,
    responses(
        (status = 200, description = "Success.", body = Secret),
        (status = 400, response = BadRequest),
    )
)]
async fn put_secret(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    path: SecretPath,
    ApiJson(body): ApiJson<SecretBody>,
) -> Result<Json<Secret>, ApiError> {
    let info = state
        .engine
        .secrets()
        .set(&path.team, &path.name, &body.value, &auth.caller.name)
        .await
        .map_err(api_error)?;
    Ok(Json(secret(info)))
}

/// Delete a secret.
#[utoipa::path(
    delete,
    path = "/teams/{team_name}/secrets/{secret_name}",
    operation_id = "delete_secret",
    tag = "Secret",
    params(SecretPath),
    responses(
        (status = 204, description = "Success."),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn delete_secret(
    State(state): State<AppState>,
    path: SecretPath,
) -> Result<StatusCode, ApiError> {
    if state
        .engine
        .secrets()
        .delete(&path.team, &path.name)
        .await
        .map_err(api_error)?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(api_error(SecretsError::NotFound {
            team: path.team,
            name: path.name,
        }))
    }
}

/// Rotate the master key.
///
/// Adds a new key to the key file (with `WEIR_MASTER_KEY`, uses its last key) and
/// re-seals every local secret and connection password under it, while the server keeps
/// serving.
#[utoipa::path(
    post,
    path = "/secrets/rotateKey",
    operation_id = "rotate_master_key",
    tag = "Secret",
    responses(
        (status = 200, description = "Success.", body = KeyRotation),
    )
)]
async fn rotate_key(State(state): State<AppState>) -> Result<Json<KeyRotation>, ApiError> {
    let done = state
        .engine
        .secrets()
        .rotate_key()
        .await
        .map_err(api_error)?;
    Ok(Json(KeyRotation {
        key_id: done.key_id,
        secrets_resealed: done.secrets as u64,
        connection_passwords_resealed: done.connection_passwords as u64,
    }))
}
