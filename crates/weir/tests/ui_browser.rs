//! The web UI end to end, in headless Chromium driven over WebDriver (fantoccini and
//! Debian's `chromium-driver`): sign-in, search, triggering with a conf, the grid
//! updating live, a running task's live log, clearing a task, what a viewer may not do,
//! CSRF, an approval round trip and sign-out, each against its own `weir standalone`.
//!
//! Every test writes PNG screenshots of the views it visits into
//! `$WEIR_UI_ARTIFACTS/<test>/` (default `<target dir>/ui-screenshots/<test>/`) and prints
//! the folder. Without chromedriver the tests fail naming the apt command, unless
//! `WEIR_SKIP_BROWSER=1` (see `support/browser.rs`).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use support::browser::Browser;
use support::git::Repo;
use support::server::{ADMIN_PASSWORD, Server};

const PASSWORD: &str = "a-long-password-1";

/// Three shell tasks in a chain, a second each: slow enough to watch the grid change.
const SALES: &str = r#"dag: sales_rollup
team: t
description: Roll up the day's sales
tags: [sales]
paused: false
params: {region: emea, days: "7"}
tasks:
  extract:
    shell: 'sleep 1; echo "extracted {{ params.region }}"'
  transform:
    depends_on: [extract]
    shell: 'sleep 1; echo transformed'
  load:
    depends_on: [transform]
    shell: 'sleep 1; echo loaded'
"#;

/// A DAG the search must filter out.
const INVENTORY: &str = r#"dag: inventory_sync
team: t
paused: false
tasks:
  sync:
    shell: 'echo synced'
"#;

/// A task printing a line every 0.3 s for 6 s, then one after it.
const TICKER: &str = r#"dag: ticker
team: t
paused: false
tasks:
  tick:
    shell: 'for i in $(seq 1 20); do echo "tick $i"; sleep 0.3; done'
  after:
    depends_on: [tick]
    shell: 'echo after'
"#;

/// Percent-encodes a path segment (run ids hold `:` and `+`).
fn seg(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A user with `PASSWORD`, with `role` in `team`.
async fn user(server: &Server, name: &str, team: &str, role: &str) {
    let body = json!({"username": name, "password": PASSWORD,
        "email": format!("{name}@example.com"), "platform_admin": false});
    let (status, answer) = server.send("POST", "/users", &body.to_string()).await;
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = server
        .send(
            "PUT",
            &format!("/teams/{team}/members/{name}"),
            &json!({"role": role}).to_string(),
        )
        .await;
    assert!(status == 200 || status == 201, "{answer}");
}

/// `(run_id, task_id, state)` of every grid cell on the page.
async fn grid_cells(b: &Browser) -> Vec<(String, String, String)> {
    let cells = b
        .js(
            "return Array.from(document.querySelectorAll('table#grid td.ti')).map(c => \
             [c.getAttribute('data-run-id'), c.getAttribute('data-task-id'), \
              c.getAttribute('data-state')]);",
            vec![],
        )
        .await;
    cells
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let s = |i: usize| c[i].as_str().unwrap_or_default().to_string();
            (s(0), s(1), s(2))
        })
        .collect()
}

