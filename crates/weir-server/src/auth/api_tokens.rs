//! Weir's own API tokens: `weir_` and 43 characters of randomness (256 bits), stored only
//! as a SHA-256 digest. A token is as strong as a random key, so a fast digest is enough
//! (unlike passwords, which need a slow hash); it also makes lookup one indexed query.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// What every Weir token starts with, so a leaked one is recognisable (and secret
/// scanners can find it) and so bearer tokens are told apart from SSO JWTs.
pub const PREFIX: &str = "weir_";

/// A new token and the digest to store.
pub fn generate() -> Result<(String, String), getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let token = format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let digest = digest(&token);
    Ok((token, digest))
}

/// The stored form of a token.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A random password for a generated account (printed once, never stored in clear).
pub fn random_password() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 18];
    getrandom::fill(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_digested() {
        let (a, da) = generate().unwrap();
        let (b, _) = generate().unwrap();
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 43, "{a}");
        assert_ne!(a, b);
        assert_eq!(da, digest(&a));
        assert_eq!(da.len(), 64);
        assert_eq!(random_password().unwrap().len(), 24);
    }
}
