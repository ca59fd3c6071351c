//! [`ApiError`]: the one place that maps errors to HTTP statuses and bodies.
//!
//! Every error leaves the API as an RFC 7807 problem document with the titles and `type`
//! links of Airflow's stable REST API, so Airflow clients understand it:
//!
//! ```json
//! {"detail": "The DAG with dag_id: x was not found", "status": 404, "title": "DAG not found",
//!  "type": "https://airflow.apache.org/docs/apache-airflow/2.7.0/stable-rest-api-ref.html#section/Errors/NotFound"}
//! ```
//!
//! A 5xx body never says what went wrong inside: the cause is logged with `tracing` and the
//! client is told to look at the server log.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use weir_api::Problem;
use weir_engine::EngineError;
use weir_store::StoreError;

/// The Airflow documentation version the problem `type` links point at.
const AIRFLOW_DOCS: &str =
    "https://airflow.apache.org/docs/apache-airflow/2.7.0/stable-rest-api-ref.html#section/Errors/";

/// Everything a request can fail with. Handlers return `Result<_, ApiError>`; `?` converts
/// engine and store errors.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or asks for something impossible (400).
    #[error("{title}: {detail}")]
    BadRequest {
        title: Cow<'static, str>,
        detail: String,
    },
    /// The thing asked for does not exist (404).
    #[error("{title}: {detail}")]
    NotFound {
        title: Cow<'static, str>,
        detail: String,
    },
    /// No credentials, or credentials that do not prove who the caller is (401).
    #[error("{detail}")]
    Unauthenticated { detail: String },
    /// The caller is known but may not do this; the detail says what it would take (403).
    #[error("{detail}")]
    PermissionDenied { detail: String },
    /// Too many failed sign-ins from this address for this user (429).
    #[error("{detail}")]
    TooManyRequests {
        detail: String,
        retry_after_secs: u64,
    },
    /// The path exists, the method does not (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request clashes with existing state, e.g. a duplicate run id (409).
    #[error("{detail}")]
    Conflict { detail: String },
    /// The body is larger than the configured limit (413).
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// The body is not JSON (415).
    #[error("{detail}")]
    UnsupportedMediaType { detail: String },
    /// The engine is shutting down (503).
    #[error("{detail}")]
    Unavailable { detail: String },
    /// Anything else: a bug or an outage. Logged; the client sees no details (500).
    #[error("internal error: {0}")]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// A 400 with Airflow's generic title.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            title: Cow::Borrowed("Bad Request"),
            detail: detail.into(),
        }
    }

    /// A 404 with a specific title such as `DAG not found`.
    pub fn not_found(title: &'static str, detail: impl Into<String>) -> Self {
        ApiError::NotFound {
            title: Cow::Borrowed(title),
            detail: detail.into(),
        }
    }

    /// A 404 for a DAG, worded as Airflow words it.
    pub fn dag_not_found(dag_id: impl std::fmt::Display) -> Self {
        Self::not_found(
            "DAG not found",
            format!("The DAG with dag_id: {dag_id} was not found"),
        )
    }

    /// A 404 for a DAG run, worded as Airflow words it.
    pub fn dag_run_not_found(
        dag_id: impl std::fmt::Display,
        run_id: impl std::fmt::Display,
    ) -> Self {
        Self::not_found(
            "DAGRun not found",
            format!("DAGRun with DAG ID: '{dag_id}' and DagRun ID: '{run_id}' not found"),
        )
    }

    /// A 500 caused by `e`.
    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(e))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            ApiError::PermissionDenied { .. } => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem document sent to the client.
    pub fn problem(&self) -> Problem {
        let status = self.status();
        let (title, detail): (Cow<'_, str>, Option<String>) = match self {
            ApiError::BadRequest { title, detail } | ApiError::NotFound { title, detail } => {
                (Cow::Borrowed(title.as_ref()), Some(detail.clone()))
            }
            ApiError::MethodNotAllowed => (
                Cow::Borrowed("Method Not Allowed"),
                Some("The method is not allowed for the requested URL.".into()),
            ),
            ApiError::Unauthenticated { detail } => {
                (Cow::Borrowed("Unauthorized"), Some(detail.clone()))
            }
            ApiError::PermissionDenied { detail } => {
                (Cow::Borrowed("Forbidden"), Some(detail.clone()))
            }
            ApiError::TooManyRequests { detail, .. } => {
                (Cow::Borrowed("Too Many Requests"), Some(detail.clone()))
            }
            ApiError::Conflict { detail } => (Cow::Borrowed("Conflict"), Some(detail.clone())),
            ApiError::PayloadTooLarge { .. } => {
                (Cow::Borrowed("Payload Too Large"), Some(self.to_string()))
            }
            ApiError::UnsupportedMediaType { detail } => (
                Cow::Borrowed("Unsupported Media Type"),
                Some(detail.clone()),
            ),
            ApiError::Unavailable { detail } => {
                (Cow::Borrowed("Service Unavailable"), Some(detail.clone()))
            }
            ApiError::Internal(_) => (
                Cow::Borrowed("Internal Server Error"),
                Some("The server hit an unexpected error; its log has the details.".into()),
            ),
        };
        let anchor = match status {
            StatusCode::BAD_REQUEST => Some("BadRequest"),
            StatusCode::UNAUTHORIZED => Some("Unauthenticated"),
            StatusCode::FORBIDDEN => Some("PermissionDenied"),
            StatusCode::NOT_FOUND => Some("NotFound"),
            StatusCode::METHOD_NOT_ALLOWED => Some("MethodNotAllowed"),
            StatusCode::CONFLICT => Some("AlreadyExists"),
            StatusCode::INTERNAL_SERVER_ERROR => Some("Unknown"),
            _ => None,
        };
        Problem {
            detail,
            status: status.as_u16(),
            title: title.into_owned(),
            kind: anchor.map_or_else(
                || "about:blank".to_string(),
                |a| format!("{AIRFLOW_DOCS}{a}"),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(e) = &self {
            tracing::error!(error = %e, "request failed");
        }
        let mut response = problem_response(&self.problem());
        match &self {
            ApiError::Unauthenticated { .. } => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"Weir\", Bearer"),
                );
            }
            ApiError::TooManyRequests {
                retry_after_secs, ..
            } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        response
    }
}

