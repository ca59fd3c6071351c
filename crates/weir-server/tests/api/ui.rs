//! The web UI without a browser: sign-in and sessions, the CSRF token, and that each
//! page shows an action exactly to the roles the API's rule table lets take it — and
//! that the server refuses (and audits) the action for the others, whatever the page
//! showed. The browser drives the same pages in `crates/weir/tests/ui_browser.rs`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed case

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use weir_store::AuditFilter;

use super::support::{TestApp, create_user};

/// A browser: a session cookie and the page's CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

async fn page(t: &TestApp, cookie: Option<&str>, uri: &str) -> (StatusCode, HeaderMap, String) {
    let mut req = Request::builder().uri(uri);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, format!("weir_session={c}"));
    }
    let (status, headers, body) = t
        .send_unauthenticated(req.body(Body::empty()).unwrap())
        .await;
    (status, headers, String::from_utf8(body).unwrap())
}

async fn post(
    t: &TestApp,
    cookie: Option<&str>,
    uri: &str,
    form: &[(&str, &str)],
) -> (StatusCode, HeaderMap, String) {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, format!("weir_session={c}"));
    }
    let (status, headers, body) = t
        .send_unauthenticated(req.body(Body::from(body)).unwrap())
        .await;
    (status, headers, String::from_utf8(body).unwrap())
}

