//! An `http` task's work: one request with reqwest (rustls).
//!
//! - The URL is absolute, or relative to the connection's base as Airflow's HttpHook
//!   builds it (scheme from the connection's `schema`, else `https` for a connection of
//!   type `https`, else `http`; then host and port); the connection's login and
//!   password give Basic auth.
//! - Success is a status `expect_status` allows (default: any 2xx). Otherwise a 5xx, a
//!   timeout or a failed connection is a failure retried per the task's policy; any
//!   other status (a 4xx) fails at once, since repeating the request cannot change it.
//! - `output: json | text` pushes the body to XCom; `none` does not read it.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use weir_compute::{BoxFuture, InlineContext, InlineResult, InlineWork, MAX_XCOM_BYTES};
use weir_core::spec::model::{HttpOutput, StatusPattern};

use super::failed;
use crate::connections::Connection;

/// How much of a failed response's body the log shows.
const SHOWN_BODY: usize = 2048;

/// A request body.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpBody {
    None,
    Text(String),
    Json(Value),
}

/// One `http` try's work.
#[derive(Debug)]
pub struct HttpWork {
    pub method: reqwest::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: HttpBody,
    /// Basic auth: login and password.
    pub basic_auth: Option<(String, Option<String>)>,
    pub expect_status: Vec<StatusPattern>,
    pub output: HttpOutput,
    /// Time allowed for the whole request (the task's timeout applies anyway).
    pub timeout: Option<Duration>,
}

impl InlineWork for HttpWork {
    fn run(self: Arc<Self>, ctx: InlineContext) -> BoxFuture<'static, InlineResult> {
        Box::pin(async move {
            tokio::select! {
                result = self.execute(&ctx) => result,
                () = ctx.stop.raised() => failed("stopped", true),
            }
        })
    }
}

/// The URL a task's `url` names: itself when absolute; else relative to the
/// connection's base, as Airflow's HttpHook builds it.
pub fn full_url(url: &str, conn: Option<&Connection>) -> Result<String, String> {
    let absolute = url.starts_with("http://") || url.starts_with("https://");
    let joined = match conn {
        _ if absolute => url.to_string(),
        None => {
            return Err(format!(
                "`url` `{url}` is not absolute (http:// or https://), and the task names no `connection` to be relative to"
            ));
        }
        Some(conn) => {
            let host = conn.host.as_deref().unwrap_or("").trim_end_matches('/');
            if host.is_empty() {
                return Err(format!(
                    "connection `{}` has no host for the relative url `{url}`",
                    conn.conn_id
                ));
            }
            let mut base = if host.contains("://") {
                host.to_string()
            } else {
                let scheme = match conn.schema.as_deref().filter(|s| !s.is_empty()) {
                    Some(schema) => schema,
                    None if conn.conn_type == "https" => "https",
                    None => "http",
                };
                format!("{scheme}://{host}")
            };
            if let Some(port) = conn.port {
                base.push_str(&format!(":{port}"));
            }
            if url.is_empty() {
                base
            } else {
                format!("{base}/{}", url.trim_start_matches('/'))
            }
        }
    };
    reqwest::Url::parse(&joined)
        .map(|u| u.to_string())
        .map_err(|e| format!("`{joined}` is not a valid URL: {e}"))
}

impl HttpWork {
    /// Whether `status` counts as success.
    fn expected(&self, status: reqwest::StatusCode) -> bool {
        if self.expect_status.is_empty() {
            status.is_success()
        } else {
            self.expect_status
                .iter()
                .any(|p| p.matches(status.as_u16()))
        }
    }

    fn expectation(&self) -> String {
        if self.expect_status.is_empty() {
            "2xx".into()
        } else {
            let all: Vec<&str> = self
                .expect_status
                .iter()
                .map(StatusPattern::as_str)
                .collect();
            all.join(", ")
        }
    }

