//! `/dags`, `/dags/{dag_id}`, `/details`, `/tasks`.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::support::{TestApp, assert_problem};

#[tokio::test]
async fn lists_and_shows_dags() {
    let t = TestApp::start().await;
    let (status, body) = t.get("/api/v1/dags").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total_entries"], 3, "{body}");
    let ids: Vec<&str> = body["dags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["dag_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["failing", "hello", "nightly"]);

    let (status, hello) = t.get("/api/v1/dags/hello").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hello["is_paused"], false);
    assert_eq!(hello["is_active"], true);
    assert_eq!(hello["description"], "Say hello");
    assert_eq!(hello["tags"], json!([{"name": "demo"}]));
    assert_eq!(hello["owners"], json!(["data"]));
    assert_eq!(hello["team"], "data");
    assert_eq!(hello["schedule_interval"], json!(null));
    assert_eq!(hello["has_import_errors"], false);
    assert!(hello["fileloc"].as_str().unwrap().ends_with("hello.yaml"));

    let (_, nightly) = t.get("/api/v1/dags/nightly").await;
    assert_eq!(
        nightly["schedule_interval"],
        json!({"__type": "CronExpression", "value": "0 3 * * *"})
    );
    assert_eq!(nightly["timetable_description"], "At 03:00.");
    assert_eq!(nightly["is_paused"], true);

    let (status, details) = t.get("/api/v1/dags/hello/details").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(details["timezone"], "UTC");
    assert_eq!(details["params"], json!({"who": "world"}));
    assert_eq!(details["dag_id"], "hello");
    assert!(details["version"].is_string());

    let (status, body) = t.get("/api/v1/dags/nope").await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "DAG not found");
    assert_eq!(body["detail"], "The DAG with dag_id: nope was not found");
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with("#section/Errors/NotFound")
    );
    let (status, body) = t.get("/api/v1/dags/nope/details").await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "DAG not found");
}

#[tokio::test]
async fn filters_sorts_and_pages_dags() {
    let t = TestApp::start().await;
    let ids = |body: &serde_json::Value| -> Vec<String> {
        body["dags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["dag_id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, body) = t.get("/api/v1/dags?tags=demo").await;
    assert_eq!(
        (ids(&body), body["total_entries"].as_i64()),
        (vec!["hello".into()], Some(1))
    );
    let (_, body) = t.get("/api/v1/dags?dag_id_pattern=NIGHT").await;
    assert_eq!(ids(&body), ["nightly"]);
    let (_, body) = t.get("/api/v1/dags?paused=true").await;
    assert_eq!(ids(&body), ["nightly"]);
    let (_, body) = t.get("/api/v1/dags?order_by=-dag_id&limit=2").await;
    assert_eq!(
        (ids(&body), body["total_entries"].as_i64()),
        (vec!["nightly".into(), "hello".into()], Some(3))
    );
    let (_, body) = t.get("/api/v1/dags?limit=1&offset=1").await;
    assert_eq!(
        (ids(&body), body["total_entries"].as_i64()),
        (vec!["hello".into()], Some(3))
    );
    let (status, body) = t.get("/api/v1/dags?order_by=owners").await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");
}

#[tokio::test]
async fn pauses_and_unpauses() {
    let t = TestApp::start().await;
    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/v1/dags/hello",
            Some(json!({"is_paused": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["is_paused"], true);
    // The GET-modify-PATCH pattern of Airflow's docs: other fields are ignored.
    let (_, mut dag) = t.get("/api/v1/dags/hello").await;
    dag["is_paused"] = json!(false);
    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/v1/dags/hello?update_mask=is_paused",
            Some(dag),
        )
        .await;
    assert_eq!(
        (status, body["is_paused"].clone()),
        (StatusCode::OK, json!(false)),
        "{body}"
    );

    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/v1/dags/hello?update_mask=description",
            Some(json!({"description": "x"})),
        )
        .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");
    assert!(body["detail"].as_str().unwrap().contains("is_paused"));
    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/v1/dags/hello",
            Some(json!({"is_paused": true, "owners": []})),
        )
        .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("unknown field `owners`"),
        "{body}"
    );
    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/v1/dags/nope",
            Some(json!({"is_paused": true})),
        )
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "DAG not found");
}

#[tokio::test]
async fn lists_tasks() {
    let t = TestApp::start().await;
    let (status, body) = t.get("/api/v1/dags/hello/tasks").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total_entries"], 2);
    let start = &body["tasks"][0];
    assert_eq!(start["task_id"], "start");
    assert_eq!(start["kind"], "noop");
    assert_eq!(start["class_ref"]["class_name"], "NoopTask");
    assert_eq!(start["downstream_task_ids"], json!(["end"]));
    assert_eq!(start["trigger_rule"], "all_success");
    assert_eq!(start["owner"], "data");
    assert_eq!(body["tasks"][1]["upstream_task_ids"], json!(["start"]));

    let (status, task) = t.get("/api/v1/dags/failing/tasks/boom").await;
    assert_eq!(
        (status, task["kind"].clone()),
        (StatusCode::OK, json!("sql"))
    );
    let (status, body) = t.get("/api/v1/dags/hello/tasks/nope").await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "Task not found");
    let (status, body) = t.get("/api/v1/dags/nope/tasks").await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "DAG not found");
}
