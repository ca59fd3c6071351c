//! A small client of Weir's HTTP API for the CLI's server commands.
//!
//! Paths are given as segments and percent-encoded here (run ids hold `:` and `+`,
//! variable keys may hold `/`). An error answer's problem document becomes
//! [`ClientError::Api`] carrying its `detail`; a server that cannot be reached becomes
//! [`ClientError::Unreachable`], whose message names the URL and suggests `weir standalone`.

use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use weir_server::Problem;

/// Why a request failed.
#[derive(Debug)]
pub enum ClientError {
    /// `--server` is not a usable URL.
    BadUrl { url: String, reason: String },
    /// Nothing answered at the server's address.
    Unreachable { url: String, reason: String },
    /// The server answered with an error.
    Api {
        status: StatusCode,
        title: String,
        detail: String,
    },
    /// The server answered something this client does not understand.
    Protocol { url: String, reason: String },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::BadUrl { url, reason } => {
                write!(
                    f,
                    "`{url}` is not a valid server URL ({reason}); use e.g. http://127.0.0.1:8080"
                )
            }
            ClientError::Unreachable { url, reason } => write!(
                f,
                "cannot reach a Weir server at {url} ({reason}). Is it running? Start one with \
                 `weir standalone`, or point --server (or WEIR_SERVER) at yours"
            ),
            ClientError::Api {
                status,
                title,
                detail,
            } => {
                let text = if detail.is_empty() { title } else { detail };
                if status.is_server_error() {
                    write!(f, "the server failed ({status}): {text}")
                } else {
                    f.write_str(text)
                }
            }
            ClientError::Protocol { url, reason } => {
                write!(f, "unexpected answer from {url}: {reason}")
            }
        }
    }
}

impl std::error::Error for ClientError {}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// A connection to one Weir server's `/api/v1`.
#[derive(Debug, Clone)]
pub struct Client {
    server: String,
    api: Url,
    http: reqwest::Client,
}

impl Client {
    /// A client of the server at `server` (e.g. `http://127.0.0.1:8080`).
    pub fn new(server: &str) -> Result<Client> {
        let bad = |reason: String| ClientError::BadUrl {
            url: server.to_string(),
            reason,
        };
        let mut api = Url::parse(server).map_err(|e| bad(e.to_string()))?;
        if !matches!(api.scheme(), "http" | "https") || api.cannot_be_a_base() {
            return Err(bad("it must start with http:// or https://".into()));
        }
        api.path_segments_mut()
            .map_err(|()| bad("it cannot have a path".into()))?
            .pop_if_empty()
            .extend(["api", "v1"]);
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("weir-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| bad(e.to_string()))?;
        Ok(Client {
            server: server.trim_end_matches('/').to_string(),
            api,
            http,
        })
    }

    /// The URL of an API path given as segments, each percent-encoded.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.api.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(segments);
        }
        url
    }

    /// `GET` a JSON document.
    pub async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<T> {
        self.send::<(), T>(Method::GET, segments, query, None).await
    }

    /// Sends a request with an optional JSON body and reads a JSON answer (`null` for an
    /// empty one, e.g. a 204).
    pub async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<T> {
        let mut url = self.url(segments);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut req = self.http.request(method, url.clone());
        if let Some(body) = body {
            req = req.json(body);
        }
        let response = req
            .send()
            .await
            .map_err(|e| self.transport_error(&url, &e))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(&url, &e))?;
        if !status.is_success() {
            return Err(api_error(status, &bytes));
        }
        let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        serde_json::from_slice(bytes).map_err(|e| ClientError::Protocol {
            url: url.to_string(),
            reason: e.to_string(),
        })
    }

    fn transport_error(&self, url: &Url, e: &reqwest::Error) -> ClientError {
        if e.is_connect() || e.is_timeout() {
            let reason = if e.is_timeout() {
                "timed out".to_string()
            } else {
                root_cause(e)
            };
            ClientError::Unreachable {
                url: self.server.clone(),
                reason,
            }
        } else {
            ClientError::Protocol {
                url: url.to_string(),
                reason: root_cause(e),
            }
        }
    }
}

/// The innermost cause of an error ("Connection refused"), which says more than
/// reqwest's outer "error sending request".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The error an answer with a failure status stands for.
fn api_error(status: StatusCode, body: &[u8]) -> ClientError {
    match serde_json::from_slice::<Problem>(body) {
        Ok(p) => ClientError::Api {
            status,
            title: p.title,
            detail: p.detail.unwrap_or_default(),
        },
        Err(_) => {
            let text = String::from_utf8_lossy(body).trim().to_string();
            ClientError::Api {
                status,
                title: status.canonical_reason().unwrap_or("error").to_string(),
                detail: if text.is_empty() {
                    format!("the server answered {status}")
                } else {
                    text
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_built_from_encoded_segments() {
        let c = Client::new("http://127.0.0.1:8080/").expect("valid");
        assert_eq!(
            c.url(&["dags", "d", "dagRuns", "manual__2026-01-01T00:00:00+00:00"])
                .as_str(),
            "http://127.0.0.1:8080/api/v1/dags/d/dagRuns/manual__2026-01-01T00:00:00+00:00"
        );
        assert_eq!(
            c.url(&["variables", "a/b c"]).as_str(),
            "http://127.0.0.1:8080/api/v1/variables/a%2Fb%20c"
        );
        assert!(Client::new("localhost:8080").is_err());
        assert!(Client::new("ftp://x").is_err());
    }

    #[test]
    fn error_answers_become_their_detail() {
        let body = br#"{"detail": "DAG with dag_id: 'x' not found", "status": 404, "title": "DAG not found", "type": "t"}"#;
        let e = api_error(StatusCode::NOT_FOUND, body);
        assert_eq!(e.to_string(), "DAG with dag_id: 'x' not found");
        let e = api_error(StatusCode::BAD_GATEWAY, b"upstream down");
        assert_eq!(
            e.to_string(),
            "the server failed (502 Bad Gateway): upstream down"
        );
    }

    #[tokio::test]
    async fn an_unreachable_server_is_named() {
        // Port 9 on localhost: nothing listens there.
        let c = Client::new("http://127.0.0.1:9").expect("valid");
        let e = c
            .get::<serde_json::Value>(&["health"], &[])
            .await
            .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("http://127.0.0.1:9"), "{text}");
        assert!(text.contains("weir standalone"), "{text}");
    }
}
