//! Health, version, variables, import errors, pools, backfills, unknown routes.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::support::{TestApp, assert_problem};

#[tokio::test]
async fn health_and_version() {
    let t = TestApp::start().await;
    for url in ["/api/v1/health", "/health"] {
        let (status, body) = t.get(url).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["metadatabase"]["status"], "healthy");
        assert_eq!(body["scheduler"]["status"], "healthy");
        assert!(body["scheduler"]["latest_scheduler_heartbeat"].is_string());
        assert_eq!(body["triggerer"]["status"], json!(null));
    }
    let (status, body) = t.get("/api/v1/version").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body.get("git_version").is_some());
}

#[tokio::test]
async fn variables_crud() {
    let t = TestApp::start().await;
    let (status, v) = t
        .call(
            Method::POST,
            "/api/v1/variables",
            Some(json!({"key": "region", "value": "eu", "description": "where"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"key": "region", "value": "eu", "description": "where", "team": null})
    );
    let (status, v) = t
        .call(
            Method::POST,
            "/api/v1/variables",
            Some(json!({"key": "a/b", "value": "1"})),
        )
        .await;
    assert_eq!((status, v["key"].clone()), (StatusCode::OK, json!("a/b")));
    let (_, v) = t.get("/api/v1/variables/a/b").await;
    assert_eq!(v["value"], "1", "keys may hold slashes");

    let (status, list) = t.get("/api/v1/variables").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["total_entries"], 2);
    assert_eq!(list["variables"][1]["key"], "region");

    let (status, v) = t
        .call(
            Method::PATCH,
            "/api/v1/variables/region?update_mask=value",
            Some(json!({"key": "region", "value": "us"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        (v["value"].clone(), v["description"].clone()),
        (json!("us"), json!("where"))
    );
    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/v1/variables/region",
            Some(json!({"key": "other", "value": "x"})),
        )
        .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "Invalid post body");
    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/v1/variables/missing",
            Some(json!({"key": "missing", "value": "x"})),
        )
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "Variable not found");
    let (status, body) = t
        .call(Method::POST, "/api/v1/variables", Some(json!({"key": "k"})))
        .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");
    let (status, body) = t
        .call(
            Method::POST,
            "/api/v1/variables",
            Some(json!({"key": "", "value": "v"})),
        )
        .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");

    let (status, _) = t
        .call(Method::DELETE, "/api/v1/variables/region", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = t.get("/api/v1/variables/region").await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "Variable not found");
    let (status, body) = t
        .call(Method::DELETE, "/api/v1/variables/region", None)
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "Variable not found");
}

#[tokio::test]
async fn import_errors_and_pools() {
    let t = TestApp::start().await;
    let (status, body) = t.get("/api/v1/importErrors").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total_entries"], 1);
    let e = &body["import_errors"][0];
    assert!(e["filename"].as_str().unwrap().ends_with("broken.yaml"));
    assert!(!e["stack_trace"].as_str().unwrap().is_empty());
    assert!(e["timestamp"].is_string());
    let id = e["import_error_id"].as_i64().unwrap();
    let (status, one) = t.get(&format!("/api/v1/importErrors/{id}")).await;
    assert_eq!((status, &one), (StatusCode::OK, e));
    let (status, body) = t.get("/api/v1/importErrors/999999").await;
    assert_problem(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "Import error not found",
    );
    let (status, body) = t.get("/api/v1/importErrors/abc").await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");

    let (status, body) = t.get("/api/v1/pools").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let pool = &body["pools"][0];
    assert_eq!(pool["name"], "default_pool");
    assert_eq!(pool["slots"], 128);
    assert_eq!(pool["open_slots"], 128);
    assert_eq!(pool["occupied_slots"], 0);
    let (status, one) = t.get("/api/v1/pools/default_pool").await;
    assert_eq!((status, &one), (StatusCode::OK, pool));
    let (status, body) = t.get("/api/v1/pools/nope").await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "Pool not found");
}

#[tokio::test]
async fn backfills_create_runs() {
    let t = TestApp::start().await;
    let (status, body) = t
        .call(
            Method::POST,
            "/api/v1/backfills",
            Some(json!({"dag_id": "nightly", "from_date": "2026-01-01T00:00:00Z", "to_date": "2026-01-03T03:00:00Z"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total_entries"], 3, "{body}");
    assert_eq!(body["dag_runs"][0]["run_type"], "backfill");
    let (status, body) = t
        .call(
            Method::POST,
            "/api/v1/backfills",
            Some(json!({"dag_id": "nightly", "from_date": "2026-01-03T00:00:00Z", "to_date": "2026-01-01T00:00:00Z"})),
        )
        .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");
    let (status, body) = t
        .call(
            Method::POST,
            "/api/v1/backfills",
            Some(json!({"dag_id": "nope", "from_date": "2026-01-01T00:00:00Z", "to_date": "2026-01-02T00:00:00Z"})),
        )
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "DAG not found");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let t = TestApp::start().await;
    let (status, body) = t.get("/api/v1/nothing").await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "Not Found");
    let (status, body) = t.get("/elsewhere").await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "Not Found");
    let (status, body) = t.call(Method::PUT, "/api/v1/dags", None).await;
    assert_problem(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed",
    );
}
