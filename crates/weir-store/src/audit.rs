//! The audit log: who did what to which object, when, from where, and with what outcome.
//!
//! Append-only, and not only by this API having no update or delete: the database refuses
//! `UPDATE`, `DELETE` (and on PostgreSQL `TRUNCATE`) of `audit_event` with triggers (see
//! migration 0003), so a bug or a hand-typed statement cannot rewrite history either.

use sqlx::AssertSqlSafe;
use sqlx::types::Json;

use crate::access_records::{AuditEventRecord, AuditFilter, NewAuditEvent};
use crate::records::Page;
use crate::sql::{Dialect, Ts, ts};
use crate::{Result, Store};

/// The `WHERE` clause of [`Store::list_audit_events`] (binds `$1`‥`$8`).
fn audit_filter(dialect: Dialect) -> String {
    format!(
        "WHERE ($1 IS NULL OR actor = $1)
           AND ($2 IS NULL OR object_type = $2)
           AND ($3 IS NULL OR object_id = $3)
           AND ($4 IS NULL OR action = $4)
           AND ($5 IS NULL OR outcome = $5)
           AND ($6 IS NULL OR time >= $6)
           AND ($7 IS NULL OR time < $7)
           AND ($8 IS NULL OR team IN {})",
        dialect.json_text_elements("$8")
    )
}

impl Store {
    /// Appends an event and returns it with its id (ids grow in append order).
    pub async fn append_audit_event(&self, e: &NewAuditEvent) -> Result<AuditEventRecord> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "INSERT INTO audit_event (time, actor, action, object_type, object_id, team,
                     outcome, source_addr, details)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 RETURNING *",
            )
            .bind(Ts(e.time))
            .bind(&e.actor)
            .bind(&e.action)
            .bind(&e.object_type)
            .bind(&e.object_id)
            .bind(&e.team)
            .bind(&e.outcome)
            .bind(&e.source_addr)
            .bind(Json(&e.details))
            .fetch_one(pool)
            .await?)
        })
    }

    /// One page of the events `filter` selects, newest (highest id) first, with the count
    /// of all it selects.
    pub async fn list_audit_events(
        &self,
        filter: &AuditFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Page<AuditEventRecord>> {
        crate::sql::check_page(limit, offset)?;
        let teams = filter.teams.as_ref().map(Json);
        let since = ts(filter.since);
        let until = ts(filter.until);
        with_db!(self, |pool, dialect| {
            let cond = audit_filter(dialect);
            let list =
                format!("SELECT * FROM audit_event {cond} ORDER BY id DESC LIMIT $9 OFFSET $10");
            let items = sqlx::query_as(AssertSqlSafe(list))
                .bind(&filter.actor)
                .bind(&filter.object_type)
                .bind(&filter.object_id)
                .bind(&filter.action)
                .bind(&filter.outcome)
                .bind(since)
                .bind(until)
                .bind(teams)
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await?;
            let count = format!("SELECT COUNT(*) FROM audit_event {cond}");
            let total_entries: i64 = sqlx::query_scalar(AssertSqlSafe(count))
                .bind(&filter.actor)
                .bind(&filter.object_type)
                .bind(&filter.object_id)
                .bind(&filter.action)
                .bind(&filter.outcome)
                .bind(since)
                .bind(until)
                .bind(teams)
                .fetch_one(pool)
                .await?;
            Ok(Page {
                items,
                total_entries,
            })
        })
    }

    /// Runs one raw statement and returns the number of rows it affected. Only for tests
    /// that must show what the database itself refuses (e.g. rewriting the audit log):
    /// library code never builds SQL from input.
    #[doc(hidden)]
    pub async fn execute_raw_for_tests(&self, sql: &str) -> Result<u64> {
        with_db!(self, |pool| {
            Ok(sqlx::query(AssertSqlSafe(sql.to_string()))
                .execute(pool)
                .await?
                .rows_affected())
        })
    }
}
