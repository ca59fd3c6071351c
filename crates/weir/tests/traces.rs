//! Issue 13 (traces) through the real `weir standalone` binary: with `[tracing]` in
//! `weir.toml`, a small OTLP/HTTP receiver started by the test gets one span per DAG run
//! and one per try, in one trace, the tries' spans children of the run's; a shell task
//! sees its own span as `TRACEPARENT` (replacing the DAG's), an `http` task sends it as
//! `traceparent`; the collector's key never reaches a task. Without `[tracing]` nothing
//! is exported and a task's own `TRACEPARENT` passes unchanged; a collector that is down
//! fails no run; a bad endpoint is a located config error at start.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use support::server::{Server, find_files};

const COLLECTOR_KEY: &str = "otlp-key-4711";

/// What the receiver got: each export request with its `x-api-key` header, and each
/// `traceparent` header the echo route saw.
#[derive(Default)]
struct Received {
    exports: Vec<(Option<String>, ExportTraceServiceRequest)>,
    traceparents: Vec<String>,
}

type Shared = Arc<Mutex<Received>>;

async fn traces(State(got): State<Shared>, headers: HeaderMap, body: Bytes) -> Vec<u8> {
    let request = ExportTraceServiceRequest::decode(body).unwrap();
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    got.lock().unwrap().exports.push((key, request));
    // An empty ExportTraceServiceResponse: everything accepted.
    Vec::new()
}

async fn echo(State(got): State<Shared>, headers: HeaderMap) -> &'static str {
    if let Some(tp) = headers.get("traceparent").and_then(|v| v.to_str().ok()) {
        got.lock().unwrap().traceparents.push(tp.to_string());
    }
    "ok"
}

/// A small OTLP/HTTP receiver (`POST /v1/traces`, protobuf) plus `GET /echo` for the
/// http task, on a free port.
async fn start_receiver() -> (String, Shared) {
    let got = Shared::default();
    let app = Router::new()
        .route("/v1/traces", post(traces))
        .route("/echo", get(echo))
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), got)
}

fn attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    let value = attrs
        .iter()
        .find(|a| a.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()?;
    Some(match value {
        any_value::Value::StringValue(s) => s.clone(),
        any_value::Value::IntValue(i) => i.to_string(),
        other => format!("{other:?}"),
    })
}

fn spans(got: &Shared) -> Vec<Span> {
    got.lock()
        .unwrap()
        .exports
        .iter()
        .flat_map(|(_, r)| r.resource_spans.iter())
        .flat_map(|r| r.scope_spans.iter())
        .flat_map(|s| s.spans.iter().cloned())
        .collect()
}

