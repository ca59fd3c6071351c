//! The OpenAPI 3.1 document of `/api/v1`, served at `GET /api/v1/openapi.json`.
//!
//! Only the frame is written here. Every path comes from the `#[utoipa::path]` annotation
//! of its handler, registered with the very `OpenApiRouter` that routes requests to it
//! (`routes::api`), and every schema from the `ToSchema` derive of the struct the handler
//! serializes (`json`). As in Airflow's own document, the server URL is `/api/v1` and the
//! paths, operation ids, tags, parameters and schema names are Airflow's (`/dags`,
//! `get_dags`, `DAG`, `Error`, …); Weir's additions sit beside them.

use axum::body::Bytes;
use axum::http::Method;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get};
use utoipa::openapi::path::Paths;
use utoipa::openapi::security::{
    Http, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{self, ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{OpenApi, ToResponse, ToSchema};

use crate::AppState;
use crate::auth::rules::{self, Need};
use weir_api::Problem;

use crate::error::ApiError;

/// The frame of the document: information, server, tags, and the shared error responses.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Weir API",
        description = "Weir's REST API. Where a resource exists in Airflow's stable REST API v1 \
                       (DAGs, DAG runs, task instances, logs, XComs, variables, pools, import \
                       errors, health), the paths, fields, status codes and error bodies are \
                       Airflow's, so Airflow's API clients work against Weir. Errors are RFC 7807 \
                       problem documents (`Error`).",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    servers((url = "/api/v1", description = "Weir's Airflow-compatible API.")),
    tags(
        (name = "DAG"),
        (name = "DAGRun"),
        (name = "TaskInstance"),
        (name = "XCom"),
        (name = "Variable"),
        (name = "ImportError"),
        (name = "Pool"),
        (name = "Monitoring"),
        (name = "Backfill", description = "Weir: runs for a range of past dates."),
        (name = "Secret", description = "Weir: team-scoped secrets (metadata only; values go in, never out) and the master key."),
        (name = "Identity", description = "Weir: the caller, users, teams and members, API tokens, the audit trail."),
    ),
    components(
        schemas(Problem),
        responses(
            BadRequest,
            NotFound,
            AlreadyExists,
            PayloadTooLarge,
            UnsupportedMediaType,
            ServiceUnavailable,
            Unauthenticated,
            PermissionDenied,
            TooManyRequests
        )
    )
)]
pub struct ApiDoc;

/// A response whose body is a problem document ([`Problem`], Airflow's `Error`).
fn problem(description: &str) -> RefOr<openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(Problem::name())))
                .build(),
        )
        .build()
        .into()
}

/// Declares a reusable error response, `#/components/responses/<name>` (Airflow's names).
macro_rules! problem_response {
    ($(#[doc = $doc:literal])* $name:ident) => {
        $(#[doc = $doc])*
        pub struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<openapi::Response>) {
                (stringify!($name), problem(concat!($($doc),*).trim()))
            }
        }
    };
}

problem_response!(
    /// The request is malformed: bad JSON, an unknown or mistyped field, a bad parameter.
    BadRequest
);
problem_response!(
    /// A specified resource is not found.
    NotFound
);
problem_response!(
    /// The request clashes with the current state, e.g. the resource already exists.
    AlreadyExists
);
problem_response!(
    /// The request body is larger than the server's limit.
    PayloadTooLarge
);
problem_response!(
    /// The request body is not JSON.
    UnsupportedMediaType
);
problem_response!(
    /// The server is shutting down; try again when it is back.
    ServiceUnavailable
);

problem_response!(
    /// No credentials, or credentials that prove nothing: sign in (Basic, or a Bearer API
    /// or SSO token).
    Unauthenticated
);
problem_response!(
    /// The caller may not do this; the detail names the role it takes.
    PermissionDenied
);
problem_response!(
    /// Too many failed sign-ins; `Retry-After` says when to try again.
    TooManyRequests
);

/// The finished document of the paths `doc` holds, in the frame of [`ApiDoc`]: every
/// route that needs a caller declares the sign-in schemes and the 401/403/429 answers
/// the guard gives (from the one rule table, so the two cannot disagree).
pub fn finish(doc: openapi::OpenApi) -> openapi::OpenApi {
    let mut full = ApiDoc::openapi();
    full.merge(doc);
    let components = full.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "Basic",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
    );
    components.add_security_scheme(
        "Bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "A Weir API token (`weir_…`, from `weir login` or `POST /tokens`) or a \
                     JWT from the configured OpenID Connect provider.",
                ))
                .build(),
        ),
    );
    let security = vec![
        SecurityRequirement::new("Basic", Vec::<String>::new()),
        SecurityRequirement::new("Bearer", Vec::<String>::new()),
    ];
    // A catch-all segment, axum's `{*name}`, is an ordinary `{name}` parameter in OpenAPI.
    let mut paths = Paths::new();
    paths.paths = std::mem::take(&mut full.paths.paths)
        .into_iter()
        .map(|(path, mut item)| {
            for (method, op) in [
                ("GET", &mut item.get),
                ("POST", &mut item.post),
                ("PUT", &mut item.put),
                ("PATCH", &mut item.patch),
                ("DELETE", &mut item.delete),
            ] {
                let Some(op) = op.as_mut() else { continue };
                let public = Method::from_bytes(method.as_bytes())
                    .ok()
                    .and_then(|m| rules::rule(&m, &path))
                    .is_some_and(|r| r.need == Need::Public);
                if public {
                    continue;
                }
                op.security = Some(security.clone());
                for (status, name) in [
                    ("401", "Unauthenticated"),
                    ("403", "PermissionDenied"),
                    ("429", "TooManyRequests"),
                ] {
                    op.responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| Ref::from_response_name(name).into());
                }
            }
            (path.replace("{*", "{"), item)
        })
        .collect();
    full.paths = paths;
    full
}

/// `GET /openapi.json`: the document, serialized once.
pub fn route(doc: &openapi::OpenApi) -> MethodRouter<AppState> {
    let body = serde_json::to_vec(doc)
        .map(Bytes::from)
        .map_err(|e| e.to_string());
    if let Err(e) = &body {
        tracing::error!(error = %e, "cannot serialize the OpenAPI document");
    }
    get(move || {
        let body = body.clone();
        async move {
            match body {
                Ok(bytes) => {
                    let mut response = bytes.into_response();
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    response
                }
                Err(e) => ApiError::Internal(e.into()).into_response(),
            }
        }
    })
}