    async fn execute(&self, ctx: &InlineContext) -> InlineResult {
        let log = &ctx.log;
        let mut builder = reqwest::Client::builder();
        if let Some(timeout) = self.timeout {
            builder = builder.timeout(timeout);
        }
        let client = match builder.build() {
            Ok(client) => client,
            Err(e) => return failed(format!("cannot make an HTTP client: {e}"), true),
        };
        let mut request = client.request(self.method.clone(), &self.url);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if let Some((login, password)) = &self.basic_auth {
            request = request.basic_auth(login, password.as_deref());
        }
        request = match &self.body {
            HttpBody::None => request,
            HttpBody::Text(text) => request.body(text.clone()),
            HttpBody::Json(value) => request.json(value),
        };
        log.line(&format!("{} {}", self.method, self.url));
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                let why = if e.is_timeout() {
                    let after = self
                        .timeout
                        .map(|t| format!(" after {}", weir_core::duration::format_duration(t)))
                        .unwrap_or_default();
                    format!("the request timed out{after}")
                } else {
                    format!("the request failed: {}", error_chain(&e))
                };
                log.line(&format!("error: {why}"));
                return failed(why, true);
            }
        };
        let status = response.status();
        log.line(&format!("HTTP {status}"));
        let expected = self.expected(status);
        let wanted = expected && self.output != HttpOutput::None;
        if !expected || wanted {
            let cap = if wanted {
                MAX_XCOM_BYTES as usize
            } else {
                SHOWN_BODY
            };
            let body = match read_capped(&mut response, cap).await {
                Ok(body) => body,
                Err(e) => {
                    let why = format!("reading the response failed: {}", error_chain(&e));
                    return failed(why, true);
                }
            };
            if !expected {
                let shown =
                    String::from_utf8_lossy(&body.bytes[..body.bytes.len().min(SHOWN_BODY)]);
                if !shown.trim().is_empty() {
                    log.line(&format!("response body: {shown}"));
                }
                let why = format!(
                    "HTTP {status} from {}; expected {}",
                    self.url,
                    self.expectation()
                );
                log.line(&format!("error: {why}"));
                return failed(why, status.is_server_error());
            }
            if body.truncated {
                return failed(
                    format!(
                        "the response is larger than the XCom limit of {MAX_XCOM_BYTES} bytes (1 MiB): use `output: none`, or fetch less"
                    ),
                    false,
                );
            }
            let xcom = match self.output {
                HttpOutput::Json => match serde_json::from_slice::<Value>(&body.bytes) {
                    Ok(value) => value,
                    Err(e) => {
                        let why = format!("the response is not JSON (`output: json`): {e}");
                        log.line(&format!("error: {why}"));
                        return failed(why, false);
                    }
                },
                _ => Value::String(String::from_utf8_lossy(&body.bytes).into_owned()),
            };
            return InlineResult::Succeeded { xcom: Some(xcom) };
        }
        InlineResult::Succeeded { xcom: None }
    }
}

/// A body read up to a cap.
struct Capped {
    bytes: Vec<u8>,
    truncated: bool,
}

async fn read_capped(response: &mut reqwest::Response, cap: usize) -> reqwest::Result<Capped> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if bytes.len() + chunk.len() > cap {
            bytes.extend_from_slice(&chunk[..cap - bytes.len()]);
            return Ok(Capped {
                bytes,
                truncated: true,
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Capped {
        bytes,
        truncated: false,
    })
}

/// An error with its causes (reqwest's own message is often just "error sending request").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(host: &str, conn_type: &str, schema: Option<&str>, port: Option<u16>) -> Connection {
        Connection {
            conn_id: "api".into(),
            conn_type: conn_type.into(),
            host: Some(host.into()),
            schema: schema.map(Into::into),
            port,
            ..Connection::default()
        }
    }

    #[test]
    fn urls_are_relative_to_the_connection_as_airflow_builds_them() {
        let c = conn("api.example.com", "http", None, Some(8080));
        assert_eq!(
            full_url("/v1/items", Some(&c)).as_deref(),
            Ok("http://api.example.com:8080/v1/items")
        );
        let c = conn("api.example.com", "https", None, None);
        assert_eq!(
            full_url("v1", Some(&c)).as_deref(),
            Ok("https://api.example.com/v1")
        );
        let c = conn("api.example.com", "http", Some("https"), None);
        assert_eq!(
            full_url("", Some(&c)).as_deref(),
            Ok("https://api.example.com/")
        );
        let c = conn("https://api.example.com/", "http", None, None);
        assert_eq!(
            full_url("x", Some(&c)).as_deref(),
            Ok("https://api.example.com/x")
        );
        // An absolute URL wins; a relative one needs a connection.
        assert_eq!(
            full_url("http://other/x", Some(&c)).as_deref(),
            Ok("http://other/x")
        );
        assert!(full_url("/x", None).unwrap_err().contains("not absolute"));
        assert!(full_url("http://", None).is_err());
    }
}
