//! DAG runs: creation (unique by run id and by logical date), listing, compare-and-set
//! state changes.

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use weir_core::ids::{DagId, RunId};
use weir_core::state::DagRunState;

use crate::connect::BeginWrite;
use crate::error::{is_foreign_key_violation, is_unique_violation};
use crate::records::{DagRunFilter, DagRunOrder, DagRunRecord, NewDagRun, NewTaskInstance, Page};
use crate::sql::{Dialect, Ts, json_list, ts};
use crate::{Result, Store, StoreError};

pub(crate) const INSERT_RUN: &str = "\
INSERT INTO dag_run (dag_id, run_id, version_hash, run_type, state, logical_date,
    data_interval_start, data_interval_end, conf, external_trigger, queued_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
RETURNING *";

const SET_RUN_STATE: &str = "\
UPDATE dag_run SET
    state = $3,
    start_date = CASE WHEN $5 THEN NULL ELSE COALESCE(start_date, $6) END,
    end_date = CASE WHEN $7 THEN $8 ELSE end_date END,
    queued_at = COALESCE($9, queued_at)
WHERE dag_id = $1 AND run_id = $2 AND state = $4";

/// The `WHERE` clause of [`Store::list_dag_runs`] with only the filters that are set, so
/// that the database can use an index for them (`$n IS NULL OR …` hides every index);
/// parameters are numbered in the order `dag_id`, states, from, to, each only if set.
/// Returns the clause and the number of the next parameter.
fn run_filter(dialect: Dialect, filter: &DagRunFilter) -> (String, usize) {
    let mut conds = Vec::new();
    let mut n = 1;
    let mut next = || {
        let p = format!("${n}");
        n += 1;
        p
    };
    if filter.dag_id.is_some() {
        conds.push(format!("dag_id = {}", next()));
    }
    if !filter.states.is_empty() {
        conds.push(format!("state IN {}", dialect.json_text_elements(&next())));
    }
    if filter.logical_date_gte.is_some() {
        conds.push(format!("logical_date >= {}", next()));
    }
    if filter.logical_date_lte.is_some() {
        conds.push(format!("logical_date <= {}", next()));
    }
    let clause = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    (clause, n)
}

/// The `ORDER BY` clause of [`Store::list_dag_runs`] and [`Store::search_dag_runs`]: NULLs
/// last both ways, ties broken by DAG and run id so pages never overlap.
pub(crate) fn run_order(order: DagRunOrder, descending: bool) -> String {
    let dir = if descending { "DESC" } else { "ASC" };
    let col = match order {
        DagRunOrder::LogicalDate => "logical_date",
        DagRunOrder::StartDate => "start_date",
        DagRunOrder::EndDate => "end_date",
        DagRunOrder::RunId => "run_id",
        DagRunOrder::DagId => "dag_id",
        DagRunOrder::State => "state",
    };
    // `logical_date`, `run_id`, `dag_id` and `state` are NOT NULL: without `NULLS LAST`
    // (the same order for them) an index in either direction serves the sort.
    let nulls = match order {
        DagRunOrder::StartDate | DagRunOrder::EndDate => " NULLS LAST",
        _ => "",
    };
    format!("ORDER BY {col} {dir}{nulls}, dag_id {dir}, run_id {dir}")
}

/// DAGs per statement of [`Store::recent_dag_runs`] (SQLite allows 500 terms in a
/// compound `SELECT`).
const RECENT_CHUNK: usize = 100;

impl Store {
    /// Creates a DAG run. Fails with [`StoreError::RunExists`] if the DAG already has a run
    /// with that run id or that logical date, [`StoreError::DagNotFound`] for an unknown DAG.
    pub async fn create_dag_run(&self, run: &NewDagRun) -> Result<DagRunRecord> {
        self.create_dag_run_with_tasks(run, &[]).await
    }

