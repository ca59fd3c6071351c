//! DAGs and their content versions.

use chrono::Utc;
use serde_json::Value;
use sqlx::AssertSqlSafe;
use sqlx::types::Json;
use weir_core::ids::{DagId, TeamId};
use weir_core::state::TaskState;

use crate::connect::BeginWrite;
use crate::records::{DagFilter, DagRecord, DagVersionRecord, NextDagRun, Page};
use crate::sql::{Ts, json_list, ts};
use crate::{Result, Store, StoreError};

const UPSERT_DAG: &str = "\
INSERT INTO dag (dag_id, team, file_path, description, tags, schedule, timezone,
    latest_version, is_paused, is_active, owners, max_active_runs, next_logical_date,
    next_data_interval_start, next_data_interval_end, last_parsed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
ON CONFLICT (dag_id) DO UPDATE SET
    team = excluded.team,
    file_path = excluded.file_path,
    description = excluded.description,
    tags = excluded.tags,
    schedule = excluded.schedule,
    timezone = excluded.timezone,
    latest_version = excluded.latest_version,
    is_active = excluded.is_active,
    owners = excluded.owners,
    max_active_runs = excluded.max_active_runs,
    last_parsed_at = excluded.last_parsed_at
RETURNING *";

const DAG_FILTER: &str = "\
WHERE (NOT $1 OR is_active = TRUE)
  AND ($2 IS NULL OR is_paused = $2)
  AND ($3 IS NULL OR team = $3)";

impl Store {
    /// Inserts or updates a DAG from a parse of its file and returns the stored row.
    /// `is_paused` and `next_dagrun` are only written when the DAG is new; afterwards they
    /// belong to [`Store::set_paused`] and [`Store::set_next_dagrun`].
    pub async fn upsert_dag(&self, dag: &DagRecord) -> Result<DagRecord> {
        let next = dag.next_dagrun;
        let max_active_runs = i64::from(dag.max_active_runs);
        with_db!(self, |pool| {
            Ok(sqlx::query_as(UPSERT_DAG)
                .bind(dag.dag_id.as_str())
                .bind(dag.team.as_ref().map(TeamId::as_str))
                .bind(&dag.file_path)
                .bind(&dag.description)
                .bind(Json(&dag.tags))
                .bind(&dag.schedule)
                .bind(&dag.timezone)
                .bind(&dag.latest_version)
                .bind(dag.is_paused)
                .bind(dag.is_active)
                .bind(Json(&dag.owners))
                .bind(max_active_runs)
                .bind(next.map(|n| Ts(n.logical_date)))
                .bind(ts(next.and_then(|n| n.data_interval_start)))
                .bind(ts(next.and_then(|n| n.data_interval_end)))
                .bind(ts(dag.last_parsed_at))
                .fetch_one(pool)
                .await?)
        })
    }

