//! Issue 17, finding 2b: a DAG run's `conf` and a task instance's `rendered_fields` (the
//! rendered command, with pulled XComs and variable values in it) are a team's data.
//! Every signed-in user sees every team's runs, but these two fields (and a try's
//! `reason`) only those who may
//! read the DAG's task logs: the team's members and platform admins, or everyone when
//! the team sets `logs_readable_by = "everyone"`. Others get `{}` in every route that
//! returns them.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed case

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use weir_core::platform::{PlatformConfig, parse};

use super::support::{TestApp, create_user};

const PLATFORM: &str = r#"
[[teams]]
name = "data"

[[teams]]
name = "open"
logs_readable_by = "everyone"

[[teams]]
name = "other"
"#;

/// One shell task that renders the run's conf into its command. The engine under test
/// has no supervisor (`/bin/false`), so the try fails, after its command was rendered
/// and recorded.
fn dag(id: &str, team: &str) -> String {
    format!(
        "dag: {id}\nteam: {team}\npaused: false\ntasks:\n  say: {{shell: 'echo {{{{ conf.token }}}}'}}\n"
    )
}

async fn call_as(
    t: &TestApp,
    token: &str,
    method: Method,
    uri: &str,
    body: Option<Value>,
) -> Value {
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
    let (status, body) = t.send(req.body(body).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    body
}

/// What one caller sees of one DAG's run `r1`, through every route that returns a run's
/// conf or a task instance's rendered fields: (confs, rendered fields).
async fn seen(t: &TestApp, token: &str, dag: &str) -> (Vec<Value>, Vec<Value>) {
    let run = format!("/api/v1/dags/{dag}/dagRuns/r1");
    let mut confs = vec![call_as(t, token, Method::GET, &run, None).await["conf"].clone()];
    for body in [
        call_as(
            t,
            token,
            Method::GET,
            &format!("/api/v1/dags/{dag}/dagRuns"),
            None,
        )
        .await,
        call_as(t, token, Method::GET, "/api/v1/dags/~/dagRuns", None).await,
        call_as(
            t,
            token,
            Method::POST,
            "/api/v1/dags/~/dagRuns/list",
            Some(json!({"dag_ids": [dag]})),
        )
        .await,
    ] {
        let runs = body["dag_runs"].as_array().unwrap().clone();
        let ours: Vec<Value> = runs
            .into_iter()
            .filter(|r| r["dag_id"] == dag)
            .map(|r| r["conf"].clone())
            .collect();
        assert_eq!(ours.len(), 1, "{body}");
        confs.extend(ours);
    }
    let mut rendered = vec![
        call_as(
            t,
            token,
            Method::GET,
            &format!("{run}/taskInstances/say"),
            None,
        )
        .await["rendered_fields"]
            .clone(),
    ];
    for body in [
        call_as(t, token, Method::GET, &format!("{run}/taskInstances"), None).await,
        call_as(
            t,
            token,
            Method::POST,
            "/api/v1/dags/~/dagRuns/~/taskInstances/list",
            Some(json!({"dag_ids": [dag]})),
        )
        .await,
    ] {
        let tis = body["task_instances"].as_array().unwrap();
        assert_eq!(tis.len(), 1, "{body}");
        rendered.push(tis[0]["rendered_fields"].clone());
    }
    (confs, rendered)
}

fn assert_shown(who: &str, dag: &str, token: &str, (confs, rendered): &(Vec<Value>, Vec<Value>)) {
    for conf in confs {
        assert_eq!(conf, &json!({"token": token}), "{who} on {dag}");
    }
    for fields in rendered {
        assert_eq!(
            fields,
            &json!({"command": format!("echo {token}")}),
            "{who} on {dag}"
        );
    }
}

fn assert_hidden(who: &str, dag: &str, (confs, rendered): &(Vec<Value>, Vec<Value>)) {
    for value in confs.iter().chain(rendered) {
        assert_eq!(value, &json!({}), "{who} on {dag}: an object, empty");
    }
}

#[tokio::test]
async fn conf_and_rendered_fields_follow_who_may_read_the_logs() {
    let report = parse(PLATFORM);
    let platform = report
        .config
        .unwrap_or_else(|| panic!("bad test platform: {:?}", report.diagnostics))
        .or_defaults(PlatformConfig::standalone_default(2.0, 1 << 30, false));
    let t = TestApp::start_with_platform(Some(platform)).await;
    for (id, team) in [("secret_dag", "data"), ("open_dag", "open")] {
        let yaml = dag(id, team);
        let report = weir_core::spec::load_file(&yaml);
        let spec = report.dags.into_iter().next().unwrap();
        t.engine.register_dag(&spec, "t.yaml", &yaml).await.unwrap();
        let (status, body) = t
            .call(
                Method::POST,
                &format!("/api/v1/dags/{id}/dagRuns"),
                Some(json!({"dag_run_id": "r1", "conf": {"token": format!("tok-{team}")}})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        t.wait_finished(id, "r1").await;
    }
    let store = t.store();
    let ann = create_user(store, "ann", false).await; // viewer of data
    store.set_membership("data", "ann", "viewer").await.unwrap();
    let bob = create_user(store, "bob", false).await; // viewer of another team
    store
        .set_membership("other", "bob", "viewer")
        .await
        .unwrap();
    let vera = create_user(store, "vera", false).await; // signed in, of no team
    let admin = t.admin_token.clone();

    // logs_readable_by = "team": data's members and platform admins only.
    assert_shown(
        "ann",
        "secret_dag",
        "tok-data",
        &seen(&t, &ann, "secret_dag").await,
    );
    assert_shown(
        "admin",
        "secret_dag",
        "tok-data",
        &seen(&t, &admin, "secret_dag").await,
    );
    assert_hidden("bob", "secret_dag", &seen(&t, &bob, "secret_dag").await);
    assert_hidden("vera", "secret_dag", &seen(&t, &vera, "secret_dag").await);

    // logs_readable_by = "everyone": every signed-in user.
    for (who, token) in [
        ("ann", &ann),
        ("bob", &bob),
        ("vera", &vera),
        ("admin", &admin),
    ] {
        assert_shown(
            who,
            "open_dag",
            "tok-open",
            &seen(&t, token, "open_dag").await,
        );
    }

    // A run still shows everything else to everyone.
    let run = call_as(
        &t,
        &vera,
        Method::GET,
        "/api/v1/dags/secret_dag/dagRuns/r1",
        None,
    )
    .await;
    assert_eq!(run["dag_run_id"], "r1");
    assert_eq!(run["state"], "failed");

    // A try's reason (its error, in the backend's words) is a team's data too; its
    // state, times and exit code are not.
    let tries = |dag: &str| format!("/api/v1/dags/{dag}/dagRuns/r1/taskInstances/say/tries");
    for (who, token, dag, shown) in [
        ("ann", &ann, "secret_dag", true),
        ("admin", &admin, "secret_dag", true),
        ("bob", &bob, "secret_dag", false),
        ("vera", &vera, "secret_dag", false),
        ("bob", &bob, "open_dag", true),
    ] {
        let body = call_as(&t, token, Method::GET, &tries(dag), None).await;
        let first = &body["tries"][0];
        assert_eq!(first["state"], "failed", "{who} on {dag}: {body}");
        assert_eq!(first["reason"].is_string(), shown, "{who} on {dag}: {body}");
    }
}
