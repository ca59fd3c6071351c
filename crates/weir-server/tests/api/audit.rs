//! The audit trail: changes and sensitive reads leave events with actor, action, object,
//! team, outcome, source and a before/after summary; failed sign-ins are recorded; no
//! secret reaches an event; team admins see only their teams' events.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed case

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine as _;
use serde_json::{Value, json};

use super::support::{TestApp, create_user};

async fn call_as(
    t: &TestApp,
    token: &str,
    method: Method,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    let body = match body {
        Some(v) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(serde_json::to_vec(&v).unwrap())
        }
        None => Body::empty(),
    };
    let (status, _, bytes) = t.send_unauthenticated(req.body(body).unwrap()).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn events(t: &TestApp, query: &str) -> Vec<Value> {
    let (status, body) = t.get(&format!("/api/v1/auditEvents?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["audit_events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn changes_reads_and_failed_sign_ins_are_recorded_without_secrets() {
    let t = TestApp::start().await;
    let dan = create_user(t.store(), "dan", false).await;
    t.store()
        .set_membership("data", "dan", "admin")
        .await
        .unwrap();

    // A change, with its before/after.
    let (s, b) = t
        .call(
            Method::PATCH,
            "/api/v1/dags/hello",
            Some(json!({"is_paused": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let e = &events(&t, "action=dag.update").await[0];
    assert_eq!(e["actor"], "admin");
    assert_eq!(e["object_type"], "dag");
    assert_eq!(e["object_id"], "hello");
    assert_eq!(e["team"], "data");
    assert_eq!(e["outcome"], "success");
    assert_eq!(e["details"]["request"], json!({"is_paused": true}));
    assert_eq!(e["details"]["status"], 200);

    // A variable's value never appears; a member change has before and after.
    let (s, _) = call_as(
        &t,
        &dan,
        Method::POST,
        "/api/v1/variables",
        Some(json!({"key": "dsn", "value": "s3cr3t-value", "team": "data"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call_as(
        &t,
        &dan,
        Method::PUT,
        "/api/v1/teams/data/members/admin",
        Some(json!({"role": "viewer"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call_as(
        &t,
        &dan,
        Method::PUT,
        "/api/v1/teams/data/members/admin",
        Some(json!({"role": "operator"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let e = &events(&t, "action=team.set_member").await[0];
    assert_eq!(
        (
            e["details"]["before"].clone(),
            e["details"]["after"].clone()
        ),
        (json!({"role": "viewer"}), json!({"role": "operator"}))
    );
    assert_eq!(e["object_id"], "data/admin");

    // Users and tokens: neither the password nor the token is kept.
    let (s, _) = t
        .call(
            Method::POST,
            "/api/v1/users",
            Some(json!({"username": "newbie", "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, made) = call_as(
        &t,
        &dan,
        Method::POST,
        "/api/v1/tokens",
        Some(json!({"name": "ci"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    let secret = made["token"].as_str().unwrap().to_string();

    // A denied change and a failed sign-in.
    let (s, _) = call_as(
        &t,
        &dan,
        Method::PATCH,
        "/api/v1/dags/nightly",
        Some(json!({"is_paused": false})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let basic = base64::engine::general_purpose::STANDARD.encode("newbie:guessed-pa55word");
    let req = Request::builder()
        .uri("/api/v1/dags")
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .body(Body::empty())
        .unwrap();
    let (s, _, _) = t.send_unauthenticated(req).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let denied = &events(&t, "outcome=denied").await[0];
    assert_eq!(
        (
            denied["actor"].as_str(),
            denied["action"].as_str(),
            denied["team"].as_str()
        ),
        (Some("dan"), Some("dag.update"), Some("finance"))
    );
    let failed = &events(&t, "action=login&outcome=failed").await[0];
    assert_eq!(failed["actor"], "newbie");

    // A sensitive read: task logs.
    let (s, _) = t
        .call(
            Method::PATCH,
            "/api/v1/dags/hello",
            Some(json!({"is_paused": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    t.run_to_end("hello", "r1").await;
    let (s, _) = t
        .get("/api/v1/dags/hello/dagRuns/r1/taskInstances/start/logs/1")
        .await;
    assert!(s.is_success() || s == StatusCode::NOT_FOUND);
    assert!(!events(&t, "action=task_instance.read_log").await.is_empty());

    // No secret anywhere in the trail.
    let all = serde_json::to_string(&events(&t, "limit=1000").await).unwrap();
    for secret in [
        "s3cr3t-value",
        "correct horse battery",
        "guessed-pa55word",
        secret.as_str(),
        dan.as_str(),
    ] {
        assert!(!all.contains(secret), "`{secret}` is in the audit trail");
    }

    // Team admins see their teams' events only; others none.
    let (s, mine) = call_as(
        &t,
        &dan,
        Method::GET,
        "/api/v1/auditEvents?limit=1000",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let teams: Vec<_> = mine["audit_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["team"].clone())
        .collect();
    assert!(
        !teams.is_empty() && teams.iter().all(|t| t == "data"),
        "{teams:?}"
    );
    // Filters: actor, object and time.
    let since = (chrono::Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339();
    let (s, none) = t
        .get(&format!(
            "/api/v1/auditEvents?since={}",
            since.replace('+', "%2B")
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "{none}");
    assert_eq!(none["total_entries"], 0);
    assert!(
        events(&t, "actor=dan&object_type=variable")
            .await
            .iter()
            .all(|e| e["actor"] == "dan" && e["object_type"] == "variable")
    );
    let (s, _) = t.get("/api/v1/auditEvents?since=yesterday").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // The trail cannot be changed through the API.
    for method in [Method::DELETE, Method::PATCH, Method::PUT, Method::POST] {
        let (s, _) = t.call(method.clone(), "/api/v1/auditEvents", None).await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
}

#[tokio::test]
async fn failed_sign_ins_are_rate_limited_per_user_and_address() {
    let t = TestApp::start().await;
    create_user(t.store(), "ann", false).await;
    let attempt = |password: &str| {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("ann:{password}"));
        Request::builder()
            .uri("/api/v1/me")
            .header(header::AUTHORIZATION, format!("Basic {basic}"))
            .body(Body::empty())
            .unwrap()
    };
    for _ in 0..5 {
        let (s, _, _) = t.send_unauthenticated(attempt("wrong")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    // Blocked now, even with the right password, and told when to come back.
    let (s, headers, body) = t.send_unauthenticated(attempt("password-of-ann")).await;
    assert_eq!(
        s,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let wait: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // Another user is not blocked by ann's failures.
    create_user(t.store(), "bob", false).await;
    let basic = base64::engine::general_purpose::STANDARD.encode("bob:password-of-bob");
    let req = Request::builder()
        .uri("/api/v1/me")
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .body(Body::empty())
        .unwrap();
    let (s, _, body) = t.send_unauthenticated(req).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
}
