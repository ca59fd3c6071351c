//! Team-scoped secrets of Weir's local secrets store, and the sealed values the master
//! key protects (secrets and connection passwords), for key rotation.
//!
//! The store holds only sealed values: sealing and opening are weir-secrets' job, so
//! this crate never sees a clear value. Replacing a secret keeps when and by whom it was
//! created and counts its versions; re-sealing (key rotation) is compare-and-set on the
//! sealed text, so a value written meanwhile is never overwritten by a stale copy.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::sql::Ts;
use crate::{Result, Store};

/// A secret's metadata and sealed value. Never sent to a client as is: the API shows
/// the metadata only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRecord {
    pub team: String,
    pub name: String,
    /// The value sealed under the master key (see weir-secrets).
    pub sealed: String,
    /// 1 for the first value, one more at each replacement.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

impl_from_row!(SecretRecord, |row| {
    Ok(SecretRecord {
        team: row.try_get("team")?,
        name: row.try_get("name")?,
        sealed: row.try_get("sealed")?,
        version: row.try_get("version")?,
        created_at: row.try_get::<Ts, _>("created_at")?.0,
        created_by: row.try_get("created_by")?,
        updated_at: row.try_get::<Ts, _>("updated_at")?.0,
        updated_by: row.try_get("updated_by")?,
    })
});

/// A sealed value somewhere in the store, as key rotation walks them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedValue {
    /// A team's secret.
    Secret {
        team: String,
        name: String,
        sealed: String,
    },
    /// A connection's password (as stored: sealed, or clear from before sealing).
    ConnectionPassword { conn_id: String, stored: String },
}

impl SealedValue {
    /// The value as stored.
    pub fn stored(&self) -> &str {
        match self {
            SealedValue::Secret { sealed, .. } => sealed,
            SealedValue::ConnectionPassword { stored, .. } => stored,
        }
    }
}

impl Store {
    /// Creates or replaces a team's secret with a sealed value, by `actor` at `now`;
    /// returns it as stored.
    pub async fn put_secret(
        &self,
        team: &str,
        name: &str,
        sealed: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<SecretRecord> {
        let now = Ts(now);
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "INSERT INTO secret (team, name, sealed, version, created_at, created_by,
                     updated_at, updated_by)
                 VALUES ($1, $2, $3, 1, $4, $5, $4, $5)
                 ON CONFLICT (team, name) DO UPDATE
                 SET sealed = excluded.sealed, version = secret.version + 1,
                     updated_at = excluded.updated_at, updated_by = excluded.updated_by
                 RETURNING *",
            )
            .bind(team)
            .bind(name)
            .bind(sealed)
            .bind(now)
            .bind(actor)
            .fetch_one(pool)
            .await?)
        })
    }

    /// One secret of a team.
    pub async fn get_secret(&self, team: &str, name: &str) -> Result<Option<SecretRecord>> {
        with_db!(self, |pool| {
            Ok(
                sqlx::query_as("SELECT * FROM secret WHERE team = $1 AND name = $2")
                    .bind(team)
                    .bind(name)
                    .fetch_optional(pool)
                    .await?,
            )
        })
    }

    /// A team's secrets (every team's with `None`), by team and name.
    pub async fn list_secrets(&self, team: Option<&str>) -> Result<Vec<SecretRecord>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT * FROM secret WHERE $1 IS NULL OR team = $1 ORDER BY team, name",
            )
            .bind(team)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Deletes a team's secret; returns whether it existed.
    pub async fn delete_secret(&self, team: &str, name: &str) -> Result<bool> {
        with_db!(self, |pool| {
            let deleted = sqlx::query("DELETE FROM secret WHERE team = $1 AND name = $2")
                .bind(team)
                .bind(name)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(deleted > 0)
        })
    }

    /// Every sealed value the master key protects: all secrets, and every connection
    /// password that is set.
    pub async fn sealed_values(&self) -> Result<Vec<SealedValue>> {
        with_db!(self, |pool| {
            let mut out = Vec::new();
            let secrets = sqlx::query("SELECT team, name, sealed FROM secret ORDER BY team, name")
                .fetch_all(pool)
                .await?;
            for row in secrets {
                out.push(SealedValue::Secret {
                    team: row.try_get("team")?,
                    name: row.try_get("name")?,
                    sealed: row.try_get("sealed")?,
                });
            }
            let passwords = sqlx::query(
                "SELECT conn_id, password FROM connection WHERE password IS NOT NULL
                 ORDER BY conn_id",
            )
            .fetch_all(pool)
            .await?;
            for row in passwords {
                out.push(SealedValue::ConnectionPassword {
                    conn_id: row.try_get("conn_id")?,
                    stored: row.try_get("password")?,
                });
            }
            Ok(out)
        })
    }

    /// Replaces a sealed value with `new` if it is still `old` (compare-and-set);
    /// returns whether it was replaced. A secret's version and times stay: its value did
    /// not change.
    pub async fn reseal(&self, value: &SealedValue, new: &str) -> Result<bool> {
        with_db!(self, |pool| {
            let done = match value {
                SealedValue::Secret { team, name, sealed } => sqlx::query(
                    "UPDATE secret SET sealed = $4 WHERE team = $1 AND name = $2 AND sealed = $3",
                )
                .bind(team)
                .bind(name)
                .bind(sealed)
                .bind(new)
                .execute(pool)
                .await?,
                SealedValue::ConnectionPassword { conn_id, stored } => {
                    sqlx::query(
                        "UPDATE connection SET password = $3 WHERE conn_id = $1 AND password = $2",
                    )
                    .bind(conn_id)
                    .bind(stored)
                    .bind(new)
                    .execute(pool)
                    .await?
                }
            };
            Ok(done.rows_affected() > 0)
        })
    }
}
