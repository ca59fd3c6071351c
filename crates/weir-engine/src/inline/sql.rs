//! A `sql` task's work: the rendered SQL on a PostgreSQL-protocol connection
//! (PostgreSQL, Redshift), in one transaction, with sqlx's postgres driver.
//!
//! - Without `parameters` the SQL goes through the simple protocol, so a query may hold
//!   several statements; with them, it is one statement whose `$1..$n` are bound, typed
//!   from JSON (string → text, integer → int8, other number → float8, bool, null).
//! - Each statement's rows affected go to the try's log, then the commit; any error
//!   rolls the whole transaction back, and the log shows the database's message,
//!   detail, hint, and where in the SQL it points (line, column and a caret).
//! - `output` keeps the first row or the rows (at most `max_rows`; more fail the try)
//!   of the last statement that returned rows, as JSON objects by column name.
//! - On a timeout or cancel, the query is cancelled on the database server
//!   (`pg_cancel_backend` from a second connection, for the backend pid of the query's
//!   connection), not just abandoned by the client.

use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use serde_json::{Map, Value};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgDatabaseError, PgErrorPosition, PgSslMode};
use sqlx::{Connection as _, Either, Executor, Postgres};
use weir_compute::{BoxFuture, InlineContext, InlineLog, InlineResult, InlineWork};
use weir_core::spec::model::SqlOutput;

use super::failed;
use crate::connections::Connection;

pub(crate) mod values;

/// How long cancelling a query, closing the connection or rolling back may take.
const CLEANUP: Duration = Duration::from_secs(5);

/// Connection types a `sql` task runs on.
pub const SQL_CONNECTION_TYPES: [&str; 3] = ["postgres", "postgresql", "redshift"];

/// One `sql` try's work.
#[derive(Debug)]
pub struct SqlWork {
    pub connection: Connection,
    /// The rendered SQL.
    pub sql: String,
    /// Where it came from, for messages: `the query` or `` `sql/q.sql` ``.
    pub source: String,
    pub parameters: Vec<Value>,
    pub output: SqlOutput,
    pub max_rows: u32,
}

impl InlineWork for SqlWork {
    fn run(self: Arc<Self>, ctx: InlineContext) -> BoxFuture<'static, InlineResult> {
        Box::pin(async move { self.execute(ctx).await })
    }
}

/// The connect options of `conn`. Every setting is given, so none comes from the
/// server's own `PG*` environment.
pub fn connect_options(conn: &Connection) -> Result<PgConnectOptions, String> {
    if !SQL_CONNECTION_TYPES.contains(&conn.conn_type.as_str()) {
        return Err(format!(
            "connection `{}` is of type `{}`; a sql task runs on a connection of type {}",
            conn.conn_id,
            conn.conn_type,
            SQL_CONNECTION_TYPES.join(", ")
        ));
    }
    let Some(host) = conn.host.as_deref().filter(|h| !h.is_empty()) else {
        return Err(format!("connection `{}` has no host", conn.conn_id));
    };
    let Some(login) = conn.login.as_deref().filter(|l| !l.is_empty()) else {
        return Err(format!("connection `{}` has no login", conn.conn_id));
    };
    let default_port = if conn.conn_type == "redshift" {
        5439
    } else {
        5432
    };
    let ssl_mode = match conn.extra.get("sslmode").and_then(Value::as_str) {
        None => PgSslMode::Prefer,
        Some(mode) => mode.parse().map_err(|_| {
            format!(
                "connection `{}`: `sslmode` `{mode}` is not one of disable, allow, prefer, require, verify-ca, verify-full",
                conn.conn_id
            )
        })?,
    };
    Ok(PgConnectOptions::new_without_pgpass()
        .host(host)
        .port(conn.port.unwrap_or(default_port))
        .username(login)
        .password(conn.password.as_deref().unwrap_or(""))
        .database(
            conn.schema
                .as_deref()
                .filter(|s| !s.is_empty())
                .unwrap_or(login),
        )
        .ssl_mode(ssl_mode)
        .application_name("weir")
        .statement_cache_capacity(0))
}

/// Why the transaction did not commit.
enum Failure {
    Db(sqlx::Error),
    /// More rows than `max_rows`.
    TooManyRows,
    /// A value that has no JSON form.
    Value(String),
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Failure::Db(e)
    }
}

/// What the statements gave.
#[derive(Default)]
struct Collected {
    statements: u32,
    rows_affected: u64,
    rows: Option<Vec<Map<String, Value>>>,
}

