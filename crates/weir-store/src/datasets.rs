//! Datasets and their events (migration 0012): events recorded from a try's outlets
//! (inside the try's end, `lifecycle.rs`) or posted through the API; each
//! dataset-scheduled DAG's cursor over event ids; the run a met condition creates, with
//! the events that triggered it, in one transaction that also moves the cursor
//! (compare-and-set, so two schedulers never both trigger on the same events).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::AssertSqlSafe;
use sqlx::types::Json;
use weir_core::ids::{DagId, RunId, TryNumber};

use crate::connect::BeginWrite;
use crate::records::{DagRunRecord, NewDagRun, NewTaskInstance, Page};
use crate::sql::Ts;
use crate::{Result, Store, StoreError};

/// The advisory lock event inserts take on PostgreSQL ("weir" and 12, the migration).
pub(crate) const EVENT_LOCK: i64 = 0x7765_6972_0012;

pub(crate) const UPSERT_DATASET: &str = "\
INSERT INTO dataset (uri, created_at, updated_at) VALUES ($1, $2, $2)
ON CONFLICT (uri) DO UPDATE SET updated_at = excluded.updated_at
RETURNING id";

pub(crate) const INSERT_EVENT: &str = "\
INSERT INTO dataset_event (dataset_id, uri, extra, team, source_dag_id, source_run_id,
    source_task_id, source_map_index, source_try_number, posted_by, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT DO NOTHING
RETURNING id";

/// The try whose outlet produced an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSource {
    pub dag_id: DagId,
    pub run_id: RunId,
    pub task_id: String,
    pub map_index: i32,
    pub try_number: TryNumber,
}

/// An event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDatasetEvent {
    pub uri: String,
    pub extra: Option<Value>,
    /// The producing team.
    pub team: String,
    /// The try, for an outlet; `None` for an event posted through the API.
    pub source: Option<EventSource>,
    /// Who posted it through the API.
    pub posted_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetEventRecord {
    pub id: i64,
    pub dataset_id: i64,
    pub uri: String,
    pub extra: Option<Value>,
    pub team: String,
    pub source_dag_id: Option<String>,
    pub source_run_id: Option<String>,
    pub source_task_id: Option<String>,
    pub source_map_index: Option<i64>,
    pub source_try_number: Option<i64>,
    pub posted_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl_from_row!(DatasetEventRecord, |row| {
    Ok(DatasetEventRecord {
        id: row.try_get("id")?,
        dataset_id: row.try_get("dataset_id")?,
        uri: row.try_get("uri")?,
        extra: row.try_get::<Option<Json<Value>>, _>("extra")?.map(|j| j.0),
        team: row.try_get("team")?,
        source_dag_id: row.try_get("source_dag_id")?,
        source_run_id: row.try_get("source_run_id")?,
        source_task_id: row.try_get("source_task_id")?,
        source_map_index: row.try_get("source_map_index")?,
        source_try_number: row.try_get("source_try_number")?,
        posted_by: row.try_get("posted_by")?,
        created_at: row.try_get::<Ts, _>("created_at")?.0,
    })
});

/// A dataset: a URI some event named.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetRecord {
    pub id: i64,
    pub uri: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// How many events it has had.
    pub events: i64,
}

impl_from_row!(DatasetRecord, |row| {
    Ok(DatasetRecord {
        id: row.try_get("id")?,
        uri: row.try_get("uri")?,
        created_at: row.try_get::<Ts, _>("created_at")?.0,
        updated_at: row.try_get::<Ts, _>("updated_at")?.0,
        events: row.try_get("events")?,
    })
});

/// Which events [`Store::list_dataset_events`] returns (Airflow's filters).
#[derive(Debug, Clone, Default)]
pub struct DatasetEventFilter {
    pub dataset_id: Option<i64>,
    pub uri: Option<String>,
    pub source_dag_id: Option<String>,
    pub source_run_id: Option<String>,
    pub source_task_id: Option<String>,
    pub source_map_index: Option<i64>,
    /// Newest first (the default in the API) or oldest first.
    pub descending: bool,
}

