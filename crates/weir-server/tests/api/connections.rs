//! Connections: `GET|POST /connections`, `GET|PATCH|DELETE /connections/{connection_id}`,
//! with Weir's `team`; the password is stored and never returned.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::support::{TestApp, assert_problem};

const SECRET: &str = "s3cret-pa55";

fn full() -> Value {
    json!({
        "connection_id": "warehouse",
        "conn_type": "postgres",
        "description": "the warehouse",
        "host": "db.example.com",
        "login": "etl",
        "password": SECRET,
        "schema": "public",
        "port": 5432,
        "extra": "{\"sslmode\": \"require\"}",
        "team": "data"
    })
}

fn assert_no_secret(body: &Value) {
    let text = body.to_string();
    assert!(
        !text.contains(SECRET) && !text.contains("password"),
        "{text}"
    );
}

#[tokio::test]
async fn create_read_list_update_delete() {
    let t = TestApp::start().await;
    let (status, body) = t
        .call(Method::POST, "/api/v1/connections", Some(full()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_no_secret(&body);
    assert_eq!(body["connection_id"], "warehouse");
    assert_eq!(
        (&body["team"], &body["port"]),
        (&json!("data"), &json!(5432))
    );
    assert_eq!(body["extra"], "{\"sslmode\": \"require\"}");
    let stored = t
        .store()
        .get_connection("warehouse")
        .await
        .expect("store")
        .expect("stored");
    // Stored sealed under the master key (issue 10), and it opens to what was sent.
    let sealed = stored.password.as_deref().expect("a password");
    assert_ne!(sealed, SECRET);
    assert_eq!(
        t.engine
            .secrets()
            .open_password("warehouse", sealed)
            .expect("opens"),
        SECRET
    );

    let (status, body) = t
        .call(Method::POST, "/api/v1/connections", Some(full()))
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT, "Conflict");
    let (status, body) = t
        .call(
            Method::POST,
            "/api/v1/connections",
            Some(json!({"connection_id": "plain", "conn_type": "http"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["team"], Value::Null);

    let (status, body) = t.get("/api/v1/connections/warehouse").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_no_secret(&body);
    assert_eq!(body["login"], "etl");

    let (status, body) = t.get("/api/v1/connections?limit=1&offset=1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total_entries"], 2);
    assert_eq!(body["connections"][0]["connection_id"], "warehouse");
    assert!(body["connections"][0].get("extra").is_none(), "{body}");
    assert_no_secret(&body);

    // update_mask: only the fields it names.
    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/v1/connections/warehouse?update_mask=host",
            Some(json!({"host": "db2.example.com", "login": "ignored"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["host"], &body["login"]),
        (&json!("db2.example.com"), &json!("etl"))
    );
    assert_no_secret(&body);
    // Without it: what the body has; `null` clears, absent keeps; the password changes.
    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/v1/connections/warehouse",
            Some(json!({"connection_id": "warehouse", "description": null, "password": "new", "team": "data"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["description"], &body["host"]),
        (&Value::Null, &json!("db2.example.com"))
    );
    let stored = t
        .store()
        .get_connection("warehouse")
        .await
        .expect("store")
        .expect("kept");
    let sealed = stored.password.as_deref().expect("a password");
    assert_eq!(
        t.engine
            .secrets()
            .open_password("warehouse", sealed)
            .expect("opens"),
        "new"
    );
    assert_eq!(stored.team.as_deref(), Some("data"));

    let (status, _) = t
        .call(Method::DELETE, "/api/v1/connections/warehouse", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = t
        .call(Method::DELETE, "/api/v1/connections/warehouse", None)
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "Connection not found");
    let (status, body) = t.get("/api/v1/connections/warehouse").await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "Connection not found");
}

#[tokio::test]
async fn bad_connection_requests_are_400s() {
    let t = TestApp::start().await;
    let (status, body) = t
        .call(Method::POST, "/api/v1/connections", Some(full()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let posts = [
        json!({"conn_type": "http"}),
        json!({"connection_id": "x"}),
        json!({"connection_id": "a b", "conn_type": "http"}),
        json!({"connection_id": "x".repeat(201), "conn_type": "http"}),
        json!({"connection_id": "x", "conn_type": "http", "port": "80"}),
        json!({"connection_id": "x", "conn_type": "http", "colour": "red"}),
        json!({"connection_id": "x", "conn_type": "http", "team": "Not A Team!"}),
    ];
    for bad in posts {
        let (status, body) = t
            .call(Method::POST, "/api/v1/connections", Some(bad.clone()))
            .await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");
    }
    let patches = [
        ("", json!({"connection_id": "other"})),
        ("", json!({"team": "finance"})),
        ("", json!({"team": null})),
        ("?update_mask=login", json!({"host": "h"})),
        (
            "?update_mask=connection_id",
            json!({"connection_id": "warehouse"}),
        ),
        ("?update_mask=team", json!({"team": "data"})),
        ("", json!({"port": 1.5})),
    ];
    for (query, bad) in patches {
        let (status, body) = t
            .call(
                Method::PATCH,
                &format!("/api/v1/connections/warehouse{query}"),
                Some(bad.clone()),
            )
            .await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");
    }
    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/v1/connections/nope",
            Some(json!({"host": "h"})),
        )
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "Connection not found");
    let (status, body) = t.get("/api/v1/connections?order_by=-connection_id").await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");
    let (status, body) = t.get("/api/v1/connections?limit=-1").await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");
}
