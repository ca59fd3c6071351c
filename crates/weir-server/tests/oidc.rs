//! OIDC bearer-token verification against an identity provider played by the test: an axum
//! server publishing a discovery document and a JWKS (changeable, for key rotation), and
//! tokens really signed with RSA and EC keys generated here.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RsaKeyPair};
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use weir_core::access::TeamRole;
use weir_core::access::sso::{MappedRole, OidcSettings, RoleMapping};
use weir_server::auth::oidc::{OidcError, OidcVerifier, SsoIdentity, looks_like_jwt};

const AUDIENCE: &str = "weir";

// ---------------------------------------------------------------- the identity provider

#[derive(Clone)]
struct Provider {
    issuer: String,
    jwks: Arc<RwLock<Vec<Value>>>,
    jwks_hits: Arc<AtomicUsize>,
    discovery_hits: Arc<AtomicUsize>,
}

impl Provider {
    async fn start(keys: Vec<Value>) -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        let provider = Provider {
            issuer: format!("http://{address}"),
            jwks: Arc::new(RwLock::new(keys)),
            jwks_hits: Arc::default(),
            discovery_hits: Arc::default(),
        };
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks.json", get(jwks))
            .with_state(provider.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        provider
    }

    fn jwks_url(&self) -> String {
        format!("{}/jwks.json", self.issuer)
    }

    fn publish(&self, keys: Vec<Value>) {
        *self.jwks.write().unwrap() = keys;
    }

    fn jwks_hits(&self) -> usize {
        self.jwks_hits.load(Ordering::SeqCst)
    }

    fn discovery_hits(&self) -> usize {
        self.discovery_hits.load(Ordering::SeqCst)
    }

    /// Settings trusting this provider (through discovery), with no leeway.
    fn settings(&self) -> OidcSettings {
        OidcSettings {
            issuer: self.issuer.clone(),
            audience: vec![AUDIENCE.into()],
            jwks_url: None,
            leeway_seconds: 0,
            username_claim: "preferred_username".into(),
            email_claim: "email".into(),
            groups_claim: "groups".into(),
            role_mappings: Vec::new(),
            token_revalidate_after: weir_core::spec::model::HumanDuration(
                weir_core::access::sso::DEFAULT_TOKEN_REVALIDATE_AFTER,
            ),
            client_id: None,
            client_secret_env: None,
            scopes: None,
            redirect_url: None,
        }
    }

    fn verifier(&self) -> OidcVerifier {
        OidcVerifier::new(self.settings())
    }

    /// Claims of a good token for alice, valid for ten minutes.
    fn claims(&self) -> Value {
        let now = now();
        json!({
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": "00u1a2b3c",
            "preferred_username": "alice",
            "email": "alice@example.com",
            "iat": now,
            "exp": now + 600,
        })
    }
}

async fn discovery(State(provider): State<Provider>) -> Json<Value> {
    provider.discovery_hits.fetch_add(1, Ordering::SeqCst);
    Json(json!({
        "issuer": provider.issuer,
        "jwks_uri": provider.jwks_url(),
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    }))
}

