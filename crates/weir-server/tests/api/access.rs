//! The role × route matrix: every route of the OpenAPI document, called by every kind of
//! caller, against objects of team `data`. Each row says, in plain words, who may call the
//! route; a denied call must answer 401 (anonymous) or 403, change nothing (a snapshot of
//! the store before and after is compared) and, for changes and sensitive reads, leave a
//! `denied` audit event naming the caller.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed case

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use weir_core::ids::{DagId, RunId};
use weir_store::{
    AuditFilter, ConnectionRecord, DagFilter, DagRunFilter, NewToken, Store, TokenFilter,
};

use super::support::{TestApp, create_user};

/// Who calls. The names are also the user names (and so the audit actors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    /// Signed in, member of no team: the platform-wide viewer.
    Vera,
    /// `viewer` of data.
    Vic,
    /// `operator` of data.
    Dora,
    /// `admin` of data.
    Dan,
    /// `admin` of finance only.
    Fred,
    /// data's service token, role `operator`.
    Svc,
    /// Platform admin.
    Admin,
}

use Who::*;

const EVERYONE: &[Who] = &[Anonymous, Vera, Vic, Dora, Dan, Fred, Svc, Admin];
const SIGNED_IN: &[Who] = &[Vera, Vic, Dora, Dan, Fred, Svc, Admin];
const DATA_MEMBERS: &[Who] = &[Vic, Dora, Dan, Svc, Admin];
const DATA_OPERATORS: &[Who] = &[Dora, Dan, Svc, Admin];
const DATA_ADMINS: &[Who] = &[Dan, Admin];
const TEAM_ADMINS: &[Who] = &[Dan, Fred, Admin];
const PLATFORM_ADMINS: &[Who] = &[Admin];
/// Operators of any team (fred administers finance), and platform admins.
const ANY_TEAM_OPERATORS: &[Who] = &[Dora, Dan, Fred, Svc, Admin];

impl Who {
    fn actor(self) -> &'static str {
        match self {
            Anonymous => "",
            Vera => "vera",
            Vic => "vic",
            Dora => "dora",
            Dan => "dan",
            Fred => "fred",
            Svc => "data:deploy",
            Admin => "admin",
        }
    }
}

/// One route: its template (as in the OpenAPI document), a concrete call, and who may.
struct Row {
    method: &'static str,
    template: &'static str,
    path: String,
    body: Option<Value>,
    allowed: &'static [Who],
}

fn row(
    method: &'static str,
    template: &'static str,
    path: impl Into<String>,
    body: Option<Value>,
    allowed: &'static [Who],
) -> Row {
    Row {
        method,
        template,
        path: path.into(),
        body,
        allowed,
    }
}

const RUN: &str = "/api/v1/dags/hello/dagRuns/r1";
const TI: &str = "/api/v1/dags/hello/dagRuns/r1/taskInstances/start";

