//! Conversions to the shapes of users, memberships, tokens and audit events from the
//! store's records. The store keeps roles and outcomes as text; one it cannot read is a
//! damaged store, answered with a 500 whose cause is logged.

use std::collections::BTreeMap;

use weir_api::access::{Membership, TeamRoleEntry, TokenInfo, User};
use weir_api::audit::AuditEvent;
use weir_core::access::TeamRole;
use weir_store::{AuditEventRecord, MembershipRecord, TokenRecord, UserRecord};

use crate::error::ApiError;

fn role(s: &str) -> Result<TeamRole, ApiError> {
    s.parse().map_err(ApiError::internal)
}

pub fn membership(m: MembershipRecord) -> Result<Membership, ApiError> {
    Ok(Membership {
        role: role(&m.role)?,
        team: m.team,
        username: m.username,
        source: m.source,
    })
}

/// A user with its team memberships.
pub fn user(u: UserRecord, teams: Vec<MembershipRecord>) -> Result<User, ApiError> {
    Ok(User {
        username: u.username,
        email: u.email,
        source: u.source,
        platform_admin: u.platform_admin,
        created_at: u.created_at,
        last_login_at: u.last_login_at,
        teams: teams
            .into_iter()
            .map(membership)
            .collect::<Result<_, _>>()?,
    })
}

/// A token, without its secret (the record has none).
pub fn token_info(t: TokenRecord) -> Result<TokenInfo, ApiError> {
    Ok(TokenInfo {
        role: t.role.as_deref().map(role).transpose()?,
        token_id: t.id,
        name: t.name,
        username: t.username,
        team: t.team,
        created_by: t.created_by,
        created_at: t.created_at,
        expires_at: t.expires_at,
        revoked_at: t.revoked_at,
        last_used_at: t.last_used_at,
    })
}

pub fn audit_event(e: AuditEventRecord) -> Result<AuditEvent, ApiError> {
    Ok(AuditEvent {
        outcome: e.outcome.parse().map_err(ApiError::internal)?,
        id: e.id,
        time: e.time,
        actor: e.actor,
        action: e.action,
        object_type: e.object_type,
        object_id: e.object_id,
        team: e.team,
        source_address: e.source_addr,
        details: e.details,
    })
}

/// Roles by team, for `GET /me`.
pub fn team_roles(teams: &BTreeMap<String, TeamRole>) -> Vec<TeamRoleEntry> {
    teams
        .iter()
        .map(|(team, role)| TeamRoleEntry {
            team: team.clone(),
            role: *role,
        })
        .collect()
}
