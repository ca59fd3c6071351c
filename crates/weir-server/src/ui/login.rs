//! Signing in and out of the UI: the sign-in form (local users' passwords, under the same
//! failed-sign-in limits and audit as HTTP Basic), single sign-on ([`super::sso`]), and
//! sign-out, which deletes the session server-side.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use weir_core::access::Principal;

use super::UiError;
use super::assets;
use super::session::{self, ClientAddress};
use crate::AppState;
use crate::error::ApiError;

/// The cookie holding the sign-in form's token: a form posted from another site cannot
/// know it, so no one can be signed in to someone else's account behind their back
/// (login CSRF).
const FORM_COOKIE: &str = "weir_login";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    error: Option<&'a str>,
    form_token: String,
    next: &'a str,
    next_encoded: String,
    username: &'a str,
    sso: bool,
    assets: &'static str,
}

/// Where to go after signing in: a path on this server, never another site. Browsers
/// drop tabs and line breaks from a `Location` (so `/<tab>/evil.example` would become
/// `//evil.example`) and read `\` as `/`: a path with any of them, any control
/// character or a space is refused, as is one starting `//`.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n
                    .chars()
                    .any(|c| c == '\\' || c.is_control() || c.is_whitespace()) =>
        {
            n
        }
        _ => "/",
    }
}

fn login_page(
    state: &AppState,
    status: StatusCode,
    error: Option<&str>,
    next: &str,
    username: &str,
) -> Response {
    let form_token = match session::random_token() {
        Ok((token, _)) => token,
        Err(e) => return e.into_response(),
    };
    let cookie =
        format!("{FORM_COOKIE}={form_token}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600");
    let page = LoginPage {
        error,
        form_token,
        next,
        next_encoded: super::api::enc(next),
        username,
        sso: super::sso::enabled(state),
        assets: assets::version(),
    };
    match (page.render(), axum::http::HeaderValue::from_str(&cookie)) {
        (Ok(html), Ok(cookie)) => {
            (status, [(header::SET_COOKIE, cookie)], Html(html)).into_response()
        }
        (Err(e), _) => UiError::from(e).into_response(),
        (_, Err(e)) => {
            UiError::internal(format!("a form cookie is not a header: {e}")).into_response()
        }
    }
}

/// `GET /login`.
pub async fn form(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let next = safe_next(query.get("next").map(String::as_str));
    login_page(&state, StatusCode::OK, None, next, "")
}

/// `POST /login` (`username`, `password`, `next`).
pub async fn submit(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    Form(fields): Form<HashMap<String, String>>,
) -> Response {
    let username = fields
        .get("username")
        .map(String::as_str)
        .unwrap_or("")
        .trim();
    let password = fields.get("password").map(String::as_str).unwrap_or("");
    let next = safe_next(fields.get("next").map(String::as_str));
    let sent = fields.get("login_token").map(String::as_str).unwrap_or("");
    let expected = session::named_cookie(&headers, FORM_COOKIE).unwrap_or_default();
    if expected.is_empty() || !session::same_token(sent, &expected) {
        return login_page(
            &state,
            StatusCode::FORBIDDEN,
            Some(
                "This sign-in form has expired or was not sent from Weir's sign-in page. Sign in again.",
            ),
            next,
            username,
        );
    }
    if username.is_empty() || password.is_empty() {
        return login_page(
            &state,
            StatusCode::BAD_REQUEST,
            Some("Enter your user name and password."),
            next,
            username,
        );
    }
    let signed_in = state
        .auth
        .password(username, password, address, "form")
        .await;
    match signed_in {
        Ok(Principal::Caller(caller)) => {
            match session::start(
                &state,
                &caller.name,
                "password",
                session::is_https(&headers),
            )
            .await
            {
                Ok(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to(next)).into_response(),
                Err(e) => e.into_response(),
            }
        }
        Ok(Principal::Anonymous) => login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("Wrong user name or password."),
            next,
            username,
        ),
        Err(e) => {
            let status = e.status();
            let message = match &e {
                ApiError::Unauthenticated { .. } => "Wrong user name or password.".to_string(),
                other => other.to_string(),
            };
            login_page(&state, status, Some(&message), next, username)
        }
    }
}

/// `POST /logout` (with the session's CSRF token).
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    // Extracted for its CSRF check: a sign-out from another site is refused.
    _form: super::actions::CheckedForm,
) -> Response {
    match session::end(&state, &headers).await {
        Ok(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response(),
        Err(e) => e.into_response(),
    }
}

pub use super::sso::{callback as sso_callback, start as sso_start};

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/dags/hello?run=x")), "/dags/hello?run=x");
        for away in [
            "//evil.example/",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /evil.example",
            "https://evil.example/",
            "evil",
        ] {
            assert_eq!(safe_next(Some(away)), "/", "{away:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
