//! Weir's HTTP API (axum): Airflow's stable REST API v1 under `/api/v1` — the same paths,
//! JSON fields, status codes and problem bodies — so existing scripts and Airflow's API
//! client work against Weir, plus Weir's own resources beside them.
//!
//! Reads go straight to the store ([`weir_engine::EngineHandle::store`]); actions (trigger,
//! pause, clear, mark, backfill) go through the engine handle. Every error is an
//! [`ApiError`], mapped to a status and a problem document in one place; bad input is
//! always a 4xx and never a 500.
//!
//! Module map: `routes/*` one module per resource, `json/*` builds `weir-api`'s response
//! shapes from store records, `extract` the extractors (JSON bodies, query strings, typed path ids),
//! `pagination` Airflow's `limit`/`offset`, `error` the error type, `openapi` the OpenAPI
//! document (served at `/api/v1/openapi.json`) generated from the handlers and shapes.

pub mod auth;
mod error;
mod extract;
mod json;
mod openapi;
mod pagination;
mod routes;
pub mod ui;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use weir_core::platform::PlatformConfig;
use weir_engine::EngineHandle;

pub use auth::password::HashCost;
pub use auth::rate_limit::LoginLimits;
pub use auth::{AdminBootstrap, Authenticator, ensure_admin};
pub use error::ApiError;

use auth::oidc::OidcVerifier;

/// Settings of the API, built once by the binary.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest request body accepted; larger ones get a 413.
    pub max_body_bytes: usize,
    /// Page size when `limit` is absent or 0.
    pub default_page_limit: i64,
    /// Larger `limit`s are capped to this (Airflow's `maximum_page_limit`).
    pub max_page_limit: i64,
    /// How long [`serve`] waits for requests in flight after shutdown is asked for.
    pub shutdown_timeout: Duration,
    /// How expensive new password hashes are.
    pub password_cost: HashCost,
    /// Limits on failed sign-ins.
    pub login_limits: LoginLimits,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_body_bytes: 1024 * 1024,
            default_page_limit: 100,
            max_page_limit: 1000,
            shutdown_timeout: Duration::from_secs(10),
            password_cost: HashCost::STANDARD,
            login_limits: LoginLimits::default(),
        }
    }
}

/// What every handler gets: the engine (and through it the store), the settings, the
/// platform config and the authenticator.
#[derive(Clone)]
pub struct AppState {
    pub engine: EngineHandle,
    pub config: Arc<ApiConfig>,
    /// The platform in force (`weir.toml`): teams and their rules (`logs_readable_by`),
    /// `[auth]`. The same value the engine was given, handed to the server by the binary.
    pub platform: Arc<PlatformConfig>,
    pub auth: Arc<Authenticator>,
}

impl AppState {
    /// State with the default settings.
    pub fn new(engine: EngineHandle, platform: Arc<PlatformConfig>) -> Self {
        Self::with_config(engine, ApiConfig::default(), platform)
    }

    /// State with `config`; single sign-on follows the platform config's `[auth.oidc]`.
    pub fn with_config(
        engine: EngineHandle,
        config: ApiConfig,
        platform: Arc<PlatformConfig>,
    ) -> Self {
        let oidc = platform.auth.oidc.clone().map(OidcVerifier::new);
        let auth = Authenticator::new(
            engine.store().clone(),
            oidc,
            config.login_limits,
            config.password_cost,
        );
        AppState {
            engine,
            config: Arc::new(config),
            platform,
            auth: Arc::new(auth),
        }
    }

    pub fn store(&self) -> &weir_store::Store {
        self.engine.store()
    }
}

/// The body limit, as a request extension, for the 413 message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimit(pub usize);

/// The whole HTTP application: `/api/v1/…` (with `/api/v1/openapi.json`), `/health`,
/// `/metrics`, and the web UI's pages at `/` and below.
pub fn router(state: AppState) -> Router {
    let api = api_router(state.clone());
    let ui = ui::router(state, api.clone())
        .layer(CatchPanicLayer::custom(on_panic))
        .layer(TraceLayer::new_for_http());
    api.merge(ui)
}

