//! Single sign-on for the UI: OpenID Connect's authorization-code flow with PKCE (S256),
//! against the identity provider `[auth.oidc]` trusts for bearer tokens.
//!
//! `GET /login/sso` reads the provider's discovery document (cached for
//! [`DISCOVERY_TTL`]), makes a fresh `state`, `nonce` and PKCE `code_verifier`, keeps them
//! in a short-lived cookie ([`COOKIE`], HttpOnly, SameSite=Lax, path `/login/sso`) and
//! sends the browser to the provider's authorization endpoint. The provider sends it back
//! to `GET /login/sso/callback` with a one-time `code` and the `state`; Weir checks the
//! `state` against the cookie (an answer to a sign-in this browser did not start is
//! dropped before anything is exchanged), trades the code and the verifier for tokens at
//! the token endpoint, verifies the ID token exactly as a bearer token is verified
//! ([`OidcVerifier`]: signature against the provider's keys, `iss`, `aud`, lifetime),
//! checks that it carries this sign-in's `nonce` and names Weir's `client_id` as its
//! audience, then syncs the user and their roles through the same code as the API's
//! bearer path ([`crate::auth::authenticate::Authenticator::sync_sso_identity`]: same
//! role mappings, same `login` audit event with method `sso`) and starts a UI session.
//!
//! Settings: `[auth.oidc] client_id` turns this on (without it the sign-in page shows no
//! button and `/login/sso` says what to set); `client_secret_env` names the environment
//! variable holding the secret of a confidential client (read at each sign-in, so a
//! missing variable is a clear error page, not a start-up failure); `scopes`;
//! `redirect_url`, by default `[notifications] ui_url` or the request's own scheme and
//! host, followed by `/login/sso/callback`.
//!
//! Every failure is an HTML page naming the problem and what to do: the provider
//! unreachable is a 503, the provider's or the token's refusal a 401, a callback that
//! does not belong to this browser's sign-in a 400. Refusals after the provider answered
//! are audited as failed `login` events (method `sso`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use weir_core::access::sso::OidcSettings;

mod provider;

use super::UiError;
use super::login::safe_next;
use super::session;
use crate::AppState;
use crate::auth::oidc::OidcVerifier;
use provider::{discover, exchange};

/// The cookie that holds a sign-in in progress (state, nonce, PKCE verifier, where to go).
pub const COOKIE: &str = "weir_sso";
/// How long a sign-in may take at the provider.
const PENDING_SECONDS: i64 = 10 * 60;
/// The cookie is sent only to these paths: the pages that start and finish a sign-in.
const COOKIE_PATH: &str = "/login/sso";
/// Where the provider sends the browser back.
const CALLBACK_PATH: &str = "/login/sso/callback";
/// How long a provider's endpoints are used before its discovery document is read again.
pub const DISCOVERY_TTL: Duration = Duration::from_secs(60 * 60);
/// Timeout of each request to the provider, so a hung provider cannot hold a page.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Who a refused sign-in is audited as when the user is not known yet.
const UNKNOWN_USER: &str = "(sso sign-in)";

/// Whether the sign-in page offers single sign-on: `[auth.oidc]` with a `client_id`.
pub fn enabled(state: &AppState) -> bool {
    client(state).is_ok()
}

/// `GET /login/sso?next=/path`: sends the browser to the provider's sign-in.
pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let client = client(&state)?;
    // A confidential client's secret is needed only at the callback, but a missing one is
    // better reported before the user has signed in at the provider for nothing.
    client.secret()?;
    let endpoints = discover(client.settings).await?;
    let pending = Pending {
        state: random_token()?,
        nonce: random_token()?,
        verifier: random_token()?,
        next: safe_next(query.get("next").map(String::as_str)).to_string(),
        redirect_uri: redirect_uri(&state, client.settings, &headers)?,
    };
    let mut url = endpoints.authorization.clone();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client.id)
        .append_pair("redirect_uri", &pending.redirect_uri)
        .append_pair("scope", &client.settings.scope())
        .append_pair("state", &pending.state)
        .append_pair("nonce", &pending.nonce)
        .append_pair("code_challenge", &challenge(&pending.verifier))
        .append_pair("code_challenge_method", "S256");
    let cookie = pending_cookie(
        &pending.encode()?,
        PENDING_SECONDS,
        session::is_https(&headers),
    )?;
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(url.as_str())).into_response())
}

