//! The secrets crate's one error type. Messages never hold a secret value.

use std::path::{Path, PathBuf};

pub type Result<T, E = SecretsError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the master key {} is not usable: {detail}", path.display())]
    KeyFile { path: PathBuf, detail: String },
    #[error(
        "secrets are not available: this server has no master key (give it a key file, or \
         WEIR_MASTER_KEY with a base64 key from `openssl rand -base64 32`)"
    )]
    NoMasterKey,
    #[error(
        "{what} was sealed under master key `{key_id}`, which this server does not have: \
         restore the key file (or WEIR_MASTER_KEY) that holds it"
    )]
    UnknownKey { what: String, key_id: String },
    #[error(
        "{what} cannot be opened: it was altered, or sealed under a different key with the \
         same id"
    )]
    Corrupt { what: String },
    #[error("the encryption library failed")]
    Crypto,
    #[error(
        "the master key comes from WEIR_MASTER_KEY, so Weir cannot add one: put a new key \
         last in WEIR_MASTER_KEY (keys separated by commas), restart, and rotate again to \
         re-seal everything under it"
    )]
    RotationNeedsKey,
    #[error("{0}")]
    Invalid(String),
    #[error("secret `{team}/{name}` does not exist")]
    NotFound { team: String, name: String },
    #[error("AWS Secrets Manager ({context}): {detail}")]
    Aws { context: String, detail: String },
    #[error(transparent)]
    Store(#[from] weir_store::StoreError),
}

impl SecretsError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}
