//! The real `weir standalone` binary, over HTTP and through the CLI: recovery after
//! kill -9, import errors, DAG edits during a run, bad API input, the CLI's verbs.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::server::{Server, find_files};

fn tis_by_task(body: &Value) -> std::collections::HashMap<String, Value> {
    let list = body["task_instances"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    list.into_iter()
        .map(|t| {
            (
                format!(
                    "{}[{}]",
                    t["task_id"].as_str().unwrap_or("?"),
                    t["map_index"]
                ),
                t,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_mid_run_then_restart_runs_no_try_twice() {
    let marks = tempfile::tempdir().unwrap();
    let m = marks.path().display();
    let yaml = format!(
        r#"dag: survive
team: t
paused: false
tasks:
  short:
    shell: 'echo start >> {m}/short; sleep 1; echo short-done'
  long:
    shell: 'echo start >> {m}/long; while [ ! -f {m}/go ]; do sleep 0.05; done; echo long-done'
  after:
    depends_on: [short, long]
    shell: 'echo start >> {m}/after; echo after-done'
"#
    );
    let mut server = Server::start(&[("survive.yaml", &yaml)]);
    let run_id = server.trigger("survive").await;
    let tis = format!("/dags/survive/dagRuns/{run_id}/taskInstances");
    server
        .wait_for(&tis, "both tasks running", |b| {
            let t = tis_by_task(b);
            t["short[-1]"]["state"] == "running" && t["long[-1]"]["state"] == "running"
        })
        .await;
    server.kill();

    // While the server is down, `short` finishes: its supervisor records the result.
    let deadline = Instant::now() + Duration::from_secs(30);
    while find_files(&server.home(), "status.json").is_empty() {
        assert!(
            Instant::now() < deadline,
            "short never finished while the server was down"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.restart();
    // `long` is still running: it is adopted, not started again.
    server
        .wait_for(&tis, "short collected after the restart", |b| {
            tis_by_task(b)["short[-1]"]["state"] == "success"
        })
        .await;
    std::fs::write(marks.path().join("go"), "").unwrap();
    let run = server.wait_run_finished("survive", &run_id).await;
    assert_eq!(run["state"], "success", "{run}");

    let (_, body) = server.get(&tis).await;
    for (task, ti) in tis_by_task(&body) {
        assert_eq!(ti["state"], "success", "{task}");
        assert_eq!(ti["try_number"], 1, "{task} ran more than once: {ti}");
    }
    for task in ["short", "long", "after"] {
        let starts = std::fs::read_to_string(marks.path().join(task)).unwrap();
        assert_eq!(
            starts.lines().count(),
            1,
            "{task} started {} times",
            starts.lines().count()
        );
    }
    let (status, log) = server
        .get(&format!(
            "/dags/survive/dagRuns/{run_id}/taskInstances/long/logs/1"
        ))
        .await;
    assert_eq!(status, 200);
    assert!(
        log["content"].as_str().unwrap().contains("long-done"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_file_beside_good_ones_is_an_import_error_until_fixed() {
    let good = "dag: good\nteam: t\ntasks:\n  a: {shell: echo ok}\n";
    let broken = "dag: broken\nteam: t\ntasks:\n  a: {shell: echo ok, depends_on: [nope]}\n";
    let server = Server::start(&[
        ("good.yaml", good),
        ("broken.yaml", broken),
        (
            "also_good.yaml",
            &good.replace("dag: good", "dag: also_good"),
        ),
    ]);
    let (status, dags) = server.get("/dags").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = dags["dags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["dag_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["also_good", "good"]);
    let (_, errors) = server.get("/importErrors").await;
    assert_eq!(errors["total_entries"], 1, "{errors}");
    let trace = errors["import_errors"][0]["stack_trace"].as_str().unwrap();
    assert!(
        trace.contains("broken.yaml:4:36: error: task `a` depends on `nope`"),
        "{trace}"
    );
    let out = server.cli(&["dags", "errors"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("depends on `nope`"));

    // Fixing the file is picked up by the folder watcher.
    std::fs::write(
        server.dags().join("broken.yaml"),
        broken.replace(", depends_on: [nope]", ""),
    )
    .unwrap();
    server
        .wait_for("/importErrors", "the import error to clear", |b| {
            b["total_entries"] == 0
        })
        .await;
    server
        .wait_for("/dags/broken", "the fixed DAG to load", |b| {
            b["dag_id"] == "broken"
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_in_flight_keeps_its_version_when_the_file_changes() {
    let flags = tempfile::tempdir().unwrap();
    let f = flags.path().display();
    let v1 = format!(
        "dag: edited\nteam: t\npaused: false\ntasks:\n  wait: {{shell: 'while [ ! -f {f}/go ]; do sleep 0.05; done'}}\n  say: {{shell: 'echo version-one', depends_on: [wait]}}\n"
    );
    let server = Server::start(&[("edited.yaml", &v1)]);
    let run_id = server.trigger("edited").await;
    let tis = format!("/dags/edited/dagRuns/{run_id}/taskInstances");
    server
        .wait_for(&tis, "wait to run", |b| {
            tis_by_task(b)["wait[-1]"]["state"] == "running"
        })
        .await;

    let v2 = v1.replace("version-one", "version-two") + "  extra: {shell: 'echo new task'}\n";
    std::fs::write(server.dags().join("edited.yaml"), v2).unwrap();
    server
        .wait_for("/dags/edited/tasks", "the new version", |b| {
            b["tasks"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t["task_id"] == "extra"))
        })
        .await;
    std::fs::write(flags.path().join("go"), "").unwrap();
    let run = server.wait_run_finished("edited", &run_id).await;
    assert_eq!(run["state"], "success");
    let (_, body) = server.get(&tis).await;
    assert!(
        !tis_by_task(&body).contains_key("extra[-1]"),
        "the old run grew a task: {body}"
    );
    let (_, log) = server
        .get(&format!(
            "/dags/edited/dagRuns/{run_id}/taskInstances/say/logs/1"
        ))
        .await;
    assert!(
        log["content"].as_str().unwrap().contains("version-one"),
        "{log}"
    );

    let second = server.trigger("edited").await;
    server.wait_run_finished("edited", &second).await;
    let (_, body) = server
        .get(&format!("/dags/edited/dagRuns/{second}/taskInstances"))
        .await;
    assert_eq!(tis_by_task(&body)["extra[-1]"]["state"], "success");
    let (_, log) = server
        .get(&format!(
            "/dags/edited/dagRuns/{second}/taskInstances/say/logs/1"
        ))
        .await;
    assert!(
        log["content"].as_str().unwrap().contains("version-two"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_api_input_gets_a_clear_4xx_never_a_500() {
    let server = Server::start(&[("d.yaml", "dag: d\nteam: t\ntasks:\n  a: {noop: {}}\n")]);
    let cases: Vec<(&str, String, &str, u16)> = vec![
        ("POST", "/dags/d/dagRuns".into(), "{not json", 400),
        (
            "POST",
            "/dags/d/dagRuns".into(),
            r#"{"conf": "not an object"}"#,
            400,
        ),
        (
            "POST",
            "/dags/d/dagRuns".into(),
            r#"{"logical_date": "yesterday"}"#,
            400,
        ),
        ("POST", "/dags/d/dagRuns".into(), r#"{"surprise": 1}"#, 400),
        ("POST", "/dags/nope/dagRuns".into(), "{}", 404),
        ("GET", "/dags/nope".into(), "", 404),
        ("GET", "/dags?limit=-1".into(), "", 400),
        ("GET", "/dags?offset=abc".into(), "", 400),
        ("GET", "/dags/d/dagRuns/nope".into(), "", 404),
        ("PATCH", "/dags/d".into(), r#"{"is_paused": "maybe"}"#, 400),
        ("POST", "/variables".into(), r#"{"key": 1}"#, 400),
        ("GET", "/dags/bad%20id".into(), "", 400),
        (
            "POST",
            "/dags/d/clearTaskInstances".into(),
            r#"{"dag_run_id": 5}"#,
            400,
        ),
    ];
    for (method, path, body, expected) in cases {
        let (status, answer) = server.send(method, &path, body).await;
        assert_eq!(status, expected, "{method} {path} {body} -> {answer}");
        assert!(
            answer["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{method} {path}: no detail in {answer}"
        );
        assert_eq!(answer["status"], expected);
    }
    let run = server.trigger("d").await;
    let (status, dup) = server
        .send(
            "POST",
            "/dags/d/dagRuns",
            &format!(r#"{{"dag_run_id": "{run}"}}"#),
        )
        .await;
    assert_eq!(status, 409, "{dup}");
    let (status, big) = server
        .send(
            "POST",
            "/variables",
            &format!(r#"{{"key": "k", "value": "{}"}}"#, "x".repeat(2 << 20)),
        )
        .await;
    assert_eq!(status, 413, "{big}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_triggers_waits_and_reads_logs() {
    let yaml = "dag: cli\nteam: t\npaused: false\nparams: {who: world}\ntasks:\n  hello: {shell: 'echo hello {{ params.who }}'}\n";
    let failing = "dag: cli_fails\nteam: t\npaused: false\ntasks:\n  boom: {shell: 'echo going down; exit 4'}\n";
    let server = Server::start(&[("cli.yaml", yaml), ("fails.yaml", failing)]);
    let out = server.cli(&[
        "dags",
        "trigger",
        "cli",
        "--conf",
        r#"{"who": "weir"}"#,
        "--wait",
        "-o",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    let run_id = run["dag_run_id"].as_str().unwrap().to_string();
    let out = server.cli(&["tasks", "logs", "cli", &run_id, "hello"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("hello weir"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let out = server.cli(&["dags", "trigger", "cli_fails", "--wait"]);
    assert_eq!(out.status.code(), Some(1));
    let out = server.cli(&["dags", "trigger", "cli", "--conf", "{broken"]);
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["dags", "list", "--server", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("http://127.0.0.1:9"));

    let out = server.cli(&["variables", "set", "colour", "blue"]);
    assert_eq!(out.status.code(), Some(0));
    let out = server.cli(&["variables", "get", "colour"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "blue");
    let out = server.cli(&["dags", "validate", server.dags().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
}

use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_binary_xcom_retry_timeout_all_done_and_fan_out() {
    let yaml = r#"dag: tour
team: t
paused: false
tasks:
  list:
    shell: echo '["a", "b"]' > $WEIR_XCOM
  each:
    depends_on: [list]
    for_each: "{{ ti.xcom_pull('list') }}"
    shell: echo "\"got-{{ item }}\"" > $WEIR_XCOM
  flaky:
    shell: 'test $WEIR_TRY_NUMBER -ge 2'
    retries: 1
    retry_delay: 100ms
  slow:
    shell: 'sleep 30'
    timeout: 300ms
  always:
    depends_on: [slow, flaky, each]
    trigger_rule: all_done
    shell: echo "{{ ti.xcom_pull('each') | join('+') }}"
"#;
    let server = Server::start(&[("tour.yaml", yaml)]);
    let run_id = server.trigger("tour").await;
    let run = server.wait_run_finished("tour", &run_id).await;
    assert_eq!(
        run["state"], "success",
        "the leaf `always` succeeded: {run}"
    );
    let (_, body) = server
        .get(&format!("/dags/tour/dagRuns/{run_id}/taskInstances"))
        .await;
    let tis = tis_by_task(&body);
    assert_eq!(tis["flaky[-1]"]["state"], "success");
    assert_eq!(tis["flaky[-1]"]["try_number"], 2);
    assert_eq!(tis["slow[-1]"]["state"], "failed");
    assert_eq!(tis["each[0]"]["state"], "success");
    assert_eq!(tis["each[1]"]["state"], "success");
    let (status, xcom) = server
        .get(&format!(
            "/dags/tour/dagRuns/{run_id}/taskInstances/list/xcomEntries/return_value"
        ))
        .await;
    assert_eq!(status, 200, "{xcom}");
    let (_, log) = server
        .get(&format!(
            "/dags/tour/dagRuns/{run_id}/taskInstances/always/logs/1"
        ))
        .await;
    assert!(
        log["content"]
            .as_str()
            .unwrap_or("")
            .contains("got-a+got-b"),
        "{log}"
    );
    let (_, log) = server
        .get(&format!(
            "/dags/tour/dagRuns/{run_id}/taskInstances/slow/logs/1"
        ))
        .await;
    assert!(
        log["content"].as_str().unwrap_or("").contains("timed out"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_through_the_binary() {
    let today = chrono::Utc::now().date_naive();
    let start = today - chrono::Days::new(3);
    let yaml = format!(
        "dag: caught_up\nteam: t\npaused: false\nschedule: '0 0 * * *'\nstart_date: {start}\ncatchup: true\ntasks:\n  t: {{shell: 'echo {{{{ ds }}}}'}}\n"
    );
    let server = Server::start(&[("c.yaml", &yaml)]);
    let runs = server
        .wait_for(
            "/dags/caught_up/dagRuns?order_by=execution_date",
            "three finished runs",
            |b| {
                b["dag_runs"]
                    .as_array()
                    .is_some_and(|r| r.len() == 3 && r.iter().all(|r| r["state"] == "success"))
            },
        )
        .await;
    let dates: Vec<String> = runs["dag_runs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            r["logical_date"]
                .as_str()
                .unwrap_or("")
                .chars()
                .take(10)
                .collect()
        })
        .collect();
    let expected: Vec<String> = (1..=3)
        .rev()
        .map(|d| (today - chrono::Days::new(d)).to_string())
        .collect();
    assert_eq!(dates, expected);
    let (_, dag) = server.get("/dags/caught_up").await;
    assert!(
        dag["next_dagrun"]
            .as_str()
            .unwrap_or("")
            .starts_with(&today.to_string()),
        "{dag}"
    );
}

#[test]
fn every_bundled_example_validates() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/dags");
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["dags", "validate"])
        .arg(&examples)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("0 errors"), "{text}");
}

/// Issue 17, finding 1b, through the binary: a trigger's conf is text in a shell
/// command, in `weir standalone` and in `weir dags test` alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conf_in_a_shell_command_is_text_through_the_binary() {
    let scratch = tempfile::tempdir().unwrap();
    let at = |name: &str| scratch.path().join(name).display().to_string();
    let conf = serde_json::json!({
        "x": format!("$(touch {})", at("pwned")),
        "y": format!("; touch {}", at("pwned2")),
        "z": format!("\"; touch {}; echo \"", at("pwned3")),
    })
    .to_string();
    let yaml = "dag: quoted\nteam: t\npaused: false\nparams: {x: a, y: b, z: c}\ntasks:\n  say: {shell: 'echo {{ params.x }} {{ params.y }} \"z={{ params.z }}\"; exit 3'}\n";
    let server = Server::start(&[("quoted.yaml", yaml)]);
    let out = server.cli(&[
        "dags", "trigger", "quoted", "--conf", &conf, "--wait", "-o", "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    let run_id = run["dag_run_id"].as_str().unwrap().to_string();
    let out = server.cli(&["tasks", "logs", "quoted", &run_id, "say"]);
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    let expected = format!(
        "$(touch {}) ; touch {} z=\"; touch {}; echo \"",
        at("pwned"),
        at("pwned2"),
        at("pwned3")
    );
    assert!(log.contains(&expected), "{log}");

    let file = scratch.path().join("quoted.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["dags", "test"])
        .arg(&file)
        .args(["--conf", &conf])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains(&expected), "{text}");
    for name in ["pwned", "pwned2", "pwned3"] {
        assert!(!scratch.path().join(name).exists(), "{name} was created");
    }
}

/// A task can write in its try folder; a `log` it replaces by a link to a file of the
/// server's is neither read through the API nor appended to by the engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_replaced_by_a_link_is_not_followed() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("server-file");
    std::fs::write(&target, "TOP-SECRET-CONTENT\n").unwrap();
    let dag = format!(
        "dag: sneaky\nteam: growth\ntasks:\n  swap:\n    shell: ln -sf {} \"$(dirname \"$WEIR_XCOM\")/log\"; exit 1\n",
        target.display()
    );
    let mut server = Server::new(&[("sneaky.yaml", &dag)]);
    server.args.push("--unpause-all".into());
    server.restart();
    let run_id = server.trigger("sneaky").await;
    let run = server.wait_run_finished("sneaky", &run_id).await;
    assert_eq!(run["state"], "failed", "{run}");
    let (status, log) = server
        .get(&format!(
            "/dags/sneaky/dagRuns/{run_id}/taskInstances/swap/logs/1"
        ))
        .await;
    assert_eq!(status, 200, "{log}");
    assert!(
        !log.to_string().contains("TOP-SECRET-CONTENT"),
        "the link was followed: {log}"
    );
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "TOP-SECRET-CONTENT\n",
        "the engine wrote through the link"
    );
}
