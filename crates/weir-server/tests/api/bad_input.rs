//! Bad input of every kind is a 4xx problem naming what is wrong, never a 500.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::Value;

use super::support::TestApp;

/// A request with a raw body and content type.
fn raw(
    method: Method,
    uri: &str,
    content_type: Option<&str>,
    body: impl Into<Body>,
) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    req.body(body.into()).expect("request")
}

const JSON: Option<&str> = Some("application/json");

#[tokio::test]
async fn bad_requests_are_clear_4xx_problems() {
    let t = TestApp::start().await;
    t.run_to_end("hello", "r").await;
    let runs = "/api/v1/dags/hello/dagRuns";
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        // Malformed or mistyped bodies.
        (
            raw(Method::POST, runs, JSON, "{"),
            StatusCode::BAD_REQUEST,
            "Malformed JSON",
        ),
        (
            raw(Method::POST, runs, JSON, ""),
            StatusCode::BAD_REQUEST,
            "empty",
        ),
        (
            raw(Method::POST, runs, JSON, "[1]"),
            StatusCode::BAD_REQUEST,
            "invalid type",
        ),
        (
            raw(Method::POST, runs, JSON, r#"{"state": "success"}"#),
            StatusCode::BAD_REQUEST,
            "unknown field `state`",
        ),
        (
            raw(Method::POST, runs, JSON, r#"{"conf": [1]}"#),
            StatusCode::BAD_REQUEST,
            "`conf`",
        ),
        (
            raw(Method::POST, runs, JSON, r#"{"conf": "x"}"#),
            StatusCode::BAD_REQUEST,
            "`conf`",
        ),
        (
            raw(Method::POST, runs, JSON, r#"{"logical_date": "tomorrow"}"#),
            StatusCode::BAD_REQUEST,
            "RFC 3339",
        ),
        (
            raw(
                Method::POST,
                runs,
                JSON,
                r#"{"logical_date": "2026-01-01T00:00:00"}"#,
            ),
            StatusCode::BAD_REQUEST,
            "time zone",
        ),
        (
            raw(Method::POST, runs, JSON, r#"{"logical_date": 5}"#),
            StatusCode::BAD_REQUEST,
            "`logical_date`",
        ),
        (
            raw(Method::POST, runs, JSON, r#"{"dag_run_id": "a/b"}"#),
            StatusCode::BAD_REQUEST,
            "dag_run_id",
        ),
        (
            raw(Method::POST, runs, JSON, r#"{"dag_run_id": ""}"#),
            StatusCode::BAD_REQUEST,
            "dag_run_id",
        ),
        (
            raw(
                Method::POST,
                runs,
                JSON,
                r#"{"logical_date": "2026-01-01T00:00:00Z", "execution_date": "2026-01-02T00:00:00Z"}"#,
            ),
            StatusCode::BAD_REQUEST,
            "differ",
        ),
        (
            // A note is accepted (issue 16); one past Airflow's 1000 characters is not.
            raw(
                Method::POST,
                runs,
                JSON,
                format!(r#"{{"note": "{}"}}"#, "n".repeat(1001)),
            ),
            StatusCode::BAD_REQUEST,
            "note",
        ),
        (
            raw(Method::POST, runs, JSON, "\u{0}\u{1}"),
            StatusCode::BAD_REQUEST,
            "Malformed JSON",
        ),
        (
            raw(Method::POST, runs, Some("text/plain"), "{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "JSON",
        ),
        (
            raw(
                Method::PATCH,
                "/api/v1/dags/hello",
                JSON,
                r#"{"is_paused": "yes"}"#,
            ),
            StatusCode::BAD_REQUEST,
            "is_paused",
        ),
        (
            raw(Method::PATCH, "/api/v1/dags/hello/dagRuns/r", JSON, "{}"),
            StatusCode::BAD_REQUEST,
            "state",
        ),
        (
            raw(
                Method::POST,
                "/api/v1/variables",
                JSON,
                r#"{"key": "k", "value": 3}"#,
            ),
            StatusCode::BAD_REQUEST,
            "`value`",
        ),
        (
            raw(
                Method::POST,
                "/api/v1/backfills",
                JSON,
                r#"{"dag_id": "hello"}"#,
            ),
            StatusCode::BAD_REQUEST,
            "from_date",
        ),
        // Oversize body.
        (
            raw(
                Method::POST,
                runs,
                JSON,
                format!(r#"{{"conf": {{"x": "{}"}}}}"#, "a".repeat(2 * 1024 * 1024)),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "limit",
        ),
        // Bad paths.
        (
            raw(Method::GET, "/api/v1/dags/a%20b", None, ""),
            StatusCode::BAD_REQUEST,
            "DAG id",
        ),
        (
            raw(Method::GET, "/api/v1/dags/%FF", None, ""),
            StatusCode::BAD_REQUEST,
            "path",
        ),
        (
            raw(
                Method::GET,
                &format!("/api/v1/dags/{}", "x".repeat(300)),
                None,
                "",
            ),
            StatusCode::BAD_REQUEST,
            "250",
        ),
        (
            raw(Method::GET, "/api/v1/dags/hello/dagRuns/a%2Fb", None, ""),
            StatusCode::BAD_REQUEST,
            "DAG run id",
        ),
        (
            raw(
                Method::GET,
                "/api/v1/dags/hello/dagRuns/r/taskInstances/start/logs/x",
                None,
                "",
            ),
            StatusCode::BAD_REQUEST,
            "task_try_number",
        ),
        (
            raw(
                Method::GET,
                "/api/v1/dags/hello/dagRuns/r/taskInstances/start/logs/99999999999",
                None,
                "",
            ),
            StatusCode::BAD_REQUEST,
            "task_try_number",
        ),
        (
            raw(Method::POST, "/api/v1/dags/~/dagRuns", JSON, "{}"),
            StatusCode::BAD_REQUEST,
            "DAG id",
        ),
        // Bad query strings.
        (
            raw(Method::GET, "/api/v1/dags?limit=-5", None, ""),
            StatusCode::BAD_REQUEST,
            "positive",
        ),
        (
            raw(Method::GET, "/api/v1/dags?limit=abc", None, ""),
            StatusCode::BAD_REQUEST,
            "`limit`",
        ),
        (
            raw(Method::GET, "/api/v1/dags?offset=-1", None, ""),
            StatusCode::BAD_REQUEST,
            "offset",
        ),
        (
            raw(
                Method::GET,
                "/api/v1/dags?limit=99999999999999999999",
                None,
                "",
            ),
            StatusCode::BAD_REQUEST,
            "`limit`",
        ),
        (
            raw(Method::GET, "/api/v1/dags?paused=maybe", None, ""),
            StatusCode::BAD_REQUEST,
            "`paused`",
        ),
        (
            raw(Method::GET, "/api/v1/variables?offset=x", None, ""),
            StatusCode::BAD_REQUEST,
            "`offset`",
        ),
        (
            raw(Method::GET, "/api/v1/pools?limit=-2", None, ""),
            StatusCode::BAD_REQUEST,
            "positive",
        ),
        (
            raw(Method::GET, "/api/v1/importErrors?limit=-2", None, ""),
            StatusCode::BAD_REQUEST,
            "positive",
        ),
        (
            raw(
                Method::GET,
                &format!("{runs}?execution_date_gte=yesterday"),
                None,
                "",
            ),
            StatusCode::BAD_REQUEST,
            "execution_date_gte",
        ),
        (
            raw(
                Method::GET,
                "/api/v1/dags/hello/dagRuns/r/taskInstances?state=bogus",
                None,
                "",
            ),
            StatusCode::BAD_REQUEST,
            "bogus",
        ),
        (
            raw(
                Method::GET,
                "/api/v1/dags/hello/dagRuns/r/taskInstances/start/xcomEntries?map_index=x",
                None,
                "",
            ),
            StatusCode::BAD_REQUEST,
            "map_index",
        ),
        (
            raw(
                Method::GET,
                "/api/v1/dags/hello/dagRuns/r/taskInstances/start/logs/1?map_index=99999999999",
                None,
                "",
            ),
            StatusCode::BAD_REQUEST,
            "map_index",
        ),
    ];
    for (req, expected, needle) in cases {
        let what = format!("{} {}", req.method(), req.uri());
        let (status, body) = t.send(req).await;
        assert_eq!(status, expected, "{what}: {body}");
        assert!(status.is_client_error(), "{what}");
        assert_eq!(body["status"], status.as_u16(), "{what}: {body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(needle), "{what}: `{needle}` not in {body}");
        assert!(matches!(body["title"], Value::String(_)), "{what}: {body}");
    }
}
