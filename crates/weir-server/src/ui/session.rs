//! Signed-in browsers: the session cookie, the session it names in the store, and the
//! CSRF token every state-changing form must carry.
//!
//! The cookie (`weir_session`) is 256 random bits, `HttpOnly` and `SameSite=Lax`, and
//! `Secure` when the request came over HTTPS (an `X-Forwarded-Proto: https` proxy
//! included); the store keeps only its SHA-256, so a copy of the database signs no one
//! in. A session ends at sign-out, when the user is deleted, after [`IDLE_TIMEOUT`]
//! without a request, and at the latest [`MAX_AGE`] after sign-in. The caller's roles are
//! read from the store at each request, as for API tokens, so a change of membership
//! applies at once.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, TimeDelta, Utc};
use weir_core::access::{Caller, CallerKind, Principal};
use weir_store::UiSessionRecord;

use super::UiError;
use crate::AppState;
use crate::auth::api_tokens;

/// The cookie that names a session.
pub const COOKIE: &str = "weir_session";
/// A session unused this long is over.
pub const IDLE_TIMEOUT: TimeDelta = TimeDelta::hours(8);
/// A session is over this long after sign-in, however busy.
pub const MAX_AGE: TimeDelta = TimeDelta::days(7);
/// `last_seen_at` (and the sliding expiry) is written at most this often.
const TOUCH_EVERY: TimeDelta = TimeDelta::minutes(1);

/// The signed-in user of a page request. Extracting it from a request without a live
/// session redirects the browser to the sign-in form (and back here after it).
#[derive(Debug, Clone)]
pub struct Session {
    pub caller: Caller,
    /// The token the page's forms carry (`csrf`), compared on every POST.
    pub csrf_token: String,
    /// Where the request came from (for the audit trail of in-process API calls).
    pub address: Option<SocketAddr>,
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        match current(state, &parts.headers).await {
            Ok(Some((caller, csrf_token))) => Ok(Session {
                caller,
                csrf_token,
                address,
            }),
            Ok(None) => {
                let here = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                Err(Redirect::to(&sign_in_url(here)).into_response())
            }
            Err(e) => Err(e.into_response()),
        }
    }
}

/// `/login?next=<here>`, with `here` percent-encoded.
pub fn sign_in_url(here: &str) -> String {
    if here == "/" {
        return "/login".into();
    }
    let next: String = form_urlencoded::byte_serialize(here.as_bytes()).collect();
    format!("/login?next={next}")
}

/// The caller and CSRF token of the live session the request's cookie names, if any.
async fn current(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(Caller, String)>, UiError> {
    let Some(cookie) = cookie_value(headers) else {
        return Ok(None);
    };
    let id_hash = api_tokens::digest(&cookie);
    let store = state.store();
    let Some(session) = store.get_ui_session(&id_hash).await? else {
        return Ok(None);
    };
    let now = Utc::now();
    if session.expires_at <= now {
        store.delete_ui_session(&id_hash).await?;
        return Ok(None);
    }
    let Some(user) = store.get_user(&session.username).await? else {
        return Ok(None);
    };
    if now - session.last_seen_at > TOUCH_EVERY {
        store
            .touch_ui_session(&id_hash, now, expiry(session.created_at, now))
            .await?;
    }
    let kind = if session.method == "sso" {
        CallerKind::SsoUser
    } else {
        CallerKind::User
    };
    match state.auth.caller_of(&user, kind).await? {
        Principal::Caller(caller) => Ok(Some((caller, session.csrf_token))),
        Principal::Anonymous => Ok(None),
    }
}

/// When a session used at `now` expires: idle timeout, capped by the maximum age.
fn expiry(created_at: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    (now + IDLE_TIMEOUT).min(created_at + MAX_AGE)
}

/// The session cookie's value, if the request has one.
fn cookie_value(headers: &HeaderMap) -> Option<String> {
    named_cookie(headers, COOKIE)
}

/// The value of the cookie `name`, if the request has one.
pub(crate) fn named_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(cookie, _)| *cookie == name)
        .map(|(_, value)| value.to_string())
        .filter(|v| !v.is_empty())
}

/// Starts a session for `username` (signed in by `method`: `password` or `sso`); returns
/// the `Set-Cookie` value.
pub async fn start(
    state: &AppState,
    username: &str,
    method: &str,
    secure: bool,
) -> Result<HeaderValue, UiError> {
    let (cookie, id_hash) = random_token()?;
    let (csrf_token, _) = random_token()?;
    let now = Utc::now();
    let record = UiSessionRecord {
        username: username.to_string(),
        method: method.to_string(),
        csrf_token,
        created_at: now,
        last_seen_at: now,
        expires_at: expiry(now, now),
    };
    let store = state.store();
    store.create_ui_session(&id_hash, &record).await?;
    // Expired sessions are swept at each sign-in: cheap, and nothing else has to run.
    store.delete_expired_ui_sessions(now).await?;
    set_cookie(&cookie, MAX_AGE.num_seconds(), secure)
}

/// Ends the request's session, if any; returns the `Set-Cookie` value that clears it.
pub async fn end(state: &AppState, headers: &HeaderMap) -> Result<HeaderValue, UiError> {
    if let Some(cookie) = cookie_value(headers) {
        state
            .store()
            .delete_ui_session(&api_tokens::digest(&cookie))
            .await?;
    }
    set_cookie("", 0, is_https(headers))
}

fn set_cookie(value: &str, max_age: i64, secure: bool) -> Result<HeaderValue, UiError> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .map_err(|e| UiError::internal(format!("a session cookie is not a header value: {e}")))
}

/// Whether the browser reached Weir over HTTPS (directly, or through a proxy that says so).
pub fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// 256 random bits (URL-safe base64) and their digest.
pub(crate) fn random_token() -> Result<(String, String), UiError> {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| UiError::internal(format!("no randomness for a session: {e}")))?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let digest = api_tokens::digest(&token);
    Ok((token, digest))
}

/// Whether two tokens are equal, in time that does not depend on where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The address a request came from, when the server knows it (requests made in-process,
/// as in tests, have none).
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}