/// `GET /login/sso/callback?code=…&state=…` (or `?error=…&error_description=…`): the
/// provider's answer. Signs the user in and sends them where they were going.
pub async fn callback(
    State(state): State<AppState>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let address = connect.map(|Extension(ConnectInfo(a))| a.ip());
    let https = session::is_https(&headers);
    // The sign-in in progress is over whatever happens: a retry starts afresh.
    let clear = match pending_cookie("", 0, https) {
        Ok(clear) => clear,
        Err(e) => return e.into_response(),
    };
    match finish(&state, address, &headers, &query).await {
        Ok((session_cookie, next)) => (
            AppendHeaders([
                (header::SET_COOKIE, clear),
                (header::SET_COOKIE, session_cookie),
            ]),
            Redirect::to(&next),
        )
            .into_response(),
        Err(e) => ([(header::SET_COOKIE, clear)], e).into_response(),
    }
}

/// The callback's steps; the session cookie to set and where to go next.
async fn finish(
    state: &AppState,
    address: Option<IpAddr>,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<(HeaderValue, String), UiError> {
    let client = client(state)?;
    if let Some(error) = query.get("error") {
        let description = query
            .get("error_description")
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        let reason = format!("the identity provider refused the sign-in: {error}{description}");
        state.auth.sso_refused(UNKNOWN_USER, address, &reason).await;
        return Err(refused(format!(
            "The identity provider did not sign you in: `{error}`{description}. If you \
             should have access to Weir, ask your administrator to grant it at the \
             identity provider, then sign in again."
        )));
    }
    let Some(pending) = Pending::from_headers(headers) else {
        return Err(UiError::bad_request(
            "No single sign-on is in progress in this browser: it was started more than 10 \
             minutes ago, in another browser, or cookies are blocked for this site. Start \
             again from the sign-in page.",
        ));
    };
    let given_state = query.get("state").map(String::as_str).unwrap_or("");
    if !session::same_token(given_state, &pending.state) {
        state
            .auth
            .sso_refused(
                UNKNOWN_USER,
                address,
                "the callback's state is not this browser's",
            )
            .await;
        return Err(UiError::bad_request(
            "The identity provider's answer does not belong to the sign-in this browser \
             started (its `state` differs), so it was not used. Start again from the \
             sign-in page.",
        ));
    }
    let code = query.get("code").map(String::as_str).unwrap_or("");
    if code.is_empty() {
        return Err(UiError::bad_request(
            "The identity provider's answer has no authorization `code`. Start again from \
             the sign-in page.",
        ));
    }
    let secret = client.secret()?;
    let endpoints = discover(client.settings).await?;
    let id_token = exchange(&client, &endpoints, secret.as_deref(), code, &pending).await?;
    let identity = match client.verifier.verify(&id_token).await {
        Ok(identity) => identity,
        Err(e) if e.is_token_problem() => {
            let reason = e.to_string();
            state.auth.sso_refused(UNKNOWN_USER, address, &reason).await;
            return Err(refused(format!(
                "The identity provider's ID token was not accepted: {reason}"
            )));
        }
        Err(e) => return Err(unavailable(format!("Cannot verify the ID token now: {e}"))),
    };
    // The signature verified, so the payload is the provider's and may be read.
    let claims = payload_claims(&id_token).unwrap_or(Value::Null);
    if let Err(reason) = check_claims(&claims, &pending.nonce, client.id) {
        state
            .auth
            .sso_refused(&identity.username, address, &reason)
            .await;
        return Err(refused(format!("{reason}. Sign in again.")));
    }
    state
        .auth
        .sync_sso_identity(&identity, address, chrono::Utc::now())
        .await?;
    let cookie =
        session::start(state, &identity.username, "sso", session::is_https(headers)).await?;
    Ok((cookie, safe_next(Some(&pending.next)).to_string()))
}

/// What a verified ID token must also say to sign in to the UI: this sign-in's `nonce`
/// (else it was issued for another sign-in and is being replayed), and Weir's client id
/// among its audiences (the verifier accepts any configured audience; the UI's tokens
/// must be for the UI's client), with `azp`, when present, naming that client.
fn check_claims(claims: &Value, nonce: &str, client_id: &str) -> Result<(), String> {
    match claims.get("nonce").and_then(Value::as_str) {
        Some(given) if session::same_token(given, nonce) => {}
        Some(_) => {
            return Err(
                "The ID token carries the nonce of another sign-in, not this one, so \
                 it was not used"
                    .into(),
            );
        }
        None => {
            return Err(
                "The ID token carries no `nonce`, so it cannot be tied to this \
                 sign-in; the identity provider must return the nonce Weir sent"
                    .into(),
            );
        }
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&client_id) {
        return Err(format!(
            "The ID token is for {audiences:?}, not for the client id Weir signs in as \
             (`{client_id}`)"
        ));
    }
    if let Some(azp) = claims.get("azp").and_then(Value::as_str)
        && azp != client_id
    {
        return Err(format!(
            "The ID token was issued to client `{azp}`, not to Weir's `{client_id}`"
        ));
    }
    Ok(())
}

/// The UI's client at the provider: the verifier of `[auth.oidc]` and its `client_id`.
struct Client<'a> {
    verifier: &'a OidcVerifier,
    settings: &'a OidcSettings,
    id: &'a str,
}