fn rows(import_error_id: i64, hello_version: &str) -> Vec<Row> {
    let version = format!("/api/v1/dags/hello/versions/{hello_version}");
    let conn = |id: &str| json!({"connection_id": id, "conn_type": "postgres", "host": "db", "password": "pw", "team": "data"});
    vec![
        row("GET", "/health", "/api/v1/health", None, EVERYONE),
        row("GET", "/version", "/api/v1/version", None, EVERYONE),
        row("GET", "/me", "/api/v1/me", None, SIGNED_IN),
        // Everyone signed in sees every team's DAGs, runs, task states, code and costs.
        row("GET", "/dags", "/api/v1/dags", None, SIGNED_IN),
        row(
            "GET",
            "/dagSources/{file_token}",
            format!(
                "/api/v1/dagSources/{}",
                weir_api::dag_sources::file_token("hello")
            ),
            None,
            SIGNED_IN,
        ),
        row(
            "GET",
            "/dags/~/dagRuns/~/taskInstances",
            "/api/v1/dags/~/dagRuns/~/taskInstances",
            None,
            SIGNED_IN,
        ),
        row(
            "GET",
            "/dags/{dag_id}/dagRuns/~/taskInstances",
            "/api/v1/dags/hello/dagRuns/~/taskInstances",
            None,
            SIGNED_IN,
        ),
        row(
            "GET",
            "/dags/{dag_id}",
            "/api/v1/dags/hello",
            None,
            SIGNED_IN,
        ),
        row(
            "GET",
            "/dags/{dag_id}/details",
            "/api/v1/dags/hello/details",
            None,
            SIGNED_IN,
        ),
        row(
            "GET",
            "/dags/{dag_id}/tasks",
            "/api/v1/dags/hello/tasks",
            None,
            SIGNED_IN,
        ),
        row(
            "GET",
            "/dags/{dag_id}/tasks/{task_id}",
            "/api/v1/dags/hello/tasks/start",
            None,
            SIGNED_IN,
        ),
        row(
            "GET",
            "/dags/{dag_id}/dagRuns",
            "/api/v1/dags/hello/dagRuns",
            None,
            SIGNED_IN,
        ),
        row(
            "POST",
            "/dags/~/dagRuns/list",
            "/api/v1/dags/~/dagRuns/list",
            Some(json!({})),
            SIGNED_IN,
        ),
        row(
            "GET",
            "/dags/{dag_id}/dagRuns/{dag_run_id}",
            RUN,
            None,
            SIGNED_IN,
        ),
        row(
            "GET",
            "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances",
            format!("{RUN}/taskInstances"),
            None,
            SIGNED_IN,
        ),
        row(
            "POST",
            "/dags/~/dagRuns/~/taskInstances/list",
            "/api/v1/dags/~/dagRuns/~/taskInstances/list",
            Some(json!({})),
            SIGNED_IN,
        ),
        row(
            "GET",
            "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}",
            TI,
            None,
            SIGNED_IN,
        ),
        row(
            "GET",
            "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{map_index}",
            format!("{TI}/0"),
            None,
            SIGNED_IN,
        ),
        row(
            "GET",
            "/importErrors",
            "/api/v1/importErrors",
            None,
            SIGNED_IN,
        ),
        row(
            "GET",
            "/importErrors/{import_error_id}",
            format!("/api/v1/importErrors/{import_error_id}"),
            None,
            SIGNED_IN,
        ),
        row("GET", "/queues", "/api/v1/queues", None, SIGNED_IN),
        row(
            "GET",
            "/queues/{queue_name}",
            "/api/v1/queues/default",
            None,
            SIGNED_IN,
        ),
        row("GET", "/costs", "/api/v1/costs", None, SIGNED_IN),
        row(
            "GET",
            "/jobDefinitions",
            "/api/v1/jobDefinitions",
            None,
            SIGNED_IN,
        ),
        row(
            "GET",
            "/jobDefinitions/{job_definition_name}",
            "/api/v1/jobDefinitions/none",
            None,
            SIGNED_IN,
        ),
        row("GET", "/pools", "/api/v1/pools", None, SIGNED_IN),
        row(
            "GET",
            "/pools/{pool_name}",
            "/api/v1/pools/default_pool",
            None,
            SIGNED_IN,
        ),
        row("GET", "/teams", "/api/v1/teams", None, SIGNED_IN),
        row(
            "GET",
            "/teams/{team_name}",
            "/api/v1/teams/data",
            None,
            SIGNED_IN,
        ),
        row("GET", "/tokens", "/api/v1/tokens", None, SIGNED_IN),
        row("GET", "/variables", "/api/v1/variables", None, SIGNED_IN),
        row(
            "GET",
            "/connections",
            "/api/v1/connections",
            None,
            SIGNED_IN,
        ),
        // Logs and XComs may hold the team's data: its members only.
        row(
            "GET",
            "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{task_try_number}",
            format!("{TI}/logs/1"),
            None,
            DATA_MEMBERS,
        ),
        row(
            "GET",
            "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries",
            format!("{TI}/xcomEntries"),
            None,
            DATA_MEMBERS,
        ),
        row(
            "GET",
            "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries/{xcom_key}",
            format!("{TI}/xcomEntries/return_value"),
            None,
            DATA_MEMBERS,
        ),
        row(
            "GET",
            "/variables/{variable_key}",
            "/api/v1/variables/data_var",
            None,
            DATA_MEMBERS,
        ),
        row(
            "GET",
            "/connections/{connection_id}",
            "/api/v1/connections/data_conn",
            None,
            DATA_MEMBERS,
        ),
        // Acting on the team's DAGs: its operators.
        row(
            "PATCH",
            "/dags/{dag_id}",
            "/api/v1/dags/hello",
            Some(json!({"is_paused": true})),
            DATA_OPERATORS,
        ),
        row(
            "POST",
            "/dags/{dag_id}/dagRuns",
            "/api/v1/dags/hello/dagRuns",
            Some(json!({})),
            DATA_OPERATORS,
        ),
        row(
            "PATCH",
            "/dags/{dag_id}/dagRuns/{dag_run_id}",
            RUN,
            Some(json!({"state": "failed"})),
            DATA_OPERATORS,
        ),
        row(
            "POST",
            "/dags/{dag_id}/dagRuns/{dag_run_id}/clear",
            format!("{RUN}/clear"),
            Some(json!({"dry_run": false})),
            DATA_OPERATORS,
        ),
        row(
            "GET",
            "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/tries",
            format!("{TI}/tries"),
            None,
            SIGNED_IN,
        ),
        row(
            "POST",
            "/dags/{dag_id}/clearTaskInstances",
            "/api/v1/dags/hello/clearTaskInstances",
            Some(json!({"dry_run": false})),
            DATA_OPERATORS,
        ),
        row(
            "PATCH",
            "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}",
            TI,
            Some(json!({"dry_run": false, "new_state": "failed"})),
            DATA_OPERATORS,
        ),
        row(
            "POST",
            "/backfills",
            "/api/v1/backfills",
            Some(
                json!({"dag_id": "hello", "from_date": "2026-01-01T00:00:00Z", "to_date": "2026-01-02T00:00:00Z"}),
            ),
            DATA_OPERATORS,
        ),
        row(
            "DELETE",
            "/dags/{dag_id}/dagRuns/{dag_run_id}",
            "/api/v1/dags/hello/dagRuns/r-delete",
            None,
            DATA_OPERATORS,
        ),
        // Managing the team's variables, connections, members and tokens: its admins.
        row(
            "POST",
            "/variables",
            "/api/v1/variables",
            Some(json!({"key": "data_new", "value": "v", "team": "data"})),
            DATA_OPERATORS,
        ),
        row(
            "PATCH",
            "/variables/{variable_key}",
            "/api/v1/variables/data_var",
            Some(json!({"key": "data_var", "value": "changed"})),
            DATA_OPERATORS,
        ),
        row(
            "DELETE",
            "/variables/{variable_key}",
            "/api/v1/variables/data_var_del",
            None,
            DATA_OPERATORS,
        ),
        row(
            "POST",
            "/connections",
            "/api/v1/connections",
            Some(conn("data_new")),
            DATA_ADMINS,
        ),
        row(
            "PATCH",
            "/connections/{connection_id}",
            "/api/v1/connections/data_conn",
            Some(conn("data_conn")),
            DATA_ADMINS,
        ),
        row(
            "DELETE",
            "/connections/{connection_id}",
            "/api/v1/connections/data_conn_del",
            None,
            DATA_ADMINS,
        ),
        // Secrets: the team's admins (and platform admins); values never come back.
        row("GET", "/secrets", "/api/v1/secrets", None, TEAM_ADMINS),
        row(
            "GET",
            "/teams/{team_name}/secrets",
            "/api/v1/teams/data/secrets",
            None,
            DATA_ADMINS,
        ),
        row(
            "GET",
            "/teams/{team_name}/secrets/{secret_name}",
            "/api/v1/teams/data/secrets/db-password",
            None,
            DATA_ADMINS,
        ),
        row(
            "PUT",
            "/teams/{team_name}/secrets/{secret_name}",
            "/api/v1/teams/data/secrets/api-token",
            Some(json!({"value": "token-value-1"})),
            DATA_ADMINS,
        ),
        row(
            "DELETE",
            "/teams/{team_name}/secrets/{secret_name}",
            "/api/v1/teams/data/secrets/spare",
            None,
            DATA_ADMINS,
        ),
        row(
            "POST",
            "/secrets/rotateKey",
            "/api/v1/secrets/rotateKey",
            None,
            PLATFORM_ADMINS,
        ),
        row(
            "PUT",
            "/teams/{team_name}/members/{username}",
            "/api/v1/teams/data/members/temp",
            Some(json!({"role": "viewer"})),
            DATA_ADMINS,
        ),
        row(
            "DELETE",
            "/teams/{team_name}/members/{username}",
            "/api/v1/teams/data/members/temp2",
            None,
            DATA_ADMINS,
        ),
        row(
            "POST",
            "/tokens",
            "/api/v1/tokens",
            Some(json!({"name": "ci", "team": "data", "role": "viewer"})),
            DATA_ADMINS,
        ),
        // A token: its owner (dan) and platform admins.
        row(
            "DELETE",
            "/tokens/{token_id}",
            "/api/v1/tokens/spare-of-dan",
            None,
            DATA_ADMINS,
        ),
        // A user's own record and password: the user and platform admins.
        row(
            "GET",
            "/users/{username}",
            "/api/v1/users/dora",
            None,
            &[Dora, Admin],
        ),
        row(
            "POST",
            "/users/{username}/password",
            "/api/v1/users/dora/password",
            Some(json!({"password": "a new password", "current_password": "password-of-dora"})),
            &[Dora, Admin],
        ),
        // Team admins see users (to add members) and their teams' audit trail.
        row("GET", "/users", "/api/v1/users", None, TEAM_ADMINS),
        row(
            "GET",
            "/auditEvents",
            "/api/v1/auditEvents",
            None,
            TEAM_ADMINS,
        ),
        // Deleting a DAG's history: the admins of its team (its file brings it back).
        row(
            "DELETE",
            "/dags/{dag_id}",
            "/api/v1/dags/failing",
            None,
            DATA_ADMINS,
        ),
        // Governed delivery: versions, diffs, approvals and the repository are seen by
        // everyone signed in (they are code); deciding an approval takes an operator of
        // some team (the four-eyes rule then decides who, in the engine); syncing takes an
        // operator of any team; deploying, an operator of the bundle's team; break-glass,
        // a platform admin.
        row(
            "GET",
            "/dags/{dag_id}/versions",
            "/api/v1/dags/hello/versions",
            None,
            SIGNED_IN,
        ),
        row(
            "GET",
            "/dags/{dag_id}/versions/{version}",
            version.clone(),
            None,
            SIGNED_IN,
        ),
        row(
            "GET",
            "/dags/{dag_id}/versions/{version}/diff/{other_version}",
            format!("{version}/diff/{hello_version}"),
            None,
            SIGNED_IN,
        ),
        row(
            "POST",
            "/dags/{dag_id}/versions/{version}/activate",
            format!("{version}/activate"),
            Some(json!({"reason": "matrix"})),
            PLATFORM_ADMINS,
        ),
        row("GET", "/approvals", "/api/v1/approvals", None, SIGNED_IN),
        row(
            "GET",
            "/approvals/{approval_id}",
            "/api/v1/approvals/1",
            None,
            SIGNED_IN,
        ),
        row(
            "POST",
            "/approvals/{approval_id}/approve",
            "/api/v1/approvals/1/approve",
            Some(json!({})),
            ANY_TEAM_OPERATORS,
        ),
        row(
            "POST",
            "/approvals/{approval_id}/reject",
            "/api/v1/approvals/1/reject",
            Some(json!({"comment": "no"})),
            ANY_TEAM_OPERATORS,
        ),
        // Narrowed to the teams whose logs the caller may read (tests/notifications.rs).
        row(
            "GET",
            "/notifications",
            "/api/v1/notifications",
            None,
            SIGNED_IN,
        ),
        row(
            "GET",
            "/notifications/channels",
            "/api/v1/notifications/channels",
            None,
            SIGNED_IN,
        ),
        // Datasets are read by everyone; an event is posted by an operator of the team
        // producing the URI (tests/datasets.rs): no DAG produces this one, so only a
        // platform admin may.
        row("GET", "/datasets", "/api/v1/datasets", None, SIGNED_IN),
        row(
            "GET",
            "/datasets/events",
            "/api/v1/datasets/events",
            None,
            SIGNED_IN,
        ),
        row(
            "POST",
            "/datasets/events",
            "/api/v1/datasets/events",
            Some(json!({"dataset_uri": "s3://matrix/nobody-produces-this"})),
            PLATFORM_ADMINS,
        ),
        row(
            "GET",
            "/lineage",
            "/api/v1/lineage?dag=hello",
            None,
            SIGNED_IN,
        ),
        row("GET", "/repository", "/api/v1/repository", None, SIGNED_IN),
        row(
            "POST",
            "/repository/sync",
            "/api/v1/repository/sync",
            None,
            ANY_TEAM_OPERATORS,
        ),
        row(
            "POST",
            "/deployments",
            "/api/v1/deployments",
            Some(
                json!({"team": "data", "files": [{"path": "dags/deployed.yaml",
                "content": "dag: deployed\nteam: data\ntasks:\n  t:\n    shell: 'true'\n"}]}),
            ),
            DATA_OPERATORS,
        ),
        // The platform itself: platform admins.
        row("GET", "/config", "/api/v1/config", None, PLATFORM_ADMINS),
        // Pools are platform-wide: platform admins create, change and delete them.
        row(
            "POST",
            "/pools",
            "/api/v1/pools",
            Some(json!({"name": "matrix_pool", "slots": 3})),
            PLATFORM_ADMINS,
        ),
        row(
            "PATCH",
            "/pools/{pool_name}",
            "/api/v1/pools/spare_pool",
            Some(json!({"name": "spare_pool", "slots": 7})),
            PLATFORM_ADMINS,
        ),
        row(
            "DELETE",
            "/pools/{pool_name}",
            "/api/v1/pools/spare_pool_del",
            None,
            PLATFORM_ADMINS,
        ),
        row(
            "POST",
            "/users",
            "/api/v1/users",
            Some(json!({"username": "newbie", "password": "long enough"})),
            PLATFORM_ADMINS,
        ),
        row(
            "DELETE",
            "/users/{username}",
            "/api/v1/users/temp3",
            None,
            PLATFORM_ADMINS,
        ),
    ]
}

