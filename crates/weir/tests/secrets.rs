//! Secrets through the real binary: set with the CLI (from standard input), given to a
//! shell task and a container, and never found in clear — in any form a task may print
//! it in — in the try logs, the API, the audit trail, the server's own log or the
//! database files. Also: cross-team references refused at validation and at dispatch,
//! a missing secret failing the try by name, connections in templates and as
//! `WEIR_CONN_*`, and a key rotation that keeps everything readable.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::process::Command;

use base64::Engine as _;
use serde_json::Value;
use support::server::{Server, find_files};

const IMAGE: &str = "weir-test/busybox:latest";

/// Has `"`, `/`, a space and `+`, so its JSON-escaped, URL-encoded and base64 forms all
/// differ from it.
const SECRET: &str = "Sup3r\"Secret/Val ue+x";
/// A value over two lines (a key file), printed as it is.
const PEM: &str =
    "-----BEGIN TEST KEY-----\nMIIBsecretLineOne42\nMIIBsecretLineTwo43\n-----END TEST KEY-----";
const WAREHOUSE_PASSWORD: &str = "wh-Passw0rd!";

/// Prints $S in every form, and once split across two writes; writes it into the XCom.
const LEAK: &str = r#"echo "plain: $S"
printf 'base64: %s\n' "$(printf %s "$S" | base64)"
printf 'url: %s\n' "$(printf %s "$S" | sed -e 's/%/%25/g' -e 's/"/%22/g' -e 's|/|%2F|g' -e 's/ /%20/g' -e 's/+/%2B/g')"
printf 'json: %s\n' "$(printf %s "$S" | sed 's/"/\\"/g')"
printf 'split: %s' "${S%%Secret*}"; sleep 0.3; printf '%s\n' "Secret${S#*Secret}"
echo "$PEM"
printf '{"leak": "%s"}' "$(printf %s "$S" | sed 's/"/\\"/g')" > "$WEIR_XCOM"
"#;

fn dag(image_available: bool) -> String {
    let script = LEAK.replace('\n', "\n      ");
    let mut yaml = format!(
        "dag: leaky\nteam: growth\ntasks:\n  shell_leak:\n    shell: |\n      {script}\n    secrets: {{S: db-password, PEM: growth/tls-key}}\n"
    );
    if image_available {
        yaml.push_str(&format!(
            "  box_leak:\n    container:\n      image: {IMAGE}\n      pull: never\n      command: [sh, -c, {}]\n      secrets: {{S: db-password}}\n    secrets: {{PEM: tls-key}}\n",
            serde_json::to_string(LEAK).unwrap()
        ));
    }
    yaml
}

/// A server whose DAGs start unpaused.
fn start(files: &[(&str, &str)]) -> Server {
    let mut server = Server::new(files);
    server.args.push("--unpause-all".into());
    server.restart();
    server
}

fn image_available() -> bool {
    let present = Command::new("docker")
        .args(["image", "inspect", IMAGE])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        present || std::env::var_os("WEIR_REQUIRE_DOCKER").is_none(),
        "the test image {IMAGE} is missing: run crates/weir-compute/scripts/build-test-image.sh (scripts/test does)"
    );
    present
}