/// Renders a problem document with its status and `application/problem+json`.
pub(crate) fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // Serializing a struct of strings and a number cannot fail; fall back to an empty body.
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::DagNotFound(dag_id) => ApiError::dag_not_found(dag_id),
            StoreError::DagRunNotFound { dag_id, run_id } => {
                ApiError::dag_run_not_found(dag_id, run_id)
            }
            StoreError::TaskInstanceNotFound(key) => ApiError::not_found(
                "Task instance not found",
                format!("Task instance {key} not found"),
            ),
            StoreError::PoolNotFound(name) => ApiError::not_found(
                "Pool not found",
                format!("Pool with name:'{name}' not found"),
            ),
            StoreError::InvalidInput { .. } | StoreError::IllegalTransition(_) => {
                ApiError::bad_request(e.to_string())
            }
            e if e.is_not_found() => ApiError::not_found("Not Found", e.to_string()),
            e if e.is_conflict() => ApiError::Conflict {
                detail: e.to_string(),
            },
            e => ApiError::internal(e),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::DagNotFound(dag_id) => ApiError::dag_not_found(dag_id),
            EngineError::DagRunNotFound { dag_id, run_id } => {
                ApiError::dag_run_not_found(dag_id, run_id)
            }
            EngineError::Store(e) => e.into(),
            EngineError::Stopped => ApiError::Unavailable {
                detail: "the engine is shutting down; try again when the server is back".into(),
            },
            e if e.is_bad_request() => ApiError::bad_request(e.to_string()),
            e if e.is_refused() => ApiError::PermissionDenied {
                detail: e.to_string(),
            },
            e if e.is_not_found() => ApiError::not_found("Not Found", e.to_string()),
            e if e.is_conflict() => ApiError::Conflict {
                detail: e.to_string(),
            },
            EngineError::Repository(detail) => ApiError::Unavailable { detail },
            EngineError::LogStore(detail) => ApiError::Unavailable { detail },
            e => ApiError::internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::ids::{DagId, RunId};

    fn id(s: &str) -> DagId {
        DagId::new(s).expect("valid id")
    }

    #[test]
    fn statuses_titles_and_links_follow_airflow() {
        let p = ApiError::dag_not_found("x").problem();
        assert_eq!(p.status, 404);
        assert_eq!(p.title, "DAG not found");
        assert_eq!(
            p.detail.as_deref(),
            Some("The DAG with dag_id: x was not found")
        );
        assert!(
            p.kind
                .ends_with("stable-rest-api-ref.html#section/Errors/NotFound")
        );

        let p = ApiError::bad_request("nope").problem();
        assert_eq!((p.status, p.title.as_str()), (400, "Bad Request"));
        assert!(p.kind.ends_with("#section/Errors/BadRequest"));

        let p = ApiError::Conflict {
            detail: "dup".into(),
        }
        .problem();
        assert_eq!((p.status, p.title.as_str()), (409, "Conflict"));
        assert!(p.kind.ends_with("#section/Errors/AlreadyExists"));

        let p = ApiError::PayloadTooLarge { limit: 10 }.problem();
        assert_eq!((p.status, p.kind.as_str()), (413, "about:blank"));
    }

    #[test]
    fn engine_and_store_errors_map_to_statuses() {
        let cases: Vec<(ApiError, u16)> = vec![
            (EngineError::DagNotFound(id("d")).into(), 404),
            (
                EngineError::DagRunNotFound {
                    dag_id: id("d"),
                    run_id: RunId::new("r").expect("valid"),
                }
                .into(),
                404,
            ),
            (EngineError::InvalidRequest("bad conf".into()).into(), 400),
            (EngineError::Stopped.into(), 503),
            (
                EngineError::LogStore("the log store is down".into()).into(),
                503,
            ),
            (
                StoreError::RunExists {
                    dag_id: id("d"),
                    run_id: RunId::new("r").expect("valid"),
                    logical_date: chrono::DateTime::UNIX_EPOCH,
                }
                .into(),
                409,
            ),
            (StoreError::PoolNotFound("p".into()).into(), 404),
            (
                StoreError::InvalidInput {
                    what: "page",
                    detail: "-1".into(),
                }
                .into(),
                400,
            ),
            (internal_store_error().into(), 500),
        ];
        for (err, status) in cases {
            assert_eq!(err.status().as_u16(), status, "{err}");
        }
    }

    #[test]
    fn internal_errors_do_not_leak() {
        let err = ApiError::from(internal_store_error());
        let p = err.problem();
        assert_eq!(p.status, 500);
        let text = serde_json::to_string(&p).expect("serializes");
        assert!(!text.contains("secret"), "{text}");
    }

    /// A store failure that is not the client's fault, carrying text the client must not see.
    fn internal_store_error() -> StoreError {
        StoreError::InvalidUrl {
            url: "postgres://user:secret@db".into(),
            detail: "pool timed out".into(),
        }
    }
}
