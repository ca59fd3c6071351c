//! Authentication, authorization and the audit trail of the API.
//!
//! Every `/api/v1` request passes through [`guard::guard`] before its handler: it finds the
//! route's rule ([`rules`]), authenticates the caller ([`authenticate`]), works out the
//! team of the object the route acts on, asks weir-core's [`weir_core::access::decide`],
//! and writes the audit event of every change and sensitive read, allowed or denied.
//! Handlers never check permissions themselves; those that create objects read the team
//! the guard settled on from [`Authorized`], and those that change objects may describe
//! the change with an [`AuditChange`] response extension.

pub mod api_tokens;
pub mod authenticate;
mod bootstrap;
pub mod follow;
pub mod guard;
pub mod oidc;
pub mod password;
pub mod rate_limit;
mod redact;
pub mod rules;
pub mod visibility;

pub use authenticate::Authenticator;
pub use bootstrap::{AdminBootstrap, ensure_admin};

use serde_json::Value;
use weir_core::access::Caller;

/// The caller of an API request the web UI makes in-process for a signed-in browser
/// session (a request extension, which no request from the network can carry). The guard
/// takes it in place of the `Authorization` header, then applies the route's rule and
/// writes the audit event as for any other caller.
#[derive(Debug, Clone)]
pub struct SessionCaller(pub Caller);

/// What the guard settled for an allowed request, as a request extension.
#[derive(Debug, Clone)]
pub struct Authorized {
    pub caller: Caller,
    /// The team that owns the object acted on (for creations: the team that will own it).
    pub team: Option<String>,
    /// Where the request came from (for the sign-in limits of a password change).
    pub address: Option<std::net::IpAddr>,
    /// When the credential the caller signed in with expires (an API token's expiry):
    /// tokens it creates may not outlive it.
    pub credential_expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A handler's summary of what it changed, as a response extension; the guard puts it in
/// the audit event. Never holds a secret or a password.
#[derive(Debug, Clone, Default)]
pub struct AuditChange {
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// A handler's more precise audit action than its route's rule (a `POST /variables`
/// that replaced an existing variable is a `variable.update`), as a response extension.
#[derive(Debug, Clone, Copy)]
pub struct AuditAction(pub &'static str);