/// A dataset-scheduled DAG as the scheduler looks at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetConsumer {
    pub dag_id: DagId,
    pub paused: bool,
    /// The last event id it consumed (or passed over); `None` before its first look.
    pub cursor: Option<i64>,
}

/// A run a consumer's met condition creates ([`Store::trigger_dataset_run`]).
pub struct DatasetTrigger<'a> {
    pub run: &'a NewDagRun,
    pub tasks: &'a [NewTaskInstance],
    /// The consumer's cursor as read, and where it moves.
    pub cursor: i64,
    pub through: i64,
    /// The events the run consumes.
    pub events: &'a [i64],
}

impl Store {
    /// Records events posted through the API (or any not tied to a try's end). Returns
    /// the recorded events.
    pub async fn record_dataset_events(
        &self,
        events: &[NewDatasetEvent],
    ) -> Result<Vec<DatasetEventRecord>> {
        let ids = with_db!(self, |pool, dialect| {
            let mut tx = pool.begin_write().await?;
            let ids = insert_dataset_events!(tx, dialect, events).await?;
            tx.commit().await?;
            ids
        });
        self.dataset_events_by_id(&ids).await
    }

    async fn dataset_events_by_id(&self, ids: &[i64]) -> Result<Vec<DatasetEventRecord>> {
        self.rows_with_ids(
            "SELECT * FROM dataset_event WHERE CAST(id AS TEXT) IN {ids} ORDER BY id",
            ids,
        )
        .await
    }