/// The UI's client, or the page saying what to configure.
fn client(state: &AppState) -> Result<Client<'_>, UiError> {
    let Some(verifier) = state.auth.oidc() else {
        return Err(not_configured(
            "Single sign-on is not configured on this server. To offer it, add an \
             `[auth.oidc]` table to weir.toml with the identity provider's `issuer`, the \
             `audience` and the `client_id` Weir is registered as, then restart Weir.",
        ));
    };
    let settings = verifier.settings();
    match settings.client_id.as_deref().filter(|id| !id.is_empty()) {
        Some(id) => Ok(Client {
            verifier,
            settings,
            id,
        }),
        None => Err(not_configured(
            "Single sign-on to the web UI is not set up: set `client_id` in weir.toml's \
             `[auth.oidc]` to the client id Weir is registered as at the identity provider \
             (and list it in `audience`), register `/login/sso/callback` on Weir's address \
             as its redirect URL, then restart Weir.",
        )),
    }
}

impl Client<'_> {
    /// The client secret, read from the environment at each use (so it can be rotated
    /// with the variable); `None` for a public client.
    fn secret(&self) -> Result<Option<String>, UiError> {
        let Some(name) = &self.settings.client_secret_env else {
            return Ok(None);
        };
        match std::env::var(name) {
            Ok(secret) if !secret.is_empty() => Ok(Some(secret)),
            _ => {
                tracing::error!(
                    variable = %name,
                    "[auth.oidc] client_secret_env names a variable that is not set"
                );
                Err(UiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Single sign-on is misconfigured",
                    format!(
                        "`[auth.oidc] client_secret_env` names the environment variable \
                         `{name}`, which is not set (or empty) for this Weir server. Set it to \
                         the client secret and restart Weir, or remove `client_secret_env` \
                         for a public client."
                    ),
                ))
            }
        }
    }
}

fn not_configured(detail: &str) -> UiError {
    UiError::new(
        StatusCode::NOT_FOUND,
        "Single sign-on is not set up",
        detail,
    )
}

fn refused(detail: impl Into<String>) -> UiError {
    UiError::new(StatusCode::UNAUTHORIZED, "Single sign-on refused", detail)
}

fn unavailable(detail: impl Into<String>) -> UiError {
    UiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "Identity provider unavailable",
        detail,
    )
}

fn bad_gateway(detail: impl Into<String>) -> UiError {
    UiError::new(
        StatusCode::BAD_GATEWAY,
        "Identity provider answered nonsense",
        detail,
    )
}

/// Where the provider sends the browser back: `redirect_url`, else `[notifications]
/// ui_url`, else the scheme and host this request came to.
fn redirect_uri(
    state: &AppState,
    settings: &OidcSettings,
    headers: &HeaderMap,
) -> Result<String, UiError> {
    if let Some(url) = &settings.redirect_url {
        return Ok(url.clone());
    }
    if let Some(ui_url) = &state.platform.notifications.ui_url {
        return Ok(format!("{}{CALLBACK_PATH}", ui_url.trim_end_matches('/')));
    }
    // The Host header is the browser's say; a forged one only sends the provider a
    // redirect URL it has not registered, which it refuses.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .ok_or_else(|| {
            UiError::bad_request(
                "This request names no valid host to send the identity provider's answer \
                 back to. Set `[notifications] ui_url` (or `[auth.oidc] redirect_url`) in \
                 weir.toml.",
            )
        })?;
    let scheme = if session::is_https(headers) {
        "https"
    } else {
        "http"
    };
    Ok(format!("{scheme}://{host}{CALLBACK_PATH}"))
}

