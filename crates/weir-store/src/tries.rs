//! Tries: one row per attempt of a task instance, written when it starts and completed
//! when it ends; unfinished ones are what recovery re-adopts after a restart.

use weir_core::ids::TryKey;

use crate::error::{is_foreign_key_violation, is_unique_violation};
use crate::records::{TaskInstanceKey, TryOutcome, TryRecord};

use crate::{Result, Store, StoreError};

pub(crate) const INSERT_TRY: &str = "\
INSERT INTO task_try (dag_id, run_id, task_id, map_index, try_number, state, started_at,
    finished_at, hostname, try_dir, pid, executor, external_id, exit_code, reason,
    cpu_seconds, peak_rss_bytes, replica_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)";

pub(crate) const FINISH_TRY: &str = "\
UPDATE task_try SET state = $6, exit_code = $7, reason = $8, finished_at = $9,
    cpu_seconds = $10, peak_rss_bytes = $11
WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND map_index = $4 AND try_number = $5
  AND finished_at IS NULL";

impl Store {
    /// Records the start of a try. [`StoreError::TryExists`] if that try number was already
    /// recorded, [`StoreError::TaskInstanceNotFound`] for an unknown task instance.
    pub async fn insert_try(&self, t: &TryRecord) -> Result<()> {
        let k = &t.key;
        let map_err = |e: sqlx::Error| {
            if is_unique_violation(&e) {
                StoreError::TryExists(k.clone())
            } else if is_foreign_key_violation(&e) {
                StoreError::TaskInstanceNotFound(TaskInstanceKey::from(k))
            } else {
                StoreError::Database(e)
            }
        };
        with_db!(self, |pool| {
            insert_try_query!(t).execute(pool).await.map_err(map_err)?;
        });
        Ok(())
    }

    /// Records how a try ended. Applies once: returns `false` if the try was already
    /// finished (or does not exist).
    pub async fn finish_try(&self, key: &TryKey, outcome: &TryOutcome) -> Result<bool> {
        with_db!(self, |pool| {
            let applied = finish_try_query!(key, outcome)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(applied == 1)
        })
    }

    /// Records the id the compute backend gave the try's job (for adoption after a crash).
    /// Returns whether the try exists.
    pub async fn set_try_external_id(&self, key: &TryKey, external_id: &str) -> Result<bool> {
        with_db!(self, |pool| {
            let applied = sqlx::query(
                "UPDATE task_try SET external_id = $6
                 WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND map_index = $4
                   AND try_number = $5",
            )
            .bind(key.dag_id.as_str())
            .bind(key.run_id.as_str())
            .bind(key.task_id.as_str())
            .bind(i64::from(key.map_index))
            .bind(i64::from(key.try_number))
            .bind(external_id)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(applied == 1)
        })
    }

    /// One try.
    pub async fn get_try(&self, key: &TryKey) -> Result<Option<TryRecord>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT * FROM task_try
                 WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND map_index = $4
                   AND try_number = $5",
            )
            .bind(key.dag_id.as_str())
            .bind(key.run_id.as_str())
            .bind(key.task_id.as_str())
            .bind(i64::from(key.map_index))
            .bind(i64::from(key.try_number))
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Every try of a task instance, first try first.
    pub async fn list_tries(&self, key: &TaskInstanceKey) -> Result<Vec<TryRecord>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT * FROM task_try
                 WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND map_index = $4
                 ORDER BY try_number",
            )
            .bind(key.dag_id.as_str())
            .bind(key.run_id.as_str())
            .bind(key.task_id.as_str())
            .bind(i64::from(key.map_index))
            .fetch_all(pool)
            .await?)
        })
    }

    /// How many tries of a task instance were closed as never started (state
    /// `scheduled`: the crash came before their supervisor or container ran, and the
    /// instance went back to the queue). They do not count against its retries.
    pub async fn count_never_started_tries(&self, key: &TaskInstanceKey) -> Result<u32> {
        with_db!(self, |pool| {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM task_try
                 WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND map_index = $4
                   AND state = $5 AND finished_at IS NOT NULL",
            )
            .bind(key.dag_id.as_str())
            .bind(key.run_id.as_str())
            .bind(key.task_id.as_str())
            .bind(i64::from(key.map_index))
            .bind(weir_core::state::TaskState::Scheduled.as_str())
            .fetch_one(pool)
            .await?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        })
    }

    /// Every try that started and has not finished, oldest first (for recovery).
    pub async fn list_unfinished_tries(&self) -> Result<Vec<TryRecord>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT * FROM task_try WHERE finished_at IS NULL
                 ORDER BY started_at, dag_id, run_id, task_id, map_index, try_number",
            )
            .fetch_all(pool)
            .await?)
        })
    }
}
