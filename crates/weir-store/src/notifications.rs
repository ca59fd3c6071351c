//! Notification messages: recorded when an event is raised, then sent, retried and
//! marked by the engine's delivery loop (migration 0009). Recording is idempotent: a
//! message whose (dedup key, channel) exists is not recorded again.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::AssertSqlSafe;
use sqlx::types::Json;
use weir_core::ids::DagId;
use weir_core::state::DagRunState;

use crate::records::{DagRunRecord, Page};
use crate::sql::{Dialect, Ts, ts};
use crate::{Result, Store};

/// A message to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub dedup_key: String,
    pub channel: String,
    /// `webhook` or `email`.
    pub medium: String,
    pub team: String,
    pub dag_id: String,
    pub run_id: String,
    pub task_id: Option<String>,
    pub event: String,
    pub message: Value,
    pub created_at: DateTime<Utc>,
}

/// A recorded message and how its delivery goes.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationRecord {
    pub id: i64,
    pub dedup_key: String,
    pub channel: String,
    /// `webhook` or `email`.
    pub medium: String,
    pub team: String,
    pub dag_id: String,
    pub run_id: String,
    pub task_id: Option<String>,
    pub event: String,
    pub message: Value,
    /// `pending`, `sent` or `failed`.
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl_from_row!(NotificationRecord, |row| {
    Ok(NotificationRecord {
        id: row.try_get("id")?,
        dedup_key: row.try_get("dedup_key")?,
        channel: row.try_get("channel")?,
        medium: row.try_get("medium")?,
        team: row.try_get("team")?,
        dag_id: row.try_get("dag_id")?,
        run_id: row.try_get("run_id")?,
        task_id: row.try_get("task_id")?,
        event: row.try_get("event")?,
        message: row.try_get::<Json<Value>, _>("message")?.0,
        state: row.try_get("state")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get::<Ts, _>("next_attempt_at")?.0,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get::<Ts, _>("created_at")?.0,
        updated_at: row.try_get::<Ts, _>("updated_at")?.0,
        sent_at: row.try_get::<Option<Ts>, _>("sent_at")?.map(|t| t.0),
    })
});

/// What one delivery attempt (or the rate limit) did to a message.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryUpdate {
    Sent,
    /// The attempt failed; try again at `next_at`.
    Retry {
        next_at: DateTime<Utc>,
        error: String,
    },
    /// The attempt failed and no attempt is left (or retrying cannot help).
    Failed {
        error: String,
    },
    /// Not attempted: the channel's rate limit is reached until `next_at`.
    Postponed {
        next_at: DateTime<Utc>,
    },
}

/// Which messages [`Store::list_notifications`] returns.
#[derive(Debug, Clone, Default)]
pub struct NotificationFilter {
    /// Only these teams' messages; `None`: every team's.
    pub teams: Option<Vec<String>>,
    pub dag_id: Option<String>,
    pub state: Option<String>,
    pub channel: Option<String>,
}

/// How one channel's deliveries go, over the messages a caller may see.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelDeliveries {
    pub channel: String,
    pub pending: i64,
    pub sent: i64,
    pub failed: i64,
    pub last_sent_at: Option<DateTime<Utc>>,
    /// The newest error of an attempt, and when.
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

fn notification_filter(dialect: Dialect) -> String {
    format!(
        "WHERE ($1 IS NULL OR team IN {})
           AND ($2 IS NULL OR dag_id = $2)
           AND ($3 IS NULL OR state = $3)
           AND ($4 IS NULL OR channel = $4)",
        dialect.json_text_elements("$1")
    )
}

