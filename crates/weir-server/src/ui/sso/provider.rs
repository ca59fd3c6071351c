//! The identity provider's side of single sign-on: its discovery document (cached), and
//! the exchange of an authorization code for tokens at its token endpoint.

use super::*;
use crate::auth::oidc::error_chain;

/// What the UI needs from the provider's discovery document.
#[derive(Debug)]
pub(super) struct Endpoints {
    pub(super) authorization: Url,
    token: Url,
    /// Whether the client secret goes in the token request's body (`client_secret_post`)
    /// rather than in HTTP Basic (`client_secret_basic`).
    secret_in_body: bool,
}

/// Issuer → its endpoints and when they were read.
type DiscoveryCache = Mutex<HashMap<String, (Arc<Endpoints>, Instant)>>;

/// Discovery documents by issuer, with when they were read. Process-wide: the endpoints
/// of an issuer are the same for every server state that trusts it.
fn discovery_cache() -> &'static DiscoveryCache {
    static CACHE: OnceLock<DiscoveryCache> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The provider's endpoints: cached, else read from its discovery document. A failed
/// read is not cached, so the next sign-in tries again.
pub(super) async fn discover(settings: &OidcSettings) -> Result<Arc<Endpoints>, UiError> {
    let issuer = &settings.issuer;
    {
        let cache = discovery_cache()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((endpoints, at)) = cache.get(issuer)
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(endpoints.clone());
        }
    }
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let response = http()?
        .get(&url)
        .header(header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| {
            unavailable(format!(
                "Weir cannot reach the identity provider: reading its discovery document \
                 {url} failed ({}). Try again later; if it persists, check `[auth.oidc] \
                 issuer` and that this server can reach the provider.",
                error_chain(&e.without_url())
            ))
        })?;
    let status = response.status();
    if !status.is_success() {
        return Err(unavailable(format!(
            "The identity provider's discovery document {url} answered {status}. Try again \
             later; if it persists, check `[auth.oidc] issuer`."
        )));
    }
    let document: Value = response.json().await.map_err(|e| {
        bad_gateway(format!(
            "The identity provider's discovery document {url} is not JSON ({}); check \
             `[auth.oidc] issuer`.",
            error_chain(&e.without_url())
        ))
    })?;
    let endpoints = Arc::new(endpoints_of(&document, issuer, &url)?);
    discovery_cache()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(issuer.clone(), (endpoints.clone(), Instant::now()));
    Ok(endpoints)
}

/// The endpoints a discovery document names, checked.
fn endpoints_of(document: &Value, issuer: &str, url: &str) -> Result<Endpoints, UiError> {
    // OpenID Connect Discovery: the document's issuer must be the one it was read for.
    if let Some(named) = document.get("issuer").and_then(Value::as_str)
        && named.trim_end_matches('/') != issuer.trim_end_matches('/')
    {
        return Err(bad_gateway(format!(
            "The identity provider's discovery document {url} is for issuer `{named}`, not \
             `{issuer}`; `[auth.oidc] issuer` must be the provider's issuer exactly."
        )));
    }
    let endpoint = |key: &str| -> Result<Url, UiError> {
        let value = document.get(key).and_then(Value::as_str).unwrap_or("");
        match Url::parse(value) {
            Ok(u) if matches!(u.scheme(), "https" | "http") => Ok(u),
            _ => Err(bad_gateway(format!(
                "The identity provider's discovery document {url} has no usable `{key}` \
                 (found `{value}`); it does not support the authorization-code flow Weir's \
                 sign-in uses."
            ))),
        }
    };
    let methods: Option<Vec<&str>> = document
        .get("token_endpoint_auth_methods_supported")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).collect());
    // Unlisted methods: the body, which providers generally accept; listed: the body if
    // allowed, else Basic if that is what the provider takes.
    let secret_in_body = methods
        .is_none_or(|m| m.contains(&"client_secret_post") || !m.contains(&"client_secret_basic"));
    Ok(Endpoints {
        authorization: endpoint("authorization_endpoint")?,
        token: endpoint("token_endpoint")?,
        secret_in_body,
    })
}

