//! Single sign-on through OpenID Connect: verifies a bearer JWT issued by the platform's
//! identity provider and turns it into a Weir user (name, email, and the team roles that
//! `[auth.oidc].role_mappings` grant, see [`weir_core::access::sso`]).
//!
//! A token is accepted only when its signature verifies against a key the provider publishes
//! (its JWKS), its `iss` is the configured issuer, its `aud` names one of the configured
//! audiences and it is within its lifetime (`exp` required, `nbf` honoured, both with the
//! configured leeway). Only asymmetric algorithms are accepted, and only the one that fits
//! the key: `none` and HMAC (`HS*`) are refused outright, because with a public key as the
//! "secret" anyone could forge an HMAC token (key confusion).
//!
//! The provider's keys are fetched lazily (no network when the server starts, so a provider
//! outage does not stop Weir from starting) and cached for [`KEY_CACHE_TTL`]. A token signed
//! with a key not in the cache triggers one refetch, at most once per
//! [`MIN_REFETCH_INTERVAL`]: key rotation works without a restart, but a client sending
//! tokens with made-up key ids cannot make Weir hammer the provider.
//!
//! Errors say what is wrong and what to do; they never contain the token. An error is either
//! the token's fault (the caller gets a 401) or the provider's (unreachable: a 503), see
//! [`OidcError::is_token_problem`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tokio::sync::Mutex;
use weir_core::access::sso::{self, Grants, OidcSettings};

/// How long fetched provider keys are used before they are fetched again.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(10 * 60);
/// The shortest time between two fetches of the provider's keys (a failed fetch counts).
pub const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// Timeout of each request to the provider, so a hung provider cannot hold requests forever.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// jsonwebtoken computes `now - leeway` in unsigned arithmetic, so an absurd leeway would
/// overflow; a day is already far beyond any real clock skew.
const MAX_LEEWAY_SECONDS: u64 = 24 * 60 * 60;
/// User names end up in the audit trail and in URLs; longer ones are surely not names.
const MAX_USERNAME_LEN: usize = 255;

/// The user a verified token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoIdentity {
    /// From `username_claim`, or `sub` when the token has no such claim.
    pub username: String,
    /// From `email_claim`, when the token has it as a string.
    pub email: Option<String>,
    /// What the role mappings grant for this token's claims.
    pub grants: Grants,
    /// The token's `exp`: the identity is not to be trusted past this instant.
    pub expires_at: DateTime<Utc>,
}

