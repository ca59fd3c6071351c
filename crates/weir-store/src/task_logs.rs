//! Where a finished try's log went once it left its try folder (`task_log`, migration
//! 0011): archived to the log store (its `s3://` location and size, so a read needs no
//! probe), or removed by retention. No row: the log is still in its try folder.
//!
//! The sweeps that archive and expire logs find their work here: finished tries of this
//! host with no row yet, and finished tries older than the retention not removed yet.

use chrono::{DateTime, Utc};
use weir_core::ids::TryKey;

use crate::records::TryRecord;
use crate::sql::{Ts, opt_int_col, u64_to_i64};
use crate::{Result, Store};

/// Where a try's log is, once it left its try folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskLogRecord {
    pub key: TryKey,
    /// `s3://bucket/key` of the archived log; None: nothing was archived (there was no
    /// log file).
    pub location: Option<String>,
    /// The archived object's size, so reads are bounded without asking the store.
    pub size_bytes: Option<u64>,
    pub archived_at: Option<DateTime<Utc>>,
    /// When retention deleted the log.
    pub removed_at: Option<DateTime<Utc>>,
}

/// A finished try whose log retention may delete, and where its log was archived.
#[derive(Debug, Clone)]
pub struct ExpiredLog {
    pub record: TryRecord,
    pub location: Option<String>,
}

impl_from_row!(TaskLogRecord, |row| {
    Ok(TaskLogRecord {
        key: TryKey {
            dag_id: crate::sql::parse_col("dag_id", row.try_get("dag_id")?)?,
            run_id: crate::sql::parse_col("run_id", row.try_get("run_id")?)?,
            task_id: crate::sql::parse_col("task_id", row.try_get("task_id")?)?,
            map_index: crate::sql::int_col("map_index", row.try_get("map_index")?)?,
            try_number: crate::sql::int_col("try_number", row.try_get("try_number")?)?,
        },
        location: row.try_get("location")?,
        size_bytes: opt_int_col("size_bytes", row.try_get("size_bytes")?)?,
        archived_at: row.try_get::<Option<Ts>, _>("archived_at")?.map(|t| t.0),
        removed_at: row.try_get::<Option<Ts>, _>("removed_at")?.map(|t| t.0),
    })
});

impl_from_row!(ExpiredLog, |row| {
    Ok(ExpiredLog {
        record: ::sqlx::FromRow::from_row(row)?,
        location: row.try_get("log_location")?,
    })
});

/// Binds the five key columns of a try as `$1`..`$5`.
macro_rules! bind_try_key {
    ($query:expr, $key:expr) => {{
        let key: &TryKey = $key;
        $query
            .bind(key.dag_id.as_str())
            .bind(key.run_id.as_str())
            .bind(key.task_id.as_str())
            .bind(i64::from(key.map_index))
            .bind(i64::from(key.try_number))
    }};
}

impl Store {
    /// Where try `key`'s log went, if it left its try folder.
    pub async fn task_log(&self, key: &TryKey) -> Result<Option<TaskLogRecord>> {
        with_db!(self, |pool| {
            Ok(bind_try_key!(
                sqlx::query_as(
                    "SELECT * FROM task_log
                     WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND map_index = $4
                       AND try_number = $5",
                ),
                key
            )
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Records that try `key`'s log was archived at `location` (None: there was no log
    /// to archive). A log retention already removed stays removed.
    pub async fn record_log_archived(
        &self,
        key: &TryKey,
        location: Option<&str>,
        size_bytes: Option<u64>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        with_db!(self, |pool| {
            bind_try_key!(
                sqlx::query(
                    "INSERT INTO task_log (dag_id, run_id, task_id, map_index, try_number,
                         location, size_bytes, archived_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (dag_id, run_id, task_id, map_index, try_number) DO UPDATE
                     SET location = excluded.location, size_bytes = excluded.size_bytes,
                         archived_at = excluded.archived_at
                     WHERE task_log.removed_at IS NULL",
                ),
                key
            )
            .bind(location)
            .bind(size_bytes.map(u64_to_i64))
            .bind(Ts(at))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Records that retention removed try `key`'s log (wherever it was).
    pub async fn record_log_removed(&self, key: &TryKey, at: DateTime<Utc>) -> Result<()> {
        with_db!(self, |pool| {
            bind_try_key!(
                sqlx::query(
                    "INSERT INTO task_log (dag_id, run_id, task_id, map_index, try_number,
                         removed_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (dag_id, run_id, task_id, map_index, try_number) DO UPDATE
                     SET removed_at = excluded.removed_at",
                ),
                key
            )
            .bind(Ts(at))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Finished tries run on `hostname` (whose try folders are on this host's disk)
    /// whose log has not left its folder yet, oldest first.
    pub async fn list_unarchived_logs(&self, hostname: &str, limit: u32) -> Result<Vec<TryRecord>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT t.* FROM task_try t
                 WHERE t.finished_at IS NOT NULL AND t.try_dir IS NOT NULL AND t.hostname = $1
                   AND NOT EXISTS (SELECT 1 FROM task_log l
                       WHERE l.dag_id = t.dag_id AND l.run_id = t.run_id
                         AND l.task_id = t.task_id AND l.map_index = t.map_index
                         AND l.try_number = t.try_number)
                 ORDER BY t.finished_at
                 LIMIT $2",
            )
            .bind(hostname)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?)
        })
    }

    /// Tries that ended before `before` whose log retention has not removed yet: those
    /// archived (from any host) and those still in a try folder of `hostname`, oldest
    /// first.
    pub async fn list_expired_logs(
        &self,
        before: DateTime<Utc>,
        hostname: &str,
        limit: u32,
    ) -> Result<Vec<ExpiredLog>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT t.*, l.location AS log_location FROM task_try t
                 LEFT JOIN task_log l
                   ON l.dag_id = t.dag_id AND l.run_id = t.run_id AND l.task_id = t.task_id
                  AND l.map_index = t.map_index AND l.try_number = t.try_number
                 WHERE t.finished_at IS NOT NULL AND t.finished_at < $1
                   AND l.removed_at IS NULL
                   AND (l.location IS NOT NULL OR (t.try_dir IS NOT NULL AND t.hostname = $2))
                 ORDER BY t.finished_at
                 LIMIT $3",
            )
            .bind(Ts(before))
            .bind(hostname)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?)
        })
    }
}
