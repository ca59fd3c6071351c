//! Credentials and their limits (issue 17, finding 4): failed sign-ins count against the
//! credential that failed, token lifetimes are capped, changing your own password needs
//! the current one, unknown users cost as much as known ones, the audit trail keeps only
//! known-safe fields, and HEAD works like GET.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed case

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine as _;
use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};
use weir_server::{ApiConfig, HashCost, LoginLimits};
use weir_store::{NewToken, NewUser};

use super::support::{TestApp, create_user};

/// A request with this `Authorization` header (and a JSON body if any).
fn request(auth: &str, method: Method, uri: &str, body: Option<&Value>) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, auth);
    let body = match body {
        Some(v) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(serde_json::to_vec(v).unwrap())
        }
        None => Body::empty(),
    };
    req.body(body).unwrap()
}

async fn call(
    t: &TestApp,
    auth: &str,
    method: Method,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (status, _, bytes) = t
        .send_unauthenticated(request(auth, method, uri, body.as_ref()))
        .await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// A well-formed Weir token that no one was given.
fn stranger_token() -> String {
    weir_server::auth::api_tokens::generate().unwrap().0
}

#[tokio::test]
async fn a_strangers_bad_tokens_never_lock_out_valid_credentials_from_the_same_address() {
    let t = TestApp::start().await;
    let ann = create_user(t.store(), "ann", false).await;
    // 40 bad tokens from one address (every request here comes from the same one): the
    // old per-address limit (30 a minute) locked everyone out after them.
    for _ in 0..40 {
        let (s, body) = call(
            &t,
            &bearer(&stranger_token()),
            Method::GET,
            "/api/v1/me",
            None,
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    }
    let (s, me) = call(&t, &bearer(&ann), Method::GET, "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::OK, "a valid token was refused: {me}");
    assert_eq!(me["username"], "ann");
    let (s, me) = call(
        &t,
        &basic("ann", "password-of-ann"),
        Method::GET,
        "/api/v1/me",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "a valid password was refused: {me}");

    // One bad token replayed is what gets blocked.
    let replayed = stranger_token();
    for _ in 0..5 {
        let (s, _) = call(&t, &bearer(&replayed), Method::GET, "/api/v1/me", None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, body) = call(&t, &bearer(&replayed), Method::GET, "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("this token"),
        "{body}"
    );
    let (s, _) = call(&t, &bearer(&ann), Method::GET, "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::OK);

    // Every failure was still audited.
    let (s, page) = t
        .get("/api/v1/auditEvents?action=login&outcome=failed&limit=1")
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["total_entries"], 45, "{page}");
}

#[tokio::test]
async fn a_flood_from_one_address_is_refused_past_the_generous_address_limit() {
    let limits = LoginLimits {
        per_address: 20,
        ..LoginLimits::default()
    };
    let config = ApiConfig {
        password_cost: HashCost::FAST_FOR_TESTS,
        login_limits: limits,
        ..ApiConfig::default()
    };
    let t = TestApp::start_with(None, config).await;
    let ann = create_user(t.store(), "ann", false).await;
    for _ in 0..20 {
        let (s, _) = call(
            &t,
            &bearer(&stranger_token()),
            Method::GET,
            "/api/v1/me",
            None,
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, body) = call(&t, &bearer(&ann), Method::GET, "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("too many failed sign-ins from this address (more than 20 in 60 s"),
        "{body}"
    );
}

/// Creates a token for `user` that expires in `days`, in the store; returns it.
async fn token_expiring_in(t: &TestApp, user: &str, id: &str, days: i64) -> String {
    let (token, digest) = weir_server::auth::api_tokens::generate().unwrap();
    t.store()
        .create_token(&NewToken {
            id,
            name: id,
            token_hash: &digest,
            username: Some(user),
            team: None,
            role: None,
            created_by: "tests",
            expires_at: Some(Utc::now() + TimeDelta::days(days)),
        })
        .await
        .unwrap();
    token
}

fn expires_in_days(token: &Value) -> f64 {
    let at: chrono::DateTime<Utc> = token["token_info"]["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    (at - Utc::now()).as_seconds_f64() / 86_400.0
}

#[tokio::test]
async fn token_lifetimes_are_capped_and_never_expiring_tokens_are_platform_admins_service_tokens() {
    let t = TestApp::start().await;
    let dan = create_user(t.store(), "dan", false).await;
    t.store()
        .set_membership("data", "dan", "admin")
        .await
        .unwrap();
    let tokens = "/api/v1/tokens";

    // A user, even a team admin, cannot make a token that never expires, nor one past
    // the maximum.
    for body in [
        json!({"name": "forever", "expires_in_days": null}),
        json!({"name": "forever", "expires_in_days": null, "team": "data", "role": "viewer"}),
    ] {
        let (s, b) = call(&t, &bearer(&dan), Method::POST, tokens, Some(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        assert!(
            b["detail"]
                .as_str()
                .unwrap()
                .contains("only for service tokens made by platform admins"),
            "{b}"
        );
    }
    let (s, b) = call(
        &t,
        &bearer(&dan),
        Method::POST,
        tokens,
        Some(json!({"name": "long", "expires_in_days": 366})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(b["detail"].as_str().unwrap().contains("1 to 365"), "{b}");

    // Left out: 90 days.
    let (s, b) = call(
        &t,
        &bearer(&dan),
        Method::POST,
        tokens,
        Some(json!({"name": "d"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert!((89.9..=90.0).contains(&expires_in_days(&b)), "{b}");

    // A token never outlives the token that made it.
    let short = token_expiring_in(&t, "dan", "short-of-dan", 5).await;
    let (s, b) = call(
        &t,
        &bearer(&short),
        Method::POST,
        tokens,
        Some(json!({"name": "longer", "expires_in_days": 30})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(
        b["detail"]
            .as_str()
            .unwrap()
            .contains("may not outlive the token you signed in with"),
        "{b}"
    );
    for body in [
        json!({"name": "defaulted"}),
        json!({"name": "svc", "team": "data", "role": "viewer"}),
    ] {
        let (s, b) = call(&t, &bearer(&short), Method::POST, tokens, Some(body)).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        assert!(expires_in_days(&b) <= 5.0, "{b}");
    }

    // A platform admin's own token expires too; their service tokens may not, and that
    // creation says so in the audit trail.
    let (s, b) = call(
        &t,
        &bearer(&t.admin_token),
        Method::POST,
        tokens,
        Some(json!({"name": "mine", "expires_in_days": null})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, b) = call(
        &t,
        &bearer(&t.admin_token),
        Method::POST,
        tokens,
        Some(
            json!({"name": "deploy", "expires_in_days": null, "team": "data", "role": "operator"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["token_info"]["expires_at"], Value::Null, "{b}");
    let (s, page) = t
        .get("/api/v1/auditEvents?action=token.create&outcome=success")
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let event = page["audit_events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["details"]["after"]["name"] == "deploy")
        .unwrap_or_else(|| panic!("no audit event for the token: {page}"));
    assert_eq!(event["actor"], "admin", "{event}");
    assert_eq!(event["details"]["after"]["never_expires"], true, "{event}");
    assert_eq!(event["details"]["request"]["expires_in_days"], Value::Null);
}

#[tokio::test]
async fn changing_your_own_password_needs_the_current_one() {
    let t = TestApp::start().await;
    let dora = create_user(t.store(), "dora", false).await;
    let uri = "/api/v1/users/dora/password";

    // A stolen token alone cannot take the account over.
    let (s, b) = call(
        &t,
        &bearer(&dora),
        Method::POST,
        uri,
        Some(json!({"password": "taken over!"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(
        b["detail"].as_str().unwrap().contains("current_password"),
        "{b}"
    );
    let (s, b) = call(
        &t,
        &bearer(&dora),
        Method::POST,
        uri,
        Some(json!({"password": "taken over!", "current_password": "a guess"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(
        b["detail"]
            .as_str()
            .unwrap()
            .contains("not your current password"),
        "{b}"
    );
    let (s, _) = call(
        &t,
        &basic("dora", "taken over!"),
        Method::GET,
        "/api/v1/me",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // With it, the change is made.
    let (s, b) = call(
        &t,
        &bearer(&dora),
        Method::POST,
        uri,
        Some(json!({"password": "dora's new one", "current_password": "password-of-dora"})),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (s, _) = call(
        &t,
        &basic("dora", "dora's new one"),
        Method::GET,
        "/api/v1/me",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    // A platform admin resets someone else's without it.
    let (s, b) = call(
        &t,
        &bearer(&t.admin_token),
        Method::POST,
        uri,
        Some(json!({"password": "reset by admin"})),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (s, _) = call(
        &t,
        &basic("dora", "reset by admin"),
        Method::GET,
        "/api/v1/me",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    // Guessing the current password is limited like guessing it at sign-in.
    for _ in 0..5 {
        let (s, _) = call(
            &t,
            &bearer(&dora),
            Method::POST,
            uri,
            Some(json!({"password": "taken over!", "current_password": "another guess"})),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    }
    let (s, b) = call(
        &t,
        &bearer(&dora),
        Method::POST,
        uri,
        Some(json!({"password": "taken over!", "current_password": "reset by admin"})),
    )
    .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{b}");
}

#[tokio::test]
async fn unknown_users_take_as_long_to_refuse_as_known_ones() {
    // A cost high enough that argon2, not the database, is most of a refusal's time.
    let cost = HashCost {
        memory_kib: 16 * 1024,
        iterations: 2,
    };
    let config = ApiConfig {
        password_cost: cost,
        ..ApiConfig::default()
    };
    let t = TestApp::start_with(None, config).await;
    const TRIES: usize = 4;
    let known: Vec<String> = (0..TRIES).map(|i| format!("known{i}")).collect();
    let hash = weir_server::auth::password::hash("the real password", cost).unwrap();
    for name in &known {
        t.store()
            .create_user(&NewUser {
                username: name,
                password_hash: Some(&hash),
                email: None,
                source: "local",
                platform_admin: false,
            })
            .await
            .unwrap();
    }
    // Each name is tried fewer times than the per-user limit (5), interleaved, so that
    // a burst of noise on the machine hits both kinds alike.
    let mut known_times = Vec::new();
    let mut unknown_times = Vec::new();
    for round in 0..TRIES {
        for (i, name) in known.iter().enumerate() {
            for (user, times) in [
                (name.clone(), &mut known_times),
                (format!("nobody{round}-{i}"), &mut unknown_times),
            ] {
                let started = Instant::now();
                let (s, _) = call(
                    &t,
                    &basic(&user, "a wrong password"),
                    Method::GET,
                    "/api/v1/me",
                    None,
                )
                .await;
                times.push(started.elapsed());
                assert_eq!(s, StatusCode::UNAUTHORIZED, "{user}");
            }
        }
    }
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let (known, unknown) = (median(&mut known_times), median(&mut unknown_times));
    assert!(
        unknown.as_secs_f64() >= 0.5 * known.as_secs_f64(),
        "an unknown user is refused in {unknown:?}, a known one in {known:?}"
    );
}

#[tokio::test]
async fn the_audit_trail_keeps_only_known_safe_fields() {
    let t = TestApp::start().await;
    let secrets = [
        ("pass", "pass-hunter2"),
        ("passwd", "passwd-hunter2"),
        ("secret_key", "secret-key-hunter2"),
        ("private", "private-hunter2"),
    ];
    let mut connection = json!({"connection_id": "warehouse", "conn_type": "postgres",
        "host": "db.internal", "password": "password-hunter2", "team": "data"});
    let mut variable = json!({"key": "dsn", "value": "value-hunter2", "team": "data"});
    for (field, value) in secrets {
        connection[field] = json!(value);
        variable[field] = json!(value);
    }
    // Unknown fields make these 400s; the audit event still records the request.
    let (s, b) = t
        .call(Method::POST, "/api/v1/connections", Some(connection))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, b) = t
        .call(Method::POST, "/api/v1/variables", Some(variable))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");

    let (s, page) = t.get("/api/v1/auditEvents?limit=1000").await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let trail = page.to_string();
    for value in [
        "password-hunter2",
        "value-hunter2",
        "pass-hunter2",
        "passwd-hunter2",
        "secret-key-hunter2",
        "private-hunter2",
    ] {
        assert!(!trail.contains(value), "`{value}` is in the audit trail");
    }
    let events = page["audit_events"].as_array().unwrap();
    let created = events
        .iter()
        .find(|e| e["action"] == "connection.create")
        .unwrap();
    let request = &created["details"]["request"];
    assert_eq!(request["host"], "db.internal", "{created}");
    assert_eq!(request["connection_id"], "warehouse", "{created}");
    assert_eq!(request["pass"], "<redacted>", "{created}");
    assert_eq!(request["secret_key"], "<redacted>", "{created}");
    let variable = events
        .iter()
        .find(|e| e["action"] == "variable.create")
        .unwrap();
    assert_eq!(variable["details"]["request"]["key"], "dsn", "{variable}");
    assert_eq!(variable["details"]["request"]["passwd"], "<redacted>");
}

/// A `MakeWriter` that keeps what is logged.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test]
async fn head_is_get_without_a_body() {
    let t = TestApp::start().await;
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .finish();
    // The test runs on one thread, and so does the router under `oneshot`.
    let _guard = tracing::subscriber::set_default(subscriber);
    for uri in [
        "/health",
        "/api/v1/health",
        "/api/v1/dags",
        "/api/v1/variables",
        "/api/v1/dags/hello",
    ] {
        let get = Request::builder().uri(uri).body(Body::empty()).unwrap();
        let (get_status, _, get_body) = t.send_raw(get).await;
        let head = Request::builder()
            .method(Method::HEAD)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = t.send_raw(head).await;
        assert_eq!(status, get_status, "HEAD {uri}");
        assert_eq!(status, StatusCode::OK, "HEAD {uri}");
        assert!(!get_body.is_empty(), "GET {uri}");
        assert!(body.is_empty(), "HEAD {uri} has a body");
    }
    // HEAD without credentials is refused like GET.
    let head = Request::builder()
        .method(Method::HEAD)
        .uri("/api/v1/dags")
        .body(Body::empty())
        .unwrap();
    let (status, _, _) = t.send_unauthenticated(head).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(!logged.contains("ERROR"), "{logged}");
}
