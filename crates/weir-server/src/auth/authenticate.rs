//! Who is calling: turns a request's `Authorization` header into a [`Principal`].
//!
//! Three kinds of credentials: HTTP Basic for local users (what Airflow's client sends),
//! `Bearer weir_…` for Weir's API tokens (users' and teams' service accounts), and
//! `Bearer <JWT>` from the configured OpenID Connect provider. Roles are read from the
//! store on every request, so a change of membership applies at once.
//!
//! A successful password check is remembered for a minute (keyed by a digest of the
//! password), because Airflow's client sends Basic credentials with every call and an
//! argon2 check on each would cost tens of milliseconds. Failed sign-ins are counted by
//! the [`LoginLimiter`] and written to the audit trail.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::json;
use weir_core::access::{Caller, CallerKind, Principal, TeamRole};
use weir_store::{NewAuditEvent, Store, UserRecord};

use super::oidc::{OidcVerifier, looks_like_jwt};
use super::password;
use super::rate_limit::{LoginLimiter, LoginLimits};
use super::{api_tokens, audit_outcome};
use crate::error::ApiError;

/// How long a verified password is trusted without running argon2 again.
const PASSWORD_CACHE: Duration = Duration::from_secs(60);
/// A token's `last_used_at` is written at most this often.
const TOUCH_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Authenticates requests; one per server, shared by every request.
pub struct Authenticator {
    store: Store,
    oidc: Option<OidcVerifier>,
    limiter: LoginLimiter,
    /// user → (digest of the password that verified, when).
    verified: Mutex<HashMap<String, (String, Instant)>>,
    /// digest of an SSO token → (user name, token expiry): the token was verified and its
    /// groups synced, once.
    sso_sessions: Mutex<HashMap<String, (String, DateTime<Utc>)>>,
}

impl Authenticator {
    pub fn new(store: Store, oidc: Option<OidcVerifier>, limits: LoginLimits) -> Self {
        Authenticator {
            store,
            oidc,
            limiter: LoginLimiter::new(limits),
            verified: Mutex::default(),
            sso_sessions: Mutex::default(),
        }
    }

