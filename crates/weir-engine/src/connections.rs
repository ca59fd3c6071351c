//! The connections a try may use: looked up by id, refused when they belong to another
//! team (platform-wide ones are everyone's), with the password readable only here.

use std::collections::BTreeMap;

use weir_core::ids::TeamId;
use weir_core::template::TemplateConnection;

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

/// The connections a task of `team` may use (its own team's and platform-wide ones),
/// as templates see them (`{{ conn.<id>.host }}`), by id. One whose password cannot be
/// opened is left out, with a warning: a task that names it fails saying so.
pub async fn for_templates(
    shared: &Shared,
    team: &TeamId,
) -> Result<BTreeMap<String, TemplateConnection>> {
    let teams = [team.to_string()];
    let page = shared
        .store
        .list_connections(Some(&teams), 10_000, 0)
        .await?;
    let mut out = BTreeMap::new();
    for record in page.items {
        let id = record.conn_id.clone();
        match open(shared, record) {
            Ok(c) => {
                out.insert(id, c.for_template());
            }
            Err(why) => tracing::warn!(connection = %id, "{why}"),
        }
    }
    Ok(out)
}

impl Connection {
    /// The connection as templates see it (Airflow's names).
    pub fn for_template(&self) -> TemplateConnection {
        TemplateConnection {
            conn_id: self.conn_id.clone(),
            conn_type: self.conn_type.clone(),
            host: self.host.clone(),
            port: self.port,
            login: self.login.clone(),
            schema: self.schema.clone(),
            extra: (!self.extra.is_empty())
                .then(|| serde_json::Value::Object(self.extra.clone()).to_string()),
            extra_dejson: self.extra.clone(),
            password: self.password.clone(),
        }
    }

    /// The connection as Airflow's `AIRFLOW_CONN_*` URI, password included.
    pub fn uri(&self) -> String {
        weir_core::secrets::connection_uri(&weir_core::secrets::ConnectionParts {
            conn_type: &self.conn_type,
            host: self.host.as_deref(),
            port: self.port,
            login: self.login.as_deref(),
            password: self.password.as_deref(),
            schema: self.schema.as_deref(),
            extra: Some(&self.extra),
        })
    }
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
    Ok(open(shared, record))
}

/// A stored connection with its password and `extra` credentials opened, or why they
/// cannot be.
fn open(
    shared: &Shared,
    record: weir_store::ConnectionRecord,
) -> std::result::Result<Connection, String> {
    let mut extra = record
        .extra
        .as_deref()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .and_then(|v| match v {
            serde_json::Value::Object(map) => Some(map),
            _ => None,
        })
        .unwrap_or_default();
    for (key, value) in extra.iter_mut() {
        if let serde_json::Value::String(stored) = value
            && weir_secrets::is_sealed(stored)
        {
            *stored = shared
                .secrets
                .open_extra(&record.conn_id, key, stored)
                .map_err(|e| e.to_string())?;
        }
    }
    let password = record
        .password
        .as_deref()
        .map(|stored| shared.secrets.open_password(&record.conn_id, stored))
        .transpose()
        .map_err(|e| e.to_string())?;
    Ok(Connection {
        conn_id: record.conn_id,
        conn_type: record.conn_type,
        host: record.host,
        port: record.port.and_then(|p| u16::try_from(p).ok()),
        login: record.login,
        // Opened here, for this try only.
        password,
        schema: record.schema,
        extra,
    })
}
