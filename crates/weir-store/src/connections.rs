//! Connections (Airflow's): where and how tasks reach outside systems, each owned by a
//! team or platform-wide.
//!
//! A connection's team is fixed when it is created: replacing a connection keeps it, so
//! rewriting a connection's fields cannot move it into (or out of) another team's reach.

use sqlx::AssertSqlSafe;
use sqlx::types::Json;

use crate::access_records::ConnectionRecord;
use crate::records::Page;
use crate::sql::Dialect;
use crate::{Result, Store};

/// The `WHERE` clause of [`Store::list_connections`] (binds `$1`, the teams or NULL).
fn team_filter(dialect: Dialect) -> String {
    format!(
        "WHERE $1 IS NULL OR team IS NULL OR team IN {}",
        dialect.json_text_elements("$1")
    )
}

impl Store {
    /// One connection.
    pub async fn get_connection(&self, conn_id: &str) -> Result<Option<ConnectionRecord>> {
        with_db!(self, |pool| {
            Ok(
                sqlx::query_as("SELECT * FROM connection WHERE conn_id = $1")
                    .bind(conn_id)
                    .fetch_optional(pool)
                    .await?,
            )
        })
    }

    /// Creates or replaces a connection and returns it as stored. Replacing keeps the
    /// stored team (`c.team` is used only on creation).
    pub async fn put_connection(&self, c: &ConnectionRecord) -> Result<ConnectionRecord> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "INSERT INTO connection (conn_id, conn_type, description, host, login, password,
                     schema_name, port, extra, team)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (conn_id) DO UPDATE
                 SET conn_type = excluded.conn_type, description = excluded.description,
                     host = excluded.host, login = excluded.login,
                     password = excluded.password, schema_name = excluded.schema_name,
                     port = excluded.port, extra = excluded.extra
                 RETURNING *",
            )
            .bind(&c.conn_id)
            .bind(&c.conn_type)
            .bind(&c.description)
            .bind(&c.host)
            .bind(&c.login)
            .bind(&c.password)
            .bind(&c.schema)
            .bind(c.port.map(i64::from))
            .bind(&c.extra)
            .bind(&c.team)
            .fetch_one(pool)
            .await?)
        })
    }

    /// One page of connections sorted by id, with the count of all listed. `Some(teams)`:
    /// only the platform-wide ones and those of these teams.
    pub async fn list_connections(
        &self,
        teams: Option<&[String]>,
        limit: i64,
        offset: i64,
    ) -> Result<Page<ConnectionRecord>> {
        crate::sql::check_page(limit, offset)?;
        let teams = teams.map(Json);
        with_db!(self, |pool, dialect| {
            let cond = team_filter(dialect);
            let list =
                format!("SELECT * FROM connection {cond} ORDER BY conn_id LIMIT $2 OFFSET $3");
            let items = sqlx::query_as(AssertSqlSafe(list))
                .bind(teams)
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await?;
            let count = format!("SELECT COUNT(*) FROM connection {cond}");
            let total_entries: i64 = sqlx::query_scalar(AssertSqlSafe(count))
                .bind(teams)
                .fetch_one(pool)
                .await?;
            Ok(Page {
                items,
                total_entries,
            })
        })
    }

    /// Deletes a connection; returns whether it existed.
    pub async fn delete_connection(&self, conn_id: &str) -> Result<bool> {
        with_db!(self, |pool| {
            let deleted = sqlx::query("DELETE FROM connection WHERE conn_id = $1")
                .bind(conn_id)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(deleted > 0)
        })
    }
}
