//! `GET /metrics` of the real `weir standalone`: read with the official Prometheus Python
//! client's OpenMetrics parser (`tests/metrics/parse_openmetrics.py`, in the virtualenv
//! `crates/weir/scripts/prometheus-parser.sh` makes; `$WEIR_TEST_PROMETHEUS_PYTHON` names
//! its interpreter, as `scripts/test` sets it), its counters moving as a run succeeds and
//! another fails, no run id in any label; and who may read it.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed case

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::{Value, json};
use support::server::Server;

/// Shell tasks run as local processes (which reserve nothing), containers on a priced
/// Docker environment: one unit of money per reserved vCPU-second.
const CONFIG: &str = r#"
[[compute_environments]]
name = "local"
backend = "process"
max_vcpus = 4
max_memory = "4Gi"

[[compute_environments]]
name = "docker"
backend = "docker"
max_vcpus = 4
max_memory = "4Gi"
price = { vcpu_hour = 3600.0, gib_hour = 0.0 }

[[queues]]
name = "default"
compute_environments = ["local", "docker"]

[[teams]]
name = "data"
allow_unsandboxed_shell = true
image_prefixes = ["weir-test/"]
"#;

/// The local test image (`crates/weir-compute/scripts/build-test-image.sh`, run by
/// `scripts/test`).
const IMAGE: &str = "weir-test/busybox:latest";

/// A shell task, then a container that reserves half a vCPU for about a second (well
/// over the 0.15 vCPU-seconds the test asks for, however Docker times the start).
const GOOD: &str = r#"dag: good
team: data
paused: false
tasks:
  extract:
    shell: echo extracted
  load:
    depends_on: [extract]
    container:
      image: weir-test/busybox:latest
      pull: never
      command: [sh, -c, "sleep 1; echo loaded"]
      resources: {vcpu: 0.5, memory: 64Mi}
"#;
const BAD: &str = "dag: bad\nteam: data\npaused: false\ntasks:\n  extract:\n    shell: exit 3\n  load:\n    depends_on: [extract]\n    shell: echo never\n";
const SLOW: &str = "dag: slow\nteam: data\npaused: false\ntasks:\n  wait:\n    shell: sleep 20\n";
const BROKEN: &str = "dag: broken\nteam: data\ntasks:\n  a:\n    shel: echo\n";

/// Every label name a Weir metric may carry (`le`: a histogram bucket's bound).
const LABELS: [&str; 8] = [
    "team",
    "dag",
    "state",
    "queue",
    "operation",
    "outcome",
    "decision",
    "le",
];

