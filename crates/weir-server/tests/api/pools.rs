//! `POST /pools`, `PATCH /pools/{pool_name}` and `DELETE /pools/{pool_name}`: Airflow's
//! fields and answers, the default pool's limits, and the audit trail.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed case

use axum::http::{Method, StatusCode};
use serde_json::json;
use weir_store::AuditFilter;

use super::support::{TestApp, assert_problem};

#[tokio::test]
async fn pools_are_created_changed_and_deleted() {
    let t = TestApp::start().await;
    let (status, gpu) = t
        .call(
            Method::POST,
            "/api/v1/pools",
            Some(json!({"name": "gpu", "slots": 2, "description": "GPUs"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{gpu}");
    assert_eq!(gpu["name"], "gpu");
    assert_eq!(gpu["slots"], 2);
    assert_eq!(gpu["open_slots"], 2);
    assert_eq!(gpu["occupied_slots"], 0);
    assert_eq!(gpu["running_slots"], 0);
    assert_eq!(gpu["queued_slots"], 0);
    assert_eq!(gpu["description"], "GPUs");
    assert_eq!(gpu["include_deferred"], false);
    let (_, listed) = t.get("/api/v1/pools").await;
    assert_eq!(listed["total_entries"], 2, "{listed}");

    let (status, body) = t
        .call(
            Method::POST,
            "/api/v1/pools",
            Some(json!({"name": "gpu", "slots": 1})),
        )
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT, "Conflict");
    for bad in [
        json!({"name": "x"}),
        json!({"name": "x", "slots": -2}),
        json!({"name": "x", "slots": 1, "open_slots": 3}),
        json!({"name": "", "slots": 1}),
    ] {
        let (status, body) = t
            .call(Method::POST, "/api/v1/pools", Some(bad.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }

    // With a mask, only the masked fields change.
    let (status, resized) = t
        .call(
            Method::PATCH,
            "/api/v1/pools/gpu?update_mask=slots,include_deferred",
            Some(json!({"slots": 5, "include_deferred": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resized}");
    assert_eq!(
        (
            &resized["slots"],
            &resized["description"],
            &resized["include_deferred"]
        ),
        (&json!(5), &json!("GPUs"), &json!(true))
    );
    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/v1/pools/gpu?update_mask=occupied_slots",
            Some(json!({"slots": 5})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/v1/pools/gpu",
            Some(json!({"slots": 5})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("name"), "{body}");

    // Without a mask: name and slots, and a new name renames.
    let (status, renamed) = t
        .call(
            Method::PATCH,
            "/api/v1/pools/gpu",
            Some(json!({"name": "accel", "slots": 3, "description": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(
        (&renamed["name"], &renamed["slots"], &renamed["description"]),
        (&json!("accel"), &json!(3), &json!(null))
    );
    let (status, body) = t.get("/api/v1/pools/gpu").await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "Pool not found");
    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/v1/pools/nope?update_mask=slots",
            Some(json!({"slots": 1})),
        )
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "Pool not found");

    // The default pool can be resized, not renamed nor deleted.
    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/v1/pools/default_pool",
            Some(json!({"name": "renamed", "slots": 3})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/v1/pools/default_pool?update_mask=slots",
            Some(json!({"slots": 64})),
        )
        .await;
    assert_eq!(
        (status, &body["slots"]),
        (StatusCode::OK, &json!(64)),
        "{body}"
    );
    let (status, body) = t
        .call(Method::DELETE, "/api/v1/pools/default_pool", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["detail"], "Default Pool can't be deleted");

    let (status, body) = t.call(Method::DELETE, "/api/v1/pools/accel", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = t.call(Method::DELETE, "/api/v1/pools/accel", None).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "Pool not found");
    assert_eq!(t.store().get_pool("accel").await.unwrap(), None);

    // Each change is audited, with what it changed.
    let events = t
        .store()
        .list_audit_events(&AuditFilter::default(), 100, 0)
        .await
        .unwrap();
    let of = |action: &str, outcome: &str| {
        events
            .items
            .iter()
            .filter(|e| e.action == action && e.outcome == outcome)
            .count()
    };
    assert_eq!(of("pool.create", "success"), 1);
    assert_eq!(of("pool.create", "failed"), 5);
    assert_eq!(of("pool.delete", "success"), 1);
    let renamed = events
        .items
        .iter()
        .find(|e| e.action == "pool.update" && e.details["after"]["name"] == "accel")
        .expect("the rename is audited");
    assert_eq!(renamed.details["before"]["name"], "gpu");
    assert_eq!(renamed.object_id, "gpu");
}
