//! Governed delivery through the real binary (issue 11): DAGs delivered by commits of a
//! real Git repository made in the test, versions with their provenance, four-eyes
//! approval of production DAGs, break-glass, `weir deploy`, and `weir init`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::git::Repo;
use support::server::Server;

const ALICE: (&str, &str) = ("Alice", "alice@example.com");
const BOB: (&str, &str) = ("Bob", "bob@example.com");
const ROOT: (&str, &str) = ("Root", "root@example.com");
const PASSWORD: &str = "a-long-password-1";

fn config(repo: &Path, interval: &str) -> String {
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

[[teams]]
name = "ops"
allow_unsandboxed_shell = true

[repository]
url = "{}"
branch = "main"
interval = "{interval}"
"#,
        repo.display()
    )
}

fn orders(production: bool, echo: &str) -> String {
    format!(
        "dag: orders\nteam: growth\nproduction: {production}\nschedule: '@daily'\nstart_date: 2026-01-01\ncatchup: false\ntasks:\n  load:\n    shell: echo {echo}\n"
    )
}

fn clicks(echo: &str) -> String {
    format!("dag: clicks\nteam: growth\ntasks:\n  count:\n    shell: echo {echo}\n")
}

/// Creates a user (with e-mail) with a role in a team.
async fn user(server: &Server, name: &str, email: &str, team: Option<(&str, &str)>, admin: bool) {
    let body =
        json!({"username": name, "password": PASSWORD, "email": email, "platform_admin": admin});
    let (status, answer) = server.send("POST", "/users", &body.to_string()).await;
    assert_eq!(status, 201, "{answer}");
    if let Some((team, role)) = team {
        let (status, answer) = server
            .send(
                "PUT",
                &format!("/teams/{team}/members/{name}"),
                &json!({"role": role}).to_string(),
            )
            .await;
        assert!(status == 200 || status == 201, "{answer}");
    }
}

