//! A scripted AWS Batch (and CloudWatch Logs `GetLogEvents`) answering the SDK over
//! HTTP, for what moto without Docker cannot show: jobs that stay RUNNABLE or RUNNING,
//! fail with an exit code, run out of memory, lose their Spot host, time out, and
//! `DescribeJobs` calls throttled with HTTP 429.
//!
//! Speaks the same wire protocol as AWS (REST-JSON for Batch under `/v1/…`, JSON 1.1 with
//! `X-Amz-Target` for CloudWatch Logs). A job's script is its command override:
//! - `run MS exit N`: SUBMITTED → RUNNABLE → STARTING → RUNNING, then after MS ms it
//!   exits with N (SUCCEEDED for 0, FAILED otherwise); `oom` / `spot` / `batch-timeout`
//!   instead of `exit N` end it as Batch does for those;
//! - `wait`: stays RUNNABLE; `forever`: stays RUNNING.
//!
//! While RUNNING it "prints" two lines to its log stream: `hello from <job id>` and
//! `token=<$SECRET_TOKEN>` (to check masking).

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// One step of a job's life, reached `after` its submission.
const STEPS: [(&str, u64); 3] = [("RUNNABLE", 50), ("STARTING", 150), ("RUNNING", 250)];

#[derive(Debug, Clone)]
struct Job {
    id: String,
    name: String,
    queue: String,
    script: Vec<String>,
    env: Vec<(String, String)>,
    tags: Value,
    submitted: Instant,
    created_ms: i64,
    /// Set by CancelJob/TerminateJob: the forced end (reason, exit code).
    forced: Option<(String, Option<i32>, Instant)>,
    timeout_secs: Option<i64>,
}

/// A call the fake received: operation and when.
#[derive(Debug, Clone)]
pub struct Call {
    pub op: String,
    pub at: Instant,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    jobs: Vec<Job>,
    defs: Vec<(String, i64)>,
    calls: Vec<Call>,
    throttle_describe: u32,
    /// Accept the next SubmitJob calls, then answer them with HTTP 500 (a lost answer).
    lose_submit_answers: u32,
    next: u64,
}