    /// The DAG, if known.
    pub async fn get_dag(&self, dag_id: &DagId) -> Result<Option<DagRecord>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as("SELECT * FROM dag WHERE dag_id = $1")
                .bind(dag_id.as_str())
                .fetch_optional(pool)
                .await?)
        })
    }

    /// One page of DAGs, sorted by id, with the count of all that match.
    pub async fn list_dags(&self, filter: &DagFilter) -> Result<Page<DagRecord>> {
        crate::sql::check_page(filter.limit, filter.offset)?;
        let team = filter.team.as_ref().map(TeamId::as_str);
        let list = format!("SELECT * FROM dag {DAG_FILTER} ORDER BY dag_id LIMIT $4 OFFSET $5");
        let count = format!("SELECT COUNT(*) FROM dag {DAG_FILTER}");
        with_db!(self, |pool| {
            let items = sqlx::query_as(AssertSqlSafe(list))
                .bind(filter.only_active)
                .bind(filter.paused)
                .bind(team)
                .bind(filter.limit)
                .bind(filter.offset)
                .fetch_all(pool)
                .await?;
            let total_entries: i64 = sqlx::query_scalar(AssertSqlSafe(count))
                .bind(filter.only_active)
                .bind(filter.paused)
                .bind(team)
                .fetch_one(pool)
                .await?;
            Ok(Page {
                items,
                total_entries,
            })
        })
    }

    /// Pauses or unpauses a DAG and returns it.
    pub async fn set_paused(&self, dag_id: &DagId, paused: bool) -> Result<DagRecord> {
        let dag: Option<DagRecord> = with_db!(self, |pool| {
            sqlx::query_as("UPDATE dag SET is_paused = $2 WHERE dag_id = $1 RETURNING *")
                .bind(dag_id.as_str())
                .bind(paused)
                .fetch_optional(pool)
                .await?
        });
        dag.ok_or_else(|| StoreError::DagNotFound(dag_id.clone()))
    }

    /// Records the DAG's next scheduled run (`None`: no further scheduled run).
    pub async fn set_next_dagrun(&self, dag_id: &DagId, next: Option<NextDagRun>) -> Result<()> {
        let done = with_db!(self, |pool| {
            sqlx::query(
                "UPDATE dag SET next_logical_date = $2, next_data_interval_start = $3,
                    next_data_interval_end = $4
                 WHERE dag_id = $1",
            )
            .bind(dag_id.as_str())
            .bind(next.map(|n| Ts(n.logical_date)))
            .bind(ts(next.and_then(|n| n.data_interval_start)))
            .bind(ts(next.and_then(|n| n.data_interval_end)))
            .execute(pool)
            .await?
            .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::DagNotFound(dag_id.clone()));
        }
        Ok(())
    }

    /// Marks inactive every active DAG not in `seen` (their files no longer define them)
    /// and returns how many it marked. An empty `seen` deactivates every DAG.
    pub async fn deactivate_dags_not_in(&self, seen: &[DagId]) -> Result<u64> {
        let ids = json_list(seen);
        with_db!(self, |pool, dialect| {
            let sql = format!(
                "UPDATE dag SET is_active = FALSE WHERE is_active = TRUE AND dag_id NOT IN {}",
                dialect.json_text_elements("$1")
            );
            Ok(sqlx::query(AssertSqlSafe(sql))
                .bind(ids)
                .execute(pool)
                .await?
                .rows_affected())
        })
    }

    /// Deletes a DAG with its versions, runs, task instances, tries and XComs (usage
    /// records stay: costs are history). Returns whether it existed. Refused with
    /// [`StoreError::DagHasRunningTasks`] while any of its task instances is queued or
    /// running (as Airflow does): their tries are live and would finish into nothing.
    pub async fn delete_dag(&self, dag_id: &DagId) -> Result<bool> {
        let busy = json_list(&[TaskState::Queued, TaskState::Running]);
        with_db!(self, |pool, dialect| {
            let mut tx = pool.begin_write().await?;
            let sql = format!(
                "SELECT COUNT(*) FROM task_instance WHERE dag_id = $1 AND state IN {}",
                dialect.json_text_elements("$2")
            );
            let count: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
                .bind(dag_id.as_str())
                .bind(&busy)
                .fetch_one(&mut *tx)
                .await?;
            if count > 0 {
                return Err(StoreError::DagHasRunningTasks {
                    dag_id: dag_id.clone(),
                    count,
                });
            }
            sqlx::query("DELETE FROM dag_version WHERE dag_id = $1")
                .bind(dag_id.as_str())
                .execute(&mut *tx)
                .await?;
            let deleted = sqlx::query("DELETE FROM dag WHERE dag_id = $1")
                .bind(dag_id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok(deleted > 0)
        })
    }

    /// Stores a content version of a DAG; returns `true` if it is new, `false` if that
    /// hash was already stored (the stored one is kept: same hash, same content).
    pub async fn insert_dag_version(
        &self,
        dag_id: &DagId,
        version_hash: &str,
        spec: &Value,
        source: &str,
    ) -> Result<bool> {
        let now = Ts(Utc::now());
        with_db!(self, |pool| {
            let inserted = sqlx::query(
                "INSERT INTO dag_version (dag_id, version_hash, spec, source, created_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (dag_id, version_hash) DO NOTHING",
            )
            .bind(dag_id.as_str())
            .bind(version_hash)
            .bind(Json(spec))
            .bind(source)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(inserted == 1)
        })
    }

    /// One version of a DAG.
    pub async fn get_dag_version(
        &self,
        dag_id: &DagId,
        version_hash: &str,
    ) -> Result<Option<DagVersionRecord>> {
        with_db!(self, |pool| {
            Ok(
                sqlx::query_as("SELECT * FROM dag_version WHERE dag_id = $1 AND version_hash = $2")
                    .bind(dag_id.as_str())
                    .bind(version_hash)
                    .fetch_optional(pool)
                    .await?,
            )
        })
    }

    /// Every stored version of a DAG, newest first.
    pub async fn list_dag_versions(&self, dag_id: &DagId) -> Result<Vec<DagVersionRecord>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT * FROM dag_version WHERE dag_id = $1
                 ORDER BY created_at DESC, version_hash",
            )
            .bind(dag_id.as_str())
            .fetch_all(pool)
            .await?)
        })
    }
}
