//! `GET /dags/~/dagRuns/~/taskInstances` and `GET /dags/{dag_id}/dagRuns/~/taskInstances`:
//! task instances across runs and DAGs, with Airflow's filters, pages and sort, shown as
//! the per-run list shows them.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed case

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::Value;

use super::support::{TestApp, create_user};

fn keys(body: &Value) -> Vec<String> {
    body["task_instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}/{}/{}",
                t["dag_id"].as_str().unwrap(),
                t["dag_run_id"].as_str().unwrap(),
                t["task_id"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn task_instances_are_listed_across_runs_and_dags() {
    let t = TestApp::start().await;
    t.run_to_end("hello", "r1").await;
    t.run_to_end("hello", "r2").await;
    t.run_to_end("failing", "f1").await;

    let (status, all) = t.get("/api/v1/dags/~/dagRuns/~/taskInstances").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["total_entries"], 6, "{all}");
    let (_, hello) = t.get("/api/v1/dags/hello/dagRuns/~/taskInstances").await;
    assert_eq!(hello["total_entries"], 4, "{hello}");
    assert!(keys(&hello).iter().all(|k| k.starts_with("hello/")));

    let (_, failed) = t
        .get("/api/v1/dags/~/dagRuns/~/taskInstances?state=failed,upstream_failed")
        .await;
    assert_eq!(keys(&failed), ["failing/f1/after", "failing/f1/boom"]);
    let (_, failed) = t
        .get("/api/v1/dags/~/dagRuns/~/taskInstances?state=failed&state=upstream_failed&order_by=-task_id")
        .await;
    assert_eq!(keys(&failed), ["failing/f1/boom", "failing/f1/after"]);
    let (_, page) = t
        .get("/api/v1/dags/hello/dagRuns/~/taskInstances?order_by=task_id&limit=1&offset=2")
        .await;
    assert_eq!(
        (page["total_entries"].clone(), keys(&page)),
        (4.into(), vec!["hello/r1/start".to_string()])
    );
    let (_, none) = t
        .get("/api/v1/dags/~/dagRuns/~/taskInstances?pool=other_pool")
        .await;
    assert_eq!(none["total_entries"], 0);
    let (_, pooled) = t
        .get("/api/v1/dags/~/dagRuns/~/taskInstances?pool=default_pool&queue=default")
        .await;
    assert_eq!(pooled["total_entries"], 6);
    let (_, later) = t
        .get("/api/v1/dags/~/dagRuns/~/taskInstances?execution_date_gte=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(later["total_entries"], 0);
    let (_, ended) = t
        .get("/api/v1/dags/~/dagRuns/~/taskInstances?end_date_lte=2999-01-01T00:00:00%2B00:00&duration_lte=3600")
        .await;
    let (_, unfinished) = t
        .get("/api/v1/dags/~/dagRuns/~/taskInstances?duration_gte=3600")
        .await;
    assert_eq!(unfinished["total_entries"], 0);
    assert!(ended["total_entries"].as_i64().unwrap() >= 4, "{ended}");

    for bad in [
        "state=sleeping",
        "order_by=colour",
        "duration_gte=long",
        "start_date_gte=yesterday",
        "limit=-1",
        "executor=celery",
    ] {
        let (status, body) = t
            .get(&format!("/api/v1/dags/~/dagRuns/~/taskInstances?{bad}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    let (status, _) = t.get("/api/v1/dags/nope/dagRuns/~/taskInstances").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn each_caller_sees_what_the_per_run_list_shows_them() {
    let t = TestApp::start().await;
    t.run_to_end("hello", "r1").await;
    let vera = create_user(t.store(), "vera", false).await;
    let as_vera = |uri: &str| {
        Request::builder()
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {vera}"))
            .body(Body::empty())
            .unwrap()
    };
    for via in [
        "/api/v1/dags/~/dagRuns/~/taskInstances",
        "/api/v1/dags/hello/dagRuns/~/taskInstances",
    ] {
        let (_, per_run_admin) = t.get("/api/v1/dags/hello/dagRuns/r1/taskInstances").await;
        let (_, across_admin) = t.get(via).await;
        assert_eq!(
            across_admin["task_instances"], per_run_admin["task_instances"],
            "{via}"
        );
        let (_, per_run_vera) = t
            .send(as_vera("/api/v1/dags/hello/dagRuns/r1/taskInstances"))
            .await;
        let (status, across_vera) = t.send(as_vera(via)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            across_vera["task_instances"], per_run_vera["task_instances"],
            "{via}"
        );
    }
}
