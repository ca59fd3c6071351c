//! Request extractors whose rejections are problem documents, not axum's plain text:
//! [`ApiJson`] for bodies, [`QueryParams`] for query strings, and [`path_params!`] for typed
//! path parameters (weir-core ids), each naming the parameter and the value it refused.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use utoipa::PartialSchema;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{RefOr, Required, Schema};
use weir_core::ids::{DagId, RunId, TaskId};

use weir_api::time::parse_datetime;

use crate::error::ApiError;

/// A JSON request body. Rejects (with a 4xx problem): a content type other than JSON,
/// a body over the limit (413), malformed JSON, and JSON of the wrong shape, naming the
/// field at fault.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
            let essence = ct.split(';').next().unwrap_or_default().trim();
            if !(essence == "application/json" || essence.ends_with("+json")) {
                return Err(ApiError::UnsupportedMediaType {
                    detail: format!(
                        "the request body must be JSON (Content-Type: application/json), not `{essence}`"
                    ),
                });
            }
        }
        let limit = body_limit(&req);
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::bad_request(format!("cannot read the request body: {rejection}"))
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// The body limit the router was configured with, for the 413 message.
fn body_limit(req: &Request) -> usize {
    req.extensions()
        .get::<crate::BodyLimit>()
        .map_or(crate::ApiConfig::default().max_body_bytes, |l| l.0)
}

/// Parses a JSON body into `T`, with messages that name the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the request body is empty; send a JSON object",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let what = match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "Malformed JSON"
            }
            serde_json::error::Category::Data | serde_json::error::Category::Io => {
                "Invalid request body"
            }
        };
        if path == "." || path.is_empty() {
            ApiError::bad_request(format!("{what}: {inner}"))
        } else {
            ApiError::bad_request(format!("{what}: `{path}`: {inner}"))
        }
    })
}

/// Reads an already parsed JSON body into `T`, naming the field at fault.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            ApiError::bad_request(format!("Invalid request body: {inner}"))
        } else {
            ApiError::bad_request(format!("Invalid request body: `{path}`: {inner}"))
        }
    })
}

/// The query string as name/value pairs, with typed getters whose errors name the
/// parameter. Repeated names (`state=a&state=b`) are kept, as Airflow reads them.
#[derive(Debug, Clone, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Ok(QueryParams::parse(parts.uri.query().unwrap_or_default()))
    }
}

impl QueryParams {
    pub fn parse(query: &str) -> Self {
        QueryParams(
            form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The last value of `name`, if given (and not empty).
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order; comma-separated values are split too.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.str(name).is_some()
    }

    pub fn i64(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.str(name)
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "query parameter `{name}` must be a whole number, not `{v}`"
                    ))
                })
            })
            .transpose()
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.str(name)
            .map(|v| match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(ApiError::bad_request(format!(
                    "query parameter `{name}` must be `true` or `false`, not `{v}`"
                ))),
            })
            .transpose()
    }

    /// A date-time parameter. A `+` of the offset that arrived decoded as a space (an
    /// unencoded `+00:00` in the URL) is put back, as Airflow does.
    pub fn datetime(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.str(name)
            .map(|v| parse_datetime(&v.replace(' ', "+")).map_err(|e| param_error(name, e)))
            .transpose()
    }

    /// Refuses parameters Airflow defines that Weir does not implement yet, so a filter is
    /// never silently ignored.
    pub fn reject(&self, unsupported: &[&str]) -> Result<(), ApiError> {
        match unsupported.iter().find(|n| self.has(n)) {
            Some(name) => Err(ApiError::bad_request(format!(
                "query parameter `{name}` is not supported by Weir"
            ))),
            None => Ok(()),
        }
    }
}

fn param_error(name: &str, e: String) -> ApiError {
    ApiError::bad_request(format!("query parameter `{name}`: {e}"))
}

/// A path parameter type: how to parse it, what to call it in an error, and its OpenAPI
/// schema (a string unless said otherwise).
pub trait PathParam: Sized {
    const WHAT: &'static str;
    fn parse(s: &str) -> Result<Self, String>;
    fn schema() -> RefOr<Schema> {
        <String as PartialSchema>::schema()
    }
    fn description() -> String {
        format!("The {}.", Self::WHAT)
    }
}

/// The OpenAPI description of the path parameter `name` of type `T`.
pub fn path_parameter<T: PathParam>(name: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(T::description()))
        .schema(Some(T::schema()))
        .build()
}

macro_rules! id_param {
    ($t:ty, $what:literal) => {
        impl PathParam for $t {
            const WHAT: &'static str = $what;
            fn parse(s: &str) -> Result<Self, String> {
                <$t>::new(s).map_err(|e| e.to_string())
            }
        }
    };
}
id_param!(DagId, "DAG id");
id_param!(RunId, "DAG run id");
id_param!(TaskId, "task id");

impl PathParam for String {
    const WHAT: &'static str = "name";
    fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            Err("it may not be empty".into())
        } else {
            Ok(s.to_string())
        }
    }
}

impl PathParam for i32 {
    const WHAT: &'static str = "number";
    fn schema() -> RefOr<Schema> {
        <i32 as PartialSchema>::schema()
    }
    fn parse(s: &str) -> Result<Self, String> {
        s.parse().map_err(|_| "it must be a whole number".into())
    }
}