/// Why a bearer token was not accepted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OidcError {
    #[error(
        "the bearer token is not a well-formed JWT ({reason}); send the token exactly as the identity provider issued it"
    )]
    Malformed { reason: String },
    #[error(
        "the token is signed with `{alg}`, which Weir never accepts: only asymmetric signatures (RS256/384/512, PS256/384/512, ES256/384, EdDSA) made with a key the identity provider publishes are trusted"
    )]
    ForbiddenAlgorithm { alg: String },
    #[error(
        "the token is signed with `{alg}`, which Weir does not support; configure the identity provider to sign with RS256, PS256, ES256 or EdDSA"
    )]
    UnsupportedAlgorithm { alg: String },
    #[error(
        "the token's header marks extensions as critical ({names}) that Weir does not understand, so it cannot be accepted"
    )]
    UnsupportedCriticalHeader { names: String },
    #[error(
        "the token is signed with key `{kid}` which the identity provider does not publish; sign in again to get a token signed with a current key"
    )]
    UnknownKey { kid: String },
    #[error(
        "the token names no signing key (`kid`) and the identity provider publishes no key for {alg}; sign in again"
    )]
    NoMatchingKey { alg: String },
    #[error(
        "the token says it is signed with {alg}, but the identity provider's key `{kid}` is {key}; the token was not made with that key"
    )]
    KeyMismatch {
        kid: String,
        alg: String,
        key: String,
    },
    #[error(
        "the token's signature does not verify: it was altered, or not signed by the trusted identity provider"
    )]
    BadSignature,
    #[error("the token expired{}; sign in again", at_suffix(.at))]
    Expired { at: Option<DateTime<Utc>> },
    #[error(
        "the token is not valid yet{}; if it was just issued, check that this server's clock agrees with the identity provider's",
        not_before_suffix(.from)
    )]
    NotYetValid { from: Option<DateTime<Utc>> },
    #[error(
        "the token was issued by `{found}`, but this server trusts `{expected}`; `[auth.oidc].issuer` must equal the token's `iss` exactly"
    )]
    WrongIssuer { found: String, expected: String },
    #[error(
        "the token is for audience {found:?}, not this server ({expected:?}); request a token for this server's client id, or add the audience to `[auth.oidc].audience`"
    )]
    WrongAudience {
        found: Vec<String>,
        expected: Vec<String>,
    },
    #[error(
        "the token has no `{claim}` claim, which Weir requires; configure the identity provider to include it"
    )]
    MissingClaim { claim: String },
    #[error("the token's `{claim}` claim is invalid: {reason}")]
    BadClaim { claim: String, reason: String },
    #[error(
        "the token has neither a `{claim}` nor a `sub` claim to name the user; set `[auth.oidc].username_claim` to a claim the identity provider sends"
    )]
    MissingUsername { claim: String },
    #[error(
        "the user name in the token's `{claim}` claim {reason}; user names may hold only letters, digits and `._@+-` (at most 255 characters)"
    )]
    InvalidUsername { claim: String, reason: String },
    #[error("the token cannot be verified: {reason}")]
    Unverifiable { reason: String },
    #[error("cannot fetch the identity provider's keys from {url}: {reason}")]
    KeysUnavailable { url: String, reason: String },
    #[error(
        "cannot find the identity provider's keys: its discovery document {url} could not be read ({reason}); set `[auth.oidc].jwks_url` if the provider does not publish one"
    )]
    DiscoveryFailed { url: String, reason: String },
}

fn at_suffix(at: &Option<DateTime<Utc>>) -> String {
    at.map(|at| format!(" at {at}")).unwrap_or_default()
}

fn not_before_suffix(from: &Option<DateTime<Utc>>) -> String {
    from.map(|from| format!(" (not before {from})"))
        .unwrap_or_default()
}

impl OidcError {
    /// True when the token is bad (answer 401), false when the identity provider could not
    /// be reached or answered nonsense (answer 503: the caller's token may well be fine).
    pub fn is_token_problem(&self) -> bool {
        !matches!(
            self,
            OidcError::KeysUnavailable { .. } | OidcError::DiscoveryFailed { .. }
        )
    }
}

/// Whether a bearer credential is shaped like a JWT (three base64url segments whose first
/// decodes to a JSON header), to route it here rather than to Weir's own API tokens (which
/// start with `weir_` and hold no dots).
pub fn looks_like_jwt(token: &str) -> bool {
    // A refused algorithm still means "a JWT": it belongs here, to be refused clearly.
    !matches!(parse_header(token), Err(OidcError::Malformed { .. }))
}

/// Verifies the identity provider's bearer tokens. Cheap to clone: clones share the key
/// cache.
#[derive(Clone)]
pub struct OidcVerifier {
    shared: Arc<Shared>,
    cache_for: Duration,
    min_refetch_interval: Duration,
}

struct Shared {
    settings: OidcSettings,
    leeway: u64,
    /// Built once; an error (TLS set-up failed) is reported at each fetch instead of at
    /// construction, so that a server without SSO users still starts.
    http: Result<reqwest::Client, String>,
    /// A tokio mutex, held across a fetch: requests arriving meanwhile wait for that one
    /// fetch instead of starting their own.
    cache: Mutex<KeyCache>,
}

