//! The local backend's records as metadata.

use weir_store::{SecretRecord, Store};

use crate::{Result, SecretInfo};

pub(crate) fn info(record: SecretRecord) -> SecretInfo {
    SecretInfo {
        team: record.team,
        name: record.name,
        backend: "local",
        version: Some(record.version),
        created_at: Some(record.created_at),
        created_by: Some(record.created_by),
        updated_at: Some(record.updated_at),
        updated_by: Some(record.updated_by),
    }
}

pub(crate) async fn list(store: &Store, team: Option<&str>) -> Result<Vec<SecretInfo>> {
    Ok(store
        .list_secrets(team)
        .await?
        .into_iter()
        .map(info)
        .collect())
}
