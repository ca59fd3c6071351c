//! Replicas and their leases: every Weir process sharing the database registers itself
//! and renews its lease with a heartbeat; a scheduler replica holds *scheduler leases* on
//! DAGs (it alone plans and dispatches their runs) for as long as its own lease lasts.
//!
//! A lease is never renewed one DAG at a time: one heartbeat keeps all of a replica's
//! leases alive, and when it stops (kill -9, a network cut) they all run out together at
//! its `lease_until`. Claims are compare-and-set; on PostgreSQL they take the DAG rows
//! with `FOR UPDATE SKIP LOCKED`, so replicas claiming at the same moment divide the DAGs
//! between them instead of queueing behind each other or claiming one twice.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use weir_core::ids::DagId;

use sqlx::AssertSqlSafe;

use crate::sql::{Dialect, Ts, json_list, ts};
use crate::{Result, Store, TryRecord};

/// A Weir process sharing this database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaRecord {
    pub replica_id: String,
    /// `standalone`, `all`, `api` or `scheduler`.
    pub role: String,
    pub host: String,
    /// The Weir version it runs.
    pub version: String,
    /// Where other replicas reach its HTTP API.
    pub address: Option<String>,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    /// Its leases hold until then unless renewed.
    pub lease_until: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
}

impl ReplicaRecord {
    /// Whether its leases still hold at `now`.
    pub fn alive_at(&self, now: DateTime<Utc>) -> bool {
        self.stopped_at.is_none() && self.lease_until > now
    }
}

impl_from_row!(ReplicaRecord, |row| {
    Ok(ReplicaRecord {
        replica_id: row.try_get("replica_id")?,
        role: row.try_get("role")?,
        host: row.try_get("host")?,
        version: row.try_get("version")?,
        address: row.try_get("address")?,
        started_at: row.try_get::<Ts, _>("started_at")?.0,
        heartbeat_at: row.try_get::<Ts, _>("heartbeat_at")?.0,
        lease_until: row.try_get::<Ts, _>("lease_until")?.0,
        stopped_at: row.try_get::<Option<Ts>, _>("stopped_at")?.map(|t| t.0),
    })
});

/// A DAG's id, as claims return them.
struct DagIdRow(DagId);

impl_from_row!(DagIdRow, |row| {
    let id: String = row.try_get("dag_id")?;
    Ok(DagIdRow(crate::sql::parse_col("dag_id", id)?))
});

