//! Test databases and record builders for the conformance suite.

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use sqlx::{Connection, PgConnection};
use weir_core::ids::{DagId, RunId, TaskId, TeamId, UNMAPPED};
use weir_core::state::{DagRunState, RunType};
use weir_store::{DagRecord, NewDagRun, NewTaskInstance, Store, TaskInstanceKey};

/// A store on a fresh database, and what it takes to throw it away.
pub struct TestDb {
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    /// A store on a new SQLite file in a temporary directory.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("weir.db");
        let store = Store::open(path.to_str().expect("utf-8 temp path"))
            .await
            .expect("open sqlite store");
        assert_eq!(store.backend_name(), "sqlite");
        TestDb {
            store,
            _dir: Some(dir),
            pg: None,
        }
    }

    /// A store on a new schema of the PostgreSQL database at `WEIR_TEST_POSTGRES_URL`, or
    /// `None` (skip) when it is unset, unless `WEIR_REQUIRE_POSTGRES=1` (then: fail).
    pub async fn postgres() -> Option<TestDb> {
        let Ok(url) = std::env::var("WEIR_TEST_POSTGRES_URL") else {
            if std::env::var("WEIR_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!(
                    "WEIR_REQUIRE_POSTGRES=1 but WEIR_TEST_POSTGRES_URL is not set; run \
                     crates/weir-store/scripts/start-postgres.sh and export its URL"
                );
            }
            eprintln!("skipped: WEIR_TEST_POSTGRES_URL is not set");
            return None;
        };
        let schema = format!(
            "weir_test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            Utc::now().timestamp_micros()
        );
        let mut conn = PgConnection::connect(&url)
            .await
            .expect("connect to postgres");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut conn)
            .await
            .expect("create test schema");
        conn.close().await.expect("close");
        let sep = if url.contains('?') { '&' } else { '?' };
        let store = Store::open(&format!("{url}{sep}options[search_path]={schema}"))
            .await
            .expect("open postgres store");
        assert_eq!(store.backend_name(), "postgres");
        Some(TestDb {
            store,
            _dir: None,
            pg: Some((url, schema)),
        })
    }

    /// Closes the store and drops its PostgreSQL schema (only reached when the case
    /// passed: a failed case leaves its schema behind for a look).
    pub async fn finish(self) {
        self.store.close().await;
        if let Some((url, schema)) = self.pg {
            let mut conn = PgConnection::connect(&url)
                .await
                .expect("connect to postgres");
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&mut conn)
                .await
                .expect("drop test schema");
        }
    }
}

pub fn dag_id(s: &str) -> DagId {
    DagId::new(s).expect("dag id")
}

pub fn run_id(s: &str) -> RunId {
    RunId::new(s).expect("run id")
}

pub fn task_id(s: &str) -> TaskId {
    TaskId::new(s).expect("task id")
}

/// Midnight UTC of 2026-01-`day`.
pub fn day(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, day, 0, 0, 0)
        .single()
        .expect("date")
}

pub fn dag(id: &str) -> DagRecord {
    DagRecord {
        dag_id: dag_id(id),
        team: Some(TeamId::new("marketing").expect("team")),
        file_path: format!("dags/{id}.yaml"),
        description: Some(format!("The {id} DAG")),
        tags: vec!["revenue".into(), "daily".into()],
        schedule: Some("0 3 * * *".into()),
        timezone: "Europe/Berlin".into(),
        latest_version: Some("v1".into()),
        is_paused: false,
        is_active: true,
        owners: vec!["alice".into()],
        max_active_runs: 1,
        next_dagrun: None,
        last_parsed_at: Some(day(1)),
    }
}

pub fn new_run(dag: &str, run: &str, logical_date: DateTime<Utc>) -> NewDagRun {
    NewDagRun {
        dag_id: dag_id(dag),
        run_id: run_id(run),
        version_hash: "v1".into(),
        run_type: RunType::Manual,
        state: DagRunState::Queued,
        logical_date,
        data_interval_start: Some(logical_date),
        data_interval_end: Some(logical_date + chrono::Duration::days(1)),
        conf: json!({"country": "DE"}),
        external_trigger: true,
        queued_at: logical_date,
    }
}

pub fn new_task(task: &str, map_index: i32) -> NewTaskInstance {
    NewTaskInstance {
        task_id: task_id(task),
        map_index,
        max_tries: 3,
        pool: "default_pool".into(),
        queue: "default".into(),
        priority_weight: 1,
    }
}

pub fn ti_key(dag: &str, run: &str, task: &str, map_index: i32) -> TaskInstanceKey {
    TaskInstanceKey {
        dag_id: dag_id(dag),
        run_id: run_id(run),
        task_id: task_id(task),
        map_index,
    }
}

/// A DAG `dag` with one run `r1` on day 1 holding unmapped tasks `a` and `b`.
pub async fn dag_with_run(store: &Store, dag_name: &str) {
    store.upsert_dag(&dag(dag_name)).await.expect("upsert dag");
    store
        .create_dag_run_with_tasks(
            &new_run(dag_name, "r1", day(1)),
            &[new_task("a", UNMAPPED), new_task("b", UNMAPPED)],
        )
        .await
        .expect("create run");
}