/// What a denied call must not change.
async fn snapshot(store: &Store) -> String {
    let dags: Vec<_> = store
        .list_dags(&DagFilter {
            limit: 1000,
            ..DagFilter::default()
        })
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|d| (d.dag_id, d.is_paused))
        .collect();
    let runs: Vec<_> = store
        .list_dag_runs(&DagRunFilter {
            limit: 1000,
            ..DagRunFilter::default()
        })
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|r| (r.dag_id, r.run_id, r.state))
        .collect();
    let tis: Vec<_> = store
        .list_task_instances(&DagId::new("hello").unwrap(), &RunId::new("r1").unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.key, t.state))
        .collect();
    let users: Vec<_> = store
        .list_users(1000, 0)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|u| (u.username, u.password_hash, u.platform_admin))
        .collect();
    let mut members = Vec::new();
    for (u, ..) in &users {
        members.push(store.memberships_of(u).await.unwrap());
    }
    let tokens: Vec<_> = store
        .list_tokens(&TokenFilter::default(), 1000, 0)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|t| (t.id, t.revoked_at))
        .collect();
    format!(
        "{dags:?}\n{runs:?}\n{tis:?}\n{:?}\n{:?}\n{users:?}\n{members:?}\n{tokens:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        store.list_variables(1000, 0).await.unwrap(),
        store.list_connections(None, 1000, 0).await.unwrap(),
        store.list_pools(1000, 0).await.unwrap(),
        store.list_secrets(None).await.unwrap(),
        store
            .list_approvals(&weir_store::ApprovalFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .items,
        store
            .list_governed_versions(&DagId::new("hello").unwrap(), 100, 0)
            .await
            .unwrap()
            .items
            .iter()
            .map(|v| (v.version_hash.clone(), v.status))
            .collect::<Vec<_>>(),
    )
}