impl Store {
    /// Records messages, skipping any whose (dedup key, channel) is recorded already;
    /// returns how many were new.
    pub async fn enqueue_notifications(&self, items: &[NewNotification]) -> Result<u64> {
        if items.is_empty() {
            return Ok(0);
        }
        with_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            let mut added = 0;
            for n in items {
                added += sqlx::query(
                    "INSERT INTO notification (dedup_key, channel, medium, team, dag_id, run_id,
                         task_id, event, message, state, attempts, next_attempt_at, created_at,
                         updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $10, $10)
                     ON CONFLICT (dedup_key, channel, medium) DO NOTHING",
                )
                .bind(&n.dedup_key)
                .bind(&n.channel)
                .bind(&n.medium)
                .bind(&n.team)
                .bind(&n.dag_id)
                .bind(&n.run_id)
                .bind(&n.task_id)
                .bind(&n.event)
                .bind(Json(&n.message))
                .bind(Ts(n.created_at))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            tx.commit().await?;
            Ok(added)
        })
    }

    /// Pending messages due by `now`, oldest due first.
    pub async fn due_notifications(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<NotificationRecord>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT * FROM notification WHERE state = 'pending' AND next_attempt_at <= $1
                 ORDER BY next_attempt_at, id LIMIT $2",
            )
            .bind(Ts(now))
            .bind(limit)
            .fetch_all(pool)
            .await?)
        })
    }

    /// When the next pending message is due, if any is pending.
    pub async fn next_notification_due(&self) -> Result<Option<DateTime<Utc>>> {
        with_db!(self, |pool| {
            let at: Option<Option<Ts>> = sqlx::query_scalar(
                "SELECT MIN(next_attempt_at) FROM notification WHERE state = 'pending'",
            )
            .fetch_optional(pool)
            .await?;
            Ok(at.flatten().map(|t| t.0))
        })
    }

    /// Records what an attempt did. Only a pending message moves, so a message marked
    /// by another replica meanwhile stays as it is; returns whether it moved.
    pub async fn record_delivery(
        &self,
        id: i64,
        at: DateTime<Utc>,
        update: &DeliveryUpdate,
    ) -> Result<bool> {
        let (state, attempt, next, error, sent) = match update {
            DeliveryUpdate::Sent => ("sent", 1, at, None, Some(at)),
            DeliveryUpdate::Retry { next_at, error } => {
                ("pending", 1, *next_at, Some(error.as_str()), None)
            }
            DeliveryUpdate::Failed { error } => ("failed", 1, at, Some(error.as_str()), None),
            DeliveryUpdate::Postponed { next_at } => ("pending", 0, *next_at, None, None),
        };
        with_db!(self, |pool| {
            Ok(sqlx::query(
                "UPDATE notification
                    SET state = $2, attempts = attempts + $3, next_attempt_at = $4,
                        last_error = COALESCE($5, last_error), sent_at = $6, updated_at = $7
                  WHERE id = $1 AND state = 'pending'",
            )
            .bind(id)
            .bind(state)
            .bind(attempt)
            .bind(Ts(next))
            .bind(error)
            .bind(ts(sent))
            .bind(Ts(at))
            .execute(pool)
            .await?
            .rows_affected()
                == 1)
        })
    }

    /// One page of the messages `filter` selects, newest first.
    pub async fn list_notifications(
        &self,
        filter: &NotificationFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Page<NotificationRecord>> {
        crate::sql::check_page(limit, offset)?;
        let teams = filter.teams.as_ref().map(Json);
        with_db!(self, |pool, dialect| {
            let cond = notification_filter(dialect);
            let list =
                format!("SELECT * FROM notification {cond} ORDER BY id DESC LIMIT $5 OFFSET $6");
            let items = sqlx::query_as(AssertSqlSafe(list))
                .bind(teams)
                .bind(&filter.dag_id)
                .bind(&filter.state)
                .bind(&filter.channel)
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await?;
            let count = format!("SELECT COUNT(*) FROM notification {cond}");
            let total_entries: i64 = sqlx::query_scalar(AssertSqlSafe(count))
                .bind(teams)
                .bind(&filter.dag_id)
                .bind(&filter.state)
                .bind(&filter.channel)
                .fetch_one(pool)
                .await?;
            Ok(Page {
                items,
                total_entries,
            })
        })
    }

    /// Each channel's deliveries over the messages of `teams` (`None`: every team's).
    pub async fn channel_deliveries(
        &self,
        teams: Option<&[String]>,
    ) -> Result<Vec<ChannelDeliveries>> {
        let teams = teams.map(Json);
        with_db!(self, |pool, dialect| {
            let within = format!(
                "($1 IS NULL OR team IN {})",
                dialect.json_text_elements("$1")
            );
            let counts = format!(
                "SELECT channel,
                        SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END),
                        SUM(CASE WHEN state = 'sent' THEN 1 ELSE 0 END),
                        SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END),
                        MAX(sent_at)
                   FROM notification WHERE {within} GROUP BY channel ORDER BY channel"
            );
            let rows: Vec<(String, i64, i64, i64, Option<Ts>)> =
                sqlx::query_as(AssertSqlSafe(counts))
                    .bind(teams)
                    .fetch_all(pool)
                    .await?;
            let errors = format!(
                "SELECT channel, last_error, updated_at FROM notification
                  WHERE last_error IS NOT NULL AND {within} ORDER BY updated_at DESC, id DESC"
            );
            let errors: Vec<(String, String, Ts)> = sqlx::query_as(AssertSqlSafe(errors))
                .bind(teams)
                .fetch_all(pool)
                .await?;
            Ok(rows
                .into_iter()
                .map(|(channel, pending, sent, failed, last_sent)| {
                    let newest = errors.iter().find(|(c, ..)| *c == channel);
                    ChannelDeliveries {
                        pending,
                        sent,
                        failed,
                        last_sent_at: last_sent.map(|t| t.0),
                        last_error: newest.map(|(_, e, _)| e.clone()),
                        last_error_at: newest.map(|(.., t)| t.0),
                        channel,
                    }
                })
                .collect())
        })
    }

    /// The DAG's last finished run before `logical_date`, for "recovered after a
    /// failure".
    pub async fn previous_finished_run(
        &self,
        dag_id: &DagId,
        logical_date: DateTime<Utc>,
    ) -> Result<Option<DagRunRecord>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT * FROM dag_run WHERE dag_id = $1 AND logical_date < $2
                   AND state IN ($3, $4)
                 ORDER BY logical_date DESC LIMIT 1",
            )
            .bind(dag_id.as_str())
            .bind(Ts(logical_date))
            .bind(DagRunState::Success.as_str())
            .bind(DagRunState::Failed.as_str())
            .fetch_optional(pool)
            .await?)
        })
    }
}
