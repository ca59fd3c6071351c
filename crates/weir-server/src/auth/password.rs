//! Local users' passwords: argon2id hashes in PHC string form, so the parameters travel
//! with each hash and can be raised later without breaking old ones.
//!
//! Hashing is deliberately slow (tens of milliseconds); callers run it on the blocking
//! thread pool so it never stalls the async workers.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, PasswordHash, Version};

/// Shortest password accepted for a local user.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// How expensive a new hash is. Verification uses the parameters stored in the hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
}

impl HashCost {
    /// OWASP's recommended argon2id setting (19 MiB, 2 passes).
    pub const STANDARD: HashCost = HashCost {
        memory_kib: 19 * 1024,
        iterations: 2,
    };
    /// For tests only: fast, and still a real argon2id hash.
    pub const FAST_FOR_TESTS: HashCost = HashCost {
        memory_kib: 256,
        iterations: 1,
    };
}

/// Why a password was refused before hashing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is too short: use at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password cannot be hashed: {0}")]
    Hashing(String),
}

/// Hashes `password` with a fresh random salt.
pub fn hash(password: &str, cost: HashCost) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    let params = Params::new(cost.memory_kib, cost.iterations, 1, None)
        .map_err(|e| PasswordError::Hashing(e.to_string()))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hashing(e.to_string()))
}

/// Whether `password` matches `stored` (a PHC string). A malformed stored hash matches
/// nothing.
pub fn verify(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        tracing::warn!("a stored password hash is malformed; the sign-in is refused");
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let a = hash("correct horse", HashCost::FAST_FOR_TESTS).unwrap();
        let b = hash("correct horse", HashCost::FAST_FOR_TESTS).unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b);
        assert!(verify("correct horse", &a));
        assert!(!verify("correct horsE", &a));
        assert!(!verify("correct horse", "not a hash"));
        assert_eq!(
            hash("short", HashCost::FAST_FOR_TESTS),
            Err(PasswordError::TooShort)
        );
    }
}
