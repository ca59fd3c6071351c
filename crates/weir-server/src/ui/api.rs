//! The API, called in-process for a signed-in session: the request carries the session's
//! caller as a [`SessionCaller`] extension (which no request from the network can carry)
//! and runs through the whole `/api/v1` application — guard, rule table, handler, audit
//! — exactly as a call from a script would, only without a socket.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, Request, StatusCode, header};
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tower::ServiceExt as _;
use weir_api::Problem;

use super::UiError;
use super::session::Session;
use crate::AppState;
use crate::auth::SessionCaller;

/// The `/api/v1` application, as the UI router's extension.
#[derive(Clone)]
pub struct ApiApp(pub Router);

/// The API as the signed-in user of this request sees it; also what every page handler
/// extracts (a request without a session is sent to the sign-in form).
#[derive(Clone)]
pub struct Api {
    app: Router,
    pub session: Session,
    pub state: AppState,
}

impl FromRequestParts<AppState> for Api {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state).await?;
        let Some(ApiApp(app)) = parts.extensions.get::<ApiApp>().cloned() else {
            return Err(axum::response::IntoResponse::into_response(
                UiError::internal("the UI router has no API application"),
            ));
        };
        Ok(Api {
            app,
            session,
            state: state.clone(),
        })
    }
}

impl Api {
    /// `GET uri` (`/api/v1/…`), its JSON body as `T`.
    pub async fn get<T: DeserializeOwned>(&self, uri: &str) -> Result<T, UiError> {
        let value = self.call(Method::GET, uri, None).await?;
        serde_json::from_value(value)
            .map_err(|e| UiError::internal(format!("GET {uri} answered an unexpected body: {e}")))
    }

    /// Calls `method uri` with a JSON body; a non-2xx answer is the API's problem as an
    /// error page (a 403 stays a 403).
    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        body: Option<&Value>,
    ) -> Result<Value, UiError> {
        let (status, bytes) = self.raw(method, uri, body).await?;
        if !status.is_success() {
            let problem: Problem = serde_json::from_slice(&bytes).unwrap_or_else(|_| Problem {
                detail: Some(String::from_utf8_lossy(&bytes).into_owned()),
                status: status.as_u16(),
                title: status.canonical_reason().unwrap_or("Error").to_string(),
                kind: "about:blank".into(),
            });
            return Err(UiError::from_problem(&problem));
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| UiError::internal(format!("{uri} answered a body that is not JSON: {e}")))
    }

    /// Calls `method uri` and returns the status and the body, whatever they are.
    pub async fn raw(
        &self,
        method: Method,
        uri: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, axum::body::Bytes), UiError> {
        let mut request = Request::builder().method(method).uri(uri);
        let body = match body {
            Some(json) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(json).map_err(|e| {
                    UiError::internal(format!("a request body did not serialize: {e}"))
                })?)
            }
            None => Body::empty(),
        };
        let mut request = request
            .body(body)
            .map_err(|e| UiError::internal(format!("bad in-process request {uri}: {e}")))?;
        request
            .extensions_mut()
            .insert(SessionCaller(self.session.caller.clone()));
        let address = self
            .session
            .address
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        request.extensions_mut().insert(ConnectInfo(address));
        let response = match self.app.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .map_err(|e| UiError::internal(format!("reading the answer of {uri}: {e}")))?;
        Ok((status, bytes))
    }

    /// Whether the guard would let this user call `method route` with these path
    /// parameters (what decides whether a page shows a button).
    pub async fn allows(&self, method: Method, route: &str, params: &[(&str, &str)]) -> bool {
        crate::auth::guard::allows(&self.state, &self.session.caller, &method, route, params).await
    }
}

/// Percent-encodes one path segment or query value.
pub fn enc(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
