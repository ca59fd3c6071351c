//! `weir costs` and `weir queues` through the real binary against a real
//! `weir standalone`, with usage records written into its store.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use chrono::{DateTime, Utc};
use serde_json::Value;
use support::server::Server;
use weir_core::cost::UsageRecord;
use weir_core::ids::{DagId, RunId, TaskId, TeamId, TryKey};
use weir_core::platform::Price;
use weir_store::Store;

const GIB: u64 = 1024 * 1024 * 1024;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// Two tries: marketing/daily on 2025-03-01 costing 0.05 (2 vCPU × 0.5 h × 0.04 + 4 GiB
/// × 0.5 h × 0.005), finance/ledger on 2025-03-02 costing 0.056 (1 vCPU and 1 GiB for an
/// hour at 0.05 and 0.006).
async fn record_usage(server: &Server) {
    let db = server.home().join("weir.db");
    let store = Store::open(db.to_str().unwrap()).await.unwrap();
    let rows = [
        (
            "marketing",
            "daily",
            2.0,
            4 * GIB,
            1800.0,
            (0.04, 0.005),
            "2025-03-01T10:00:00Z",
        ),
        (
            "finance",
            "ledger",
            1.0,
            GIB,
            3600.0,
            (0.05, 0.006),
            "2025-03-02T10:00:00Z",
        ),
    ];
    for (team, dag, vcpu, memory, wall, (vcpu_hour, gib_hour), started) in rows {
        let key = TryKey {
            dag_id: DagId::new(dag).unwrap(),
            run_id: RunId::new("r1").unwrap(),
            task_id: TaskId::new("t").unwrap(),
            map_index: -1,
            try_number: 1,
        };
        let usage = UsageRecord {
            team: TeamId::new(team).unwrap(),
            dag_id: key.dag_id.clone(),
            queue: "default".into(),
            compute_environment: "process".into(),
            requested_vcpu: vcpu,
            requested_memory_bytes: memory,
            wall_seconds: wall,
            cpu_seconds: None,
            peak_memory_bytes: None,
            started_at: at(started),
            price: Price {
                vcpu_hour,
                gib_hour,
            },
        };
        store
            .insert_usage(&key, &usage, at(started), Some("rev1"))
            .await
            .unwrap();
    }
    store.close().await;
}

fn stdout(out: &std::process::Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_reports_costs_as_json_csv_and_table() {
    let server = Server::start(&[]);
    record_usage(&server).await;

    let out = server.cli(&["costs", "--since", "2025-01-01", "--output", "json"]);
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let costs: Vec<(&str, f64)> = report["costs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap(), r["cost"].as_f64().unwrap()))
        .collect();
    assert_eq!(costs, [("finance", 0.056), ("marketing", 0.05)]);
    assert_eq!(report["total"]["cost"], 0.106);

    let out = server.cli(&[
        "costs",
        "--since",
        "2025-01-01",
        "--by",
        "dag",
        "--per-day",
        "-o",
        "csv",
    ]);
    assert_eq!(
        stdout(&out),
        "day,dag,tries,wall_seconds,vcpu_hours,gib_hours,cpu_seconds,peak_memory_bytes,cost\n\
         2025-03-01,daily,1,1800,1,2,0,0,0.05\n\
         2025-03-02,ledger,1,3600,1,1,0,0,0.056\n"
    );

    let out = server.cli(&["costs", "--since", "2025-03-02", "--by", "queue"]);
    let table = stdout(&out);
    assert!(
        table.contains("QUEUE") && table.contains("default"),
        "{table}"
    );
    assert!(
        table.contains("0.056000") && table.contains("TOTAL"),
        "{table}"
    );
    assert!(!table.contains("0.106"), "{table}");

    let out = server.cli(&["costs", "--team", "nobody"]);
    assert!(stdout(&out).contains("no usage recorded since"));

    // Bad usage: exit 2, naming the flag.
    let out = server.cli(&["costs", "--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--since"));
    let out = server.cli(&["costs", "--by", "teams"]);
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_and_shows_queues() {
    let server = Server::start(&[]);
    let list = stdout(&server.cli(&["queues", "list"]));
    assert!(
        list.contains("default") && list.contains("fifo") && list.contains("process"),
        "{list}"
    );
    let json: Value =
        serde_json::from_str(&stdout(&server.cli(&["queues", "list", "-o", "json"]))).unwrap();
    assert_eq!(json["queues"][0]["name"], "default", "{json}");
    assert!(
        json["compute_environments"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );

    let show = stdout(&server.cli(&["queues", "show", "default"]));
    assert!(
        show.starts_with("queue default: priority 0, fifo"),
        "{show}"
    );
    let json: Value = serde_json::from_str(&stdout(
        &server.cli(&["queues", "show", "default", "-o", "json"]),
    ))
    .unwrap();
    assert_eq!(json["name"], "default");

    let out = server.cli(&["queues", "show", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("'nope' not found"), "{stderr}");
}
