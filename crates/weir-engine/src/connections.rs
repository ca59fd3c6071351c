//! The connections a try may use: looked up by id, refused when they belong to another
//! team (platform-wide ones are everyone's), with the password readable only here.

use weir_core::ids::TeamId;

use crate::error::Result;
use crate::shared::Shared;

/// A connection as a try sees it: Airflow's fields, the password in clear (held in
/// memory for the try only, and masked wherever the try's output is recorded).
#[derive(Debug, Clone, Default)]
pub struct Connection {
    pub conn_id: String,
    pub conn_type: String,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub login: Option<String>,
    pub password: Option<String>,
    pub schema: Option<String>,
    /// `extra` parsed as JSON (an empty object when unset or not JSON).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The connection `conn_id` for a task of `team`, or why the try cannot use it (not
/// found, another team's); an `Err` is a store failure.
pub async fn resolve(
    shared: &Shared,
    team: &TeamId,
    conn_id: &str,
) -> Result<std::result::Result<Connection, String>> {
    let Some(record) = shared.store.get_connection(conn_id).await? else {
        return Ok(Err(format!(
            "connection `{conn_id}` does not exist: create it with `weir connections set {conn_id} …` or the API"
        )));
    };
    if let Some(owner) = record.team.as_deref()
        && owner != team.as_str()
    {
        return Ok(Err(format!(
            "connection `{conn_id}` belongs to team `{owner}`, and this task is team `{team}`'s"
        )));
    }
    let extra = record
        .extra
        .as_deref()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .and_then(|v| match v {
            serde_json::Value::Object(map) => Some(map),
            _ => None,
        })
        .unwrap_or_default();
    Ok(Ok(Connection {
        conn_id: record.conn_id,
        conn_type: record.conn_type,
        host: record.host,
        port: record.port.and_then(|p| u16::try_from(p).ok()),
        login: record.login,
        // Sealed at rest by the secrets store; opened here (see weir-secrets).
        password: record.password,
        schema: record.schema,
        extra,
    }))
}
