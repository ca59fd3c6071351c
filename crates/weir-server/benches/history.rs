//! The history benchmark: with many task instances in the store, how fast do the list
//! routes the CLI and the Airflow client use answer, and how fast are the web UI's pages
//! rendered (server time; the UI's bar is 50 ms at p95)?
//!
//! It builds a history through the store's own API (DAGs from YAML files synced by a real
//! engine; runs, task instances, their state changes, usage, audit events, variables,
//! connections and users through `Store`), then calls every list route through the real
//! axum router, in process, as a platform admin and as a team viewer (API routes with an
//! API token, UI pages with a browser session's cookie), and prints p50, p95 and p99 per
//! route. The UI's own bar, 10,000 runs of 200 DAGs:
//!
//! ```text
//! WEIR_BENCH_TASK_INSTANCES=100000 WEIR_BENCH_RUNS_PER_DAG=50 \
//! cargo bench -p weir-server --bench history
//! ```
//!
//! ```text
//! WEIR_BENCH_TASK_INSTANCES=1000000 \
//! WEIR_BENCH_DB_DIR=/var/cache/weir-history-db \
//! WEIR_TEST_POSTGRES_URL=postgres://weir:weir@127.0.0.1:5432/weir_history \
//! cargo bench -p weir-server --bench history
//! ```
//!
//! - `WEIR_BENCH_TASK_INSTANCES` (default 10,000): 10 tasks a run, 500 runs a DAG
//!   (`WEIR_BENCH_RUNS_PER_DAG`), up to 200 DAGs of 5 teams (1,000,000 = 200 × 500 × 10).
//! - `WEIR_BENCH_DB_DIR`: where the SQLite file (and the engine's home) live; a history of
//!   the same size found there is reused, not rebuilt. Default: a temporary directory.
//! - `WEIR_TEST_POSTGRES_URL`: also measure PostgreSQL, in that database (reused likewise;
//!   it must be empty or hold this benchmark's history of the same size).
//! - `WEIR_BENCH_REPEAT` (default 50): calls per route and caller.
//! - `WEIR_BENCH_SKIP_SQLITE=1`: PostgreSQL only.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tower::ServiceExt;
use weir_core::cost::UsageRecord;
use weir_core::ids::{DagId, RunId, TaskId, TryKey, UNMAPPED};
use weir_core::lifecycle::TaskInstanceUpdate;
use weir_core::platform::{PlatformConfig, Price, parse};
use weir_core::state::{DagRunState, RunType, TaskState};
use weir_engine::{Engine, EngineConfig};
use weir_server::{ApiConfig, AppState, HashCost, router};
use weir_store::{
    NewAuditEvent, NewDagRun, NewTaskInstance, NewToken, NewUser, Store, TaskInstanceKey,
};

const TEAMS: usize = 5;
const TASKS: usize = 10;
/// Runs per DAG unless `WEIR_BENCH_RUNS_PER_DAG` says otherwise.
const RUNS_PER_DAG: usize = 500;
const MAX_DAGS: usize = 200;
/// Concurrent writers while building (PostgreSQL gains from them; SQLite serialises).
const WRITERS: usize = 4;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The size of the history: `dags` × `runs` × [`TASKS`].
#[derive(Debug, Clone, Copy)]
struct Shape {
    dags: usize,
    runs: usize,
}

impl Shape {
    fn for_task_instances(n: usize) -> Shape {
        let runs_total = (n / TASKS).max(1);
        let per_dag = env_usize("WEIR_BENCH_RUNS_PER_DAG", RUNS_PER_DAG).max(1);
        let dags = (runs_total / per_dag).clamp(1, MAX_DAGS);
        Shape {
            dags,
            runs: (runs_total / dags).max(1),
        }
    }

    fn task_instances(self) -> usize {
        self.dags * self.runs * TASKS
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace(['_', ','], "").parse().ok())
        .unwrap_or(default)
}

fn dag_name(i: usize) -> String {
    format!("hist_{i:03}")
}