async fn jwks(State(provider): State<Provider>) -> Json<Value> {
    provider.jwks_hits.fetch_add(1, Ordering::SeqCst);
    let keys = provider.jwks.read().unwrap().clone();
    Json(json!({ "keys": keys }))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

// ---------------------------------------------------------------- keys and tokens

/// A signing key: what the provider publishes (`jwk`) and what signs (`encoding`).
struct SigningKey {
    kid: String,
    alg: Algorithm,
    jwk: Value,
    encoding: EncodingKey,
}

impl SigningKey {
    fn rsa(kid: &str) -> SigningKey {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let public = pair.public_key();
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": b64(public.modulus().big_endian_without_leading_zero()),
            "e": b64(public.exponent().big_endian_without_leading_zero()),
        });
        // jsonwebtoken signs RSA with an RFC 8017 (PKCS#1) key; aws-lc-rs exports PKCS#8.
        let pkcs8 =
            aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).unwrap();
        let encoding = EncodingKey::from_rsa_der(&pkcs1_from_pkcs8(pkcs8.as_ref()));
        SigningKey {
            kid: kid.into(),
            alg: Algorithm::RS256,
            jwk,
            encoding,
        }
    }

    fn ec(kid: &str) -> SigningKey {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        // The uncompressed point: 0x04, then x and y of 32 bytes each.
        let point = pair.public_key().as_ref();
        assert_eq!(point.len(), 65);
        let jwk = json!({
            "kty": "EC",
            "use": "sig",
            "crv": "P-256",
            "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        });
        let pkcs8 = pair.to_pkcs8v1().unwrap();
        SigningKey {
            kid: kid.into(),
            alg: Algorithm::ES256,
            jwk,
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }

    fn sign_without_kid(&self, claims: &Value) -> String {
        jsonwebtoken::encode(&Header::new(self.alg), claims, &self.encoding).unwrap()
    }
}

/// The RSAPrivateKey inside a PKCS#8 PrivateKeyInfo
/// (SEQUENCE { version, AlgorithmIdentifier, OCTET STRING { RSAPrivateKey } }).
fn pkcs1_from_pkcs8(pkcs8: &[u8]) -> Vec<u8> {
    let (tag, info, _) = der(pkcs8);
    assert_eq!(tag, 0x30);
    let (_, _, rest) = der(info); // version
    let (_, _, rest) = der(rest); // algorithm
    let (tag, key, _) = der(rest);
    assert_eq!(tag, 0x04);
    key.to_vec()
}

/// One DER element: (tag, contents, what follows).
fn der(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = input[0];
    let (len, header) = match input[1] {
        short if short < 0x80 => (usize::from(short), 2),
        long => {
            let count = usize::from(long & 0x7f);
            let len = input[2..2 + count]
                .iter()
                .fold(0usize, |len, byte| (len << 8) | usize::from(*byte));
            (len, 2 + count)
        }
    };
    (tag, &input[header..header + len], &input[header + len..])
}

fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

async fn accept(verifier: &OidcVerifier, token: &str) -> SsoIdentity {
    match verifier.verify(token).await {
        Ok(identity) => identity,
        Err(e) => panic!("token refused: {e}"),
    }
}

/// The error, after checking that its message does not leak the token.
async fn refuse(verifier: &OidcVerifier, token: &str) -> OidcError {
    let error = verifier
        .verify(token)
        .await
        .expect_err("the token was accepted");
    let message = error.to_string();
    for part in token.split('.').filter(|part| part.len() > 8) {
        assert!(
            !message.contains(part),
            "the message leaks the token: {message}"
        );
    }
    error
}

// ---------------------------------------------------------------- the cases

#[test]
fn verifier_can_be_shared_between_tasks() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<OidcVerifier>();
}

#[tokio::test]
async fn valid_rs256_token_through_discovery() {
    let key = SigningKey::rsa("rsa-1");
    let provider = Provider::start(vec![key.jwk.clone()]).await;
    let verifier = provider.verifier();
    assert_eq!(provider.jwks_hits(), 0, "no network at construction");

    let claims = provider.claims();
    let token = key.sign(&claims);
    assert!(looks_like_jwt(&token));
    let identity = accept(&verifier, &token).await;
    assert_eq!(identity.username, "alice");
    assert_eq!(identity.email.as_deref(), Some("alice@example.com"));
    assert_eq!(
        identity.expires_at.timestamp(),
        claims["exp"].as_i64().unwrap()
    );
    assert!(!identity.grants.platform_admin);
    assert!(identity.grants.teams.is_empty());
    assert_eq!((provider.discovery_hits(), provider.jwks_hits()), (1, 1));

    // An audience list naming this server among others is fine; keys come from the cache.
    let mut claims = provider.claims();
    claims["aud"] = json!(["other-app", AUDIENCE]);
    accept(&verifier, &key.sign(&claims)).await;
    assert_eq!((provider.discovery_hits(), provider.jwks_hits()), (1, 1));
}

#[tokio::test]
async fn valid_es256_token_with_an_explicit_jwks_url() {
    let rsa = SigningKey::rsa("rsa-1");
    let ec = SigningKey::ec("ec-1");
    let provider = Provider::start(vec![rsa.jwk.clone(), ec.jwk.clone()]).await;
    let mut settings = provider.settings();
    settings.jwks_url = Some(provider.jwks_url());
    let verifier = OidcVerifier::new(settings);

    let identity = accept(&verifier, &ec.sign(&provider.claims())).await;
    assert_eq!(identity.username, "alice");
    // Without `kid`, the keys of the token's type are tried.
    accept(&verifier, &ec.sign_without_kid(&provider.claims())).await;
    accept(&verifier, &rsa.sign_without_kid(&provider.claims())).await;
    assert_eq!((provider.discovery_hits(), provider.jwks_hits()), (0, 1));
}

#[tokio::test]
async fn algorithm_must_fit_the_named_key() {
    let rsa = SigningKey::rsa("rsa-1");
    let ec = SigningKey::ec("ec-1");
    let provider = Provider::start(vec![rsa.jwk.clone(), ec.jwk.clone()]).await;
    let verifier = provider.verifier();

    // Signed with the EC key but claiming the RSA key's id.
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("rsa-1".into());
    let token = jsonwebtoken::encode(&header, &provider.claims(), &ec.encoding).unwrap();
    let error = refuse(&verifier, &token).await;
    assert!(matches!(error, OidcError::KeyMismatch { .. }), "{error:?}");
    assert!(error.to_string().contains("an RSA key"), "{error}");
    assert!(error.is_token_problem());
}

#[tokio::test]
async fn expired_token_is_refused() {
    let key = SigningKey::rsa("rsa-1");
    let provider = Provider::start(vec![key.jwk.clone()]).await;
    let mut settings = provider.settings();
    settings.leeway_seconds = 60;
    let verifier = OidcVerifier::new(settings);

    let mut claims = provider.claims();
    let exp = now() - 120;
    claims["exp"] = json!(exp);
    let error = refuse(&verifier, &key.sign(&claims)).await;
    let expected_at = chrono::DateTime::from_timestamp(exp, 0).unwrap();
    assert!(
        matches!(error, OidcError::Expired { at: Some(at) } if at == expected_at),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&format!("expired at {expected_at}")),
        "{message}"
    );
    assert!(message.contains("sign in again"), "{message}");
    assert!(error.is_token_problem());
}

