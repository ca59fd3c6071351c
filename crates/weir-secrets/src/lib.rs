//! Team-scoped secrets: set, listed, deleted and resolved for a try, never read back
//! through any API; and the sealing of connection passwords under the same master key.
//!
//! # Where values live
//!
//! Each team's secrets are in one backend, chosen in `weir.toml` (`secrets = { backend
//! = … }` on the team's entry):
//!
//! - **local** (the default): Weir's own database, each value sealed under the master
//!   key (see [`keyring`]) with its own nonce and the key's id;
//! - **aws_secrets_manager**: AWS Secrets Manager, under a per-team name prefix
//!   (`weir/<team>/` by default), so secrets a team manages there are usable as they
//!   are, and Weir holds no copy.
//!
//! # What callers get
//!
//! [`Secrets::list`] and every write answer with [`SecretInfo`] (metadata only). Only
//! [`Secrets::resolve`] returns values, for the engine to hand a try at dispatch; a
//! missing secret is an error naming it and its team, never an empty value.
//!
//! # Key rotation
//!
//! [`Secrets::rotate_key`] adds a key (to the key file) and re-seals every secret and
//! connection password under it, row by row with compare-and-set, while the server keeps
//! serving: old keys stay in the keyring, so values not yet re-sealed still open.

pub mod aws;
mod error;
pub mod keyring;
mod local;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use weir_core::platform::{PlatformConfig, SecretsBackendKind};
use weir_store::{SealedValue, Store};

pub use error::{Result, SecretsError};
pub use keyring::{KeySource, Keyring, is_sealed};

/// A secret's metadata: everything the API shows about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    pub team: String,
    pub name: String,
    /// Where the value lives: `local` or `aws_secrets_manager`.
    pub backend: &'static str,
    /// 1 for the first value, one more at each replacement (when the backend knows).
    pub version: Option<i64>,
    pub created_at: Option<DateTime<Utc>>,
    pub created_by: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<String>,
}

/// What a key rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The key everything is now sealed under.
    pub key_id: String,
    /// Secrets re-sealed.
    pub secrets: usize,
    /// Connection passwords re-sealed (or sealed for the first time).
    pub connection_passwords: usize,
}

/// What [`Secrets::check_at_start`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartCheck {
    /// Keys stored values are sealed under that this server does not have.
    pub missing_keys: Vec<String>,
    /// Connection passwords found in clear and sealed now.
    pub sealed_passwords: usize,
}

/// The key ids `values` are sealed under that `keys` lacks, each once.
fn missing_keys(values: &[SealedValue], keys: Option<&Keyring>) -> Vec<String> {
    let have = keys.map(Keyring::ids).unwrap_or_default();
    let mut missing: Vec<String> = Vec::new();
    for value in values {
        if let Some(id) = keyring::sealed_key_id(value.stored())
            && !have.contains(&id)
            && !missing.iter().any(|m| m == id)
        {
            missing.push(id.to_owned());
        }
    }
    missing
}