/// `/api/v1/…`, `/health` and `/metrics`: what scripts call, and what the UI calls
/// in-process.
fn api_router(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    let (api, doc) = routes::api().split_for_parts();
    let api = api
        .route("/openapi.json", openapi::route(&openapi::finish(doc)))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard::guard,
        ))
        .method_not_allowed_fallback(routes::method_not_allowed);
    Router::new()
        .nest("/api/v1", api)
        .merge(routes::health::root())
        .merge(routes::metrics::root())
        .fallback(not_found)
        .layer(axum::Extension(BodyLimit(limit)))
        .layer(DefaultBodyLimit::max(limit))
        .layer(CatchPanicLayer::custom(on_panic))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// What a `weir server --role scheduler` replica answers: health (`/health`,
/// `/api/v1/health`, `/api/v1/version`), `/metrics`, and the logs of the tries it runs
/// (for the replicas on other hosts that forward their callers' reads). It runs tries,
/// not the API.
pub fn scheduler_router(state: AppState) -> Router {
    let (logs, _) = utoipa_axum::router::OpenApiRouter::new()
        .merge(routes::logs_only())
        .split_for_parts();
    let logs = logs.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::guard::guard,
    ));
    Router::new()
        .nest("/api/v1", routes::health::plain().merge(logs))
        .merge(routes::health::root())
        .merge(routes::metrics::root())
        .fallback(scheduler_only)
        .layer(CatchPanicLayer::custom(on_panic))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Anything but health and metrics, asked of a scheduler replica.
async fn scheduler_only() -> axum::response::Response {
    error::ApiError::NotFound {
        title: "Not served by a scheduler replica".into(),
        detail: "this Weir replica runs with --role scheduler: it answers /health, /metrics and the logs of its tries only; ask a replica with --role api or all for the API and the web UI".into(),
    }
    .into_response()
}

/// The OpenAPI 3.1 document of `/api/v1`, as `GET /api/v1/openapi.json` serves it.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    openapi::finish(routes::api().into_openapi())
}

/// Serves [`router`] on `listener` until `shutdown` completes, then lets requests in
/// flight finish for at most [`ApiConfig::shutdown_timeout`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let drain = state.config.shutdown_timeout;
    serve_app(listener, router(state), drain, shutdown).await
}

/// Serves [`scheduler_router`] as [`serve`] serves the whole application.
pub async fn serve_scheduler(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let drain = state.config.shutdown_timeout;
    serve_app(listener, scheduler_router(state), drain, shutdown).await
}

async fn serve_app(
    listener: tokio::net::TcpListener,
    app: Router,
    drain: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stopping_tx, mut stopping_rx) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown.await;
        let _ = stopping_tx.send(true);
    };
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(signal);
    let deadline = async move {
        // Never resolves unless shutdown was asked for.
        if stopping_rx.wait_for(|stopping| *stopping).await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        result = server.into_future() => result,
        () = deadline => {
            tracing::warn!(timeout = ?drain, "HTTP requests still running at shutdown were cut off");
            Ok(())
        }
    }
}

/// An unknown path: an HTML page for a browser (it asks for `text/html`), else a problem.
async fn not_found(headers: axum::http::HeaderMap) -> axum::response::Response {
    let wants_html = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html {
        return ui::UiError::not_found(
            "There is no page at this address. The DAGs are at /, the API under /api/v1.",
        )
        .into_response();
    }
    ApiError::not_found(
        "Not Found",
        "The requested URL was not found on the server; the API lives under /api/v1.",
    )
    .into_response()
}

/// A handler that panicked: a 500 problem without the panic text, which is logged.
fn on_panic(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "a request handler panicked");
    ApiError::Internal("handler panicked".into()).into_response()
}
