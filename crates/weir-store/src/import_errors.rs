//! Import errors: DAG files that failed to load, replaced on every parse of the file.

use chrono::Utc;

use crate::connect::BeginWrite;
use crate::records::{ImportErrorRecord, Page};
use crate::sql::Ts;
use crate::{Result, Store};

impl Store {
    /// Replaces the import errors of `filename` with `stack_traces` (one row each) in one
    /// transaction; an empty list clears them (the file now loads).
    pub async fn replace_import_errors(
        &self,
        filename: &str,
        stack_traces: &[String],
    ) -> Result<()> {
        let now = Ts(Utc::now());
        with_db!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM import_error WHERE filename = $1")
                .bind(filename)
                .execute(&mut *tx)
                .await?;
            for trace in stack_traces {
                sqlx::query(
                    "INSERT INTO import_error (filename, stack_trace, timestamp)
                     VALUES ($1, $2, $3)",
                )
                .bind(filename)
                .bind(trace)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The files that have import errors, sorted (a sync removes those of files that
    /// are gone).
    pub async fn import_error_files(&self) -> Result<Vec<String>> {
        with_db!(self, |pool| {
            Ok(
                sqlx::query_scalar("SELECT DISTINCT filename FROM import_error ORDER BY filename")
                    .fetch_all(pool)
                    .await?,
            )
        })
    }

    /// One import error.
    pub async fn get_import_error(
        &self,
        import_error_id: i64,
    ) -> Result<Option<ImportErrorRecord>> {
        with_db!(self, |pool| {
            Ok(
                sqlx::query_as("SELECT * FROM import_error WHERE import_error_id = $1")
                    .bind(import_error_id)
                    .fetch_optional(pool)
                    .await?,
            )
        })
    }

    /// One page of import errors sorted by id, with the total count.
    pub async fn list_import_errors(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<Page<ImportErrorRecord>> {
        crate::sql::check_page(limit, offset)?;
        with_db!(self, |pool| {
            let items = sqlx::query_as(
                "SELECT * FROM import_error ORDER BY import_error_id LIMIT $1 OFFSET $2",
            )
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?;
            let total_entries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM import_error")
                .fetch_one(pool)
                .await?;
            Ok(Page {
                items,
                total_entries,
            })
        })
    }
}
