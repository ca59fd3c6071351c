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
//! the [`LoginLimiter`] (passwords per user and address, tokens per token) and written to
//! the audit trail. An unknown user name costs the same argon2 check as a known one, so
//! the time of a refusal does not tell which names exist.
//!
//! An API token of an SSO user works only while the user's last single sign-on is recent
//! (`[auth.oidc] token_revalidate_after`, 12 hours by default): the SSO memberships the
//! token's roles come from are refreshed only at a sign-in, so past that window they are
//! stale and the token is refused until the user signs in through SSO again.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::json;
use weir_api::AuditOutcome;
use weir_core::access::{Caller, CallerKind, Principal, TeamRole};
use weir_store::{NewAuditEvent, Store, UserRecord};

use super::api_tokens;
use super::oidc::{OidcVerifier, SsoIdentity, looks_like_jwt};
use super::password;
use super::password::HashCost;
use super::rate_limit::{Attempt, Blocked, LoginLimiter, LoginLimits};
use crate::error::ApiError;

/// How long a verified password is trusted without running argon2 again.
const PASSWORD_CACHE: Duration = Duration::from_secs(60);
/// A token's `last_used_at` is written at most this often.
const TOUCH_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);
/// What the dummy hash is a hash of. It is never compared with a stored password: it only
/// makes unknown names cost an argon2 check.
const DUMMY_PASSWORD: &str = "weir: no such user";

/// Who signed in, and how long the credential they signed in with is good for.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub principal: Principal,
    /// When the credential expires (an API token's expiry); `None` for a password, an SSO
    /// token, or no credential.
    pub expires_at: Option<DateTime<Utc>>,
}

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
    /// An argon2 hash with the cost of new hashes, checked when the user does not exist or
    /// has no password, so that such a refusal takes as long as a wrong password. Made at
    /// the first such refusal, not at start: hashing costs ~20 MiB that the allocator keeps
    /// (an idle server that never refuses a name need not pay it) and tens of
    /// milliseconds of start-up.
    dummy_hash: Arc<OnceLock<Option<String>>>,
    hash_cost: HashCost,
    /// How old an SSO user's last sign-in may be for their API tokens to work.
    sso_revalidate_after: chrono::TimeDelta,
}

impl Authenticator {
    pub fn new(
        store: Store,
        oidc: Option<OidcVerifier>,
        limits: LoginLimits,
        cost: HashCost,
    ) -> Self {
        let revalidate = oidc
            .as_ref()
            .map(|o| o.settings().token_revalidate_after.0)
            .unwrap_or(weir_core::access::sso::DEFAULT_TOKEN_REVALIDATE_AFTER);
        Authenticator {
            store,
            oidc,
            limiter: LoginLimiter::new(limits),
            verified: Mutex::default(),
            sso_sessions: Mutex::default(),
            dummy_hash: Arc::default(),
            hash_cost: cost,
            sso_revalidate_after: chrono::TimeDelta::from_std(revalidate)
                .unwrap_or(chrono::TimeDelta::MAX),
        }
    }

