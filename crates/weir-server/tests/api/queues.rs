//! `GET /api/v1/queues[/{queue_name}]`: the queues and compute environments of the
//! platform config, as the dispatcher shows them.

use axum::http::StatusCode;
use serde_json::json;
use weir_core::platform::parse;

use super::support::{TestApp, assert_problem};

const PLATFORM: &str = r#"
[[compute_environments]]
name = "local"
backend = "process"
max_vcpus = 4
max_memory = "8Gi"

[[compute_environments]]
name = "big"
backend = "process"
max_vcpus = 16
max_memory = "64Gi"
price = { vcpu_hour = 0.04, gib_hour = 0.005 }

[[queues]]
name = "default"
compute_environments = ["local"]

[[queues]]
name = "batch"
priority = 10
scheduling_policy = "fair_share"
compute_environments = ["big", "local"]

[[teams]]
name = "finance"
"#;

async fn app() -> TestApp {
    let report = parse(PLATFORM);
    let config = report
        .config
        .unwrap_or_else(|| panic!("bad test platform: {:?}", report.diagnostics));
    TestApp::start_with_platform(Some(config)).await
}

#[tokio::test]
async fn queues_list_every_queue_and_environment() {
    let t = app().await;
    let (status, body) = t.get("/api/v1/queues").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: Vec<&str> = body["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .filter_map(|q| q["name"].as_str())
        .collect();
    assert_eq!(names.len(), 2, "{body}");
    assert!(
        names.contains(&"default") && names.contains(&"batch"),
        "{body}"
    );
    let envs = body["compute_environments"]
        .as_array()
        .expect("environments");
    let big = envs
        .iter()
        .find(|e| e["name"] == "big")
        .unwrap_or_else(|| panic!("no `big` in {body}"));
    assert_eq!(big["backend"], "process");
    assert_eq!(big["max_vcpus"], 16.0);
    assert_eq!(big["max_memory_bytes"], 64u64 << 30);
    assert!(
        big["used_vcpus"].is_number() && big["available"].is_boolean(),
        "{big}"
    );
    assert_eq!(envs.len(), 2, "{body}");
}

#[tokio::test]
async fn a_queue_shows_its_policy_depth_and_waiting_tries() {
    let t = app().await;
    let (status, body) = t.get("/api/v1/queues/batch").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "batch");
    assert_eq!(body["priority"], 10);
    assert_eq!(body["scheduling_policy"], "fair_share");
    assert_eq!(body["compute_environments"], json!(["big", "local"]));
    // Nothing runs here: no depth and nobody waiting.
    assert!(
        body["depth"].is_array() && body["waiting"].is_array(),
        "{body}"
    );
    assert_eq!(body["waiting"], json!([]));

    let (status, body) = t.get("/api/v1/queues/default").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scheduling_policy"], "fifo");
}

#[tokio::test]
async fn an_unknown_queue_is_404_and_names_the_known_ones() {
    let t = app().await;
    let (status, body) = t.get("/api/v1/queues/nope").await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "Queue not found");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("'nope'") && detail.contains("batch") && detail.contains("default"),
        "{detail}"
    );
}

#[tokio::test]
async fn the_standalone_platform_has_one_default_queue() {
    let t = TestApp::start().await;
    let (status, body) = t.get("/api/v1/queues").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["queues"][0]["name"], "default", "{body}");
    assert_eq!(body["queues"][0]["scheduling_policy"], "fifo");
    let (status, _) = t.get("/api/v1/queues/default").await;
    assert_eq!(status, StatusCode::OK);
}
