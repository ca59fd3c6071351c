//! Who may do what: roles, the caller (a [`Principal`]), what a route asks for (a
//! [`Permission`]) and the one function that decides ([`decide`]).
//!
//! Everyone signed in may see every workflow (one platform, one view): DAGs, runs, task
//! states, code and costs. Acting on a DAG (trigger, clear, pause, mark) needs a role in
//! the DAG's own team; managing a team's variables, connections, tokens and members needs
//! that team's `admin` role; teams, queues, compute, users and the server's config belong
//! to platform admins. Task logs may hold a team's data, so they are read by the owning
//! team (any role) unless the team opens them to everyone (`logs_readable_by`).
//!
//! The HTTP layer maps every route to a [`Permission`] in one table and asks [`decide`];
//! nothing here touches the world, so every rule is unit-tested below.

pub mod sso;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A role in one team, weakest first: each role can do what the ones before it can.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TeamRole {
    /// Reads the team's task logs and private objects (variables, connections).
    Viewer,
    /// Also triggers, clears, pauses and marks the team's DAGs.
    Operator,
    /// Also manages the team's variables, connections, job definitions, tokens and members.
    Admin,
}

impl TeamRole {
    pub const NAMES: [&'static str; 3] = ["viewer", "operator", "admin"];

    pub fn as_str(self) -> &'static str {
        match self {
            TeamRole::Viewer => "viewer",
            TeamRole::Operator => "operator",
            TeamRole::Admin => "admin",
        }
    }
}

