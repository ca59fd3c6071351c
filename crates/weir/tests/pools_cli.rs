//! `weir pools list|set|delete` through the real binary against a real server, and the
//! engine honouring what they do: a task naming a pool that does not exist fails with a
//! note saying how to create it, a pool of 0 slots holds its tasks, and resizing it lets
//! them run at the next dispatch.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed case

mod support;

use std::process::Output;
use std::time::Duration;

use support::server::Server;

const POOLED: &str = "\
dag: pooled
team: data
paused: false
tasks:
  work:
    shell: echo done
    pool: tiny
";

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", text(&out));
    text(&out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pools_are_managed_from_the_cli_and_honoured_at_the_next_dispatch() {
    let server = Server::start(&[("pooled.yaml", POOLED)]);

    // No such pool yet: the task fails, and its note says how to make one.
    let run = server.trigger("pooled").await;
    let finished = server.wait_run_finished("pooled", &run).await;
    assert_eq!(finished["state"], "failed", "{finished}");
    let (_, ti) = server
        .get(&format!("/dags/pooled/dagRuns/{run}/taskInstances/work"))
        .await;
    let note = ti["note"].as_str().unwrap_or_default();
    assert!(note.contains("weir pools set tiny"), "{ti}");

    // A pool of no slots holds the task.
    let out = ok(server.cli(&["pools", "set", "tiny", "0", "held for now"]));
    assert!(out.contains("pool tiny created: 0 slots"), "{out}");
    let run = server.trigger("pooled").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, ti) = server
        .get(&format!("/dags/pooled/dagRuns/{run}/taskInstances/work"))
        .await;
    assert_eq!(ti["state"], "scheduled", "{ti}");

    // One slot: it runs.
    let out = ok(server.cli(&["pools", "set", "tiny", "1"]));
    assert!(out.contains("pool tiny changed: 1 slots"), "{out}");
    let finished = server.wait_run_finished("pooled", &run).await;
    assert_eq!(finished["state"], "success", "{finished}");

    let out = ok(server.cli(&["pools", "list"]));
    assert!(
        out.contains("default_pool") && out.contains("tiny"),
        "{out}"
    );
    assert!(
        out.contains("held for now"),
        "the description was kept: {out}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&server.cli(&["pools", "list", "-o", "json"]).stdout).unwrap();
    assert_eq!(json["total_entries"], 2, "{json}");
    let unlimited = ok(server.cli(&["pools", "set", "tiny", "-1"]));
    assert!(unlimited.contains("unlimited"), "{unlimited}");

    let out = ok(server.cli(&["pools", "delete", "tiny"]));
    assert!(out.contains("pool tiny deleted"), "{out}");
    let (status, _) = server.get("/pools/tiny").await;
    assert_eq!(status, 404);
    let out = server.cli(&["pools", "delete", "default_pool"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("Default Pool can't be deleted"),
        "{}",
        text(&out)
    );
}
