//! Task instances and `clearTaskInstances`.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::support::{TestApp, assert_problem};

#[tokio::test]
async fn lists_and_shows_task_instances() {
    let t = TestApp::start().await;
    let run = t.run_to_end("hello", "r").await;
    let (status, body) = t.get("/api/v1/dags/hello/dagRuns/r/taskInstances").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total_entries"], 2);
    // Sorted by task id.
    let start = &body["task_instances"][1];
    assert_eq!(start["task_id"], "start");
    assert_eq!(start["dag_id"], "hello");
    assert_eq!(start["dag_run_id"], "r");
    assert_eq!(start["state"], "success");
    assert_eq!(start["map_index"], -1);
    assert_eq!(start["operator"], "noop");
    assert_eq!(start["pool"], "default_pool");
    assert_eq!(
        start["execution_date"],
        weir_api::time::format(&run.logical_date)
    );
    assert!(start["duration"].is_number(), "{start}");
    assert!(start["rendered_fields"].is_object());

    let (status, ti) = t
        .get("/api/v1/dags/hello/dagRuns/r/taskInstances/end")
        .await;
    assert_eq!(
        (status, ti["task_id"].clone()),
        (StatusCode::OK, json!("end"))
    );
    let (status, ti) = t
        .get("/api/v1/dags/hello/dagRuns/r/taskInstances/end/-1")
        .await;
    assert_eq!(
        (status, ti["state"].clone()),
        (StatusCode::OK, json!("success"))
    );
    let (_, page) = t
        .get("/api/v1/dags/hello/dagRuns/r/taskInstances?limit=1&offset=1")
        .await;
    assert_eq!(page["task_instances"][0]["task_id"], "start");
    assert_eq!(page["total_entries"], 2);
    let (_, none) = t
        .get("/api/v1/dags/hello/dagRuns/r/taskInstances?state=failed")
        .await;
    assert_eq!(none["total_entries"], 0);

    let (status, body) = t
        .get("/api/v1/dags/hello/dagRuns/r/taskInstances/nope")
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "Task instance not found",
    );
    let (status, body) = t
        .get("/api/v1/dags/hello/dagRuns/r/taskInstances/end/3")
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "Task instance not found",
    );
    let (status, body) = t.get("/api/v1/dags/hello/dagRuns/x/taskInstances").await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "DAGRun not found");
    let (status, body) = t
        .get("/api/v1/dags/hello/dagRuns/r/taskInstances/end/x")
        .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");
}

#[tokio::test]
async fn clears_failed_task_instances() {
    let t = TestApp::start().await;
    let run = t.run_to_end("failing", "f").await;
    assert_eq!(run.state.as_str(), "failed");
    let (_, tis) = t.get("/api/v1/dags/failing/dagRuns/f/taskInstances").await;
    // Sorted by task id: `after`, then `boom`.
    assert_eq!(
        tis["task_instances"][0]["state"], "upstream_failed",
        "{tis}"
    );
    assert_eq!(tis["task_instances"][1]["state"], "failed", "{tis}");

    // Airflow's defaults: a dry run of the failed instances.
    let (status, body) = t
        .call(
            Method::POST,
            "/api/v1/dags/failing/clearTaskInstances",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cleared = body["task_instances"].as_array().unwrap();
    assert_eq!(cleared.len(), 2, "{body}");
    assert_eq!(cleared[0]["dag_run_id"], "f");
    assert!(cleared[0]["execution_date"].is_string());
    let (_, tis) = t
        .get("/api/v1/dags/failing/dagRuns/f/taskInstances/boom")
        .await;
    assert_eq!(tis["state"], "failed", "a dry run changes nothing");

    let (status, body) = t
        .call(
            Method::POST,
            "/api/v1/dags/failing/clearTaskInstances",
            Some(json!({"dry_run": false, "dag_run_id": "f", "task_ids": ["boom"], "include_downstream": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["task_instances"].as_array().unwrap().len(),
        2,
        "{body}"
    );
    let run = t.wait_finished("failing", "f").await;
    assert_eq!(run.state.as_str(), "failed", "it fails again");
    let (_, boom) = t
        .get("/api/v1/dags/failing/dagRuns/f/taskInstances/boom")
        .await;
    assert_eq!(boom["try_number"], 2, "{boom}");

    for (body, title) in [
        (json!({"include_past": true}), "Bad Request"),
        (json!({"task_ids": []}), "Bad Request"),
        (json!({"task_ids": ["a b"]}), "Bad Request"),
        (
            json!({"dag_run_id": "f", "start_date": "2026-01-01T00:00:00Z"}),
            "Bad Request",
        ),
        (
            json!({"start_date": "2026-01-02T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"}),
            "Bad Request",
        ),
        (json!({"dry_run": "yes"}), "Bad Request"),
    ] {
        let (status, problem) = t
            .call(
                Method::POST,
                "/api/v1/dags/failing/clearTaskInstances",
                Some(body.clone()),
            )
            .await;
        assert_problem(status, &problem, StatusCode::BAD_REQUEST, title);
    }
    let (status, body) = t
        .call(
            Method::POST,
            "/api/v1/dags/failing/clearTaskInstances",
            Some(json!({"dag_run_id": "zzz"})),
        )
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "DAGRun not found");
    let (status, body) = t
        .call(
            Method::POST,
            "/api/v1/dags/nope/clearTaskInstances",
            Some(json!({})),
        )
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "DAG not found");
}