    /// Events with an id past `after`, oldest first, at most `limit`.
    pub async fn dataset_events_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<DatasetEventRecord>> {
        with_db!(self, |pool| {
            Ok(
                sqlx::query_as("SELECT * FROM dataset_event WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(after)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?,
            )
        })
    }

    /// Active DAGs whose schedule names datasets (their schedule text, as the DAG list
    /// shows it, says `datasets`), with whether each is paused and its cursor, if it has
    /// one yet ([`Store::dataset_cursor`] makes it).
    pub async fn dataset_consumer_dags(&self) -> Result<Vec<DatasetConsumer>> {
        let rows: Vec<(String, bool, Option<i64>)> = with_db!(self, |pool| {
            sqlx::query_as(
                "SELECT d.dag_id, d.is_paused, c.last_event_id FROM dag d
                   LEFT JOIN dataset_consumer c ON c.dag_id = d.dag_id
                  WHERE d.is_active = $1 AND d.latest_version IS NOT NULL
                    AND d.schedule LIKE '%datasets%'
                  ORDER BY d.dag_id",
            )
            .bind(true)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .filter_map(|(id, paused, cursor)| {
                DagId::new(id).ok().map(|dag_id| DatasetConsumer {
                    dag_id,
                    paused,
                    cursor,
                })
            })
            .collect())
    }

    /// The newest event id (0 with no events).
    pub async fn last_dataset_event_id(&self) -> Result<i64> {
        with_db!(self, |pool| {
            let id: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM dataset_event")
                .fetch_one(pool)
                .await?;
            Ok(id.unwrap_or(0))
        })
    }

    /// Events, filtered and paged.
    pub async fn list_dataset_events(
        &self,
        filter: &DatasetEventFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Page<DatasetEventRecord>> {
        crate::sql::check_page(limit, offset)?;
        let cond = "WHERE ($1 IS NULL OR dataset_id = $1)
           AND ($2 IS NULL OR uri = $2)
           AND ($3 IS NULL OR source_dag_id = $3)
           AND ($4 IS NULL OR source_run_id = $4)
           AND ($5 IS NULL OR source_task_id = $5)
           AND ($6 IS NULL OR source_map_index = $6)";
        let dir = if filter.descending { "DESC" } else { "ASC" };
        with_db!(self, |pool| {
            let list =
                format!("SELECT * FROM dataset_event {cond} ORDER BY id {dir} LIMIT $7 OFFSET $8");
            let items = sqlx::query_as(AssertSqlSafe(list))
                .bind(filter.dataset_id)
                .bind(&filter.uri)
                .bind(&filter.source_dag_id)
                .bind(&filter.source_run_id)
                .bind(&filter.source_task_id)
                .bind(filter.source_map_index)
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await?;
            let count = format!("SELECT COUNT(*) FROM dataset_event {cond}");
            let total_entries: i64 = sqlx::query_scalar(AssertSqlSafe(count))
                .bind(filter.dataset_id)
                .bind(&filter.uri)
                .bind(&filter.source_dag_id)
                .bind(&filter.source_run_id)
                .bind(&filter.source_task_id)
                .bind(filter.source_map_index)
                .fetch_one(pool)
                .await?;
            Ok(Page {
                items,
                total_entries,
            })
        })
    }

    /// Datasets, by URI, optionally those whose URI contains `uri_contains`.
    pub async fn list_datasets(
        &self,
        uri_contains: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Page<DatasetRecord>> {
        crate::sql::check_page(limit, offset)?;
        // LIKE's wildcards in the caller's text are literal.
        let pattern = uri_contains.map(|s| {
            let escaped = s
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        with_db!(self, |pool| {
            let items = sqlx::query_as(
                "SELECT d.id, d.uri, d.created_at, d.updated_at,
                        (SELECT COUNT(*) FROM dataset_event e WHERE e.dataset_id = d.id) AS events
                   FROM dataset d
                  WHERE ($1 IS NULL OR d.uri LIKE $1 ESCAPE '\\')
                  ORDER BY d.uri LIMIT $2 OFFSET $3",
            )
            .bind(&pattern)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?;
            let total_entries: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM dataset WHERE ($1 IS NULL OR uri LIKE $1 ESCAPE '\\')",
            )
            .bind(&pattern)
            .fetch_one(pool)
            .await?;
            Ok(Page {
                items,
                total_entries,
            })
        })
    }

    /// One dataset by URI.
    pub async fn get_dataset(&self, uri: &str) -> Result<Option<DatasetRecord>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT d.id, d.uri, d.created_at, d.updated_at,
                        (SELECT COUNT(*) FROM dataset_event e WHERE e.dataset_id = d.id) AS events
                   FROM dataset d WHERE d.uri = $1",
            )
            .bind(uri)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// A consumer's cursor; made at `start` (normally the newest event id, so a new
    /// consumer is not triggered by what happened before it existed) when it has none.
    pub async fn dataset_cursor(&self, dag_id: &DagId, start: i64) -> Result<i64> {
        with_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO dataset_consumer (dag_id, last_event_id) VALUES ($1, $2)
                 ON CONFLICT (dag_id) DO NOTHING",
            )
            .bind(dag_id.as_str())
            .bind(start)
            .execute(pool)
            .await?;
            Ok(
                sqlx::query_scalar("SELECT last_event_id FROM dataset_consumer WHERE dag_id = $1")
                    .bind(dag_id.as_str())
                    .fetch_one(pool)
                    .await?,
            )
        })
    }

    /// Moves a consumer's cursor from `from` to `to` (compare-and-set); false when it had
    /// moved already.
    pub async fn move_dataset_cursor(&self, dag_id: &DagId, from: i64, to: i64) -> Result<bool> {
        with_db!(self, |pool| {
            Ok(sqlx::query(
                "UPDATE dataset_consumer SET last_event_id = $3
                  WHERE dag_id = $1 AND last_event_id = $2",
            )
            .bind(dag_id.as_str())
            .bind(from)
            .bind(to)
            .execute(pool)
            .await?
            .rows_affected()
                == 1)
        })
    }

    /// Creates a dataset-triggered run with its task instances and triggering events,
    /// and moves the consumer's cursor, in one transaction. `None` (nothing written) when
    /// the cursor had moved already: another scheduler took these events.
    pub async fn trigger_dataset_run(
        &self,
        trigger: &DatasetTrigger<'_>,
    ) -> Result<Option<DagRunRecord>> {
        let run = trigger.run;
        let events = crate::sql::json_list(trigger.events);
        with_db!(self, |pool, dialect| {
            let mut tx = pool.begin_write().await?;
            let moved = sqlx::query(
                "UPDATE dataset_consumer SET last_event_id = $3
                  WHERE dag_id = $1 AND last_event_id = $2",
            )
            .bind(run.dag_id.as_str())
            .bind(trigger.cursor)
            .bind(trigger.through)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if moved != 1 {
                tx.rollback().await?;
                return Ok(None);
            }
            let record: DagRunRecord =
                insert_run_query!(run)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| {
                        if crate::error::is_unique_violation(&e) {
                            StoreError::RunExists {
                                dag_id: run.dag_id.clone(),
                                run_id: run.run_id.clone(),
                                logical_date: Ts::micros(run.logical_date),
                            }
                        } else {
                            StoreError::Database(e)
                        }
                    })?;
            insert_task_instances!(tx, &run.dag_id, &run.run_id, trigger.tasks).await?;
            let link = format!(
                "INSERT INTO dag_run_dataset_event (dag_id, run_id, event_id)
                 SELECT $1, $2, id FROM dataset_event WHERE CAST(id AS TEXT) IN {}",
                dialect.json_text_elements("$3")
            );
            sqlx::query(AssertSqlSafe(link))
                .bind(run.dag_id.as_str())
                .bind(run.run_id.as_str())
                .bind(events)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Some(record))
        })
    }

    /// The events that triggered a run, oldest first.
    pub async fn triggering_dataset_events(
        &self,
        dag_id: &DagId,
        run_id: &RunId,
    ) -> Result<Vec<DatasetEventRecord>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT e.* FROM dataset_event e
                   JOIN dag_run_dataset_event l ON l.event_id = e.id
                  WHERE l.dag_id = $1 AND l.run_id = $2 ORDER BY e.id",
            )
            .bind(dag_id.as_str())
            .bind(run_id.as_str())
            .fetch_all(pool)
            .await?)
        })
    }

    /// The runs each event triggered: (event id, DAG, run).
    pub async fn runs_triggered_by(&self, event_ids: &[i64]) -> Result<Vec<(i64, String, String)>> {
        self.rows_with_ids(
            "SELECT event_id, dag_id, run_id FROM dag_run_dataset_event
              WHERE CAST(event_id AS TEXT) IN {ids} ORDER BY event_id, dag_id, run_id",
            event_ids,
        )
        .await
    }

    /// The rows of `sql`, whose `{ids}` stands for the list of `ids`.
    async fn rows_with_ids<T>(&self, sql: &str, ids: &[i64]) -> Result<Vec<T>>
    where
        T: Send
            + Unpin
            + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    {
        let ids = crate::sql::json_list(ids);
        with_db!(self, |pool, dialect| {
            let sql = sql.replace("{ids}", &dialect.json_text_elements("$1"));
            Ok(sqlx::query_as(AssertSqlSafe(sql))
                .bind(ids)
                .fetch_all(pool)
                .await?)
        })
    }

    /// The newest events (at most `limit`) at or after `since` on URIs starting with
    /// `prefix`, newest first: a dataset sensor filters them by its pattern.
    pub async fn dataset_events_since(
        &self,
        prefix: &str,
        since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<DatasetEventRecord>> {
        let like = format!("{}%", like_literal(prefix));
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT * FROM dataset_event WHERE uri LIKE $1 ESCAPE '\\' AND created_at >= $2
                  ORDER BY id DESC LIMIT $3",
            )
            .bind(like)
            .bind(Ts(since))
            .bind(limit)
            .fetch_all(pool)
            .await?)
        })
    }
}

/// `text` for a `LIKE … ESCAPE '\'` pattern, its wildcards taken literally.
fn like_literal(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