    /// The caller of a request with these headers, from `address`.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        address: Option<IpAddr>,
    ) -> Result<Principal, ApiError> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Ok(Principal::Anonymous);
        };
        let value = value
            .to_str()
            .map_err(|_| unauthenticated("the Authorization header is not valid text"))?;
        let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
        let credentials = credentials.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            self.basic(credentials, address).await
        } else if scheme.eq_ignore_ascii_case("bearer") {
            if credentials.starts_with(api_tokens::PREFIX) {
                self.api_token(credentials, address).await
            } else {
                self.sso_token(credentials, address).await
            }
        } else {
            Err(unauthenticated(format!(
                "unsupported Authorization scheme `{scheme}`: use `Basic` (user and password) \
                 or `Bearer` (an API token from `weir login`, or an SSO token)"
            )))
        }
    }

    async fn basic(
        &self,
        credentials: &str,
        address: Option<IpAddr>,
    ) -> Result<Principal, ApiError> {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                unauthenticated("the Basic credentials are not base64 of `user:password`")
            })?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| unauthenticated("the Basic credentials are not `user:password`"))?;
        self.limit(username, address)?;
        let digest = api_tokens::digest(password);
        let remembered = self
            .verified_lock()
            .get(username)
            .is_some_and(|(d, at)| *d == digest && at.elapsed() < PASSWORD_CACHE);
        let user = self.store.get_user(username).await?;
        let Some(user) = user.filter(|u| u.password_hash.is_some()) else {
            return Err(self
                .failed_login(username, address, "basic", "no local user by that name")
                .await);
        };
        if !remembered {
            let stored = user.password_hash.clone().unwrap_or_default();
            let given = password.to_string();
            let ok = tokio::task::spawn_blocking(move || password::verify(&given, &stored))
                .await
                .map_err(ApiError::internal)?;
            if !ok {
                return Err(self
                    .failed_login(username, address, "basic", "wrong password")
                    .await);
            }
            self.limiter.succeeded(username, address);
            self.verified_lock()
                .insert(username.to_string(), (digest, Instant::now()));
            self.store.record_login(username, Utc::now()).await?;
            self.audit_login(username, address, "basic").await;
        }
        self.caller_of(&user, CallerKind::User).await
    }

    async fn api_token(&self, token: &str, address: Option<IpAddr>) -> Result<Principal, ApiError> {
        const WHO: &str = "(api token)";
        self.limit(WHO, address)?;
        let Some(record) = self.store.token_by_hash(&api_tokens::digest(token)).await? else {
            return Err(self
                .failed_login(WHO, address, "token", "unknown API token")
                .await);
        };
        let now = Utc::now();
        if let Some(revoked) = record.revoked_at {
            return Err(unauthenticated(format!(
                "API token `{}` was revoked at {revoked}; create a new one with `weir login`",
                record.name
            )));
        }
        if let Some(expired) = record.expires_at.filter(|at| *at <= now) {
            return Err(unauthenticated(format!(
                "API token `{}` expired at {expired}; create a new one with `weir login`",
                record.name
            )));
        }
        if record.last_used_at.is_none_or(|at| now - at > TOUCH_EVERY) {
            self.store.touch_token(&record.id, now).await?;
        }
        match (&record.username, &record.team, &record.role) {
            (Some(username), ..) => {
                let user = self.store.get_user(username).await?.ok_or_else(|| {
                    unauthenticated(format!(
                        "the owner of API token `{}` no longer exists",
                        record.name
                    ))
                })?;
                self.caller_of(&user, CallerKind::User).await
            }
            (None, Some(team), Some(role)) => {
                let role: TeamRole = role.parse().map_err(ApiError::internal)?;
                Ok(Principal::Caller(Caller {
                    name: format!("{team}:{}", record.name),
                    kind: CallerKind::ServiceAccount,
                    platform_admin: false,
                    teams: [(team.clone(), role)].into(),
                }))
            }
            _ => Err(unauthenticated(format!(
                "API token `{}` belongs to nobody; revoke it and create a new one",
                record.name
            ))),
        }
    }

    async fn sso_token(&self, token: &str, address: Option<IpAddr>) -> Result<Principal, ApiError> {
        let Some(oidc) = &self.oidc else {
            return Err(unauthenticated(
                "this bearer token is not a Weir API token (they start with `weir_`), and this \
                 server accepts no SSO tokens ([auth.oidc] is not configured in weir.toml)",
            ));
        };
        if !looks_like_jwt(token) {
            return Err(unauthenticated(
                "this bearer token is neither a Weir API token (they start with `weir_`) nor a JWT",
            ));
        }
        const WHO: &str = "(sso token)";
        self.limit(WHO, address)?;
        let digest = api_tokens::digest(token);
        let now = Utc::now();
        let known = self
            .sso_lock()
            .get(&digest)
            .filter(|(_, expires)| *expires > now)
            .map(|(user, _)| user.clone());
        let username = match known {
            Some(username) => username,
            None => {
                let identity = match oidc.verify(token).await {
                    Ok(identity) => identity,
                    Err(e) if e.is_token_problem() => {
                        let reason = e.to_string();
                        return Err(self.failed_login(WHO, address, "sso", &reason).await);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot verify an SSO token");
                        return Err(ApiError::Unavailable {
                            detail: format!("cannot verify the SSO token now: {e}"),
                        });
                    }
                };
                let memberships: Vec<(String, String)> = identity
                    .grants
                    .teams
                    .iter()
                    .map(|(t, r)| (t.clone(), r.as_str().to_string()))
                    .collect();
                self.store
                    .sync_sso_user(
                        &identity.username,
                        identity.email.as_deref(),
                        identity.grants.platform_admin,
                        &memberships,
                        now,
                    )
                    .await
                    .map_err(|e| match e {
                        weir_store::StoreError::UserExists(name) => unauthenticated(format!(
                            "the SSO user `{name}` clashes with a local user of that name; ask a \
                             platform admin to rename or delete the local user"
                        )),
                        e => e.into(),
                    })?;
                self.audit_login(&identity.username, address, "sso").await;
                let mut sessions = self.sso_lock();
                sessions.retain(|_, (_, expires)| *expires > now);
                sessions.insert(digest, (identity.username.clone(), identity.expires_at));
                identity.username
            }
        };
        let user = self.store.get_user(&username).await?.ok_or_else(|| {
            unauthenticated(format!("user `{username}` was deleted; sign in again"))
        })?;
        self.caller_of(&user, CallerKind::SsoUser).await
    }

    /// The caller a user is, with its roles as the store has them now.
    async fn caller_of(&self, user: &UserRecord, kind: CallerKind) -> Result<Principal, ApiError> {
        let mut teams = std::collections::BTreeMap::new();
        for m in self.store.memberships_of(&user.username).await? {
            match m.role.parse::<TeamRole>() {
                Ok(role) => {
                    teams.insert(m.team, role);
                }
                Err(e) => {
                    tracing::warn!(user = %user.username, team = %m.team, error = %e, "ignoring a membership")
                }
            }
        }
        Ok(Principal::Caller(Caller {
            name: user.username.clone(),
            kind,
            platform_admin: user.platform_admin,
            teams,
        }))
    }

    fn limit(&self, who: &str, address: Option<IpAddr>) -> Result<(), ApiError> {
        self.limiter
            .check(who, address, Instant::now())
            .map_err(|wait| ApiError::TooManyRequests {
                detail: format!(
                    "too many failed sign-ins for `{who}` from this address; try again in {wait} s"
                ),
                retry_after_secs: wait,
            })
    }

    /// Counts and audits a failed sign-in, and returns the 401 to send.
    async fn failed_login(
        &self,
        who: &str,
        address: Option<IpAddr>,
        method: &str,
        reason: &str,
    ) -> ApiError {
        self.limiter.failed(who, address, Instant::now());
        self.append(NewAuditEvent {
            time: Utc::now(),
            actor: who.to_string(),
            action: "login".into(),
            object_type: "user".into(),
            object_id: who.to_string(),
            team: None,
            outcome: audit_outcome::FAILED.into(),
            source_addr: address.map(|a| a.to_string()),
            details: json!({"method": method, "reason": reason}),
        })
        .await;
        let detail = match method {
            "basic" => "wrong user name or password".to_string(),
            _ => reason.to_string(),
        };
        unauthenticated(detail)
    }

    async fn audit_login(&self, who: &str, address: Option<IpAddr>, method: &str) {
        self.append(NewAuditEvent {
            time: Utc::now(),
            actor: who.to_string(),
            action: "login".into(),
            object_type: "user".into(),
            object_id: who.to_string(),
            team: None,
            outcome: audit_outcome::SUCCESS.into(),
            source_addr: address.map(|a| a.to_string()),
            details: json!({"method": method}),
        })
        .await;
    }

    async fn append(&self, event: NewAuditEvent) {
        if let Err(e) = self.store.append_audit_event(&event).await {
            tracing::error!(error = %e, action = %event.action, "cannot write an audit event");
        }
    }

    fn verified_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        self.verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn sso_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, DateTime<Utc>)>> {
        self.sso_sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forgets a user's remembered password (after it changed, or the user was deleted).
    pub fn forget(&self, username: &str) {
        self.verified_lock().remove(username);
    }
}

pub(crate) fn unauthenticated(detail: impl Into<String>) -> ApiError {
    ApiError::Unauthenticated {
        detail: detail.into(),
    }
}
