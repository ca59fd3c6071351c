//! Weir's identity and access resources: the caller, users, teams and members, and API
//! tokens. Secrets never appear here: no password, no password hash, no token digest; a
//! token's secret only in [`CreatedToken`], once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use weir_core::access::{CallerKind, LogReaders, TeamRole};

use crate::schema::{CallerKindSchema, LogReadersSchema, TeamRoleSchema};
use crate::time;

/// `GET /me`: who the server thinks the caller is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub username: String,
    /// How the caller signed in.
    #[schema(value_type = CallerKindSchema)]
    pub kind: CallerKind,
    pub platform_admin: bool,
    pub teams: Vec<TeamRoleEntry>,
}

/// A role in a team.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TeamRoleEntry {
    pub team: String,
    #[schema(value_type = TeamRoleSchema)]
    pub role: TeamRole,
}

/// A team membership, as a user's or a team's list shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Membership {
    pub team: String,
    pub username: String,
    #[schema(value_type = TeamRoleSchema)]
    pub role: TeamRole,
    /// `local` (set through the API) or `sso` (from the identity provider's groups, at sign-in).
    pub source: String,
}

/// A user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub username: String,
    pub email: Option<String>,
    /// `local` (has a password) or `sso` (signs in through the identity provider).
    pub source: String,
    pub platform_admin: bool,
    #[serde(with = "time")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(default, with = "time::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_login_at: Option<DateTime<Utc>>,
    pub teams: Vec<Membership>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserCollection {
    pub users: Vec<User>,
    pub total_entries: i64,
}

/// `POST /users`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    pub username: String,
    /// At least 8 characters; stored only as an argon2id hash.
    pub password: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub platform_admin: bool,
}

/// `POST /users/{username}/password`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    pub password: String,
    /// The password being replaced: needed to change your own password (a platform admin
    /// setting someone else's does not give it).
    #[serde(default)]
    pub current_password: Option<String>,
}

/// A team: its platform settings (from `weir.toml`) and its members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Team {
    pub name: String,
    pub weight: f64,
    pub image_prefixes: Vec<String>,
    /// Who may read the team's task logs.
    #[schema(value_type = LogReadersSchema)]
    pub logs_readable_by: LogReaders,
    pub members: Vec<Membership>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TeamCollection {
    pub teams: Vec<Team>,
    pub total_entries: i64,
}

/// `PUT /teams/{team_name}/members/{username}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberBody {
    #[schema(value_type = TeamRoleSchema)]
    pub role: TeamRole,
}

/// An API token, without its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenInfo {
    pub token_id: String,
    pub name: String,
    /// The user the token acts for; `null` for a team's service token.
    pub username: Option<String>,
    /// The team of a service token.
    pub team: Option<String>,
    /// The role of a service token in its team.
    #[schema(value_type = Option<TeamRoleSchema>)]
    pub role: Option<TeamRole>,
    pub created_by: String,
    #[serde(with = "time")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(default, with = "time::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, with = "time::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(default, with = "time::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenCollection {
    pub tokens: Vec<TokenInfo>,
    pub total_entries: i64,
}

/// `POST /tokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    pub name: String,
    /// Days until the token expires: 1 to 365. Left out: 90, or less when the token the
    /// caller signed in with expires sooner (a token never outlives the token that made
    /// it). `null` (never expires) only for service tokens made by platform admins.
    #[serde(
        default,
        deserialize_with = "given",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<u32>)]
    pub expires_in_days: Option<Option<u32>>,
    /// Make a service token of this team (needs its `admin` role) instead of a token of
    /// the caller.
    #[serde(default)]
    pub team: Option<String>,
    /// The service token's role in its team.
    #[serde(default)]
    #[schema(value_type = Option<TeamRoleSchema>)]
    pub role: Option<TeamRole>,
}

/// `Some(value)` for a field that is present, `null` included (absent is the default,
/// `None`).
fn given<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(d).map(Some)
}

/// The answer to `POST /tokens`: the secret, shown this once.
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    pub token: String,
    pub token_info: TokenInfo,
}

/// Written by hand so that a token logged with `{:?}` never shows its secret.
impl std::fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedToken")
            .field("token", &"< hidden >")
            .field("token_info", &self.token_info)
            .finish()
    }
}