#[tokio::test(flavor = "multi_thread")]
async fn counters_move_as_a_run_succeeds_and_another_fails() {
    let files = [
        ("good.yaml", GOOD),
        ("bad.yaml", BAD),
        ("slow.yaml", SLOW),
        ("broken.yaml", BROKEN),
    ];
    let image = Command::new("docker")
        .args(["image", "inspect", IMAGE])
        .output();
    assert!(
        image.is_ok_and(|o| o.status.success()),
        "the test image {IMAGE} is missing: run crates/weir-compute/scripts/build-test-image.sh (scripts/test does)"
    );
    let server = Server::start_with(&files, Some(CONFIG), &[]);
    let before = scrape(&server).await;

    let good = server.trigger("good").await;
    let bad = server.trigger("bad").await;
    let good_run = server.wait_run_finished("good", &good).await;
    let bad_run = server.wait_run_finished("bad", &bad).await;
    assert_eq!(good_run["state"], "success", "{good_run}");
    assert_eq!(bad_run["state"], "failed", "{bad_run}");
    let after = scrape(&server).await;

    let moved = |dag: &str, state: &str| {
        let labels = [("team", "data"), ("dag", dag), ("state", state)];
        let name = "weir_task_instance_transitions_total";
        value(&after, name, &labels) - value(&before, name, &labels)
    };
    // Each instance of `good`: scheduled, queued, running, success.
    for state in ["scheduled", "queued", "running", "success"] {
        assert_eq!(moved("good", state), 2.0, "good → {state}");
    }
    assert_eq!(moved("good", "failed"), 0.0);
    // `bad`: its first task ran and failed; the second never ran.
    for state in ["queued", "running", "failed"] {
        assert_eq!(moved("bad", state), 1.0, "bad → {state}");
    }
    assert_eq!(moved("bad", "upstream_failed"), 1.0);
    assert_eq!(moved("bad", "success"), 0.0);

    // Three tries ran (two of `good`, one of `bad`), each timed and its wait measured.
    let team_queue = [("team", "data"), ("queue", "default")];
    for family in ["weir_try_duration_seconds", "weir_try_queue_wait_seconds"] {
        let count = format!("{family}_count");
        assert_eq!(
            value(&after, &count, &team_queue) - value(&before, &count, &team_queue),
            3.0,
            "{count}"
        );
        let inf = [("team", "data"), ("queue", "default"), ("le", "+Inf")];
        assert_eq!(
            value(&after, &format!("{family}_bucket"), &inf),
            value(&after, &count, &team_queue),
            "{family}: the +Inf bucket holds every observation"
        );
    }
    // Reserved usage and its cost (1 per vCPU-second here), per team.
    let team = [("team", "data")];
    let vcpu = value(&after, "weir_usage_vcpu_seconds_total", &team)
        - value(&before, "weir_usage_vcpu_seconds_total", &team);
    let cost = value(&after, "weir_cost_total", &team) - value(&before, "weir_cost_total", &team);
    assert!(vcpu >= 0.15, "vCPU-seconds {vcpu}");
    assert!(
        (cost - vcpu).abs() < 1e-6,
        "cost {cost} for {vcpu} vCPU-seconds"
    );
    assert!(value(&after, "weir_usage_gib_seconds_total", &team) > 0.0);

    // The loop and the store are timed.
    assert!(
        value(&after, "weir_scheduler_pass_duration_seconds_count", &[])
            > value(&before, "weir_scheduler_pass_duration_seconds_count", &[])
    );
    for operation in ["start_try", "end_try"] {
        let op = [("operation", operation)];
        let name = "weir_store_query_duration_seconds_count";
        assert!(
            value(&after, name, &op) - value(&before, name, &op) >= 3.0,
            "{operation}"
        );
    }
    assert!(
        value(
            &after,
            "weir_store_query_duration_seconds_count",
            &[("operation", "update_task_instance")]
        ) > 0.0
    );
    // The broken file.
    assert_eq!(value(&after, "weir_dag_import_errors", &[]), 1.0);

    // A running try shows in the gauges while it runs.
    let slow = server.trigger("slow").await;
    server
        .wait_for(
            &format!("/dags/slow/dagRuns/{slow}/taskInstances/wait"),
            "the slow task to run",
            |ti| ti["state"] == "running",
        )
        .await;
    let during = scrape(&server).await;
    assert_eq!(value(&during, "weir_tries_running", &team_queue), 1.0);
    assert_eq!(value(&during, "weir_tries_waiting", &team_queue), 0.0);

    // Bounded labels: only the known names, and never a run id.
    let runs = [good.as_str(), bad.as_str(), slow.as_str()];
    for sample in during.iter().chain(&after) {
        for (name, label) in sample["labels"].as_object().unwrap() {
            assert!(LABELS.contains(&name.as_str()), "label {name} in {sample}");
            let label = label.as_str().unwrap();
            assert!(
                !runs.iter().any(|r| label.contains(r)) && !label.contains("manual__"),
                "a run id in {sample}"
            );
        }
    }
    let families: BTreeSet<&str> = during
        .iter()
        .map(|s| s["family"].as_str().unwrap())
        .collect();
    for family in [
        "weir_task_instance_transitions",
        "weir_tries_running",
        "weir_tries_waiting",
        "weir_try_duration_seconds",
        "weir_try_queue_wait_seconds",
        "weir_scheduler_pass_duration_seconds",
        "weir_store_query_duration_seconds",
        "weir_dag_import_errors",
        "weir_usage_vcpu_seconds",
        "weir_usage_gib_seconds",
        "weir_cost",
    ] {
        assert!(families.contains(family), "no {family} in {families:?}");
    }

    // What one scrape costs, with these few runs (printed; `--nocapture` shows it).
    let started = Instant::now();
    let (status, _, _) = get_metrics(&server, Auth::Token(&server.token)).await;
    assert_eq!(status, 200);
    println!("one scrape: {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn only_platform_admins_read_the_metrics_unless_they_are_public() {
    let server = Server::start(&[("good.yaml", GOOD)]);
    // A team admin of `data`, and a viewer.
    for (name, role) in [("ada", "admin"), ("vic", "viewer")] {
        let body = json!({"username": name, "password": PASSWORD});
        let (status, answer) = server.send("POST", "/users", &body.to_string()).await;
        assert_eq!(status, 201, "{answer}");
        let member = json!({"role": role}).to_string();
        let path = format!("/teams/data/members/{name}");
        let (status, answer) = server.send("PUT", &path, &member).await;
        assert!(status == 200 || status == 201, "{answer}");
    }

    let (status, _, body) = get_metrics(&server, Auth::None).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("platform admin"), "{body}");
    let (status, _, body) = get_metrics(&server, Auth::Token("weir_not-a-token")).await;
    assert_eq!(status, 401, "{body}");
    for user in ["ada", "vic"] {
        let (status, _, body) = get_metrics(&server, Auth::Password(user)).await;
        assert_eq!(status, 403, "{user}: {body}");
        assert!(!body.contains("weir_"), "{user} saw metrics: {body}");
    }
    let (status, content_type, body) = get_metrics(&server, Auth::Token(&server.token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");

    // `[metrics] public = true`: anyone.
    let open = Server::start_with(&[], Some("[metrics]\npublic = true\n"), &[]);
    let (status, _, body) = get_metrics(&open, Auth::None).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        parse(&body)
            .iter()
            .any(|s| s["family"] == "weir_scheduler_pass_duration_seconds")
    );
}

const PASSWORD: &str = "a-long-password-for-metrics";

enum Auth<'a> {
    None,
    Token(&'a str),
    Password(&'a str),
}

/// `GET /metrics`: (status, content type, body).
async fn get_metrics(server: &Server, auth: Auth<'_>) -> (u16, String, String) {
    let request = reqwest::Client::new().get(format!("{}/metrics", server.url));
    let request = match auth {
        Auth::None => request,
        Auth::Token(token) => request.bearer_auth(token),
        Auth::Password(user) => request.basic_auth(user, Some(PASSWORD)),
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

/// The platform admin's scrape, parsed.
async fn scrape(server: &Server) -> Vec<Value> {
    let (status, _, body) = get_metrics(server, Auth::Token(&server.token)).await;
    assert_eq!(status, 200, "{body}");
    parse(&body)
}

/// The value of the sample `name` whose labels are exactly `labels`; 0 when absent
/// (a counter not moved yet).
fn value(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Value> = samples
        .iter()
        .filter(|s| s["name"] == name)
        .filter(|s| {
            let have = s["labels"].as_object().unwrap();
            have.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| have.get(*k).and_then(Value::as_str) == Some(v))
        })
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} twice: {found:?}");
    found.first().map_or(0.0, |s| s["value"].as_f64().unwrap())
}

/// `text` read by the official Python client's OpenMetrics parser.
fn parse(text: &str) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/metrics/parse_openmetrics.py");
    let mut child = Command::new(parser_python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused the exposition: {}\n--- exposition ---\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The interpreter with `prometheus_client`: `$WEIR_TEST_PROMETHEUS_PYTHON`, or the
/// virtualenv the project's script makes (never skipped).
fn parser_python() -> PathBuf {
    if let Some(python) = std::env::var_os("WEIR_TEST_PROMETHEUS_PYTHON") {
        return PathBuf::from(python);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/prometheus-parser.sh");
    let out = Command::new("bash").arg(&script).output().unwrap();
    assert!(
        out.status.success(),
        "{} failed (it needs python3 with venv, and PyPI): {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}