impl SqlWork {
    async fn execute(&self, ctx: InlineContext) -> InlineResult {
        let log = &ctx.log;
        let options = match connect_options(&self.connection) {
            Ok(options) => options,
            Err(why) => return failed(why, false),
        };
        log.line(&format!(
            "connecting to {}:{}/{} as {} (connection `{}`)",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or(""),
            options.get_username(),
            self.connection.conn_id
        ));
        let connected = tokio::select! {
            c = PgConnection::connect_with(&options) => c,
            () = ctx.stop.raised() => return failed("stopped before it connected", true),
        };
        let mut conn = match connected {
            Ok(conn) => conn,
            Err(e) => {
                let why = format!("cannot connect to `{}`: {e}", self.connection.conn_id);
                log.line(&format!("error: {why}"));
                return failed(why, true);
            }
        };
        let pid: i32 = match sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut conn)
            .await
        {
            Ok(pid) => pid,
            Err(e) => return failed(format!("the database does not answer: {e}"), true),
        };
        log.line(&format!(
            "running {} in one transaction (server process {pid})",
            self.source
        ));
        let result = {
            let run = self.transaction(&mut conn, log);
            tokio::pin!(run);
            tokio::select! {
                result = &mut run => result,
                () = ctx.stop.raised() => {
                    log.line("stopping: cancelling the query on the database server");
                    cancel_backend(&options, pid, log).await;
                    if tokio::time::timeout(CLEANUP, &mut run).await.is_err() {
                        log.line("the database did not answer the cancel; closing the connection");
                    }
                    failed("stopped", true)
                }
            }
        };
        let _ = tokio::time::timeout(CLEANUP, conn.close()).await;
        result
    }

    /// Runs the SQL in a transaction: committed when every statement passed, else
    /// rolled back.
    async fn transaction(&self, conn: &mut PgConnection, log: &InlineLog) -> InlineResult {
        let mut tx = match conn.begin().await {
            Ok(tx) => tx,
            Err(e) => return failed(format!("cannot begin a transaction: {e}"), true),
        };
        let collected = self.statements(&mut tx, log).await;
        let collected = match collected {
            Ok(collected) => collected,
            Err(failure) => {
                let _ = tokio::time::timeout(CLEANUP, tx.rollback()).await;
                let (why, retryable) = match failure {
                    Failure::Db(e) => (describe(&e, &self.sql, &self.source, log), true),
                    Failure::TooManyRows => (
                        format!(
                            "the query returned more than max_rows ({}) rows: add a `LIMIT`, or raise `max_rows`",
                            self.max_rows
                        ),
                        false,
                    ),
                    Failure::Value(why) => (why, false),
                };
                log.line(&format!("error: {why}"));
                log.line("the transaction was rolled back: nothing of it was kept");
                return failed(why, retryable);
            }
        };
        if let Err(e) = tx.commit().await {
            let why = describe(&e, &self.sql, &self.source, log);
            return failed(format!("the commit failed: {why}"), true);
        }
        log.line(&format!(
            "committed: {} statement(s), {} row(s) affected",
            collected.statements, collected.rows_affected
        ));
        let xcom = match self.output {
            SqlOutput::None => None,
            SqlOutput::FirstRow => Some(
                collected
                    .rows
                    .and_then(|rows| rows.into_iter().next())
                    .map_or(Value::Null, Value::Object),
            ),
            SqlOutput::Rows => Some(Value::Array(
                collected
                    .rows
                    .unwrap_or_default()
                    .into_iter()
                    .map(Value::Object)
                    .collect(),
            )),
        };
        InlineResult::Succeeded { xcom }
    }

    async fn statements(
        &self,
        conn: &mut PgConnection,
        log: &InlineLog,
    ) -> Result<Collected, Failure> {
        let sql = sqlx::AssertSqlSafe(self.sql.clone());
        let mut stream = if self.parameters.is_empty() {
            conn.fetch_many(sqlx::raw_sql(sql))
        } else {
            let mut query = sqlx::query::<Postgres>(sql).persistent(false);
            for value in &self.parameters {
                query = values::bind(query, value);
            }
            conn.fetch_many(query)
        };
        let mut out = Collected::default();
        let (mut current, mut count) = (Vec::new(), 0u64);
        while let Some(item) = stream.try_next().await? {
            match item {
                Either::Left(done) => {
                    out.statements += 1;
                    out.rows_affected += done.rows_affected();
                    log.line(&format!(
                        "statement {}: {} row(s)",
                        out.statements,
                        done.rows_affected()
                    ));
                    if count > 0 {
                        out.rows = Some(std::mem::take(&mut current));
                    }
                    count = 0;
                }
                Either::Right(row) => {
                    count += 1;
                    let keep = match self.output {
                        SqlOutput::None => false,
                        SqlOutput::FirstRow => count == 1,
                        SqlOutput::Rows if count > u64::from(self.max_rows) => {
                            return Err(Failure::TooManyRows);
                        }
                        SqlOutput::Rows => true,
                    };
                    if keep {
                        current.push(values::row_json(&row).map_err(Failure::Value)?);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Cancels the query of server process `pid` from a second connection.
async fn cancel_backend(options: &PgConnectOptions, pid: i32, log: &InlineLog) {
    let cancel = async {
        let mut second = PgConnection::connect_with(options).await?;
        let done: bool = sqlx::query_scalar("SELECT pg_cancel_backend($1)")
            .bind(pid)
            .fetch_one(&mut second)
            .await?;
        let _ = second.close().await;
        Ok::<bool, sqlx::Error>(done)
    };
    match tokio::time::timeout(CLEANUP, cancel).await {
        Ok(Ok(true)) => log.line(&format!("cancelled the query of server process {pid}")),
        Ok(Ok(false)) => log.line(&format!("server process {pid} had no query to cancel")),
        Ok(Err(e)) => log.line(&format!("cannot cancel the query: {e}")),
        Err(_) => log.line("cannot cancel the query: the database did not answer in time"),
    }
}

/// The one-line reason of a database error; its details (detail, hint, where in the SQL)
/// go to the log.
fn describe(e: &sqlx::Error, sql: &str, source: &str, log: &InlineLog) -> String {
    let Some(pg) = e
        .as_database_error()
        .and_then(|db| db.try_downcast_ref::<PgDatabaseError>())
    else {
        return e.to_string();
    };
    let mut why = format!("{} (SQLSTATE {})", pg.message(), pg.code());
    log.line(&format!("ERROR: {why}"));
    if let Some(detail) = pg.detail() {
        log.line(&format!("DETAIL: {detail}"));
    }
    if let Some(hint) = pg.hint() {
        log.line(&format!("HINT: {hint}"));
    }
    if let Some(PgErrorPosition::Original(position)) = pg.position()
        && let Some(at) = locate(sql, position)
    {
        why.push_str(&format!(
            ", at line {}, column {} of {source}",
            at.line, at.column
        ));
        log.line(&format!(
            "at line {}, column {} of {source}:\n  {}\n  {}^",
            at.line,
            at.column,
            at.text,
            " ".repeat(at.column.saturating_sub(1))
        ));
    }
    why
}

/// A place in the SQL: 1-based line and column (in characters), and the line's text.
#[derive(Debug, PartialEq)]
struct Place<'a> {
    line: usize,
    column: usize,
    text: &'a str,
}

/// Where PostgreSQL's 1-based character `position` is in `sql`.
fn locate(sql: &str, position: usize) -> Option<Place<'_>> {
    let mut before = position.checked_sub(1)?;
    for (i, text) in sql.split('\n').enumerate() {
        let len = text.chars().count();
        if before <= len {
            let text = text.strip_suffix('\r').unwrap_or(text);
            return Some(Place {
                line: i + 1,
                column: before + 1,
                text,
            });
        }
        before -= len + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_become_line_and_column() {
        let sql = "SELECT 1;\nSELECT nope\n  FROM t";
        assert_eq!(
            locate(sql, 1),
            Some(Place {
                line: 1,
                column: 1,
                text: "SELECT 1;"
            })
        );
        // `nope` starts at character 18.
        assert_eq!(
            locate(sql, 18),
            Some(Place {
                line: 2,
                column: 8,
                text: "SELECT nope"
            })
        );
        assert_eq!(locate(sql, 24).map(|p| (p.line, p.column)), Some((3, 2)));
        assert_eq!(
            locate("é x", 3).map(|p| p.column),
            Some(3),
            "characters, not bytes"
        );
        assert_eq!(locate(sql, 0), None);
        assert_eq!(locate(sql, 500), None);
    }

    #[test]
    fn connections_of_other_types_or_without_host_are_refused() {
        let conn = Connection {
            conn_id: "w".into(),
            conn_type: "http".into(),
            host: Some("db".into()),
            login: Some("u".into()),
            ..Connection::default()
        };
        let err = connect_options(&conn).expect_err("refused");
        assert!(err.contains("is of type `http`"), "{err}");
        let conn = Connection {
            conn_type: "redshift".into(),
            ..conn
        };
        let options = connect_options(&conn).expect("valid");
        assert_eq!(
            (options.get_port(), options.get_database()),
            (5439, Some("u"))
        );
        let conn = Connection { host: None, ..conn };
        assert!(connect_options(&conn).is_err());
    }
}
