//! Datasets through the real binary (issue 15): a two-team chain where marketing's DAGs
//! run on data-eng's outputs (`all`, `any`, and the triggering events in the context), a
//! paused consumer getting one run for the events it missed, events posted through the
//! API (and refused to a team that does not produce the dataset), the datasets and
//! events API, and the lineage of the chain over the API and the CLI.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::server::Server;

const PASSWORD: &str = "a-password-for-tests";

const CONFIG: &str = r#"
[[teams]]
name = "data-eng"
datasets = ["s3://lake/raw/"]

[[teams]]
name = "marketing"
datasets = ["s3://lake/marketing/"]
"#;

const INGEST: &str = r#"dag: ingest
team: data-eng
tasks:
  load:
    shell: |
      echo '{"dataset_extra": {"rows": 42} }' > "$WEIR_XCOM"
    outlets: ["s3://lake/raw/orders/{{ ds }}"]
"#;

const CUSTOMERS: &str = r#"dag: customers
team: data-eng
tasks:
  load:
    shell: "true"
    outlets: ["s3://lake/raw/customers"]
"#;

/// Runs on every new orders partition; says which events triggered it.
const REVENUE: &str = r#"dag: revenue
team: marketing
schedule: {datasets: ["s3://lake/raw/orders/*"]}
tasks:
  roll:
    shell: echo "got {% for uri, events in triggering_dataset_events | items %}{{ uri }}={{ events | length }}/{{ events[0].extra.rows | default('-') }};{% endfor %}"
    outlets: ["s3://lake/marketing/revenue"]
"#;

const BOTH: &str = r#"dag: both
team: marketing
schedule: {datasets: ["s3://lake/raw/orders/*", "s3://lake/raw/customers"]}
tasks:
  join: {noop: {}}
"#;

const EITHER: &str = r#"dag: either
team: marketing
schedule: {datasets: {any: ["s3://lake/raw/orders/*", "s3://lake/raw/customers"]}}
tasks:
  join: {noop: {}}
"#;

async fn start() -> Server {
    let files = [
        ("ingest.yaml", INGEST),
        ("customers.yaml", CUSTOMERS),
        ("revenue.yaml", REVENUE),
        ("both.yaml", BOTH),
        ("either.yaml", EITHER),
    ];
    support::configured_server(&files, CONFIG).await
}

