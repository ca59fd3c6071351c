//! The master key a standalone server seals secrets and connection passwords with:
//! `WEIR_MASTER_KEY`, or a key file (`--master-key-file`, default `<home>/master.key`),
//! created on first start — unless the database already holds values sealed under keys
//! this server does not have, which would make them unreadable for good: then the start
//! is refused, naming the keys to restore.

use std::sync::Arc;

use anyhow::{Context, bail};
use weir_secrets::{Keyring, Secrets};
use weir_store::Store;

use crate::cli::StandaloneArgs;

/// The secrets service for this server, its master key found or created.
pub async fn secrets(
    args: &StandaloneArgs,
    store: &Store,
    platform: &weir_core::platform::PlatformConfig,
) -> anyhow::Result<Arc<Secrets>> {
    let path = args
        .master_key_file
        .clone()
        .unwrap_or_else(|| args.home.join("master.key"));
    let keyring = match std::env::var("WEIR_MASTER_KEY") {
        Ok(text) if !text.trim().is_empty() => {
            Keyring::from_environment(&text).context("WEIR_MASTER_KEY is not usable")?
        }
        _ if path.exists() => Keyring::from_file(&path)?,
        _ => {
            let probe = Secrets::without_key(store.clone());
            let missing = probe.missing_keys().await?;
            if !missing.is_empty() {
                bail!(
                    "the database holds secrets sealed under master key(s) {}, and there is \
                     no key file at {} (nor WEIR_MASTER_KEY): restore the key file (or pass \
                     --master-key-file) instead of starting with a new key, which could not \
                     read them",
                    missing.join(", "),
                    path.display()
                );
            }
            let keyring = Keyring::create_file(&path)?;
            eprintln!(
                "Created the master key {} (it seals secrets and connection passwords: back \
                 it up; without it they cannot be read).",
                path.display()
            );
            keyring
        }
    };
    let secrets = Arc::new(Secrets::new(store.clone(), Some(keyring), platform));
    let check = secrets
        .check_at_start()
        .await
        .context("cannot check the stored secrets and connection passwords")?;
    if !check.missing_keys.is_empty() {
        eprintln!(
            "warning: some secrets or connection passwords are sealed under master key(s) \
             {} that this server does not have: tasks using them will fail until the key is \
             restored",
            check.missing_keys.join(", ")
        );
    }
    if check.sealed_passwords > 0 {
        tracing::info!(
            count = check.sealed_passwords,
            "sealed connection passwords stored in clear"
        );
    }
    Ok(secrets)
}
