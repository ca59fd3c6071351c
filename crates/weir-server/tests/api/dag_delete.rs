//! `DELETE /dags/{dag_id}` (the DAG's history; a file still in the folder brings the DAG
//! back as new) and `GET /dagSources/{file_token}` (the DAG file's text).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed case

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;
use weir_core::ids::{DagId, RunId, UNMAPPED};
use weir_core::state::TaskState;
use weir_store::{AuditFilter, TaskInstanceKey, TaskInstanceUpdate};

use super::support::{HELLO, TestApp, assert_problem, create_user};

#[tokio::test]
async fn deleting_a_dag_removes_its_history_and_its_file_brings_it_back() {
    let t = TestApp::start().await;
    t.run_to_end("hello", "r1").await;
    let (status, body) = t.call(Method::DELETE, "/api/v1/dags/hello", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let hello = DagId::new("hello").unwrap();
    let r1 = RunId::new("r1").unwrap();
    assert_eq!(t.store().get_dag_run(&hello, &r1).await.unwrap(), None);
    assert!(
        t.store()
            .list_task_instances(&hello, &r1)
            .await
            .unwrap()
            .is_empty()
    );
    // Its file is still in the folder: it is back at once, as a new DAG with no runs.
    let (status, dag) = t.get("/api/v1/dags/hello").await;
    assert_eq!(status, StatusCode::OK, "{dag}");
    assert_eq!(dag["is_active"], true);
    let (_, runs) = t.get("/api/v1/dags/hello/dagRuns").await;
    assert_eq!(runs["total_entries"], 0, "{runs}");
    let (status, body) = t.get("/api/v1/dags/hello/dagRuns/r1").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // And runs again under the same run id.
    t.run_to_end("hello", "r1").await;

    // A DAG whose file is gone stays gone.
    std::fs::remove_file(t.dags_folder().join("failing.yaml")).unwrap();
    t.engine.sync_dags().await.unwrap();
    let (status, body) = t.call(Method::DELETE, "/api/v1/dags/failing", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = t.get("/api/v1/dags/failing").await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "DAG not found");
    let (status, body) = t.call(Method::DELETE, "/api/v1/dags/failing", None).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "DAG not found");

    let events = t
        .store()
        .list_audit_events(&AuditFilter::default(), 100, 0)
        .await
        .unwrap();
    let deleted: Vec<_> = events
        .items
        .iter()
        .filter(|e| e.action == "dag.delete" && e.outcome == "success")
        .map(|e| {
            let file = e.details["before"]["fileloc"].as_str().unwrap_or_default();
            let file = file.rsplit('/').next().unwrap_or_default().to_string();
            (e.object_id.clone(), e.team.clone(), file)
        })
        .collect();
    let data = Some("data".to_string());
    assert_eq!(
        deleted,
        [
            (
                "failing".to_string(),
                data.clone(),
                "failing.yaml".to_string()
            ),
            ("hello".to_string(), data, "hello.yaml".to_string()),
        ],
        "newest first"
    );
}

#[tokio::test]
async fn a_dag_with_queued_or_running_task_instances_is_not_deleted() {
    let t = TestApp::start().await;
    // `nightly` is paused: its run stays queued, with its task instance not started.
    let (status, body) = t
        .call(
            Method::POST,
            "/api/v1/dags/nightly/dagRuns",
            Some(json!({"dag_run_id": "n1"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let key = TaskInstanceKey {
        dag_id: DagId::new("nightly").unwrap(),
        run_id: RunId::new("n1").unwrap(),
        task_id: weir_core::ids::TaskId::new("only").unwrap(),
        map_index: UNMAPPED,
    };
    for u in [
        TaskInstanceUpdate::Schedule,
        TaskInstanceUpdate::Claim {
            try_number: 1,
            hostname: "test".into(),
        },
    ] {
        assert!(t.store().update_task_instance(&key, &u).await.unwrap());
    }
    let (status, body) = t.call(Method::DELETE, "/api/v1/dags/nightly", None).await;
    assert_problem(status, &body, StatusCode::CONFLICT, "Conflict");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("queued or running"),
        "{body}"
    );
    let (status, _) = t.get("/api/v1/dags/nightly/dagRuns/n1").await;
    assert_eq!(status, StatusCode::OK, "nothing was deleted");

    assert!(
        t.store()
            .update_task_instance(
                &key,
                &TaskInstanceUpdate::Mark {
                    expected: TaskState::Queued,
                    state: TaskState::Failed,
                    end_date: chrono::Utc::now(),
                }
            )
            .await
            .unwrap()
    );
    let (status, body) = t.call(Method::DELETE, "/api/v1/dags/nightly", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

#[tokio::test]
async fn dag_sources_serve_registered_dag_files_only() {
    let t = TestApp::start().await;
    let (_, dag) = t.get("/api/v1/dags/hello").await;
    let token = dag["file_token"].as_str().unwrap().to_string();
    assert!(!token.contains('/') && !token.contains("hello"), "{token}");
    let (status, source) = t.get(&format!("/api/v1/dagSources/{token}")).await;
    assert_eq!(status, StatusCode::OK, "{source}");
    assert_eq!(source["content"], HELLO);
    let (_, details) = t.get("/api/v1/dags/hello/details").await;
    assert_eq!(details["file_token"], token.as_str());

    let req = Request::builder()
        .uri(format!("/api/v1/dagSources/{token}"))
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
    assert_eq!(String::from_utf8(bytes).unwrap(), HELLO);

    // Anyone signed in reads a DAG's code, as they read the DAG.
    let vera = create_user(t.store(), "vera", false).await;
    let req = Request::builder()
        .uri(format!("/api/v1/dagSources/{token}"))
        .header(header::AUTHORIZATION, format!("Bearer {vera}"))
        .body(Body::empty())
        .unwrap();
    let (status, _) = t.send(req).await;
    assert_eq!(status, StatusCode::OK);

    // Tokens name DAGs, never paths: nothing else can be read.
    let hex = |s: &str| weir_api::dag_sources::file_token(s);
    for bad in [
        hex("../weir.db"),
        hex("/etc/passwd"),
        hex("no_such_dag"),
        "zz".to_string(),
        token.to_uppercase(),
    ] {
        let (status, body) = t.get(&format!("/api/v1/dagSources/{bad}")).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "DAG source not found");
    }
}
