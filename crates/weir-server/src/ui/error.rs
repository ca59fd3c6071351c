//! What a page shows when it cannot be shown: an HTML page with the status, a title and a
//! sentence saying what is wrong and what to do (the API's problem, when an in-process
//! call failed). Never a stack trace, never a 500 for bad input.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use weir_api::Problem;

use crate::error::ApiError;

#[derive(Debug, Clone)]
pub struct UiError {
    pub status: StatusCode,
    pub title: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    detail: &'a str,
}

impl UiError {
    pub fn new(status: StatusCode, title: impl Into<String>, detail: impl Into<String>) -> Self {
        UiError {
            status,
            title: title.into(),
            detail: detail.into(),
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", detail)
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad request", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Not allowed", detail)
    }

    /// A bug or an outage: logged, shown without details.
    pub fn internal(detail: impl Into<String>) -> Self {
        let detail = detail.into();
        tracing::error!(error = %detail, "a page failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error",
            "Weir could not show this page; the server's log says why.",
        )
    }

    /// The error of an API problem document.
    pub fn from_problem(problem: &Problem) -> Self {
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self::new(
            status,
            problem.title.clone(),
            problem.detail.clone().unwrap_or_default(),
        )
    }
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        if let ApiError::Internal(inner) = &e {
            return UiError::internal(inner.to_string());
        }
        UiError::from_problem(&e.problem())
    }
}

impl From<weir_store::StoreError> for UiError {
    fn from(e: weir_store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<askama::Error> for UiError {
    fn from(e: askama::Error) -> Self {
        UiError::internal(format!("a template failed to render: {e}"))
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            status: self.status.as_u16(),
            title: &self.title,
            detail: &self.detail,
        };
        let body = page
            .render()
            .unwrap_or_else(|_| format!("{} {}: {}", self.status, self.title, self.detail));
        (self.status, Html(body)).into_response()
    }
}