#[derive(Default)]
struct KeyCache {
    /// The last keys fetched, and when.
    keys: Option<(Arc<[ProviderKey]>, Instant)>,
    /// The last fetch attempt, successful or not (for the refetch rate limit).
    last_attempt: Option<Instant>,
    /// Why the last attempt failed, repeated while the rate limit holds.
    last_error: Option<OidcError>,
}

impl fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("issuer", &self.shared.settings.issuer)
            .field("audience", &self.shared.settings.audience)
            .finish_non_exhaustive()
    }
}

impl OidcVerifier {
    /// A verifier for `settings`. Touches no network: keys are fetched at the first token.
    pub fn new(settings: OidcSettings) -> Self {
        if settings.leeway_seconds > MAX_LEEWAY_SECONDS {
            tracing::warn!(
                leeway_seconds = settings.leeway_seconds,
                max = MAX_LEEWAY_SECONDS,
                "[auth.oidc].leeway_seconds is larger than a day; using a day"
            );
        }
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot set up an HTTP client: {}", error_chain(&e)));
        OidcVerifier {
            shared: Arc::new(Shared {
                leeway: settings.leeway_seconds.min(MAX_LEEWAY_SECONDS),
                settings,
                http,
                cache: Mutex::new(KeyCache::default()),
            }),
            cache_for: KEY_CACHE_TTL,
            min_refetch_interval: MIN_REFETCH_INTERVAL,
        }
    }

    /// The same verifier with other key-cache timings than [`KEY_CACHE_TTL`] and
    /// [`MIN_REFETCH_INTERVAL`] (tests; providers that rotate keys unusually fast).
    pub fn with_key_refresh(mut self, cache_for: Duration, min_refetch_interval: Duration) -> Self {
        self.cache_for = cache_for;
        self.min_refetch_interval = min_refetch_interval;
        self
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.shared.settings
    }

    /// Verifies a bearer JWT and maps its claims.
    pub async fn verify(&self, token: &str) -> Result<SsoIdentity, OidcError> {
        // The header first: `none`, HMAC and junk are refused before any network traffic.
        let header = parse_header(token)?;
        let mut keys = self.cached_keys().await?;
        let mut refetched = false;
        let claims = loop {
            match candidates(&keys, &header)? {
                Some(found) => break self.decode_with(token, &header, &found)?,
                None if !refetched => {
                    refetched = true;
                    match self.refetch_for_missing_key(&keys).await? {
                        Some(fresh) => keys = fresh,
                        None => return Err(missing_key_error(&header)),
                    }
                }
                None => return Err(missing_key_error(&header)),
            }
        };
        self.identity(&claims)
    }

