//! Everyday use, tried as a new user would (issue 16), through the real binary: a clear
//! gives a task its retries again and can run the DAG's latest version.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::time::Duration;

use serde_json::Value;
use support::server::Server;

const FAILING: &str = "dag: fix\nteam: data\npaused: false\ntasks:\n  t:\n    shell: 'echo old code; exit 1'\n    retries: 1\n    retry_delay: 100ms\n";
const FIXED: &str = "dag: fix\nteam: data\npaused: false\ntasks:\n  t:\n    shell: 'echo new code'\n    retries: 1\n    retry_delay: 100ms\n";

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn ti(server: &Server, run: &str) -> Value {
    server
        .get(&format!("/dags/fix/dagRuns/{run}/taskInstances/t"))
        .await
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_gives_fresh_retries_and_can_run_the_latest_version() {
    let server = Server::start(&[("fix.yaml", FAILING)]);
    let run = server.trigger("fix").await;
    let done = server.wait_run_finished("fix", &run).await;
    assert_eq!(done["state"], "failed");
    let first = ti(&server, &run).await;
    // Airflow's meaning: one retry, so `max_tries` is 1 after two tries.
    assert_eq!(
        (first["try_number"].as_u64(), first["max_tries"].as_u64()),
        (Some(2), Some(1)),
        "{first}"
    );
    let old_hash = done["dag_hash"].clone();
    // A second run on the old version, for the API's per-run clear below.
    let (status, second_run) = server
        .send("POST", "/dags/fix/dagRuns", r#"{"dag_run_id": "second"}"#)
        .await;
    assert_eq!(status, 200, "{second_run}");
    let second_done = server.wait_run_finished("fix", "second").await;
    assert_eq!(second_done["state"], "failed", "{second_done}");

    // The file is fixed; the DAG gets a new version.
    std::fs::write(server.dags().join("fix.yaml"), FIXED).unwrap();
    server
        .wait_for("/dags/fix/details", "the new version", |d| {
            d["version"] != old_hash && !d["version"].is_null()
        })
        .await;

    // A plain clear runs the run's own version again, with its retries back: tries 3
    // and 4 run the old code (4 is a retry, not "no retries left").
    let out = server.cli(&["tasks", "clear", "fix", "--run-id", &run, "--task", "t"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("their run's own DAG version"),
        "{}",
        text(&out)
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = server.wait_run_finished("fix", &run).await;
    assert_eq!(again["state"], "failed", "{again}");
    assert_eq!(again["dag_hash"], old_hash);
    let second = ti(&server, &run).await;
    assert_eq!(
        (second["try_number"].as_u64(), second["max_tries"].as_u64()),
        (Some(4), Some(3)),
        "{second}"
    );
    let log = text(&server.cli(&["tasks", "logs", "fix", &run, "t", "--try-number", "3"]));
    assert!(
        log.contains("old code") && log.contains("retrying at"),
        "{log}"
    );

    // `--latest-version`: try 5 runs the fixed file, and the run moves to that version.
    let out = server.cli(&[
        "tasks",
        "clear",
        "fix",
        "--run-id",
        &run,
        "--task",
        "t",
        "--latest-version",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fixed = server.wait_run_finished("fix", &run).await;
    assert_eq!(fixed["state"], "success", "{fixed}");
    assert_ne!(fixed["dag_hash"], old_hash);
    let third = ti(&server, &run).await;
    assert_eq!(third["try_number"].as_u64(), Some(5), "{third}");
    let log = text(&server.cli(&["tasks", "logs", "fix", &run, "t"]));
    assert!(log.contains("new code"), "{log}");

    // The API's per-run clear takes Airflow 3's `run_on_latest_version` too.
    let (status, body) = server
        .send(
            "POST",
            "/dags/fix/dagRuns/second/clear",
            r#"{"dry_run": false, "run_on_latest_version": true}"#,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let cleared = server
        .wait_for("/dags/fix/dagRuns/second", "the cleared run", |r| {
            r["state"] == "success"
        })
        .await;
    assert_ne!(cleared["dag_hash"], old_hash, "{cleared}");
}

/// `weir dags validate --config weir.toml DIR`, as CI runs it.
fn validate(files: &[(&str, &str)], toml: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("dags")).unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join("dags").join(name), text).unwrap();
    }
    std::fs::write(dir.path().join("weir.toml"), toml).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["dags", "validate", "--config", "weir.toml", "dags"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    (out.status.code(), text(&out))
}

const TEAMS: &str = "[[teams]]\nname = \"growth\"\nimage_prefixes = [\"registry.example.com/growth/\"]\n\n[[teams]]\nname = \"finance\"\n";

#[test]
fn a_team_missing_from_weir_toml_is_a_located_error_with_a_suggestion() {
    let (code, out) = validate(
        &[("g.yaml", "dag: g\nteam: grwoth\ntasks:\n  a: {noop: {}}\n")],
        TEAMS,
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("g.yaml:2:7: error: team `grwoth` is not declared in weir.toml"),
        "{out}"
    );
    assert!(out.contains("did you mean `growth`?"), "{out}");
    let (code, out) = validate(
        &[("g.yaml", "dag: g\nteam: growth\ntasks:\n  a: {noop: {}}\n")],
        TEAMS,
    );
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn the_same_disallowed_image_in_two_tasks_is_reported_at_each_line() {
    let dag = "dag: g\nteam: growth\ntasks:\n  one:\n    container: {image: docker.io/evil/miner:1}\n  two:\n    container: {image: docker.io/evil/miner:1}\n";
    let (code, out) = validate(&[("g.yaml", dag)], TEAMS);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("g.yaml:5:24: error"), "{out}");
    assert!(out.contains("g.yaml:7:24: error"), "{out}");
}

/// The CLI with another caller's token.
fn cli_as(server: &Server, token: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .env("WEIR_SERVER", &server.url)
        .env("WEIR_TOKEN", token)
        .output()
        .unwrap()
}

fn service_token(server: &Server, team: &str, role: &str) -> String {
    let out = server.cli(&[
        "tokens",
        "create",
        &format!("{team}-{role}"),
        "--team",
        team,
        "--role",
        role,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

async fn audit_actions(server: &Server, action: &str) -> Vec<Value> {
    let (status, body) = server
        .get(&format!("/auditEvents?action={action}&limit=1000"))
        .await;
    assert_eq!(status, 200, "{body}");
    let all = body["audit_events"].as_array().cloned().unwrap_or_default();
    all.into_iter()
        .filter(|e| e["outcome"] == "success")
        .collect()
}

const GROWTH: &str = "dag: g\nteam: growth\npaused: false\ntasks:\n  t: {shell: 'echo region={{ var.value.region }}'}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_variables_are_set_by_the_team_and_read_by_its_dags() {
    let server = Server::start(&[("g.yaml", GROWTH)]);
    server.wait_for("/dags/g", "the DAG", |_| true).await;
    let viewer = service_token(&server, "growth", "viewer");
    let operator = service_token(&server, "growth", "operator");
    let admin = service_token(&server, "growth", "admin");

    // A viewer may not; the error names the role that would allow it.
    let out = cli_as(
        &server,
        &viewer,
        &["variables", "set", "region", "eu", "--team", "growth"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("needs its `operator` role"),
        "{}",
        text(&out)
    );
    // Without `--team` the error says how to name it.
    let out = cli_as(&server, &viewer, &["variables", "set", "region", "eu"]);
    assert!(text(&out).contains("--team growth"), "{}", text(&out));
    // The team's operator may, and its only team is the default.
    let out = cli_as(&server, &operator, &["variables", "set", "region", "eu"]);
    assert!(out.status.success(), "{}", text(&out));

    // The team's admin may too; each later set is an update in the audit trail.
    let out = cli_as(
        &server,
        &admin,
        &["variables", "set", "region", "us", "--team", "growth"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("variable region set for team growth"),
        "{}",
        text(&out)
    );
    let out = cli_as(
        &server,
        &admin,
        &["variables", "set", "region", "eu", "--team", "growth"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(audit_actions(&server, "variable.create").await.len(), 1);
    assert_eq!(audit_actions(&server, "variable.update").await.len(), 2);

    // The DAG's template reads its team's variable.
    let run = server.trigger("g").await;
    let done = server.wait_run_finished("g", &run).await;
    assert_eq!(done["state"], "success", "{done}");
    let log = text(&server.cli(&["tasks", "logs", "g", &run, "t"]));
    assert!(log.contains("region=eu"), "{log}");

    // Following that log (several polls) writes one audit event.
    let before = audit_actions(&server, "task_instance.read_log").await.len();
    for token in ["", "&token=5", "&token=10", "&token=20"] {
        let (status, _) = server
            .get(&format!(
                "/dags/g/dagRuns/{run}/taskInstances/t/logs/1?full_content=false{token}"
            ))
            .await;
        assert_eq!(status, 200);
    }
    let after = audit_actions(&server, "task_instance.read_log").await.len();
    assert_eq!(after - before, 1, "one follow, one audit event");

    // The server's log went to a file: no colour codes in it.
    let log = server.output();
    assert!(log.contains("INFO"), "{log}");
    assert!(!log.contains('\u{1b}'), "ANSI codes in a log file:\n{log}");
}

#[test]
fn every_word_of_variables_set_is_explained() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["variables", "set", "--help"])
        .output()
        .unwrap();
    let help = text(&out);
    assert!(out.status.success(), "{help}");
    for words in [
        "Create a variable",
        "The variable's key",
        "The value",
        "--team",
        "owns a new variable",
    ] {
        assert!(help.contains(words), "`{words}` missing from:\n{help}");
    }
}

const XCOM_DAG: &str = "dag: x\nteam: data\npaused: false\ntasks:\n  count:\n    shell: 'echo \"{\\\"rows\\\": 3}\" > $WEIR_XCOM'\n";
const DAILY: &str = "dag: daily\nteam: data\npaused: false\nschedule: '@daily'\nstart_date: 2026-01-01\ncatchup: false\ntasks:\n  a: {noop: {}}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_results_xcom_next_run_and_version() {
    let server = Server::start(&[("x.yaml", XCOM_DAG), ("daily.yaml", DAILY)]);
    let run = server.trigger("x").await;
    let done = server.wait_run_finished("x", &run).await;
    assert_eq!(done["state"], "success", "{done}");

    // `weir tasks xcom` prints the value; `weir runs show` lists the keys and version.
    let out = server.cli(&["tasks", "xcom", "x", &run, "count"]);
    assert!(out.status.success(), "{}", text(&out));
    let value: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value, serde_json::json!({"rows": 3}));
    let out = server.cli(&["tasks", "xcom", "x", &run, "count", "--key", "nope"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let show = text(&server.cli(&["runs", "show", "x", &run]));
    assert!(show.contains("count: return_value"), "{show}");
    let hash = done["dag_hash"].as_str().unwrap();
    assert!(show.contains(&format!("DAG version:   {hash}")), "{show}");

    // NEXT RUN is when the next run starts (`next_dagrun_create_after`), a day after
    // the logical date of a daily DAG.
    let dag = server
        .wait_for("/dags/daily", "the next run", |d| {
            d["next_dagrun_create_after"].is_string()
        })
        .await;
    let starts = dag["next_dagrun_create_after"]
        .as_str()
        .unwrap()
        .to_string();
    let logical = dag["next_dagrun"].as_str().unwrap().to_string();
    assert_eq!(
        dag["next_dagrun_create_after"],
        dag["next_dagrun_data_interval_end"]
    );
    assert_ne!(starts[..10], logical[..10]);
    let list = text(&server.cli(&["dags", "list"]));
    let row = list.lines().find(|l| l.contains("daily")).unwrap();
    assert!(
        row.contains(&starts[..10]) && !row.contains(&logical[..10]),
        "{list}"
    );
    let show = text(&server.cli(&["dags", "show", "daily"]));
    assert!(
        show.contains(&format!("starts {} ", &starts[..10])),
        "{show}"
    );
    assert!(show.contains("version:"), "{show}");
}

#[test]
fn dags_test_takes_variables_and_prints_logs_and_xcoms() {
    let dir = tempfile::tempdir().unwrap();
    let dag = dir.path().join("v.yaml");
    std::fs::write(
        &dag,
        "dag: v\nteam: data\ntasks:\n  greet:\n    shell: 'echo region={{ var.value.region }} tier={{ var.value.tier }} size={{ var.json.size.n }}; echo \"[1, 2]\" > $WEIR_XCOM'\n",
    )
    .unwrap();
    let vars = dir.path().join("vars.json");
    std::fs::write(
        &vars,
        r#"{"region": "us", "size": {"n": 5}, "tier": "file"}"#,
    )
    .unwrap();
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(["dags", "test"])
            .arg(&dag)
            .args(["--vars"])
            .arg(&vars)
            .args(extra)
            .env("WEIR_VAR_TIER", "env")
            .output()
            .unwrap()
    };
    let out = run(&["--var", "region=eu"]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    // The log line, prefixed by its task; --var beats the file, the environment beats it.
    assert!(shown.contains("greet | "), "{shown}");
    assert!(shown.contains("region=eu tier=env size=5"), "{shown}");
    assert!(
        shown.contains("greet returned return_value = [1,2]"),
        "{shown}"
    );

    let out = run(&["--var", "region=eu", "--quiet"]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(
        !shown.contains("greet | ") && !shown.contains("returned"),
        "{shown}"
    );

    let out = run(&["--var", "region"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("must be KEY=VALUE"), "{}", text(&out));
}

#[test]
fn xcom_pull_of_a_task_that_is_missing_or_not_upstream_is_a_validation_error() {
    let dag = "dag: g\nteam: growth\ntasks:\n  extract: {shell: echo}\n  other: {shell: echo}\n  load:\n    depends_on: [extract]\n    shell: \"echo {{ ti.xcom_pull('extrct') }} {{ ti.xcom_pull('other') }} {{ ti.xcom_pull('extract') }}\"\n";
    let (code, out) = validate(&[("g.yaml", dag)], TEAMS);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("g.yaml:8:35: error: task `load` pulls the XCom of `extrct`, which is not a task of this DAG"),
        "{out}"
    );
    assert!(out.contains("did you mean `extract`?"), "{out}");
    assert!(
        out.contains("task `load` pulls the XCom of `other`, which does not run before it"),
        "{out}"
    );
    assert!(
        out.contains("add `other` to `depends_on` of `load`"),
        "{out}"
    );
    assert!(out.contains("2 errors"), "{out}");
}

#[test]
fn unknown_template_filters_and_tests_are_validation_errors() {
    let dag = "dag: g\nteam: growth\ntasks:\n  t:\n    shell: \"echo {{ params.x | upperr }}\"\n    env: {A: \"{% if params.y is definedd %}y{% endif %}\"}\n  ok:\n    shell: \"echo {{ ds | ds_nodash }} {{ params.z | default('-') | upper }}\"\n";
    let (code, out) = validate(&[("g.yaml", dag)], TEAMS);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("g.yaml:5:32: error: unknown template filter `upperr`"),
        "{out}"
    );
    assert!(out.contains("did you mean `upper`?"), "{out}");
    assert!(out.contains("unknown template test `definedd`"), "{out}");
    assert!(out.contains("did you mean `defined`?"), "{out}");
    assert!(out.contains("2 errors"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_log_can_be_json_lines_with_the_run_and_try_spans() {
    let mut server = Server::new(&[("fix.yaml", FIXED)]);
    server.args.extend(["--log-format".into(), "json".into()]);
    server.restart();
    let run = server.trigger("fix").await;
    server.wait_run_finished("fix", &run).await;
    let log = server.output();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty(), "{log}");
    let finished = lines
        .iter()
        .find(|l| l["fields"]["message"] == "try finished")
        .unwrap_or_else(|| panic!("no `try finished` line: {log}"));
    assert_eq!(finished["span"]["name"], "try", "{finished}");
    assert_eq!(finished["span"]["dag_id"], "fix", "{finished}");
    assert_eq!(finished["span"]["run_id"], run.as_str(), "{finished}");
    assert_eq!(finished["level"], "INFO");
    // Plain text lines never appear from the tracing side.
    assert!(
        !log.lines()
            .any(|l| l.contains(" INFO ") && !l.starts_with('{')),
        "{log}"
    );
}