fn team_of(i: usize) -> String {
    format!("team{}", i % TEAMS)
}

fn platform() -> PlatformConfig {
    let mut toml = String::new();
    for t in 0..TEAMS {
        toml.push_str(&format!("[[teams]]\nname = \"team{t}\"\n\n"));
    }
    let report = parse(&toml);
    let config = report
        .config
        .unwrap_or_else(|| panic!("bad benchmark platform: {:?}", report.diagnostics));
    config.or_defaults(PlatformConfig::standalone_default(2.0, 1 << 30, false))
}

/// A paused DAG of [`TASKS`] chained noop tasks (paused: the engine leaves its runs be).
fn dag_yaml(i: usize) -> String {
    let mut y = format!(
        "dag: {}\nteam: {}\ndescription: history benchmark\ntags: [bench, t{}]\npaused: true\ntasks:\n",
        dag_name(i),
        team_of(i),
        i % 7
    );
    for t in 0..TASKS {
        y.push_str(&format!("  t{t}:\n    noop: {{}}\n"));
        if t > 0 {
            y.push_str(&format!("    depends_on: [t{}]\n", t - 1));
        }
    }
    y
}

/// What a run of the history ends as: mostly success, some failed, a few still queued.
fn run_state(k: usize) -> DagRunState {
    match k % 20 {
        0..=15 => DagRunState::Success,
        16..=18 => DagRunState::Failed,
        _ => DagRunState::Queued,
    }
}

struct Bench {
    app: Router,
    admin: Caller,
    viewer: Caller,
    _engine: Engine,
}

/// How a benchmark caller signs in: an API token for API routes, a session cookie for
/// UI pages.
struct Caller {
    token: String,
    cookie: String,
}

