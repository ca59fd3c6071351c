//! A small client of Weir's HTTP API for the CLI's server commands.
//!
//! Paths are given as segments and percent-encoded here (run ids hold `:` and `+`,
//! variable keys may hold `/`). An error answer's problem document becomes
//! [`ClientError::Api`] carrying its `detail`; a server that cannot be reached becomes
//! [`ClientError::Unreachable`], whose message names the URL and suggests `weir standalone`.
//!
//! Every request is signed in as [`credentials::token_for`] decides (`WEIR_TOKEN`, else
//! the token `weir login` stored for this server), or with a username and password for
//! `weir login` itself ([`Client::with_auth`]). A 401 says how to sign in and which
//! credentials were refused; a 403 gives the server's detail, which names the role needed.

use std::fmt;
use std::time::Duration;

use reqwest::header::RETRY_AFTER;
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use weir_api::Problem;

use crate::commands::credentials::{self, Token, TokenSource};

/// How requests prove who sends them.
#[derive(Clone)]
pub enum Auth {
    /// `Authorization: Bearer`: an API token.
    Token(Token),
    /// `Authorization: Basic`: a local user's name and password (only `weir login`).
    Password { username: String, password: String },
}

// Secrets must not reach a log or an error message through `{:?}`.
impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Token(t) => f.debug_tuple("Token").field(t).finish(),
            Auth::Password { username, .. } => f
                .debug_struct("Password")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
        }
    }
}

/// What credentials a refused request carried, to word the 401 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Nothing,
    Token(TokenSource),
    Password { username: String },
}

impl From<Option<&Auth>> for Sent {
    fn from(auth: Option<&Auth>) -> Sent {
        match auth {
            None => Sent::Nothing,
            Some(Auth::Token(t)) => Sent::Token(t.source.clone()),
            Some(Auth::Password { username, .. }) => Sent::Password {
                username: username.clone(),
            },
        }
    }
}

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
    /// The server did not accept the request's credentials, or it carried none (401).
    Unauthenticated { sent: Sent, detail: String },
    /// The credentials are fine but not allowed to do this (403); the detail names the
    /// role needed.
    Forbidden { detail: String },
    /// Too many failed sign-ins (429); the server says when to try again.
    TooManyAttempts {
        detail: String,
        retry_after_secs: Option<u64>,
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
            ClientError::Unauthenticated { sent, detail } => match sent {
                Sent::Nothing => write!(
                    f,
                    "not signed in: run `weir login` or set WEIR_TOKEN (the server said: {detail})"
                ),
                Sent::Token(source @ TokenSource::Env) => write!(
                    f,
                    "the server refused {source}: {}",
                    advise(
                        detail,
                        "weir login",
                        "set a valid token, or unset WEIR_TOKEN and run `weir login`"
                    )
                ),
                Sent::Token(source @ TokenSource::Stored(_)) => write!(
                    f,
                    "the server refused {source}: {}",
                    advise(
                        detail,
                        "weir login",
                        "run `weir login` again or set WEIR_TOKEN"
                    )
                ),
                Sent::Password { username } => {
                    write!(f, "cannot sign in as {username}: {detail}")
                }
            },
            ClientError::Forbidden { detail } => write!(f, "permission denied: {detail}"),
            ClientError::TooManyAttempts {
                detail,
                retry_after_secs,
            } => {
                let advice = match retry_after_secs {
                    Some(secs) => format!("try again in {secs} s"),
                    None => "try again later".to_string(),
                };
                f.write_str(&advise(detail, "try again", &advice))
            }
            ClientError::Protocol { url, reason } => {
                write!(f, "unexpected answer from {url}: {reason}")
            }
        }
    }
}

impl std::error::Error for ClientError {}