// ---------------------------------------------------------------- the sign-in in progress

/// What the callback must check the provider's answer against. Kept in the browser (an
/// HttpOnly cookie only this site's sign-in pages receive) rather than on the server, so
/// a sign-in started on one Weir server can finish on another and nothing piles up for
/// sign-ins never finished.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    state: String,
    nonce: String,
    /// The PKCE `code_verifier`: only its hash went to the provider.
    verifier: String,
    next: String,
    /// The exact `redirect_uri` sent, which the token request must repeat.
    redirect_uri: String,
}

impl Pending {
    fn encode(&self) -> Result<String, UiError> {
        let json = serde_json::to_vec(self)
            .map_err(|e| UiError::internal(format!("cannot encode a sign-in cookie: {e}")))?;
        Ok(URL_SAFE_NO_PAD.encode(json))
    }

    /// The sign-in the request's cookie holds; `None` without one or with a damaged one.
    fn from_headers(headers: &HeaderMap) -> Option<Pending> {
        let value = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, value)| *name == COOKIE && !value.is_empty())
            .map(|(_, value)| value)?;
        let json = URL_SAFE_NO_PAD.decode(value).ok()?;
        serde_json::from_slice(&json).ok()
    }
}

/// The `Set-Cookie` value holding a sign-in in progress (`max_age` 0 clears it).
fn pending_cookie(value: &str, max_age: i64, secure: bool) -> Result<HeaderValue, UiError> {
    let secure = if secure { "; Secure" } else { "" };
    // SameSite=Lax: the provider's redirect back is a top-level GET, which carries it.
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path={COOKIE_PATH}; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .map_err(|e| UiError::internal(format!("a sign-in cookie is not a header value: {e}")))
}

/// 256 random bits, URL-safe base64 (43 characters: a valid PKCE verifier as well).
fn random_token() -> Result<String, UiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| UiError::internal(format!("no randomness for a sign-in: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The PKCE S256 challenge of a verifier: BASE64URL(SHA256(verifier)).
fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The claims of a JWT, read without checking anything: only for a verified token.
fn payload_claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_rfc_7636s() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn pending_sign_in_round_trips_through_its_cookie() {
        let pending = Pending {
            state: "s".into(),
            nonce: "n".into(),
            verifier: "v".into(),
            next: "/dags/x?tab=grid".into(),
            redirect_uri: "http://localhost:8080/login/sso/callback".into(),
        };
        let mut headers = HeaderMap::new();
        let cookie = format!("weir_session=abc; {COOKIE}={}", pending.encode().unwrap());
        headers.insert(header::COOKIE, HeaderValue::from_str(&cookie).unwrap());
        let read = Pending::from_headers(&headers).unwrap();
        assert_eq!(read.next, pending.next);
        assert_eq!(read.redirect_uri, pending.redirect_uri);
        headers.insert(header::COOKIE, HeaderValue::from_static("weir_sso=%%%"));
        assert!(Pending::from_headers(&headers).is_none());
    }

    #[test]
    fn claims_must_carry_the_nonce_and_name_the_client() {
        let ok = serde_json::json!({"nonce": "n1", "aud": ["weir", "other"], "azp": "weir"});
        assert_eq!(check_claims(&ok, "n1", "weir"), Ok(()));
        assert!(
            check_claims(&ok, "n2", "weir")
                .unwrap_err()
                .contains("another sign-in")
        );
        let no_nonce = serde_json::json!({"aud": "weir"});
        assert!(
            check_claims(&no_nonce, "n1", "weir")
                .unwrap_err()
                .contains("no `nonce`")
        );
        let other_aud = serde_json::json!({"nonce": "n1", "aud": "cli"});
        assert!(
            check_claims(&other_aud, "n1", "weir")
                .unwrap_err()
                .contains("`weir`")
        );
        let other_azp = serde_json::json!({"nonce": "n1", "aud": ["weir", "cli"], "azp": "cli"});
        assert!(
            check_claims(&other_azp, "n1", "weir")
                .unwrap_err()
                .contains("client `cli`")
        );
    }
}
