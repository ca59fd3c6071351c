//! Replicas on one PostgreSQL database: real `weir server` processes sharing the work.
//!
//! - The chaos test: three replicas divide 20 DAGs of 100 shell tasks (2,000 tasks, each
//!   sleeping 0.2 s, then appending one line to a file); one replica is killed with SIGKILL half-way; the
//!   others take over its DAGs within the lease time and adopt its running tries, every
//!   run succeeds, and every task ran exactly once (each line is in the file once).
//! - Roles, health and `weir replicas list`; a scheduler replica answers health only;
//!   `weir server` refuses SQLite.
//!
//! Needs `WEIR_TEST_POSTGRES_URL` (scripts/test sets it); without it the tests
//! are skipped, unless `WEIR_REQUIRE_POSTGRES=1`, which makes them fail.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::server::Server;

/// The lease the chaos test's replicas hold: short, so takeover is quick to watch.
const LEASE_SECONDS: u64 = 3;

/// A fresh schema of the test PostgreSQL (`WEIR_TEST_POSTGRES_URL`), or None (skip)
/// when there is none.
async fn database() -> Option<String> {
    let Ok(url) = std::env::var("WEIR_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("WEIR_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "WEIR_REQUIRE_POSTGRES=1 but WEIR_TEST_POSTGRES_URL is not set"
        );
        eprintln!("skipped: WEIR_TEST_POSTGRES_URL is not set");
        return None;
    };
    Some(support::fresh_pg_schema(&url).await)
}

/// The master key every replica shares (each would otherwise make its own, and none
/// could read what another sealed).
const MASTER_KEY: &str = "d2Vpci1yZXBsaWNhcy10ZXN0LW1hc3Rlci1rZXktMzI=";

/// A replica of `role` on `db`, with the DAG files `files`. `token`: an API token made
/// on another replica (tokens live in the shared database); a scheduler replica, which
/// serves no API, cannot make one.
fn replica(
    files: &[(String, String)],
    db: &str,
    role: &str,
    lease: u64,
    token: Option<&str>,
) -> Server {
    replica_on(files, db, role, lease, token, None)
}

/// The same, on the host named `host` (`WEIR_HOSTNAME`) when given.
fn replica_on(
    files: &[(String, String)],
    db: &str,
    role: &str,
    lease: u64,
    token: Option<&str>,
    host: Option<&str>,
) -> Server {
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, y)| (n.as_str(), y.as_str()))
        .collect();
    let mut server = Server::new(&borrowed);
    server.command = "server";
    server.env = vec![("WEIR_MASTER_KEY".into(), MASTER_KEY.into())];
    if let Some(host) = host {
        server.env.push(("WEIR_HOSTNAME".into(), host.into()));
    }
    if let Some(token) = token {
        server.token = token.to_string();
    }
    server.args = vec![
        "--db".into(),
        db.into(),
        "--role".into(),
        role.into(),
        "--lease-seconds".into(),
        lease.to_string(),
        "--unpause-all".into(),
        "--parallelism".into(),
        "16".into(),
    ];
    server.restart();
    server
}

