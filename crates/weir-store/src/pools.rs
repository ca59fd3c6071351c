//! Pools: named slot limits on how many task instances run at once.

use crate::records::{Page, PoolRecord};
use crate::{DEFAULT_POOL, Result, Store, StoreError};

impl Store {
    /// Creates or replaces a pool (slots and description) and returns it. `slots` is `-1`
    /// for unlimited, else at least 0.
    pub async fn upsert_pool(
        &self,
        name: &str,
        slots: i32,
        description: Option<&str>,
    ) -> Result<PoolRecord> {
        if slots < -1 {
            return Err(StoreError::InvalidInput {
                what: "pool slots",
                detail: format!("{slots} (use -1 for unlimited, or a count of at least 0)"),
            });
        }
        if name.is_empty() {
            return Err(StoreError::InvalidInput {
                what: "pool name",
                detail: "a pool name may not be empty".to_string(),
            });
        }
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
