//! `sql` and `http` tasks through the real engine: SQL against the local PostgreSQL
//! (`WEIR_TEST_POSTGRES_URL`, as `scripts/test` sets it), HTTP against a small axum
//! server started by each test. Connections are created through the store.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde_json::json;
use sqlx::Connection as _;
use support::Harness;
use weir_core::state::{DagRunState, TaskState};
use weir_store::ConnectionRecord;

/// The test PostgreSQL's URL; `None` (the SQL tests skip) when it is not set, unless
/// `WEIR_REQUIRE_POSTGRES` says they must run.
fn postgres_url() -> Option<String> {
    match std::env::var("WEIR_TEST_POSTGRES_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("WEIR_REQUIRE_POSTGRES").is_some() => {
            panic!("WEIR_TEST_POSTGRES_URL is not set and WEIR_REQUIRE_POSTGRES is")
        }
        Err(_) => {
            eprintln!("skipped: WEIR_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// A name no other test (or run of this one) uses.
fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        chrono::Utc::now().timestamp_micros()
    )
}

fn connection(conn_id: &str, conn_type: &str, team: Option<&str>) -> ConnectionRecord {
    ConnectionRecord {
        conn_id: conn_id.into(),
        conn_type: conn_type.into(),
        description: None,
        host: None,
        login: None,
        password: None,
        schema: None,
        port: None,
        extra: None,
        team: team.map(Into::into),
    }
}

/// Creates connection `pg` (team `t`) to the test database.
async fn pg_connection(h: &Harness, url: &str) {
    let parsed = reqwest::Url::parse(url).expect("postgres URL");
    let mut c = connection("pg", "postgres", Some("t"));
    c.host = parsed.host_str().map(Into::into);
    c.port = parsed.port().map(i32::from);
    c.login = Some(parsed.username().into());
    c.password = parsed.password().map(Into::into);
    c.schema = Some(parsed.path().trim_start_matches('/').into());
    h.store.put_connection(&c).await.expect("put connection");
}

async fn pg(url: &str) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(url).await.expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_pushes_the_first_row_or_the_rows_to_xcom() {
    let Some(url) = postgres_url() else { return };
    let h = Harness::start().await;
    pg_connection(&h, &url).await;
    let run = h
        .run(
            r#"dag: sql_out
team: t
tasks:
  first:
    sql:
      connection: pg
      query: |
        SELECT 1 AS n, 'x' AS s, 2.5::numeric AS d, true AS b, NULL AS z, '{"k": [1]}'::jsonb AS j
      output: first_row
  rows:
    sql:
      connection: pg
      query: SELECT g AS n, $1::text AS day, $2::float8 AS half FROM generate_series(1, $3) AS g ORDER BY g
      parameters: ["{{ ds }}", 0.5, 3]
      output: rows
  too_many:
    sql: {connection: pg, query: "SELECT generate_series(1, 5) AS n", output: rows, max_rows: 4}
"#,
            json!({}),
        )
        .await;
    assert_eq!(h.states(&run).await["first"], TaskState::Success);
    assert_eq!(
        h.xcom(&run, "first").await,
        Some(json!({"n": 1, "s": "x", "d": 2.5, "b": true, "z": null, "j": {"k": [1]}}))
    );
    let ds = run.logical_date.format("%Y-%m-%d").to_string();
    assert_eq!(
        h.xcom(&run, "rows").await,
        Some(json!([
            {"n": 1, "day": ds, "half": 0.5},
            {"n": 2, "day": ds, "half": 0.5},
            {"n": 3, "day": ds, "half": 0.5},
        ]))
    );
    let log = h.log(&run, "rows", 1).await;
    assert!(log.contains("statement 1: 3 row(s)"), "{log}");
    assert!(
        log.contains("committed: 1 statement(s), 3 row(s) affected"),
        "{log}"
    );
    // The rendered SQL is what the instance shows it ran.
    let ti = h.ti(&run, "rows", -1).await;
    assert!(
        ti.rendered_command
            .as_deref()
            .is_some_and(|c| c.starts_with("SELECT g AS n")),
        "{ti:?}"
    );
    assert_eq!(h.states(&run).await["too_many"], TaskState::Failed);
    let log = h.log(&run, "too_many", 1).await;
    assert!(log.contains("more than max_rows (4) rows"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_statement_rolls_everything_back_and_says_where() {
    let Some(url) = postgres_url() else { return };
    let h = Harness::start().await;
    pg_connection(&h, &url).await;
    let table = unique("sql_rollback");
    let mut db = pg(&url).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE TABLE {table} (n int)")))
        .execute(&mut db)
        .await
        .expect("create");
    let run = h
        .run(
            &format!(
                "dag: sql_fail\nteam: t\ntasks:\n  load:\n    sql:\n      connection: pg\n      query: |\n        INSERT INTO {table} VALUES (1);\n        INSERT INTO {table} VALUES (2);\n        SELECT nope FROM {table};\n    retries: 0\n"
            ),
            json!({}),
        )
        .await;
    assert_eq!(run.state, DagRunState::Failed);
    let count: i64 =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&mut db)
            .await
            .expect("count");
    assert_eq!(count, 0, "the inserts were rolled back");
    let log = h.log(&run, "load", 1).await;
    assert!(log.contains("statement 2: 1 row(s)"), "{log}");
    assert!(
        log.contains(r#"ERROR: column "nope" does not exist (SQLSTATE 42703)"#),
        "{log}"
    );
    assert!(log.contains("at line 3, column 8 of the query:"), "{log}");
    assert!(log.contains("  SELECT nope FROM"), "{log}");
    // The caret under `nope`, after the stamp and the excerpt's indent.
    let caret = format!("Z {}^", " ".repeat(2 + 7));
    assert!(log.lines().any(|l| l.ends_with(&caret)), "{log}");
    assert!(log.contains("the transaction was rolled back"), "{log}");
    let tries = h.tries(&run, "load").await;
    let reason = tries[0].reason.clone().unwrap_or_default();
    assert!(
        reason.contains(r#"column "nope" does not exist"#) && reason.contains("line 3, column 8"),
        "{reason}"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP TABLE {table}")))
        .execute(&mut db)
        .await
        .expect("drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_cancels_the_query_on_the_server() {
    let Some(url) = postgres_url() else { return };
    let h = Harness::start().await;
    pg_connection(&h, &url).await;
    let marker = unique("sleepy");
    let started = Instant::now();
    let run = h
        .run(
            &format!(
                "dag: sql_slow\nteam: t\ntasks:\n  slow:\n    sql: {{connection: pg, query: \"SELECT pg_sleep(30) AS {marker}\"}}\n    timeout: 2s\n"
            ),
            json!({}),
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(run.state, DagRunState::Failed);
    let tries = h.tries(&run, "slow").await;
    assert_eq!(tries[0].reason.as_deref(), Some("timed out"));
    let log = h.log(&run, "slow", 1).await;
    assert!(
        log.contains("cancelled the query of server process"),
        "{log}"
    );
    // The query is not running on the server any more (its connection is closed, too).
    let mut db = pg(&url).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let running: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()",
        )
        .bind(format!("%{marker}%"))
        .fetch_one(&mut db)
        .await
        .expect("pg_stat_activity");
        if running == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the query still runs on the server"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_from_a_file_beside_the_dag() {
    let Some(url) = postgres_url() else { return };
    let h = Harness::start().await;
    pg_connection(&h, &url).await;
    let dags = h.home.path().join("dags");
    std::fs::create_dir_all(dags.join("sql")).expect("mkdir");
    std::fs::write(dags.join("sql/q.sql"), "SELECT '{{ params.who }}' AS who").expect("write");
    let dag_file = dags.join("d.yaml");
    let run = h
        .run_at(
            "dag: sql_file\nteam: t\nparams: {who: me}\ntasks:\n  q: {sql: {connection: pg, file: sql/q.sql, output: first_row}}\n  out: {sql: {connection: pg, file: ../../outside.sql}}\n",
            &dag_file.display().to_string(),
            json!({}),
        )
        .await;
    assert_eq!(h.xcom(&run, "q").await, Some(json!({"who": "me"})));
    let log = h.log(&run, "out", 1).await;
    assert!(log.contains("the SQL file `../../outside.sql`"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_teams_connection_is_refused() {
    let h = Harness::start().await;
    let mut c = connection("theirs", "postgres", Some("other"));
    c.host = Some("127.0.0.1".into());
    c.password = Some("their-secret".into());
    h.store.put_connection(&c).await.expect("put");
    let run = h
        .run(
            "dag: steal\nteam: t\ntasks:\n  q:\n    sql: {connection: theirs, query: SELECT 1}\n    retries: 3\n  h:\n    http: {connection: theirs, url: /x}\n    retries: 3\n",
            json!({}),
        )
        .await;
    assert_eq!(run.state, DagRunState::Failed);
    for task in ["q", "h"] {
        let log = h.log(&run, task, 1).await;
        assert!(
            log.contains(
                "connection `theirs` belongs to team `other`, and this task is team `t`'s"
            ),
            "{log}"
        );
        assert!(!log.contains("their-secret"), "{log}");
        assert_eq!(h.tries(&run, task).await.len(), 1, "not retried");
    }
}

/// The HTTP server of a test: what it answers, and how often each path was hit.
#[derive(Clone, Default)]
struct Hits(Arc<[AtomicUsize; 3]>);

async fn start_server() -> (String, Hits) {
    let hits = Hits::default();
    let app = Router::new()
        .route(
            "/auth",
            get(|headers: HeaderMap| async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                axum::Json(json!({"authorization": auth, "echo": "pw s3cr3t-pass", "day": headers.get("x-day").and_then(|v| v.to_str().ok())}))
            }),
        )
        .route(
            "/flaky",
            get(|State(h): State<Hits>| async move {
                h.0[0].fetch_add(1, Ordering::SeqCst);
                (StatusCode::INTERNAL_SERVER_ERROR, "database down")
            }),
        )
        .route(
            "/missing",
            get(|State(h): State<Hits>| async move {
                h.0[1].fetch_add(1, Ordering::SeqCst);
                (StatusCode::NOT_FOUND, "no such thing")
            }),
        )
        .route(
            "/slow",
            get(|State(h): State<Hits>| async move {
                h.0[2].fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .with_state(hits.clone());
    (support::serve(app).await, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_json_to_xcom_with_basic_auth_and_the_password_masked() {
    let h = Harness::start().await;
    let (base, _) = start_server().await;
    let port = base.rsplit(':').next().and_then(|p| p.parse::<i32>().ok());
    let mut c = connection("api", "http", Some("t"));
    c.host = Some("127.0.0.1".into());
    c.port = port;
    c.login = Some("svc".into());
    c.password = Some("s3cr3t-pass".into());
    h.store.put_connection(&c).await.expect("put");
    let run = h
        .run(
            "dag: http_json\nteam: t\ntasks:\n  call:\n    http:\n      connection: api\n      url: /auth\n      headers: {X-Day: \"{{ ds }}\"}\n      output: json\n",
            json!({}),
        )
        .await;
    assert_eq!(run.state, DagRunState::Success);
    let xcom = h.xcom(&run, "call").await.expect("xcom");
    // Basic auth from the connection (base64 of `svc:s3cr3t-pass`).
    assert_eq!(xcom["authorization"], json!("Basic c3ZjOnMzY3IzdC1wYXNz"));
    assert_eq!(
        xcom["echo"],
        json!("pw ***"),
        "the password is masked in XCom"
    );
    let ds = run.logical_date.format("%Y-%m-%d").to_string();
    assert_eq!(xcom["day"], json!(ds));
    let log = h.log(&run, "call", 1).await;
    assert!(log.contains(&format!("GET {base}/auth")), "{log}");
    assert!(log.contains("HTTP 200 OK"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_5xx_is_retried_4xx_fails_at_once_unless_expected_and_timeouts_fail() {
    let h = Harness::start().await;
    let (base, hits) = start_server().await;
    let run = h
        .run(
            &format!(
                r#"dag: http_status
team: t
defaults: {{retries: 2, retry_delay: 100ms}}
tasks:
  flaky: {{http: {{url: "{base}/flaky"}}}}
  missing: {{http: {{url: "{base}/missing"}}}}
  expected: {{http: {{url: "{base}/missing", expect_status: [2xx, 404], output: text}}}}
  slow:
    http: {{url: "{base}/slow", timeout: 500ms}}
    retries: 0
"#
            ),
            json!({}),
        )
        .await;
    let states = h.states(&run).await;
    assert_eq!(states["flaky"], TaskState::Failed);
    assert_eq!(hits.0[0].load(Ordering::SeqCst), 3, "a 5xx is retried");
    assert_eq!(h.tries(&run, "flaky").await.len(), 3);
    let log = h.log(&run, "flaky", 1).await;
    assert!(log.contains("HTTP 500 Internal Server Error"), "{log}");
    assert!(log.contains("response body: database down"), "{log}");

    assert_eq!(states["missing"], TaskState::Failed);
    let tries = h.tries(&run, "missing").await;
    assert_eq!(tries.len(), 1, "a 4xx fails at once");
    assert!(
        tries[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("HTTP 404 Not Found") && r.contains("expected 2xx")),
        "{tries:?}"
    );

    assert_eq!(states["expected"], TaskState::Success);
    assert_eq!(h.xcom(&run, "expected").await, Some(json!("no such thing")));
    assert_eq!(hits.0[1].load(Ordering::SeqCst), 2);

    assert_eq!(states["slow"], TaskState::Failed);
    let log = h.log(&run, "slow", 1).await;
    assert!(log.contains("the request timed out after 500ms"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_timeout_stops_an_http_request() {
    let h = Harness::start().await;
    let (base, _) = start_server().await;
    let started = Instant::now();
    let run = h
        .run(
            &format!("dag: http_slow\nteam: t\ntasks:\n  slow:\n    http: {{url: \"{base}/slow\"}}\n    timeout: 1s\n"),
            json!({}),
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(run.state, DagRunState::Failed);
    let tries = h.tries(&run, "slow").await;
    assert_eq!(tries[0].reason.as_deref(), Some("timed out"));
}