/// The DAG's dataset-triggered runs, oldest first.
async fn dataset_runs(server: &Server, dag: &str) -> Vec<Value> {
    let (status, body) = server
        .get(&format!("/dags/{dag}/dagRuns?order_by=execution_date"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["dag_runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["run_type"] == "dataset_triggered")
        .cloned()
        .collect()
}

/// Waits until `dag` has `n` dataset-triggered runs, all finished; returns them.
async fn wait_runs(server: &Server, dag: &str, n: usize) -> Vec<Value> {
    server
        .wait_for(
            &format!("/dags/{dag}/dagRuns"),
            &format!("{n} finished dataset-triggered run(s) of {dag}"),
            |b| {
                let runs: Vec<&Value> = b["dag_runs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|r| r["run_type"] == "dataset_triggered")
                    .collect();
                runs.len() >= n && runs.iter().all(|r| r["state"] == "success")
            },
        )
        .await;
    dataset_runs(server, dag).await
}

async fn log(server: &Server, dag: &str, run: &Value, task: &str) -> String {
    let run_id = run["dag_run_id"].as_str().unwrap();
    let (status, body) = server
        .get(&format!(
            "/dags/{dag}/dagRuns/{run_id}/taskInstances/{task}/logs/1"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    body["content"].as_str().unwrap().to_string()
}

/// A user with `role` in `team`, signing in with a password.
async fn member(server: &Server, name: &str, team: &str, role: &str) {
    let body = json!({"username": name, "password": PASSWORD, "platform_admin": false});
    let (status, answer) = server.send("POST", "/users", &body.to_string()).await;
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = server
        .send(
            "PUT",
            &format!("/teams/{team}/members/{name}"),
            &json!({"role": role}).to_string(),
        )
        .await;
    assert!(status == 200 || status == 201, "{answer}");
}

async fn post_event_as(server: &Server, user: &str, uri: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(server.api("/datasets/events"))
        .basic_auth(user, Some(PASSWORD))
        .json(&json!({"dataset_uri": uri, "extra": {"by": user}}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marketing_runs_on_data_eng_s_outputs_with_all_and_any_conditions() {
    let server = start().await;
    let run = server.trigger("ingest").await;
    assert_eq!(
        server.wait_run_finished("ingest", &run).await["state"],
        "success"
    );

    // The outlet made one event, with the extra the task's XCom gave.
    let events = server
        .wait_for(
            "/datasets/events?source_dag_id=ingest",
            "the outlet's event",
            |b| b["total_entries"] == 1,
        )
        .await;
    let event = &events["dataset_events"][0];
    assert!(
        event["dataset_uri"]
            .as_str()
            .unwrap()
            .starts_with("s3://lake/raw/orders/"),
        "{event}"
    );
    assert_eq!(
        (
            &event["source_dag_id"],
            &event["source_task_id"],
            &event["source_run_id"]
        ),
        (&json!("ingest"), &json!("load"), &json!(run))
    );
    assert_eq!(event["extra"], json!({"rows": 42}));
    assert_eq!(event["team"], "data-eng");

    // Marketing's consumer of orders ran once, and saw the event and its extra.
    let revenue = wait_runs(&server, "revenue", 1).await;
    let text = log(&server, "revenue", &revenue[0], "roll").await;
    let uri = event["dataset_uri"].as_str().unwrap();
    assert!(text.contains(&format!("got {uri}=1/42;")), "{text}");
    // `any` ran on orders alone; `all` waits for customers too.
    wait_runs(&server, "either", 1).await;
    assert!(dataset_runs(&server, "both").await.is_empty());

    let run = server.trigger("customers").await;
    server.wait_run_finished("customers", &run).await;
    let both = wait_runs(&server, "both", 1).await;
    wait_runs(&server, "either", 2).await;
    // The events list says which runs each event made.
    let (_, events) = server.get("/datasets/events?order_by=timestamp").await;
    let made: Vec<Vec<String>> = events["dataset_events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["dataset_uri"]
                .as_str()
                .unwrap()
                .starts_with("s3://lake/raw/")
        })
        .map(|e| {
            let mut dags: Vec<String> = e["created_dagruns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["dag_id"].as_str().unwrap().to_string())
                .collect();
            dags.sort();
            dags
        })
        .collect();
    assert_eq!(
        made[..2],
        [
            vec!["both".to_string(), "either".into(), "revenue".into()],
            vec!["both".to_string(), "either".into()],
        ],
        "{events}"
    );
    assert_eq!(both.len(), 1);
    // Nothing else comes: each condition ran once per satisfaction.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(dataset_runs(&server, "revenue").await.len(), 1);
    assert_eq!(dataset_runs(&server, "both").await.len(), 1);
    assert_eq!(dataset_runs(&server, "either").await.len(), 2);

    // The datasets API names producers, consumers and owners.
    let (status, datasets) = server.get("/datasets?uri_pattern=raw/customers").await;
    assert_eq!(status, 200, "{datasets}");
    let customers = &datasets["datasets"][0];
    assert_eq!(customers["uri"], "s3://lake/raw/customers");
    assert_eq!(customers["owner_team"], "data-eng");
    assert_eq!(customers["producing_tasks"][0]["dag_id"], "customers");
    let mut consumers: Vec<&str> = customers["consuming_dags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["dag_id"].as_str().unwrap())
        .collect();
    consumers.sort_unstable();
    assert_eq!(consumers, ["both", "either"]);

    // Lineage: the two-team chain, from data-eng's DAG down to marketing's.
    let (status, lineage) = server.get("/lineage?dag=ingest&depth=2").await;
    assert_eq!(status, 200, "{lineage}");
    let mut dags: Vec<(String, String, i64)> = lineage["dags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["dag_id"].as_str().unwrap().to_string(),
                d["team"].as_str().unwrap().to_string(),
                d["depth"].as_i64().unwrap(),
            )
        })
        .collect();
    dags.sort();
    assert_eq!(
        dags,
        [
            ("both".to_string(), "marketing".to_string(), 1),
            ("either".into(), "marketing".into(), 1),
            ("ingest".into(), "data-eng".into(), 0),
            ("revenue".into(), "marketing".into(), 1),
        ]
    );
    assert!(
        lineage["edges"].as_array().unwrap().contains(
            &json!({"from": "dag:ingest", "to": "dataset:s3://lake/raw/orders/{{ ds }}"})
        ),
        "{lineage}"
    );
    let out = server.cli(&["lineage", "revenue", "--depth", "1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("ingest")
            && text.contains("data-eng")
            && text.contains("s3://lake/marketing/revenue"),
        "{text}"
    );
    let (status, body) = server.get("/lineage?dag=nope").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = server.get("/lineage?dag=a&dataset=s3://x").await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_consumer_gets_one_run_with_every_event_it_missed() {
    let server = start().await;
    let (status, body) = server
        .send("PATCH", "/dags/revenue", r#"{"is_paused": true}"#)
        .await;
    assert_eq!(status, 200, "{body}");
    // Let the scheduler see the consumer (and its cursor) before the events come.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for day in ["2026-01-01", "2026-01-02", "2026-01-03"] {
        let body =
            json!({"dataset_uri": format!("s3://lake/raw/orders/{day}"), "extra": {"rows": 7}});
        let (status, answer) = server
            .send("POST", "/datasets/events", &body.to_string())
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["team"], "data-eng", "{answer}");
        assert_eq!(answer["posted_by"], "admin", "{answer}");
    }
    // `either` is not paused: it runs at once, on what it saw.
    wait_runs(&server, "either", 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(dataset_runs(&server, "revenue").await.is_empty());

    let (status, body) = server
        .send("PATCH", "/dags/revenue", r#"{"is_paused": false}"#)
        .await;
    assert_eq!(status, 200, "{body}");
    let runs = wait_runs(&server, "revenue", 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        dataset_runs(&server, "revenue").await.len(),
        1,
        "one run, not three"
    );
    let text = log(&server, "revenue", &runs[0], "roll").await;
    for day in ["2026-01-01", "2026-01-02", "2026-01-03"] {
        assert!(
            text.contains(&format!("s3://lake/raw/orders/{day}=1/7;")),
            "{day} missing: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_events_trigger_runs_for_the_producing_team_only() {
    let server = start().await;
    member(&server, "dora", "data-eng", "operator").await;
    member(&server, "mia", "marketing", "operator").await;
    member(&server, "vic", "data-eng", "viewer").await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Marketing may read data-eng's datasets, not produce them.
    let (status, body) = post_event_as(&server, "mia", "s3://lake/raw/orders/x").await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("team `data-eng` owns"),
        "{body}"
    );
    // A viewer of the owning team may not post either.
    let (status, body) = post_event_as(&server, "vic", "s3://lake/raw/orders/x").await;
    assert_eq!(status, 403, "{body}");
    // No team owns or produces this one: nobody but a platform admin posts it.
    let (status, body) = post_event_as(&server, "mia", "gs://elsewhere/file").await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("[datasets] open"),
        "{body}"
    );
    assert!(dataset_runs(&server, "revenue").await.is_empty());

    // data-eng's operator posts the update an external system made: revenue runs.
    let (status, event) = post_event_as(&server, "dora", "s3://lake/raw/orders/2026-02-01").await;
    assert_eq!(status, 200, "{event}");
    assert_eq!(
        (&event["team"], &event["posted_by"], &event["extra"]),
        (&json!("data-eng"), &json!("dora"), &json!({"by": "dora"}))
    );
    let runs = wait_runs(&server, "revenue", 1).await;
    let text = log(&server, "revenue", &runs[0], "roll").await;
    assert!(
        text.contains("s3://lake/raw/orders/2026-02-01=1/-;"),
        "{text}"
    );

    // Bad requests are named.
    for (body, what) in [
        (json!({"dataset_uri": "no-scheme"}), "no scheme"),
        (
            json!({"dataset_uri": "s3://x", "extra": [1]}),
            "JSON object",
        ),
        (json!({"uri": "s3://x"}), "uri"),
    ] {
        let (status, answer) = server
            .send("POST", "/datasets/events", &body.to_string())
            .await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["detail"].as_str().unwrap().contains(what),
            "{answer}"
        );
    }

    // The CLI posts as the caller and lists events.
    let out = server.cli(&[
        "datasets",
        "post",
        "s3://lake/raw/customers",
        "--extra",
        r#"{"rows": 3}"#,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = server.cli(&["datasets", "events", "--uri", "s3://lake/raw/customers"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("s3://lake/raw/customers") && text.contains("posted by admin"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outlet_into_another_team_s_prefix_does_not_load() {
    let bad = "dag: sneaky\nteam: marketing\ntasks:\n  t:\n    shell: \"true\"\n    outlets: [\"s3://lake/raw/orders/fake\"]\n";
    let mut server = Server::new(&[("sneaky.yaml", bad)]);
    let path = server.dir.path().join("weir.toml");
    std::fs::write(&path, CONFIG).unwrap();
    server
        .args
        .extend(["--config".into(), path.display().to_string()]);
    server.restart();
    let (status, body) = server.get("/importErrors").await;
    assert_eq!(status, 200, "{body}");
    let errors = body["import_errors"].to_string();
    assert!(
        errors.contains("s3://lake/raw/orders/fake") && errors.contains("team `data-eng` owns"),
        "{errors}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dataset_sensor_waits_for_an_update_since_its_run_began() {
    let watch = r#"dag: watch
team: marketing
tasks:
  customers_landed:
    sensor: {dataset: "s3://lake/raw/customers*", poke_interval: 200ms, timeout: 60s}
  report: {noop: {}, depends_on: [customers_landed]}
"#;
    let history = r#"dag: history
team: marketing
tasks:
  any_orders_ever:
    sensor: {dataset: "s3://lake/raw/orders/*", since: "2000-01-01", poke_interval: 200ms, timeout: 60s}
"#;
    let server = support::configured_server(
        &[
            ("watch.yaml", watch),
            ("history.yaml", history),
            ("ingest.yaml", INGEST),
        ],
        CONFIG,
    )
    .await;
    // An event from before the run does not count.
    let (status, body) = server
        .send(
            "POST",
            "/datasets/events",
            r#"{"dataset_uri": "s3://lake/raw/customers"}"#,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let run = server.trigger("watch").await;
    let ti = format!("/dags/watch/dagRuns/{run}/taskInstances/customers_landed");
    let waiting = server
        .wait_for(&ti, "the sensor to wait", |t| {
            t["state"] == "up_for_reschedule"
        })
        .await;
    assert!(
        waiting["note"]
            .as_str()
            .unwrap()
            .contains("waiting for an update of dataset"),
        "{waiting}"
    );
    assert!(waiting["next_check_at"].is_string(), "{waiting}");
    let (status, body) = server
        .send(
            "POST",
            "/datasets/events",
            r#"{"dataset_uri": "s3://lake/raw/customers"}"#,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        server.wait_run_finished("watch", &run).await["state"],
        "success"
    );
    let (_, done) = server.get(&ti).await;
    assert!(
        done["note"]
            .as_str()
            .unwrap()
            .contains("dataset `s3://lake/raw/customers` was updated"),
        "{done}"
    );

    // `since` reaches back: an orders event from any time meets it.
    let first = server.trigger("ingest").await;
    server.wait_run_finished("ingest", &first).await;
    let run = server.trigger("history").await;
    assert_eq!(
        server.wait_run_finished("history", &run).await["state"],
        "success"
    );
}