/// Waits until the receiver holds `n` spans; fails after 30 s.
async fn wait_spans(got: &Shared, n: usize, server: &Server) -> Vec<Span> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let spans = spans(got);
        if spans.len() >= n {
            return spans;
        }
        assert!(
            Instant::now() < deadline,
            "the receiver got {} spans, not {n}\n{}",
            spans.len(),
            server.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn read_log(server: &Server, dag: &str, task: &str) -> String {
    let logs = find_files(&server.home().join("logs").join(dag), "log");
    let log = logs
        .iter()
        .find(|p| p.components().any(|c| c.as_os_str() == task))
        .unwrap_or_else(|| panic!("no log of task {task} in {logs:?}"));
    std::fs::read_to_string(log).unwrap()
}

const TRACED: &str = r#"dag: traced
team: t
paused: false
tasks:
  first:
    shell: 'echo "traceparent=$TRACEPARENT"; env'
    env:
      TRACEPARENT: "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01"
  second:
    shell: 'echo "second traceparent=$TRACEPARENT"'
    depends_on: [first]
  call:
    http:
      url: "__RECEIVER__/echo"
      headers: {traceparent: "00-eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-eeeeeeeeeeeeeeee-01"}
    depends_on: [first]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_and_its_tries_are_one_trace_the_tasks_continue() {
    let (receiver, got) = start_receiver().await;
    let platform = format!(
        r#"
[[teams]]
name = "t"
allow_unsandboxed_shell = true

[tracing]
otlp_endpoint = "{receiver}"
service_name = "weir-test"
headers = {{ "x-api-key" = "{COLLECTOR_KEY}" }}
"#
    );
    let dag = TRACED.replace("__RECEIVER__", &receiver);
    let server = Server::start_with(&[("traced.yaml", &dag)], Some(&platform), &[]);
    server
        .wait_for("/dags/traced", "the DAG to load", |d| {
            d["dag_id"] == "traced"
        })
        .await;
    let run_id = server.trigger("traced").await;
    let run = server.wait_run_finished("traced", &run_id).await;
    assert_eq!(run["state"], "success", "{run}\n{}", server.output());

    let spans = wait_spans(&got, 4, &server).await;
    assert_eq!(spans.len(), 4, "{spans:#?}");
    let runs: Vec<&Span> = spans
        .iter()
        .filter(|s| s.parent_span_id.is_empty())
        .collect();
    assert_eq!(runs.len(), 1, "one run span: {spans:#?}");
    let run_span = runs[0];
    assert_eq!(run_span.name, "dag_run traced");
    assert_eq!(run_span.trace_id.len(), 16);
    assert_eq!(run_span.span_id.len(), 8);
    assert_eq!(
        attr(&run_span.attributes, "weir.team").as_deref(),
        Some("t")
    );
    assert_eq!(
        attr(&run_span.attributes, "weir.dag_id").as_deref(),
        Some("traced")
    );
    assert_eq!(
        attr(&run_span.attributes, "weir.run_id").as_deref(),
        Some(run_id.as_str())
    );
    assert_eq!(
        attr(&run_span.attributes, "weir.state").as_deref(),
        Some("success")
    );
    assert_eq!(
        run_span.status.as_ref().map(|s| s.code),
        Some(1),
        "status OK"
    );
    assert!(run_span.start_time_unix_nano > 0);
    assert!(run_span.end_time_unix_nano >= run_span.start_time_unix_nano);

    let mut tries: Vec<&Span> = spans
        .iter()
        .filter(|s| !s.parent_span_id.is_empty())
        .collect();
    tries.sort_by_key(|s| s.name.clone());
    let names: Vec<&str> = tries.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["try call", "try first", "try second"]);
    for t in &tries {
        assert_eq!(t.trace_id, run_span.trace_id, "one trace");
        assert_eq!(
            t.parent_span_id, run_span.span_id,
            "a child of the run's span"
        );
        assert_ne!(t.span_id, run_span.span_id);
        let task = t.name.trim_start_matches("try ");
        assert_eq!(attr(&t.attributes, "weir.team").as_deref(), Some("t"));
        assert_eq!(
            attr(&t.attributes, "weir.dag_id").as_deref(),
            Some("traced")
        );
        assert_eq!(
            attr(&t.attributes, "weir.run_id").as_deref(),
            Some(run_id.as_str())
        );
        assert_eq!(attr(&t.attributes, "weir.task_id").as_deref(), Some(task));
        assert_eq!(attr(&t.attributes, "weir.map_index").as_deref(), Some("-1"));
        assert_eq!(attr(&t.attributes, "weir.try_number").as_deref(), Some("1"));
        assert_eq!(
            attr(&t.attributes, "weir.state").as_deref(),
            Some("success")
        );
        assert_eq!(t.status.as_ref().map(|s| s.code), Some(1), "status OK");
        // Within the run, with real times.
        assert!(
            t.start_time_unix_nano >= run_span.start_time_unix_nano,
            "{t:#?}"
        );
        assert!(
            t.end_time_unix_nano <= run_span.end_time_unix_nano,
            "{t:#?}"
        );
        assert!(t.end_time_unix_nano >= t.start_time_unix_nano);
    }
    for shell in ["try first", "try second"] {
        let t = tries.iter().find(|t| t.name == shell).unwrap();
        assert_eq!(attr(&t.attributes, "weir.exit_code").as_deref(), Some("0"));
        assert_eq!(
            attr(&t.attributes, "weir.queue").as_deref(),
            Some("default")
        );
    }
    let traceparent = |span: &Span| {
        format!(
            "00-{}-{}-01",
            hex::encode(&span.trace_id),
            hex::encode(&span.span_id)
        )
    };

    // The tasks saw their own spans: the shell tasks in TRACEPARENT (the DAG's own
    // replaced, and the log says so), the http task as its traceparent header.
    let first = tries.iter().find(|t| t.name == "try first").unwrap();
    let log = read_log(&server, "traced", "first");
    assert!(
        log.contains(&format!("traceparent={}", traceparent(first))),
        "{log}"
    );
    assert!(
        log.contains("the task's own `TRACEPARENT` is replaced"),
        "{log}"
    );
    assert!(!log.contains("ffffffffffffffff"), "{log}");
    let second = tries.iter().find(|t| t.name == "try second").unwrap();
    let log2 = read_log(&server, "traced", "second");
    assert!(
        log2.contains(&format!("second traceparent={}", traceparent(second))),
        "{log2}"
    );
    let call = tries.iter().find(|t| t.name == "try call").unwrap();
    assert_eq!(got.lock().unwrap().traceparents, [traceparent(call)]);

    // The collector's key went to the collector, and never to a task.
    let keys: Vec<Option<String>> = got
        .lock()
        .unwrap()
        .exports
        .iter()
        .map(|(k, _)| k.clone())
        .collect();
    assert!(
        keys.iter().all(|k| k.as_deref() == Some(COLLECTOR_KEY)),
        "{keys:?}"
    );
    assert!(!log.contains(COLLECTOR_KEY), "{log}");
    assert!(!log.contains(&receiver), "{log}");
    assert!(!log.contains("OTEL_"), "{log}");
    // Weir's service name, on every export.
    for (_, request) in &got.lock().unwrap().exports {
        for rs in &request.resource_spans {
            let resource = rs.resource.as_ref().unwrap();
            assert_eq!(
                attr(&resource.attributes, "service.name").as_deref(),
                Some("weir-test")
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_is_off_by_default_and_a_collector_that_is_down_fails_no_run() {
    let dag = r#"dag: plain
team: t
paused: false
tasks:
  show:
    shell: 'echo "traceparent=${TRACEPARENT:-unset}"'
    env:
      TRACEPARENT: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
"#;
    let unsandboxed = "[[teams]]\nname = \"t\"\nallow_unsandboxed_shell = true\n";
    // No [tracing]: no export; the task's own TRACEPARENT is left alone.
    let server = Server::start_with(&[("plain.yaml", dag)], Some(unsandboxed), &[]);
    server
        .wait_for("/dags/plain", "the DAG to load", |d| d["dag_id"] == "plain")
        .await;
    let run_id = server.trigger("plain").await;
    let run = server.wait_run_finished("plain", &run_id).await;
    assert_eq!(run["state"], "success", "{run}");
    let log = read_log(&server, "plain", "show");
    assert!(
        log.contains("traceparent=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        "{log}"
    );
    assert!(
        !server.output().contains("exporting traces"),
        "{}",
        server.output()
    );
    drop(server);

    // A collector nobody answers at: runs go on, the server log says why spans are lost.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let platform =
        format!("{unsandboxed}\n[tracing]\notlp_endpoint = \"http://127.0.0.1:{port}\"\n");
    let server = Server::start_with(&[("plain.yaml", dag)], Some(&platform), &[]);
    server
        .wait_for("/dags/plain", "the DAG to load", |d| d["dag_id"] == "plain")
        .await;
    let run_id = server.trigger("plain").await;
    let run = server.wait_run_finished("plain", &run_id).await;
    assert_eq!(run["state"], "success", "{run}");
    let log = read_log(&server, "plain", "show");
    assert!(log.contains("traceparent=00-"), "{log}");
    assert!(!log.contains("0af7651916cd43dd8448eb211c80319c"), "{log}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.output().contains("cannot export spans") {
        assert!(Instant::now() < deadline, "{}", server.output());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn a_bad_endpoint_is_a_located_config_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("dags")).unwrap();
    let config = dir.path().join("weir.toml");
    std::fs::write(
        &config,
        "[tracing]\nservice_name = \"weir\"\notlp_endpoint = \"otel-collector:4318\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["standalone", "--port", "0", "--dags"])
        .arg(dir.path().join("dags"))
        .arg("--home")
        .arg(dir.path().join("home"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "[tracing] `otlp_endpoint` must be an http:// or https:// URL, found `otel-collector:4318`"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("weir.toml:3:"),
        "located at the key: {stderr}"
    );
    assert!(
        stderr.contains("http://otel-collector:4318"),
        "with the fix: {stderr}"
    );
}