    /// Validation of everything but the signature key: jsonwebtoken checks the algorithm
    /// (exactly the header's, already known to fit the key), `exp`, `nbf`, `iss` and `aud`.
    fn validation(&self, alg: Algorithm) -> Validation {
        let settings = &self.shared.settings;
        let mut validation = Validation::new(alg);
        validation.leeway = self.shared.leeway;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&settings.audience);
        validation
    }

    /// Checks the token with each candidate key until one verifies its signature (several
    /// candidates only when the token names no `kid`).
    fn decode_with(
        &self,
        token: &str,
        header: &TokenHeader,
        keys: &[&ProviderKey],
    ) -> Result<Value, OidcError> {
        let validation = self.validation(header.alg);
        let mut last = OidcError::BadSignature;
        for key in keys {
            match jsonwebtoken::decode::<Value>(token, &key.key, &validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {
                    last = OidcError::BadSignature;
                }
                Err(e) => return Err(self.claims_error(e.kind(), token)),
            }
        }
        Err(last)
    }

    /// Turns jsonwebtoken's terse error kinds into ours, with the details the caller needs.
    fn claims_error(&self, kind: &ErrorKind, token: &str) -> OidcError {
        let settings = &self.shared.settings;
        // jsonwebtoken validates claims only after the signature verified, so for the claim
        // errors below the payload is authentic and may be read for the message.
        let claims = || payload_claims(token).unwrap_or(Value::Null);
        match kind {
            ErrorKind::InvalidSignature => OidcError::BadSignature,
            ErrorKind::ExpiredSignature => OidcError::Expired {
                at: timestamp(claims().get("exp")),
            },
            ErrorKind::ImmatureSignature => OidcError::NotYetValid {
                from: timestamp(claims().get("nbf")),
            },
            ErrorKind::InvalidIssuer => OidcError::WrongIssuer {
                found: describe_value(claims().get("iss")),
                expected: settings.issuer.clone(),
            },
            ErrorKind::InvalidAudience => OidcError::WrongAudience {
                found: string_list(claims().get("aud")),
                expected: settings.audience.clone(),
            },
            ErrorKind::MissingRequiredClaim(claim) => OidcError::MissingClaim {
                claim: claim.clone(),
            },
            ErrorKind::InvalidClaimFormat(claim) => OidcError::BadClaim {
                claim: claim.clone(),
                reason: "it is not a number of seconds since 1970".into(),
            },
            ErrorKind::InvalidToken
            | ErrorKind::Base64(_)
            | ErrorKind::Json(_)
            | ErrorKind::Utf8(_) => OidcError::Malformed {
                reason: format!("{kind:?}"),
            },
            other => OidcError::Unverifiable {
                reason: format!("{other:?}"),
            },
        }
    }

    /// The identity named by verified claims.
    fn identity(&self, claims: &Value) -> Result<SsoIdentity, OidcError> {
        let settings = &self.shared.settings;
        // jsonwebtoken accepts an `iss` list sharing one member with the trusted issuers;
        // OpenID Connect says `iss` is one string, equal to the issuer.
        match claims.get("iss") {
            Some(Value::String(iss)) if *iss == settings.issuer => {}
            other => {
                return Err(OidcError::WrongIssuer {
                    found: describe_value(other),
                    expected: settings.issuer.clone(),
                });
            }
        }
        let expires_at = timestamp(claims.get("exp")).ok_or_else(|| OidcError::BadClaim {
            claim: "exp".into(),
            reason: "it is not a time Weir can represent".into(),
        })?;
        let username = username(settings, claims)?;
        let email = claims
            .get(&settings.email_claim)
            .and_then(Value::as_str)
            .filter(|email| !email.is_empty())
            .map(str::to_owned);
        Ok(SsoIdentity {
            username,
            email,
            grants: sso::grants(settings, claims),
            expires_at,
        })
    }

    /// The provider's keys: the cached ones while fresh, else fetched (at most once per
    /// refetch interval; while the provider is down, stale keys are better than none).
    async fn cached_keys(&self) -> Result<Arc<[ProviderKey]>, OidcError> {
        let mut cache = self.shared.cache.lock().await;
        if let Some((keys, at)) = &cache.keys
            && at.elapsed() < self.cache_for
        {
            return Ok(keys.clone());
        }
        if self.too_soon(&cache) {
            return match (&cache.keys, &cache.last_error) {
                (Some((keys, _)), _) => Ok(keys.clone()),
                (None, Some(error)) => Err(error.clone()),
                // An attempt without keys and without an error cannot be recorded; fetch.
                (None, None) => self.fetch_into(&mut cache).await,
            };
        }
        match self.fetch_into(&mut cache).await {
            Ok(keys) => Ok(keys),
            Err(error) => match &cache.keys {
                Some((stale, _)) => {
                    tracing::warn!(%error, "using the identity provider's previous keys");
                    Ok(stale.clone())
                }
                None => Err(error),
            },
        }
    }

    /// A fetch because a token names a key we do not have: `Some(keys)` if fetched (or
    /// fetched by someone else since `seen`), `None` when the rate limit forbids it.
    async fn refetch_for_missing_key(
        &self,
        seen: &Arc<[ProviderKey]>,
    ) -> Result<Option<Arc<[ProviderKey]>>, OidcError> {
        let mut cache = self.shared.cache.lock().await;
        if let Some((keys, _)) = &cache.keys
            && !Arc::ptr_eq(keys, seen)
        {
            return Ok(Some(keys.clone()));
        }
        if self.too_soon(&cache) {
            return Ok(None);
        }
        self.fetch_into(&mut cache).await.map(Some)
    }

    fn too_soon(&self, cache: &KeyCache) -> bool {
        cache
            .last_attempt
            .is_some_and(|at| at.elapsed() < self.min_refetch_interval)
    }

    async fn fetch_into(&self, cache: &mut KeyCache) -> Result<Arc<[ProviderKey]>, OidcError> {
        cache.last_attempt = Some(Instant::now());
        match self.fetch_keys().await {
            Ok(keys) => {
                let keys: Arc<[ProviderKey]> = keys.into();
                cache.keys = Some((keys.clone(), Instant::now()));
                cache.last_error = None;
                Ok(keys)
            }
            Err(error) => {
                tracing::warn!(%error, "cannot refresh the identity provider's keys");
                cache.last_error = Some(error.clone());
                Err(error)
            }
        }
    }

    async fn fetch_keys(&self) -> Result<Vec<ProviderKey>, OidcError> {
        let settings = &self.shared.settings;
        let url = match &settings.jwks_url {
            Some(url) => url.clone(),
            None => self.discover_jwks_url().await?,
        };
        let document = self
            .get_json(&url)
            .await
            .map_err(|reason| OidcError::KeysUnavailable {
                url: url.clone(),
                reason,
            })?;
        let keys = parse_jwks(&document).map_err(|reason| OidcError::KeysUnavailable {
            url: url.clone(),
            reason,
        })?;
        tracing::info!(
            url,
            keys = keys.len(),
            "fetched the identity provider's keys"
        );
        Ok(keys)
    }

    /// `jwks_uri` from the issuer's discovery document. Looked up at each fetch (rare), so a
    /// provider moving its keys is followed.
    async fn discover_jwks_url(&self) -> Result<String, OidcError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.shared.settings.issuer.trim_end_matches('/')
        );
        let failed = |reason: String| OidcError::DiscoveryFailed {
            url: url.clone(),
            reason,
        };
        let document = self.get_json(&url).await.map_err(failed)?;
        match document.get("jwks_uri").and_then(Value::as_str) {
            Some(jwks) if !jwks.is_empty() => Ok(jwks.to_owned()),
            _ => Err(failed("it has no `jwks_uri`".into())),
        }
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let client = self.shared.http.as_ref().map_err(Clone::clone)?;
        let response = client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| error_chain(&e.without_url()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("the server answered {status}"));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| error_chain(&e.without_url()))?;
        serde_json::from_slice(&body).map_err(|e| format!("the answer is not JSON ({e})"))
    }
}

