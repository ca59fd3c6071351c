//! Single sign-on to the web UI, end to end: a Weir server on a real port (engine, store,
//! router, `[auth.oidc]` with a `client_id`), a browser played by a reqwest client that
//! keeps cookies and follows redirects one at a time, and an identity provider played by
//! the test.
//!
//! The provider is a faithful fake of the provider's authorization-code flow (OpenID
//! Connect Core §3.1 with PKCE, RFC 7636). It serves a discovery document, a JWKS, and:
//! - an authorization endpoint that checks `response_type=code`, the `client_id`, a
//!   `redirect_uri`, a `scope` holding `openid`, a `state`, a `nonce`, and a PKCE
//!   `code_challenge` (43 base64url characters) with `code_challenge_method=S256`; then
//!   redirects back to the `redirect_uri` with a one-time code and the `state` (or with
//!   `error=access_denied` when told to refuse);
//! - a token endpoint that checks `grant_type=authorization_code`, that the code is one it
//!   issued and not used before, that `client_id` and `redirect_uri` are those of the
//!   authorization request, that a confidential client sent its secret (and a public one
//!   none), and that BASE64URL(SHA256(`code_verifier`)) is the challenge;
//!   then returns an ID token signed with ES256 (a key in its JWKS) for the user it was
//!   told to sign in, carrying the `nonce` of the authorization request (or another one,
//!   when told to).
//!
//! A check the fake fails answers 400 and is recorded; every test asserts none failed.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use weir_core::platform::PlatformConfig;
use weir_engine::{Engine, EngineConfig};
use weir_server::{ApiConfig, AppState, HashCost};
use weir_store::Store;

mod sso_support;
use sso_support::{SigningKey, local_admin};

const CLIENT_ID: &str = "weir-ui";
const HELLO: &str = "dag: hello\nteam: data\npaused: false\ntasks:\n  start:\n    noop: {}\n";

// ---------------------------------------------------------------- the identity provider

/// What the provider does at the next authorization request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Sign the user in; the ID token carries the request's nonce.
    SignIn,
    /// Sign the user in, but put another nonce in the ID token.
    WrongNonce,
    /// Refuse: `error=access_denied`.
    Deny,
}

/// An authorization code issued and not yet redeemed.
struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: String,
    user: String,
    groups: Vec<String>,
}

#[derive(Clone)]
struct Provider(Arc<ProviderInner>);

struct ProviderInner {
    issuer: String,
    key: SigningKey,
    mode: Mutex<Mode>,
    /// Who the next sign-in is, and their groups.
    user: Mutex<(String, Vec<String>)>,
    codes: Mutex<HashMap<String, Grant>>,
    issued: AtomicUsize,
    token_requests: AtomicUsize,
    /// The client secret a confidential client must send; none: a public client, which
    /// must send none.
    secret: Mutex<Option<String>>,
    /// Checks that failed (the fake answered 400).
    problems: Mutex<Vec<String>>,
}

impl Provider {
    async fn start() -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let provider = Provider(Arc::new(ProviderInner {
            issuer,
            key: SigningKey::new("k1"),
            mode: Mutex::new(Mode::SignIn),
            user: Mutex::new(("nobody".into(), Vec::new())),
            codes: Mutex::default(),
            issued: AtomicUsize::new(0),
            token_requests: AtomicUsize::new(0),
            secret: Mutex::default(),
            problems: Mutex::default(),
        }));
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks.json", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(provider.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        provider
    }

    fn issuer(&self) -> &str {
        &self.0.issuer
    }

    fn next_sign_in(&self, user: &str, groups: &[&str], mode: Mode) {
        *self.0.user.lock().unwrap() =
            (user.into(), groups.iter().map(|g| g.to_string()).collect());
        *self.0.mode.lock().unwrap() = mode;
    }

    fn token_requests(&self) -> usize {
        self.0.token_requests.load(Ordering::SeqCst)
    }

    fn assert_no_problems(&self) {
        let problems = self.0.problems.lock().unwrap();
        assert!(
            problems.is_empty(),
            "the provider's checks failed: {problems:?}"
        );
    }

    /// Records a failed check and answers it as OAuth does.
    fn problem(&self, what: String) -> Response {
        self.0.problems.lock().unwrap().push(what.clone());
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request", "error_description": what})),
        )
            .into_response()
    }
}

