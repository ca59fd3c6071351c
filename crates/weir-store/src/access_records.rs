//! The records of identity, access, audit and connections: users and their team
//! memberships, API tokens, audit events, connections.
//!
//! Roles, sources (`local`/`sso`) and outcomes are plain strings here: the store keeps
//! them, the server maps them to weir-core's types and decides what they allow.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A user: local (with a password hash) or created by an SSO login (without one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub username: String,
    pub password_hash: Option<String>,
    pub email: Option<String>,
    /// `local` or `sso`.
    pub source: String,
    pub platform_admin: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

/// A user to create with [`crate::Store::create_user`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub password_hash: Option<&'a str>,
    pub email: Option<&'a str>,
    /// `local` or `sso`.
    pub source: &'a str,
    pub platform_admin: bool,
}

/// A user's role in a team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipRecord {
    pub team: String,
    pub username: String,
    pub role: String,
    /// `local` (set by an admin) or `sso` (replaced at each SSO login).
    pub source: String,
}

/// An API token, without its hash (which never leaves the store). With `username` it acts
/// for that user; without, it is a service account token of `team` with `role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub username: Option<String>,
    pub team: Option<String>,
    pub role: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A token to create with [`crate::Store::create_token`]: `username`, or `team` and
/// `role` (a service account token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewToken<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub token_hash: &'a str,
    pub username: Option<&'a str>,
    pub team: Option<&'a str>,
    pub role: Option<&'a str>,
    pub created_by: &'a str,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Which tokens [`crate::Store::list_tokens`] lists: both `None`, all; `username`, that
/// user's tokens; `team`, that team's service account tokens; both, either kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenFilter {
    pub username: Option<String>,
    pub team: Option<String>,
}

/// An audit event to append with [`crate::Store::append_audit_event`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAuditEvent {
    pub time: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub team: Option<String>,
    pub outcome: String,
    pub source_addr: Option<String>,
    pub details: Value,
}

/// A stored audit event: what [`NewAuditEvent`] said, numbered in append order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEventRecord {
    pub id: i64,
    pub time: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub team: Option<String>,
    pub outcome: String,
    pub source_addr: Option<String>,
    pub details: Value,
}

/// Which audit events [`crate::Store::list_audit_events`] lists: every field set must
/// match (`since` inclusive, `until` exclusive).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Some(list): only events whose team is in the list (team admins' view). None: all.
    pub teams: Option<Vec<String>>,
}

/// A connection (Airflow's): where and how a task reaches an outside system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRecord {
    pub conn_id: String,
    pub conn_type: String,
    pub description: Option<String>,
    pub host: Option<String>,
    pub login: Option<String>,
    pub password: Option<String>,
    pub schema: Option<String>,
    pub port: Option<i32>,
    pub extra: Option<String>,
    /// The owning team (`None`: platform-wide), fixed when the connection is created.
    pub team: Option<String>,
}