async fn start(store: Store, home: &Path, shape: Shape) -> Result<Bench, Error> {
    let dags = home.join("dags");
    std::fs::create_dir_all(&dags)?;
    for i in 0..shape.dags {
        std::fs::write(dags.join(format!("{}.yaml", dag_name(i))), dag_yaml(i))?;
    }
    for i in 0..10 {
        std::fs::write(
            dags.join(format!("broken_{i}.yaml")),
            "dag: broken\ntasks: 3\n",
        )?;
    }
    let host = weir_compute::HostResources::probe(None).await;
    let platform = Arc::new(weir_compute::effective_platform(Some(platform()), host));
    let mut config = EngineConfig::new(
        home.join("home"),
        vec!["/bin/false".into()],
        platform.clone(),
    );
    config.dags_folder = Some(dags);
    config.run_schedules = false;
    let engine = Engine::start(config, store.clone()).await?;
    let api = ApiConfig {
        password_cost: HashCost::FAST_FOR_TESTS,
        ..ApiConfig::default()
    };
    let app = router(AppState::with_config(engine.handle(), api, platform));
    // The engine parses the DAG folder in the background: wait for every DAG.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let page = store
            .list_dags(&weir_store::DagFilter {
                limit: 1,
                ..Default::default()
            })
            .await?;
        if page.total_entries >= shape.dags as i64 {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("only {} DAGs parsed", page.total_entries).into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let admin = Caller {
        token: user_token(&store, "bench_admin", true, None).await?,
        cookie: session(&store, "bench_admin").await?,
    };
    let viewer = Caller {
        token: user_token(&store, "bench_viewer", false, Some("team1")).await?,
        cookie: session(&store, "bench_viewer").await?,
    };
    Ok(Bench {
        app,
        admin,
        viewer,
        _engine: engine,
    })
}

/// A fresh web UI session of `name`: its cookie value.
async fn session(store: &Store, name: &str) -> Result<String, Error> {
    let cookie = format!("bench-{}", uuid::Uuid::new_v4());
    let now = Utc::now();
    store
        .create_ui_session(
            &weir_server::auth::api_tokens::digest(&cookie),
            &weir_store::UiSessionRecord {
                username: name.to_string(),
                method: "password".into(),
                csrf_token: "bench".into(),
                created_at: now,
                last_seen_at: now,
                expires_at: now + chrono::Duration::hours(8),
            },
        )
        .await?;
    Ok(cookie)
}

/// A user (created if missing) with a fresh API token; a member of `team` as viewer.
async fn user_token(
    store: &Store,
    name: &str,
    platform_admin: bool,
    team: Option<&str>,
) -> Result<String, Error> {
    if store.get_user(name).await?.is_none() {
        store
            .create_user(&NewUser {
                username: name,
                password_hash: None,
                email: None,
                source: "local",
                platform_admin,
            })
            .await?;
    }
    if let Some(team) = team {
        store.set_membership(team, name, "viewer").await?;
    }
    let (token, digest) =
        weir_server::auth::api_tokens::generate().map_err(|e| format!("token: {e}"))?;
    store
        .create_token(&NewToken {
            id: &format!("{name}-{}", uuid::Uuid::new_v4()),
            name: "bench",
            token_hash: &digest,
            username: Some(name),
            team: None,
            role: None,
            created_by: "bench",
            expires_at: None,
        })
        .await?;
    Ok(token)
}

/// Writes the history of DAG `i` through the store: its runs with their task instances,
/// each instance's state changes as the engine would make them, and usage.
async fn build_dag(store: Store, i: usize, shape: Shape, now: DateTime<Utc>) -> Result<(), Error> {
    let dag_id = DagId::new(dag_name(i))?;
    let dag = store
        .get_dag(&dag_id)
        .await?
        .ok_or_else(|| format!("DAG {dag_id} not parsed"))?;
    let version_hash = dag.latest_version.clone().unwrap_or_default();
    let pool = if i.is_multiple_of(2) {
        "default_pool".to_string()
    } else {
        format!("{}_pool", team_of(i))
    };
    let tasks: Vec<NewTaskInstance> = (0..TASKS)
        .map(|t| {
            Ok(NewTaskInstance {
                task_id: TaskId::new(format!("t{t}"))?,
                map_index: UNMAPPED,
                max_tries: 1,
                pool: pool.clone(),
                queue: "default".into(),
                priority_weight: 1,
            })
        })
        .collect::<Result<_, Error>>()?;
    for k in 0..shape.runs {
        // Hourly runs ending now, so date filters and the cost window cut through them.
        let logical_date = now - chrono::Duration::hours((shape.runs - k) as i64);
        let run_id = RunId::new(format!(
            "scheduled__{}",
            logical_date.format("%Y%m%dT%H%M%S")
        ))?;
        let state = run_state(k);
        let initial = if state == DagRunState::Queued {
            DagRunState::Queued
        } else {
            DagRunState::Running
        };
        store
            .create_dag_run_with_tasks(
                &NewDagRun {
                    dag_id: dag_id.clone(),
                    run_id: run_id.clone(),
                    version_hash: version_hash.clone(),
                    run_type: RunType::Scheduled,
                    state: initial,
                    logical_date,
                    data_interval_start: Some(logical_date),
                    data_interval_end: Some(logical_date + chrono::Duration::hours(1)),
                    conf: json!({}),
                    external_trigger: false,
                    queued_at: logical_date,
                },
                &tasks,
            )
            .await?;
        if state == DagRunState::Queued {
            continue;
        }
        let failing_task = if state == DagRunState::Failed {
            4
        } else {
            TASKS
        };
        for (t, task) in tasks.iter().enumerate() {
            let key = TaskInstanceKey {
                dag_id: dag_id.clone(),
                run_id: run_id.clone(),
                task_id: task.task_id.clone(),
                map_index: UNMAPPED,
            };
            let at = logical_date + chrono::Duration::seconds(30 * t as i64 + (k % 7) as i64);
            let settle = |state| TaskInstanceUpdate::Settle {
                state,
                at,
                note: None,
            };
            let updates = if t < failing_task {
                if t == TASKS - 1 && k % 5 == 0 {
                    vec![settle(TaskState::Skipped)]
                } else {
                    vec![
                        TaskInstanceUpdate::Schedule,
                        TaskInstanceUpdate::Noop { try_number: 1, at },
                    ]
                }
            } else if t == failing_task {
                vec![settle(TaskState::Failed)]
            } else {
                vec![settle(TaskState::UpstreamFailed)]
            };
            for u in &updates {
                if !store.update_task_instance(&key, u).await? {
                    return Err(format!("{key:?}: {u:?} did not apply").into());
                }
            }
        }
        let end = logical_date + chrono::Duration::minutes(5);
        store
            .set_dag_run_state(&dag_id, &run_id, DagRunState::Running, state, end)
            .await?;
        // One try a run reports usage (the noop tasks use none; a shell task would).
        let key = TryKey {
            dag_id: dag_id.clone(),
            run_id: run_id.clone(),
            task_id: tasks[0].task_id.clone(),
            map_index: UNMAPPED,
            try_number: 1,
        };
        let usage = UsageRecord {
            team: weir_core::ids::TeamId::new(team_of(i)).expect("team id"),
            dag_id: dag_id.clone(),
            queue: "default".into(),
            compute_environment: "local".into(),
            requested_vcpu: 1.0,
            requested_memory_bytes: 1 << 30,
            wall_seconds: 30.0,
            cpu_seconds: Some(12.5),
            peak_memory_bytes: Some(1 << 27),
            started_at: logical_date,
            price: Price {
                vcpu_hour: 0.04,
                gib_hour: 0.005,
            },
        };
        store.insert_usage(&key, &usage, end, None).await?;
    }
    Ok(())
}

/// Builds the history unless the store already holds it; returns how long it took.
async fn build(store: &Store, shape: Shape) -> Result<Option<Duration>, Error> {
    let runs = store
        .list_dag_runs(&weir_store::DagRunFilter {
            limit: 1,
            ..Default::default()
        })
        .await?
        .total_entries;
    let expected = (shape.dags * shape.runs) as i64;
    if runs == expected {
        return Ok(None);
    }
    if runs != 0 {
        return Err(format!("the store holds {runs} runs, not 0 or {expected}: empty it").into());
    }
    let started = Instant::now();
    let now = Utc::now();
    for t in 0..TEAMS {
        store
            .upsert_pool(&format!("team{t}_pool"), 32, Some("bench"))
            .await?;
    }
    let mut workers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            for i in (w..shape.dags).step_by(WRITERS) {
                build_dag(store.clone(), i, shape, now).await?;
                if i % 20 == 0 {
                    eprintln!("  DAG {i} of {} written", shape.dags);
                }
            }
            Ok::<(), Error>(())
        }));
    }
    for w in workers {
        w.await??;
    }
    for e in 0..(shape.dags * shape.runs / 10).max(100) {
        let team = team_of(e);
        store
            .append_audit_event(&NewAuditEvent {
                time: now - chrono::Duration::seconds(e as i64),
                actor: format!("user{}", e % 50),
                action: "dag_run.create".into(),
                object_type: "dag_run".into(),
                object_id: format!("{}/manual__{e}", dag_name(e % shape.dags)),
                team: Some(team),
                outcome: "success".into(),
                source_addr: Some("127.0.0.1".into()),
                details: json!({}),
            })
            .await?;
    }
    for v in 0..500 {
        store
            .set_variable(&format!("var_{v:03}"), "value", None, Some(&team_of(v)))
            .await?;
    }
    for u in 0..50 {
        let name = format!("user{u:02}");
        store
            .create_user(&NewUser {
                username: &name,
                password_hash: None,
                email: None,
                source: "local",
                platform_admin: false,
            })
            .await?;
        store.set_membership(&team_of(u), &name, "operator").await?;
    }
    Ok(Some(started.elapsed()))
}

