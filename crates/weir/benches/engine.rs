//! Benchmark of Weir's orchestration overhead, through the real engine, store and
//! process backend (each task is `true`, run by its supervisor like any shell task).
//!
//! Run: `cargo bench -p weir --bench engine` (SQLite); set `WEIR_BENCH_POSTGRES_URL` to
//! also run on PostgreSQL. Prints, per workload: wall time, the task processes' own time
//! on the critical path, per-task orchestration overhead = (wall − critical path) /
//! tasks, tasks per second, and the process's peak RSS. Then `weir standalone`'s
//! time-to-ready and idle RSS on the bundled examples.
//!
//! `chain40sb` and `wide200sb` run their shell tasks in the bubblewrap sandbox (a `weir.toml`
//! declaring the team; they need root and `bwrap`, and say so when skipped).
//!
//! Targets on the 2-core CI machine: chain40 ≤ 5 ms overhead per task, wide1000 < 5 s,
//! standalone ready < 1 s and idle RSS < 60 MB.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark may stop on the first surprise

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, Instant};

use weir_core::ids::DagId;
use weir_core::state::DagRunState;
use weir_engine::{Engine, EngineConfig, TriggerRequest};
use weir_store::Store;

struct Workload {
    name: &'static str,
    yaml: String,
    /// Run the shell tasks in the bubblewrap sandbox (a `weir.toml` declaring the team),
    /// as a shared server does.
    sandboxed: bool,
}

/// A `weir.toml` declaring the benchmark's team: its shell tasks are sandboxed.
const SANDBOXED_PLATFORM: &str = "[[teams]]\nname = \"bench\"\n";

/// Why sandboxed workloads cannot run here, if they cannot (they need root and `bwrap`).
fn sandbox_unavailable() -> Option<&'static str> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some("not root");
    }
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("bwrap").is_file()));
    (!found).then_some("no `bwrap` on PATH (Debian's bubblewrap)")
}

fn chain(n: usize) -> String {
    let mut s = format!("dag: chain{n}\nteam: bench\nmax_active_tasks: 64\ntasks:\n");
    for i in 0..n {
        s.push_str(&format!("  t{i}:\n    shell: \"true\"\n"));
        if i > 0 {
            s.push_str(&format!("    depends_on: [t{}]\n", i - 1));
        }
    }
    s
}

fn fan(n: usize) -> String {
    let mut s = format!(
        "dag: fan{n}\nteam: bench\nmax_active_tasks: 64\ntasks:\n  start: {{shell: \"true\"}}\n"
    );
    let ids: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
    for id in &ids {
        s.push_str(&format!(
            "  {id}: {{shell: \"true\", depends_on: [start]}}\n"
        ));
    }
    s.push_str(&format!(
        "  end: {{shell: \"true\", depends_on: [{}]}}\n",
        ids.join(", ")
    ));
    s
}

fn wide(n: usize) -> String {
    let mut s = format!("dag: wide{n}\nteam: bench\nmax_active_tasks: 10000\ntasks:\n");
    for i in 0..n {
        s.push_str(&format!("  w{i}: {{shell: \"true\"}}\n"));
    }
    s
}

fn noop_wide(n: usize) -> String {
    let mut s = format!(
        "dag: noop{n}\nteam: bench\nmax_active_tasks: 100000\nmax_active_runs: 1000\ntasks:\n"
    );
    for i in 0..n {
        s.push_str(&format!("  n{i}: {{noop: {{}}}}\n"));
    }
    s
}