struct Fixture {
    t: TestApp,
    tokens: Vec<(Who, String)>,
}

impl Fixture {
    async fn new() -> Fixture {
        let t = TestApp::start().await;
        let store = t.store().clone();
        for name in ["db-password", "spare"] {
            t.engine
                .secrets()
                .set("data", name, "secret-value-1", "admin")
                .await
                .unwrap();
        }
        let mut tokens = vec![(Admin, t.admin_token.clone())];
        for (who, team_role) in [
            (Vera, None),
            (Vic, Some("viewer")),
            (Dora, Some("operator")),
            (Dan, Some("admin")),
            (Fred, None),
        ] {
            tokens.push((who, create_user(&store, who.actor(), false).await));
            if let Some(role) = team_role {
                store
                    .set_membership("data", who.actor(), role)
                    .await
                    .unwrap();
            }
        }
        store
            .set_membership("finance", "fred", "admin")
            .await
            .unwrap();
        for spare in ["temp", "temp2", "temp3"] {
            create_user(&store, spare, false).await;
        }
        store
            .set_membership("data", "temp2", "viewer")
            .await
            .unwrap();
        let (svc, digest) = weir_server::auth::api_tokens::generate().unwrap();
        store
            .create_token(&NewToken {
                id: "svc-data",
                name: "deploy",
                token_hash: &digest,
                username: None,
                team: Some("data"),
                role: Some("operator"),
                created_by: "admin",
                expires_at: None,
            })
            .await
            .unwrap();
        tokens.push((Svc, svc));
        let (_, digest) = weir_server::auth::api_tokens::generate().unwrap();
        store
            .create_token(&NewToken {
                id: "spare-of-dan",
                name: "spare",
                token_hash: &digest,
                username: Some("dan"),
                team: None,
                role: None,
                created_by: "dan",
                expires_at: None,
            })
            .await
            .unwrap();
        for key in ["data_var", "data_var_del"] {
            store
                .set_variable(key, "v", None, Some("data"))
                .await
                .unwrap();
        }
        for id in ["data_conn", "data_conn_del"] {
            store
                .put_connection(&ConnectionRecord {
                    conn_id: id.into(),
                    conn_type: "postgres".into(),
                    description: None,
                    host: Some("db".into()),
                    login: Some("u".into()),
                    password: Some("secret-pw".into()),
                    schema: None,
                    port: Some(5432),
                    extra: None,
                    team: Some("data".into()),
                })
                .await
                .unwrap();
        }
        for pool in ["spare_pool", "spare_pool_del"] {
            store.upsert_pool(pool, 2, None).await.unwrap();
        }
        t.run_to_end("hello", "r1").await;
        t.run_to_end("hello", "r-delete").await;
        Fixture { t, tokens }
    }