async fn discovery(State(p): State<Provider>) -> Json<Value> {
    let issuer = p.issuer();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks.json"),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_post"],
    }))
}

async fn jwks(State(p): State<Provider>) -> Json<Value> {
    Json(json!({"keys": [p.0.key.jwk]}))
}

async fn authorize(
    State(p): State<Provider>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let param = |name: &str| q.get(name).cloned().unwrap_or_default();
    if param("response_type") != "code" {
        return p.problem(format!("response_type is {:?}", param("response_type")));
    }
    if param("client_id") != CLIENT_ID {
        return p.problem(format!("client_id is {:?}", param("client_id")));
    }
    if !param("scope").split(' ').any(|s| s == "openid") {
        return p.problem(format!("scope {:?} lacks openid", param("scope")));
    }
    if param("code_challenge_method") != "S256" {
        return p.problem(format!(
            "code_challenge_method is {:?}",
            param("code_challenge_method")
        ));
    }
    let challenge = param("code_challenge");
    if challenge.len() != 43 || URL_SAFE_NO_PAD.decode(&challenge).is_err() {
        return p.problem(format!("code_challenge {challenge:?} is not a SHA-256"));
    }
    let (state, nonce, redirect_uri) = (param("state"), param("nonce"), param("redirect_uri"));
    if state.is_empty() || nonce.is_empty() || !redirect_uri.starts_with("http") {
        return p.problem(format!(
            "state {state:?}, nonce {nonce:?} or redirect_uri {redirect_uri:?} missing"
        ));
    }
    let mut back = reqwest::Url::parse(&redirect_uri).unwrap();
    if *p.0.mode.lock().unwrap() == Mode::Deny {
        back.query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("error_description", "The user is not assigned to Weir")
            .append_pair("state", &state);
    } else {
        let n = p.0.issued.fetch_add(1, Ordering::SeqCst);
        let code = format!("code-{n}");
        let (user, groups) = p.0.user.lock().unwrap().clone();
        p.0.codes.lock().unwrap().insert(
            code.clone(),
            Grant {
                client_id: param("client_id"),
                redirect_uri: redirect_uri.clone(),
                challenge,
                nonce,
                user,
                groups,
            },
        );
        back.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &state);
    }
    (StatusCode::FOUND, [(header::LOCATION, back.to_string())]).into_response()
}

async fn token(State(p): State<Provider>, Form(f): Form<HashMap<String, String>>) -> Response {
    p.0.token_requests.fetch_add(1, Ordering::SeqCst);
    let field = |name: &str| f.get(name).cloned().unwrap_or_default();
    if field("grant_type") != "authorization_code" {
        return p.problem(format!("grant_type is {:?}", field("grant_type")));
    }
    // One-time: a code is forgotten at its first use.
    let Some(grant) = p.0.codes.lock().unwrap().remove(&field("code")) else {
        return p.problem(format!("code {:?} unknown or used", field("code")));
    };
    if field("client_id") != grant.client_id {
        return p.problem(format!(
            "client_id {:?} is not the code's",
            field("client_id")
        ));
    }
    if field("redirect_uri") != grant.redirect_uri {
        return p.problem(format!(
            "redirect_uri {:?} is not the authorization request's {:?}",
            field("redirect_uri"),
            grant.redirect_uri
        ));
    }
    let expected_secret = p.0.secret.lock().unwrap().clone();
    if f.get("client_secret") != expected_secret.as_ref() {
        return p.problem(format!(
            "client_secret {} (expected {})",
            if f.contains_key("client_secret") {
                "sent"
            } else {
                "not sent"
            },
            if expected_secret.is_some() {
                "one"
            } else {
                "none"
            },
        ));
    }
    let verifier = field("code_verifier");
    if !(43..=128).contains(&verifier.len()) {
        return p.problem(format!("code_verifier {verifier:?} has a bad length"));
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if computed != grant.challenge {
        return p.problem("code_verifier does not match the code_challenge".into());
    }
    let nonce = if *p.0.mode.lock().unwrap() == Mode::WrongNonce {
        "a-nonce-of-another-sign-in".to_string()
    } else {
        grant.nonce
    };
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": p.issuer(), "aud": CLIENT_ID, "azp": CLIENT_ID,
        "sub": format!("id-{}", grant.user), "preferred_username": grant.user,
        "email": format!("{}@example.com", grant.user), "groups": grant.groups,
        "nonce": nonce, "iat": now, "exp": now + 600,
    });
    Json(json!({
        "access_token": "opaque-access-token",
        "token_type": "Bearer",
        "expires_in": 600,
        "id_token": p.0.key.sign(&claims),
    }))
    .into_response()
}

