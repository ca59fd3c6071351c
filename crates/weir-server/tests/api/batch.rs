//! Airflow's batch lists (`POST /dags/~/dagRuns/list`,
//! `POST /dags/~/dagRuns/~/taskInstances/list`), setting one task instance's state
//! (`PATCH …/taskInstances/{task_id}`) and clearing a run (`POST …/dagRuns/{id}/clear`).

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::support::{TestApp, assert_problem};

const RUNS: &str = "/api/v1/dags/~/dagRuns/list";
const TIS: &str = "/api/v1/dags/~/dagRuns/~/taskInstances/list";

/// `hello/r1` succeeded, `failing/f1` failed, a `nightly` run stays queued.
async fn app_with_runs() -> TestApp {
    let t = TestApp::start().await;
    t.run_to_end("hello", "r1").await;
    t.run_to_end("failing", "f1").await;
    let (status, body) = t
        .call(
            Method::POST,
            "/api/v1/dags/nightly/dagRuns",
            Some(json!({"dag_run_id": "n1"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    t
}

async fn post(t: &TestApp, uri: &str, body: Value) -> (StatusCode, Value) {
    t.call(Method::POST, uri, Some(body)).await
}

fn ids(body: &Value, list: &str, field: &str) -> Vec<String> {
    body[list]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r[field].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn lists_dag_runs_of_many_dags() {
    let t = app_with_runs().await;
    let (status, body) = post(&t, RUNS, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total_entries"], 3, "{body}");

    let (_, body) = post(&t, RUNS, json!({"dag_ids": ["hello", "failing"]})).await;
    assert_eq!(body["total_entries"], 2, "{body}");
    let (_, body) = post(&t, RUNS, json!({"states": ["failed"]})).await;
    assert_eq!(ids(&body, "dag_runs", "dag_run_id"), ["f1"]);
    let (_, body) = post(&t, RUNS, json!({"order_by": "-dag_id"})).await;
    assert_eq!(
        ids(&body, "dag_runs", "dag_id"),
        ["nightly", "hello", "failing"]
    );
    let (_, body) = post(
        &t,
        RUNS,
        json!({"order_by": "dag_id", "page_offset": 1, "page_limit": 1}),
    )
    .await;
    assert_eq!(ids(&body, "dag_runs", "dag_id"), ["hello"]);
    assert_eq!(body["total_entries"], 3);
    // The queued run has not started: a start-date bound leaves it out.
    let (_, body) = post(
        &t,
        RUNS,
        json!({"start_date_gte": "2000-01-01T00:00:00Z", "end_date_lte": "2999-01-01T00:00:00+00:00"}),
    )
    .await;
    assert_eq!(body["total_entries"], 2, "{body}");
    let (_, body) = post(
        &t,
        RUNS,
        json!({"execution_date_gte": "2999-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(body["total_entries"], 0, "{body}");

    for bad in [
        json!({"page_limit": 0}),
        json!({"page_offset": -1}),
        json!({"order_by": "colour"}),
        json!({"states": ["sleeping"]}),
        json!({"dag_ids": ["a b"]}),
        json!({"execution_date_gte": "yesterday"}),
        json!({"dag_id": "hello"}),
        json!({"dag_ids": "hello"}),
    ] {
        let (status, body) = post(&t, RUNS, bad.clone()).await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");
    }
    // Another method on the batch path is a 405, not a DAG run called `list`.
    let (status, body) = t.get(RUNS).await;
    assert_problem(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed",
    );
}

#[tokio::test]
async fn lists_task_instances_of_many_runs() {
    let t = app_with_runs().await;
    let (status, body) = post(&t, TIS, json!({"dag_ids": ["hello", "failing"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total_entries"], 4, "{body}");

    let (_, body) = post(&t, TIS, json!({"dag_run_ids": ["r1"], "task_ids": ["end"]})).await;
    assert_eq!(body["total_entries"], 1, "{body}");
    let end = &body["task_instances"][0];
    assert_eq!(
        (&end["dag_id"], &end["task_id"]),
        (&json!("hello"), &json!("end"))
    );
    assert_eq!(end["operator"], "noop");
    let (_, run) = t.get("/api/v1/dags/hello/dagRuns/r1").await;
    assert_eq!(end["execution_date"], run["logical_date"]);

    let (_, body) = post(&t, TIS, json!({"state": ["failed", "upstream_failed"]})).await;
    assert_eq!(ids(&body, "task_instances", "task_id"), ["after", "boom"]);
    let (_, body) = post(&t, TIS, json!({"state": []})).await;
    assert_eq!(
        body["total_entries"], 5,
        "an empty `state` is no filter: {body}"
    );
    let (_, body) = post(&t, TIS, json!({"state": [null]})).await;
    assert_eq!(ids(&body, "task_instances", "task_id"), ["only"]);
    assert_eq!(body["task_instances"][0]["state"], Value::Null);
    let (_, body) = post(&t, TIS, json!({"task_ids": []})).await;
    assert_eq!(
        body["total_entries"], 0,
        "an empty list matches nothing: {body}"
    );
    let (_, body) = post(
        &t,
        TIS,
        json!({"pool": ["default_pool"], "page_limit": 1, "page_offset": 1}),
    )
    .await;
    assert_eq!(body["task_instances"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["total_entries"], 5, "{body}");
    let (_, body) = post(&t, TIS, json!({"queue": ["elsewhere"]})).await;
    assert_eq!(body["total_entries"], 0, "{body}");
    let (_, body) = post(
        &t,
        TIS,
        json!({"dag_ids": ["hello"], "duration_gte": 0, "duration_lte": 3600}),
    )
    .await;
    assert_eq!(body["total_entries"], 2, "{body}");
    let (_, body) = post(&t, TIS, json!({"duration_gte": 3600})).await;
    assert_eq!(body["total_entries"], 0, "{body}");
    let (_, body) = post(
        &t,
        TIS,
        json!({"dag_ids": ["hello"], "start_date_gte": "2000-01-01T00:00:00Z", "end_date_lte": "2999-01-01T00:00:00Z", "execution_date_lte": "2999-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(body["total_entries"], 2, "{body}");

    for bad in [
        json!({"executor": ["celery"]}),
        json!({"state": ["sleeping"]}),
        json!({"page_limit": 0}),
        json!({"dag_run_ids": ["a b"]}),
        json!({"task_ids": [""]}),
        json!({"duration_gte": "long"}),
        json!({"order_by": "task_id"}),
    ] {
        let (status, body) = post(&t, TIS, bad.clone()).await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");
    }
}

#[tokio::test]
async fn sets_one_task_instance_state() {
    let t = app_with_runs().await;
    let uri = "/api/v1/dags/failing/dagRuns/f1/taskInstances/boom";
    // `dry_run` defaults to true: nothing changes.
    let (status, body) = t
        .call(Method::PATCH, uri, Some(json!({"new_state": "success"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["task_id"], &body["dag_id"], &body["dag_run_id"]),
        (&json!("boom"), &json!("failing"), &json!("f1"))
    );
    assert!(body["execution_date"].is_string(), "{body}");
    let (_, ti) = t.get(uri).await;
    assert_eq!(ti["state"], "failed");

    let (status, body) = t
        .call(
            Method::PATCH,
            uri,
            Some(json!({"new_state": "success", "dry_run": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, ti) = t.get(uri).await;
    assert_eq!(ti["state"], "success", "{ti}");

    let (status, body) = t
        .call(Method::PATCH, uri, Some(json!({"new_state": "skipped"})))
        .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");
    for bad in [
        json!({}),
        json!({"new_state": "running"}),
        json!({"new_state": "success", "dry_run": "no"}),
        json!({"new_state": "success", "note": "x"}),
    ] {
        let (status, body) = t.call(Method::PATCH, uri, Some(bad)).await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");
    }
    let cases = [
        (
            "/api/v1/dags/nope/dagRuns/f1/taskInstances/boom",
            "DAG not found",
        ),
        (
            "/api/v1/dags/failing/dagRuns/f1/taskInstances/nope",
            "Task not found",
        ),
        (
            "/api/v1/dags/failing/dagRuns/zz/taskInstances/boom",
            "DAGRun not found",
        ),
    ];
    for (uri, title) in cases {
        let (status, body) = t
            .call(Method::PATCH, uri, Some(json!({"new_state": "failed"})))
            .await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, title);
    }
}

#[tokio::test]
async fn clears_a_dag_run() {
    let t = app_with_runs().await;
    let uri = "/api/v1/dags/failing/dagRuns/f1/clear";
    // A dry run (the default) lists every task instance of the run, failed or not.
    let (status, body) = post(&t, uri, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total_entries"], 2, "{body}");
    assert_eq!(ids(&body, "task_instances", "task_id"), ["after", "boom"]);
    let (_, run) = t.get("/api/v1/dags/failing/dagRuns/f1").await;
    assert_eq!(run["state"], "failed");

    let (status, body) = post(&t, uri, json!({"dry_run": false})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["dag_run_id"], "f1", "{body}");
    assert_ne!(body["state"], "failed", "{body}");
    let run = t.wait_finished("failing", "f1").await;
    assert_eq!(run.state.as_str(), "failed");

    let (status, body) = post(&t, "/api/v1/dags/failing/dagRuns/zz/clear", json!({})).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "DAGRun not found");
    let (status, body) = post(&t, uri, json!({"dry_run": false, "only_failed": true})).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");
}
