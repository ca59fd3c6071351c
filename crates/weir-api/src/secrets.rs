//! Secrets (`/teams/{team}/secrets`, `/secrets`): metadata only. No response shape has a
//! field for a value, so none can be sent back by mistake; [`SecretBody`] is the one
//! shape that carries a value, and only inward.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use chrono::{DateTime, Utc};

/// A secret's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Secret {
    pub team: String,
    pub name: String,
    /// Where the value lives: `local` (Weir's database, encrypted) or
    /// `aws_secrets_manager`.
    pub backend: String,
    /// 1 for the first value, one more at each replacement; null when the backend does
    /// not say.
    pub version: Option<i64>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub created_at: Option<DateTime<Utc>>,
    pub created_by: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SecretCollection {
    pub secrets: Vec<Secret>,
    pub total_entries: i64,
}

/// `PUT /teams/{team}/secrets/{name}`: the value (at least 4 characters, so it can be
/// masked).
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretBody {
    pub value: String,
}

impl std::fmt::Debug for SecretBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBody { value: *** }")
    }
}

/// What `POST /secrets/rotateKey` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KeyRotation {
    /// The id of the master key everything is now sealed under.
    pub key_id: String,
    pub secrets_resealed: u64,
    pub connection_passwords_resealed: u64,
}