#[tokio::test]
async fn expired_token_within_the_leeway_is_accepted() {
    let key = SigningKey::rsa("rsa-1");
    let provider = Provider::start(vec![key.jwk.clone()]).await;
    let mut settings = provider.settings();
    settings.leeway_seconds = 60;
    let verifier = OidcVerifier::new(settings);

    let mut claims = provider.claims();
    claims["exp"] = json!(now() - 20);
    accept(&verifier, &key.sign(&claims)).await;
}

#[tokio::test]
async fn token_without_exp_is_refused() {
    let key = SigningKey::rsa("rsa-1");
    let provider = Provider::start(vec![key.jwk.clone()]).await;
    let mut claims = provider.claims();
    claims.as_object_mut().unwrap().remove("exp");
    let error = refuse(&provider.verifier(), &key.sign(&claims)).await;
    assert!(
        matches!(&error, OidcError::MissingClaim { claim } if claim == "exp"),
        "{error:?}"
    );
}

#[tokio::test]
async fn token_not_valid_yet_is_refused() {
    let key = SigningKey::rsa("rsa-1");
    let provider = Provider::start(vec![key.jwk.clone()]).await;
    let mut claims = provider.claims();
    let nbf = now() + 300;
    claims["nbf"] = json!(nbf);
    claims["exp"] = json!(nbf + 600);
    let error = refuse(&provider.verifier(), &key.sign(&claims)).await;
    let expected = chrono::DateTime::from_timestamp(nbf, 0).unwrap();
    assert!(
        matches!(error, OidcError::NotYetValid { from: Some(from) } if from == expected),
        "{error:?}"
    );
    assert!(error.to_string().contains("clock"), "{error}");

    // An `nbf` in the past is fine.
    let mut claims = provider.claims();
    claims["nbf"] = json!(now() - 10);
    accept(&provider.verifier(), &key.sign(&claims)).await;
}