/// A request as `user` (password).
async fn send_as(
    server: &Server,
    user: &str,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .request(method.parse().unwrap(), server.api(path))
        .basic_auth(user, Some(PASSWORD))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn sync(server: &Server) -> Value {
    let (status, body) = server.send("POST", "/repository/sync", "").await;
    assert_eq!(status, 200, "{body}\n{}", server.output());
    body
}

async fn pending(server: &Server, dag: &str) -> Vec<Value> {
    let (status, body) = server
        .get(&format!("/approvals?status=pending&dag_id={dag}"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["approvals"].as_array().unwrap().clone()
}

/// Asserts an answer is a problem with `status` whose detail says `says`.
fn refused((status, problem): (u16, Value), expected: u16, says: &str) {
    assert_eq!(status, expected, "{problem}");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(says), "{problem}");
}

/// The id of the DAG's newest pending approval request.
async fn first_pending(server: &Server, dag: &str) -> i64 {
    pending(server, dag).await[0]["approval_id"]
        .as_i64()
        .unwrap()
}

/// `POST /approvals/{id}/{verb}` as `user`.
async fn decide(server: &Server, user: &str, id: i64, verb: &str, body: &str) -> (u16, Value) {
    send_as(
        server,
        user,
        "POST",
        &format!("/approvals/{id}/{verb}"),
        body,
    )
    .await
}

async fn dag_version(server: &Server, dag: &str) -> Value {
    server.get(&format!("/dags/{dag}/details")).await.1["version"].clone()
}

/// A server with this platform config; on PostgreSQL when
/// `WEIR_ENGINE_TEST_POSTGRES_URL` is set (CI runs this suite on both databases).
async fn server_with(platform: &str) -> Server {
    let mut server = Server::new(&[]);
    let path = server.dir.path().join("weir.toml");
    std::fs::write(&path, platform).unwrap();
    server
        .args
        .extend(["--config".into(), path.display().to_string()]);
    if let Some(db) = support::postgres_for_server().await {
        server.args.extend(["--db".into(), db]);
    }
    server.restart();
    server
}

async fn start(repo: &Repo, interval: &str) -> Server {
    server_with(&config(repo.path(), interval)).await
}

async fn people(server: &Server) {
    user(
        server,
        "alice",
        ALICE.1,
        Some(("growth", "operator")),
        false,
    )
    .await;
    user(server, "bob", BOB.1, Some(("growth", "operator")), false).await;
    user(
        server,
        "carol",
        "carol@example.com",
        Some(("finance", "operator")),
        false,
    )
    .await;
    user(server, "root", ROOT.1, None, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_become_versions_with_provenance_on_the_webhook_and_on_the_interval() {
    let repo = Repo::new();
    let first = repo.commit(ALICE, "add clicks", &[("dags/clicks.yaml", &clicks("one"))]);
    let server = start(&repo, "1h").await;
    // The start-up sync loaded the first commit.
    let (status, state) = server.get("/repository").await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["commit"], first.as_str(), "{state}");
    assert!(state["last_error"].is_null(), "{state}");

    // A new commit, then the webhook: picked up at once (the interval is an hour).
    let second = repo.commit(
        BOB,
        "clicks: say two",
        &[("dags/clicks.yaml", &clicks("two"))],
    );
    let answer = sync(&server).await;
    assert_eq!(answer["commit"], second.as_str(), "{answer}");
    assert_eq!(answer["loaded"]["new_versions"], 1, "{answer}");
    let (_, versions) = server.get("/dags/clicks/versions").await;
    let list = versions["versions"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{versions}");
    // Newest first, each with the commit that brought it and its author.
    assert_eq!(list[0]["commit"], second.as_str());
    assert_eq!(list[0]["author_email"], BOB.1);
    assert_eq!(list[0]["message"], "clicks: say two");
    assert_eq!(list[0]["status"], "active");
    assert_eq!(list[1]["commit"], first.as_str());
    assert_eq!(list[1]["status"], "superseded");
    assert_eq!(dag_version(&server, "clicks").await, list[0]["version"]);

    // A commit that leaves the file unchanged keeps its version (and its provenance).
    let docs = repo.commit(ALICE, "docs only", &[("README.md", "hello")]);
    let answer = sync(&server).await;
    assert_eq!(answer["loaded"]["new_versions"], 0, "{answer}");
    let (_, versions) = server.get("/dags/clicks/versions").await;
    assert_eq!(versions["total_entries"], 2, "{versions}");

    // The diff of two versions: summary and unified text.
    let (a, b) = (
        list[1]["version"].as_str().unwrap(),
        list[0]["version"].as_str().unwrap(),
    );
    let (status, diff) = server
        .get(&format!("/dags/clicks/versions/{a}/diff/{b}"))
        .await;
    assert_eq!(status, 200, "{diff}");
    assert!(
        diff["diff"]
            .as_str()
            .unwrap()
            .contains("-    shell: echo one"),
        "{diff}"
    );
    assert!(
        diff["diff"]
            .as_str()
            .unwrap()
            .contains("+    shell: echo two"),
        "{diff}"
    );
    assert_eq!(
        diff["summary"]["tasks_changed"][0]["task"], "count",
        "{diff}"
    );
    // One version with its YAML.
    let (_, one) = server.get(&format!("/dags/clicks/versions/{b}")).await;
    assert!(
        one["source"].as_str().unwrap().contains("echo two"),
        "{one}"
    );

    // The CLI shows the same.
    let out = server.cli(&["dags", "versions", "clicks"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("bob@example.com"),
        "{text}"
    );
    let out = server.cli(&["repo", "status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&docs[..12]), "{text}");
    drop(server);

    // On the interval: a commit is picked up without any call.
    let server = start(&repo, "1s").await;
    let third = repo.commit(
        ALICE,
        "clicks: say three",
        &[("dags/clicks.yaml", &clicks("three"))],
    );
    server
        .wait_for("/repository", "the interval's sync", |s| {
            s["commit"] == third.as_str()
        })
        .await;
    server
        .wait_for("/dags/clicks/versions", "the new version", |v| {
            v["versions"][0]["commit"] == third.as_str()
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_file_keeps_its_dag_on_the_last_good_version_and_force_pushes_are_followed() {
    let repo = Repo::new();
    repo.commit(
        ALICE,
        "two DAGs",
        &[
            ("dags/clicks.yaml", &clicks("one")),
            ("dags/orders.yaml", &orders(false, "one")),
        ],
    );
    let server = start(&repo, "1h").await;
    let orders_v1 = dag_version(&server, "orders").await;
    let clicks_v1 = dag_version(&server, "clicks").await;

    let broken = repo.commit(
        ALICE,
        "break orders",
        &[
            ("dags/clicks.yaml", &clicks("two")),
            (
                "dags/orders.yaml",
                "dag: orders\nteam: growth\ntasks:\n  load:\n    shel: typo\n",
            ),
        ],
    );
    let answer = sync(&server).await;
    assert_eq!(answer["commit"], broken.as_str());
    assert_eq!(answer["loaded"]["files_with_errors"], 1, "{answer}");
    assert_ne!(
        dag_version(&server, "clicks").await,
        clicks_v1,
        "clicks moved on"
    );
    assert_eq!(
        dag_version(&server, "orders").await,
        orders_v1,
        "orders kept its version"
    );
    let (_, errors) = server.get("/importErrors").await;
    assert!(errors.to_string().contains("shel"), "{errors}");
    let (_, dag) = server.get("/dags/orders").await;
    assert_eq!(dag["is_active"], true, "{dag}");

    // History rewritten: the broken commit is replaced by a fixed one (a force-push).
    repo.git(&["reset", "--quiet", "--hard", "HEAD~1"]);
    let rewritten = repo.commit(
        ALICE,
        "orders: say three",
        &[("dags/orders.yaml", &orders(false, "three"))],
    );
    let answer = sync(&server).await;
    assert_eq!(answer["commit"], rewritten.as_str(), "{answer}");
    assert_ne!(dag_version(&server, "orders").await, orders_v1);
    // clicks is back to its first content, which is its first version again.
    assert_eq!(dag_version(&server, "clicks").await, clicks_v1);
    let (_, errors) = server.get("/importErrors").await;
    assert_eq!(errors["total_entries"], 0, "{errors}");

    // A commit cannot make the server read its own files: a link to the master key is
    // refused as a link out of the DAG folder, and nothing of the key is shown.
    let key = std::fs::canonicalize(server.home().join("master.key")).unwrap();
    std::os::unix::fs::symlink(&key, repo.path().join("dags/peek.yaml")).unwrap();
    repo.commit(ALICE, "a link to the server's key", &[]);
    let answer = sync(&server).await;
    assert_eq!(answer["loaded"]["files_with_errors"], 1, "{answer}");
    let (_, errors) = server.get("/importErrors").await;
    let shown = errors.to_string();
    assert!(shown.contains("outside the DAG folder"), "{errors}");
    let key_text = std::fs::read_to_string(&key).unwrap();
    let key_line = key_text.lines().last().unwrap_or_default().trim();
    assert!(key_line.len() > 8 && !shown.contains(key_line), "{errors}");
    std::fs::remove_file(repo.path().join("dags/peek.yaml")).unwrap();
    let last_good = repo.commit(ALICE, "no link", &[]);
    sync(&server).await;

    // An unreachable repository: the sync fails with a clear error, nothing changes.
    std::fs::rename(repo.path().join(".git"), repo.path().join("moved.git")).unwrap();
    refused(
        server.send("POST", "/repository/sync", "").await,
        503,
        "fetching branch `main`",
    );
    let (_, state) = server.get("/repository").await;
    assert_eq!(
        state["commit"],
        last_good.as_str(),
        "the last good commit stays: {state}"
    );
    assert!(
        state["last_error"].as_str().unwrap().contains("fetching"),
        "{state}"
    );
    let (_, errors) = server.get("/importErrors").await;
    assert!(
        errors.to_string().contains("could not be synced"),
        "{errors}"
    );
    let (_, audit) = server
        .get("/auditEvents?action=repository.sync&outcome=failed")
        .await;
    assert!(audit["total_entries"].as_i64().unwrap() >= 1, "{audit}");
    let out = server.cli(&["repo", "sync"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("fetching"),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_versions_wait_for_a_second_person_from_another_team() {
    let repo = Repo::new();
    let server = start(&repo, "1h").await;
    people(&server).await;
    // A brand-new production DAG by alice: listed, but it runs nothing until approved.
    let first = repo.commit(
        ALICE,
        "orders v1",
        &[("dags/orders.yaml", &orders(true, "v1"))],
    );
    sync(&server).await;
    let waiting = pending(&server, "orders").await;
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    let a1 = waiting[0]["approval_id"].as_i64().unwrap();
    assert_eq!(waiting[0]["author_user"], "alice");
    assert_eq!(waiting[0]["commit"], first.as_str());
    assert_eq!(
        waiting[0]["summary"]["tasks_added"],
        json!(["load"]),
        "{waiting:?}"
    );
    assert!(dag_version(&server, "orders").await.is_null());
    refused(
        server.send("POST", "/dags/orders/dagRuns", "{}").await,
        409,
        "no approved version",
    );

    // The author may not approve; nor, for growth (`other_team`), a teammate.
    refused(
        decide(&server, "alice", a1, "approve", "{}").await,
        403,
        "you authored this version",
    );
    refused(
        decide(&server, "bob", a1, "approve", "{}").await,
        403,
        "outside team `growth`",
    );
    // Nor whoever committed it (the merger): CI's committer e-mail is dave's.
    user(
        &server,
        "dave",
        "ci@example.com",
        Some(("finance", "operator")),
        false,
    )
    .await;
    refused(
        decide(&server, "dave", a1, "approve", "{}").await,
        403,
        "you committed",
    );
    // Someone of another team approves: the version is active and runs.
    let (status, approved) = send_as(
        &server,
        "carol",
        "POST",
        &format!("/approvals/{a1}/approve"),
        r#"{"comment": "looks right"}"#,
    )
    .await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["state"], "approved");
    let v1 = dag_version(&server, "orders").await;
    assert_eq!(v1, approved["version"]);
    let run = server.trigger("orders").await;
    let (_, shown) = server.get(&format!("/dags/orders/dagRuns/{run}")).await;
    assert_eq!(shown["dag_hash"], v1);
    assert_eq!(shown["dag_version"]["approved_by"], "carol", "{shown}");
    assert_eq!(shown["dag_version"]["commit"], first.as_str(), "{shown}");

    // v2 waits; while it does, manual and scheduled runs use v1.
    repo.commit(
        ALICE,
        "orders v2",
        &[("dags/orders.yaml", &orders(true, "v2"))],
    );
    sync(&server).await;
    let waiting = pending(&server, "orders").await;
    let a2 = waiting[0]["approval_id"].as_i64().unwrap();
    assert_eq!(
        waiting[0]["summary"]["tasks_changed"][0]["task"], "load",
        "{waiting:?}"
    );
    assert_eq!(dag_version(&server, "orders").await, v1);
    let second_run = server.trigger("orders").await;
    let (status, _) = server
        .send("PATCH", "/dags/orders", r#"{"is_paused": false}"#)
        .await;
    assert_eq!(status, 200);
    for run in [&run, &second_run] {
        let done = server.wait_run_finished("orders", run).await;
        assert_eq!(
            (&done["dag_hash"], &done["state"]),
            (&v1, &json!("success")),
            "{done}"
        );
    }
    let runs = server
        .wait_for(
            "/dags/orders/dagRuns?run_type=scheduled",
            "a scheduled run",
            |r| {
                r["dag_runs"]
                    .as_array()
                    .is_some_and(|runs| runs.iter().any(|run| run["run_type"] == "scheduled"))
            },
        )
        .await;
    for run in runs["dag_runs"].as_array().unwrap() {
        assert_eq!(run["dag_hash"], v1, "{run}");
    }

    // v3 supersedes v2: approving v2 now is refused.
    repo.commit(
        ALICE,
        "orders v3",
        &[("dags/orders.yaml", &orders(true, "v3"))],
    );
    sync(&server).await;
    refused(
        decide(&server, "carol", a2, "approve", "{}").await,
        409,
        "superseded",
    );
    let a3 = first_pending(&server, "orders").await;
    // Counted in `GET /metrics` (by this process: the counters start again at a restart).
    let counted = metrics(&server).await;
    for line in [
        "weir_approvals_total{team=\"growth\",decision=\"requested\"} 3\n",
        "weir_approvals_total{team=\"growth\",decision=\"approved\"} 1\n",
    ] {
        assert!(counted.contains(line), "no {line:?} in\n{counted}");
    }

    // Approvals survive a restart.
    let mut server = server;
    server.kill();
    server.restart();
    let waiting = pending(&server, "orders").await;
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0]["approval_id"], a3);
    assert_eq!(dag_version(&server, "orders").await, v1);
    // Rejection keeps v1; the CLI answers the same list.
    let out = server.cli(&["approvals", "list"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("orders"),
        "{out:?}"
    );
    let (status, rejected) = send_as(
        &server,
        "carol",
        "POST",
        &format!("/approvals/{a3}/reject"),
        r#"{"comment": "no"}"#,
    )
    .await;
    assert_eq!(status, 200, "{rejected}");
    assert_eq!(dag_version(&server, "orders").await, v1);
    let (_, versions) = server.get("/dags/orders/versions").await;
    let statuses: Vec<&str> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["rejected", "superseded", "active"], "{versions}");

    // Switching `production` off is itself a production change: it waits too.
    repo.commit(
        ALICE,
        "orders: not production",
        &[("dags/orders.yaml", &orders(false, "v4"))],
    );
    sync(&server).await;
    assert_eq!(pending(&server, "orders").await.len(), 1);
    assert_eq!(dag_version(&server, "orders").await, v1);

    // Self-approval is refused to a platform admin too.
    repo.commit(
        ROOT,
        "orders v5 by root",
        &[("dags/orders.yaml", &orders(true, "v5"))],
    );
    sync(&server).await;
    let a5 = first_pending(&server, "orders").await;
    refused(
        decide(&server, "root", a5, "approve", "{}").await,
        403,
        "you authored",
    );
    // The audit trail has the refusals, the approval and the rejection.
    let (_, audit) = server.get("/auditEvents?object_type=approval").await;
    let text = audit.to_string();
    assert!(
        text.contains("approval.approve") && text.contains("approval.reject"),
        "{audit}"
    );
    assert!(text.contains("denied"), "{audit}");
    let counted = metrics(&server).await;
    for line in [
        "weir_approvals_total{team=\"growth\",decision=\"rejected\"} 1\n",
        "weir_repository_syncs_total{outcome=\"loaded\"} ",
    ] {
        assert!(counted.contains(line), "no {line:?} in\n{counted}");
    }
}

/// `GET /metrics` as the platform admin.
async fn metrics(server: &Server) -> String {
    let response = reqwest::Client::new()
        .get(format!("{}/metrics", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_needs_a_platform_admin_and_a_reason_and_is_audited() {
    let repo = Repo::new();
    repo.commit(
        ALICE,
        "orders v1",
        &[("dags/orders.yaml", &orders(true, "v1"))],
    );
    let server = start(&repo, "1h").await;
    people(&server).await;
    let (_, versions) = server.get("/dags/orders/versions").await;
    let v1 = versions["versions"][0]["version"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/dags/orders/versions/{v1}/activate");
    // A team operator may not; a platform admin must give a reason.
    let (status, _) = send_as(&server, "bob", "POST", &path, r#"{"reason": "hotfix"}"#).await;
    assert_eq!(status, 403);
    let (status, problem) = server.send("POST", &path, r#"{"reason": " "}"#).await;
    assert_eq!(status, 400, "{problem}");
    let out = server.cli(&[
        "dags",
        "activate",
        "orders",
        &v1,
        "--reason",
        "orders are down, fix cannot wait",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(dag_version(&server, "orders").await, v1.as_str());
    let (_, shown) = server.get(&format!("/dags/orders/versions/{v1}")).await;
    assert_eq!(shown["status"], "active");
    assert_eq!(
        shown["break_glass_reason"], "orders are down, fix cannot wait",
        "{shown}"
    );
    let (_, activations) = server.get("/auditEvents?action=version.activate").await;
    assert!(
        activations.to_string().contains("break-glass"),
        "{activations}"
    );
    let (_, audit) = server.get("/auditEvents?action=version.break_glass").await;
    assert_eq!(audit["total_entries"], 1, "{audit}");
    assert!(audit.to_string().contains("cannot wait"), "{audit}");
    // Its approval request is closed, and the diff of two DAGs' versions is refused.
    assert!(pending(&server, "orders").await.is_empty());
    repo.commit(ALICE, "clicks", &[("dags/clicks.yaml", &clicks("one"))]);
    sync(&server).await;
    let clicks_v = dag_version(&server, "clicks").await;
    refused(
        server
            .get(&format!(
                "/dags/orders/versions/{v1}/diff/{}",
                clicks_v.as_str().unwrap()
            ))
            .await,
        404,
        "has no version",
    );
}

fn write_tree(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let target = root.join(path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, text).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weir_deploy_goes_through_versions_and_approval() {
    // A server without a repository: the DAG folder, and deployments.
    let platform = config(Path::new("/nonexistent"), "1h");
    let platform = platform.split("[repository]").next().unwrap().to_string();
    let mut server = server_with(&platform).await;
    people(&server).await;
    let (_, repo) = server.get("/repository").await;
    assert_eq!(repo["configured"], false, "{repo}");

    let bundle = tempfile::tempdir().unwrap();
    write_tree(
        bundle.path(),
        &[
            ("dags/orders.yaml", &orders(true, "deployed")),
            ("dags/clicks.yaml", &clicks("deployed")),
        ],
    );
    // alice deploys with the CLI, signed in with her own token.
    let token = login(&server, "alice").await;
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["deploy"])
        .arg(bundle.path())
        .args(["--message", "first deployment", "--output", "json"])
        .env("WEIR_SERVER", &server.url)
        .env("WEIR_TOKEN", &token)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    let outcome = |dag: &str| {
        done["dags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["dag_id"] == dag)
            .unwrap()["outcome"]
            .clone()
    };
    assert_eq!(outcome("clicks"), "active", "{done}");
    assert_eq!(outcome("orders"), "pending_approval", "{done}");
    let waiting = pending(&server, "orders").await;
    assert_eq!(waiting[0]["author_user"], "alice", "{waiting:?}");
    let id = waiting[0]["approval_id"].as_i64().unwrap();
    let (status, _) = decide(&server, "alice", id, "approve", "{}").await;
    assert_eq!(status, 403);
    let (status, _) = decide(&server, "carol", id, "approve", "{}").await;
    assert_eq!(status, 200);
    let (_, versions) = server.get("/dags/orders/versions").await;
    assert_eq!(versions["versions"][0]["origin"], "deploy", "{versions}");
    assert_eq!(versions["versions"][0]["message"], "first deployment");

    // A deployed DAG survives the folder's syncs (no folder holds it).
    std::fs::write(
        server.dags().join("other.yaml"),
        "dag: other\nteam: ops\ntasks:\n  t:\n    shell: 'true'\n",
    )
    .unwrap();
    server
        .wait_for("/dags/other", "the folder's DAG", |d| {
            d["is_active"] == true
        })
        .await;
    let (_, dag) = server.get("/dags/orders").await;
    assert_eq!(dag["is_active"], true, "{dag}");

    // All or nothing: a broken file, or another team's DAG, refuses the whole bundle.
    refused(send_as(
        &server,
        "alice",
        "POST",
        "/deployments",
        &json!({"team": "growth", "files": [
            {"path": "dags/clicks.yaml", "content": clicks("changed")},
            {"path": "dags/theirs.yaml", "content": "dag: theirs\nteam: finance\ntasks:\n  t:\n    shell: 'true'\n"},
        ]})
        .to_string(),
    )
    .await, 400, "belongs to team `finance`");
    let (_, versions) = server.get("/dags/clicks/versions").await;
    assert_eq!(versions["total_entries"], 1, "nothing changed: {versions}");
    // A path out of the bundle, and a team alice does not operate, are refused.
    let (status, problem) = send_as(
        &server,
        "alice",
        "POST",
        "/deployments",
        &json!({"team": "growth", "files": [{"path": "../x.yaml", "content": "x"}]}).to_string(),
    )
    .await;
    assert_eq!(status, 400, "{problem}");
    let (status, _) = send_as(
        &server,
        "alice",
        "POST",
        "/deployments",
        &json!({"team": "finance", "files": [{"path": "dags/x.yaml", "content": "x"}]}).to_string(),
    )
    .await;
    assert_eq!(status, 403);
    server.kill();
}

/// An API token of `user`, made with its password.
async fn login(server: &Server, user: &str) -> String {
    let (status, body) = send_as(server, user, "POST", "/tokens", r#"{"name": "cli"}"#).await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weir_init_scaffolds_a_repository_that_weir_loads() {
    let target = tempfile::tempdir().unwrap();
    let dir: PathBuf = target.path().join("growth-dags");
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["init", "growth"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in [
        "dags/growth/hello_growth.yaml",
        "jobs/growth/example.yaml",
        "ci/validate-and-sync.sh",
        ".github/workflows/weir.yml",
        ".vscode/settings.json",
        "schemas/weir-dag.schema.json",
        "README.md",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    // Its own CI's check passes.
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["dags", "validate"])
        .arg(dir.join("dags"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Never over an existing folder.
    let again = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["init", "growth"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    // Committed, it is a repository Weir delivers from, and its example DAG runs.
    let repo = Repo {
        dir: tempfile::tempdir().unwrap(),
    };
    std::fs::remove_dir(repo.path()).unwrap();
    std::fs::rename(&dir, repo.path()).unwrap();
    repo.git(&["init", "--quiet", "--initial-branch=main"]);
    repo.commit(ALICE, "scaffold", &[]);
    let server = start(&repo, "1h").await;
    let (status, dag) = server.get("/dags/hello_growth").await;
    assert_eq!(status, 200, "{dag}");
    let (status, _) = server
        .send("PATCH", "/dags/hello_growth", r#"{"is_paused": false}"#)
        .await;
    assert_eq!(status, 200);
    let run = server.trigger("hello_growth").await;
    let done = server.wait_run_finished("hello_growth", &run).await;
    assert_eq!(done["state"], "success", "{done}");
}

fn loader(command: &str) -> String {
    format!(
        "job: loader\nteam: growth\nimage: weir-test/busybox:latest\ncommand: [sh, -c, '{command}']\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_definition_change_is_a_production_change_and_credentials_come_from_a_secret() {
    let repo = Repo::new();
    repo.commit(
        ALICE,
        "orders runs the loader",
        &[
            ("jobs/loader.yaml", &loader("echo v1")),
            (
                "dags/orders.yaml",
                "dag: orders\nteam: growth\nproduction: true\ntasks:\n  load:\n    job: loader\n",
            ),
        ],
    );
    let platform = format!(
        r#"
[[compute_environments]]
name = "containers"
backend = "docker"
max_vcpus = 4
max_memory = "4Gi"

[[queues]]
name = "default"
compute_environments = ["containers"]

[[teams]]
name = "growth"
image_prefixes = ["*"]

[[teams]]
name = "ops"

[repository]
url = "{}"
interval = "1h"
token_secret = "ops/git-token"
"#,
        repo.path().display()
    );
    let server = server_with(&platform).await;
    // The credentials' secret does not exist yet: the sync says which and how to set it.
    let (_, state) = server.get("/repository").await;
    let error = state["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("weir secrets set ops/git-token"), "{state}");
    let (_, errors) = server.get("/importErrors").await;
    assert!(errors.to_string().contains("ops/git-token"), "{errors}");
    let out = server.cli_with_stdin(&["secrets", "set", "ops/git-token"], "token-1234");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    sync(&server).await;
    let (_, errors) = server.get("/importErrors").await;
    assert_eq!(errors["total_entries"], 0, "{errors}");

    people(&server).await;
    let first = first_pending(&server, "orders").await;
    let (status, _) = decide(&server, "bob", first, "approve", "{}").await;
    assert_eq!(status, 200, "growth's default: another person of the team");
    let v1 = dag_version(&server, "orders").await;

    // Only the job definition changes: the production DAG gets a version that waits,
    // and carries the new definition.
    let (_, loader_v1) = server.get("/jobDefinitions/loader").await;
    assert_eq!(loader_v1["provenance"]["origin"], "git", "{loader_v1}");
    let loader_commit = repo.commit(
        ALICE,
        "loader v2",
        &[("jobs/loader.yaml", &loader("echo v2"))],
    );
    sync(&server).await;
    // The job definition's own provenance: the commit that brought its revision.
    let (_, loader_v2) = server.get("/jobDefinitions/loader").await;
    assert_eq!(
        loader_v2["provenance"]["commit"],
        loader_commit.as_str(),
        "{loader_v2}"
    );
    assert_eq!(loader_v2["provenance"]["author_email"], ALICE.1);
    assert_ne!(loader_v2["revision"], loader_v1["revision"]);
    let waiting = pending(&server, "orders").await;
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(dag_version(&server, "orders").await, v1);
    let v2 = waiting[0]["version"].as_str().unwrap();
    let (_, shown) = server.get(&format!("/dags/orders/versions/{v2}")).await;
    assert!(
        shown["job_definitions"].to_string().contains("echo v2"),
        "{shown}"
    );
    let (_, active) = server
        .get(&format!("/dags/orders/versions/{}", v1.as_str().unwrap()))
        .await;
    assert!(
        active["job_definitions"].to_string().contains("echo v1"),
        "{active}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sql_file_is_read_from_the_commit_in_use_and_a_production_dag_may_not_use_one() {
    let Ok(url) = std::env::var("WEIR_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("WEIR_REQUIRE_POSTGRES").is_none(),
            "WEIR_TEST_POSTGRES_URL is not set and WEIR_REQUIRE_POSTGRES is"
        );
        eprintln!("skipped: WEIR_TEST_POSTGRES_URL is not set");
        return;
    };
    let parsed = reqwest::Url::parse(&url).unwrap();
    let repo = Repo::new();
    repo.commit(
        ALICE,
        "a query in a file",
        &[
            ("dags/sql/q.sql", "SELECT 'from git' AS said"),
            (
                "dags/query.yaml",
                "dag: query\nteam: growth\ntasks:\n  q: {sql: {connection: warehouse, file: sql/q.sql, output: first_row}}\n",
            ),
            (
                "dags/approved.yaml",
                "dag: approved\nteam: growth\nproduction: true\ntasks:\n  q: {sql: {connection: warehouse, file: sql/q.sql}}\n",
            ),
        ],
    );
    let server = start(&repo, "1h").await;
    let connection = json!({
        "connection_id": "warehouse", "conn_type": "postgres", "team": "growth",
        "host": parsed.host_str().unwrap(), "port": parsed.port().unwrap_or(5432),
        "login": parsed.username(), "password": parsed.password().unwrap_or_default(),
        "schema": parsed.path().trim_start_matches('/'),
    });
    let (status, body) = server
        .send("POST", "/connections", &connection.to_string())
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = server
        .send("PATCH", "/dags/query", r#"{"is_paused": false}"#)
        .await;
    assert_eq!(status, 200);
    let run = server.trigger("query").await;
    let done = server.wait_run_finished("query", &run).await;
    assert_eq!(done["state"], "success", "{done}\n{}", server.output());
    let (_, xcom) = server
        .get(&format!(
            "/dags/query/dagRuns/{run}/taskInstances/q/xcomEntries/return_value"
        ))
        .await;
    assert!(xcom.to_string().contains("from git"), "{xcom}");
    // The production DAG is refused where it reads a file its approval would not cover.
    let (_, errors) = server.get("/importErrors").await;
    assert!(
        errors.to_string().contains("would run without approval"),
        "{errors}"
    );
    let (status, _) = server.get("/dags/approved").await;
    assert_eq!(status, 404);
}