/// The server's `detail`, then `advice` unless the detail already says it (mentions
/// `key`): the server's wording is usually the more precise.
fn advise(detail: &str, key: &str, advice: &str) -> String {
    if detail.contains(key) {
        detail.to_string()
    } else {
        format!("{detail}; {advice}")
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// A connection to one Weir server's `/api/v1`.
#[derive(Debug, Clone)]
pub struct Client {
    server: String,
    api: Url,
    http: reqwest::Client,
    auth: Option<Auth>,
}

impl Client {
    /// A client of the server at `server` (e.g. `http://127.0.0.1:8080`), signed in with
    /// `WEIR_TOKEN` or the token stored for that server, if any.
    pub fn new(server: &str) -> Result<Client> {
        let client = Client::anonymous(server)?;
        let auth = credentials::token_for(server).map(Auth::Token);
        Ok(client.with_auth(auth))
    }

    /// A client that sends no credentials.
    pub fn anonymous(server: &str) -> Result<Client> {
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
            auth: None,
        })
    }

    /// The same client, signed in with `auth` instead.
    pub fn with_auth(self, auth: Option<Auth>) -> Client {
        Client { auth, ..self }
    }

    /// The server's base URL, without a trailing `/`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// What the client's requests are signed in with.
    pub fn auth(&self) -> Option<&Auth> {
        self.auth.as_ref()
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
        req = match &self.auth {
            Some(Auth::Token(t)) => req.bearer_auth(&t.secret),
            Some(Auth::Password { username, password }) => req.basic_auth(username, Some(password)),
            None => req,
        };
        if let Some(body) = body {
            req = req.json(body);
        }
        let response = req
            .send()
            .await
            .map_err(|e| self.transport_error(&url, &e))?;
        let status = response.status();
        let retry_after_secs = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(&url, &e))?;
        if !status.is_success() {
            return Err(self.refusal(api_error(status, &bytes), retry_after_secs));
        }
        let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        serde_json::from_slice(bytes).map_err(|e| ClientError::Protocol {
            url: url.to_string(),
            reason: e.to_string(),
        })
    }

    /// Every page of a list (`?limit=&offset=`): the items under `key` and the server's
    /// `total_entries`. Items stay raw JSON so that `--output json` shows all the server
    /// said; [`parse`] reads them for tables.
    pub async fn get_all(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
        key: &str,
    ) -> Result<(Vec<Value>, i64)> {
        const PAGE: usize = 1000;
        let mut items: Vec<Value> = Vec::new();
        loop {
            let mut q = query.to_vec();
            q.push(("limit", PAGE.to_string()));
            q.push(("offset", items.len().to_string()));
            let mut page: Value = self.get(segments, &q).await?;
            let total = page.get("total_entries").and_then(Value::as_i64);
            let Some(Value::Array(chunk)) = page.get_mut(key).map(Value::take) else {
                return Err(ClientError::Protocol {
                    url: self.url(segments).to_string(),
                    reason: format!("no `{key}` list in the answer"),
                });
            };
            // The server caps `limit` at its own maximum, so a page shorter than asked
            // for is not the last one: only an empty page or the total says so.
            let empty = chunk.is_empty();
            items.extend(chunk);
            let total = total.unwrap_or(items.len() as i64);
            if empty || items.len() as i64 >= total {
                return Ok((items, total));
            }
        }
    }

    /// A 401, 403 or 429 as the error that says what to do about it.
    fn refusal(&self, e: ClientError, retry_after_secs: Option<u64>) -> ClientError {
        let ClientError::Api {
            status,
            title,
            detail,
        } = e
        else {
            return e;
        };
        let detail = if detail.is_empty() {
            title.clone()
        } else {
            detail
        };
        match status {
            StatusCode::UNAUTHORIZED => ClientError::Unauthenticated {
                sent: Sent::from(self.auth.as_ref()),
                detail,
            },
            StatusCode::FORBIDDEN => ClientError::Forbidden { detail },
            StatusCode::TOO_MANY_REQUESTS => ClientError::TooManyAttempts {
                detail,
                retry_after_secs,
            },
            _ => ClientError::Api {
                status,
                title,
                detail,
            },
        }
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

/// Reads a JSON value the server sent (an item of [`Client::get_all`], say) as `T`.
pub fn parse<T: DeserializeOwned>(what: &str, value: &Value) -> Result<T> {
    T::deserialize(value).map_err(|e| ClientError::Protocol {
        url: what.to_string(),
        reason: e.to_string(),
    })
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

    fn refused(auth: Option<Auth>, status: StatusCode, retry_after: Option<u64>) -> String {
        let c = Client::anonymous("http://127.0.0.1:8080")
            .expect("valid")
            .with_auth(auth);
        let body = br#"{"detail": "the detail", "status": 0, "title": "t", "type": "about:blank"}"#;
        c.refusal(api_error(status, body), retry_after).to_string()
    }

    fn token(source: TokenSource) -> Option<Auth> {
        Some(Auth::Token(Token {
            secret: "weir_secret".into(),
            source,
        }))
    }

    #[test]
    fn a_401_says_how_to_sign_in_and_what_was_refused() {
        let e = refused(None, StatusCode::UNAUTHORIZED, None);
        assert_eq!(
            e,
            "not signed in: run `weir login` or set WEIR_TOKEN (the server said: the detail)"
        );
        let e = refused(token(TokenSource::Env), StatusCode::UNAUTHORIZED, None);
        assert!(e.contains("WEIR_TOKEN") && e.contains("the detail"), "{e}");
        let stored = TokenSource::Stored("/c/credentials.json".into());
        let e = refused(token(stored), StatusCode::UNAUTHORIZED, None);
        assert!(
            e.contains("/c/credentials.json") && e.contains("weir login"),
            "{e}"
        );
        let password = Some(Auth::Password {
            username: "alice".into(),
            password: "hunter22".into(),
        });
        let e = refused(password, StatusCode::UNAUTHORIZED, None);
        assert_eq!(e, "cannot sign in as alice: the detail");
        assert!(!e.contains("hunter22"));
    }

    #[test]
    fn a_403_gives_the_detail_and_a_429_when_to_retry() {
        assert_eq!(
            refused(None, StatusCode::FORBIDDEN, None),
            "permission denied: the detail"
        );
        assert_eq!(
            refused(None, StatusCode::TOO_MANY_REQUESTS, Some(30)),
            "the detail; try again in 30 s"
        );
        assert_eq!(refused(None, StatusCode::NOT_FOUND, None), "the detail");
        // Advice the server already gave is not repeated.
        let c = Client::anonymous("http://h").expect("valid");
        let body =
            br#"{"detail": "locked; try again in 59 s", "status": 429, "title": "t", "type": "t"}"#;
        let e = c.refusal(api_error(StatusCode::TOO_MANY_REQUESTS, body), Some(59));
        assert_eq!(e.to_string(), "locked; try again in 59 s");
    }

    #[test]
    fn debug_output_hides_the_password() {
        let auth = Auth::Password {
            username: "alice".into(),
            password: "hunter22".into(),
        };
        assert!(!format!("{auth:?}").contains("hunter22"));
    }

    #[tokio::test]
    async fn an_unreachable_server_is_named() {
        // Port 9 on localhost: nothing listens there.
        let c = Client::anonymous("http://127.0.0.1:9").expect("valid");
        let e = c
            .get::<serde_json::Value>(&["health"], &[])
            .await
            .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("http://127.0.0.1:9"), "{text}");
        assert!(text.contains("weir standalone"), "{text}");
    }
}