fn location(headers: &HeaderMap) -> String {
    headers
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// Posts the sign-in form as a browser does: its page first (for the form's token and
/// cookie), then the fields.
async fn post_login(t: &TestApp, fields: &[(&str, &str)]) -> (StatusCode, HeaderMap, String) {
    let (status, headers, form) = page(t, None, "/login").await;
    assert_eq!(status, StatusCode::OK);
    let cookie = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("weir_login="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let token = form
        .split(r#"name="login_token" value=""#)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let mut all = vec![("login_token", token.as_str())];
    all.extend_from_slice(fields);
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&all)
        .finish();
    let req = Request::builder()
        .method(Method::POST)
        .uri("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookie)
        .body(Body::from(body))
        .unwrap();
    let (status, headers, body) = t.send_unauthenticated(req).await;
    (status, headers, String::from_utf8(body).unwrap())
}

/// Signs `user` in through the form (password `password-of-<user>`).
async fn sign_in(t: &TestApp, user: &str) -> Browser {
    let password = format!("password-of-{user}");
    let (status, headers, body) = post_login(
        t,
        &[("username", user), ("password", &password), ("next", "/")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let set = headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    let cookie = set
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("weir_session=")
        .to_string();
    let (status, _, home) = page(t, Some(&cookie), "/").await;
    assert_eq!(status, StatusCode::OK);
    let csrf = home
        .split(r#"<meta name="csrf-token" content=""#)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    Browser { cookie, csrf }
}

#[tokio::test]
async fn signing_in_and_out_starts_and_ends_a_server_side_session() {
    let t = TestApp::start().await;
    create_user(t.store(), "vic", false).await;
    let (status, headers, _) = page(&t, None, "/dags/hello").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), "/login?next=%2Fdags%2Fhello");

    let (status, _, body) = post_login(
        &t,
        &[("username", "vic"), ("password", "wrong"), ("next", "/")],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("Wrong user name or password"), "{body}");

    // A form posted without the sign-in page's token (from another site) signs no one in.
    let (status, headers, body) = post(
        &t,
        None,
        "/login",
        &[
            ("username", "vic"),
            ("password", "password-of-vic"),
            ("next", "/"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        !headers
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("weir_session="))
    );
    // A `next` to another site is not followed.
    let password = "password-of-vic";
    let (_, headers, _) = post_login(
        &t,
        &[
            ("username", "vic"),
            ("password", password),
            ("next", "//evil.example/"),
        ],
    )
    .await;
    assert_eq!(location(&headers), "/");
    // Nor one that a browser would turn into another site (it drops the tab).
    let (_, headers, _) = post_login(
        &t,
        &[
            ("username", "vic"),
            ("password", password),
            ("next", "/\t/evil.example/"),
        ],
    )
    .await;
    assert_eq!(location(&headers), "/");

    let b = sign_in(&t, "vic").await;
    let (_, _, home) = page(&t, Some(&b.cookie), "/").await;
    assert!(home.contains(r#"<span id="whoami">vic</span>"#), "{home}");
    // Sign-out needs the CSRF token, like every POST.
    let (status, _, _) = post(&t, Some(&b.cookie), "/logout", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, headers, _) = post(&t, Some(&b.cookie), "/logout", &[("csrf", &b.csrf)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), "/login");
    // The cookie names no session any more, even if the browser kept it.
    let (status, _, _) = page(&t, Some(&b.cookie), "/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    // A platform admin may end someone's sessions.
    let b = sign_in(&t, "vic").await;
    let (status, body) = t
        .call(Method::DELETE, "/api/v1/users/vic/sessions", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _, _) = page(&t, Some(&b.cookie), "/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_new_password_ends_the_users_browser_sessions() {
    let t = TestApp::start().await;
    create_user(t.store(), "vic", false).await;
    let b = sign_in(&t, "vic").await;
    let (status, body) = t
        .call(
            Method::POST,
            "/api/v1/users/vic/password",
            Some(serde_json::json!({"password": "a-brand-new-password"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _, _) = page(&t, Some(&b.cookie), "/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

/// Each role sees the trigger button, the pause toggle and the clear button exactly when
/// the rule table lets it act, and the server refuses the others' forged POSTs with a
/// 403 that lands in the audit trail as denied.
#[tokio::test]
async fn actions_show_and_work_exactly_for_the_roles_the_rule_table_allows() {
    let t = TestApp::start().await;
    let store = t.store().clone();
    for (user, role) in [
        ("vic", Some("viewer")),
        ("dora", Some("operator")),
        ("fred", None),
    ] {
        create_user(&store, user, false).await;
        if let Some(role) = role {
            store.set_membership("data", user, role).await.unwrap();
        }
    }
    store
        .set_membership("finance", "fred", "admin")
        .await
        .unwrap();
    t.run_to_end("hello", "first").await;

    for (user, may_act) in [("dora", true), ("vic", false), ("fred", false)] {
        let b = sign_in(&t, user).await;
        let (status, _, grid) = page(&t, Some(&b.cookie), "/dags/hello").await;
        assert_eq!(status, StatusCode::OK, "{grid}");
        assert!(grid.contains(r#"id="grid""#), "{grid}");
        assert_eq!(
            grid.contains(r#"id="trigger""#),
            may_act,
            "{user}: trigger button"
        );
        assert_eq!(
            grid.contains(r#"id="pause-toggle""#),
            may_act,
            "{user}: pause toggle"
        );
        let (_, _, run) = page(&t, Some(&b.cookie), "/dags/hello/runs/first?task=start").await;
        assert!(run.contains(r#"id="ti-panel""#), "{run}");
        assert_eq!(run.contains(r#"id="clear-task""#), may_act, "{user}: clear");
        assert_eq!(
            run.contains(r#"id="mark-success""#),
            may_act,
            "{user}: mark"
        );

        let (status, headers, body) = post(
            &t,
            Some(&b.cookie),
            "/dags/hello/trigger",
            &[
                ("csrf", &b.csrf),
                ("param.who", "ui"),
                ("conf", r#"{"extra": 1}"#),
            ],
        )
        .await;
        if may_act {
            assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
            let to = location(&headers);
            assert!(to.starts_with("/dags/hello?run="), "{to}");
        } else {
            assert_eq!(status, StatusCode::FORBIDDEN, "{user}: {body}");
            let denied = store
                .list_audit_events(
                    &AuditFilter {
                        actor: Some(user.into()),
                        outcome: Some("denied".into()),
                        ..Default::default()
                    },
                    100,
                    0,
                )
                .await
                .unwrap();
            assert!(
                denied.items.iter().any(|e| e.action == "dag_run.trigger"),
                "{user}: {:?}",
                denied.items
            );
        }
    }
    // dora's run has the param from its field and the conf merged over it.
    let (_, runs) = t
        .get("/api/v1/dags/hello/dagRuns?order_by=-execution_date")
        .await;
    let conf = runs["dag_runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["dag_run_id"] != "first")
        .map(|r| r["conf"].clone())
        .unwrap();
    assert_eq!(conf, serde_json::json!({"who": "ui", "extra": 1}));
}

#[tokio::test]
async fn a_post_without_the_sessions_csrf_token_is_refused_and_audited() {
    let t = TestApp::start().await;
    create_user(t.store(), "dora", false).await;
    t.store()
        .set_membership("data", "dora", "operator")
        .await
        .unwrap();
    let b = sign_in(&t, "dora").await;
    for form in [vec![], vec![("csrf", "not-the-token")]] {
        let (status, _, body) = post(
            &t,
            Some(&b.cookie),
            "/dags/hello/pause",
            &[form.as_slice(), &[("paused", "true")]].concat(),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body.contains("CSRF"), "{body}");
    }
    let forged = t
        .store()
        .list_audit_events(
            &AuditFilter {
                actor: Some("dora".into()),
                action: Some("session.forged_request".into()),
                ..Default::default()
            },
            100,
            0,
        )
        .await
        .unwrap();
    assert_eq!(forged.items.len(), 2);
    assert_eq!(forged.items[0].outcome, "denied");
    let (_, dag) = t.get("/api/v1/dags/hello").await;
    assert_eq!(dag["is_paused"], false, "nothing changed");
}

#[tokio::test]
async fn every_page_renders_for_a_viewer_and_unknown_things_are_404_pages() {
    let t = TestApp::start().await;
    create_user(t.store(), "vic", false).await;
    t.store()
        .set_membership("data", "vic", "viewer")
        .await
        .unwrap();
    t.run_to_end("hello", "first").await;
    let b = sign_in(&t, "vic").await;
    for uri in [
        "/",
        "/?search=hel&paused=active",
        "/dags/hello",
        "/dags/hello/graph",
        "/dags/hello/code",
        "/dags/hello/versions",
        "/dags/hello/runs",
        "/dags/hello/details",
        "/dags/hello/runs/first",
        "/dags/hello/runs/first?task=end&try=1",
        "/queues",
        "/costs",
        "/costs.csv",
        "/approvals",
        "/import-errors",
        "/datasets",
    ] {
        let (status, _, body) = page(&t, Some(&b.cookie), uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    }
    // The costs download is the CLI's CSV, per day.
    let (_, headers, csv) = page(&t, Some(&b.cookie), "/costs.csv?by=dag").await;
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(csv.starts_with("day,dag,tries,wall_seconds,"), "{csv}");
    // A dataset another system updated shows, with its events.
    let (status, body) = t
        .call(
            Method::POST,
            "/api/v1/datasets/events",
            Some(serde_json::json!({"dataset_uri": "s3://lake/shared/orders"})),
        )
        .await;
    assert!(status.is_success(), "{status}: {body}");
    let (_, _, datasets) = page(&t, Some(&b.cookie), "/datasets?search=orders").await;
    assert!(
        datasets.contains("<code>s3://lake/shared/orders</code>"),
        "{datasets}"
    );
    let (_, _, list) = page(&t, Some(&b.cookie), "/?search=hel").await;
    assert!(list.contains(r#"data-dag-id="hello""#) && !list.contains(r#"data-dag-id="nightly""#));
    let (_, _, graph) = page(&t, Some(&b.cookie), "/dags/hello/graph").await;
    assert!(
        graph.contains("<svg") && graph.contains(r#"data-task-id="end" data-state="success""#),
        "{graph}"
    );
    let (status, _, body) = page(&t, Some(&b.cookie), "/dags/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("nope"), "{body}");
    // An unknown address: an HTML page for a browser, a problem for a script.
    let req = Request::builder()
        .uri("/no/such/page")
        .header(header::ACCEPT, "text/html,application/xhtml+xml")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = t.send_unauthenticated(req).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let (status, body) = t.get("/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["title"], "Not Found", "{body}");
    // The audit log is for admins: the API's 403, as a page.
    let (status, _, _) = page(&t, Some(&b.cookie), "/audit").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
