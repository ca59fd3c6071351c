//! `GET /metrics`: the engine's metrics in the OpenMetrics text format, at the root where
//! Prometheus looks for them (not under `/api/v1`: outside the guard's rule table and the
//! OpenAPI document). They name every team, DAG and queue, so only platform admins read
//! them (an API token or a password, as for `/api/v1`), unless `weir.toml` says
//! `[metrics] public = true`. The caller is signed in and asked about exactly as the
//! guard does it: [`crate::auth::Authenticator::sign_in`], then
//! [`weir_core::access::decide`] for [`Permission::PlatformAdmin`].

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use weir_core::access::{Decision, Permission, decide};

use crate::AppState;
use crate::error::ApiError;

pub fn root() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    if !state.platform.metrics.public {
        let address = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let signed_in = state.auth.sign_in(request.headers(), address).await?;
        match decide(&signed_in.principal, &Permission::PlatformAdmin) {
            Decision::Allow => {}
            Decision::NeedsSignIn => {
                return Err(ApiError::Unauthenticated {
                    detail: "the metrics are for platform admins: send a platform admin's API \
                             token (`Authorization: Bearer weir_…`) or password (Basic), or \
                             set `[metrics] public = true` in weir.toml to serve them to anyone"
                        .into(),
                });
            }
            Decision::Deny(why) => {
                return Err(ApiError::PermissionDenied {
                    detail: format!(
                        "{why}: the metrics name every team, DAG and queue of the platform"
                    ),
                });
            }
        }
    }
    let text = state.engine.metrics_text().await;
    let content_type = [(header::CONTENT_TYPE, weir_engine::metrics::CONTENT_TYPE)];
    Ok((content_type, text).into_response())
}