// ---------------------------------------------------------------- Weir

/// A Weir server listening on a port.
struct Weir {
    url: String,
    admin: String,
    _engine: Engine,
    _dir: TempDir,
}

impl Weir {
    /// A server trusting `issuer` (`[auth.oidc]` plus `extra` lines in it), with team
    /// `data` and the mapping `data-engineers` → operator of `data`.
    async fn start(issuer: &str, extra: &str) -> Weir {
        let toml = format!(
            "[[teams]]\nname = \"data\"\n\n\
             [auth.oidc]\nissuer = \"{issuer}\"\naudience = [\"{CLIENT_ID}\"]\n{extra}\n\
             [[auth.oidc.role_mappings]]\nvalue = \"data-engineers\"\nteam = \"data\"\n\
             role = \"operator\"\n"
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
        std::fs::write(dags.join("hello.yaml"), HELLO).unwrap();
        let store = Store::open(dir.path().join("weir.db").to_str().unwrap())
            .await
            .unwrap();
        let platform = Arc::new(
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
        let state = AppState::with_config(handle, api_config, platform);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(weir_server::serve(
            listener,
            state,
            std::future::pending::<()>(),
        ));
        Weir {
            url,
            admin,
            _engine: engine,
            _dir: dir,
        }
    }

    /// `GET /api/v1/<path>` as the local platform admin.
    async fn api(&self, path: &str) -> (StatusCode, Value) {
        let response = reqwest::Client::new()
            .get(format!("{}/api/v1{path}", self.url))
            .bearer_auth(&self.admin)
            .send()
            .await
            .unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

// ---------------------------------------------------------------- the browser

/// A browser: keeps Weir's cookies (sent only to Weir), follows no redirect by itself.
struct Browser {
    http: reqwest::Client,
    weir: String,
    cookies: Mutex<BTreeMap<String, String>>,
}

/// One response, read whole.
#[derive(Debug)]
struct Page {
    status: u16,
    location: Option<String>,
    set_cookies: Vec<String>,
    body: String,
}

impl Page {
    fn cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(String::as_str)
    }
}

impl Browser {
    fn new(weir: &Weir) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            weir: weir.url.clone(),
            cookies: Mutex::default(),
        }
    }

    /// `GET url` (a path is on Weir).
    async fn get(&self, url: &str) -> Page {
        let url = if url.starts_with('/') {
            format!("{}{url}", self.weir)
        } else {
            url.to_string()
        };
        let mut request = self.http.get(&url);
        if url.starts_with(&self.weir) {
            let jar = self.cookies.lock().unwrap();
            if !jar.is_empty() {
                let header = jar
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                request = request.header(header::COOKIE, header);
            }
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap().to_string());
        let set_cookies: Vec<String> = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|c| c.to_str().unwrap().to_string())
            .collect();
        {
            let mut jar = self.cookies.lock().unwrap();
            for cookie in &set_cookies {
                let pair = cookie.split(';').next().unwrap();
                let (name, value) = pair.split_once('=').unwrap();
                if value.is_empty() || cookie.contains("Max-Age=0") {
                    jar.remove(name);
                } else {
                    jar.insert(name.to_string(), value.to_string());
                }
            }
        }
        let body = response.text().await.unwrap();
        Page {
            status,
            location,
            set_cookies,
            body,
        }
    }

    fn has_cookie(&self, name: &str) -> bool {
        self.cookies.lock().unwrap().contains_key(name)
    }

    /// `GET /login/sso?next=…` and on to the provider: the provider's redirect back to
    /// Weir's callback, not yet followed.
    async fn to_provider_and_back(&self, next: &str) -> String {
        let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
        let start = self.get(&format!("/login/sso?next={next}")).await;
        assert_eq!(start.status, 303, "{}", start.body);
        let pending = start.cookie("weir_sso").expect("the sign-in cookie");
        for attribute in ["HttpOnly", "SameSite=Lax", "Max-Age=600", "Path=/login/sso"] {
            assert!(pending.contains(attribute), "{attribute} not in {pending}");
        }
        assert!(!pending.contains("Secure"), "plain HTTP: {pending}");
        let authorize = start.location.unwrap();
        let at_provider = self.get(&authorize).await;
        assert_eq!(at_provider.status, 302, "{}", at_provider.body);
        let back = at_provider.location.unwrap();
        assert!(
            back.starts_with(&format!("{}/login/sso/callback?", self.weir)),
            "{back}"
        );
        back
    }
}

