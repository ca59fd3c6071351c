//! Test harness: an engine on a temporary home and SQLite store (or, with
//! `WEIR_ENGINE_TEST_POSTGRES_URL`, a fresh schema of that PostgreSQL database), with the
//! real `weir` binary as the try supervisor, plus helpers to wait for and inspect runs.

#![allow(dead_code, clippy::unwrap_used)] // test support: a failed unwrap is a failed test

use std::collections::HashMap;
use std::ffi::OsString;
use std::time::{Duration, Instant};

use weir_core::ids::DagId;
use weir_core::state::TaskState;
use weir_engine::{Engine, EngineConfig, EngineHandle, TriggerRequest};
use weir_store::{
    DagRunFilter, DagRunRecord, Store, TaskInstanceKey, TaskInstanceRecord, TryRecord,
};

pub const DEADLINE: Duration = Duration::from_secs(60);

pub fn weir_exe() -> OsString {
    OsString::from(env!("CARGO_BIN_EXE_weir"))
}

/// The store for one test: SQLite in `home`, or a schema of its own in the PostgreSQL
/// database at `WEIR_ENGINE_TEST_POSTGRES_URL` when that is set.
pub async fn test_store(home: &std::path::Path) -> Store {
    let Ok(url) = std::env::var("WEIR_ENGINE_TEST_POSTGRES_URL") else {
        return Store::open(&home.join("weir.db").display().to_string())
            .await
            .unwrap();
    };
    use sqlx::Connection;
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let schema = format!(
        "weir_engine_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        chrono::Utc::now().timestamp_micros()
    );
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let store = Store::open(&format!("{url}{sep}options[search_path]={schema}"))
        .await
        .unwrap();
    assert_eq!(store.backend_name(), "postgres");
    store
}