/// `weir secrets set TEAM/NAME` with the value on standard input.
fn set_secret(server: &Server, name: &str, value: &str) {
    let out = server.cli_with_stdin(&["secrets", "set", name], value);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("set (version"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Every form of every secret value the test gave out.
fn forms() -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = vec![
        SECRET.to_string(),
        b64.encode(SECRET),
        "Sup3r%22Secret%2FVal%20ue%2Bx".to_string(),
        serde_json::to_string(SECRET)
            .unwrap()
            .trim_matches('"')
            .to_string(),
        WAREHOUSE_PASSWORD.to_string(),
    ];
    out.extend(
        PEM.lines()
            .filter(|l| l.contains("secretLine"))
            .map(str::to_string),
    );
    out
}

fn assert_clean(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for form in forms() {
        assert!(
            !text.contains(&form),
            "{what} holds a secret in clear ({form:?})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_reach_tasks_and_nowhere_else() {
    let with_container = image_available();
    let mut server = start(&[("leaky.yaml", &dag(with_container))]);
    set_secret(&server, "growth/db-password", SECRET);
    set_secret(&server, "growth/tls-key", PEM);

    // Metadata only, with who set it and a version.
    let (status, list) = server.get("/teams/growth/secrets").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total_entries"], 2, "{list}");
    assert_eq!(list["secrets"][0]["name"], "db-password");
    assert_eq!(list["secrets"][0]["version"], 1);
    assert_eq!(list["secrets"][0]["updated_by"], "admin");
    assert_eq!(list["secrets"][0]["backend"], "local");

    // A connection with a password, through the API.
    let body = format!(
        r#"{{"connection_id": "warehouse", "conn_type": "postgres", "host": "db.internal", "port": 5439, "login": "etl", "password": "{WAREHOUSE_PASSWORD}", "extra": "{{\"sslmode\": \"require\", \"api_token\": \"{WAREHOUSE_PASSWORD}\"}}", "team": "growth"}}"#
    );
    let (status, conn) = server.send("POST", "/connections", &body).await;
    assert_eq!(status, 200, "{conn}");
    assert!(conn.get("password").is_none(), "{conn}");
    assert!(
        conn["extra"]
            .as_str()
            .unwrap()
            .contains(r#""api_token":"***""#),
        "{conn}"
    );

    let run_id = server.trigger("leaky").await;
    let run = server.wait_run_finished("leaky", &run_id).await;
    let tasks: &[&str] = if with_container {
        &["shell_leak", "box_leak"]
    } else {
        &["shell_leak"]
    };
    let mut api_answers = Vec::new();
    for task in tasks {
        let (_, log) = server
            .get(&format!(
                "/dags/leaky/dagRuns/{run_id}/taskInstances/{task}/logs/1?full_content=true"
            ))
            .await;
        let text = log["content"].as_str().unwrap_or_default().to_string();
        assert_eq!(run["state"], "success", "{task}: {text}");
        for label in [
            "plain: ***",
            "base64: ***",
            "url: ***",
            "json: ***",
            "split: ***",
        ] {
            assert!(text.contains(label), "{task}: no `{label}` in\n{text}");
        }
        assert!(
            !text.contains("MIIB"),
            "{task}: the PEM's lines leaked\n{text}"
        );
        let (_, xcom) = server
            .get(&format!(
                "/dags/leaky/dagRuns/{run_id}/taskInstances/{task}/xcomEntries/return_value"
            ))
            .await;
        assert!(xcom.to_string().contains("***"), "{task}: {xcom}");
        let (_, ti) = server
            .get(&format!(
                "/dags/leaky/dagRuns/{run_id}/taskInstances/{task}"
            ))
            .await;
        api_answers.push(log.to_string());
        api_answers.push(xcom.to_string());
        api_answers.push(ti.to_string());
    }
    let (_, audit) = server.get("/auditEvents?limit=1000").await;
    assert!(
        audit.to_string().contains("secret.set"),
        "the audit trail has no secret.set: {audit}"
    );
    let (_, conn) = server.get("/connections/warehouse").await;
    api_answers.push(audit.to_string());
    api_answers.push(conn.to_string());
    api_answers.push(list.to_string());
    assert_clean("the API's answers", api_answers.join("\n").as_bytes());

    // The files: try logs, the server's own log, the database (and its WAL).
    for log in find_files(&server.home(), "log") {
        assert_clean(&log.display().to_string(), &std::fs::read(&log).unwrap());
    }
    assert_clean("the server's log", server.output().as_bytes());
    server.kill();
    for name in ["weir.db", "weir.db-wal"] {
        let path = server.home().join(name);
        if path.exists() {
            assert_clean(name, &std::fs::read(&path).unwrap());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_teams_secret_is_refused_at_validation_and_at_dispatch() {
    let mut server = Server::new(&[
        (
            "thief.yaml",
            "dag: thief\nteam: growth\ntasks:\n  steal:\n    shell: echo $PW\n    secrets: {PW: finance/db-password}\n",
        ),
        (
            "job_thief.yaml",
            "dag: job_thief\nteam: growth\ntasks:\n  steal: {job: stealer}\n",
        ),
        (
            "missing.yaml",
            "dag: missing\nteam: growth\ntasks:\n  need:\n    shell: echo $PW\n    secrets: {PW: no-such-secret}\n",
        ),
    ]);
    server.args.push("--unpause-all".into());
    // A job definition is checked when a try would use it: it names another team's secret.
    let jobs = server.dir.path().join("jobs");
    std::fs::create_dir_all(&jobs).unwrap();
    std::fs::write(
        jobs.join("stealer.yaml"),
        format!("job: stealer\nteam: growth\nimage: {IMAGE}\npull: never\ncommand: [sh, -c, 'echo $PW']\nsecrets: {{PW: finance/db-password}}\n"),
    )
    .unwrap();
    server.restart();
    set_secret(&server, "finance/db-password", "finance-only-value");

    let (_, errors) = server.get("/importErrors").await;
    let text = errors.to_string();
    assert!(
        text.contains("thief.yaml") && text.contains("team `finance`"),
        "{errors}"
    );

    let run_id = server.trigger("job_thief").await;
    let run = server.wait_run_finished("job_thief", &run_id).await;
    assert_eq!(run["state"], "failed", "{run}");
    let (_, log) = server
        .get(&format!(
            "/dags/job_thief/dagRuns/{run_id}/taskInstances/steal/logs/1?full_content=true"
        ))
        .await;
    let text = log["content"].as_str().unwrap_or_default();
    assert!(
        text.contains("team `finance`") && !text.contains("finance-only-value"),
        "{text}"
    );

    let run_id = server.trigger("missing").await;
    let run = server.wait_run_finished("missing", &run_id).await;
    assert_eq!(run["state"], "failed", "{run}");
    let (_, log) = server
        .get(&format!(
            "/dags/missing/dagRuns/{run_id}/taskInstances/need/logs/1?full_content=true"
        ))
        .await;
    let text = log["content"].as_str().unwrap_or_default();
    assert!(
        text.contains("secret `growth/no-such-secret`") && text.contains("does not exist"),
        "{text}"
    );

    // A near miss is named.
    set_secret(&server, "growth/db-password", "growth-only-value");
    std::fs::write(
        server.dags().join("typo.yaml"),
        "dag: typo\nteam: growth\ntasks:\n  need:\n    shell: echo $PW\n    secrets: {PW: db-pasword}\n",
    )
    .unwrap();
    server.wait_for("/dags/typo", "the new DAG", |_| true).await;
    let run_id = server.trigger("typo").await;
    server.wait_run_finished("typo", &run_id).await;
    let (_, log) = server
        .get(&format!(
            "/dags/typo/dagRuns/{run_id}/taskInstances/need/logs/1?full_content=true"
        ))
        .await;
    let text = log["content"].as_str().unwrap_or_default();
    assert!(text.contains("did you mean `db-password`?"), "{text}");
}

async fn log_of(server: &Server, run_id: &str, task: &str) -> String {
    let (_, log) = server
        .get(&format!(
            "/dags/uses_conn/dagRuns/{run_id}/taskInstances/{task}/logs/1?full_content=true"
        ))
        .await;
    log["content"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_reach_templates_and_env_and_survive_key_rotation() {
    let dag = r#"dag: uses_conn
team: growth
tasks:
  connect:
    shell: |
      echo "host={{ conn.warehouse.host }} port={{ conn.warehouse.port }} mode={{ conn.warehouse.extra_dejson.sslmode }}"
      echo "uri=$WEIR_CONN_WAREHOUSE"
      printf 'pw-sha=%s\n' "$(printf %s "$WEIR_CONN_WAREHOUSE_PASSWORD" | sha256sum | cut -c1-16)"
      printf 'env-pw-sha=%s\n' "$(printf %s "$PW" | sha256sum | cut -c1-16)"
      printf 'secret-sha=%s\n' "$(printf %s "$S" | sha256sum | cut -c1-16)"
    env: {PW: "{{ conn.warehouse.password }}"}
    connections: [warehouse]
    secrets: {S: db-password}
  shown:
    shell: echo "{{ conn.warehouse.password }}"
"#;
    let mut server = start(&[("uses_conn.yaml", dag)]);
    set_secret(&server, "growth/db-password", SECRET);
    let body = format!(
        r#"{{"connection_id": "warehouse", "conn_type": "postgres", "host": "db.internal", "port": 5439, "login": "etl", "password": "{WAREHOUSE_PASSWORD}", "extra": "{{\"sslmode\": \"require\"}}", "team": "growth"}}"#
    );
    let (status, conn) = server.send("POST", "/connections", &body).await;
    assert_eq!(status, 200, "{conn}");

    let sha = |v: &str| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(v.as_bytes()))[..16].to_string()
    };
    let check = |text: &str| {
        assert!(
            text.contains("host=db.internal port=5439 mode=require"),
            "{text}"
        );
        assert!(text.contains("uri=***"), "{text}");
        assert!(
            text.contains(&format!("pw-sha={}", sha(WAREHOUSE_PASSWORD))),
            "{text}"
        );
        assert!(
            text.contains(&format!("env-pw-sha={}", sha(WAREHOUSE_PASSWORD))),
            "{text}"
        );
        assert!(
            text.contains(&format!("secret-sha={}", sha(SECRET))),
            "{text}"
        );
    };

    let run_id = server.trigger("uses_conn").await;
    server.wait_run_finished("uses_conn", &run_id).await;
    check(&log_of(&server, &run_id, "connect").await);
    // A password in a command would be shown by the API: refused, saying where it may go.
    let shown = log_of(&server, &run_id, "shown").await;
    assert!(
        shown.contains("renders only into the task's `env`"),
        "{shown}"
    );

    // Rotate: a second key in the file, everything re-sealed under it and readable.
    let before = std::fs::read_to_string(server.home().join("master.key")).unwrap();
    let out = server.cli(&["secrets", "rotate-key"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("1 secrets and 1 connection passwords"),
        "{said}"
    );
    let after = std::fs::read_to_string(server.home().join("master.key")).unwrap();
    let keys = |t: &str| {
        t.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .count()
    };
    assert_eq!((keys(&before), keys(&after)), (1, 2));

    // After a restart too: the key file holds both keys.
    server.kill();
    server.restart();
    let run_id = server.trigger("uses_conn").await;
    server.wait_run_finished("uses_conn", &run_id).await;
    check(&log_of(&server, &run_id, "connect").await);
    let _: Value = server.get("/connections/warehouse").await.1;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_master_key_stops_the_start_instead_of_hiding_secrets() {
    let mut server = Server::start(&[]);
    set_secret(&server, "growth/db-password", SECRET);
    server.kill();
    let key = server.home().join("master.key");
    std::fs::rename(&key, server.dir.path().join("master.key.bak")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["standalone", "--port", "0", "--dags"])
        .arg(server.dags())
        .arg("--home")
        .arg(server.home())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("restore the key file") && err.contains("master key"),
        "{err}"
    );
    assert!(!key.exists(), "a new key was created over the old secrets");
    // Short values could not be masked: refused when set.
    std::fs::rename(server.dir.path().join("master.key.bak"), &key).unwrap();
    server.restart();
    let (status, body) = server
        .send("PUT", "/teams/growth/secrets/short", r#"{"value": "abc"}"#)
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("at least 4"),
        "{body}"
    );
}

/// A team whose secrets are in AWS Secrets Manager (moto's server here): set through
/// Weir, read at dispatch, masked in the log. Needs `WEIR_TEST_MOTO_URL` (scripts/test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teams_secrets_in_aws_secrets_manager_reach_its_tasks() {
    let url = match std::env::var("WEIR_TEST_MOTO_URL") {
        Ok(url) => url,
        Err(_) if std::env::var_os("WEIR_REQUIRE_MOTO").is_some() => {
            panic!("WEIR_REQUIRE_MOTO is set but WEIR_TEST_MOTO_URL is not: run scripts/test")
        }
        Err(_) => return eprintln!("skipped: no WEIR_TEST_MOTO_URL"),
    };
    let prefix = format!("weir-e2e-{}/", std::process::id());
    let config = format!(
        "[[teams]]\nname = \"growth\"\nsecrets = {{ backend = \"aws_secrets_manager\", region = \"us-east-1\", endpoint = \"{url}\", prefix = \"{prefix}\" }}\n"
    );
    let mut server = Server::new(&[(
        "aws.yaml",
        "dag: aws_user\nteam: growth\ntasks:\n  use:\n    shell: 'echo \"token: $T\"; test \"$T\" = \"$EXPECTED\" && echo same'\n    env: {EXPECTED: \"{{ var.value.expected }}\"}\n    secrets: {T: api-token}\n",
    )]);
    let path = server.dir.path().join("weir.toml");
    std::fs::write(&path, config).unwrap();
    server.args.extend([
        "--config".into(),
        path.display().to_string(),
        "--unpause-all".into(),
    ]);
    server.restart();
    set_secret(&server, "growth/api-token", "aws-held-token-1");
    // The value reaches the task (compared there, through a variable) and is masked.
    let (status, body) = server
        .send(
            "POST",
            "/variables",
            r#"{"key": "expected", "value": "aws-held-token-1"}"#,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, list) = server.get("/teams/growth/secrets").await;
    assert_eq!(
        list["secrets"][0]["backend"], "aws_secrets_manager",
        "{list}"
    );
    let run_id = server.trigger("aws_user").await;
    let run = server.wait_run_finished("aws_user", &run_id).await;
    let (_, log) = server
        .get(&format!(
            "/dags/aws_user/dagRuns/{run_id}/taskInstances/use/logs/1?full_content=true"
        ))
        .await;
    let text = log["content"].as_str().unwrap_or_default();
    assert_eq!(run["state"], "success", "{text}");
    assert!(
        text.contains("token: ***") && text.contains("same"),
        "{text}"
    );
}

/// An `http` task reads its secret in a template (`{{ secrets.NAME }}`): it reaches the
/// request, and the XCom (the server echoes it back) shows it masked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_task_sends_its_secret_and_records_it_masked() {
    use axum::http::HeaderMap;
    let app = axum::Router::new().route(
        "/echo",
        axum::routing::get(|headers: HeaderMap| async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            axum::Json(serde_json::json!({ "got": auth }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let dag = format!(
        "dag: calls\nteam: growth\ntasks:\n  call:\n    http:\n      url: http://{addr}/echo\n      headers: {{Authorization: \"Bearer {{{{ secrets.TOKEN }}}}\"}}\n      output: json\n    secrets: {{TOKEN: api-token}}\n"
    );
    let server = start(&[("calls.yaml", &dag)]);
    set_secret(&server, "growth/api-token", "http-token-value-9");
    let run_id = server.trigger("calls").await;
    let run = server.wait_run_finished("calls", &run_id).await;
    let (_, xcom) = server
        .get(&format!(
            "/dags/calls/dagRuns/{run_id}/taskInstances/call/xcomEntries/return_value"
        ))
        .await;
    assert_eq!(run["state"], "success", "{xcom}");
    let text = xcom.to_string();
    assert!(text.contains("Bearer ***"), "{text}");
    assert!(!text.contains("http-token-value-9"), "{text}");
}

/// `weir connections set|get|list|delete` and `weir secrets list|delete`: passwords and
/// values go in through standard input and never come out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_manages_connections_and_secrets_without_showing_values() {
    let server = start(&[]);
    let out = server.cli_with_stdin(
        &[
            "connections",
            "set",
            "warehouse",
            "--type",
            "postgres",
            "--host",
            "db.internal",
            "--port",
            "5432",
            "--login",
            "etl",
            "--extra",
            r#"{"sslmode": "require"}"#,
            "--team",
            "growth",
            "--password-stdin",
        ],
        WAREHOUSE_PASSWORD,
    );
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("db.internal") && said.contains("growth"),
        "{said}"
    );
    // A second set changes only what it names.
    let out = server.cli(&["connections", "set", "warehouse", "--port", "5439"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = server.cli(&["connections", "get", "warehouse", "-o", "json"]);
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (got["port"].as_i64(), got["host"].as_str()),
        (Some(5439), Some("db.internal"))
    );
    assert!(got.get("password").is_none(), "{got}");
    let out = server.cli(&["connections", "list"]);
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        listed.contains("warehouse") && !listed.contains(WAREHOUSE_PASSWORD),
        "{listed}"
    );

    set_secret(&server, "growth/db-password", SECRET);
    let out = server.cli(&["secrets", "list", "--team", "growth"]);
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        listed.contains("growth/db-password") && listed.contains("local"),
        "{listed}"
    );
    assert_clean("weir secrets list", listed.as_bytes());
    let out = server.cli(&["secrets", "delete", "growth/db-password"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = server.cli(&["secrets", "delete", "growth/db-password"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has no secret `db-password`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = server.cli(&["connections", "delete", "warehouse"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A malformed name is refused before any request.
    let out = server.cli(&["secrets", "delete", "no-team"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("TEAM/NAME"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A secret's value that reaches a command another way (here a variable holding the same
/// text) runs as written, and is masked in the rendered command the API shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_command_is_shown_masked_and_run_as_written() {
    let dag = "dag: echoes\nteam: growth\ntasks:\n  say:\n    shell: \"test '{{ var.value.copy }}' = \\\"$S\\\" && echo same\"\n    secrets: {S: db-password}\n";
    let server = start(&[("echoes.yaml", dag)]);
    set_secret(&server, "growth/db-password", "copied-value-77");
    let (status, body) = server
        .send(
            "POST",
            "/variables",
            r#"{"key": "copy", "value": "copied-value-77", "team": "growth"}"#,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let run_id = server.trigger("echoes").await;
    let run = server.wait_run_finished("echoes", &run_id).await;
    let (_, ti) = server
        .get(&format!("/dags/echoes/dagRuns/{run_id}/taskInstances/say"))
        .await;
    let (_, log) = server
        .get(&format!(
            "/dags/echoes/dagRuns/{run_id}/taskInstances/say/logs/1?full_content=true"
        ))
        .await;
    assert_eq!(run["state"], "success", "{log}");
    assert!(
        log["content"].as_str().unwrap_or_default().contains("same"),
        "{log}"
    );
    let shown = ti.to_string();
    assert!(shown.contains("test '***'"), "{shown}");
    assert!(!shown.contains("copied-value-77"), "{shown}");
}

/// A job definition runs with its team's images and secrets, so `[[teams]] paths` hold
/// for job files too: a file in another team's folder that claims one of finance's job
/// names (sorted first, it would have won the name) is an import error, and finance's
/// DAG runs finance's own definition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_file_outside_its_teams_folder_cannot_take_over_its_job() {
    if !image_available() {
        return eprintln!("skipped: no {IMAGE}");
    }
    let config = "[[teams]]\nname = \"finance\"\nimage_prefixes = [\"weir-test/\"]\npaths = [\"finance/\"]\n\n[[teams]]\nname = \"growth\"\nimage_prefixes = [\"weir-test/\"]\npaths = [\"growth/\"]\n";
    let mut server = Server::new(&[(
        "finance/books.yaml",
        "dag: books\nteam: finance\ntasks:\n  load: {job: loader}\n",
    )]);
    let jobs = server.dir.path().join("jobs");
    for (file, command) in [
        ("finance/loader.yaml", "echo legit"),
        ("a-growth/loader.yaml", "echo stolen $PW"),
    ] {
        let path = jobs.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            path,
            format!("job: loader\nteam: finance\nimage: {IMAGE}\npull: never\ncommand: [sh, -c, '{command}']\nsecrets: {{PW: db-password}}\n"),
        )
        .unwrap();
    }
    let path = server.dir.path().join("weir.toml");
    std::fs::write(&path, config).unwrap();
    server.args.extend([
        "--config".into(),
        path.display().to_string(),
        "--unpause-all".into(),
    ]);
    server.restart();
    set_secret(&server, "finance/db-password", "finance-ledger-key");

    let (_, errors) = server.get("/importErrors").await;
    let text = errors.to_string();
    assert!(
        text.contains("a-growth/loader.yaml")
            && text.contains("job definitions must live under finance/"),
        "{errors}"
    );
    let run_id = server.trigger("books").await;
    let run = server.wait_run_finished("books", &run_id).await;
    let (_, log) = server
        .get(&format!(
            "/dags/books/dagRuns/{run_id}/taskInstances/load/logs/1?full_content=true"
        ))
        .await;
    let log = log["content"].as_str().unwrap_or_default();
    assert_eq!(run["state"], "success", "{log}");
    assert!(log.contains("legit") && !log.contains("stolen"), "{log}");
}
