//! Variables (`/variables`), with Weir's owning team.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A variable (`GET /variables/{key}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Variable {
    pub key: String,
    pub value: String,
    pub description: Option<String>,
    /// Weir: the owning team (its admins change the variable, its members read it);
    /// `null` for a platform-wide variable, which every signed-in user reads.
    pub team: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VariableCollection {
    pub variables: Vec<Variable>,
    pub total_entries: i64,
}

/// `POST /variables` and `PATCH /variables/{key}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariableBody {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Weir: the team that owns a new variable (default: the caller's only admin team;
    /// none, platform-wide, for platform admins). Ignored on update: ownership stays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}