pub struct Harness {
    pub home: tempfile::TempDir,
    pub store: Store,
    pub engine: Option<Engine>,
    pub handle: EngineHandle,
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with(None, &[]).await
    }

    /// With a platform config (`weir.toml` text) and job definition files.
    pub async fn start_with(platform: Option<&str>, jobs: &[(&str, &str)]) -> Harness {
        Self::start_configured(platform, jobs, None).await
    }

    /// With a platform config, job definitions and a Docker socket.
    pub async fn start_configured(
        platform: Option<&str>,
        jobs: &[(&str, &str)],
        docker_socket: Option<&std::path::Path>,
    ) -> Harness {
        let home = tempfile::tempdir().unwrap();
        let store = test_store(home.path()).await;
        let given = platform.and_then(|text| {
            let report = weir_core::platform::parse(text);
            assert!(!report.has_errors(), "{}", report.render("weir.toml", text));
            report.config
        });
        let host = weir_compute::HostResources::probe(docker_socket).await;
        let mut config = EngineConfig::new(
            home.path().to_path_buf(),
            vec![weir_exe(), OsString::from("supervise")],
            std::sync::Arc::new(weir_compute::effective_platform(given, host)),
        );
        config.docker_socket = docker_socket.map(std::path::Path::to_path_buf);
        config.server_environment = std::env::vars_os().collect();
        if !jobs.is_empty() {
            let dir = home.path().join("jobs");
            std::fs::create_dir_all(&dir).unwrap();
            for (name, yaml) in jobs {
                std::fs::write(dir.join(name), yaml).unwrap();
            }
            config.jobs_folder = Some(dir.clone());
            // Job definitions load with the DAG folder; give the engine an empty one.
            let dags = home.path().join("dags");
            std::fs::create_dir_all(&dags).unwrap();
            config.dags_folder = Some(dags);
        }
        let engine = Engine::start(config, store.clone()).await.unwrap();
        let handle = engine.handle();
        Harness {
            home,
            store,
            engine: Some(engine),
            handle,
        }
    }

    async fn register(&self, yaml: &str) -> DagId {
        self.register_at(yaml, "test.yaml").await
    }

    /// Registers the DAG as read from `file_path`.
    async fn register_at(&self, yaml: &str, file_path: &str) -> DagId {
        let report = weir_core::spec::load_file(yaml);
        assert!(!report.has_errors(), "{}", report.render(file_path, yaml));
        let spec = report.dags.into_iter().next().unwrap();
        self.handle
            .register_dag(&spec, file_path, yaml)
            .await
            .unwrap();
        DagId::new(spec.dag).unwrap()
    }

    /// Registers the DAG, triggers a run with `conf` and waits for it to finish.
    pub async fn run(&self, yaml: &str, conf: serde_json::Value) -> DagRunRecord {
        self.run_at(yaml, "test.yaml", conf).await
    }

    /// As [`Harness::run`], for a DAG read from `file_path`.
    pub async fn run_at(
        &self,
        yaml: &str,
        file_path: &str,
        conf: serde_json::Value,
    ) -> DagRunRecord {
        let dag_id = self.register_at(yaml, file_path).await;
        let run = self
            .handle
            .trigger_dag(
                &dag_id,
                TriggerRequest {
                    conf: Some(conf),
                    ..TriggerRequest::default()
                },
            )
            .await
            .unwrap();
        self.wait_finished(&run).await
    }

    /// Registers a scheduled DAG and waits until `n` runs exist and all finished.
    pub async fn schedule_and_wait(&self, yaml: &str, n: usize) -> Vec<DagRunRecord> {
        let dag_id = self.register(yaml).await;
        self.handle.set_paused(&dag_id, false).await.unwrap();
        let deadline = Instant::now() + DEADLINE;
        loop {
            let runs = self
                .store
                .list_dag_runs(&DagRunFilter {
                    dag_id: Some(dag_id.clone()),
                    descending: false,
                    ..DagRunFilter::default()
                })
                .await
                .unwrap()
                .items;
            if runs.len() >= n && runs.iter().all(|r| r.state.is_finished()) {
                return runs;
            }
            assert!(Instant::now() < deadline, "runs did not finish: {runs:#?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn wait_finished(&self, run: &DagRunRecord) -> DagRunRecord {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let current = self
                .store
                .get_dag_run(&run.dag_id, &run.run_id)
                .await
                .unwrap()
                .unwrap();
            // A cleared run goes back to queued first: wait until it finished anew.
            if current.state.is_finished() && current != *run {
                return current;
            }
            assert!(
                Instant::now() < deadline,
                "run did not finish: {current:#?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn key(run: &DagRunRecord, task: &str, map_index: i32) -> TaskInstanceKey {
        TaskInstanceKey {
            dag_id: run.dag_id.clone(),
            run_id: run.run_id.clone(),
            task_id: task.parse().unwrap(),
            map_index,
        }
    }

    pub async fn try_ti(
        &self,
        run: &DagRunRecord,
        task: &str,
        map_index: i32,
    ) -> Option<TaskInstanceRecord> {
        self.store
            .get_task_instance(&Self::key(run, task, map_index))
            .await
            .unwrap()
    }

    pub async fn ti(&self, run: &DagRunRecord, task: &str, map_index: i32) -> TaskInstanceRecord {
        self.try_ti(run, task, map_index)
            .await
            .unwrap_or_else(|| panic!("no task instance {task}[{map_index}]"))
    }

    pub async fn states(&self, run: &DagRunRecord) -> HashMap<String, TaskState> {
        self.store
            .list_task_instances(&run.dag_id, &run.run_id)
            .await
            .unwrap()
            .into_iter()
            .map(|t| (t.key.task_id.to_string(), t.state))
            .collect()
    }

    pub async fn tries(&self, run: &DagRunRecord, task: &str) -> Vec<TryRecord> {
        self.store
            .list_tries(&Self::key(run, task, -1))
            .await
            .unwrap()
    }

    pub async fn log(&self, run: &DagRunRecord, task: &str, try_number: u32) -> String {
        self.log_of(run, task, -1, try_number).await
    }

    pub async fn log_of(
        &self,
        run: &DagRunRecord,
        task: &str,
        map_index: i32,
        try_number: u32,
    ) -> String {
        let path = self
            .handle
            .log_path(&Self::key(run, task, map_index).try_key(try_number))
            .await
            .unwrap();
        path.and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    pub async fn xcom(&self, run: &DagRunRecord, task: &str) -> Option<serde_json::Value> {
        self.store
            .get_xcom(&Self::key(run, task, -1), "return_value")
            .await
            .unwrap()
            .map(|x| x.value)
    }
}

/// With `WEIR_ENGINE_TEST_POSTGRES_URL` set, the URL of a new, empty schema there (for a
/// `weir standalone --db` of a suite that CI runs on both databases); else none.
/// A real `weir standalone` holding `files`, with `config` as its weir.toml and every
/// DAG unpaused; on PostgreSQL when `WEIR_ENGINE_TEST_POSTGRES_URL` says so.
pub async fn configured_server(files: &[(&str, &str)], config: &str) -> server::Server {
    let mut server = server::Server::new(files);
    let path = server.dir.path().join("weir.toml");
    std::fs::write(&path, config).unwrap();
    server.args.extend([
        "--config".into(),
        path.display().to_string(),
        "--unpause-all".into(),
    ]);
    if let Some(db) = postgres_for_server().await {
        server.args.extend(["--db".into(), db]);
    }
    server.restart();
    server
}

/// Serves `app` on a free local port for the rest of the test; its base URL.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

pub async fn postgres_for_server() -> Option<String> {
    let url = std::env::var("WEIR_ENGINE_TEST_POSTGRES_URL").ok()?;
    Some(fresh_pg_schema(&url).await)
}

/// A URL for a new, empty schema on the PostgreSQL at `url`.
pub async fn fresh_pg_schema(url: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let schema = format!("engine_test_{}_{n}", std::process::id());
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options[search_path]={schema}")
}

/// Whether any process's command line contains `needle`.
pub fn process_running(needle: &str) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.filter_map(Result::ok).any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| {
                String::from_utf8_lossy(&c)
                    .replace('\0', " ")
                    .contains(needle)
            })
            .unwrap_or(false)
    })
}

pub mod browser;
pub mod git;
pub mod receivers;
pub mod server;