impl fmt::Display for TeamRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is none of [`TeamRole::NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown team role `{0}`; use one of: viewer, operator, admin")]
pub struct UnknownRole(pub String);

impl FromStr for TeamRole {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(TeamRole::Viewer),
            "operator" => Ok(TeamRole::Operator),
            "admin" => Ok(TeamRole::Admin),
            other => Err(UnknownRole(other.to_string())),
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Nobody signed in.
    Anonymous,
    Caller(Caller),
}

/// A signed-in user or a team's service account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Caller {
    /// The user's name, or `team:token-name` for a service account; what audit events name.
    pub name: String,
    pub kind: CallerKind,
    pub platform_admin: bool,
    /// The caller's role in each team it belongs to.
    pub teams: BTreeMap<String, TeamRole>,
}

/// How a caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallerKind {
    /// A local user, with a password or one of its tokens.
    User,
    /// A user signed in through the identity provider (a JWT).
    SsoUser,
    /// A team's service account token: acts for the team only, never for a person.
    ServiceAccount,
}

impl Caller {
    /// The caller's role in `team`, if any.
    pub fn role_in(&self, team: &str) -> Option<TeamRole> {
        self.teams.get(team).copied()
    }

    /// Whether the caller holds at least `role` in `team` (platform admins hold every role).
    pub fn has(&self, team: &str, role: TeamRole) -> bool {
        self.platform_admin || self.role_in(team).is_some_and(|r| r >= role)
    }

    /// Teams where the caller holds at least `role`.
    pub fn teams_with(&self, role: TeamRole) -> impl Iterator<Item = &str> {
        self.teams
            .iter()
            .filter(move |(_, r)| **r >= role)
            .map(|(t, _)| t.as_str())
    }
}

/// Who may read a team's task logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogReaders {
    /// The team's members (any role) and platform admins.
    #[default]
    Team,
    /// Everyone signed in.
    Everyone,
}

/// What a route asks of its caller. Team-scoped permissions carry the object's team;
/// `None` is an object no team owns (a DAG without `team:`, a platform-wide variable),
/// which only platform admins may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permission {
    /// Anyone, signed in or not (health, version, the OpenAPI document).
    Public,
    /// Anyone signed in: the shared view of DAGs, runs, task states, code and costs.
    SignedIn,
    /// Read a team's task logs, under the team's [`LogReaders`] setting.
    ReadLogs {
        team: Option<String>,
        readers: LogReaders,
    },
    /// Read a team's private objects (its variables and connections).
    ReadTeam { team: Option<String> },
    /// Trigger, clear, pause or mark the team's DAGs.
    Operate { team: Option<String> },
    /// Create, change or delete the team's variables: its operators (who run its DAGs and
    /// tune what they read), as in the team's own day-to-day work.
    ManageVariables { team: Option<String> },
    /// Manage the team's connections, secrets, job definitions, tokens and members.
    ManageTeam { team: Option<String> },
    /// Hold [`TeamRole::Admin`] in at least one team (what is visible is then narrowed to
    /// those teams, e.g. the audit trail of their objects).
    AdminOfAnyTeam,
    /// Hold at least [`TeamRole::Operator`] in some team, or be a platform admin (sync the
    /// repository, take part in approvals).
    OperatorOfAnyTeam,
    /// Teams, queues, compute, users, the server's config.
    PlatformAdmin,
}

/// The answer to "may this caller do this?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Not signed in, and the route needs it (HTTP 401).
    NeedsSignIn,
    /// Signed in but not allowed; the text says what it would take (HTTP 403).
    Deny(String),
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }
}

/// Decides whether `principal` holds `permission`.
pub fn decide(principal: &Principal, permission: &Permission) -> Decision {
    let caller = match (principal, permission) {
        (_, Permission::Public) => return Decision::Allow,
        (Principal::Anonymous, _) => return Decision::NeedsSignIn,
        (Principal::Caller(c), _) => c,
    };
    let needs = |team: &Option<String>, role: TeamRole, doing: &str| match team {
        Some(t) if caller.has(t, role) => Decision::Allow,
        Some(t) => Decision::Deny(format!(
            "{doing} of team `{t}` needs its `{role}` role{}",
            match caller.role_in(t) {
                Some(held) => format!("; `{}` holds `{held}`", caller.name),
                None => format!("; `{}` is not a member of it", caller.name),
            }
        )),
        None if caller.platform_admin => Decision::Allow,
        None => Decision::Deny(format!(
            "{doing} that belong to no team needs a platform admin; `{}` is not one{}",
            caller.name,
            match caller.teams_with(TeamRole::Viewer).next() {
                Some(t) => format!(
                    " (to act on your team's, name it: `team` in the body, `--team {t}` in the CLI)"
                ),
                None => String::new(),
            }
        )),
    };
    match permission {
        Permission::Public | Permission::SignedIn => Decision::Allow,
        Permission::ReadLogs {
            readers: LogReaders::Everyone,
            team: Some(_),
        } => Decision::Allow,
        Permission::ReadLogs { team, .. } => needs(team, TeamRole::Viewer, "reading task logs"),
        Permission::ReadTeam { team } => {
            needs(team, TeamRole::Viewer, "reading variables and connections")
        }
        Permission::Operate { team } => needs(
            team,
            TeamRole::Operator,
            "triggering, clearing, pausing or marking DAGs",
        ),
        Permission::ManageVariables { team } => {
            needs(team, TeamRole::Operator, "managing the variables")
        }
        Permission::ManageTeam { team } => needs(
            team,
            TeamRole::Admin,
            "managing connections, secrets, tokens and members",
        ),
        Permission::AdminOfAnyTeam => {
            if caller.platform_admin || caller.teams_with(TeamRole::Admin).next().is_some() {
                Decision::Allow
            } else {
                Decision::Deny(format!(
                    "this needs the `admin` role in a team, or a platform admin; `{}` has neither",
                    caller.name
                ))
            }
        }
        Permission::OperatorOfAnyTeam => {
            if caller.platform_admin || caller.teams_with(TeamRole::Operator).next().is_some() {
                Decision::Allow
            } else {
                Decision::Deny(format!(
                    "this needs the `operator` role in a team, or a platform admin; `{}` has neither",
                    caller.name
                ))
            }
        }
        Permission::PlatformAdmin => {
            if caller.platform_admin {
                Decision::Allow
            } else {
                Decision::Deny(format!(
                    "this needs a platform admin; `{}` is not one",
                    caller.name
                ))
            }
        }
    }
}
