//! Throughput of scheduler replicas on one PostgreSQL database: 1, 2 and 3 `weir server
//! --role all` processes on this machine share 12 DAGs of 100 independent tasks (1,200
//! tasks), once as `noop` tasks (pure orchestration: the store and the scheduler) and
//! once as `true` shell tasks (plus a supervisor and a process per task). Every run is
//! triggered through the first replica; the others hear of their DAGs' runs by
//! announcement.
//!
//! Run: `WEIR_BENCH_POSTGRES_URL=postgres://… cargo bench -p weir --bench replicas`
//! (scripts/test prints the test database's URL). Prints tasks per second for each
//! replica count and workload. On one 2-core machine the replicas compete for the same
//! cores and the same database, so more replicas show what the leases cost, not the
//! capacity a second machine would add.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark may stop on the first surprise

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const DAGS: usize = 12;
const TASKS: usize = 100;
const PASSWORD: &str = "bench-admin-password";

struct Replica {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dag_files(kind: &str) -> Vec<(String, String)> {
    (0..DAGS)
        .map(|d| {
            let mut yaml =
                format!("dag: bench_{d:02}\nteam: bench\nmax_active_tasks: 32\ntasks:\n");
            for t in 0..TASKS {
                match kind {
                    "noop" => yaml.push_str(&format!("  t{t:03}:\n    noop: {{}}\n")),
                    _ => yaml.push_str(&format!("  t{t:03}:\n    shell: \"true\"\n")),
                }
            }
            (format!("bench_{d:02}.yaml"), yaml)
        })
        .collect()
}

fn start(db: &str, files: &[(String, String)]) -> Replica {
    let dir = tempfile::tempdir().unwrap();
    let dags = dir.path().join("dags");
    std::fs::create_dir_all(&dags).unwrap();
    for (name, yaml) in files {
        std::fs::write(dags.join(name), yaml).unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["server", "--port", "0", "--role", "all", "--unpause-all"])
        .args([
            "--parallelism",
            "32",
            "--lease-seconds",
            "6",
            "--db",
            db,
            "--dags",
        ])
        .arg(&dags)
        .arg("--home")
        .arg(dir.path().join("home"))
        .env("WEIR_LOG", "warn")
        .env("WEIR_ADMIN_PASSWORD", PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    Replica {
        child,
        url,
        _dir: dir,
    }
}

async fn fresh_schema(admin_url: &str, name: &str) -> String {
    let pool = sqlx::PgPool::connect(admin_url).await.unwrap();
    for sql in [
        format!("DROP SCHEMA IF EXISTS {name} CASCADE"),
        format!("CREATE SCHEMA {name}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    let sep = if admin_url.contains('?') { '&' } else { '?' };
    format!("{admin_url}{sep}options[search_path]={name}")
}

async fn token(client: &reqwest::Client, url: &str) -> String {
    let body: Value = client
        .post(format!("{url}/api/v1/tokens"))
        .basic_auth("admin", Some(PASSWORD))
        .json(&serde_json::json!({"name": "bench"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["token"].as_str().unwrap().to_string()
}

async fn health(client: &reqwest::Client, url: &str) -> Value {
    client
        .get(format!("{url}/api/v1/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Runs one workload on `replicas` replicas; returns tasks per second.
async fn measure(admin_url: &str, kind: &str, replicas: usize) -> f64 {
    let db = fresh_schema(admin_url, &format!("bench_replicas_{kind}_{replicas}")).await;
    let files = dag_files(kind);
    let started: Vec<Replica> = (0..replicas).map(|_| start(&db, &files)).collect();
    let client = reqwest::Client::new();
    let first = &started[0].url;
    let token = token(&client, first).await;
    // Wait until every replica holds its part of the DAGs.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let h = health(&client, first).await;
        let held: Vec<i64> = h["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == "healthy")
            .map(|r| r["dags"].as_i64().unwrap_or(0))
            .collect();
        if held.len() == replicas
            && held.iter().sum::<i64>() == DAGS as i64
            && held.iter().all(|n| *n > 0)
        {
            break;
        }
        assert!(Instant::now() < deadline, "the DAGs were not divided: {h}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let begin = Instant::now();
    for d in 0..DAGS {
        let response = client
            .post(format!("{first}/api/v1/dags/bench_{d:02}/dagRuns"))
            .bearer_auth(&token)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let page: Value = client
            .get(format!(
                "{first}/api/v1/dags/~/dagRuns?state=success&limit=1"
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if page["total_entries"].as_u64() == Some(DAGS as u64) {
            break;
        }
        assert!(Instant::now() < deadline, "the runs did not finish: {page}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = begin.elapsed();
    drop(started);
    (DAGS * TASKS) as f64 / elapsed.as_secs_f64()
}

fn main() {
    let Ok(admin_url) = std::env::var("WEIR_BENCH_POSTGRES_URL") else {
        eprintln!(
            "skipped: set WEIR_BENCH_POSTGRES_URL to a PostgreSQL database to run the replica benchmark"
        );
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("{:<8} {:>9} {:>12}", "tasks", "replicas", "tasks/s");
    for kind in ["noop", "shell"] {
        for replicas in 1..=3 {
            let rate = runtime.block_on(measure(&admin_url, kind, replicas));
            println!("{kind:<8} {replicas:>9} {rate:>12.0}");
        }
    }
}
