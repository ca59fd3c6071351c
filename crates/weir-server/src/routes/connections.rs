//! Connections: `GET|POST /connections` and `GET|PATCH|DELETE /connections/{connection_id}`,
//! as in Airflow, plus Weir's `team` (the team that owns a connection, fixed when it is
//! created). The password is write-only: it is stored sealed under the master key, and
//! no response carries it; `extra` fields named like credentials are sealed too, and
//! shown as `***`.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weir_core::ids::TeamId;
use weir_store::ConnectionRecord;

use crate::AppState;
use crate::auth::Authorized;
use crate::error::ApiError;
use crate::extract::{ApiJson, QueryParams, from_value, path_params};
use crate::json;
use crate::json::connections::{Connection, ConnectionBody, ConnectionCollection};
use crate::openapi::{AlreadyExists, BadRequest, NotFound};
use crate::pagination::{Pagination, bad_order_by, order_by};

path_params!(ConnectionPath {
    id: String = "connection_id"
});

/// Longest connection id (Airflow's limit).
const MAX_ID_LEN: usize = 200;

/// The fields `update_mask` may name.
const UPDATABLE: [&str; 8] = [
    "conn_type",
    "description",
    "host",
    "login",
    "schema",
    "port",
    "password",
    "extra",
];

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_connections, create_connection))
        .routes(routes!(get_connection, patch_connection, delete_connection))
}

/// Airflow's rule for keys: letters, digits, `_`, `-` and `.`, at most 200 characters.
fn check_id(id: &str) -> Result<(), ApiError> {
    if id.chars().count() > MAX_ID_LEN {
        return Err(ApiError::bad_request(format!(
            "The key has to be less than {MAX_ID_LEN} characters"
        )));
    }
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(ApiError::bad_request(format!(
            "The key '{}' has to be made of alphanumeric characters, dashes, dots and \
             underscores exclusively",
            id.escape_debug()
        )));
    }
    Ok(())
}

fn connection_not_found(id: &str) -> ApiError {
    ApiError::not_found(
        "Connection not found",
        format!("The Connection with connection_id: `{id}` was not found"),
    )
}

/// A required, non-empty string field of a creation body.
fn required(field: &str, value: Option<String>) -> Result<String, ApiError> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ApiError::bad_request(format!(
            "`{field}`: Missing data for required field."
        ))),
    }
}

/// Seals what a connection holds of credentials before it is stored: the password, and
/// `extra` fields named like credentials. An `extra` credential sent back as `***` (as
/// a read showed it) keeps the value stored before.
fn seal(
    state: &AppState,
    c: &mut ConnectionRecord,
    before: Option<&ConnectionRecord>,
) -> Result<(), ApiError> {
    let secrets = state.engine.secrets();
    // Only a server without a usable master key fails here: not the caller's mistake.
    let sealing = |e: weir_secrets::SecretsError| ApiError::Unavailable {
        detail: e.to_string(),
    };
    if let Some(password) = &c.password
        && !weir_secrets::is_sealed(password)
    {
        c.password = Some(
            secrets
                .seal_password(&c.conn_id, password)
                .map_err(sealing)?,
        );
    }
    let Some(text) = c.extra.as_deref() else {
        return Ok(());
    };
    let Ok(Value::Object(mut extra)) = serde_json::from_str::<Value>(text) else {
        // Not JSON: stored as given (Airflow allows it); nothing to find in it.
        return Ok(());
    };
    let old: serde_json::Map<String, Value> = before
        .and_then(|b| b.extra.as_deref())
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    let mut changed = false;
    for (key, value) in extra.iter_mut() {
        let Value::String(v) = value else { continue };
        if !weir_core::secrets::is_sensitive_key(key) || weir_secrets::is_sealed(v) {
            continue;
        }
        if v == weir_core::mask::MASK
            && let Some(Value::String(kept)) = old.get(key)
        {
            *v = kept.clone();
        } else {
            *v = secrets.seal_extra(&c.conn_id, key, v).map_err(sealing)?;
        }
        changed = true;
    }
    if changed {
        c.extra = Some(Value::Object(extra).to_string());
    }
    Ok(())
}

async fn load(state: &AppState, id: &str) -> Result<ConnectionRecord, ApiError> {
    state
        .store()
        .get_connection(id)
        .await?
        .ok_or_else(|| connection_not_found(id))
}

/// List connections.
///
/// Sorted by connection id. The password is never returned, nor (as in Airflow) `extra`:
/// get one connection for that.
#[utoipa::path(
    get,
    path = "/connections",
    operation_id = "get_connections",
    tag = "Connection",
    params(
        Pagination,
        ("order_by" = Option<String>, Query, description = "`connection_id`."),
    ),
    responses(
        (status = 200, description = "Success.", body = ConnectionCollection),
        (status = 400, response = BadRequest),
    )
)]
async fn list_connections(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    q: QueryParams,
) -> Result<Json<ConnectionCollection>, ApiError> {
    let page = Pagination::from_query(&q, &state.config)?;
    if let Some((field, desc)) = order_by(&q)
        && (!matches!(field, "connection_id" | "conn_id") || desc)
    {
        return Err(bad_order_by(field, &["connection_id"]));
    }
    // Platform-wide connections, and those of the caller's teams.
    let readable: Option<Vec<String>> =
        (!auth.caller.platform_admin).then(|| auth.caller.teams.keys().cloned().collect());
    let found = state
        .store()
        .list_connections(readable.as_deref(), page.limit, page.offset)
        .await?;
    Ok(Json(ConnectionCollection {
        connections: found.items.into_iter().map(json::connection_item).collect(),
        total_entries: found.total_entries,
    }))
}