/// Independent noop task instances per second, sustained: `runs` runs of a DAG of
/// 1,000 noop tasks, all triggered at once, from the first trigger to the last success.
/// Measures the engine and store alone (no process is spawned).
async fn noop_throughput(db_label: &str, db: &str, home: &Path, runs: usize) {
    let store = Store::open(db).await.expect("store");
    let platform = std::sync::Arc::new(weir_compute::effective_platform(
        None,
        weir_compute::HostResources::probe(None).await,
    ));
    let mut config = EngineConfig::new(home.to_path_buf(), Vec::new(), platform);
    config.run_schedules = false;
    let engine = Engine::start(config, store.clone()).await.expect("engine");
    let handle = engine.handle();
    let yaml = noop_wide(1000);
    let spec = weir_core::spec::load_file(&yaml)
        .dags
        .into_iter()
        .next()
        .expect("valid workload");
    handle
        .register_dag(&spec, "bench.yaml", &yaml)
        .await
        .expect("register");
    let dag_id = DagId::new(spec.dag.clone()).unwrap();
    let started = Instant::now();
    let mut run_ids = Vec::with_capacity(runs);
    for i in 0..runs {
        let run = handle
            .trigger_dag(
                &dag_id,
                TriggerRequest {
                    run_id: Some(weir_core::ids::RunId::new(format!("noop_{i}")).unwrap()),
                    ..TriggerRequest::default()
                },
            )
            .await
            .expect("trigger");
        run_ids.push(run.run_id);
    }
    for run_id in &run_ids {
        loop {
            let state = store
                .get_dag_run(&dag_id, run_id)
                .await
                .unwrap()
                .map(|r| r.state);
            if state.is_some_and(|s| s.is_finished()) {
                assert_eq!(state, Some(DagRunState::Success), "a noop run failed");
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let n = (runs * 1000) as f64;
    println!(
        "| noop1000x{runs:<3} | {db_label:<8} | {n:>6} | {wall:>9.3} | {:>12.3} | {:>16.3} | {:>9.0} | {:>12.1} |",
        0.0,
        wall / n * 1000.0,
        n / wall,
        peak_rss_mb(None)
    );
    engine.shutdown().await;
}

fn peak_rss_mb(pid: Option<u32>) -> f64 {
    let path = pid.map_or("/proc/self/status".to_string(), |p| {
        format!("/proc/{p}/status")
    });
    let status = std::fs::read_to_string(path).unwrap_or_default();
    let key = if pid.is_some() { "VmRSS:" } else { "VmHWM:" };
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The task's own run time, as its supervisor measured it.
fn task_seconds(try_dir: &str) -> f64 {
    let text = std::fs::read_to_string(Path::new(try_dir).join("status.json")).unwrap_or_default();
    serde_json::from_str::<weir_compute::TryOutcome>(&text).map_or(0.0, |o| {
        (o.finished_at - o.started_at)
            .num_microseconds()
            .unwrap_or(0) as f64
            / 1e6
    })
}

/// One finished run of a workload DAG through a fresh engine.
struct Finished {
    store: Store,
    engine: Engine,
    spec: weir_core::spec::DagSpec,
    dag_id: DagId,
    run_id: weir_core::ids::RunId,
    /// Trigger to finished, in seconds.
    wall: f64,
}

/// Starts an engine on `db`, registers `yaml`, triggers it and waits for success.
async fn run_once(db: &str, home: &Path, yaml: &str, sandboxed: bool) -> Finished {
    let store = Store::open(db).await.expect("store");
    // As `weir standalone` does: the small supervisor binary that sits beside `weir`.
    let supervisor = OsString::from(env!("CARGO_BIN_EXE_weir-supervisor"));
    let given = sandboxed.then(|| {
        let report = weir_core::platform::parse(SANDBOXED_PLATFORM);
        report.config.expect("the benchmark's weir.toml is valid")
    });
    let host = weir_compute::HostResources::probe(None).await;
    let platform = std::sync::Arc::new(weir_compute::effective_platform(given, host));
    let mut config = EngineConfig::new(home.to_path_buf(), vec![supervisor], platform);
    config.run_schedules = false;
    config.parallelism = 64;
    config.server_environment = std::env::vars_os().collect();
    let engine = Engine::start(config, store.clone()).await.expect("engine");
    let handle = engine.handle();
    let spec = weir_core::spec::load_file(yaml)
        .dags
        .into_iter()
        .next()
        .expect("valid workload");
    handle
        .register_dag(&spec, "bench.yaml", yaml)
        .await
        .expect("register");
    let dag_id = DagId::new(spec.dag.clone()).unwrap();
    let started = Instant::now();
    let run = handle
        .trigger_dag(&dag_id, TriggerRequest::default())
        .await
        .expect("trigger");
    loop {
        let state = store
            .get_dag_run(&dag_id, &run.run_id)
            .await
            .unwrap()
            .map(|r| r.state);
        if state.is_some_and(|s| s.is_finished()) {
            assert_eq!(state, Some(DagRunState::Success), "{} failed", spec.dag);
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let wall = started.elapsed().as_secs_f64();
    Finished {
        store,
        engine,
        spec,
        dag_id,
        run_id: run.run_id,
        wall,
    }
}

async fn run_workload(db_label: &str, db: &str, home: &Path, w: &Workload) {
    let Finished {
        store,
        engine,
        spec,
        dag_id,
        run_id,
        wall,
    } = run_once(db, home, &w.yaml, w.sandboxed).await;
    // Critical path of the tasks' own time: longest path through the graph.
    let tis = store.list_task_instances(&dag_id, &run_id).await.unwrap();
    let mut own: HashMap<String, f64> = HashMap::new();
    for ti in &tis {
        if let Some(t) = store.get_try(&ti.key.try_key(ti.try_number)).await.unwrap()
            && let Some(dir) = &t.try_dir
        {
            own.insert(ti.key.task_id.to_string(), task_seconds(dir));
        }
    }
    let graph = weir_core::spec::graph::TaskGraph::new(&spec);
    let mut longest = vec![0.0f64; graph.ids.len()];
    for i in graph.topological_order().unwrap() {
        let up = graph.upstream[i]
            .iter()
            .map(|&u| longest[u])
            .fold(0.0, f64::max);
        longest[i] = up + own.get(graph.ids[i].as_str()).copied().unwrap_or(0.0);
    }
    let critical = longest.iter().copied().fold(0.0, f64::max);
    let n = tis.len() as f64;
    println!(
        "| {:<9} | {:<8} | {:>6} | {:>9.3} | {:>12.3} | {:>16.2} | {:>9.0} | {:>12.1} |",
        w.name,
        db_label,
        tis.len(),
        wall,
        critical,
        (wall - critical) / n * 1000.0,
        n / wall,
        peak_rss_mb(None)
    );
    engine.shutdown().await;
}

fn standalone_numbers(exe: &Path) {
    let home = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/dags");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let mut child = std::process::Command::new(exe)
        .args(["standalone", "--port", &port.to_string(), "--dags"])
        .arg(&examples)
        .arg("--home")
        .arg(home.path())
        .env("WEIR_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start weir standalone");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let ready = started.elapsed();
    assert!(line.contains("ready"), "unexpected first line: {line}");
    std::thread::sleep(Duration::from_secs(3));
    let rss = peak_rss_mb(Some(child.id()));
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "\nweir standalone on examples/dags: ready in {} ms, idle RSS {:.1} MB (targets: < 1000 ms, < 60 MB)",
        ready.as_millis(),
        rss
    );
}

fn main() {
    let exe = Path::new(env!("CARGO_BIN_EXE_weir")).to_path_buf();
    let workloads = [
        Workload {
            name: "chain10",
            yaml: chain(10),
            sandboxed: false,
        },
        Workload {
            name: "chain40",
            yaml: chain(40),
            sandboxed: false,
        },
        Workload {
            name: "fan40",
            yaml: fan(40),
            sandboxed: false,
        },
        Workload {
            name: "wide1000",
            yaml: wide(1000),
            sandboxed: false,
        },
        Workload {
            name: "chain40sb",
            yaml: chain(40),
            sandboxed: true,
        },
        Workload {
            name: "wide200sb",
            yaml: wide(200),
            sandboxed: true,
        },
    ];
    let mut dbs: Vec<(String, Option<String>)> = vec![("sqlite".into(), None)];
    if let Ok(url) = std::env::var("WEIR_BENCH_POSTGRES_URL") {
        dbs.push(("postgres".into(), Some(url)));
    }
    println!(
        "| workload  | database |  tasks |  wall (s) | tasks own (s) | overhead/task ms | tasks/s | peak RSS MB |"
    );
    println!(
        "|-----------|----------|-------:|----------:|--------------:|-----------------:|--------:|------------:|"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for (label, url) in &dbs {
        for w in &workloads {
            if w.sandboxed
                && let Some(why) = sandbox_unavailable()
            {
                println!("| {:<9} | {label:<8} | skipped: {why} |", w.name);
                continue;
            }
            let home = tempfile::tempdir().unwrap();
            let db = url
                .clone()
                .unwrap_or_else(|| home.path().join("weir.db").display().to_string());
            if label == "postgres" {
                // A fresh schema per workload keeps runs independent.
                let schema = format!("bench_{}_{}", w.name, std::process::id());
                let sep = if db.contains('?') { '&' } else { '?' };
                let db = format!("{db}{sep}options[search_path]={schema}");
                let admin_url = url.clone().unwrap_or_default();
                rt.block_on(async {
                    pg_ddl(&admin_url, format!("CREATE SCHEMA IF NOT EXISTS {schema}")).await;
                    run_workload(label, &db, home.path(), w).await;
                    pg_ddl(&admin_url, format!("DROP SCHEMA {schema} CASCADE")).await;
                });
            } else {
                rt.block_on(run_workload(label, &db, home.path(), w));
            }
        }
        // Sustained noop throughput (`WEIR_BENCH_NOOP_RUNS` runs of 1,000; default 100).
        let runs: usize = std::env::var("WEIR_BENCH_NOOP_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100);
        let home = tempfile::tempdir().unwrap();
        if label == "postgres" {
            let schema = format!("bench_noop_{}", std::process::id());
            let admin_url = url.clone().unwrap_or_default();
            let sep = if admin_url.contains('?') { '&' } else { '?' };
            let db = format!("{admin_url}{sep}options[search_path]={schema}");
            rt.block_on(async {
                pg_ddl(&admin_url, format!("CREATE SCHEMA IF NOT EXISTS {schema}")).await;
                noop_throughput(label, &db, home.path(), runs).await;
                pg_ddl(&admin_url, format!("DROP SCHEMA {schema} CASCADE")).await;
            });
        } else {
            let db = home.path().join("weir.db").display().to_string();
            rt.block_on(noop_throughput(label, &db, home.path(), runs));
        }
    }
    standalone_numbers(&exe);
    rt.block_on(container_numbers());
}

fn container_dag(name: &str, n: usize, chained: bool) -> String {
    let mut s = format!("dag: {name}\nteam: bench\nmax_active_tasks: 64\ntasks:\n");
    for i in 0..n {
        s.push_str(&format!(
            "  c{i}:\n    container: {{image: \"{BENCH_IMAGE}\", pull: never, command: [\"true\"], resources: {{vcpu: 0.05, memory: 16Mi}}}}\n"
        ));
        if chained && i > 0 {
            s.push_str(&format!("    depends_on: [c{}]\n", i - 1));
        }
    }
    s
}

const BENCH_IMAGE: &str = "weir-test/busybox:latest";

/// `docker run --rm` of the bench image; `sandboxed` adds what Weir's Docker backend
/// sets on every container (limits, no capabilities, no new privileges, a process
/// limit, an init, the XCom folder), so the comparison is like for like.
fn docker_run(sandboxed: bool, io: &Path) -> std::process::Child {
    let mut cmd = std::process::Command::new("docker");
    cmd.args(["run", "--rm"]);
    if sandboxed {
        cmd.args([
            "--init",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--pids-limit",
            "4096",
        ])
        .args([
            "--memory",
            "16m",
            "--memory-swap",
            "16m",
            "--cpus",
            "0.05",
            "--volume",
        ])
        .arg(format!("{}:/weir", io.display()));
    }
    cmd.args([BENCH_IMAGE, "true"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("docker run")
}

/// Seconds for 20 `docker run --rm`, one after the other or all at once.
fn docker_runs(chained: bool, sandboxed: bool, io: &Path) -> f64 {
    let started = Instant::now();
    if chained {
        for _ in 0..20 {
            docker_run(sandboxed, io).wait().expect("docker run");
        }
    } else {
        let children: Vec<_> = (0..20).map(|_| docker_run(sandboxed, io)).collect();
        for mut c in children {
            c.wait().expect("docker run");
        }
    }
    started.elapsed().as_secs_f64()
}

/// 20 trivial containers in a chain and 20 in parallel through Weir, against the same
/// done with `docker run --rm` directly. Target: Weir adds at most 10%.
async fn container_numbers() {
    let image_ok = std::process::Command::new("docker")
        .args(["image", "inspect", BENCH_IMAGE])
        .output()
        .is_ok_and(|o| o.status.success());
    if !image_ok {
        println!(
            "\ncontainers: skipped, no {BENCH_IMAGE} (run crates/weir-compute/scripts/build-test-image.sh)"
        );
        return;
    }
    let io = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    for (name, chained) in [("chain20c", true), ("par20c", false)] {
        let plain = docker_runs(chained, false, io.path());
        let direct = docker_runs(chained, true, io.path());
        let home = tempfile::tempdir().unwrap();
        let db = home.path().join("weir.db").display().to_string();
        let finished = run_once(&db, home.path(), &container_dag(name, 20, chained), false).await;
        let weir = finished.wall;
        finished.engine.shutdown().await;
        rows.push((name, weir, direct, plain));
    }
    println!(
        "\n| containers | through Weir (s) | docker run --rm, same sandbox (s) | Weir overhead | docker run --rm, no limits (s) |"
    );
    println!("|---|---:|---:|---:|---:|");
    for (name, weir, direct, plain) in rows {
        let overhead = (weir - direct) / direct * 100.0;
        println!("| {name} | {weir:.2} | {direct:.2} | {overhead:+.1}% | {plain:.2} |");
    }
}

/// Runs one DDL statement on PostgreSQL outside the store (creating bench schemas).
async fn pg_ddl(url: &str, sql: String) {
    let pool = sqlx::PgPool::connect(url).await.expect("postgres");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&pool)
        .await
        .expect("ddl");
    pool.close().await;
}