impl PathParam for u32 {
    const WHAT: &'static str = "number";
    fn schema() -> RefOr<Schema> {
        <u32 as PartialSchema>::schema()
    }
    fn parse(s: &str) -> Result<Self, String> {
        s.parse()
            .map_err(|_| "it must be a whole number of at least 0".into())
    }
}

impl PathParam for i64 {
    const WHAT: &'static str = "number";
    fn schema() -> RefOr<Schema> {
        <i64 as PartialSchema>::schema()
    }
    fn parse(s: &str) -> Result<Self, String> {
        s.parse().map_err(|_| "it must be a whole number".into())
    }
}

/// Either one DAG or every DAG (`~`, as in Airflow's `/dags/~/dagRuns`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DagSelector {
    All,
    One(DagId),
}

impl PathParam for DagSelector {
    const WHAT: &'static str = "DAG id";
    fn description() -> String {
        "The DAG id, or `~` for every DAG.".into()
    }
    fn parse(s: &str) -> Result<Self, String> {
        if s == "~" {
            Ok(DagSelector::All)
        } else {
            DagId::parse(s).map(DagSelector::One)
        }
    }
}

/// Reads and parses the path parameter `key`.
pub fn path_param<T: PathParam>(raw: &RawPathParams, key: &str) -> Result<T, ApiError> {
    let value = raw
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
        .ok_or_else(|| ApiError::bad_request(format!("missing path parameter `{key}`")))?;
    T::parse(value).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid {} `{value}` in the path (`{key}`): {e}",
            T::WHAT
        ))
    })
}

/// Reads the raw path parameters, as a problem document on failure.
pub async fn raw_path_params<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<RawPathParams, ApiError> {
    RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|e| ApiError::bad_request(format!("invalid path: {e}")))
}

/// Declares a struct of typed path parameters that extracts itself from the request and
/// describes itself to OpenAPI (`params(RunPath)` in `#[utoipa::path]`):
/// `path_params!(RunPath { dag_id: DagId = "dag_id", run_id: RunId = "dag_run_id" });`
macro_rules! path_params {
    ($(#[$meta:meta])* $name:ident { $($field:ident : $ty:ty = $key:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub struct $name {
            $(pub $field: $ty,)*
        }

        impl<S: Send + Sync> axum::extract::FromRequestParts<S> for $name {
            type Rejection = $crate::error::ApiError;

            async fn from_request_parts(
                parts: &mut axum::http::request::Parts,
                state: &S,
            ) -> Result<Self, Self::Rejection> {
                let raw = $crate::extract::raw_path_params(parts, state).await?;
                Ok($name {
                    $($field: $crate::extract::path_param::<$ty>(&raw, $key)?,)*
                })
            }
        }

        impl utoipa::IntoParams for $name {
            fn into_params(
                _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
            ) -> Vec<utoipa::openapi::path::Parameter> {
                vec![$($crate::extract::path_parameter::<$ty>($key),)*]
            }
        }
    };
}
pub(crate) use path_params;

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use weir_api::ApiDateTime;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        is_paused: bool,
        when: Option<ApiDateTime>,
    }

    fn detail(e: ApiError) -> String {
        e.problem().detail.unwrap_or_default()
    }

    #[test]
    fn json_errors_name_the_problem() {
        assert!(parse_json::<Body>(br#"{"is_paused": true}"#).is_ok());
        let d = detail(parse_json::<Body>(b"{").unwrap_err());
        assert!(d.starts_with("Malformed JSON"), "{d}");
        let d = detail(parse_json::<Body>(br#"{"is_paused": "yes"}"#).unwrap_err());
        assert!(
            d.contains("`is_paused`") && d.contains("invalid type"),
            "{d}"
        );
        let d = detail(parse_json::<Body>(br#"{"is_paused": true, "x": 1}"#).unwrap_err());
        assert!(d.contains("unknown field `x`"), "{d}");
        let d =
            detail(parse_json::<Body>(br#"{"is_paused": true, "when": "yesterday"}"#).unwrap_err());
        assert!(d.contains("`when`") && d.contains("RFC 3339"), "{d}");
        let d = detail(parse_json::<Body>(b"  ").unwrap_err());
        assert!(d.contains("empty"), "{d}");
    }

    #[test]
    fn query_getters_validate() {
        let q =
            QueryParams::parse("limit=5&state=a&state=b,c&flag=maybe&d=2026-01-01T00:00:00 00:00");
        assert_eq!(q.i64("limit").unwrap(), Some(5));
        assert_eq!(q.all("state"), vec!["a", "b", "c"]);
        assert!(q.bool("flag").is_err());
        assert_eq!(
            q.datetime("d").unwrap(),
            Some(
                DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
                    .unwrap()
                    .to_utc()
            )
        );
        assert!(QueryParams::parse("limit=x").i64("limit").is_err());
        assert!(QueryParams::parse("d=2026-01-01").datetime("d").is_err());
        assert!(QueryParams::parse("tags=x").reject(&["tags"]).is_err());
    }

    #[test]
    fn path_params_parse() {
        assert_eq!(DagSelector::parse("~"), Ok(DagSelector::All));
        assert!(matches!(DagSelector::parse("d"), Ok(DagSelector::One(_))));
        assert!(DagId::parse("a b").is_err());
        assert!(u32::parse("-1").is_err());
    }
}