/// Health's replicas, by id.
async fn replicas(server: &Server) -> BTreeMap<String, Value> {
    let (status, health) = server.get("/health").await;
    assert_eq!(status, 200, "{health}");
    health["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["replica_id"].as_str().unwrap().to_string(), r.clone()))
        .collect()
}

/// The id of the replica that answers on `server`.
async fn own_id(server: &Server) -> String {
    replicas(server)
        .await
        .into_iter()
        .find(|(_, r)| r["this_replica"] == true)
        .map(|(id, _)| id)
        .unwrap()
}

/// 20 DAGs of 100 independent shell tasks, each appending its name to `lines`.
fn chaos_dags(lines: &std::path::Path) -> Vec<(String, String)> {
    (0..20)
        .map(|d| {
            let mut yaml =
                format!("dag: chaos_{d:02}\nteam: platform\nmax_active_tasks: 16\ntasks:\n");
            for t in 0..100 {
                yaml.push_str(&format!(
                    "  t{t:03}:\n    shell: sleep 0.2; echo chaos_{d:02}.t{t:03} >> {}\n",
                    lines.display()
                ));
            }
            (format!("chaos_{d:02}.yaml"), yaml)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_replica_is_taken_over_and_every_task_runs_exactly_once() {
    let Some(db) = database().await else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let lines = out.path().join("lines");
    let files = chaos_dags(&lines);
    let first = replica(&files, &db, "all", LEASE_SECONDS, None);
    let second = replica(&files, &db, "all", LEASE_SECONDS, Some(&first.token));
    let mut doomed = replica(&files, &db, "scheduler", LEASE_SECONDS, Some(&first.token));
    let doomed_id = {
        let all = replicas(&first).await;
        let ids = [own_id(&first).await, own_id(&second).await];
        all.keys().find(|id| !ids.contains(id)).unwrap().clone()
    };

    // Joining replicas get their part: each ends up holding some of the 20 DAGs.
    first
        .wait_for("/health", "the DAGs to be divided", |h| {
            let held: Vec<i64> = h["replicas"]
                .as_array()
                .map(|rs| rs.iter().map(|r| r["dags"].as_i64().unwrap_or(0)).collect())
                .unwrap_or_default();
            held.len() == 3 && held.iter().all(|n| *n >= 5) && held.iter().sum::<i64>() == 20
        })
        .await;

    // Every run is triggered through one replica; the others hear of theirs.
    let mut runs = Vec::new();
    for d in 0..20 {
        let dag = format!("chaos_{d:02}");
        runs.push((dag.clone(), first.trigger(&dag).await));
    }

    // Half-way, SIGKILL the scheduler replica.
    let deadline = Instant::now() + Duration::from_secs(120);
    while count_lines(&lines) < 600 {
        assert!(Instant::now() < deadline, "the work did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let held_before = replicas(&first).await[&doomed_id]["dags"].as_i64().unwrap();
    assert!(held_before > 0, "the killed replica held DAGs");
    let pg = sqlx::PgPool::connect(&db).await.unwrap();
    doomed.kill();
    let killed_at = Instant::now();
    let lines_at_kill = count_lines(&lines);
    // The tries it was watching when it died (their processes live on).
    let orphaned: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT dag_id, task_id, try_number FROM task_try
         WHERE replica_id = $1 AND finished_at IS NULL",
    )
    .bind(&doomed_id)
    .fetch_all(&pg)
    .await
    .unwrap();

    // Its DAGs are claimed by the others once its lease runs out: within the lease plus
    // a heartbeat (a third of the lease), with two seconds of slack for a busy machine.
    let taken_over = loop {
        let all = replicas(&first).await;
        if all[&doomed_id]["dags"].as_i64() == Some(0) {
            break killed_at.elapsed();
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(30),
            "the killed replica's DAGs were not taken over: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let bound = Duration::from_secs(LEASE_SECONDS) + Duration::from_secs(LEASE_SECONDS) / 3;
    eprintln!(
        "killed a replica holding {held_before} DAGs at {lines_at_kill} of 2000 tasks; taken over after {taken_over:?}"
    );
    assert!(
        taken_over <= bound + Duration::from_secs(2),
        "taken over after {taken_over:?}, later than the lease and a heartbeat ({bound:?})"
    );
    assert_eq!(
        replicas(&first).await[&doomed_id]["status"],
        "unhealthy",
        "a dead replica shows as such"
    );

    // Every run finishes, successfully.
    for (dag, run_id) in &runs {
        let run = wait_long(&first, dag, run_id).await;
        assert_eq!(
            run["state"],
            "success",
            "{dag} {run_id}: {run}\n{}",
            first.output()
        );
    }
    // Every task ran exactly once.
    let text = std::fs::read_to_string(&lines).unwrap();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for line in text.lines() {
        *seen.entry(line).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "tasks that ran more than once: {twice:?}");
    assert_eq!(seen.len(), 2000, "every task ran");
    assert_eq!(text.lines().count(), 2000);
    // The tries left running were adopted by the others (not run again: see above).
    for (dag_id, task_id, try_number) in &orphaned {
        let (replica_id, finished): (String, bool) = sqlx::query_as(
            "SELECT replica_id, finished_at IS NOT NULL FROM task_try
             WHERE dag_id = $1 AND task_id = $2 AND try_number = $3",
        )
        .bind(dag_id)
        .bind(task_id)
        .bind(try_number)
        .fetch_one(&pg)
        .await
        .unwrap();
        assert!(
            finished && replica_id != doomed_id,
            "{dag_id}.{task_id} was not adopted"
        );
    }
    eprintln!(
        "{} tries were running on the killed replica; all adopted",
        orphaned.len()
    );
    assert!(!orphaned.is_empty(), "the kill left tries running to adopt");
    let retried: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM task_try WHERE try_number > 1")
        .fetch_one(&pg)
        .await
        .unwrap();
    assert_eq!(retried, 0, "no try was lost and retried");
}

/// Waits (up to three minutes: 2,000 processes on a small machine) for a run to end.
async fn wait_long(server: &Server, dag: &str, run_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (status, run) = server.get(&format!("/dags/{dag}/dagRuns/{run_id}")).await;
        if status == 200 && matches!(run["state"].as_str(), Some("success" | "failed")) {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "{dag} {run_id} did not finish: {run}\n{}",
            server.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn count_lines(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_health_and_the_replicas_list() {
    let Some(db) = database().await else {
        return;
    };
    let files = vec![
        (
            "hello.yaml".to_string(),
            "dag: hello\nteam: platform\ntasks:\n  say:\n    shell: echo hello\n".to_string(),
        ),
        (
            "slow.yaml".to_string(),
            "dag: slow\nteam: platform\ntasks:\n  wait:\n    shell: sleep 61.25\n".to_string(),
        ),
    ];
    let api = replica(&files, &db, "api", 30, None);
    let scheduler = replica(&files, &db, "scheduler", 30, Some(&api.token));

    // A run triggered through the API replica is run by the scheduler replica.
    let run_id = api.trigger("hello").await;
    let run = api.wait_run_finished("hello", &run_id).await;
    assert_eq!(run["state"], "success", "{run}\n{}", scheduler.output());
    let (_, tis) = api
        .get(&format!("/dags/hello/dagRuns/{run_id}/taskInstances"))
        .await;
    assert_eq!(tis["task_instances"][0]["state"], "success");

    // A try marked failed through the API replica is stopped by the replica running it.
    let slow = api.trigger("slow").await;
    api.wait_for(
        &format!("/dags/slow/dagRuns/{slow}/taskInstances/wait"),
        "the slow task to run",
        |ti| ti["state"] == "running",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !support::process_running("sleep 61.25") {
        assert!(
            Instant::now() < deadline,
            "the slow task's process never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, marked) = api
        .send(
            "PATCH",
            &format!("/dags/slow/dagRuns/{slow}/taskInstances/wait"),
            r#"{"new_state": "failed", "dry_run": false}"#,
        )
        .await;
    assert_eq!(status, 200, "{marked}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while support::process_running("sleep 61.25") {
        assert!(
            Instant::now() < deadline,
            "the marked try was not stopped\n{}",
            scheduler.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Health lists both, with their roles; only the scheduler holds the DAGs.
    let all = replicas(&api).await;
    let mut roles: Vec<(&str, &str, i64)> = all
        .values()
        .map(|r| {
            (
                r["role"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
                r["dags"].as_i64().unwrap(),
            )
        })
        .collect();
    roles.sort();
    assert_eq!(roles, [("api", "healthy", 0), ("scheduler", "healthy", 2)]);
    let (_, health) = api.get("/health").await;
    assert_eq!(health["scheduler"]["status"], "healthy");
    assert!(
        all.values()
            .all(|r| r["version"] == env!("CARGO_PKG_VERSION"))
    );

    let listed = api.cli(&["replicas", "list"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{text}");
    assert!(
        text.contains("scheduler") && text.contains("(this)"),
        "{text}"
    );
    let json = api.cli(&["replicas", "list", "--output", "json"]);
    let parsed: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(parsed["replicas"].as_array().unwrap().len(), 2);

    // The scheduler replica answers health, not the API.
    let (status, _) = scheduler.get("/health").await;
    assert_eq!(status, 200);
    let (status, problem) = scheduler.get("/dags").await;
    assert_eq!(status, 404, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("--role scheduler"),
        "{problem}"
    );

    // A clean stop hands the DAG back at once: the health shows it stopped.
    let mut scheduler = scheduler;
    scheduler.stop();
    let after = replicas(&api).await;
    let stopped = after.values().find(|r| r["role"] == "scheduler").unwrap();
    assert_eq!(stopped["status"], "stopped", "{stopped}");
    assert_eq!(stopped["dags"], 0);
    let (_, health) = api.get("/health").await;
    assert_eq!(health["scheduler"]["status"], "unhealthy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_try_s_log_is_read_through_a_replica_on_another_host() {
    let Some(db) = database().await else {
        return;
    };
    let files = vec![(
        "talk.yaml".to_string(),
        "dag: talk\nteam: platform\ntasks:\n  say:\n    shell: echo first-line; sleep 45.5\n"
            .to_string(),
    )];
    let front = replica_on(&files, &db, "api", 30, None, Some("host-a"));
    let back = replica_on(
        &files,
        &db,
        "scheduler",
        30,
        Some(&front.token),
        Some("host-b"),
    );
    let back_id = replicas(&front)
        .await
        .into_iter()
        .find(|(_, r)| r["role"] == "scheduler")
        .map(|(id, _)| id)
        .unwrap();
    let run = front.trigger("talk").await;
    let log = format!("/dags/talk/dagRuns/{run}/taskInstances/say/logs/1");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = client
            .get(front.api(&log))
            .bearer_auth(&front.token)
            .header("accept", "text/plain")
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        let from = answer
            .headers()
            .get("x-weir-log-replica")
            .map(|v| v.to_str().unwrap().to_string());
        let text = answer.text().await.unwrap();
        if status == 200 && text.contains("first-line") {
            assert_eq!(
                from.as_deref(),
                Some(back_id.as_str()),
                "read through the replica running it"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the running try's log never showed through the other host's replica: {status} {text}\n{}",
            back.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Without credentials the replica running it refuses, as any replica would.
    let anonymous = client.get(front.api(&log)).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let (status, _) = front
        .send(
            "PATCH",
            &format!("/dags/talk/dagRuns/{run}/taskInstances/say"),
            r#"{"new_state": "failed", "dry_run": false}"#,
        )
        .await;
    assert_eq!(status, 200);
}

#[test]
fn weir_server_refuses_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("dags")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["server", "--port", "0", "--dags"])
        .arg(dir.path().join("dags"))
        .arg("--home")
        .arg(dir.path().join("home"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--db postgres://"), "{err}");
    assert!(err.contains("weir standalone"), "{err}");
}