/// Trades the authorization code (and the PKCE verifier) for tokens; returns the ID token.
pub(super) async fn exchange(
    client: &Client<'_>,
    endpoints: &Endpoints,
    secret: Option<&str>,
    code: &str,
    pending: &Pending,
) -> Result<String, UiError> {
    let mut request = http()?
        .post(endpoints.token.clone())
        .header(header::ACCEPT, "application/json")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    // Built in a block: the serializer is not `Send`, and must not live across an await.
    let body = {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", &pending.redirect_uri)
            .append_pair("client_id", client.id)
            .append_pair("code_verifier", &pending.verifier);
        match secret {
            Some(secret) if endpoints.secret_in_body => {
                form.append_pair("client_secret", secret);
            }
            Some(secret) => {
                // RFC 6749 §2.3.1: both parts form-encoded before the Basic encoding.
                let enc =
                    |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                let basic = STANDARD.encode(format!("{}:{}", enc(client.id), enc(secret)));
                request = request.header(header::AUTHORIZATION, format!("Basic {basic}"));
            }
            None => {}
        }
        form.finish()
    };
    let token_url = &endpoints.token;
    let response = request.body(body).send().await.map_err(|e| {
        unavailable(format!(
            "Weir cannot reach the identity provider's token endpoint {token_url} ({}). Try \
             signing in again later.",
            error_chain(&e.without_url())
        ))
    })?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_server_error() {
        return Err(unavailable(format!(
            "The identity provider's token endpoint {token_url} answered {status}. Try \
             signing in again later."
        )));
    }
    if !status.is_success() {
        let error = body.get("error").and_then(Value::as_str).unwrap_or("");
        let description = body
            .get("error_description")
            .and_then(Value::as_str)
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        return Err(match error {
            "invalid_client" | "unauthorized_client" => UiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Single sign-on is misconfigured",
                format!(
                    "The identity provider refused Weir's client credentials: `{error}`\
                     {description}. Check `[auth.oidc] client_id` and the client secret \
                     (`client_secret_env`) against the provider's registration."
                ),
            ),
            "" => refused(format!(
                "The identity provider's token endpoint answered {status} to the sign-in \
                 code. Sign in again."
            )),
            _ => refused(format!(
                "The identity provider did not accept the sign-in code: `{error}`\
                 {description}. It may have expired or been used already: sign in again."
            )),
        });
    }
    match body.get("id_token").and_then(Value::as_str) {
        Some(token) if !token.is_empty() => Ok(token.to_string()),
        _ => Err(bad_gateway(format!(
            "The identity provider's token endpoint {token_url} answered without an \
             `id_token`. Make sure `openid` is among `[auth.oidc] scopes` and the client is \
             registered for OpenID Connect."
        ))),
    }
}

/// The HTTP client for the provider. Redirects are not followed: an endpoint that moved
/// is the discovery document's to say.
fn http() -> Result<&'static reqwest::Client, UiError> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .timeout(HTTP_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| error_chain(&e))
        })
        .as_ref()
        .map_err(|e| UiError::internal(format!("cannot set up an HTTP client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_documents_are_checked() {
        let doc = serde_json::json!({
            "issuer": "https://idp.example.com/",
            "authorization_endpoint": "https://idp.example.com/authorize",
            "token_endpoint": "https://idp.example.com/token",
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        });
        let endpoints = endpoints_of(&doc, "https://idp.example.com", "u").unwrap();
        assert_eq!(endpoints.token.as_str(), "https://idp.example.com/token");
        assert!(!endpoints.secret_in_body);
        let wrong_issuer = endpoints_of(&doc, "https://other.example.com", "u").unwrap_err();
        assert_eq!(wrong_issuer.status, StatusCode::BAD_GATEWAY);
        let no_token = serde_json::json!({"authorization_endpoint": "https://i/a"});
        let error = endpoints_of(&no_token, "https://i", "u").unwrap_err();
        assert!(
            error.detail.contains("`token_endpoint`"),
            "{}",
            error.detail
        );
    }
}
