//! `/dags/{dag_id}/dagRuns`: trigger, list, show, mark, delete.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::support::{TestApp, assert_problem};

#[tokio::test]
async fn triggers_a_run_that_finishes() {
    let t = TestApp::start().await;
    let (status, run) = t
        .call(
            Method::POST,
            "/api/v1/dags/hello/dagRuns",
            Some(json!({
                "dag_run_id": "first",
                "logical_date": "2026-02-01T00:00:00Z",
                "conf": {"who": "you"}
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["dag_run_id"], "first");
    assert_eq!(run["dag_id"], "hello");
    assert_eq!(run["logical_date"], "2026-02-01T00:00:00+00:00");
    assert_eq!(run["execution_date"], run["logical_date"]);
    assert_eq!(run["run_type"], "manual");
    assert_eq!(run["external_trigger"], true);
    assert_eq!(run["conf"], json!({"who": "you"}));
    assert_eq!(run["state"], "queued");
    for field in [
        "start_date",
        "end_date",
        "data_interval_start",
        "data_interval_end",
        "last_scheduling_decision",
        "note",
    ] {
        assert!(run.get(field).is_some(), "missing {field}: {run}");
    }

    let record = t.wait_finished("hello", "first").await;
    assert_eq!(record.state.as_str(), "success");
    let (status, run) = t.get("/api/v1/dags/hello/dagRuns/first").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(run["state"], "success");
    assert!(
        run["start_date"].is_string() && run["end_date"].is_string(),
        "{run}"
    );

    // Same run id, or same logical date: 409.
    let (status, body) = t
        .call(
            Method::POST,
            "/api/v1/dags/hello/dagRuns",
            Some(json!({"dag_run_id": "first"})),
        )
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT, "Conflict");
    assert!(body["type"].as_str().unwrap().ends_with("AlreadyExists"));
    let (status, body) = t
        .call(
            Method::POST,
            "/api/v1/dags/hello/dagRuns",
            Some(json!({"execution_date": "2026-02-01T00:00:00+00:00"})),
        )
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT, "Conflict");

    let (status, body) = t
        .call(Method::POST, "/api/v1/dags/nope/dagRuns", Some(json!({})))
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "DAG not found");
    assert_eq!(body["detail"], "DAG with dag_id: 'nope' not found");
}

#[tokio::test]
async fn lists_runs_of_one_and_of_all_dags() {
    let t = TestApp::start().await;
    for (run, date) in [("a", "2026-01-01T00:00:00Z"), ("b", "2026-01-02T00:00:00Z")] {
        let (status, body) = t
            .call(
                Method::POST,
                "/api/v1/dags/hello/dagRuns",
                Some(json!({"dag_run_id": run, "logical_date": date})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        t.wait_finished("hello", run).await;
    }
    let (status, body) = t
        .call(
            Method::POST,
            "/api/v1/dags/nightly/dagRuns",
            Some(json!({"dag_run_id": "n"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let ids = |body: &serde_json::Value| -> Vec<String> {
        body["dag_runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["dag_run_id"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, body) = t.get("/api/v1/dags/hello/dagRuns").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (ids(&body), body["total_entries"].as_i64()),
        (vec!["a".into(), "b".into()], Some(2))
    );
    let (_, body) = t
        .get("/api/v1/dags/hello/dagRuns?order_by=-execution_date&limit=1")
        .await;
    assert_eq!(
        (ids(&body), body["total_entries"].as_i64()),
        (vec!["b".into()], Some(2))
    );
    let (_, body) = t.get("/api/v1/dags/~/dagRuns").await;
    assert_eq!(body["total_entries"], 3, "{body}");
    let (_, body) = t.get("/api/v1/dags/~/dagRuns?state=queued").await;
    assert_eq!(
        ids(&body),
        ["n"],
        "the paused DAG's run stays queued: {body}"
    );
    let (_, body) = t
        .get("/api/v1/dags/hello/dagRuns?execution_date_gte=2026-01-02T00:00:00+00:00")
        .await;
    assert_eq!(ids(&body), ["b"]);

    let (status, body) = t.get("/api/v1/dags/nope/dagRuns").await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "DAG not found");
    let (status, body) = t.get("/api/v1/dags/hello/dagRuns/zzz").await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "DAGRun not found");
    let (status, body) = t.get("/api/v1/dags/~/dagRuns?order_by=conf").await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");
    let (status, body) = t.get("/api/v1/dags/~/dagRuns?state=done").await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");
    let (status, body) = t
        .get("/api/v1/dags/~/dagRuns?start_date_gte=2026-01-01T00:00:00Z")
        .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");
}

#[tokio::test]
async fn marks_and_deletes_runs() {
    let t = TestApp::start().await;
    t.run_to_end("hello", "r1").await;
    let (status, run) = t
        .call(
            Method::PATCH,
            "/api/v1/dags/hello/dagRuns/r1",
            Some(json!({"state": "failed"})),
        )
        .await;
    assert_eq!(
        (status, run["state"].clone()),
        (StatusCode::OK, json!("failed")),
        "{run}"
    );
    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/v1/dags/hello/dagRuns/r1",
            Some(json!({"state": "running"})),
        )
        .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");
    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/v1/dags/hello/dagRuns/r1",
            Some(json!({"state": "bogus"})),
        )
        .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");
    assert!(
        body["detail"].as_str().unwrap().contains("`state`"),
        "{body}"
    );
    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/v1/dags/hello/dagRuns/none",
            Some(json!({"state": "failed"})),
        )
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "DAGRun not found");

    let (status, body) = t
        .call(Method::DELETE, "/api/v1/dags/hello/dagRuns/r1", None)
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::NO_CONTENT, serde_json::Value::Null)
    );
    let (status, body) = t.get("/api/v1/dags/hello/dagRuns/r1").await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "DAGRun not found");
    let (status, body) = t
        .call(Method::DELETE, "/api/v1/dags/hello/dagRuns/r1", None)
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "DAGRun not found");

    // A run of a paused DAG stays queued; deleting it is refused until it is marked.
    let (status, _) = t
        .call(
            Method::POST,
            "/api/v1/dags/nightly/dagRuns",
            Some(json!({"dag_run_id": "q"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = t
        .call(Method::DELETE, "/api/v1/dags/nightly/dagRuns/q", None)
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT, "Conflict");
}

#[tokio::test]
async fn a_trigger_keeps_its_note() {
    let t = TestApp::start().await;
    let (status, run) = t
        .call(
            Method::POST,
            "/api/v1/dags/hello/dagRuns",
            Some(json!({"dag_run_id": "noted", "note": "re-run after the upstream fix"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["note"], "re-run after the upstream fix");
    t.wait_finished("hello", "noted").await;
    let (_, run) = t.get("/api/v1/dags/hello/dagRuns/noted").await;
    assert_eq!(run["note"], "re-run after the upstream fix", "{run}");
    let (_, list) = t.get("/api/v1/dags/hello/dagRuns").await;
    assert_eq!(
        list["dag_runs"][0]["note"], "re-run after the upstream fix",
        "{list}"
    );
}