/// What Weir reads from a token's header before trusting anything in it.
#[derive(Debug)]
struct TokenHeader {
    /// As written in the token (for messages).
    alg_name: String,
    alg: Algorithm,
    kid: Option<String>,
}

/// Reads the header by hand rather than with `jsonwebtoken::decode_header`: that one fails
/// on `alg: none` with a JSON error, and `none` deserves a clear refusal.
fn parse_header(token: &str) -> Result<TokenHeader, OidcError> {
    let malformed = |reason: &str| OidcError::Malformed {
        reason: reason.to_owned(),
    };
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("it does not have three dot-separated parts"));
    };
    // An empty signature is let through here so that `alg: none` gets its own message.
    if header.is_empty() || payload.is_empty() {
        return Err(malformed("its header or payload is empty"));
    }
    if ![header, payload, signature]
        .iter()
        .all(|part| is_base64url(part))
    {
        return Err(malformed("it holds characters outside base64url"));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| malformed("its header is not base64url"))?;
    let json: Value =
        serde_json::from_slice(&bytes).map_err(|_| malformed("its header is not JSON"))?;
    let Value::Object(fields) = json else {
        return Err(malformed("its header is not a JSON object"));
    };
    let alg_name = match fields.get("alg") {
        Some(Value::String(alg)) => alg.clone(),
        _ => return Err(malformed("its header has no `alg`")),
    };
    let kid = match fields.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(malformed("its header's `kid` is not a string")),
    };
    let alg = accepted_algorithm(&alg_name)?;
    // RFC 7515: a recipient that does not understand a critical extension must refuse.
    if let Some(crit) = fields.get("crit") {
        let names = match crit {
            Value::Array(items) => items
                .iter()
                .map(|item| describe_value(Some(item)))
                .collect::<Vec<_>>()
                .join(", "),
            other => describe_value(Some(other)),
        };
        return Err(OidcError::UnsupportedCriticalHeader { names });
    }
    Ok(TokenHeader { alg_name, alg, kid })
}

