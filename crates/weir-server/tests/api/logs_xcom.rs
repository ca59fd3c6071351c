//! Logs (JSON, plain text, continuation tokens) and XComs.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;
use weir_core::ids::{DagId, RunId, TaskId, UNMAPPED};
use weir_store::TaskInstanceKey;

use super::support::{TestApp, assert_problem};

fn boom_key() -> TaskInstanceKey {
    TaskInstanceKey {
        dag_id: DagId::new("failing").expect("valid id"),
        run_id: RunId::new("f").expect("valid id"),
        task_id: TaskId::new("boom").expect("valid id"),
        map_index: UNMAPPED,
    }
}

#[tokio::test]
async fn reads_and_follows_logs() {
    let t = TestApp::start().await;
    t.run_to_end("failing", "f").await;
    let url = "/api/v1/dags/failing/dagRuns/f/taskInstances/boom/logs/1";
    let (status, body) = t.get(url).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let content = body["content"].as_str().unwrap().to_string();
    assert!(
        content.contains("connection `nowhere` does not exist"),
        "{content}"
    );
    let token = body["continuation_token"].as_str().unwrap().to_string();
    assert_eq!(token, content.len().to_string());

    // Nothing new yet; then the log grows and the token picks up where it stopped.
    let (_, body) = t.get(&format!("{url}?token={token}")).await;
    assert_eq!(
        (
            body["content"].as_str(),
            body["continuation_token"].as_str()
        ),
        (Some(""), Some(token.as_str()))
    );
    let path = t
        .engine
        .log_path(&boom_key().try_key(1))
        .await
        .unwrap()
        .expect("the try has a folder");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("more: ünïcode\n");
    std::fs::write(&path, &text).unwrap();
    let (_, body) = t.get(&format!("{url}?token={token}")).await;
    assert_eq!(body["content"], "more: ünïcode\n");
    let (_, full) = t.get(&format!("{url}?full_content=true")).await;
    assert_eq!(full["content"], text);

    let req = Request::get(url)
        .header(header::ACCEPT, "text/plain")
        .body(Body::empty())
        .unwrap();
    let (status, headers, bytes) = t.send_raw(req).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(String::from_utf8(bytes).unwrap(), text);

    // A noop never has a try; a try beyond the last, a bad token, try 0.
    t.run_to_end("hello", "h").await;
    let (status, body) = t
        .get("/api/v1/dags/hello/dagRuns/h/taskInstances/start/logs/1")
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "Log not found");
    let (status, body) = t
        .get("/api/v1/dags/failing/dagRuns/f/taskInstances/boom/logs/2")
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "Log not found");
    let (status, body) = t.get(&format!("{url}?token=abc")).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");
    let (status, body) = t
        .get("/api/v1/dags/failing/dagRuns/f/taskInstances/boom/logs/0")
        .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");
    let (status, body) = t.get(&format!("{url}?map_index=4")).await;
    assert_problem(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "Task instance not found",
    );
}

#[tokio::test]
async fn lists_and_reads_xcoms() {
    let t = TestApp::start().await;
    t.run_to_end("failing", "f").await;
    t.store()
        .set_xcom(&boom_key(), "return_value", &json!({"rows": 3}))
        .await
        .unwrap();
    t.store()
        .set_xcom(&boom_key(), "other", &json!("x"))
        .await
        .unwrap();
    let base = "/api/v1/dags/failing/dagRuns/f/taskInstances/boom/xcomEntries";
    let (status, body) = t.get(base).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total_entries"], 2);
    let first = &body["xcom_entries"][0];
    assert_eq!(first["key"], "other");
    assert_eq!(first["task_id"], "boom");
    assert_eq!(first["map_index"], -1);
    assert!(first.get("value").is_none(), "lists leave values out");
    assert!(first["timestamp"].is_string() && first["execution_date"].is_string());

    let (status, x) = t.get(&format!("{base}/return_value")).await;
    assert_eq!(status, StatusCode::OK, "{x}");
    assert_eq!(x["value"], json!({"rows": 3}));
    assert_eq!(x["key"], "return_value");
    let (status, body) = t.get(&format!("{base}/missing")).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "XCom entry not found");
    let (_, body) = t.get(&format!("{base}?map_index=2")).await;
    assert_eq!(body["total_entries"], 0);
}
