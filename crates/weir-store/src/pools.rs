//! Pools: named slot limits on how many task instances run at once. The dispatcher reads
//! a pool's row at each pass, so a pool created, resized or deleted here takes effect at
//! the next dispatch.

use crate::error::is_unique_violation;
use crate::records::{Page, PoolRecord};
use crate::{DEFAULT_POOL, Result, Store, StoreError};

/// A new pool ([`Store::create_pool`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPool {
    pub name: String,
    /// `-1` for unlimited, else at least 0.
    pub slots: i32,
    pub description: Option<String>,
    pub include_deferred: bool,
}

/// What [`Store::update_pool`] changes: each `Some` field is set, `None` ones are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolChange {
    /// A new name (the default pool cannot be renamed).
    pub name: Option<String>,
    pub slots: Option<i32>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    pub include_deferred: Option<bool>,
}

fn check_slots(slots: i32) -> Result<()> {
    if slots < -1 {
        return Err(StoreError::InvalidInput {
            what: "pool slots",
            detail: format!("{slots} (use -1 for unlimited, or a count of at least 0)"),
        });
    }
    Ok(())
}

fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(StoreError::InvalidInput {
            what: "pool name",
            detail: "a pool name may not be empty".to_string(),
        });
    }
    if name.len() > 256 {
        return Err(StoreError::InvalidInput {
            what: "pool name",
            detail: format!("{} characters; a pool name has at most 256", name.len()),
        });
    }
    Ok(())
}

/// A unique violation on the pool's name is "it already exists".
fn exists_or(e: sqlx::Error, name: &str) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::PoolExists(name.to_string())
    } else {
        e.into()
    }
}

impl Store {
    /// Creates a pool; [`StoreError::PoolExists`] if one has that name.
    pub async fn create_pool(&self, new: &NewPool) -> Result<PoolRecord> {
        check_name(&new.name)?;
        check_slots(new.slots)?;
        with_db!(self, |pool| {
            sqlx::query_as(
                "INSERT INTO pool (pool, slots, description, include_deferred)
                 VALUES ($1, $2, $3, $4) RETURNING *",
            )
            .bind(&new.name)
            .bind(i64::from(new.slots))
            .bind(new.description.as_deref())
            .bind(new.include_deferred)
            .fetch_one(pool)
            .await
            .map_err(|e| exists_or(e, &new.name))
        })
    }

    /// Changes the pool `name` as `change` says and returns it:
    /// [`StoreError::PoolNotFound`] if there is none, [`StoreError::PoolExists`] if the new
    /// name is taken, [`StoreError::InvalidInput`] for a renamed default pool.
    pub async fn update_pool(&self, name: &str, change: &PoolChange) -> Result<PoolRecord> {
        if let Some(slots) = change.slots {
            check_slots(slots)?;
        }
        if let Some(new_name) = &change.name {
            check_name(new_name)?;
            if name == DEFAULT_POOL && new_name != DEFAULT_POOL {
                return Err(StoreError::InvalidInput {
                    what: "pool name",
                    detail: format!("the default pool `{DEFAULT_POOL}` cannot be renamed"),
                });
            }
        }
        let new_name = change.name.as_deref().unwrap_or(name);
        let updated: Option<PoolRecord> = with_db!(self, |pool| {
            sqlx::query_as(
                "UPDATE pool SET pool = $2,
                     slots = COALESCE($3, slots),
                     description = CASE WHEN $4 THEN $5 ELSE description END,
                     include_deferred = COALESCE($6, include_deferred)
                 WHERE pool = $1 RETURNING *",
            )
            .bind(name)
            .bind(new_name)
            .bind(change.slots.map(i64::from))
            .bind(change.description.is_some())
            .bind(change.description.clone().flatten())
            .bind(change.include_deferred)
            .fetch_optional(pool)
            .await
            .map_err(|e| exists_or(e, new_name))
        })?;
        updated.ok_or_else(|| StoreError::PoolNotFound(name.to_string()))
    }

    /// Creates or replaces a pool (slots and description) and returns it. `slots` is `-1`
    /// for unlimited, else at least 0.
    pub async fn upsert_pool(
        &self,
        name: &str,
        slots: i32,
        description: Option<&str>,
    ) -> Result<PoolRecord> {
        check_slots(slots)?;
        check_name(name)?;
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "INSERT INTO pool (pool, slots, description) VALUES ($1, $2, $3)
                 ON CONFLICT (pool) DO UPDATE
                 SET slots = excluded.slots, description = excluded.description
                 RETURNING *",
            )
            .bind(name)
            .bind(i64::from(slots))
            .bind(description)
            .fetch_one(pool)
            .await?)
        })
    }

    /// One pool.
    pub async fn get_pool(&self, name: &str) -> Result<Option<PoolRecord>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as("SELECT * FROM pool WHERE pool = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?)
        })
    }

    /// One page of pools sorted by name, with the total count.
    pub async fn list_pools(&self, limit: i64, offset: i64) -> Result<Page<PoolRecord>> {
        crate::sql::check_page(limit, offset)?;
        with_db!(self, |pool| {
            let items = sqlx::query_as("SELECT * FROM pool ORDER BY pool LIMIT $1 OFFSET $2")
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await?;
            let total_entries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pool")
                .fetch_one(pool)
                .await?;
            Ok(Page {
                items,
                total_entries,
            })
        })
    }

    /// Deletes a pool; returns whether it existed. The default pool cannot be deleted
    /// ([`StoreError::DefaultPoolUndeletable`]).
    pub async fn delete_pool(&self, name: &str) -> Result<bool> {
        if name == DEFAULT_POOL {
            return Err(StoreError::DefaultPoolUndeletable(name.to_string()));
        }
        with_db!(self, |pool| {
            let deleted = sqlx::query("DELETE FROM pool WHERE pool = $1")
                .bind(name)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(deleted > 0)
        })
    }
}