fn is_base64url(part: &str) -> bool {
    part.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn accepted_algorithm(name: &str) -> Result<Algorithm, OidcError> {
    Ok(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        // Any spelling of `none` and every HMAC: unsigned, or "signed" with a secret that an
        // attacker may know (the provider's public key, in the key-confusion attack).
        _ if name.eq_ignore_ascii_case("none") || name.to_ascii_uppercase().starts_with("HS") => {
            return Err(OidcError::ForbiddenAlgorithm {
                alg: name.to_owned(),
            });
        }
        _ => {
            return Err(OidcError::UnsupportedAlgorithm {
                alg: name.to_owned(),
            });
        }
    })
}

/// The kinds of public key Weir verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyType {
    fn for_algorithm(alg: Algorithm) -> Option<KeyType> {
        match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => Some(KeyType::Rsa),
            Algorithm::ES256 => Some(KeyType::P256),
            Algorithm::ES384 => Some(KeyType::P384),
            Algorithm::EdDSA => Some(KeyType::Ed25519),
            // HMAC, and whatever jsonwebtoken may add: no provider key verifies those here.
            _ => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            KeyType::Rsa => "an RSA key",
            KeyType::P256 => "an EC P-256 key",
            KeyType::P384 => "an EC P-384 key",
            KeyType::Ed25519 => "an Ed25519 key",
        }
    }
}

/// One signing key the provider publishes, ready to verify with.
struct ProviderKey {
    kid: Option<String>,
    key_type: KeyType,
    /// The JWK's `alg`, when it pins the key to one algorithm.
    alg: Option<String>,
    key: DecodingKey,
}

impl ProviderKey {
    /// Whether this key may check a signature made with `alg`: the key type must fit, and
    /// the JWK's own `alg`, if any, must be the same.
    fn fits(&self, header: &TokenHeader) -> bool {
        KeyType::for_algorithm(header.alg) == Some(self.key_type)
            && self.alg.as_deref().is_none_or(|alg| alg == header.alg_name)
    }

    fn describe(&self) -> String {
        match &self.alg {
            Some(alg) => format!("{} for {alg}", self.key_type.describe()),
            None => self.key_type.describe().to_owned(),
        }
    }
}

/// The keys to check the token with; `None` when the key it needs is not among `keys`.
fn candidates<'k>(
    keys: &'k [ProviderKey],
    header: &TokenHeader,
) -> Result<Option<Vec<&'k ProviderKey>>, OidcError> {
    match &header.kid {
        Some(kid) => {
            let named: Vec<&ProviderKey> = keys
                .iter()
                .filter(|key| key.kid.as_deref() == Some(kid.as_str()))
                .collect();
            let Some(first) = named.first() else {
                return Ok(None);
            };
            let fitting: Vec<&ProviderKey> = named
                .iter()
                .copied()
                .filter(|key| key.fits(header))
                .collect();
            if fitting.is_empty() {
                return Err(OidcError::KeyMismatch {
                    kid: kid.clone(),
                    alg: header.alg_name.clone(),
                    key: first.describe(),
                });
            }
            Ok(Some(fitting))
        }
        None => {
            let fitting: Vec<&ProviderKey> = keys.iter().filter(|key| key.fits(header)).collect();
            Ok((!fitting.is_empty()).then_some(fitting))
        }
    }
}

