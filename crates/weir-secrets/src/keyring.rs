//! The master keys, and sealing values under them.
//!
//! A key is 32 random bytes (AES-256-GCM), written as one base64 line; its id is the
//! first 12 hex digits of its SHA-256, so an id never needs storing beside the key. A
//! keyring is one or more keys, one per line (`#` comments allowed): the **last** is the
//! current key, which seals; every key opens what it sealed. It comes from a file that
//! only its owner may read (`weir standalone` creates `<home>/master.key` on first start)
//! or from `WEIR_MASTER_KEY` (the same lines, or keys separated by commas).
//!
//! A sealed value is `weir:v1:<key id>:<base64 of nonce ‖ ciphertext ‖ tag>`, with a fresh
//! random 96-bit nonce per value. The additional data binds it to where it is stored (a
//! secret's `team/name`, a connection's id), so a sealed value copied to another row does
//! not open. Opening with a missing key, or a value that was altered, is an error that
//! says so: never garbage.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::error::{Result, SecretsError};

/// The prefix of every sealed value.
const SEALED_PREFIX: &str = "weir:v1:";
const KEY_LEN: usize = 32;

/// Where the keys came from, which decides how a rotation adds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A key file, which rotation appends a new key to.
    File(PathBuf),
    /// `WEIR_MASTER_KEY`: rotation re-seals under its last key; adding a key is the
    /// operator's (put the new key last, restart, rotate).
    Environment,
}

struct MasterKey {
    id: String,
    key: RandomizedNonceKey,
}

/// The master keys: the current one seals, any opens what it sealed.
pub struct Keyring {
    keys: Vec<MasterKey>,
    source: KeySource,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key material.
        f.debug_struct("Keyring")
            .field("ids", &self.ids())
            .field("source", &self.source)
            .finish()
    }
}

impl Keyring {
    /// Reads a keyring from `WEIR_MASTER_KEY`'s text.
    pub fn from_environment(text: &str) -> Result<Self> {
        let lines = text.replace(',', "\n");
        Self::parse(&lines, KeySource::Environment, "WEIR_MASTER_KEY")
    }

    /// Reads a key file, which must be readable by its owner only.
    pub fn from_file(path: &Path) -> Result<Self> {
        let meta = fs::metadata(path).map_err(|e| SecretsError::io("read", path, e))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SecretsError::KeyFile {
                path: path.to_path_buf(),
                detail: format!(
                    "it may be read by others (mode {mode:o}): run `chmod 600 {}`",
                    path.display()
                ),
            });
        }
        let text = fs::read_to_string(path).map_err(|e| SecretsError::io("read", path, e))?;
        Self::parse(
            &text,
            KeySource::File(path.to_path_buf()),
            &path.display().to_string(),
        )
    }

    /// Creates a key file with one new key (owner-only), refusing to replace a file.
    pub fn create_file(path: &Path) -> Result<Self> {
        let line = new_key_line()?;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| SecretsError::io("create", path, e))?;
        file.write_all(format!("{HEADER}{line}\n").as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| SecretsError::io("write", path, e))?;
        Self::from_file(path)
    }

    fn parse(text: &str, source: KeySource, origin: &str) -> Result<Self> {
        let mut keys = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bytes = STANDARD
                .decode(line)
                .ok()
                .filter(|b| b.len() == KEY_LEN)
                .ok_or_else(|| SecretsError::KeyFile {
                    path: PathBuf::from(origin),
                    detail: format!(
                        "a key must be {KEY_LEN} bytes in base64 (e.g. `openssl rand -base64 32`)"
                    ),
                })?;
            keys.push(master_key(&bytes)?);
        }
        if keys.is_empty() {
            return Err(SecretsError::KeyFile {
                path: PathBuf::from(origin),
                detail: "it holds no key".into(),
            });
        }
        Ok(Self { keys, source })
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> &str {
        // `parse` refuses an empty keyring.
        self.keys.last().map_or("", |k| k.id.as_str())
    }

    /// Every key's id, oldest first.
    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// A keyring with one more key, made current: for a file, written to it first
    /// (atomically, owner-only); from the environment, refused.
    pub fn with_new_key(&self) -> Result<Self> {
        let KeySource::File(path) = &self.source else {
            return Err(SecretsError::RotationNeedsKey);
        };
        let text = fs::read_to_string(path).map_err(|e| SecretsError::io("read", path, e))?;
        let line = new_key_line()?;
        let mut updated = text;
        if !updated.ends_with('\n') && !updated.is_empty() {
            updated.push('\n');
        }
        updated.push_str(&line);
        updated.push('\n');
        let tmp = path.with_extension("key.new");
        let _ = fs::remove_file(&tmp);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| SecretsError::io("create", &tmp, e))?;
        file.write_all(updated.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| SecretsError::io("write", &tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| SecretsError::io("replace", path, e))?;
        Self::from_file(path)
    }

    /// Seals `plain` under the current key, bound to `context` (where it is stored).
    pub fn seal(&self, context: &str, plain: &str) -> Result<String> {
        let key = self.keys.last().ok_or(SecretsError::Crypto)?;
        let mut in_out = plain.as_bytes().to_vec();
        let nonce = key
            .key
            .seal_in_place_append_tag(Aad::from(context.as_bytes()), &mut in_out)
            .map_err(|_| SecretsError::Crypto)?;
        let mut blob = nonce.as_ref().to_vec();
        blob.extend_from_slice(&in_out);
        Ok(format!(
            "{SEALED_PREFIX}{}:{}",
            key.id,
            STANDARD.encode(blob)
        ))
    }

    /// Opens a value sealed for `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<String> {
        let (key_id, blob) = split_sealed(sealed).ok_or_else(|| SecretsError::Corrupt {
            what: context.to_owned(),
        })?;
        let key =
            self.keys
                .iter()
                .find(|k| k.id == key_id)
                .ok_or_else(|| SecretsError::UnknownKey {
                    what: context.to_owned(),
                    key_id: key_id.to_owned(),
                })?;
        let corrupt = || SecretsError::Corrupt {
            what: context.to_owned(),
        };
        let mut blob = STANDARD.decode(blob).map_err(|_| corrupt())?;
        if blob.len() < NONCE_LEN {
            return Err(corrupt());
        }
        let nonce = Nonce::try_assume_unique_for_key(&blob[..NONCE_LEN]).map_err(|_| corrupt())?;
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut blob[NONCE_LEN..])
            .map_err(|_| corrupt())?;
        String::from_utf8(plain.to_vec()).map_err(|_| corrupt())
    }
}

