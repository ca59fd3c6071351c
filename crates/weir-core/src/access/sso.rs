//! Single sign-on settings (`[auth.oidc]` in `weir.toml`) and the mapping from an identity
//! provider's claims to Weir's teams and roles.
//!
//! Platforms built on Airflow run a periodic job that copies cloud IAM groups into Airflow
//! roles; Weir applies the mapping at each sign-in instead, so a user removed from a group
//! loses the role with their next token.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::TeamRole;
use crate::spec::model::HumanDuration;

/// How old an SSO user's last sign-in may be for their API tokens to keep working, unless
/// `[auth.oidc] token_revalidate_after` says otherwise.
pub const DEFAULT_TOKEN_REVALIDATE_AFTER: std::time::Duration =
    std::time::Duration::from_secs(12 * 3600);

/// How Weir trusts an OpenID Connect provider's bearer tokens (JWTs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The provider's issuer URL; tokens must carry it as `iss`.
    pub issuer: String,
    /// Accepted `aud` values: a token must name at least one.
    pub audience: Vec<String>,
    /// Where the provider's signing keys are. Default: `jwks_uri` of the issuer's
    /// `/.well-known/openid-configuration`.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// Claim holding the user name (falls back to `sub` when absent).
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// Claim holding the user's email.
    #[serde(default = "default_email_claim")]
    pub email_claim: String,
    /// Claim holding the user's groups (a list of strings, or one string).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Which groups (or other claims) give which roles, applied at each sign-in.
    #[serde(default)]
    pub role_mappings: Vec<RoleMapping>,
    /// An SSO user's API tokens work only while the user's last single sign-on is at most
    /// this old (e.g. `12h`): their roles come from group memberships the identity
    /// provider confirms only at a sign-in. Past it, the tokens are refused until the user
    /// signs in through single sign-on again.
    #[serde(default = "default_token_revalidate_after")]
    pub token_revalidate_after: HumanDuration,
}

fn default_token_revalidate_after() -> HumanDuration {
    HumanDuration(DEFAULT_TOKEN_REVALIDATE_AFTER)
}

fn default_leeway() -> u64 {
    60
}
fn default_username_claim() -> String {
    "preferred_username".into()
}
fn default_email_claim() -> String {
    "email".into()
}
fn default_groups_claim() -> String {
    "groups".into()
}

/// One rule: a user whose `claim` holds `value` gets `role` in `team` (or becomes a
/// platform admin, with `role = "platform_admin"` and no team).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleMapping {
    /// The claim to look at; default: the groups claim.
    #[serde(default)]
    pub claim: Option<String>,
    /// The group (or claim value) that grants the role.
    pub value: String,
    #[serde(default)]
    pub team: Option<String>,
    pub role: MappedRole,
}

/// A role a mapping grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MappedRole {
    Viewer,
    Operator,
    Admin,
    PlatformAdmin,
}

/// What the mappings grant one signed-in user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    pub platform_admin: bool,
    /// The strongest role granted in each team.
    pub teams: BTreeMap<String, TeamRole>,
}

/// Applies `settings.role_mappings` to a token's claims (a JSON object).
pub fn grants(settings: &OidcSettings, claims: &Value) -> Grants {
    let mut out = Grants::default();
    for rule in &settings.role_mappings {
        let claim = rule.claim.as_deref().unwrap_or(&settings.groups_claim);
        if !claim_holds(claims.get(claim), &rule.value) {
            continue;
        }
        let role = match rule.role {
            MappedRole::PlatformAdmin => {
                out.platform_admin = true;
                continue;
            }
            MappedRole::Viewer => TeamRole::Viewer,
            MappedRole::Operator => TeamRole::Operator,
            MappedRole::Admin => TeamRole::Admin,
        };
        if let Some(team) = &rule.team {
            let held = out.teams.entry(team.clone()).or_insert(role);
            *held = (*held).max(role);
        }
    }
    out
}

/// Whether a claim is `value`, or a list holding it.
fn claim_holds(claim: Option<&Value>, value: &str) -> bool {
    match claim {
        Some(Value::String(s)) => s == value,
        Some(Value::Array(items)) => items.iter().any(|i| i.as_str() == Some(value)),
        Some(Value::Bool(b)) => b.to_string() == value,
        Some(Value::Number(n)) => n.to_string() == value,
        _ => false,
    }
}

/// Problems of a settings block that serde cannot see, each as (key, message).
pub fn check(settings: &OidcSettings) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if !(settings.issuer.starts_with("https://") || settings.issuer.starts_with("http://")) {
        problems.push((
            "issuer",
            format!("issuer `{}` must be an http(s) URL", settings.issuer),
        ));
    }
    if settings.audience.is_empty() {
        problems.push((
            "audience",
            "list at least one accepted audience (the client id Weir is registered as)".into(),
        ));
    }
    for rule in &settings.role_mappings {
        match (rule.role, &rule.team) {
            (MappedRole::PlatformAdmin, Some(team)) => problems.push((
                "role_mappings",
                format!(
                    "mapping for `{}`: `platform_admin` is not a team role; drop `team = \"{team}\"`",
                    rule.value
                ),
            )),
            (MappedRole::PlatformAdmin, None) => {}
            (_, None) => problems.push((
                "role_mappings",
                format!(
                    "mapping for `{}` grants a team role: name the team with `team = \"...\"`",
                    rule.value
                ),
            )),
            _ => {}
        }
    }
    problems
}
