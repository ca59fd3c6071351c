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
    /// The client id Weir is registered as at the provider, for signing in to the web UI
    /// (OpenID Connect's authorization-code flow). Without it the UI offers no single
    /// sign-on. The ID tokens the provider issues to it carry it as `aud`, so it must be
    /// one of `audience`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The name of the environment variable holding the client secret, for a
    /// confidential client; none: a public client (PKCE alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    /// The scopes the UI asks for. Default: `openid profile email`; add the provider's
    /// groups scope if it sends groups only when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Where the provider sends the browser back, as registered there. Default:
    /// `<[notifications] ui_url>/login/sso/callback`, or the request's own scheme and host
    /// when `ui_url` is not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

/// The scopes the UI asks for when `[auth.oidc] scopes` is not set.
pub const DEFAULT_SCOPES: [&str; 3] = ["openid", "profile", "email"];

impl OidcSettings {
    /// The scopes the UI asks for, separated by spaces (as the `scope` parameter wants).
    pub fn scope(&self) -> String {
        match &self.scopes {
            Some(scopes) => scopes.join(" "),
            None => DEFAULT_SCOPES.join(" "),
        }
    }
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
    problems.extend(check_client(settings));
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

/// Problems of the UI's single-sign-on settings (`client_id` and what goes with it).
fn check_client(settings: &OidcSettings) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    let Some(client_id) = &settings.client_id else {
        for (key, set) in [
            ("client_secret_env", settings.client_secret_env.is_some()),
            ("scopes", settings.scopes.is_some()),
            ("redirect_url", settings.redirect_url.is_some()),
        ] {
            if set {
                problems.push((
                    key,
                    format!(
                        "`{key}` is for the web UI's single sign-on, which also needs \
                         `client_id` (the client id Weir is registered as at the provider)"
                    ),
                ));
            }
        }
        return problems;
    };
    if client_id.trim().is_empty() {
        problems.push((
            "client_id",
            "`client_id` is empty: set it to the client id Weir is registered as at the \
             provider, or leave it out to offer no single sign-on in the web UI"
                .into(),
        ));
    } else if !settings.audience.iter().any(|a| a == client_id) {
        // The ID token the UI receives names the client as `aud`; the verifier would
        // refuse every one of them.
        problems.push((
            "client_id",
            format!(
                "`client_id` `{client_id}` is not among `audience`: the provider's ID tokens \
                 for the web UI name it as their audience, so add it, e.g. `audience = [{}]`",
                settings
                    .audience
                    .iter()
                    .chain(std::iter::once(client_id))
                    .map(|a| format!("\"{a}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if let Some(name) = &settings.client_secret_env {
        let valid = !name.is_empty()
            && !name.contains('=')
            && !name.contains('\0')
            && !name.chars().any(char::is_whitespace);
        if !valid {
            problems.push((
                "client_secret_env",
                format!(
                    "`client_secret_env` `{name}` is not an environment variable name: give \
                     the name of the variable that holds the client secret, not the secret"
                ),
            ));
        }
    }
    if let Some(scopes) = &settings.scopes {
        if !scopes.iter().any(|s| s == "openid") {
            problems.push((
                "scopes",
                "`scopes` must include `openid`, or the provider issues no ID token".into(),
            ));
        }
        if let Some(bad) = scopes.iter().find(|s| {
            s.is_empty()
                || s.chars()
                    .any(|c| c.is_whitespace() || c == '"' || c == '\\')
        }) {
            problems.push((
                "scopes",
                format!("scope `{bad}` is not a scope: one word per entry, e.g. `[\"openid\", \"groups\"]`"),
            ));
        }
    }
    if let Some(url) = &settings.redirect_url {
        let http = url.starts_with("https://") || url.starts_with("http://");
        if !http || url.contains('#') {
            problems.push((
                "redirect_url",
                format!(
                    "`redirect_url` `{url}` must be an absolute http(s) URL without a fragment, \
                     e.g. `https://weir.example.com/login/sso/callback`"
                ),
            ));
        } else if !url.ends_with("/login/sso/callback") {
            problems.push((
                "redirect_url",
                format!(
                    "`redirect_url` `{url}` must end in `/login/sso/callback`, where Weir \
                     receives the provider's answer"
                ),
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(extra: &str) -> OidcSettings {
        let text = format!("issuer = \"https://idp.example.com\"\naudience = [\"weir\"]\n{extra}");
        toml::from_str(&text).expect("valid [auth.oidc]")
    }

    fn keys(settings: &OidcSettings) -> Vec<&'static str> {
        check(settings).into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn client_settings_are_optional() {
        let s = settings("");
        assert_eq!(s.client_id, None);
        assert_eq!(s.scope(), "openid profile email");
        assert!(check(&s).is_empty());
    }

    #[test]
    fn client_id_must_be_an_audience() {
        assert!(check(&settings("client_id = \"weir\"")).is_empty());
        let problems = check(&settings("client_id = \"weir-ui\""));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].0, "client_id");
        assert!(
            problems[0].1.contains("not among `audience`"),
            "{}",
            problems[0].1
        );
        assert!(
            problems[0].1.contains("audience = [\"weir\", \"weir-ui\"]"),
            "{}",
            problems[0].1
        );
        assert_eq!(keys(&settings("client_id = \" \"")), ["client_id"]);
    }

    #[test]
    fn client_options_need_a_client_id() {
        let s = settings("scopes = [\"openid\"]\nclient_secret_env = \"WEIR_SSO_SECRET\"");
        assert_eq!(keys(&s), ["client_secret_env", "scopes"]);
        assert!(check(&s)[0].1.contains("also needs `client_id`"));
    }

    #[test]
    fn client_options_are_checked() {
        let ok = settings(
            "client_id = \"weir\"\nclient_secret_env = \"WEIR_SSO_SECRET\"\n\
             scopes = [\"openid\", \"groups\"]\n\
             redirect_url = \"https://weir.example.com/login/sso/callback\"",
        );
        assert!(check(&ok).is_empty(), "{:?}", check(&ok));
        assert_eq!(ok.scope(), "openid groups");
        let secret = settings("client_id = \"weir\"\nclient_secret_env = \"s3cr3t value\"");
        assert_eq!(keys(&secret), ["client_secret_env"]);
        let no_openid = settings("client_id = \"weir\"\nscopes = [\"profile\"]");
        assert_eq!(keys(&no_openid), ["scopes"]);
        let two_in_one = settings("client_id = \"weir\"\nscopes = [\"openid\", \"groups email\"]");
        assert_eq!(keys(&two_in_one), ["scopes"]);
        for url in [
            "weir.example.com/login/sso/callback",
            "https://weir.example.com/login/sso/callback#x",
            "https://weir.example.com/callback",
        ] {
            let s = settings(&format!("client_id = \"weir\"\nredirect_url = \"{url}\""));
            assert_eq!(keys(&s), ["redirect_url"], "{url}");
        }
    }
}