    /// Creates a DAG run and its task instances in one transaction.
    pub async fn create_dag_run_with_tasks(
        &self,
        run: &NewDagRun,
        tasks: &[NewTaskInstance],
    ) -> Result<DagRunRecord> {
        let map_err = |e: sqlx::Error| {
            if is_unique_violation(&e) {
                StoreError::RunExists {
                    dag_id: run.dag_id.clone(),
                    run_id: run.run_id.clone(),
                    logical_date: Ts::micros(run.logical_date),
                }
            } else if is_foreign_key_violation(&e) {
                StoreError::DagNotFound(run.dag_id.clone())
            } else {
                StoreError::Database(e)
            }
        };
        with_db!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let record: DagRunRecord = insert_run_query!(run)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_err)?;
            insert_task_instances!(tx, &run.dag_id, &run.run_id, tasks).await?;
            tx.commit().await?;
            Ok(record)
        })
    }

    /// One DAG run.
    pub async fn get_dag_run(
        &self,
        dag_id: &DagId,
        run_id: &RunId,
    ) -> Result<Option<DagRunRecord>> {
        with_db!(self, |pool| {
            Ok(
                sqlx::query_as("SELECT * FROM dag_run WHERE dag_id = $1 AND run_id = $2")
                    .bind(dag_id.as_str())
                    .bind(run_id.as_str())
                    .fetch_optional(pool)
                    .await?,
            )
        })
    }

    /// One page of DAG runs matching `filter`, with the count of all that match.
    pub async fn list_dag_runs(&self, filter: &DagRunFilter) -> Result<Page<DagRunRecord>> {
        crate::sql::check_page(filter.limit, filter.offset)?;
        let dag_id = filter.dag_id.as_ref().map(DagId::as_str);
        let states = (!filter.states.is_empty()).then(|| json_list(&filter.states));
        let gte = ts(filter.logical_date_gte);
        let lte = ts(filter.logical_date_lte);
        // Binds the filters that are set, in `run_filter`'s order.
        macro_rules! bind_filter {
            ($q:expr) => {{
                let mut q = $q;
                if let Some(d) = dag_id {
                    q = q.bind(d);
                }
                if let Some(s) = &states {
                    q = q.bind(s);
                }
                if let Some(d) = gte {
                    q = q.bind(d);
                }
                if let Some(d) = lte {
                    q = q.bind(d);
                }
                q
            }};
        }
        with_db!(self, |pool, dialect| {
            let (cond, n) = run_filter(dialect, filter);
            let order = run_order(filter.order_by, filter.descending);
            let list = format!(
                "SELECT * FROM dag_run {cond} {order} LIMIT ${n} OFFSET ${}",
                n + 1
            );
            let items = bind_filter!(sqlx::query_as(AssertSqlSafe(list)))
                .bind(filter.limit)
                .bind(filter.offset)
                .fetch_all(pool)
                .await?;
            let count = format!("SELECT COUNT(*) FROM dag_run {cond}");
            let total_entries: i64 = bind_filter!(sqlx::query_scalar(AssertSqlSafe(count)))
                .fetch_one(pool)
                .await?;
            Ok(Page {
                items,
                total_entries,
            })
        })
    }

    /// Number of the DAG's runs in any of `states`.
    pub async fn count_dag_runs_in_states(
        &self,
        dag_id: &DagId,
        states: &[DagRunState],
    ) -> Result<i64> {
        let states = json_list(states);
        with_db!(self, |pool, dialect| {
            let sql = format!(
                "SELECT COUNT(*) FROM dag_run WHERE dag_id = $1 AND state IN {}",
                dialect.json_text_elements("$2")
            );
            Ok(sqlx::query_scalar(AssertSqlSafe(sql))
                .bind(dag_id.as_str())
                .bind(&states)
                .fetch_one(pool)
                .await?)
        })
    }

    /// Number of the DAG's runs that are queued or running (for `max_active_runs`).
    pub async fn count_active_runs(&self, dag_id: &DagId) -> Result<i64> {
        self.count_dag_runs_in_states(dag_id, &[DagRunState::Queued, DagRunState::Running])
            .await
    }

    /// Moves a run to another version of its DAG (a clear that asks for the DAG's latest
    /// version, as Airflow 3's `run_on_latest_version`). Returns whether the run exists.
    pub async fn set_dag_run_version(
        &self,
        dag_id: &DagId,
        run_id: &RunId,
        version_hash: &str,
    ) -> Result<bool> {
        with_db!(self, |pool| {
            let applied = sqlx::query(
                "UPDATE dag_run SET version_hash = $3 WHERE dag_id = $1 AND run_id = $2",
            )
            .bind(dag_id.as_str())
            .bind(run_id.as_str())
            .bind(version_hash)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(applied == 1)
        })
    }

    /// Compare-and-set of a run's state: applies only while the run is in `expected`, and
    /// returns whether it applied. A change of state must be legal for
    /// [`DagRunState::transition`] (else [`StoreError::IllegalTransition`]); `expected ==
    /// new` only checks the state. Entering `queued` clears start and end dates and sets
    /// `queued_at`; entering `running` sets the start date (if unset) and clears the end
    /// date; entering `success` or `failed` sets the end date.
    pub async fn set_dag_run_state(
        &self,
        dag_id: &DagId,
        run_id: &RunId,
        expected: DagRunState,
        new: DagRunState,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let changed = expected != new;
        if changed {
            expected.transition(new)?;
        }
        let clear_start = changed && new == DagRunState::Queued;
        let start = (changed && new == DagRunState::Running).then_some(Ts(now));
        let end = (changed && new.is_finished()).then_some(Ts(now));
        let queued_at = (changed && new == DagRunState::Queued).then_some(Ts(now));
        with_db!(self, |pool| {
            let applied = sqlx::query(SET_RUN_STATE)
                .bind(dag_id.as_str())
                .bind(run_id.as_str())
                .bind(new.as_str())
                .bind(expected.as_str())
                .bind(clear_start)
                .bind(start)
                .bind(changed)
                .bind(end)
                .bind(queued_at)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(applied == 1)
        })
    }

    /// Sets (or, with `None`, clears) a run's note; returns whether the run exists.
    pub async fn set_dag_run_note(
        &self,
        dag_id: &DagId,
        run_id: &RunId,
        note: Option<&str>,
    ) -> Result<bool> {
        with_db!(self, |pool| {
            let changed =
                sqlx::query("UPDATE dag_run SET note = $3 WHERE dag_id = $1 AND run_id = $2")
                    .bind(dag_id.as_str())
                    .bind(run_id.as_str())
                    .bind(note)
                    .execute(pool)
                    .await?
                    .rows_affected();
            Ok(changed > 0)
        })
    }

    /// Deletes a run with its task instances, tries and XComs; returns whether it existed.
    pub async fn delete_dag_run(&self, dag_id: &DagId, run_id: &RunId) -> Result<bool> {
        with_db!(self, |pool| {
            let deleted = sqlx::query("DELETE FROM dag_run WHERE dag_id = $1 AND run_id = $2")
                .bind(dag_id.as_str())
                .bind(run_id.as_str())
                .execute(pool)
                .await?
                .rows_affected();
            Ok(deleted > 0)
        })
    }

    /// The newest `per_dag` runs (by logical date) of each of `dag_ids`, newest first
    /// within each DAG (the DAG list's recent-run squares). One statement of one indexed
    /// range read per DAG (`UNIQUE (dag_id, logical_date)`), at most [`RECENT_CHUNK`] DAGs
    /// a statement: a window function over the DAGs' runs read every run of every DAG
    /// (20 ms for 100 DAGs of 50 runs).
    pub async fn recent_dag_runs(
        &self,
        dag_ids: &[DagId],
        per_dag: i64,
    ) -> Result<Vec<DagRunRecord>> {
        let mut out = Vec::new();
        if per_dag <= 0 {
            return Ok(out);
        }
        for chunk in dag_ids.chunks(RECENT_CHUNK) {
            let found: Vec<DagRunRecord> = with_db!(self, |pool, dialect| {
                match dialect {
                    // SQLite has no LATERAL: one `LIMIT`ed subquery per DAG.
                    Dialect::Sqlite => {
                        let list = (0..chunk.len())
                            .map(|i| {
                                format!(
                                    "SELECT * FROM (SELECT * FROM dag_run WHERE dag_id = ${} \
                                     ORDER BY logical_date DESC LIMIT $1) recent_{i}",
                                    i + 2
                                )
                            })
                            .collect::<Vec<_>>()
                            .join(" UNION ALL ");
                        let mut query = sqlx::query_as(AssertSqlSafe(list)).bind(per_dag);
                        for dag_id in chunk {
                            query = query.bind(dag_id.as_str());
                        }
                        query.fetch_all(pool).await?
                    }
                    // PostgreSQL plans a hundred-way UNION slowly; a LATERAL join is one
                    // small plan with the same indexed reads.
                    Dialect::Postgres => {
                        sqlx::query_as(
                            "SELECT r.* FROM jsonb_array_elements_text($2) AS d(dag_id)
                             CROSS JOIN LATERAL (SELECT * FROM dag_run WHERE dag_id = d.dag_id
                                 ORDER BY logical_date DESC LIMIT $1) r",
                        )
                        .bind(per_dag)
                        .bind(json_list(chunk))
                        .fetch_all(pool)
                        .await?
                    }
                }
            });
            out.extend(found);
        }
        Ok(out)
    }

    /// The DAG's run with the latest logical date.
    pub async fn latest_run(&self, dag_id: &DagId) -> Result<Option<DagRunRecord>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT * FROM dag_run WHERE dag_id = $1 ORDER BY logical_date DESC LIMIT 1",
            )
            .bind(dag_id.as_str())
            .fetch_optional(pool)
            .await?)
        })
    }

    /// The DAG's latest successful run with a logical date before `logical_date` (for
    /// `prev_data_interval_start_success` and friends).
    pub async fn last_successful_run_before(
        &self,
        dag_id: &DagId,
        logical_date: DateTime<Utc>,
    ) -> Result<Option<DagRunRecord>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT * FROM dag_run
                 WHERE dag_id = $1 AND state = 'success' AND logical_date < $2
                 ORDER BY logical_date DESC LIMIT 1",
            )
            .bind(dag_id.as_str())
            .bind(Ts(logical_date))
            .fetch_optional(pool)
            .await?)
        })
    }
}
