//! Single sign-on end to end through the HTTP API: a real engine and router whose
//! `weir.toml` has an `[auth.oidc]` block, an identity provider played by the test (an axum
//! server with a discovery document and a JWKS), and tokens really signed with ES256.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tempfile::TempDir;
use tower::ServiceExt;
use weir_core::platform::PlatformConfig;
use weir_engine::{Engine, EngineConfig};
use weir_server::{ApiConfig, AppState, HashCost, router};
use weir_store::Store;

mod sso_support;
use sso_support::{SigningKey, local_admin};

const FAILED_LOGINS: &str = "/api/v1/auditEvents?action=login&outcome=failed";
const HELLO: &str = "dag: hello\nteam: data\npaused: false\ntasks:\n  start:\n    noop: {}\n";
const LEDGER: &str = "dag: ledger\nteam: finance\npaused: false\ntasks:\n  start:\n    noop: {}\n";

/// Serves discovery and a JWKS holding `key`; returns the issuer URL.
async fn provider(key: &SigningKey) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks.json")});
    let jwks = json!({"keys": [key.jwk]});
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(|| async { Json(discovery) }),
        )
        .route("/jwks.json", get(|| async { Json(jwks) }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    issuer
}

/// Claims of a good ten-minute token from `issuer` for `user` in `groups`.
fn claims(issuer: &str, user: &str, groups: &[&str]) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": issuer, "aud": "weir", "sub": format!("id-{user}"),
        "preferred_username": user, "groups": groups, "iat": now, "exp": now + 600})
}

struct App {
    app: Router,
    /// A local platform admin's API token.
    admin: String,
    _engine: Engine,
    _dir: TempDir,
}

impl App {
    /// An engine trusting `issuer`, with DAGs `hello` (team data) and `ledger` (finance).
    async fn start(issuer: &str) -> App {
        Self::start_with(issuer, "").await
    }

    /// The same, with `extra` lines in `[auth.oidc]`.
    async fn start_with(issuer: &str, extra: &str) -> App {
        let toml = format!(
            "[[teams]]\nname = \"data\"\n\n[[teams]]\nname = \"finance\"\n\n\
             [auth.oidc]\nissuer = \"{issuer}\"\naudience = [\"weir\"]\n{extra}\n\
             [[auth.oidc.role_mappings]]\nvalue = \"data-engineers\"\nteam = \"data\"\n\
             role = \"operator\"\n\n[[auth.oidc.role_mappings]]\nvalue = \"platform-team\"\n\
             role = \"platform_admin\"\n"
        );
        let report = weir_core::platform::parse(&toml);
        assert!(
            !report.has_errors(),
            "{}",
            report.render("weir.toml", &toml)
        );
        let dir = tempfile::tempdir().unwrap();
        let dags = dir.path().join("dags");
        std::fs::create_dir_all(&dags).unwrap();
        for (name, text) in [("hello.yaml", HELLO), ("ledger.yaml", LEDGER)] {
            std::fs::write(dags.join(name), text).unwrap();
        }
        let store = Store::open(dir.path().join("weir.db").to_str().unwrap())
            .await
            .unwrap();
        let platform = std::sync::Arc::new(
            report
                .config
                .expect("valid test platform")
                .or_defaults(PlatformConfig::standalone_default(4.0, 8 << 30, false)),
        );
        let mut config = EngineConfig::new(
            dir.path().join("home"),
            vec!["/bin/false".into()],
            platform.clone(),
        );
        config.dags_folder = Some(dags);
        config.run_schedules = false;
        let engine = Engine::start(config, store).await.unwrap();
        let handle = engine.handle();
        let admin = local_admin(handle.store()).await;
        let api_config = ApiConfig {
            password_cost: HashCost::FAST_FOR_TESTS,
            ..ApiConfig::default()
        };
        let app = router(AppState::with_config(handle, api_config, platform));
        App {
            app,
            admin,
            _engine: engine,
            _dir: dir,
        }
    }