/// The secrets service: one per server.
pub struct Secrets {
    store: Store,
    keyring: RwLock<Option<Arc<Keyring>>>,
    /// Teams whose secrets live in AWS Secrets Manager.
    aws: HashMap<String, aws::TeamVault>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("keyring", &self.keyring())
            .field("aws_teams", &self.aws.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The context a connection's password is sealed for.
fn password_context(conn_id: &str) -> String {
    format!("connection `{conn_id}`'s password")
}

/// The context a credential in a connection's `extra` is sealed for.
fn extra_context(conn_id: &str, key: &str) -> String {
    format!("connection `{conn_id}`'s extra `{key}`")
}

/// The context a secret's value is sealed for.
fn secret_context(team: &str, name: &str) -> String {
    format!("secret `{team}/{name}`")
}

impl Secrets {
    /// The service over `store`, with the master keys (None: a server without one,
    /// whose every secret operation says so) and each team's backend from `platform`.
    pub fn new(store: Store, keyring: Option<Keyring>, platform: &PlatformConfig) -> Self {
        let aws = platform
            .teams
            .iter()
            .filter_map(|team| {
                let settings = team.secrets.as_ref()?;
                (settings.backend == SecretsBackendKind::AwsSecretsManager)
                    .then(|| (team.name.clone(), aws::TeamVault::new(&team.name, settings)))
            })
            .collect();
        Self {
            store,
            keyring: RwLock::new(keyring.map(Arc::new)),
            aws,
        }
    }

    /// A service with no master key and only the local backend (tests, and a server
    /// started without secrets).
    pub fn without_key(store: Store) -> Self {
        Self {
            store,
            keyring: RwLock::new(None),
            aws: HashMap::new(),
        }
    }

    /// The keyring in force, if any.
    pub fn keyring(&self) -> Option<Arc<Keyring>> {
        self.keyring.read().ok().and_then(|k| k.clone())
    }

    fn keys(&self) -> Result<Arc<Keyring>> {
        self.keyring().ok_or(SecretsError::NoMasterKey)
    }

    /// The backend a team's secrets live in.
    pub fn backend_of(&self, team: &str) -> &'static str {
        if self.aws.contains_key(team) {
            "aws_secrets_manager"
        } else {
            "local"
        }
    }

    /// Creates or replaces `team`'s secret `name`, set by `actor`.
    pub async fn set(
        &self,
        team: &str,
        name: &str,
        value: &str,
        actor: &str,
    ) -> Result<SecretInfo> {
        check(team, name)?;
        weir_core::secrets::check_value(value).map_err(SecretsError::Invalid)?;
        if let Some(vault) = self.aws.get(team) {
            return vault.put(name, value, actor).await;
        }
        let sealed = self.keys()?.seal(&secret_context(team, name), value)?;
        let record = self
            .store
            .put_secret(team, name, &sealed, actor, Utc::now())
            .await?;
        Ok(local::info(record))
    }

    /// One secret's metadata.
    pub async fn get(&self, team: &str, name: &str) -> Result<Option<SecretInfo>> {
        check(team, name)?;
        if let Some(vault) = self.aws.get(team) {
            return vault.describe(name).await;
        }
        Ok(self.store.get_secret(team, name).await?.map(local::info))
    }

    /// A team's secrets (every team's with `None`), by team and name.
    pub async fn list(&self, team: Option<&str>) -> Result<Vec<SecretInfo>> {
        let mut out = Vec::new();
        match team {
            Some(team) if self.aws.contains_key(team) => {
                if let Some(vault) = self.aws.get(team) {
                    out = vault.list().await?;
                }
            }
            Some(team) => {
                out = local::list(&self.store, Some(team)).await?;
            }
            None => {
                out = local::list(&self.store, None).await?;
                for vault in self.aws.values() {
                    out.extend(vault.list().await?);
                }
                out.sort_by(|a, b| (&a.team, &a.name).cmp(&(&b.team, &b.name)));
            }
        }
        Ok(out)
    }

    /// Deletes a secret; returns whether it existed.
    pub async fn delete(&self, team: &str, name: &str) -> Result<bool> {
        check(team, name)?;
        if let Some(vault) = self.aws.get(team) {
            return vault.delete(name).await;
        }
        Ok(self.store.delete_secret(team, name).await?)
    }

    /// The values of `team`'s secrets `names`, in order, for a try about to start.
    /// [`SecretsError::NotFound`] names the first that does not exist.
    pub async fn resolve(&self, team: &str, names: &[&str]) -> Result<Vec<String>> {
        let mut values = Vec::with_capacity(names.len());
        for name in names {
            check(team, name)?;
            let value = if let Some(vault) = self.aws.get(team) {
                vault.read(name).await?
            } else {
                match self.store.get_secret(team, name).await? {
                    None => None,
                    Some(record) => Some(
                        self.keys()?
                            .open(&secret_context(team, name), &record.sealed)?,
                    ),
                }
            };
            values.push(value.ok_or_else(|| SecretsError::NotFound {
                team: team.to_owned(),
                name: (*name).to_owned(),
            })?);
        }
        Ok(values)
    }

    /// The names of a team's secrets (for did-you-mean suggestions).
    pub async fn names(&self, team: &str) -> Result<Vec<String>> {
        Ok(self
            .list(Some(team))
            .await?
            .into_iter()
            .map(|s| s.name)
            .collect())
    }

    /// A connection password as it is stored: sealed.
    pub fn seal_password(&self, conn_id: &str, password: &str) -> Result<String> {
        self.keys()?.seal(&password_context(conn_id), password)
    }

    /// A stored connection password in clear (one stored before sealing existed is
    /// returned as it is, and sealed at the next rotation or start).
    pub fn open_password(&self, conn_id: &str, stored: &str) -> Result<String> {
        if !is_sealed(stored) {
            return Ok(stored.to_owned());
        }
        self.keys()?.open(&password_context(conn_id), stored)
    }

    /// A credential in a connection's `extra` (see
    /// [`weir_core::secrets::is_sensitive_key`]) as it is stored: sealed.
    pub fn seal_extra(&self, conn_id: &str, key: &str, value: &str) -> Result<String> {
        self.keys()?.seal(&extra_context(conn_id, key), value)
    }

    /// A stored `extra` value in clear (values that are not sealed are returned as they
    /// are).
    pub fn open_extra(&self, conn_id: &str, key: &str, stored: &str) -> Result<String> {
        if !is_sealed(stored) {
            return Ok(stored.to_owned());
        }
        self.keys()?.open(&extra_context(conn_id, key), stored)
    }

    /// What a server checks of the stored values when it starts, in one pass: it seals
    /// connection passwords stored in clear (from before sealing), and names the keys
    /// values are sealed under that it does not have (tasks using those fail until the
    /// key is restored).
    pub async fn check_at_start(&self) -> Result<StartCheck> {
        let keys = self.keys()?;
        let values = self.store.sealed_values().await?;
        let mut check = StartCheck {
            missing_keys: missing_keys(&values, Some(&keys)),
            sealed_passwords: 0,
        };
        for value in &values {
            if let SealedValue::ConnectionPassword { conn_id, stored } = value
                && !is_sealed(stored)
                && self
                    .store
                    .reseal(value, &keys.seal(&password_context(conn_id), stored)?)
                    .await?
            {
                check.sealed_passwords += 1;
            }
        }
        Ok(check)
    }

    /// The ids of the keys stored values are sealed under that this server does not
    /// have: a start with any is refused before it creates a new key over them.
    pub async fn missing_keys(&self) -> Result<Vec<String>> {
        let values = self.store.sealed_values().await?;
        Ok(missing_keys(&values, self.keyring().as_deref()))
    }

    /// Adds a new master key (to the key file; from `WEIR_MASTER_KEY`, uses its last
    /// key) and re-seals every secret and connection password under it.
    pub async fn rotate_key(&self) -> Result<Rotation> {
        let old = self.keys()?;
        let new = match old.source() {
            KeySource::File(_) => Arc::new(old.with_new_key()?),
            KeySource::Environment => old.clone(),
        };
        // From here new values are sealed under the new key; old ones still open.
        if let Ok(mut slot) = self.keyring.write() {
            *slot = Some(new.clone());
        }
        let mut rotation = Rotation {
            key_id: new.current_id().to_owned(),
            secrets: 0,
            connection_passwords: 0,
        };
        for value in self.store.sealed_values().await? {
            let stored = value.stored();
            let context = match &value {
                SealedValue::Secret { team, name, .. } => secret_context(team, name),
                SealedValue::ConnectionPassword { conn_id, .. } => password_context(conn_id),
            };
            if keyring::sealed_key_id(stored) == Some(new.current_id()) {
                continue;
            }
            let clear = if is_sealed(stored) {
                new.open(&context, stored)?
            } else {
                stored.to_owned()
            };
            // Lost a race with a writer: its value is already under the new key.
            if self
                .store
                .reseal(&value, &new.seal(&context, &clear)?)
                .await?
            {
                match value {
                    SealedValue::Secret { .. } => rotation.secrets += 1,
                    SealedValue::ConnectionPassword { .. } => rotation.connection_passwords += 1,
                }
            }
        }
        tracing::info!(
            key = %rotation.key_id,
            secrets = rotation.secrets,
            passwords = rotation.connection_passwords,
            "master key rotated"
        );
        Ok(rotation)
    }
}

fn check(team: &str, name: &str) -> Result<()> {
    weir_core::ids::TeamId::new(team)
        .map_err(|e| SecretsError::Invalid(format!("`{team}` is not a valid team id: {e}")))?;
    weir_core::secrets::check_name(name).map_err(SecretsError::Invalid)
}