/// Create a connection.
///
/// 409 if the id is taken. `team` (Weir) makes it a team's connection; it cannot change
/// afterwards.
#[utoipa::path(
    post,
    path = "/connections",
    operation_id = "post_connection",
    tag = "Connection",
    request_body = ConnectionBody,
    responses(
        (status = 200, description = "Success.", body = Connection),
        (status = 400, response = BadRequest),
        (status = 409, response = AlreadyExists),
    )
)]
async fn create_connection(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    ApiJson(body): ApiJson<ConnectionBody>,
) -> Result<Json<Connection>, ApiError> {
    let conn_id = required("connection_id", body.connection_id)?;
    check_id(&conn_id)?;
    let conn_type = required("conn_type", body.conn_type)?;
    // The guard settled the owning team (the body's `team`, or the caller's only admin
    // team) and checked that the caller may create there.
    let team = auth.team.clone();
    if let Some(t) = &team {
        TeamId::new(t.as_str())
            .map_err(|e| ApiError::bad_request(format!("invalid `team` `{t}`: {e}")))?;
    }
    if state.store().get_connection(&conn_id).await?.is_some() {
        return Err(ApiError::Conflict {
            detail: format!("Connection already exist. ID: {conn_id}"),
        });
    }
    let mut record = ConnectionRecord {
        conn_id,
        conn_type,
        description: body.description.flatten(),
        host: body.host.flatten(),
        login: body.login.flatten(),
        password: body.password.flatten(),
        schema: body.schema.flatten(),
        port: body.port.flatten(),
        extra: body.extra.flatten(),
        team,
    };
    seal(&state, &mut record, None)?;
    let stored = state.store().put_connection(&record).await?;
    Ok(Json(json::connection(stored)))
}

/// Get a connection (without its password).
#[utoipa::path(
    get,
    path = "/connections/{connection_id}",
    operation_id = "get_connection",
    tag = "Connection",
    params(ConnectionPath),
    responses(
        (status = 200, description = "Success.", body = Connection),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn get_connection(
    State(state): State<AppState>,
    path: ConnectionPath,
) -> Result<Json<Connection>, ApiError> {
    Ok(Json(json::connection(load(&state, &path.id).await?)))
}

/// Update a connection.
///
/// Without `update_mask`, every field the body has is set (`null` clears it) and the
/// others are kept; with it, only the fields it names, which the body must have. The id
/// and the team cannot change.
#[utoipa::path(
    patch,
    path = "/connections/{connection_id}",
    operation_id = "patch_connection",
    tag = "Connection",
    params(
        ConnectionPath,
        ("update_mask" = Option<Vec<String>>, Query, description = "The fields to update: conn_type, description, host, login, schema, port, password, extra."),
    ),
    request_body = ConnectionBody,
    responses(
        (status = 200, description = "Success.", body = Connection),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn patch_connection(
    State(state): State<AppState>,
    path: ConnectionPath,
    q: QueryParams,
    ApiJson(raw): ApiJson<Value>,
) -> Result<Json<Connection>, ApiError> {
    let present: Vec<String> = raw
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let body: ConnectionBody = from_value(raw)?;
    let mut c = load(&state, &path.id).await?;
    let before = c.clone();
    if body
        .connection_id
        .as_deref()
        .is_some_and(|id| id != c.conn_id)
    {
        return Err(ApiError::bad_request(
            "The connection_id cannot be updated.",
        ));
    }
    if let Some(team) = &body.team
        && *team != c.team
    {
        return Err(ApiError::bad_request(
            "The team of a connection is fixed when it is created and cannot be updated.",
        ));
    }
    let mask = q.all("update_mask");
    if let Some(bad) = mask
        .iter()
        .find(|f| !UPDATABLE.contains(f) || !present.iter().any(|p| p == **f))
    {
        return Err(ApiError::bad_request(format!(
            "'{bad}' is unknown or cannot be updated."
        )));
    }
    let apply = |field: &str| mask.is_empty() || mask.contains(&field);
    if let Some(conn_type) = body.conn_type.filter(|_| apply("conn_type")) {
        if conn_type.is_empty() {
            return Err(ApiError::bad_request("`conn_type` may not be empty"));
        }
        c.conn_type = conn_type;
    }
    let fields = [
        ("description", body.description, &mut c.description),
        ("host", body.host, &mut c.host),
        ("login", body.login, &mut c.login),
        ("schema", body.schema, &mut c.schema),
        ("password", body.password, &mut c.password),
        ("extra", body.extra, &mut c.extra),
    ];
    for (name, value, slot) in fields {
        if let Some(v) = value.filter(|_| apply(name)) {
            *slot = v;
        }
    }
    if let Some(port) = body.port.filter(|_| apply("port")) {
        c.port = port;
    }
    seal(&state, &mut c, Some(&before))?;
    let stored = state.store().put_connection(&c).await?;
    Ok(Json(json::connection(stored)))
}

/// Delete a connection.
#[utoipa::path(
    delete,
    path = "/connections/{connection_id}",
    operation_id = "delete_connection",
    tag = "Connection",
    params(ConnectionPath),
    responses(
        (status = 204, description = "Success."),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn delete_connection(
    State(state): State<AppState>,
    path: ConnectionPath,
) -> Result<StatusCode, ApiError> {
    if state.store().delete_connection(&path.id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(connection_not_found(&path.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_airflows_key_rule() {
        assert!(check_id("my_db.prod-1").is_ok());
        assert!(check_id("a b").is_err());
        assert!(check_id("a/b").is_err());
        assert!(check_id("").is_err());
        assert!(check_id(&"x".repeat(201)).is_err());
    }
}