    /// Sends a request with `Authorization: Bearer <token>`; returns status and JSON body.
    async fn call(&self, token: &str, method: Method, uri: &str) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        let body = if method == Method::POST {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from("{}")
        } else {
            Body::empty()
        };
        let response = self
            .app
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Sends `body` as JSON with `Authorization: Bearer <token>`.
    async fn send_json(
        &self,
        token: &str,
        method: Method,
        uri: &str,
        body: &Value,
    ) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(body).unwrap()))
            .unwrap();
        let response = self.app.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn get(&self, token: &str, uri: &str) -> (StatusCode, Value) {
        self.call(token, Method::GET, uri).await
    }

    async fn trigger(&self, token: &str, dag: &str) -> (StatusCode, Value) {
        self.call(token, Method::POST, &format!("/api/v1/dags/{dag}/dagRuns"))
            .await
    }
}

fn assert_unauthorized(status: StatusCode, body: &Value, why: &str) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(
        (&body["status"], &body["title"]),
        (&json!(401), &json!("Unauthorized")),
        "{body}"
    );
    assert!(detail(body).contains(why), "{why:?} not in {body}");
}

fn detail(body: &Value) -> &str {
    body["detail"].as_str().unwrap()
}

#[tokio::test]
async fn groups_give_roles_at_each_sign_in() {
    let key = SigningKey::new("k1");
    let issuer = provider(&key).await;
    let app = App::start(&issuer).await;

    // 1. An operator of `data` through the `data-engineers` group.
    let sam = key.sign(&claims(&issuer, "sam", &["data-engineers"]));
    let (status, me) = app.get(&sam, "/api/v1/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        me,
        json!({"username": "sam", "kind": "sso_user", "platform_admin": false,
        "teams": [{"team": "data", "role": "operator"}]})
    );
    let (status, run) = app.trigger(&sam, "hello").await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["dag_id"], "hello", "{run}");
    let (status, body) = app.trigger(&sam, "ledger").await;
    assert_eq!(
        (status, &body["title"]),
        (StatusCode::FORBIDDEN, &json!("Forbidden")),
        "{body}"
    );
    assert!(detail(&body).contains("team `finance`"), "{body}");
    let (status, body) = app.get(&sam, "/api/v1/config").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // 2. Removed from the group: the next sign-in drops the role.
    let sam_later = key.sign(&claims(&issuer, "sam", &[]));
    let (status, me) = app.get(&sam_later, "/api/v1/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        (&me["username"], &me["teams"]),
        (&json!("sam"), &json!([])),
        "{me}"
    );
    let (status, body) = app.trigger(&sam_later, "hello").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Roles are read from the store per request, so the earlier token lost it too.
    let (status, body) = app.trigger(&sam, "hello").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // 3. The `platform-team` group makes a platform admin.
    let pat = key.sign(&claims(&issuer, "pat", &["platform-team"]));
    let (status, me) = app.get(&pat, "/api/v1/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        (&me["platform_admin"], &me["kind"]),
        (&json!(true), &json!("sso_user")),
        "{me}"
    );
    let (status, body) = app.get(&pat, "/api/v1/config").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.trigger(&pat, "ledger").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn bad_tokens_are_refused_and_audited() {
    let key = SigningKey::new("k1");
    let issuer = provider(&key).await;
    let app = App::start(&issuer).await;
    let good = claims(&issuer, "sam", &["data-engineers"]);
    let with = |name: &str, value: Value| {
        let mut c = good.clone();
        c[name] = value;
        key.sign(&c)
    };
    let tampered = {
        let token = key.sign(&good);
        let parts: Vec<&str> = token.split('.').collect();
        let mut forged = good.clone();
        forged["groups"] = json!(["platform-team"]);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        format!("{}.{payload}.{}", parts[0], parts[2])
    };
    let cases = [
        (
            "expired",
            with("exp", json!(chrono::Utc::now().timestamp() - 600)),
            "expired",
        ),
        (
            "wrong issuer",
            with("iss", json!("https://evil.example")),
            "issued by `https://evil.example`",
        ),
        (
            "wrong audience",
            with("aud", json!("other-app")),
            "not this server",
        ),
        ("tampered", tampered, "signature does not verify"),
        (
            "unknown key",
            SigningKey::new("rogue").sign(&good),
            "key `rogue`",
        ),
    ];
    for (case, token, why) in &cases {
        let (status, body) = app.get(token, "/api/v1/me").await;
        assert_unauthorized(status, &body, why);
        assert!(
            !detail(&body).contains(token.as_str()),
            "{case}: leaks the token"
        );
    }

    let (status, page) = app.get(&app.admin, FAILED_LOGINS).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let events = page["audit_events"].as_array().unwrap();
    assert_eq!(events.len(), cases.len(), "{page}");
    for (_, _, why) in &cases {
        let event = events
            .iter()
            .find(|e| e["details"]["reason"].as_str().unwrap().contains(why))
            .unwrap_or_else(|| panic!("no failed login for {why:?}: {page}"));
        assert_eq!(
            (&event["action"], &event["outcome"]),
            (&json!("login"), &json!("failed"))
        );
        assert_eq!(event["details"]["method"], "sso", "{event}");
    }
    // None of them signed anybody in.
    let (status, users) = app.get(&app.admin, "/api/v1/users").await;
    assert_eq!(status, StatusCode::OK, "{users}");
    assert!(!users.to_string().contains("\"sam\""), "{users}");
}