/// A route to measure: method, URI, JSON body.
struct Call {
    label: String,
    method: Method,
    uri: String,
    body: Option<Value>,
}

fn calls(shape: Shape, now: DateTime<Utc>, run: &str) -> Vec<Call> {
    let dag = dag_name(shape.dags / 2);
    let recent = (now - chrono::Duration::hours(24))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let get = |uri: String| Call {
        label: uri.replace("/api/v1", ""),
        method: Method::GET,
        uri,
        body: None,
    };
    let post = |uri: &str, body: Value| Call {
        label: format!("POST {} {body}", uri.replace("/api/v1", "")),
        method: Method::POST,
        uri: uri.to_string(),
        body: Some(body),
    };
    let runs_list = "/api/v1/dags/~/dagRuns/list";
    let tis_list = "/api/v1/dags/~/dagRuns/~/taskInstances/list";
    vec![
        get("/api/v1/dags".into()),
        get("/api/v1/dags?limit=100&offset=100".into()),
        get(format!("/api/v1/dags/{dag}/dagRuns")),
        get(format!(
            "/api/v1/dags/{dag}/dagRuns?order_by=-execution_date&limit=25"
        )),
        get(format!("/api/v1/dags/{dag}/dagRuns?state=failed")),
        get(format!(
            "/api/v1/dags/{dag}/dagRuns?execution_date_gte={recent}"
        )),
        get("/api/v1/dags/~/dagRuns".into()),
        get("/api/v1/dags/~/dagRuns?order_by=-execution_date&limit=25".into()),
        get("/api/v1/dags/~/dagRuns?state=queued".into()),
        get(format!(
            "/api/v1/dags/~/dagRuns?execution_date_gte={recent}"
        )),
        get("/api/v1/dags/~/dagRuns?offset=50000&limit=100".into()),
        get(format!("/api/v1/dags/{dag}/dagRuns/{run}/taskInstances")),
        post(runs_list, json!({})),
        post(
            runs_list,
            json!({"states": ["failed"], "order_by": "-execution_date", "page_limit": 25}),
        ),
        post(
            runs_list,
            json!({"dag_ids": [dag], "execution_date_gte": recent}),
        ),
        post(tis_list, json!({})),
        post(tis_list, json!({"state": ["failed"]})),
        post(
            tis_list,
            json!({"dag_ids": [dag], "execution_date_gte": recent}),
        ),
        post(tis_list, json!({"pool": ["team1_pool"], "page_limit": 25})),
        get("/api/v1/importErrors".into()),
        get("/api/v1/pools".into()),
        get("/api/v1/queues".into()),
        get("/api/v1/costs".into()),
        get("/api/v1/costs?by=dag&per_day=true".into()),
        get("/api/v1/auditEvents".into()),
        get("/api/v1/variables".into()),
        get("/api/v1/connections".into()),
        get("/api/v1/users".into()),
        get("/api/v1/teams".into()),
        get("/".into()),
        get("/?search=dag_1".into()),
        get(format!("/dags/{dag}")),
        get(format!("/dags/{dag}/graph")),
        get(format!("/dags/{dag}/runs")),
        get(format!("/dags/{dag}/details")),
        get(format!("/dags/{dag}/code")),
        get(format!("/dags/{dag}/versions")),
        get(format!("/dags/{dag}/runs/{}", encode(run))),
        get(format!("/dags/{dag}/runs/{}?task=t5", encode(run))),
        get("/queues".into()),
        get("/costs".into()),
        get("/audit".into()),
        get("/approvals".into()),
        get("/import-errors".into()),
        get("/admin/users".into()),
    ]
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn send(app: &Router, who: &Caller, call: &Call) -> Result<(StatusCode, String), Error> {
    let req = Request::builder()
        .method(call.method.clone())
        .uri(&call.uri);
    // API routes take the token, UI pages the session cookie.
    let mut req = if call.uri.starts_with("/api/") {
        req.header(header::AUTHORIZATION, format!("Bearer {}", who.token))
    } else {
        req.header(header::COOKIE, format!("weir_session={}", who.cookie))
    };
    let body = match &call.body {
        Some(v) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(serde_json::to_vec(v)?)
        }
        None => Body::empty(),
    };
    let response = app.clone().oneshot(req.body(body)?).await?;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

async fn measure(bench: &Bench, store: &Store, shape: Shape, repeat: usize) -> Result<(), Error> {
    let now = Utc::now();
    // A run from the middle of the history (its id holds the time it was built at).
    let middle = store
        .list_dag_runs(&weir_store::DagRunFilter {
            dag_id: Some(DagId::new(dag_name(shape.dags / 2))?),
            limit: 1,
            offset: (shape.runs / 2) as i64,
            ..Default::default()
        })
        .await?
        .items
        .pop()
        .ok_or("no run in the middle of the history")?;
    println!(
        "{:<92} {:>6} {:>9} {:>9} {:>9}",
        "route (admin | team viewer)", "status", "p50 ms", "p95 ms", "p99 ms"
    );
    for call in calls(shape, now, middle.run_id.as_str()) {
        for (who, token) in [("admin", &bench.admin), ("viewer", &bench.viewer)] {
            // One call to warm caches (and to see the status), then the measured ones.
            let (status, body) = send(&bench.app, token, &call).await?;
            if status.is_server_error() {
                eprintln!("{} ({who}): {status}: {body}", call.label);
            }
            let mut times = Vec::with_capacity(repeat);
            for _ in 0..repeat {
                let t = Instant::now();
                send(&bench.app, token, &call).await?;
                times.push(t.elapsed());
            }
            times.sort();
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            let p99 = percentile(&times, 0.99);
            let p95 = percentile(&times, 0.95);
            let flag = if p95 > Duration::from_millis(50) {
                " >50"
            } else {
                ""
            };
            let mut label = format!("{} ({who})", call.label);
            label.truncate(92);
            println!(
                "{label:<92} {:>6} {:>9.2} {:>9.2} {:>9.2}{flag}",
                status.as_u16(),
                ms(percentile(&times, 0.5)),
                ms(p95),
                ms(p99),
            );
        }
    }
    Ok(())
}

async fn run_on(
    name: &str,
    url: &str,
    home: &Path,
    shape: Shape,
    repeat: usize,
) -> Result<(), Error> {
    println!(
        "\n== {name}: {} DAGs × {} runs × {TASKS} tasks = {} task instances, {repeat} calls per route",
        shape.dags,
        shape.runs,
        shape.task_instances()
    );
    let store = Store::open(url).await?;
    let bench = start(store.clone(), home, shape).await?;
    match build(&store, shape).await? {
        Some(took) => println!(
            "history built through the store in {:.1} s",
            took.as_secs_f64()
        ),
        None => println!("history reused"),
    }
    measure(&bench, &store, shape, repeat).await
}

fn main() -> Result<(), Error> {
    // `cargo bench` passes `--bench`; this benchmark has no options of its own.
    let shape = Shape::for_task_instances(env_usize("WEIR_BENCH_TASK_INSTANCES", 10_000));
    let repeat = env_usize("WEIR_BENCH_REPEAT", 50).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (dir, _temp) = match std::env::var("WEIR_BENCH_DB_DIR") {
            Ok(d) => (PathBuf::from(d), None),
            Err(_) => {
                let t = tempfile::tempdir()?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let n = shape.task_instances();
        if std::env::var("WEIR_BENCH_SKIP_SQLITE").is_err() {
            let home = dir.join(format!("sqlite-{n}"));
            std::fs::create_dir_all(&home)?;
            let db = home.join("weir.db");
            let url = db.to_str().ok_or("non-UTF-8 path")?;
            run_on("SQLite", url, &home, shape, repeat).await?;
        }
        if let Ok(url) = std::env::var("WEIR_TEST_POSTGRES_URL") {
            let home = dir.join(format!("postgres-{n}"));
            std::fs::create_dir_all(&home)?;
            run_on("PostgreSQL", &url, &home, shape, repeat).await?;
        }
        Ok(())
    })
}