fn missing_key_error(header: &TokenHeader) -> OidcError {
    match &header.kid {
        Some(kid) => OidcError::UnknownKey { kid: kid.clone() },
        None => OidcError::NoMatchingKey {
            alg: header.alg_name.clone(),
        },
    }
}

/// The usable signing keys of a JWKS document. Keys Weir cannot use (encryption keys,
/// symmetric keys, other curves, broken entries) are skipped rather than failing the set:
/// providers publish such keys next to the ones that sign tokens.
fn parse_jwks(document: &Value) -> Result<Vec<ProviderKey>, String> {
    let Some(entries) = document.get("keys").and_then(Value::as_array) else {
        return Err("the answer is not a JWK set (no `keys` list)".into());
    };
    let keys: Vec<ProviderKey> = entries.iter().filter_map(provider_key).collect();
    if keys.is_empty() {
        return Err(format!(
            "none of its {} keys is a signing key Weir can use (RSA, EC P-256/P-384, Ed25519)",
            entries.len()
        ));
    }
    Ok(keys)
}

fn provider_key(entry: &Value) -> Option<ProviderKey> {
    let text = |name: &str| entry.get(name).and_then(Value::as_str).map(str::to_owned);
    if text("use").is_some_and(|usage| usage != "sig") {
        return None;
    }
    let jwk: Jwk = match serde_json::from_value(entry.clone()) {
        Ok(jwk) => jwk,
        Err(e) => {
            tracing::debug!(kid = ?text("kid"), error = %e, "skipping a JWK Weir cannot read");
            return None;
        }
    };
    let key_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => KeyType::Rsa,
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => KeyType::P256,
            EllipticCurve::P384 => KeyType::P384,
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(okp) => match okp.curve {
            EllipticCurve::Ed25519 => KeyType::Ed25519,
            _ => return None,
        },
        // Symmetric keys never verify a token here (HMAC is refused), nor do unknown types.
        _ => return None,
    };
    let key = match DecodingKey::from_jwk(&jwk) {
        Ok(key) => key,
        Err(e) => {
            tracing::debug!(kid = ?text("kid"), error = %e, "skipping a JWK Weir cannot use");
            return None;
        }
    };
    Some(ProviderKey {
        kid: text("kid"),
        key_type,
        alg: text("alg"),
        key,
    })
}

/// The user name: `username_claim`, or `sub` when the token has no such claim.
fn username(settings: &OidcSettings, claims: &Value) -> Result<String, OidcError> {
    let (claim, value) = match claims.get(&settings.username_claim) {
        None | Some(Value::Null) => match claims.get("sub") {
            None | Some(Value::Null) => {
                return Err(OidcError::MissingUsername {
                    claim: settings.username_claim.clone(),
                });
            }
            Some(sub) => ("sub", sub),
        },
        Some(value) => (settings.username_claim.as_str(), value),
    };
    let invalid = |reason: String| OidcError::InvalidUsername {
        claim: claim.to_owned(),
        reason,
    };
    let Value::String(name) = value else {
        return Err(invalid("is not a string".into()));
    };
    if name.is_empty() {
        return Err(invalid("is empty".into()));
    }
    if name.len() > MAX_USERNAME_LEN {
        return Err(invalid(format!("is {} characters long", name.len())));
    }
    // These names identify users in the audit trail: no spaces, quotes or control
    // characters that could make one entry read like another.
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '+' | '-'))
    {
        return Err(invalid(format!("({name:?}) has other characters")));
    }
    Ok(name.clone())
}