    /// The caller of a request with these headers, from `address`.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        address: Option<IpAddr>,
    ) -> Result<Principal, ApiError> {
        self.sign_in(headers, address).await.map(|s| s.principal)
    }

    /// The caller of a request with these headers, from `address`, with the expiry of the
    /// credential it presented.
    pub async fn sign_in(
        &self,
        headers: &HeaderMap,
        address: Option<IpAddr>,
    ) -> Result<SignedIn, ApiError> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Ok(SignedIn {
                principal: Principal::Anonymous,
                expires_at: None,
            });
        };
        let value = value
            .to_str()
            .map_err(|_| unauthenticated("the Authorization header is not valid text"))?;
        let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
        let credentials = credentials.trim();
        let without_expiry = |principal| SignedIn {
            principal,
            expires_at: None,
        };
        if scheme.eq_ignore_ascii_case("basic") {
            self.basic(credentials, address).await.map(without_expiry)
        } else if scheme.eq_ignore_ascii_case("bearer") {
            if credentials.starts_with(api_tokens::PREFIX) {
                self.api_token(credentials, address).await
            } else {
                self.sso_token(credentials, address)
                    .await
                    .map(without_expiry)
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
        self.password(username, password, address, "basic").await
    }

    /// Signs a local user in with their password (`method`: `basic` for the API's HTTP
    /// Basic, `form` for the web UI's sign-in form), under the same limits and audit.
    pub(crate) async fn password(
        &self,
        username: &str,
        password: &str,
        address: Option<IpAddr>,
        method: &str,
    ) -> Result<Principal, ApiError> {
        let attempt = Attempt::Password { user: username };
        self.limit(attempt, address)?;
        let digest = api_tokens::digest(password);
        let remembered = self
            .verified_lock()
            .get(username)
            .is_some_and(|(d, at)| *d == digest && at.elapsed() < PASSWORD_CACHE);
        let user = self.store.get_user(username).await?;
        let Some(user) = user.filter(|u| u.password_hash.is_some()) else {
            // As slow as a wrong password, so the refusal does not say the name is unknown.
            self.verify_password(password, None).await?;
            return Err(self
                .failed_login(
                    username,
                    attempt,
                    address,
                    method,
                    "no local user by that name",
                )
                .await);
        };
        if !remembered {
            let ok = self
                .verify_password(password, user.password_hash.clone())
                .await?;
            if !ok {
                return Err(self
                    .failed_login(username, attempt, address, method, "wrong password")
                    .await);
            }
            self.limiter.succeeded(attempt, address);
            self.verified_lock()
                .insert(username.to_string(), (digest, Instant::now()));
            self.store.record_login(username, Utc::now()).await?;
            self.audit_login(username, address, method).await;
        } else if method == "form" {
            // A browser's sign-in is an event of its own, even a minute after an API call
            // with the same password (whose check is remembered).
            self.store.record_login(username, Utc::now()).await?;
            self.audit_login(username, address, method).await;
        }
        self.caller_of(&user, CallerKind::User).await
    }

    async fn api_token(&self, token: &str, address: Option<IpAddr>) -> Result<SignedIn, ApiError> {
        const WHO: &str = "(api token)";
        let digest = api_tokens::digest(token);
        let attempt = Attempt::Token { digest: &digest };
        self.limit(attempt, address)?;
        let Some(record) = self.store.token_by_hash(&digest).await? else {
            return Err(self
                .failed_login(WHO, attempt, address, "token", "unknown API token")
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
        let principal = match (&record.username, &record.team, &record.role) {
            (Some(username), ..) => {
                let user = self.store.get_user(username).await?.ok_or_else(|| {
                    unauthenticated(format!(
                        "the owner of API token `{}` no longer exists",
                        record.name
                    ))
                })?;
                self.check_sso_freshness(&user, &record.name, now)?;
                self.caller_of(&user, CallerKind::User).await?
            }
            (None, Some(team), Some(role)) => {
                let role: TeamRole = role.parse().map_err(ApiError::internal)?;
                Principal::Caller(Caller {
                    name: format!("{team}:{}", record.name),
                    kind: CallerKind::ServiceAccount,
                    platform_admin: false,
                    teams: [(team.clone(), role)].into(),
                })
            }
            _ => {
                return Err(unauthenticated(format!(
                    "API token `{}` belongs to nobody; revoke it and create a new one",
                    record.name
                )));
            }
        };
        // (A valid token has no failures to forget: its digest is never counted.)
        Ok(SignedIn {
            principal,
            expires_at: record.expires_at,
        })
    }

    /// Refuses the API token `token_name` of an SSO user whose last single sign-on is
    /// older than the revalidation window: the SSO memberships its roles come from were
    /// last confirmed then.
    fn check_sso_freshness(
        &self,
        user: &UserRecord,
        token_name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        if user.source != "sso" {
            return Ok(());
        }
        let window = self.sso_revalidate_after;
        let fresh = user
            .last_login_at
            .is_some_and(|at| now.signed_duration_since(at) <= window);
        if fresh {
            return Ok(());
        }
        let last = user
            .last_login_at
            .map_or_else(|| "never".to_string(), |at| at.to_rfc3339());
        Err(unauthenticated(format!(
            "API token `{token_name}` belongs to SSO user `{}`, whose last single sign-on \
             ({last}) is older than {} ([auth.oidc] token_revalidate_after): sign in again \
             through single sign-on, then the token works again",
            user.username,
            weir_core::duration::format_duration(window.to_std().unwrap_or_default()),
        )))
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
        let digest = api_tokens::digest(token);
        let attempt = Attempt::Token { digest: &digest };
        self.limit(attempt, address)?;
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
                        return Err(self
                            .failed_login(WHO, attempt, address, "sso", &reason)
                            .await);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot verify an SSO token");
                        return Err(ApiError::Unavailable {
                            detail: format!("cannot verify the SSO token now: {e}"),
                        });
                    }
                };
                self.sync_sso_identity(&identity, address, now).await?;
                self.limiter.succeeded(attempt, address);
                let mut sessions = self.sso_lock();
                sessions.retain(|_, (_, expires)| *expires > now);
                sessions.insert(
                    digest.clone(),
                    (identity.username.clone(), identity.expires_at),
                );
                identity.username
            }
        };
        let user = self.store.get_user(&username).await?.ok_or_else(|| {
            unauthenticated(format!("user `{username}` was deleted; sign in again"))
        })?;
        self.caller_of(&user, CallerKind::SsoUser).await
    }

    /// The identity provider this server trusts, if `[auth.oidc]` is configured.
    pub(crate) fn oidc(&self) -> Option<&OidcVerifier> {
        self.oidc.as_ref()
    }

    /// Makes a verified SSO identity a Weir user: creates or updates the user, replaces
    /// their SSO memberships with what the role mappings grant now, and audits the
    /// `login` (method `sso`). Both SSO paths go through here, the API's bearer tokens and
    /// the UI's sign-in, so they grant the same roles.
    pub(crate) async fn sync_sso_identity(
        &self,
        identity: &SsoIdentity,
        address: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
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
        Ok(())
    }

    /// Audits a refused single sign-on through the UI (`who`: the user, when known).
    /// Not counted by the sign-in limiter: the UI's sign-in presents a one-time code the
    /// provider issued, not a credential that can be guessed.
    pub(crate) async fn sso_refused(&self, who: &str, address: Option<IpAddr>, reason: &str) {
        self.audit_failed_login(who, address, "sso", reason).await;
    }

    /// The caller a user is, with its roles as the store has them now.
    pub(crate) async fn caller_of(
        &self,
        user: &UserRecord,
        kind: CallerKind,
    ) -> Result<Principal, ApiError> {
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

    fn limit(&self, attempt: Attempt<'_>, address: Option<IpAddr>) -> Result<(), ApiError> {
        self.limiter
            .check(attempt, address, Instant::now())
            .map_err(|blocked| {
                let wait = blocked.wait_secs();
                let detail = match (blocked, attempt) {
                    (Blocked::Address(_), _) => format!(
                        "too many failed sign-ins from this address (more than {} in {} s, \
                         whatever the credentials); try again in {wait} s",
                        self.limiter.limits().per_address,
                        self.limiter.limits().window.as_secs()
                    ),
                    (Blocked::Credential(_), Attempt::Password { user }) => format!(
                        "too many failed sign-ins for `{user}` from this address; try again \
                         in {wait} s"
                    ),
                    (Blocked::Credential(_), Attempt::Token { .. }) => format!(
                        "this token was refused too many times; try again in {wait} s, with \
                         a valid token"
                    ),
                };
                ApiError::TooManyRequests {
                    detail,
                    retry_after_secs: wait,
                }
            })
    }

    /// Checks `password` as the current password of `username` (before a change of it),
    /// counted like a sign-in: refused when that user failed too often from `address`,
    /// and a wrong one counts as a failed sign-in.
    pub async fn check_current_password(
        &self,
        username: &str,
        password: &str,
        address: Option<IpAddr>,
    ) -> Result<bool, ApiError> {
        let attempt = Attempt::Password { user: username };
        self.limit(attempt, address)?;
        let stored = self
            .store
            .get_user(username)
            .await?
            .and_then(|u| u.password_hash);
        let ok = self.verify_password(password, stored).await?;
        if ok {
            self.limiter.succeeded(attempt, address);
        } else {
            let _ = self
                .failed_login(
                    username,
                    attempt,
                    address,
                    "current_password",
                    "wrong current password",
                )
                .await;
        }
        Ok(ok)
    }

    /// One argon2 check of `password` against the `stored` hash, off the runtime; with
    /// none (no such user, or one without a password) against the dummy hash, so the
    /// refusal costs the same as a wrong password.
    async fn verify_password(
        &self,
        password: &str,
        stored: Option<String>,
    ) -> Result<bool, ApiError> {
        let (dummy, cost) = (Arc::clone(&self.dummy_hash), self.hash_cost);
        let given = password.to_string();
        tokio::task::spawn_blocking(move || match stored {
            Some(stored) => password::verify(&given, &stored),
            None => {
                let dummy = dummy.get_or_init(|| match password::hash(DUMMY_PASSWORD, cost) {
                    Ok(h) => Some(h),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot make the dummy password hash");
                        None
                    }
                });
                if let Some(dummy) = dummy {
                    password::verify(&given, dummy);
                }
                false
            }
        })
        .await
        .map_err(ApiError::internal)
    }

    /// Counts and audits a failed sign-in, and returns the 401 to send.
    async fn failed_login(
        &self,
        who: &str,
        attempt: Attempt<'_>,
        address: Option<IpAddr>,
        method: &str,
        reason: &str,
    ) -> ApiError {
        self.limiter.failed(attempt, address, Instant::now());
        self.audit_failed_login(who, address, method, reason).await;
        let detail = match method {
            "basic" | "form" => "wrong user name or password".to_string(),
            "current_password" => "the current password is wrong".to_string(),
            _ => reason.to_string(),
        };
        unauthenticated(detail)
    }

    /// The audit event of a refused sign-in.
    async fn audit_failed_login(
        &self,
        who: &str,
        address: Option<IpAddr>,
        method: &str,
        reason: &str,
    ) {
        self.append(NewAuditEvent {
            time: Utc::now(),
            actor: who.to_string(),
            action: "login".into(),
            object_type: "user".into(),
            object_id: who.to_string(),
            team: None,
            outcome: AuditOutcome::Failed.as_str().into(),
            source_addr: address.map(|a| a.to_string()),
            details: json!({"method": method, "reason": reason}),
        })
        .await;
    }

    async fn audit_login(&self, who: &str, address: Option<IpAddr>, method: &str) {
        self.append(NewAuditEvent {
            time: Utc::now(),
            actor: who.to_string(),
            action: "login".into(),
            object_type: "user".into(),
            object_id: who.to_string(),
            team: None,
            outcome: AuditOutcome::Success.as_str().into(),
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