#[tokio::test]
async fn unreachable_provider_is_503() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let issuer = format!("http://{closed}");
    let app = App::start(&issuer).await;
    let token = SigningKey::new("k1").sign(&claims(&issuer, "sam", &["data-engineers"]));
    let (status, body) = app.get(&token, "/api/v1/me").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["title"], "Service Unavailable", "{body}");
    assert!(detail(&body).contains("openid-configuration"), "{body}");
    // The provider's outage is not the token's fault: no failed sign-in recorded.
    let (_, page) = app.get(&app.admin, FAILED_LOGINS).await;
    assert_eq!(page["total_entries"], 0, "{page}");
}

#[tokio::test]
async fn bearer_that_is_neither_jwt_nor_api_token_is_401() {
    let key = SigningKey::new("k1");
    let issuer = provider(&key).await;
    let app = App::start(&issuer).await;
    for token in ["not-a-jwt", "a.b.c"] {
        let (status, body) = app.get(token, "/api/v1/me").await;
        assert_unauthorized(status, &body, "neither a Weir API token");
    }
}

#[tokio::test]
async fn an_sso_users_api_token_lives_by_their_sso_sign_ins() {
    let key = SigningKey::new("k1");
    let issuer = provider(&key).await;
    let window = std::time::Duration::from_secs(5);
    let app = App::start_with(&issuer, "token_revalidate_after = \"5s\"").await;

    // sam, an operator of `data` through the `data-engineers` group, makes an API token
    // with their SSO token.
    let sam = key.sign(&claims(&issuer, "sam", &["data-engineers"]));
    let (status, made) = app
        .send_json(
            &sam,
            Method::POST,
            "/api/v1/tokens",
            &json!({"name": "cli"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let token = made["token"].as_str().unwrap().to_string();
    let (status, me) = app.get(&token, "/api/v1/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        me["teams"],
        json!([{"team": "data", "role": "operator"}]),
        "{me}"
    );
    let (status, run) = app.trigger(&token, "hello").await;
    assert_eq!(status, StatusCode::OK, "{run}");

    // Removed from the group: the next sign-in replaces the memberships, and the API
    // token's roles are the user's memberships of now.
    let removed = key.sign(&claims(&issuer, "sam", &[]));
    let (status, me) = app.get(&removed, "/api/v1/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    let (status, me) = app.get(&token, "/api/v1/me").await;
    assert_eq!((status, &me["teams"]), (StatusCode::OK, &json!([])), "{me}");
    let (status, body) = app.trigger(&token, "hello").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // Without a single sign-on for longer than the window, the memberships are no longer
    // confirmed by the identity provider: the token is refused.
    let started = std::time::Instant::now();
    let refused = loop {
        let (status, body) = app.get(&token, "/api/v1/me").await;
        if status != StatusCode::OK {
            break (status, body);
        }
        assert!(
            started.elapsed() < window * 4,
            "the token still works {:?} after the last sign-in",
            started.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(started.elapsed() + std::time::Duration::from_millis(200) >= window / 2);
    assert_unauthorized(
        refused.0,
        &refused.1,
        "sign in again through single sign-on",
    );

    // A new sign-in brings it back, with the roles the identity provider gives now.
    let mut again = claims(&issuer, "sam", &["data-engineers"]);
    again["jti"] = json!("second sign-in");
    let (status, me) = app.get(&key.sign(&again), "/api/v1/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    let (status, me) = app.get(&token, "/api/v1/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        me["teams"],
        json!([{"team": "data", "role": "operator"}]),
        "{me}"
    );
}