/// The fake's state, shared with the test.
#[derive(Clone, Default)]
pub struct FakeBatch {
    inner: Arc<Mutex<Inner>>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl FakeBatch {
    /// Starts the fake on a free local port; returns it and its URL.
    pub async fn start() -> (FakeBatch, String) {
        let fake = FakeBatch::default();
        let app = Router::new()
            .route("/v1/{op}", post(batch))
            .route("/", post(logs))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (fake, url)
    }

    /// Answers the next `n` DescribeJobs calls with HTTP 429.
    pub fn throttle_describe(&self, n: u32) {
        self.inner.lock().unwrap().throttle_describe = n;
    }

    /// Accepts the next `n` SubmitJob calls but answers them with HTTP 500, as when the
    /// answer is lost on the way back.
    pub fn lose_submit_answers(&self, n: u32) {
        self.inner.lock().unwrap().lose_submit_answers = n;
    }

    /// Every call of operation `op` so far.
    pub fn calls(&self, op: &str) -> Vec<Call> {
        let inner = self.inner.lock().unwrap();
        inner.calls.iter().filter(|c| c.op == op).cloned().collect()
    }

    /// The number of job definitions registered.
    pub fn job_definitions(&self) -> usize {
        self.inner.lock().unwrap().defs.len()
    }

    /// Ids of the jobs submitted, in order.
    pub fn job_ids(&self) -> Vec<String> {
        let inner = self.inner.lock().unwrap();
        inner.jobs.iter().map(|j| j.id.clone()).collect()
    }

    /// Ends a job as a host loss would, now.
    pub fn force_end(&self, id: &str, reason: &str, code: Option<i32>) {
        let mut inner = self.inner.lock().unwrap();
        if let Some(job) = inner.jobs.iter_mut().find(|j| j.id == id) {
            job.forced = Some((reason.into(), code, Instant::now()));
        }
    }
}

/// (status, status reason, exit code, container reason) of a job now.
fn state(job: &Job) -> (&'static str, Option<String>, Option<i32>, Option<String>) {
    let age = job.submitted.elapsed().as_millis() as u64;
    let mut status = "SUBMITTED";
    for (name, at) in STEPS {
        if age >= at {
            status = name;
        }
    }
    let script: Vec<&str> = job.script.iter().map(String::as_str).collect();
    if let Some((reason, code, _)) = &job.forced {
        return ("FAILED", Some(reason.clone()), *code, None);
    }
    match script.as_slice() {
        ["wait"] => return ("RUNNABLE", None, None, None),
        ["forever"] => return (status, None, None, None),
        _ => {}
    }
    let run_ms: u64 = script.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    if let Some(limit) = job.timeout_secs
        && age >= 250 + (limit as u64) * 1000
    {
        return (
            "FAILED",
            Some("Job attempt duration exceeded timeout".into()),
            Some(137),
            None,
        );
    }
    if age < 250 + run_ms {
        return (status, None, None, None);
    }
    let exited = Some("Essential container in task exited".to_string());
    match script.get(2..).unwrap_or_default() {
        ["exit", code] => {
            let code: i32 = code.parse().unwrap_or(1);
            let status = if code == 0 { "SUCCEEDED" } else { "FAILED" };
            (status, exited, Some(code), None)
        }
        ["oom"] => (
            "FAILED",
            exited,
            Some(137),
            Some("OutOfMemoryError: Container killed due to memory usage".into()),
        ),
        ["spot"] => (
            "FAILED",
            Some("Host EC2 (instance i-0fake) terminated.".into()),
            None,
            None,
        ),
        ["batch-timeout"] => (
            "FAILED",
            Some("Job attempt duration exceeded timeout".into()),
            Some(137),
            None,
        ),
        _ => ("FAILED", Some("bad fake script".into()), None, None),
    }
}

fn describe(job: &Job) -> Value {
    let (status, reason, code, container_reason) = state(job);
    let started = !matches!(status, "SUBMITTED" | "PENDING" | "RUNNABLE" | "STARTING");
    let stream = format!("fake/default/{}", job.id);
    let mut container = json!({
        "image": "busybox",
        "environment": job.env.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
    });
    if started || status == "FAILED" {
        container["logStreamName"] = json!(stream);
    }
    if let Some(code) = code {
        container["exitCode"] = json!(code);
    }
    if let Some(r) = container_reason {
        container["reason"] = json!(r);
    }
    let mut out = json!({
        "jobId": job.id,
        "jobName": job.name,
        "jobArn": format!("arn:aws:batch:us-east-1:123456789012:job/{}", job.id),
        "jobQueue": job.queue,
        "jobDefinition": "arn:aws:batch:us-east-1:123456789012:job-definition/x:1",
        "status": status,
        "createdAt": job.created_ms,
        "tags": job.tags,
        "container": container,
    });
    if started || status == "FAILED" {
        out["startedAt"] = json!(job.created_ms + 250);
    }
    if status == "SUCCEEDED" || status == "FAILED" {
        out["stoppedAt"] = json!(now_ms());
    }
    if let Some(r) = reason {
        out["statusReason"] = json!(r);
    }
    out
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [
            ("x-amzn-errortype", code),
            ("content-type", "application/json"),
        ],
        json!({"message": message, "__type": code}).to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn batch(State(fake): State<FakeBatch>, Path(op): Path<String>, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut inner = fake.inner.lock().unwrap();
    inner.calls.push(Call {
        op: op.clone(),
        at: Instant::now(),
        body: body.clone(),
    });
    match op.as_str() {
        "describejobqueues" => ok(json!({"jobQueues": []})),
        "describejobdefinitions" => {
            let name = body["jobDefinitionName"].as_str().unwrap_or_default();
            let defs: Vec<Value> = inner
                .defs
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(n, rev)| json!({
                    "jobDefinitionName": n, "revision": rev, "status": "ACTIVE", "type": "container",
                    "jobDefinitionArn": format!("arn:aws:batch:us-east-1:123456789012:job-definition/{n}:{rev}"),
                }))
                .collect();
            ok(json!({"jobDefinitions": defs}))
        }
        "registerjobdefinition" => {
            let name = body["jobDefinitionName"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let rev = inner.defs.iter().filter(|(n, _)| *n == name).count() as i64 + 1;
            inner.defs.push((name.clone(), rev));
            ok(json!({
                "jobDefinitionName": name, "revision": rev,
                "jobDefinitionArn": format!("arn:aws:batch:us-east-1:123456789012:job-definition/{name}:{rev}"),
            }))
        }
        "submitjob" => {
            inner.next += 1;
            let id = format!("fake-{}-{}", std::process::id(), inner.next);
            let script = body["containerOverrides"]["command"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let env = body["containerOverrides"]["environment"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|kv| {
                            (
                                kv["name"].as_str().unwrap_or_default().to_owned(),
                                kv["value"].as_str().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let name = body["jobName"].as_str().unwrap_or_default().to_owned();
            inner.jobs.push(Job {
                id: id.clone(),
                name: name.clone(),
                queue: body["jobQueue"].as_str().unwrap_or_default().to_owned(),
                script,
                env,
                tags: body["tags"].clone(),
                submitted: Instant::now(),
                created_ms: now_ms(),
                forced: None,
                timeout_secs: body["timeout"]["attemptDurationSeconds"].as_i64(),
            });
            if inner.lose_submit_answers > 0 {
                inner.lose_submit_answers -= 1;
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "ServerException",
                    "the answer was lost",
                );
            }
            ok(
                json!({"jobId": id, "jobName": name, "jobArn": format!("arn:aws:batch:us-east-1:123456789012:job/{id}")}),
            )
        }
        "describejobs" => {
            if inner.throttle_describe > 0 {
                inner.throttle_describe -= 1;
                return error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TooManyRequestsException",
                    "Too Many Requests",
                );
            }
            let ids: Vec<&str> = body["jobs"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if ids.len() > 100 {
                return error(
                    StatusCode::BAD_REQUEST,
                    "ClientException",
                    "at most 100 jobs",
                );
            }
            let jobs: Vec<Value> = inner
                .jobs
                .iter()
                .filter(|j| ids.contains(&j.id.as_str()))
                .map(describe)
                .collect();
            ok(json!({"jobs": jobs}))
        }
        "listjobs" => {
            let queue = body["jobQueue"].as_str().unwrap_or_default();
            let name = body["filters"][0]["values"][0].as_str().unwrap_or_default();
            let jobs: Vec<Value> = inner
                .jobs
                .iter()
                .filter(|j| j.queue == queue && j.name == name)
                .map(|j| json!({"jobId": j.id, "jobName": j.name, "status": state(j).0}))
                .collect();
            ok(json!({"jobSummaryList": jobs}))
        }
        "canceljob" | "terminatejob" => {
            let id = body["jobId"].as_str().unwrap_or_default().to_owned();
            let reason = body["reason"].as_str().unwrap_or_default().to_owned();
            if let Some(job) = inner.jobs.iter_mut().find(|j| j.id == id) {
                let (status, ..) = state(job);
                let before_start = matches!(status, "SUBMITTED" | "PENDING" | "RUNNABLE");
                if op == "terminatejob" && !matches!(status, "SUCCEEDED" | "FAILED") {
                    job.forced = Some((reason, Some(143), Instant::now()));
                } else if op == "canceljob" && before_start {
                    job.forced = Some((reason, None, Instant::now()));
                }
            }
            ok(json!({}))
        }
        _ => error(
            StatusCode::BAD_REQUEST,
            "ClientException",
            "unknown operation",
        ),
    }
}

async fn logs(State(fake): State<FakeBatch>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let inner = fake.inner.lock().unwrap();
    if target != "Logs_20140328.GetLogEvents" {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterException",
            "unknown target",
        );
    }
    let stream = body["logStreamName"].as_str().unwrap_or_default();
    let Some(job) = inner
        .jobs
        .iter()
        .find(|j| format!("fake/default/{}", j.id) == stream)
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "ResourceNotFoundException",
            "The specified log stream does not exist.",
        );
    };
    let secret = job
        .env
        .iter()
        .find(|(k, _)| k == "SECRET_TOKEN")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let lines = [format!("hello from {}", job.id), format!("token={secret}")];
    let from: usize = body["nextToken"]
        .as_str()
        .and_then(|t| t.strip_prefix("f/"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let events: Vec<Value> = lines
        .iter()
        .enumerate()
        .skip(from)
        .map(|(i, l)| json!({"timestamp": job.created_ms + 300 + i as i64, "message": l, "ingestionTime": now_ms()}))
        .collect();
    let next = format!("f/{}", lines.len());
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.1")],
        json!({"events": events, "nextForwardToken": next, "nextBackwardToken": "b/0"}).to_string(),
    )
        .into_response()
}