impl Store {
    /// Registers a replica (a fresh id per process start).
    pub async fn register_replica(&self, r: &ReplicaRecord) -> Result<()> {
        with_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO replica (replica_id, role, host, version, address, started_at,
                     heartbeat_at, lease_until, stopped_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&r.replica_id)
            .bind(&r.role)
            .bind(&r.host)
            .bind(&r.version)
            .bind(&r.address)
            .bind(Ts(r.started_at))
            .bind(Ts(r.heartbeat_at))
            .bind(Ts(r.lease_until))
            .bind(ts(r.stopped_at))
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Renews a replica's lease (and so every scheduler lease it holds). Returns false
    /// when the replica's lease had already run out or it stopped: others may have taken
    /// over, so it must not go on as if it held anything.
    pub async fn heartbeat_replica(
        &self,
        replica_id: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool> {
        with_db!(self, |pool| {
            let n = sqlx::query(
                "UPDATE replica SET heartbeat_at = $2, lease_until = $3
                 WHERE replica_id = $1 AND stopped_at IS NULL AND lease_until > $2",
            )
            .bind(replica_id)
            .bind(Ts(now))
            .bind(Ts(lease_until))
            .execute(pool)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
    }

    /// Marks a replica stopped and hands its scheduler leases back at once (a clean
    /// shutdown need not wait for them to run out).
    pub async fn stop_replica(&self, replica_id: &str, now: DateTime<Utc>) -> Result<()> {
        with_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "UPDATE replica SET stopped_at = $2, lease_until = $2 WHERE replica_id = $1",
            )
            .bind(replica_id)
            .bind(Ts(now))
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM scheduler_lease WHERE replica_id = $1")
                .bind(replica_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Every replica on record (dead ones until [`Store::prune_replicas`]), oldest first.
    pub async fn list_replicas(&self) -> Result<Vec<ReplicaRecord>> {
        with_db!(self, |pool| {
            Ok(
                sqlx::query_as("SELECT * FROM replica ORDER BY started_at, replica_id")
                    .fetch_all(pool)
                    .await?,
            )
        })
    }

    /// Forgets replicas whose lease ran out before `before` and that hold no try.
    pub async fn prune_replicas(&self, before: DateTime<Utc>) -> Result<u64> {
        with_db!(self, |pool| {
            Ok(sqlx::query(
                "DELETE FROM replica WHERE lease_until < $1
                   AND NOT EXISTS (SELECT 1 FROM task_try t
                                   WHERE t.replica_id = replica.replica_id
                                     AND t.finished_at IS NULL)",
            )
            .bind(Ts(before))
            .execute(pool)
            .await?
            .rows_affected())
        })
    }

    /// How many active DAGs there are, and how many live replicas of the given roles
    /// share them (for each replica's fair part).
    pub async fn lease_shares(&self, roles: &[&str], now: DateTime<Utc>) -> Result<(i64, i64)> {
        let roles = json_list(roles);
        with_db!(self, |pool, dialect| {
            let dags: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dag WHERE is_active = $1")
                .bind(true)
                .fetch_one(pool)
                .await?;
            let sql = format!(
                "SELECT COUNT(*) FROM replica
                 WHERE lease_until > $1 AND stopped_at IS NULL AND role IN {}",
                dialect.json_text_elements("$2")
            );
            let live: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
                .bind(Ts(now))
                .bind(&roles)
                .fetch_one(pool)
                .await?;
            Ok((dags, live))
        })
    }

    /// Claims up to `most` active DAGs that no live replica holds (never held, or held by
    /// one whose lease ran out at `now`) for `replica_id`; returns the DAGs claimed.
    pub async fn claim_dags(
        &self,
        replica_id: &str,
        now: DateTime<Utc>,
        most: i64,
    ) -> Result<Vec<DagId>> {
        if most <= 0 {
            return Ok(Vec::new());
        }
        with_db!(self, |pool, dialect| {
            // SQLite has one writer at a time, so it needs no row locks (and has none).
            let lock = match dialect {
                Dialect::Postgres => "FOR UPDATE OF d SKIP LOCKED",
                Dialect::Sqlite => "",
            };
            let sql = format!(
                "WITH free AS (
                     SELECT d.dag_id FROM dag d
                     LEFT JOIN scheduler_lease l ON l.dag_id = d.dag_id
                     LEFT JOIN replica r ON r.replica_id = l.replica_id
                     WHERE d.is_active = $4
                       AND (l.dag_id IS NULL OR r.replica_id IS NULL
                            OR r.stopped_at IS NOT NULL OR r.lease_until <= $2)
                     ORDER BY d.dag_id
                     LIMIT $3
                     {lock}
                 )
                 INSERT INTO scheduler_lease (dag_id, replica_id, claimed_at)
                 SELECT dag_id, $1, $2 FROM free WHERE true
                 ON CONFLICT (dag_id) DO UPDATE
                     SET replica_id = excluded.replica_id, claimed_at = excluded.claimed_at
                     WHERE NOT EXISTS (
                         SELECT 1 FROM replica r
                         WHERE r.replica_id = scheduler_lease.replica_id
                           AND r.stopped_at IS NULL AND r.lease_until > $2)
                 RETURNING dag_id"
            );
            let rows: Vec<DagIdRow> = sqlx::query_as(AssertSqlSafe(sql))
                .bind(replica_id)
                .bind(Ts(now))
                .bind(most)
                .bind(true)
                .fetch_all(pool)
                .await?;
            Ok(rows.into_iter().map(|r| r.0).collect())
        })
    }

    /// The DAGs `replica_id` holds scheduler leases on.
    pub async fn leased_dags(&self, replica_id: &str) -> Result<Vec<DagId>> {
        with_db!(self, |pool| {
            let rows: Vec<DagIdRow> = sqlx::query_as(
                "SELECT dag_id FROM scheduler_lease WHERE replica_id = $1 ORDER BY dag_id",
            )
            .bind(replica_id)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|r| r.0).collect())
        })
    }

    /// How many DAGs each replica holds leases on.
    pub async fn lease_counts(&self) -> Result<Vec<(String, i64)>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT replica_id, COUNT(*) FROM scheduler_lease GROUP BY replica_id",
            )
            .fetch_all(pool)
            .await?)
        })
    }

    /// Hands back `replica_id`'s leases on `dags` (for another replica to claim); returns
    /// how many it held.
    pub async fn release_dags(&self, replica_id: &str, dags: &[DagId]) -> Result<u64> {
        let ids = json_list(dags);
        with_db!(self, |pool, dialect| {
            let sql = format!(
                "DELETE FROM scheduler_lease WHERE replica_id = $1 AND dag_id IN {}",
                dialect.json_text_elements("$2")
            );
            Ok(sqlx::query(AssertSqlSafe(sql))
                .bind(replica_id)
                .bind(&ids)
                .execute(pool)
                .await?
                .rows_affected())
        })
    }

    /// Unfinished tries that no live replica watches at `now` (their replica's lease ran
    /// out, or none was recorded): the tries a live replica adopts. Each comes with the
    /// host of the replica that ran it, when known (local processes and containers can be
    /// adopted only from that host).
    pub async fn orphaned_tries(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(TryRecord, Option<String>)>> {
        with_db!(self, |pool| {
            let rows: Vec<OrphanRow> = sqlx::query_as(
                "SELECT t.*, r.host AS replica_host FROM task_try t
                 LEFT JOIN replica r ON r.replica_id = t.replica_id
                 WHERE t.finished_at IS NULL
                   AND (r.replica_id IS NULL OR r.stopped_at IS NOT NULL
                        OR r.lease_until <= $1)
                 ORDER BY t.started_at, t.dag_id, t.run_id, t.task_id, t.map_index",
            )
            .bind(Ts(now))
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|r| (r.record, r.host)).collect())
        })
    }

    /// Moves an unfinished try from replica `from` (None: none recorded) to `to`, the
    /// replica adopting it; compare-and-set, so of replicas racing to adopt one try
    /// exactly one wins. Returns whether this call moved it.
    pub async fn adopt_try(
        &self,
        key: &weir_core::ids::TryKey,
        from: Option<&str>,
        to: &str,
    ) -> Result<bool> {
        with_db!(self, |pool| {
            let n = sqlx::query(
                "UPDATE task_try SET replica_id = $6
                 WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND map_index = $4
                   AND try_number = $5 AND finished_at IS NULL
                   AND COALESCE(replica_id, '') = COALESCE($7, '')",
            )
            .bind(key.dag_id.as_str())
            .bind(key.run_id.as_str())
            .bind(key.task_id.as_str())
            .bind(i64::from(key.map_index))
            .bind(i64::from(key.try_number))
            .bind(to)
            .bind(from)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
    }
}

/// A try with the host of the replica that ran it.
struct OrphanRow {
    record: TryRecord,
    host: Option<String>,
}

impl_from_row!(OrphanRow, |row| {
    Ok(OrphanRow {
        record: sqlx::FromRow::from_row(row)?,
        host: row.try_get("replica_host")?,
    })
});
