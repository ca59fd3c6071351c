//! A running engine, its router, and helpers to call it and wait for runs.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::Value;
use tempfile::TempDir;
use tower::ServiceExt;
use weir_core::ids::{DagId, RunId};
use weir_core::platform::PlatformConfig;
use weir_core::state::DagRunState;
use weir_engine::{Engine, EngineConfig, EngineHandle};
use weir_server::{ApiConfig, AppState, HashCost, router};
use weir_store::{DagRunRecord, NewToken, NewUser, Store};

/// Two tasks that finish in process.
pub const HELLO: &str = "\
dag: hello
team: data
description: Say hello
tags: [demo]
paused: false
params: {who: world}
tasks:
  start:
    noop: {}
  end:
    noop: {}
    depends_on: [start]
";

/// A scheduled DAG, paused, so its runs stay queued.
pub const NIGHTLY: &str = "\
dag: nightly
team: finance
schedule: \"0 3 * * *\"
start_date: 2026-01-01
tasks:
  only:
    noop: {}
";

/// A `sql` task on a connection that does not exist, which this engine fails at once
/// (one try, with a log saying so), then a noop after it.
pub const FAILING: &str = "\
dag: failing
team: data
paused: false
tasks:
  boom:
    sql:
      connection: nowhere
      query: SELECT 1
  after:
    noop: {}
    depends_on: [boom]
";

pub const BROKEN: &str = "dag: broken\nteam: data\ntasks: 3\n";

pub struct TestApp {
    pub app: Router,
    pub engine: EngineHandle,
    /// A platform admin's API token (user `admin`), sent with every request that carries
    /// no `Authorization` of its own.
    pub admin_token: String,
    /// The platform the engine and the server were given.
    pub platform: Arc<PlatformConfig>,
    _engine: Engine,
    _dir: TempDir,
}

impl TestApp {
    /// An engine on a fresh home whose DAG folder holds the standard test DAGs.
    pub async fn start() -> TestApp {
        Self::start_with_platform(None).await
    }

    /// The same, with this platform config (`weir.toml`) instead of the standalone one.
    pub async fn start_with_platform(platform: Option<PlatformConfig>) -> TestApp {
        let api_config = ApiConfig {
            password_cost: HashCost::FAST_FOR_TESTS,
            ..ApiConfig::default()
        };
        Self::start_with(platform, api_config).await
    }

    /// The same, with these API settings.
    pub async fn start_with(platform: Option<PlatformConfig>, api_config: ApiConfig) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let dags = dir.path().join("dags");
        std::fs::create_dir_all(&dags).expect("dags dir");
        for (name, text) in [
            ("hello.yaml", HELLO),
            ("nightly.yaml", NIGHTLY),
            ("failing.yaml", FAILING),
            ("broken.yaml", BROKEN),
        ] {
            std::fs::write(dags.join(name), text).expect("write DAG");
        }
        let db = dir.path().join("weir.db");
        let store = Store::open(db.to_str().expect("utf-8 path"))
            .await
            .expect("open store");
        let host = weir_compute::HostResources::probe(None).await;
        let platform = Arc::new(weir_compute::effective_platform(platform, host));
        let mut config = EngineConfig::new(
            dir.path().join("home"),
            vec!["/bin/false".into()],
            platform.clone(),
        );
        config.dags_folder = Some(dags);
        config.run_schedules = false;
        // Secrets sealed under a key of the test's own.
        let keyring =
            weir_secrets::Keyring::create_file(&dir.path().join("master.key")).expect("master key");
        let secrets = Arc::new(weir_secrets::Secrets::new(
            store.clone(),
            Some(keyring),
            &platform,
        ));
        let options = weir_engine::EngineOptions {
            secrets: Some(secrets),
            ..weir_engine::EngineOptions::default()
        };
        let engine = Engine::start_with(config, store, options)
            .await
            .expect("engine starts");
        let handle = engine.handle();
        let admin_token = create_user(handle.store(), "admin", true).await;
        TestApp {
            app: router(AppState::with_config(
                handle.clone(),
                api_config,
                platform.clone(),
            )),
            engine: handle,
            platform,
            admin_token,
            _engine: engine,
            _dir: dir,
        }
    }

    pub fn store(&self) -> &Store {
        self.engine.store()
    }

    /// The DAG folder the engine reads.
    pub fn dags_folder(&self) -> std::path::PathBuf {
        self._dir.path().join("dags")
    }

    /// Sends a request; returns the status and the body as JSON (`Null` when empty,
    /// a JSON string when it is not JSON).
    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(&v).expect("JSON"))
            }
            None => Body::empty(),
        };
        self.send(req.body(body).expect("request")).await
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.call(Method::GET, uri, None).await
    }

    /// Sends a prepared request.
    pub async fn send(&self, req: Request<Body>) -> (StatusCode, Value) {
        let (status, _, bytes) = self.send_raw(req).await;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, value)
    }

    pub async fn send_raw(
        &self,
        mut req: Request<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        if !req.headers().contains_key(header::AUTHORIZATION) {
            let bearer = format!("Bearer {}", self.admin_token);
            req.headers_mut()
                .insert(header::AUTHORIZATION, bearer.parse().expect("header value"));
        }
        self.send_unauthenticated(req).await
    }

    /// Sends a request as it is: without the admin's token if it has no credentials.
    pub async fn send_unauthenticated(
        &self,
        req: Request<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let response = self.app.clone().oneshot(req).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, headers, bytes.to_vec())
    }

    /// Waits (up to 10 s) until the run has finished.
    pub async fn wait_finished(&self, dag: &str, run: &str) -> DagRunRecord {
        let dag = DagId::new(dag).expect("dag id");
        let run = RunId::new(run).expect("run id");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let record = self
                .store()
                .get_dag_run(&dag, &run)
                .await
                .expect("store")
                .expect("run exists");
            if matches!(record.state, DagRunState::Success | DagRunState::Failed) {
                return record;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "run {dag}/{run} still {} after 10 s",
                record.state
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Triggers `dag` with run id `run` and waits until it finished.
    pub async fn run_to_end(&self, dag: &str, run: &str) -> DagRunRecord {
        let (status, body) = self
            .call(
                Method::POST,
                &format!("/api/v1/dags/{dag}/dagRuns"),
                Some(serde_json::json!({ "dag_run_id": run })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        self.wait_finished(dag, run).await
    }
}

/// Creates a user (password `password-of-<name>`) and an API token for it; returns the
/// token.
pub async fn create_user(store: &Store, name: &str, platform_admin: bool) -> String {
    let password = format!("password-of-{name}");
    let hash =
        weir_server::auth::password::hash(&password, HashCost::FAST_FOR_TESTS).expect("hash");
    store
        .create_user(&NewUser {
            username: name,
            password_hash: Some(&hash),
            email: None,
            source: "local",
            platform_admin,
        })
        .await
        .expect("create user");
    let (token, digest) = weir_server::auth::api_tokens::generate().expect("token");
    store
        .create_token(&NewToken {
            id: &format!("token-of-{name}"),
            name: "tests",
            token_hash: &digest,
            username: Some(name),
            team: None,
            role: None,
            created_by: "tests",
            expires_at: None,
        })
        .await
        .expect("create token");
    token
}

/// Asserts an Airflow problem body with this status and title.
pub fn assert_problem(status: StatusCode, body: &Value, expected: StatusCode, title: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["status"], expected.as_u16(), "{body}");
    assert_eq!(body["title"], title, "{body}");
    assert!(body["type"].is_string(), "{body}");
    assert!(body["detail"].is_string(), "{body}");
}