#[tokio::test]
async fn token_from_another_issuer_is_refused() {
    let key = SigningKey::rsa("rsa-1");
    let provider = Provider::start(vec![key.jwk.clone()]).await;
    let mut claims = provider.claims();
    claims["iss"] = json!("https://evil.example");
    let error = refuse(&provider.verifier(), &key.sign(&claims)).await;
    assert!(matches!(error, OidcError::WrongIssuer { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "the token was issued by `https://evil.example`, but this server trusts `{}`; \
             `[auth.oidc].issuer` must equal the token's `iss` exactly",
            provider.issuer
        )
    );

    // A list holding the right issuer is not an issuer.
    let mut claims = provider.claims();
    claims["iss"] = json!([provider.issuer, "https://evil.example"]);
    let error = refuse(&provider.verifier(), &key.sign(&claims)).await;
    assert!(matches!(error, OidcError::WrongIssuer { .. }), "{error:?}");

    let mut claims = provider.claims();
    claims.as_object_mut().unwrap().remove("iss");
    let error = refuse(&provider.verifier(), &key.sign(&claims)).await;
    assert!(
        matches!(&error, OidcError::MissingClaim { claim } if claim == "iss"),
        "{error:?}"
    );
}

#[tokio::test]
async fn token_for_another_audience_is_refused() {
    let key = SigningKey::rsa("rsa-1");
    let provider = Provider::start(vec![key.jwk.clone()]).await;
    let mut claims = provider.claims();
    claims["aud"] = json!(["other-app", "third-app"]);
    let error = refuse(&provider.verifier(), &key.sign(&claims)).await;
    match &error {
        OidcError::WrongAudience { found, expected } => {
            assert_eq!(found, &["other-app", "third-app"]);
            assert_eq!(expected, &[AUDIENCE]);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        error.to_string().starts_with(
            r#"the token is for audience ["other-app", "third-app"], not this server (["weir"])"#
        ),
        "{error}"
    );

    let mut claims = provider.claims();
    claims.as_object_mut().unwrap().remove("aud");
    let error = refuse(&provider.verifier(), &key.sign(&claims)).await;
    assert!(
        matches!(&error, OidcError::MissingClaim { claim } if claim == "aud"),
        "{error:?}"
    );
}

#[tokio::test]
async fn tampered_payload_is_refused() {
    let key = SigningKey::rsa("rsa-1");
    let provider = Provider::start(vec![key.jwk.clone()]).await;
    let verifier = provider.verifier();

    let honest = key.sign(&provider.claims());
    let mut claims = provider.claims();
    claims["preferred_username"] = json!("admin");
    claims["groups"] = json!(["platform-admins"]);
    let other = key.sign(&claims);
    // alice's header and signature around another (validly signed) payload.
    let parts: Vec<&str> = honest.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        other.split('.').nth(1).unwrap(),
        parts[2]
    );
    let error = refuse(&verifier, &forged).await;
    assert!(matches!(error, OidcError::BadSignature), "{error:?}");
    assert_eq!(
        error.to_string(),
        "the token's signature does not verify: it was altered, or not signed by the trusted \
         identity provider"
    );

    // A payload edited by hand, too.
    let forged = format!("{}.{}.{}", parts[0], b64_json(&claims), parts[2]);
    let error = refuse(&verifier, &forged).await;
    assert!(matches!(error, OidcError::BadSignature), "{error:?}");
}

#[tokio::test]
async fn token_signed_by_an_unpublished_key_is_refused() {
    let key = SigningKey::rsa("rsa-1");
    let provider = Provider::start(vec![key.jwk.clone()]).await;
    let verifier = provider.verifier();

    let rogue = SigningKey::rsa("rogue-1");
    let error = refuse(&verifier, &rogue.sign(&provider.claims())).await;
    assert!(
        matches!(&error, OidcError::UnknownKey { kid } if kid == "rogue-1"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "the token is signed with key `rogue-1` which the identity provider does not publish; \
         sign in again to get a token signed with a current key"
    );
    assert!(error.is_token_problem());

    // The rogue key passing itself off as the published one.
    let impostor = SigningKey {
        kid: "rsa-1".into(),
        ..rogue
    };
    let error = refuse(&verifier, &impostor.sign(&provider.claims())).await;
    assert!(matches!(error, OidcError::BadSignature), "{error:?}");
    // And without a `kid`, every RSA key is tried, none verifies.
    let error = refuse(&verifier, &impostor.sign_without_kid(&provider.claims())).await;
    assert!(matches!(error, OidcError::BadSignature), "{error:?}");
}

#[tokio::test]
async fn unsigned_token_is_refused() {
    let key = SigningKey::rsa("rsa-1");
    let provider = Provider::start(vec![key.jwk.clone()]).await;
    let verifier = provider.verifier();

    for alg in ["none", "None"] {
        let token = format!(
            "{}.{}.",
            b64_json(&json!({"alg": alg, "typ": "JWT", "kid": "rsa-1"})),
            b64_json(&provider.claims())
        );
        assert!(
            looks_like_jwt(&token),
            "routed to SSO, to be refused clearly"
        );
        let error = refuse(&verifier, &token).await;
        assert!(
            matches!(&error, OidcError::ForbiddenAlgorithm { alg: a } if a == alg),
            "{error:?}"
        );
        assert!(error.to_string().contains(&format!("`{alg}`")), "{error}");
        assert!(error.is_token_problem());
    }
    assert_eq!(provider.jwks_hits(), 0, "refused before fetching keys");
}

#[tokio::test]
async fn hmac_token_is_refused() {
    let key = SigningKey::rsa("rsa-1");
    let provider = Provider::start(vec![key.jwk.clone()]).await;
    let verifier = provider.verifier();

    // The key-confusion attack: HS256 with the provider's public key as the secret.
    let public = serde_json::to_vec(&key.jwk).unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".into());
    let confused = jsonwebtoken::encode(
        &header,
        &provider.claims(),
        &EncodingKey::from_secret(&public),
    )
    .unwrap();
    let plain = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &provider.claims(),
        &EncodingKey::from_secret(b"some shared secret"),
    )
    .unwrap();
    for token in [confused, plain] {
        let error = refuse(&verifier, &token).await;
        assert!(
            matches!(&error, OidcError::ForbiddenAlgorithm { alg } if alg == "HS256"),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("only asymmetric signatures"),
            "{error}"
        );
    }
    assert_eq!(provider.jwks_hits(), 0, "refused before fetching keys");
}

#[tokio::test]
async fn rotated_key_is_accepted_after_one_refetch() {
    let old = SigningKey::rsa("key-2025");
    let new = SigningKey::ec("key-2026");
    let provider = Provider::start(vec![old.jwk.clone()]).await;
    // The default 30 s between fetches would make this test slow; the logic is the same.
    let verifier = provider
        .verifier()
        .with_key_refresh(Duration::from_secs(600), Duration::from_millis(200));

    accept(&verifier, &old.sign(&provider.claims())).await;
    assert_eq!(provider.jwks_hits(), 1);

    provider.publish(vec![old.jwk.clone(), new.jwk.clone()]);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let identity = accept(&verifier, &new.sign(&provider.claims())).await;
    assert_eq!(identity.username, "alice");
    assert_eq!(provider.jwks_hits(), 2);

    // Both keys now come from the cache; clones share it.
    let clone = verifier.clone();
    accept(&clone, &new.sign(&provider.claims())).await;
    accept(&clone, &old.sign(&provider.claims())).await;
    assert_eq!(provider.jwks_hits(), 2);
}

#[tokio::test]
async fn unknown_key_ids_cannot_make_weir_hammer_the_provider() {
    let key = SigningKey::rsa("rsa-1");
    let provider = Provider::start(vec![key.jwk.clone()]).await;
    let verifier = provider.verifier();
    accept(&verifier, &key.sign(&provider.claims())).await;
    assert_eq!(provider.jwks_hits(), 1);

    // Within 30 s of the last fetch: no refetch, however many unknown kids arrive.
    for n in 0..20 {
        let sprayed = SigningKey {
            kid: format!("random-{n}"),
            alg: Algorithm::RS256,
            jwk: Value::Null,
            encoding: key.encoding.clone(),
        };
        let error = refuse(&verifier, &sprayed.sign(&provider.claims())).await;
        assert!(matches!(error, OidcError::UnknownKey { .. }), "{error:?}");
    }
    assert_eq!(provider.jwks_hits(), 1);

    // Once the interval has passed, one unknown kid triggers exactly one refetch.
    let verifier = provider
        .verifier()
        .with_key_refresh(Duration::from_secs(600), Duration::from_secs(1));
    accept(&verifier, &key.sign(&provider.claims())).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let sprayed = SigningKey {
        kid: "random-x".into(),
        alg: Algorithm::RS256,
        jwk: Value::Null,
        encoding: key.encoding.clone(),
    };
    for _ in 0..5 {
        refuse(&verifier, &sprayed.sign(&provider.claims())).await;
    }
    assert_eq!(provider.jwks_hits(), 3);
}

#[tokio::test]
async fn unreachable_provider_is_not_the_token_s_fault() {
    // A port nobody listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let key = SigningKey::rsa("rsa-1");
    let claims =
        |issuer: &str| json!({"iss": issuer, "aud": AUDIENCE, "sub": "alice", "exp": now() + 600});

    // Explicit JWKS URL.
    let issuer = "https://idp.example";
    let jwks_url = format!("http://{closed}/jwks.json");
    let verifier = OidcVerifier::new(OidcSettings {
        issuer: issuer.into(),
        audience: vec![AUDIENCE.into()],
        jwks_url: Some(jwks_url.clone()),
        leeway_seconds: 0,
        username_claim: "preferred_username".into(),
        email_claim: "email".into(),
        groups_claim: "groups".into(),
        role_mappings: Vec::new(),
        token_revalidate_after: weir_core::spec::model::HumanDuration(
            weir_core::access::sso::DEFAULT_TOKEN_REVALIDATE_AFTER,
        ),
        client_id: None,
        client_secret_env: None,
        scopes: None,
        redirect_url: None,
    });
    let token = key.sign(&claims(issuer));
    let error = refuse(&verifier, &token).await;
    assert!(
        matches!(error, OidcError::KeysUnavailable { .. }),
        "{error:?}"
    );
    assert!(!error.is_token_problem());
    assert!(
        error.to_string().starts_with(&format!(
            "cannot fetch the identity provider's keys from {jwks_url}: "
        )),
        "{error}"
    );
    // Within the refetch interval the failure is repeated, not retried.
    let again = refuse(&verifier, &token).await;
    assert!(!again.is_token_problem());

    // Discovery.
    let issuer = format!("http://{closed}");
    let verifier = OidcVerifier::new(OidcSettings {
        issuer: issuer.clone(),
        audience: vec![AUDIENCE.into()],
        jwks_url: None,
        leeway_seconds: 0,
        username_claim: "preferred_username".into(),
        email_claim: "email".into(),
        groups_claim: "groups".into(),
        role_mappings: Vec::new(),
        token_revalidate_after: weir_core::spec::model::HumanDuration(
            weir_core::access::sso::DEFAULT_TOKEN_REVALIDATE_AFTER,
        ),
        client_id: None,
        client_secret_env: None,
        scopes: None,
        redirect_url: None,
    });
    let error = refuse(&verifier, &key.sign(&claims(&issuer))).await;
    assert!(
        matches!(error, OidcError::DiscoveryFailed { .. }),
        "{error:?}"
    );
    assert!(!error.is_token_problem());
    assert!(
        error
            .to_string()
            .contains(&format!("{issuer}/.well-known/openid-configuration")),
        "{error}"
    );
}

#[tokio::test]
async fn provider_with_broken_jwks_is_not_the_token_s_fault() {
    let key = SigningKey::rsa("rsa-1");
    // Only keys Weir must not use: a symmetric one and an encryption key.
    let mut encryption = key.jwk.clone();
    encryption["use"] = json!("enc");
    let provider = Provider::start(vec![
        json!({"kty": "oct", "kid": "rsa-1", "k": "c2VjcmV0"}),
        encryption,
    ])
    .await;
    let error = refuse(&provider.verifier(), &key.sign(&provider.claims())).await;
    assert!(
        matches!(error, OidcError::KeysUnavailable { .. }),
        "{error:?}"
    );
    assert!(!error.is_token_problem());
    assert!(error.to_string().contains("none of its 2 keys"), "{error}");
}

#[tokio::test]
async fn groups_map_to_team_roles_and_platform_admin() {
    let key = SigningKey::rsa("rsa-1");
    let provider = Provider::start(vec![key.jwk.clone()]).await;
    let mapping = |value: &str, team: Option<&str>, role: MappedRole| RoleMapping {
        claim: None,
        value: value.into(),
        team: team.map(str::to_owned),
        role,
    };
    let mut settings = provider.settings();
    settings.role_mappings = vec![
        mapping("data-eng", Some("data"), MappedRole::Operator),
        mapping("data-leads", Some("data"), MappedRole::Admin),
        mapping("data-eng", Some("data"), MappedRole::Viewer),
        mapping("ml", Some("ml"), MappedRole::Viewer),
        mapping("finance", Some("finance"), MappedRole::Admin),
        mapping("platform", None, MappedRole::PlatformAdmin),
    ];
    let verifier = OidcVerifier::new(settings);

    let mut claims = provider.claims();
    claims["groups"] = json!(["data-eng", "data-leads", "ml", "platform", "unrelated"]);
    let identity = accept(&verifier, &key.sign(&claims)).await;
    assert!(identity.grants.platform_admin);
    let teams: Vec<(&str, TeamRole)> = identity
        .grants
        .teams
        .iter()
        .map(|(team, role)| (team.as_str(), *role))
        .collect();
    // Strongest role wins in `data`; `finance` is not granted.
    assert_eq!(teams, [("data", TeamRole::Admin), ("ml", TeamRole::Viewer)]);

    let mut claims = provider.claims();
    claims["groups"] = json!("ml");
    let identity = accept(&verifier, &key.sign(&claims)).await;
    assert!(!identity.grants.platform_admin);
    assert_eq!(
        identity.grants.teams.into_iter().collect::<Vec<_>>(),
        [("ml".to_owned(), TeamRole::Viewer)]
    );
}

#[tokio::test]
async fn username_falls_back_to_sub_and_is_checked() {
    let key = SigningKey::rsa("rsa-1");
    let provider = Provider::start(vec![key.jwk.clone()]).await;
    let verifier = provider.verifier();

    let mut claims = provider.claims();
    claims.as_object_mut().unwrap().remove("preferred_username");
    claims.as_object_mut().unwrap().remove("email");
    let identity = accept(&verifier, &key.sign(&claims)).await;
    assert_eq!(identity.username, "00u1a2b3c");
    assert_eq!(identity.email, None);

    // A configured claim other than the default.
    let mut settings = provider.settings();
    settings.username_claim = "upn".into();
    let mut claims = provider.claims();
    claims["upn"] = json!("alice.smith@corp.example");
    let identity = accept(&OidcVerifier::new(settings), &key.sign(&claims)).await;
    assert_eq!(identity.username, "alice.smith@corp.example");

    for bad in ["alice smith", "", "al\"ice", "ålice", "a\nb"] {
        let mut claims = provider.claims();
        claims["preferred_username"] = json!(bad);
        let error = refuse(&verifier, &key.sign(&claims)).await;
        assert!(
            matches!(&error, OidcError::InvalidUsername { claim, .. } if claim == "preferred_username"),
            "{bad:?}: {error:?}"
        );
        assert!(error.is_token_problem());
    }

    let mut claims = provider.claims();
    for claim in ["preferred_username", "sub"] {
        claims.as_object_mut().unwrap().remove(claim);
    }
    let error = refuse(&verifier, &key.sign(&claims)).await;
    assert!(
        matches!(error, OidcError::MissingUsername { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn malformed_tokens_are_refused_without_network() {
    let key = SigningKey::rsa("rsa-1");
    let provider = Provider::start(vec![key.jwk.clone()]).await;
    let verifier = provider.verifier();
    for token in ["a.b", "not-a-jwt", "e30.e30.e30.e30", "!!!.e30.c2ln"] {
        assert!(!looks_like_jwt(token), "{token}");
        let error = refuse(&verifier, token).await;
        assert!(
            matches!(error, OidcError::Malformed { .. }),
            "{token}: {error:?}"
        );
        assert!(error.is_token_problem());
    }
    assert!(!looks_like_jwt("weir_abcdef0123456789"));
    assert_eq!(provider.jwks_hits(), 0);
}