/// The payload's claims without any check; only for messages about an already verified token.
fn payload_claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A NumericDate claim (seconds since 1970, possibly fractional) as a time.
fn timestamp(value: Option<&Value>) -> Option<DateTime<Utc>> {
    let value = value?;
    let seconds = match value.as_i64() {
        Some(seconds) => seconds,
        None => {
            let seconds = value.as_f64()?;
            if !seconds.is_finite() || seconds.abs() > 1e15 {
                return None;
            }
            // Truncation intended: claims count whole seconds.
            seconds.trunc() as i64
        }
    };
    DateTime::from_timestamp(seconds, 0)
}

/// A claim for a message: strings as they are, anything else as JSON.
fn describe_value(value: Option<&Value>) -> String {
    match value {
        None => "(nobody: the token has no `iss`)".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// `aud` is one string or a list of them.
fn string_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| describe_value(Some(item)))
            .collect(),
        Some(other) => vec![other.to_string()],
        None => Vec::new(),
    }
}

/// An error with its causes, e.g. "error sending request: tcp connect error: Connection
/// refused"; reqwest's own message alone says too little to act on.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_checks_refuse_none_and_hmac_before_anything_else() {
        let encode = |header: &str| format!("{}.e30.", URL_SAFE_NO_PAD.encode(header));
        for alg in ["none", "None", "NONE", "HS256", "HS512", "hs384"] {
            let token = encode(&format!(r#"{{"alg":"{alg}"}}"#));
            assert!(
                matches!(
                    parse_header(&token),
                    Err(OidcError::ForbiddenAlgorithm { .. })
                ),
                "{alg}"
            );
            assert!(looks_like_jwt(&token), "{alg}");
        }
        let es512 = encode(r#"{"alg":"ES512"}"#);
        assert!(matches!(
            parse_header(&es512),
            Err(OidcError::UnsupportedAlgorithm { .. })
        ));
        let crit = encode(r#"{"alg":"RS256","crit":["b64"],"b64":false}"#);
        assert!(matches!(
            parse_header(&crit),
            Err(OidcError::UnsupportedCriticalHeader { .. })
        ));
    }

    #[test]
    fn jwt_shape_is_told_apart_from_weir_tokens() {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"k1"}"#);
        assert!(looks_like_jwt(&format!("{header}.e30.c2ln")));
        assert!(!looks_like_jwt("weir_0123456789abcdef"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a.b.c.d"));
        assert!(!looks_like_jwt(&format!("{header}.e30.c2ln=")));
        assert!(!looks_like_jwt("bm90IGpzb24.e30.c2ln"));
        assert!(!looks_like_jwt(".e30.c2ln"));
    }

    #[test]
    fn user_names_are_checked() {
        let settings: OidcSettings = serde_json::from_value(serde_json::json!({
            "issuer": "https://idp.example", "audience": ["weir"]
        }))
        .unwrap();
        let name = |claims: Value| username(&settings, &claims);
        assert_eq!(
            name(serde_json::json!({"preferred_username": "a.b+c@x-y_z", "sub": "1"})).unwrap(),
            "a.b+c@x-y_z"
        );
        assert_eq!(name(serde_json::json!({"sub": "abc"})).unwrap(), "abc");
        assert!(matches!(
            name(serde_json::json!({"preferred_username": "a b", "sub": "1"})),
            Err(OidcError::InvalidUsername { .. })
        ));
        assert!(matches!(
            name(serde_json::json!({"preferred_username": "", "sub": "1"})),
            Err(OidcError::InvalidUsername { .. })
        ));
        assert!(matches!(
            name(serde_json::json!({"preferred_username": 7})),
            Err(OidcError::InvalidUsername { .. })
        ));
        assert!(matches!(
            name(serde_json::json!({})),
            Err(OidcError::MissingUsername { .. })
        ));
    }

    #[test]
    fn provider_is_only_blamed_for_fetch_failures() {
        let down = OidcError::KeysUnavailable {
            url: "u".into(),
            reason: "r".into(),
        };
        assert!(!down.is_token_problem());
        assert!(OidcError::BadSignature.is_token_problem());
        assert!(OidcError::Expired { at: None }.is_token_problem());
    }
}
