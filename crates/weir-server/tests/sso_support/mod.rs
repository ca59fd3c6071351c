//! What the single sign-on tests share (`tests/sso.rs` for bearer tokens, `tests/ui_sso.rs`
//! for the UI's code flow): a provider's signing key, and a local platform admin.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use weir_server::HashCost;
use weir_store::{NewToken, NewUser, Store};

/// A provider's signing key: its public JWK and what signs with it.
pub struct SigningKey {
    pub kid: &'static str,
    pub jwk: Value,
    encoding: EncodingKey,
}

impl SigningKey {
    pub fn new(kid: &'static str) -> SigningKey {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = pair.public_key().as_ref(); // 0x04, x (32 bytes), y (32 bytes)
        let jwk = json!({"kty": "EC", "use": "sig", "crv": "P-256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])});
        let encoding = EncodingKey::from_ec_der(pair.to_pkcs8v1().unwrap().as_ref());
        SigningKey { kid, jwk, encoding }
    }

    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.into());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// A local platform admin `admin` with an API token, made in the store directly.
pub async fn local_admin(store: &Store) -> String {
    let hash = weir_server::auth::password::hash("pw-of-admin", HashCost::FAST_FOR_TESTS).unwrap();
    let user = NewUser {
        username: "admin",
        password_hash: Some(&hash),
        email: None,
        source: "local",
        platform_admin: true,
    };
    store.create_user(&user).await.unwrap();
    let (token, digest) = weir_server::auth::api_tokens::generate().unwrap();
    let record = NewToken {
        id: "token-of-admin",
        name: "tests",
        token_hash: &digest,
        username: Some("admin"),
        team: None,
        role: None,
        created_by: "tests",
        expires_at: None,
    };
    store.create_token(&record).await.unwrap();
    token
}
