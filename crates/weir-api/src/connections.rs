//! Connections (Airflow's `Connection`, `ConnectionCollectionItem`,
//! `ConnectionCollection`), with Weir's `team`, the team that owns a connection (none:
//! platform-wide).
//!
//! The password is write-only: [`ConnectionBody`] accepts it, and no response shape has a
//! field for it, so it cannot be sent back by mistake.

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// A connection in a list (no `extra`, as in Airflow, and never the password).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConnectionCollectionItem {
    pub connection_id: String,
    pub conn_type: String,
    pub description: Option<String>,
    pub host: Option<String>,
    pub login: Option<String>,
    pub schema: Option<String>,
    pub port: Option<i32>,
    /// Weir: the team that owns the connection; `null` for a platform-wide one.
    pub team: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConnectionCollection {
    pub connections: Vec<ConnectionCollectionItem>,
    pub total_entries: i64,
}

/// A connection (`GET /connections/{connection_id}`): every field but the password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Connection {
    pub connection_id: String,
    pub conn_type: String,
    pub description: Option<String>,
    pub host: Option<String>,
    pub login: Option<String>,
    pub schema: Option<String>,
    pub port: Option<i32>,
    /// Other values that cannot be put into another field, e.g. RSA keys.
    pub extra: Option<String>,
    /// Weir: the team that owns the connection; `null` for a platform-wide one.
    pub team: Option<String>,
}

/// `POST /connections` and `PATCH /connections/{connection_id}`. For each optional field,
/// absent and `null` differ: a `PATCH` keeps an absent field and clears a `null` one.
#[derive(Clone, Default, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ConnectionBody)]
pub struct ConnectionBody {
    /// Required when creating.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub connection_id: Option<String>,
    /// Required when creating.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub conn_type: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub host: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub login: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub schema: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i32>)]
    pub port: Option<Option<i32>>,
    /// Write-only: stored, never returned.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = Password, write_only)]
    pub password: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub extra: Option<Option<String>>,
    /// Weir: the owning team, set when the connection is created; it cannot change.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub team: Option<Option<String>>,
}

/// A field that is present in the body (`Some`), even when it is `null` (`Some(None)`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Written by hand so that a body logged with `{:?}` never shows the password.
impl std::fmt::Debug for ConnectionBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionBody")
            .field("connection_id", &self.connection_id)
            .field("conn_type", &self.conn_type)
            .field("description", &self.description)
            .field("host", &self.host)
            .field("login", &self.login)
            .field("schema", &self.schema)
            .field("port", &self.port)
            .field("password", &self.password.as_ref().map(|_| "< hidden >"))
            .field("extra", &self.extra)
            .field("team", &self.team)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_never_shows_the_password() {
        let body: ConnectionBody =
            serde_json::from_str(r#"{"connection_id": "db", "password": "s3cret"}"#).unwrap();
        assert!(!format!("{body:?}").contains("s3cret"));
    }

    #[test]
    fn absent_and_null_differ() {
        let body: ConnectionBody = serde_json::from_str(r#"{"host": null}"#).unwrap();
        assert_eq!(body.host, Some(None));
        assert_eq!(body.login, None);
        assert!(serde_json::from_str::<ConnectionBody>(r#"{"hots": 1}"#).is_err());
    }
}