/// The audit trail's denied events by `actor`.
async fn denied(server: &Server, actor: &str) -> Vec<Value> {
    let (status, body) = server
        .get(&format!("/auditEvents?actor={actor}&outcome=denied"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["audit_events"].as_array().cloned().unwrap_or_default()
}

/// A task instance through the API.
async fn task_instance(server: &Server, dag: &str, run: &str, task: &str) -> Value {
    let (status, body) = server
        .get(&format!(
            "/dags/{dag}/dagRuns/{}/taskInstances/{task}",
            seg(run)
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_harness_drives_chromium_on_a_static_page() {
    // The harness on its own, so a failure of the UI tests is not the browser's.
    let page = r#"<!doctype html><html><head><meta name="csrf-token" content="static-token">
        </head><body data-page-id="p1"><h1>static</h1><table id="grid"><tr>
        <td class="ti" data-run-id="r:1+x" data-task-id="a" data-state="queued">a</td>
        </tr></table><script>setTimeout(() => document.querySelector('td.ti')
        .setAttribute('data-state', 'success'), 500);</script></body></html>"#;
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { axum::response::Html(page) }),
    );
    let base = support::serve(app).await;
    let Some(b) = Browser::start("harness", &base).await else {
        return;
    };
    b.goto("/").await;
    assert_eq!(b.text("h1").await, "static");
    assert_eq!(b.csrf().await, "static-token");
    let first = grid_cells(&b).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].0, "r:1+x");
    b.shot("static").await;
    let id = b.page_id().await;
    b.poll("the cell to turn success", async |b| {
        let cells = grid_cells(b).await;
        if cells.iter().all(|c| c.2 == "success") {
            Ok(())
        } else {
            Err(format!("{cells:?}"))
        }
    })
    .await;
    assert_eq!(b.page_id().await, id);
    let (status, body) = b.fetch("GET", "/", &[]).await;
    assert_eq!(status, 200);
    assert!(body.contains("static"));
    b.shot("static-updated").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_find_a_dag_trigger_it_with_conf_and_watch_its_grid_turn_green() {
    let server = Server::start(&[
        ("sales_rollup.yaml", SALES),
        ("inventory_sync.yaml", INVENTORY),
    ]);
    let Some(b) = Browser::start("trigger_and_grid", &server.url).await else {
        return;
    };

    // Signed out, a page sends to the sign-in form, remembering where it was going.
    b.goto("/dags/sales_rollup").await;
    let at = b.location().await;
    assert!(
        at.starts_with("/login") && at.contains("next="),
        "signed out, /dags/sales_rollup went to {at}"
    );
    b.find("form#login").await;
    b.shot("login").await;
    // A wrong password: the form again, with an error, status 401.
    b.fill("form#login input[name=username]", "admin").await;
    b.fill("form#login input[name=password]", "not-the-password")
        .await;
    b.click("form#login button[type=submit]").await;
    let error = b.text(".error").await;
    assert!(!error.trim().is_empty(), "an empty .error");
    assert!(b.location().await.starts_with("/login"));
    b.shot("login-refused").await;
    // The form's own token is in the page and in a cookie: a POST with both and a wrong
    // password is a 401, a POST without the token (as from another site) a 403.
    let token = b
        .attr("input[name=login_token]", "value")
        .await
        .unwrap_or_default();
    let (status, _) = b
        .fetch(
            "POST",
            "/login",
            &[
                ("username", "admin"),
                ("password", "not-the-password"),
                ("login_token", token.as_str()),
            ],
        )
        .await;
    assert_eq!(status, 401, "a wrong password's status");
    let (status, _) = b
        .fetch(
            "POST",
            "/login",
            &[("username", "admin"), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(status, 403, "a sign-in without the form's token");
    // Signed in, the form sends on to the page asked for at first.
    b.goto(&at).await;
    b.sign_in("admin", ADMIN_PASSWORD).await;
    let landed = b.location().await;
    assert!(
        landed.starts_with("/dags/sales_rollup"),
        "after signing in with next=, landed on {landed}"
    );

    // The DAG list, searched.
    b.goto("/").await;
    b.find(r#"tr.dag-row[data-dag-id="sales_rollup"]"#).await;
    b.find(r#"tr.dag-row[data-dag-id="inventory_sync"]"#).await;
    b.shot("dags").await;
    let search = b.find("form#dag-filter input[name=search]").await;
    search.clear().await.unwrap();
    search.send_keys("sales\u{E007}").await.unwrap(); // Enter submits the form
    b.poll("the search to reload the list", async |b| {
        let at = b.location().await;
        if at.contains("search=sales") {
            Ok(())
        } else {
            Err(at)
        }
    })
    .await;
    b.find(r#"tr.dag-row[data-dag-id="sales_rollup"]"#).await;
    assert_eq!(
        b.count(r#"tr.dag-row[data-dag-id="inventory_sync"]"#).await,
        0,
        "the search for `sales` still lists inventory_sync"
    );
    b.shot("dags-searched").await;
    b.click(r#"tr.dag-row[data-dag-id="sales_rollup"] a.dag-link"#)
        .await;
    b.wait_for_location("the DAG's page", "/dags/sales_rollup")
        .await;
    // No runs yet: the UI shows no grid table (it says so), only the tabs.
    b.find("nav#dag-tabs").await;
    for tab in [
        "tab-grid",
        "tab-graph",
        "tab-code",
        "tab-versions",
        "tab-runs",
        "tab-details",
    ] {
        b.find(&format!("nav#dag-tabs a#{tab}")).await;
    }
    b.find("form#pause").await;
    b.find("button#pause-toggle").await;
    b.shot("grid-before").await;

    // Trigger with a param changed and a conf.
    b.click("a#trigger").await;
    b.wait_for_location("the trigger form", "/dags/sales_rollup/trigger")
        .await;
    let region = b.find(r#"form#trigger-form [name="param.region"]"#).await;
    assert_eq!(
        region.prop("value").await.unwrap().as_deref(),
        Some("emea"),
        "the param field is not pre-filled with its default"
    );
    b.find(r#"form#trigger-form [name="param.days"]"#).await;
    b.fill(r#"form#trigger-form [name="param.region"]"#, "apac")
        .await;
    b.fill(
        "form#trigger-form textarea[name=conf]",
        r#"{"note": "from the UI", "days": "30"}"#,
    )
    .await;
    b.shot("trigger-form").await;
    b.click("form#trigger-form button[type=submit]").await;
    let run_id = b
        .poll("the grid of the new run", async |b| {
            let url = b.client().current_url().await?;
            let run = url
                .query_pairs()
                .find(|(k, _)| k == "run")
                .map(|(_, v)| v.to_string());
            match run {
                Some(run) if url.path() == "/dags/sales_rollup" => Ok(run),
                _ => Err(url.to_string()),
            }
        })
        .await;
    let (status, run) = server
        .get(&format!("/dags/sales_rollup/dagRuns/{}", seg(&run_id)))
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["conf"]["region"], "apac", "the param field: {run}");
    assert_eq!(run["conf"]["note"], "from the UI", "the conf: {run}");
    assert_eq!(run["conf"]["days"], "30", "the conf over the params: {run}");

    // The grid follows the run without a reload.
    let page = b.page_id().await;
    let mut seen = BTreeSet::new();
    let mut shot_running = false;
    b.poll("the run's cells to turn success", async |b| {
        let cells: Vec<_> = grid_cells(b)
            .await
            .into_iter()
            .filter(|c| c.0 == run_id)
            .collect();
        seen.extend(cells.iter().map(|c| c.2.clone()));
        if !shot_running && cells.iter().any(|c| c.2 == "running") {
            b.shot("grid-running").await;
            shot_running = true;
        }
        let tasks: BTreeSet<_> = cells.iter().map(|c| c.1.as_str()).collect();
        if tasks == BTreeSet::from(["extract", "transform", "load"])
            && cells.iter().all(|c| c.2 == "success")
        {
            Ok(())
        } else {
            Err(format!("cells of the run: {cells:?}"))
        }
    })
    .await;
    assert_eq!(b.page_id().await, page, "the page was reloaded");
    assert!(
        seen.iter().any(|s| s != "success"),
        "never saw the run's cells in any state but success: {seen:?}"
    );
    b.shot("grid-success").await;
    let done = server.wait_run_finished("sales_rollup", &run_id).await;
    assert_eq!(done["state"], "success", "{done}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_tasks_log_grows_live_and_a_cleared_task_runs_again() {
    let server = Server::start(&[("ticker.yaml", TICKER)]);
    let Some(b) = Browser::start("live_log_and_clear", &server.url).await else {
        return;
    };
    b.sign_in("admin", ADMIN_PASSWORD).await;
    let run_id = server.trigger("ticker").await;
    let run_page = format!("/dags/ticker/runs/{}", seg(&run_id));
    server
        .wait_for(
            &format!("/dags/ticker/dagRuns/{}/taskInstances/tick", seg(&run_id)),
            "tick to run",
            |ti| ti["state"] == "running",
        )
        .await;

    // The run page: a Gantt chart and the task list; the running task picked from it.
    b.goto(&run_page).await;
    b.find("#gantt").await;
    assert_eq!(
        b.find("#gantt")
            .await
            .tag_name()
            .await
            .unwrap()
            .to_lowercase(),
        "svg",
        "#gantt is not an SVG"
    );
    b.find(r#"tr.ti-row[data-task-id="after"]"#).await;
    b.shot("run").await;
    b.click(r#"tr.ti-row[data-task-id="tick"] a.ti-link"#).await;
    b.find("#ti-panel").await;
    assert!(
        b.location().await.contains("task=tick"),
        "the task link went to {}",
        b.location().await
    );
    let page = b.page_id().await;
    let state = b.text("#ti-state").await;
    assert_eq!(state.trim(), "running", "#ti-state of a running task");
    // New lines arrive while the page stays.
    let first = b
        .poll("the first lines of the log", async |b| {
            let log = b.text("pre#log").await;
            if log.contains("tick ") {
                Ok(log)
            } else {
                Err(format!("{log:?}"))
            }
        })
        .await;
    assert!(
        !first.contains("tick 20"),
        "the try had finished before the log was first read: {first:?}"
    );
    b.shot("log-first").await;
    let grown = b
        .poll("new log lines without a reload", async |b| {
            let log = b.text("pre#log").await;
            if log.len() > first.len() && log.lines().count() > first.lines().count() {
                Ok(log)
            } else {
                Err(format!("{log:?}"))
            }
        })
        .await;
    assert!(
        grown.starts_with(first.trim_end()),
        "{first:?} then {grown:?}"
    );
    assert_eq!(b.page_id().await, page, "the page was reloaded");
    b.shot("log-grown").await;
    b.poll("the whole log", async |b| {
        let log = b.text("pre#log").await;
        if log.contains("tick 20") {
            Ok(())
        } else {
            Err(format!("{log:?}"))
        }
    })
    .await;
    assert_eq!(b.page_id().await, page, "the page was reloaded");
    b.shot("log-complete").await;
    let done = server.wait_run_finished("ticker", &run_id).await;
    assert_eq!(done["state"], "success", "{done}");

    // Clear the finished task: it runs again, as a second try.
    let before = task_instance(&server, "ticker", &run_id, "tick").await;
    assert_eq!(before["try_number"], 1, "{before}");
    b.goto(&format!("{run_page}?task=tick")).await;
    let state = b.text("#ti-state").await;
    assert_eq!(state.trim(), "success", "#ti-state of a finished task");
    b.find("button#mark-success").await;
    b.find("button#mark-failed").await;
    b.shot("finished-task").await;
    b.click("form#clear-task button[type=submit]").await;
    // A confirmation dialog, if the UI asks for one.
    let _ = b.client().accept_alert().await;
    server
        .wait_for(
            &format!("/dags/ticker/dagRuns/{}/taskInstances/tick", seg(&run_id)),
            "tick's second try",
            |ti| ti["try_number"] == 2,
        )
        .await;
    b.shot("cleared").await;
    let again = server.wait_run_finished("ticker", &run_id).await;
    assert_eq!(again["state"], "success", "{again}");
    let after = task_instance(&server, "ticker", &run_id, "tick").await;
    assert_eq!(after["state"], "success", "{after}");
    b.goto(&format!("{run_page}?task=tick&try=2")).await;
    b.poll("the second try's log", async |b| {
        let log = b.text("pre#log").await;
        if log.contains("tick 20") {
            Ok(())
        } else {
            Err(format!("{log:?}"))
        }
    })
    .await;
    b.shot("second-try").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_may_not_trigger_and_forged_or_tokenless_posts_are_refused_and_audited() {
    let server = Server::start(&[("sales_rollup.yaml", SALES)]);
    user(&server, "vic", "t", "viewer").await;
    let Some(b) = Browser::start("viewer_and_csrf", &server.url).await else {
        return;
    };
    // A run, for the viewer to see in the grid.
    let run_id = server.trigger("sales_rollup").await;
    b.sign_in("vic", PASSWORD).await;
    b.goto("/dags/sales_rollup").await;
    b.find(r#"table#grid td.ti[data-task-id="load"]"#).await;
    assert!(
        grid_cells(&b).await.iter().any(|c| c.0 == run_id),
        "the viewer's grid does not show the run"
    );
    b.shot("viewer-grid").await;
    assert_eq!(
        b.count("a#trigger").await,
        0,
        "a viewer is offered #trigger"
    );
    assert_eq!(
        b.count("button#pause-toggle").await,
        0,
        "a viewer is offered #pause-toggle"
    );

    // A forged trigger, with the page's token, from the viewer's own browser.
    let token = b.csrf().await;
    let (status, body) = b
        .fetch(
            "POST",
            "/dags/sales_rollup/trigger",
            &[("csrf", &token), ("param.region", "emea"), ("conf", "{}")],
        )
        .await;
    assert_eq!(status, 403, "a viewer's trigger: {body}");
    assert!(
        body.to_lowercase().contains("<html") || body.to_lowercase().contains("<!doctype"),
        "the refusal is not an HTML page: {body}"
    );
    // Refused for the role (the token was right), on the DAG.
    let refused = denied(&server, "vic").await;
    assert!(
        refused
            .iter()
            .any(|e| e.to_string().contains("sales_rollup")
                && !e.to_string().to_lowercase().contains("csrf")),
        "no denied audit event of vic's trigger: {refused:?}"
    );
    let (_, runs) = server.get("/dags/sales_rollup/dagRuns").await;
    assert_eq!(runs["total_entries"], 1, "{runs}");

    // Signed out, then in as the admin: a POST without the csrf field is refused too.
    b.click("form#logout button[type=submit]").await;
    b.wait_for_location("the sign-out", "/login").await;
    b.sign_in("admin", ADMIN_PASSWORD).await;
    b.goto("/dags/sales_rollup/trigger").await;
    b.find("form#trigger-form").await;
    b.shot("admin-trigger-form").await;
    let (status, body) = b
        .fetch(
            "POST",
            "/dags/sales_rollup/trigger",
            &[("param.region", "emea"), ("conf", "{}")],
        )
        .await;
    assert_eq!(status, 403, "a POST without csrf: {body}");
    let refused = denied(&server, "admin").await;
    assert!(
        refused
            .iter()
            .any(|e| e.to_string().contains("/dags/sales_rollup/trigger")),
        "the POST without csrf is not in the audit trail as denied: {refused:?}"
    );
    // Nor does a wrong token do.
    let (status, body) = b
        .fetch(
            "POST",
            "/dags/sales_rollup/trigger",
            &[
                ("csrf", "not-the-token"),
                ("param.region", "emea"),
                ("conf", "{}"),
            ],
        )
        .await;
    assert_eq!(status, 403, "a POST with a wrong csrf: {body}");
    assert_eq!(denied(&server, "admin").await.len(), refused.len() + 1);
    let (_, runs) = server.get("/dags/sales_rollup/dagRuns").await;
    assert_eq!(runs["total_entries"], 1, "{runs}");
    // The same POST with the token goes through (a redirect to the new run's grid).
    let token = b.csrf().await;
    let (status, body) = b
        .fetch(
            "POST",
            "/dags/sales_rollup/trigger",
            &[("csrf", &token), ("param.region", "emea"), ("conf", "{}")],
        )
        .await;
    // `fetch` without following redirects reads a 303 as an opaque redirect, status 0.
    assert!(status == 0 || status == 303, "{status} {body}");
    let (_, runs) = server.get("/dags/sales_rollup/dagRuns").await;
    assert_eq!(runs["total_entries"], 2, "{runs}");
    b.close().await;
}

fn governed(repo: &std::path::Path) -> String {
    format!(
        r#"
[[compute_environments]]
name = "local"
backend = "process"
max_vcpus = 4
max_memory = "4Gi"

[[queues]]
name = "default"
compute_environments = ["local"]

[[teams]]
name = "growth"
allow_unsandboxed_shell = true
approval = "other_team"

[[teams]]
name = "finance"
allow_unsandboxed_shell = true

[repository]
url = "{}"
branch = "main"
interval = "1h"
"#,
        repo.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_of_another_team_approves_a_production_change_in_the_ui() {
    let repo = Repo::new();
    let config = governed(repo.path());
    let server = Server::start_with(&[], Some(&config), &[]);
    user(&server, "alice", "growth", "operator").await;
    user(&server, "carol", "finance", "operator").await;
    repo.commit(
        ("Alice", "alice@example.com"),
        "orders v1",
        &[(
            "dags/orders.yaml",
            "dag: orders\nteam: growth\nproduction: true\ntasks:\n  load:\n    shell: echo v1\n",
        )],
    );
    let (status, body) = server.send("POST", "/repository/sync", "").await;
    assert_eq!(status, 200, "{body}");
    let (status, pending) = server.get("/approvals?status=pending&dag_id=orders").await;
    assert_eq!(status, 200, "{pending}");
    let id = pending["approvals"][0]["approval_id"].as_i64().unwrap();

    let Some(b) = Browser::start("approval", &server.url).await else {
        return;
    };
    b.sign_in("carol", PASSWORD).await;
    b.click("a#nav-approvals").await;
    let row = format!(r#"tr.approval[data-approval-id="{id}"]"#);
    b.find(&row).await;
    b.shot("approvals").await;
    b.click(&format!("{row} a.approval-link")).await;
    b.poll("the approval's page", async |b| {
        let at = b.location().await;
        if at == format!("/approvals/{id}") {
            Ok(())
        } else {
            Err(at)
        }
    })
    .await;
    b.find("form#approve").await;
    b.find("form#reject button#reject-button").await;
    b.shot("approval").await;
    b.fill("form#approve textarea[name=comment]", "reviewed in the UI")
        .await;
    b.click("form#approve button#approve-button").await;
    b.poll("the approval's status", async |b| {
        let status = match b.try_find("#approval-status").await {
            Some(e) => e.text().await.unwrap_or_default(),
            None => String::new(),
        };
        if b.location().await == format!("/approvals/{id}") && status.trim() == "approved" {
            Ok(())
        } else {
            Err(format!("{} {status:?}", b.location().await))
        }
    })
    .await;
    b.shot("approved").await;
    let (status, approval) = server.get(&format!("/approvals/{id}")).await;
    assert_eq!(status, 200, "{approval}");
    assert_eq!(approval["state"], "approved", "{approval}");
    assert_eq!(approval["decided_by"], "carol", "{approval}");
    assert_eq!(approval["comment"], "reviewed in the UI", "{approval}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_view_has_a_heading_and_signing_out_ends_the_session() {
    let server = Server::start(&[("sales_rollup.yaml", SALES)]);
    let Some(b) = Browser::start("views_and_sign_out", &server.url).await else {
        return;
    };
    b.sign_in("admin", ADMIN_PASSWORD).await;
    // What a page must have: a heading, a CSRF token and a page id.
    async fn check(b: &Browser, view: &str) {
        let h1 = b.text("h1").await;
        if h1.trim().is_empty() {
            b.fail(&format!("{view}: an empty h1")).await;
        }
        b.csrf().await;
        b.page_id().await;
        b.find("#whoami").await;
        b.find("form#logout button[type=submit]").await;
        b.shot(view).await;
    }
    for (link, path) in [
        ("nav-dags", "/"),
        ("nav-queues", "/queues"),
        ("nav-costs", "/costs"),
        ("nav-approvals", "/approvals"),
        ("nav-audit", "/audit"),
    ] {
        b.click(&format!("a#{link}")).await;
        b.poll(&format!("#{link} to open {path}"), async |b| {
            let at = b.location().await;
            if at == path || at.starts_with(&format!("{path}?")) {
                Ok(())
            } else {
                Err(at)
            }
        })
        .await;
        check(&b, link).await;
    }
    for path in [
        "/import-errors",
        "/admin/users",
        "/admin/teams",
        "/admin/tokens",
        "/admin/pools",
        "/admin/variables",
        "/admin/connections",
    ] {
        b.goto(path).await;
        if b.location().await != path {
            b.fail(&format!("{path} went to {}", b.location().await))
                .await;
        }
        check(&b, &path[1..]).await;
    }
    let (status, csv) = b.fetch("GET", "/costs.csv", &[]).await;
    assert_eq!(status, 200, "/costs.csv: {csv}");
    // The DAG's tabs.
    b.goto("/dags/sales_rollup").await;
    for tab in [
        "tab-grid",
        "tab-graph",
        "tab-code",
        "tab-versions",
        "tab-runs",
        "tab-details",
    ] {
        b.click(&format!("nav#dag-tabs a#{tab}")).await;
        b.find("nav#dag-tabs").await;
        check(&b, tab).await;
    }
    // Signing out: back to the form, and the session is gone.
    b.click("form#logout button[type=submit]").await;
    b.wait_for_location("the sign-out", "/login").await;
    b.shot("signed-out").await;
    b.goto("/").await;
    let at = b.location().await;
    assert!(at.starts_with("/login"), "after signing out, / shows {at}");
    b.close().await;
}