    fn token(&self, who: Who) -> Option<&str> {
        self.tokens
            .iter()
            .find(|(w, _)| *w == who)
            .map(|(_, t)| t.as_str())
    }

    async fn call(&self, who: Who, row: &Row) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(Method::from_bytes(row.method.as_bytes()).unwrap())
            .uri(&row.path);
        if let Some(token) = self.token(who) {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match &row.body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(v).unwrap())
            }
            None => Body::empty(),
        };
        let (status, _, bytes) = self.t.send_unauthenticated(req.body(body).unwrap()).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

#[tokio::test]
async fn every_role_against_every_route() {
    let f = Fixture::new().await;
    let store = f.t.store().clone();
    let (_, errors) = f.t.get("/api/v1/importErrors").await;
    let import_error_id = errors["import_errors"][0]["import_error_id"]
        .as_i64()
        .unwrap();
    let (_, hello) = f.t.get("/api/v1/dags/hello/details").await;
    let rows = rows(import_error_id, hello["version"].as_str().unwrap());

    // Every route of the document has a row, and every row is a route of the document.
    let doc = serde_json::to_value(weir_server::openapi_document()).unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let covered: BTreeSet<_> = rows
        .iter()
        .map(|r| (r.method.to_string(), r.template.to_string()))
        .collect();
    let missing: Vec<_> = documented.difference(&covered).collect();
    let stale: Vec<_> = covered.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the matrix: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "rows for routes that do not exist: {stale:?}"
    );

    for row in &rows {
        let what = format!("{} {}", row.method, row.path);
        // The denied first: an allowed call may delete the object the row names.
        let (allowed, denied): (Vec<Who>, Vec<Who>) =
            EVERYONE.iter().partition(|w| row.allowed.contains(w));
        for who in denied {
            let before = snapshot(&store).await;
            let audited_before = store
                .list_audit_events(&AuditFilter::default(), 1, 0)
                .await
                .unwrap()
                .total_entries;
            let (status, body) = f.call(who, row).await;
            let expected = if who == Anonymous {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(
                status, expected,
                "{what} as {who:?} should be refused: {body}"
            );
            assert_eq!(
                body["status"],
                expected.as_u16(),
                "{what} as {who:?}: {body}"
            );
            assert!(
                body["detail"].as_str().is_some_and(|d| !d.is_empty()),
                "{body}"
            );
            assert_eq!(
                snapshot(&store).await,
                before,
                "{what} as {who:?} changed something"
            );
            let method = Method::from_bytes(row.method.as_bytes()).unwrap();
            let registered = row.template.replace("{variable_key}", "{*variable_key}");
            let audited = weir_server::auth::rules::rule(&method, &registered)
                .unwrap()
                .audited;
            let events = store
                .list_audit_events(&AuditFilter::default(), 1, 0)
                .await
                .unwrap();
            if audited && who != Anonymous {
                let last = &events.items[0];
                assert_eq!(
                    (last.actor.as_str(), last.outcome.as_str()),
                    (who.actor(), "denied"),
                    "{what} as {who:?}: {last:?}"
                );
            } else {
                assert_eq!(
                    events.total_entries, audited_before,
                    "{what} as {who:?} was audited"
                );
            }
        }
        for who in allowed {
            let (status, body) = f.call(who, row).await;
            assert!(
                status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                "{what} as {who:?} should be allowed, got {status}: {body}"
            );
            assert!(
                !status.is_server_error(),
                "{what} as {who:?}: {status} {body}"
            );
        }
    }
}