/// The text of the error page's detail.
fn detail(page: &Page) -> &str {
    let marker = "id=\"error-detail\">";
    let start = page.body.find(marker).expect("an error page") + marker.len();
    let end = start + page.body[start..].find("</p>").unwrap();
    &page.body[start..end]
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn a_mapped_user_signs_in_with_their_team_role() {
    let provider = Provider::start().await;
    let weir = Weir::start(provider.issuer(), &format!("client_id = \"{CLIENT_ID}\"")).await;
    let browser = Browser::new(&weir);

    // The sign-in page offers single sign-on, keeping where the user was going.
    let login = browser.get("/login?next=/queues").await;
    assert_eq!(login.status, 200);
    assert!(
        login
            .body
            .contains("id=\"sso\" href=\"/login/sso?next=%2Fqueues\""),
        "{}",
        login.body
    );

    provider.next_sign_in("sam", &["data-engineers", "unrelated"], Mode::SignIn);
    let back = browser.to_provider_and_back("/").await;
    let signed_in = browser.get(&back).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.location.as_deref(), Some("/"));
    assert!(signed_in.cookie("weir_session").is_some(), "{signed_in:?}");
    let cleared = signed_in.cookie("weir_sso").unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(!browser.has_cookie("weir_sso"));

    let home = browser.get("/").await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(
        home.body.contains("<span id=\"whoami\">sam</span>"),
        "{}",
        home.body
    );

    // The mapping made sam an operator of `data`, as a bearer token would have.
    let (status, user) = weir.api("/users/sam").await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["source"], "sso");
    assert_eq!(user["email"], "sam@example.com");
    assert_eq!(
        user["teams"],
        json!([{"team": "data", "username": "sam", "role": "operator", "source": "sso"}])
    );
    let (_, audit) = weir
        .api("/auditEvents?action=login&outcome=success&actor=sam")
        .await;
    let events = audit["audit_events"].as_array().expect("audit events");
    assert!(
        events
            .iter()
            .any(|e| e["actor"] == "sam" && e["details"]["method"] == "sso"),
        "{audit}"
    );

    // The session is sam's SSO session: the `next` path is followed, not another site.
    let browser = Browser::new(&weir);
    let back = browser.to_provider_and_back("/dags/hello").await;
    let page = browser.get(&back).await;
    assert_eq!(page.location.as_deref(), Some("/dags/hello"), "{page:?}");
    let browser = Browser::new(&weir);
    let back = browser.to_provider_and_back("//evil.example/").await;
    let page = browser.get(&back).await;
    assert_eq!(page.location.as_deref(), Some("/"), "{page:?}");

    // The callback replayed is refused: the sign-in it answered is over.
    let replay = browser.get(&back).await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    provider.assert_no_problems();
}

#[tokio::test]
async fn a_callback_with_another_state_signs_no_one_in() {
    let provider = Provider::start().await;
    let weir = Weir::start(provider.issuer(), &format!("client_id = \"{CLIENT_ID}\"")).await;
    let browser = Browser::new(&weir);
    provider.next_sign_in("sam", &["data-engineers"], Mode::SignIn);
    let back = browser.to_provider_and_back("/").await;
    let mut url = reqwest::Url::parse(&back).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" { "forged".into() } else { v };
            (k.into_owned(), v.into_owned())
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);

    let page = browser.get(url.as_str()).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(detail(&page).contains("`state` differs"), "{}", page.body);
    assert!(page.cookie("weir_session").is_none());
    assert_eq!(provider.token_requests(), 0, "nothing is exchanged");
    // Not signed in, and no user was made.
    let home = browser.get("/").await;
    assert_eq!(home.status, 303);
    assert_eq!(home.location.as_deref(), Some("/login"));
    assert_eq!(weir.api("/users/sam").await.0, StatusCode::NOT_FOUND);
    // A callback without any sign-in pending is refused the same way.
    let stray = Browser::new(&weir).get(&back).await;
    assert_eq!(stray.status, 400);
    assert!(
        detail(&stray).contains("No single sign-on is in progress"),
        "{}",
        stray.body
    );
    assert_eq!(provider.token_requests(), 0);
    provider.assert_no_problems();
}

