//! Single sign-on for the UI: OpenID Connect's authorization-code flow with PKCE.
//! (Filled in below.)

use axum::response::Response;

use super::UiError;
use crate::AppState;

/// Whether the sign-in page offers single sign-on.
pub fn enabled(state: &AppState) -> bool {
    let _ = state;
    false
}

/// `GET /login/sso`.
pub async fn start() -> Result<Response, UiError> {
    Err(UiError::not_found("single sign-on is not configured"))
}

/// `GET /login/sso/callback`.
pub async fn callback() -> Result<Response, UiError> {
    Err(UiError::not_found("single sign-on is not configured"))
}
