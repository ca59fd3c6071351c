//! `GET /config` (Weir's effective settings in Airflow's shape, never a secret) and
//! `GET /jobDefinitions[/{name}]`.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::Value;
use weir_core::platform::parse;

use super::support::{TestApp, assert_problem};

const PLATFORM: &str = r#"
[[compute_environments]]
name = "local"
backend = "process"
max_vcpus = 4
max_memory = "8Gi"

[[queues]]
name = "default"
compute_environments = ["local"]

[[teams]]
name = "finance"
weight = 3

[auth.oidc]
issuer = "https://idp.example.com/realms/weir"
audience = ["weir"]
jwks_url = "https://idp.example.com/realms/weir/certs"
"#;

fn option<'a>(config: &'a Value, section: &str, key: &str) -> &'a Value {
    config["sections"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == section)
        .and_then(|s| {
            s["options"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|o| o["key"] == key)
        })
        .map_or(&Value::Null, |o| &o["value"])
}

#[tokio::test]
async fn config_reports_the_effective_settings() {
    let report = parse(PLATFORM);
    let platform = report
        .config
        .unwrap_or_else(|| panic!("bad test platform: {:?}", report.diagnostics));
    let t = TestApp::start_with_platform(Some(platform)).await;
    let (status, config) = t.get("/api/v1/config").await;
    assert_eq!(status, StatusCode::OK, "{config}");
    let names: Vec<&str> = config["sections"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["api", "database", "engine", "platform", "auth.oidc"]
    );
    assert_eq!(option(&config, "api", "maximum_page_limit"), "1000");
    assert_eq!(option(&config, "database", "backend"), "sqlite");
    let url = option(&config, "database", "url")
        .as_str()
        .unwrap_or_default();
    assert!(
        url.starts_with("sqlite://") && url.ends_with("weir.db"),
        "{url}"
    );
    assert!(
        option(&config, "engine", "dags_folder")
            .as_str()
            .is_some_and(|d| d.ends_with("dags"))
    );
    assert_eq!(option(&config, "platform", "teams"), "finance (weight 3)");
    assert_eq!(option(&config, "auth.oidc", "audience"), "weir");

    let (status, one) = t.get("/api/v1/config?section=engine").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["sections"].as_array().map(Vec::len), Some(1));
    let (status, body) = t.get("/api/v1/config?section=smtp").await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "section not found.");

    let req = Request::get("/api/v1/config?section=api")
        .header(header::ACCEPT, "text/plain")
        .body(Body::empty())
        .expect("request");
    let (status, headers, bytes) = t.send_raw(req).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .is_ok_and(|c| c.starts_with("text/plain"))
    );
    let text = String::from_utf8(bytes).expect("utf-8");
    assert!(
        text.starts_with("[api]\nmaximum_page_limit = 1000\n"),
        "{text}"
    );
}

#[tokio::test]
async fn job_definitions_without_a_jobs_folder() {
    let t = TestApp::start().await;
    let (status, body) = t.get("/api/v1/jobDefinitions").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total_entries"], 0);
    assert_eq!(body["job_definitions"], serde_json::json!([]));
    let (status, body) = t.get("/api/v1/jobDefinitions/dbt").await;
    assert_problem(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "Job definition not found",
    );
    let (status, body) = t.get("/api/v1/jobDefinitions?order_by=-name").await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");
}