/// Whether `stored` is a sealed value (and not, say, a password stored before sealing).
pub fn is_sealed(stored: &str) -> bool {
    split_sealed(stored).is_some()
}

/// The key id a sealed value names.
pub fn sealed_key_id(stored: &str) -> Option<&str> {
    split_sealed(stored).map(|(id, _)| id)
}

fn split_sealed(stored: &str) -> Option<(&str, &str)> {
    stored.strip_prefix(SEALED_PREFIX)?.split_once(':')
}

const HEADER: &str = "# Weir's master key: it seals every secret and connection password.\n\
# Keep a copy somewhere safe: without it they cannot be read. The last key seals.\n";

fn new_key_line() -> Result<String> {
    let mut bytes = [0u8; KEY_LEN];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| SecretsError::Crypto)?;
    Ok(STANDARD.encode(bytes))
}

fn master_key(bytes: &[u8]) -> Result<MasterKey> {
    let id = hex::encode(&Sha256::digest(bytes)[..6]);
    let key = RandomizedNonceKey::new(&AES_256_GCM, bytes).map_err(|_| SecretsError::Crypto)?;
    Ok(MasterKey { id, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> (tempfile::TempDir, Keyring) {
        let dir = tempfile::tempdir().expect("tempdir");
        let ring = Keyring::create_file(&dir.path().join("master.key")).expect("create");
        (dir, ring)
    }

    #[test]
    fn sealed_values_open_only_where_they_were_sealed() {
        let (_dir, ring) = keyring();
        let sealed = ring.seal("growth/db", "hunter22").expect("seal");
        assert!(!sealed.contains("hunter22"));
        assert!(sealed.starts_with(&format!("weir:v1:{}:", ring.current_id())));
        assert_eq!(ring.open("growth/db", &sealed).expect("open"), "hunter22");
        // Bound to its row: the same bytes under another name do not open.
        assert!(matches!(
            ring.open("finance/db", &sealed),
            Err(SecretsError::Corrupt { .. })
        ));
        // A fresh nonce each time.
        assert_ne!(sealed, ring.seal("growth/db", "hunter22").expect("seal"));
    }

    #[test]
    fn altered_values_and_missing_keys_are_errors() {
        let (_dir, ring) = keyring();
        let sealed = ring.seal("t/n", "value-1").expect("seal");
        let mut altered = sealed.clone();
        altered.pop();
        altered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(matches!(
            ring.open("t/n", &altered),
            Err(SecretsError::Corrupt { .. })
        ));
        let (_other_dir, other) = keyring();
        let err = other.open("t/n", &sealed).expect_err("other key");
        assert!(matches!(err, SecretsError::UnknownKey { .. }));
        assert!(err.to_string().contains(ring.current_id()), "{err}");
    }

    #[test]
    fn a_new_key_seals_and_old_ones_still_open() {
        let (dir, ring) = keyring();
        let old = ring.seal("t/n", "value-1").expect("seal");
        let rotated = ring.with_new_key().expect("rotate");
        assert_ne!(rotated.current_id(), ring.current_id());
        assert_eq!(rotated.ids().len(), 2);
        assert_eq!(rotated.open("t/n", &old).expect("open old"), "value-1");
        let new = rotated.seal("t/n", "value-1").expect("seal");
        assert_eq!(sealed_key_id(&new), Some(rotated.current_id()));
        // The file holds both, and stays owner-only.
        let path = dir.path().join("master.key");
        let reread = Keyring::from_file(&path).expect("reread");
        assert_eq!(reread.ids(), rotated.ids());
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn key_files_readable_by_others_are_refused() {
        let (dir, _ring) = keyring();
        let path = dir.path().join("master.key");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = Keyring::from_file(&path).expect_err("too open");
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn environment_keys_last_one_current() {
        let a = STANDARD.encode([1u8; 32]);
        let b = STANDARD.encode([2u8; 32]);
        let ring = Keyring::from_environment(&format!("{a},{b}")).expect("parse");
        assert_eq!(ring.ids().len(), 2);
        assert_eq!(ring.current_id(), ring.ids()[1]);
        assert!(matches!(
            ring.with_new_key(),
            Err(SecretsError::RotationNeedsKey)
        ));
        let err = Keyring::from_environment("short").expect_err("bad");
        assert!(err.to_string().contains("base64"), "{err}");
    }
}