#[tokio::test]
async fn an_id_token_with_another_nonce_is_refused() {
    let provider = Provider::start().await;
    let weir = Weir::start(provider.issuer(), &format!("client_id = \"{CLIENT_ID}\"")).await;
    let browser = Browser::new(&weir);
    provider.next_sign_in("mallory", &["data-engineers"], Mode::WrongNonce);
    let back = browser.to_provider_and_back("/").await;
    let page = browser.get(&back).await;
    assert_eq!(page.status, 401, "{}", page.body);
    assert!(
        detail(&page).contains("nonce of another sign-in"),
        "{}",
        page.body
    );
    assert!(page.cookie("weir_session").is_none());
    assert_eq!(provider.token_requests(), 1);
    assert_eq!(weir.api("/users/mallory").await.0, StatusCode::NOT_FOUND);
    let (_, audit) = weir.api("/auditEvents?action=login&outcome=failed").await;
    assert!(
        audit["audit_events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["details"]["method"] == "sso"
                && e["details"]["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("nonce"))),
        "{audit}"
    );
    provider.assert_no_problems();
}

#[tokio::test]
async fn the_providers_refusal_is_a_401_page() {
    let provider = Provider::start().await;
    let weir = Weir::start(provider.issuer(), &format!("client_id = \"{CLIENT_ID}\"")).await;
    let browser = Browser::new(&weir);
    provider.next_sign_in("sam", &[], Mode::Deny);
    let back = browser.to_provider_and_back("/").await;
    let page = browser.get(&back).await;
    assert_eq!(page.status, 401, "{}", page.body);
    let said = detail(&page);
    assert!(said.contains("access_denied"), "{said}");
    assert!(said.contains("The user is not assigned to Weir"), "{said}");
    assert!(page.cookie("weir_session").is_none());
    assert!(!browser.has_cookie("weir_sso"));
    assert_eq!(provider.token_requests(), 0);
    provider.assert_no_problems();
}

#[tokio::test]
async fn without_a_client_id_the_ui_offers_no_single_sign_on() {
    let provider = Provider::start().await;
    let weir = Weir::start(provider.issuer(), "").await;
    let browser = Browser::new(&weir);
    let login = browser.get("/login").await;
    assert_eq!(login.status, 200);
    assert!(login.body.contains("id=\"login\""), "{}", login.body);
    assert!(!login.body.contains("/login/sso"), "{}", login.body);
    for path in ["/login/sso", "/login/sso/callback?code=c&state=s"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 404, "{path}: {}", page.body);
        assert!(detail(&page).contains("set `client_id`"), "{}", page.body);
        assert!(page.cookie("weir_session").is_none());
    }
}

#[tokio::test]
async fn an_unreachable_provider_is_a_503_page() {
    // A port nothing listens on any more.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let weir = Weir::start(&issuer, &format!("client_id = \"{CLIENT_ID}\"")).await;
    let page = Browser::new(&weir).get("/login/sso").await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(
        detail(&page).contains("cannot reach the identity provider"),
        "{}",
        page.body
    );
    assert!(page.cookie("weir_sso").is_none());
}

#[tokio::test]
async fn a_missing_client_secret_variable_is_named() {
    let provider = Provider::start().await;
    let extra = format!(
        "client_id = \"{CLIENT_ID}\"\nclient_secret_env = \"WEIR_TEST_SSO_SECRET_NOT_SET\""
    );
    let weir = Weir::start(provider.issuer(), &extra).await;
    let page = Browser::new(&weir).get("/login/sso").await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(
        detail(&page).contains("`WEIR_TEST_SSO_SECRET_NOT_SET`"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn a_confidential_client_sends_its_secret() {
    let provider = Provider::start().await;
    // Any variable set for this process will do as the secret: tests may not set one
    // (that is `unsafe`), and PATH is always there.
    let secret = std::env::var("PATH").unwrap();
    *provider.0.secret.lock().unwrap() = Some(secret);
    let extra = format!("client_id = \"{CLIENT_ID}\"\nclient_secret_env = \"PATH\"");
    let weir = Weir::start(provider.issuer(), &extra).await;
    let browser = Browser::new(&weir);
    provider.next_sign_in("sam", &["data-engineers"], Mode::SignIn);
    let back = browser.to_provider_and_back("/").await;
    let page = browser.get(&back).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.cookie("weir_session").is_some());
    provider.assert_no_problems();
}
