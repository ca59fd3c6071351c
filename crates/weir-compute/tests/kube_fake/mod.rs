//! A fake Kubernetes API server for the tests of the `kubernetes` backend (no cluster can
//! run on the test machines): an axum server on 127.0.0.1 that speaks the part of the API
//! the backend uses, as the real one does, and a handle through which a test plays the
//! kubelet and the Job controller.
//!
//! What it serves (JSON as the API server writes it):
//! - `GET /version`;
//! - Jobs (`/apis/batch/v1/namespaces/{ns}/jobs[/{name}]`), Pods
//!   (`/api/v1/namespaces/{ns}/pods[/{name}]`) and Secrets (`…/secrets[/{name}]`):
//!   create (409 `AlreadyExists` for a taken name), get (404 `NotFound` as a `Status`),
//!   list with `labelSelector` (equality terms) and `fieldSelector` (`metadata.name=`),
//!   delete (the `DeleteOptions` body's `propagationPolicy` is recorded; deleting a Job
//!   deletes its pods), and watch (`?watch=true`: newline-delimited `WatchEvent`s after
//!   the given `resourceVersion`, or the current objects as `ADDED` for none/`0`, until
//!   `timeoutSeconds`);
//! - `GET …/pods/{name}/log` with `follow`, `timestamps` and `sinceTime` (400 while the
//!   container has not started, as the real server answers); the handle can end open
//!   streams early, as a proxy's timeout does;
//! - the Job controller's part: a created Job gets its pod at once (named
//!   `<job>-<suffix>`, with the template's labels plus `job-name`, `controller-uid`, …),
//!   and the Job's status (conditions `Complete`/`SuccessCriteriaMet`,
//!   `FailureTarget`/`Failed`, counts) follows its pod as the handle drives it.
//!
//! What it does not do: authentication, RBAC, namespaces' existence, quotas, admission,
//! scheduling (a test says when a pod starts), `Foreground` deletion's lingering Job with
//! a finalizer (the Job and its pods go at once), `410 Gone` for old resource versions,
//! bookmarks, PATCH/PUT, and any other resource.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

/// The kinds of object the fake keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Job,
    Pod,
    Secret,
}

impl Kind {
    fn api_version(self) -> &'static str {
        match self {
            Kind::Job => "batch/v1",
            _ => "v1",
        }
    }
    fn name(self) -> &'static str {
        match self {
            Kind::Job => "Job",
            Kind::Pod => "Pod",
            Kind::Secret => "Secret",
        }
    }
    fn plural(self) -> &'static str {
        match self {
            Kind::Job => "jobs",
            Kind::Pod => "pods",
            Kind::Secret => "secrets",
        }
    }
    fn group(self) -> &'static str {
        match self {
            Kind::Job => "batch",
            _ => "",
        }
    }
}

/// One change, as a watch reports it.
#[derive(Debug, Clone)]
struct Change {
    rv: u64,
    kind: Kind,
    namespace: String,
    type_: &'static str,
    object: Value,
}

/// One recorded deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub propagation_policy: Option<String>,
}

/// A line a container printed, and when.
type LogLine = (DateTime<Utc>, String);

#[derive(Default)]
struct Store {
    rv: u64,
    objects: BTreeMap<(Kind, String, String), Value>,
    history: Vec<Change>,
    /// Each pod's output, by (namespace, pod).
    logs: HashMap<(String, String), Vec<LogLine>>,
    deletions: Vec<Deletion>,
    /// Every request's method and path with query, in order.
    requests: Vec<String>,
    /// Run every new Job's pod to success on its own.
    auto: bool,
    /// Bumped to end every open log stream cleanly (a proxy's timeout).
    log_cut: u64,
    uid: u64,
}

struct Inner {
    store: Mutex<Store>,
    changes: broadcast::Sender<Change>,
}

/// The fake API server and the test's handle on it.
#[derive(Clone)]
pub struct FakeKube {
    pub url: String,
    inner: Arc<Inner>,
}

fn now_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl FakeKube {
    /// Starts the fake on a free port.
    pub async fn start() -> FakeKube {
        let (changes, _) = broadcast::channel(4096);
        let inner = Arc::new(Inner {
            store: Mutex::new(Store::default()),
            changes,
        });
        let app = Router::new()
            .route("/version", get(version))
            .route(
                "/apis/batch/v1/namespaces/{ns}/jobs",
                get(list_jobs).post(create_job),
            )
            .route(
                "/apis/batch/v1/namespaces/{ns}/jobs/{name}",
                get(get_job).delete(delete_job),
            )
            .route("/api/v1/namespaces/{ns}/pods", get(list_pods))
            .route(
                "/api/v1/namespaces/{ns}/pods/{name}",
                get(get_pod).delete(delete_pod),
            )
            .route("/api/v1/namespaces/{ns}/pods/{name}/log", get(pod_log))
            .route(
                "/api/v1/namespaces/{ns}/secrets",
                get(list_secrets).post(create_secret),
            )
            .route(
                "/api/v1/namespaces/{ns}/secrets/{name}",
                get(get_secret).delete(delete_secret),
            )
            .layer(axum::middleware::from_fn_with_state(
                inner.clone(),
                note_request,
            ))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake API server");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeKube {
            url: format!("http://{addr}"),
            inner,
        }
    }

    /// Writes a kubeconfig naming this server (plain http, no credentials) in `dir`.
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\ncurrent-context: fake\nusers:\n- name: fake\n  user: {{}}\n",
            self.url
        );
        std::fs::write(&path, text).expect("write the kubeconfig");
        path
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.inner.store.lock().expect("the fake's store")
    }

    /// Pods of new Jobs run to success by themselves (for end-to-end tests).
    pub fn set_auto(&self, auto: bool) {
        self.store().auto = auto;
    }

    /// An object as the server holds it.
    pub fn object(&self, kind: Kind, ns: &str, name: &str) -> Option<Value> {
        self.store()
            .objects
            .get(&(kind, ns.to_owned(), name.to_owned()))
            .cloned()
    }

    /// The names of the objects of `kind` in `ns`.
    pub fn names(&self, kind: Kind, ns: &str) -> Vec<String> {
        self.store()
            .objects
            .keys()
            .filter(|(k, n, _)| *k == kind && n == ns)
            .map(|(_, _, name)| name.clone())
            .collect()
    }

    /// Every namespace holding objects of `kind`.
    pub fn namespaces(&self, kind: Kind) -> Vec<String> {
        let mut out: Vec<String> = self
            .store()
            .objects
            .keys()
            .filter(|(k, ..)| *k == kind)
            .map(|(_, ns, _)| ns.clone())
            .collect();
        out.dedup();
        out
    }

    pub fn deletions(&self) -> Vec<Deletion> {
        self.store().deletions.clone()
    }

    pub fn requests(&self) -> Vec<String> {
        self.store().requests.clone()
    }

    /// The pod of Job `job`.
    pub fn pod_of(&self, ns: &str, job: &str) -> Option<String> {
        self.store()
            .objects
            .iter()
            .find(|((k, n, _), v)| {
                *k == Kind::Pod && n == ns && v["metadata"]["labels"]["job-name"] == job
            })
            .map(|((.., name), _)| name.clone())
    }

    /// The kubelet starts the pod's container.
    pub fn run_pod(&self, ns: &str, pod: &str) {
        let mut s = self.store();
        let now = Utc::now();
        let ready = now_text(now);
        let image = image_of(&s, ns, pod);
        update_pod(&mut s, &self.inner, ns, pod, |status| {
            status["phase"] = json!("Running");
            status["startTime"] = json!(ready);
            status["podIP"] = json!("10.244.1.23");
            status["conditions"] = conditions(true, &ready);
            status["containerStatuses"] = json!([container_status(
                &image,
                json!({"running": {"startedAt": ready}}),
                true
            )]);
        });
        let job = job_of_pod(&s, ns, pod);
        update_job(&mut s, &self.inner, ns, &job, |status| {
            status["active"] = json!(1);
            status["ready"] = json!(1);
        });
    }

    /// The container prints `line`.
    pub fn log(&self, ns: &str, pod: &str, line: &str) {
        let mut s = self.store();
        s.logs
            .entry((ns.to_owned(), pod.to_owned()))
            .or_default()
            .push((Utc::now(), line.to_owned()));
        // Followers wake on any change; a log line is one for them.
        let _ = self.inner.changes.send(Change {
            rv: s.rv,
            kind: Kind::Secret,
            namespace: String::new(),
            type_: "LOG",
            object: Value::Null,
        });
    }

    /// Every open log stream ends, cleanly, while the containers run on (as behind a
    /// proxy that closes long responses).
    pub fn cut_log_streams(&self) {
        let mut s = self.store();
        s.log_cut += 1;
        let _ = self.inner.changes.send(Change {
            rv: s.rv,
            kind: Kind::Secret,
            namespace: String::new(),
            type_: "CUT",
            object: Value::Null,
        });
    }

    /// The container exits with `code` (and leaves `message` as its termination message).
    pub fn exit(&self, ns: &str, pod: &str, code: i32, message: Option<&str>) {
        let reason = if code == 0 { "Completed" } else { "Error" };
        self.terminate(ns, pod, code, reason, message, None);
    }

    /// The kernel kills the container at its memory limit.
    pub fn oom(&self, ns: &str, pod: &str) {
        self.terminate(ns, pod, 137, "OOMKilled", None, None);
    }

    /// The kubelet evicts the pod (node under memory pressure).
    pub fn evict(&self, ns: &str, pod: &str) {
        let message =
            "The node was low on resource: memory. Threshold quantity: 100Mi, available: 91412Ki. ";
        self.terminate(
            ns,
            pod,
            137,
            "ContainerStatusUnknown",
            None,
            Some(("Evicted", message)),
        );
    }

    /// The image cannot be pulled: the container waits in `ImagePullBackOff`.
    pub fn image_pull_backoff(&self, ns: &str, pod: &str) {
        let mut s = self.store();
        let image = image_of(&s, ns, pod);
        let message = format!(
            "Back-off pulling image \"{image}\": ErrImagePull: failed to pull and unpack image \"{image}\": not found"
        );
        update_pod(&mut s, &self.inner, ns, pod, |status| {
            status["containerStatuses"] = json!([container_status(
                &image,
                json!({"waiting": {"reason": "ImagePullBackOff", "message": message}}),
                false
            )]);
        });
    }

    /// The Job controller finds the Job past its `activeDeadlineSeconds`: it kills the
    /// pod and fails the Job with reason `DeadlineExceeded`.
    pub fn deadline_exceeded(&self, ns: &str, job: &str) {
        if let Some(pod) = self.pod_of(ns, job) {
            let mut s = self.store();
            let now = now_text(Utc::now());
            let image = image_of(&s, ns, &pod);
            update_pod(&mut s, &self.inner, ns, &pod, |status| {
                status["phase"] = json!("Failed");
                status["containerStatuses"] = json!([container_status(
                    &image,
                    json!({"terminated": {"exitCode": 143, "reason": "Error", "startedAt": now, "finishedAt": now}}),
                    false
                )]);
            });
            remove(&mut s, &self.inner, Kind::Pod, ns, &pod);
        }
        let mut s = self.store();
        fail_job(
            &mut s,
            &self.inner,
            ns,
            job,
            "DeadlineExceeded",
            "Job was active longer than specified deadline",
        );
    }

    fn terminate(
        &self,
        ns: &str,
        pod: &str,
        code: i32,
        reason: &str,
        message: Option<&str>,
        pod_reason: Option<(&str, &str)>,
    ) {
        let mut s = self.store();
        let now = now_text(Utc::now());
        let image = image_of(&s, ns, pod);
        let started = s
            .objects
            .get(&(Kind::Pod, ns.to_owned(), pod.to_owned()))
            .and_then(|p| {
                p["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]
                    .as_str()
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| now.clone());
        let phase = if code == 0 { "Succeeded" } else { "Failed" };
        update_pod(&mut s, &self.inner, ns, pod, |status| {
            status["phase"] = json!(phase);
            status["conditions"] = conditions(false, &now);
            let mut terminated = json!({"exitCode": code, "reason": reason, "startedAt": started, "finishedAt": now});
            if let Some(m) = message {
                terminated["message"] = json!(m);
            }
            status["containerStatuses"] = json!([container_status(
                &image,
                json!({ "terminated": terminated }),
                false
            )]);
            if let Some((r, m)) = pod_reason {
                status["reason"] = json!(r);
                status["message"] = json!(m);
            }
        });
        let job = job_of_pod(&s, ns, pod);
        if code == 0 {
            update_job(&mut s, &self.inner, ns, &job, |status| {
                status["active"] = json!(0);
                status["ready"] = json!(0);
                status["succeeded"] = json!(1);
                status["completionTime"] = json!(now);
                status["conditions"] = json!([
                    {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods", "lastProbeTime": now, "lastTransitionTime": now},
                    {"type": "Complete", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods", "lastProbeTime": now, "lastTransitionTime": now},
                ]);
            });
        } else {
            fail_job(
                &mut s,
                &self.inner,
                ns,
                &job,
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            );
        }
    }
}

fn conditions(ready: bool, at: &str) -> Value {
    let r = if ready { "True" } else { "False" };
    json!([
        {"type": "PodReadyToStartContainers", "status": "True", "lastProbeTime": null, "lastTransitionTime": at},
        {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": at},
        {"type": "Ready", "status": r, "lastProbeTime": null, "lastTransitionTime": at},
        {"type": "ContainersReady", "status": r, "lastProbeTime": null, "lastTransitionTime": at},
        {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": at},
    ])
}

fn container_status(image: &str, state: Value, ready: bool) -> Value {
    json!({
        "name": "task", "state": state, "lastState": {}, "ready": ready, "restartCount": 0,
        "image": image, "imageID": format!("{image}@sha256:0123"), "started": ready,
        "containerID": "containerd://f00d",
    })
}

fn image_of(s: &Store, ns: &str, pod: &str) -> String {
    s.objects
        .get(&(Kind::Pod, ns.to_owned(), pod.to_owned()))
        .and_then(|p| {
            p["spec"]["containers"][0]["image"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

fn job_of_pod(s: &Store, ns: &str, pod: &str) -> String {
    s.objects
        .get(&(Kind::Pod, ns.to_owned(), pod.to_owned()))
        .and_then(|p| {
            p["metadata"]["labels"]["job-name"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

fn fail_job(s: &mut Store, inner: &Inner, ns: &str, job: &str, reason: &str, message: &str) {
    let now = now_text(Utc::now());
    update_job(s, inner, ns, job, |status| {
        status["active"] = json!(0);
        status["ready"] = json!(0);
        status["failed"] = json!(1);
        status["conditions"] = json!([
            {"type": "FailureTarget", "status": "True", "reason": reason, "message": message, "lastProbeTime": now, "lastTransitionTime": now},
            {"type": "Failed", "status": "True", "reason": reason, "message": message, "lastProbeTime": now, "lastTransitionTime": now},
        ]);
    });
}

fn bump(
    s: &mut Store,
    inner: &Inner,
    kind: Kind,
    ns: &str,
    type_: &'static str,
    object: &mut Value,
) {
    s.rv += 1;
    object["metadata"]["resourceVersion"] = json!(s.rv.to_string());
    let change = Change {
        rv: s.rv,
        kind,
        namespace: ns.to_owned(),
        type_,
        object: with_type(kind, object.clone()),
    };
    s.history.push(change.clone());
    let _ = inner.changes.send(change);
}

fn update(
    s: &mut Store,
    inner: &Inner,
    kind: Kind,
    ns: &str,
    name: &str,
    f: impl FnOnce(&mut Value),
) {
    let key = (kind, ns.to_owned(), name.to_owned());
    let Some(mut object) = s.objects.get(&key).cloned() else {
        return;
    };
    if object["status"].is_null() {
        object["status"] = json!({});
    }
    f(&mut object["status"]);
    bump(s, inner, kind, ns, "MODIFIED", &mut object);
    s.objects.insert(key, object);
}

fn update_pod(s: &mut Store, inner: &Inner, ns: &str, pod: &str, f: impl FnOnce(&mut Value)) {
    update(s, inner, Kind::Pod, ns, pod, f);
}

fn update_job(s: &mut Store, inner: &Inner, ns: &str, job: &str, f: impl FnOnce(&mut Value)) {
    update(s, inner, Kind::Job, ns, job, f);
}

fn remove(s: &mut Store, inner: &Inner, kind: Kind, ns: &str, name: &str) -> Option<Value> {
    let mut object = s.objects.remove(&(kind, ns.to_owned(), name.to_owned()))?;
    bump(s, inner, kind, ns, "DELETED", &mut object);
    Some(object)
}

fn with_type(kind: Kind, mut object: Value) -> Value {
    object["kind"] = json!(kind.name());
    object["apiVersion"] = json!(kind.api_version());
    object
}

/// A `Status` error body, as the API server writes it.
fn status(code: StatusCode, reason: &str, message: String, kind: Kind, name: &str) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason,
        "details": {"name": name, "group": kind.group(), "kind": kind.plural()},
        "code": code.as_u16(),
    });
    (code, axum::Json(body)).into_response()
}

fn not_found(kind: Kind, name: &str) -> Response {
    let what = match kind {
        Kind::Job => "jobs.batch",
        other => other.plural(),
    };
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("{what} \"{name}\" not found"),
        kind,
        name,
    )
}

async fn note_request(
    State(inner): State<Arc<Inner>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let line = format!("{} {}", request.method(), request.uri());
    if let Ok(mut s) = inner.store.lock() {
        s.requests.push(line);
    }
    next.run(request).await
}

async fn version() -> Response {
    axum::Json(json!({
        "major": "1", "minor": "33", "gitVersion": "v1.33.0-fake", "gitCommit": "0000000",
        "gitTreeState": "clean", "buildDate": "2026-12-01T00:00:00Z", "goVersion": "go1.24",
        "compiler": "gc", "platform": "linux/amd64", "emulationMajor": "1", "emulationMinor": "33",
        "minCompatibilityMajor": "1", "minCompatibilityMinor": "32",
    }))
    .into_response()
}

// ---- create ----

async fn create_job(
    s: State<Arc<Inner>>,
    ns: UrlPath<String>,
    body: axum::Json<Value>,
) -> Response {
    create(s, Kind::Job, ns, body).await
}

async fn create_secret(
    s: State<Arc<Inner>>,
    ns: UrlPath<String>,
    body: axum::Json<Value>,
) -> Response {
    create(s, Kind::Secret, ns, body).await
}

async fn create(
    State(inner): State<Arc<Inner>>,
    kind: Kind,
    UrlPath(ns): UrlPath<String>,
    axum::Json(mut object): axum::Json<Value>,
) -> Response {
    let Some(name) = object["metadata"]["name"].as_str().map(str::to_owned) else {
        return status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            "metadata.name: Required value".into(),
            kind,
            "",
        );
    };
    let mut s = inner.store.lock().expect("store");
    let key = (kind, ns.clone(), name.clone());
    if s.objects.contains_key(&key) {
        let what = if kind == Kind::Job {
            "jobs.batch".to_owned()
        } else {
            kind.plural().to_owned()
        };
        return status(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("{what} \"{name}\" already exists"),
            kind,
            &name,
        );
    }
    s.uid += 1;
    let uid = format!("00000000-0000-4000-8000-{:012x}", s.uid);
    let now = now_text(Utc::now());
    object["metadata"]["namespace"] = json!(ns);
    object["metadata"]["uid"] = json!(uid);
    object["metadata"]["creationTimestamp"] = json!(now);
    object = with_type(kind, object);
    let auto = s.auto;
    if kind == Kind::Job {
        let labels = &mut object["spec"]["template"]["metadata"]["labels"];
        if labels.is_null() {
            *labels = json!({});
        }
        for (k, v) in [
            ("batch.kubernetes.io/controller-uid", uid.as_str()),
            ("batch.kubernetes.io/job-name", name.as_str()),
            ("controller-uid", uid.as_str()),
            ("job-name", name.as_str()),
        ] {
            labels[k] = json!(v);
        }
        object["status"] = json!({"startTime": now, "active": 1, "terminating": 0, "ready": 0, "uncountedTerminatedPods": {}});
    }
    bump(&mut s, &inner, kind, &ns, "ADDED", &mut object);
    s.objects.insert(key, object.clone());
    if kind == Kind::Job {
        // The Job controller makes the pod.
        let pod_name = format!("{name}-{}", &format!("{:05x}", s.uid * 7919)[..5]);
        let mut pod = json!({
            "metadata": {
                "name": pod_name, "generateName": format!("{name}-"), "namespace": ns,
                "uid": format!("00000000-0000-4000-9000-{:012x}", s.uid),
                "creationTimestamp": now,
                "labels": object["spec"]["template"]["metadata"]["labels"].clone(),
                "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true}],
                "finalizers": ["batch.kubernetes.io/job-tracking"],
            },
            "spec": object["spec"]["template"]["spec"].clone(),
            "status": {"phase": "Pending", "qosClass": "Guaranteed"},
        });
        bump(&mut s, &inner, Kind::Pod, &ns, "ADDED", &mut pod);
        s.objects.insert(
            (Kind::Pod, ns.clone(), pod_name.clone()),
            with_type(Kind::Pod, pod),
        );
        if auto {
            let fake = FakeKube {
                url: String::new(),
                inner: inner.clone(),
            };
            let (ns, pod) = (ns.clone(), pod_name);
            tokio::spawn(async move { fake.run_auto(&ns, &pod).await });
        }
    }
    (StatusCode::CREATED, axum::Json(object)).into_response()
}

impl FakeKube {
    /// Runs a pod the way a kubelet would for a well-behaved task: its secrets must exist
    /// (else `CreateContainerConfigError`), it starts, prints its command, exits 0.
    async fn run_auto(&self, ns: &str, pod: &str) {
        tokio::task::yield_now().await;
        let missing = {
            let s = self.store();
            let spec = s
                .objects
                .get(&(Kind::Pod, ns.to_owned(), pod.to_owned()))
                .map(|p| p["spec"].clone())
                .unwrap_or(Value::Null);
            missing_secret(&s, ns, &spec)
        };
        if let Some(why) = missing {
            let mut s = self.store();
            let image = image_of(&s, ns, pod);
            update_pod(&mut s, &self.inner, ns, pod, |status| {
                status["containerStatuses"] = json!([container_status(
                    &image,
                    json!({"waiting": {"reason": "CreateContainerConfigError", "message": why}}),
                    false
                )]);
            });
            return;
        }
        self.run_pod(ns, pod);
        let args = {
            let s = self.store();
            s.objects
                .get(&(Kind::Pod, ns.to_owned(), pod.to_owned()))
                .and_then(|p| p["spec"]["containers"][0]["args"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect::<Vec<_>>()
                .join(" ")
        };
        self.log(ns, pod, &format!("running: {args}"));
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.exit(ns, pod, 0, Some("{\"done\": true}"));
    }
}

/// Why the kubelet could not make the container's environment: a `secretKeyRef` to a
/// Secret or key that does not exist.
fn missing_secret(s: &Store, ns: &str, spec: &Value) -> Option<String> {
    let env = spec["containers"][0]["env"].as_array()?;
    for var in env {
        let r = &var["valueFrom"]["secretKeyRef"];
        let (Some(name), Some(key)) = (r["name"].as_str(), r["key"].as_str()) else {
            continue;
        };
        match s
            .objects
            .get(&(Kind::Secret, ns.to_owned(), name.to_owned()))
        {
            None => return Some(format!("secret \"{name}\" not found")),
            Some(secret) if secret["data"][key].is_null() => {
                return Some(format!("couldn't find key {key} in Secret {ns}/{name}"));
            }
            Some(_) => {}
        }
    }
    None
}

// ---- get ----

async fn get_job(s: State<Arc<Inner>>, p: UrlPath<(String, String)>) -> Response {
    get_one(s, Kind::Job, p).await
}
async fn get_pod(s: State<Arc<Inner>>, p: UrlPath<(String, String)>) -> Response {
    get_one(s, Kind::Pod, p).await
}
async fn get_secret(s: State<Arc<Inner>>, p: UrlPath<(String, String)>) -> Response {
    get_one(s, Kind::Secret, p).await
}

async fn get_one(
    State(inner): State<Arc<Inner>>,
    kind: Kind,
    UrlPath((ns, name)): UrlPath<(String, String)>,
) -> Response {
    let s = inner.store.lock().expect("store");
    match s.objects.get(&(kind, ns, name.clone())) {
        Some(object) => axum::Json(object.clone()).into_response(),
        None => not_found(kind, &name),
    }
}

// ---- delete ----

async fn delete_job(s: State<Arc<Inner>>, p: UrlPath<(String, String)>, body: Bytes) -> Response {
    delete(s, Kind::Job, p, body).await
}
async fn delete_pod(s: State<Arc<Inner>>, p: UrlPath<(String, String)>, body: Bytes) -> Response {
    delete(s, Kind::Pod, p, body).await
}
async fn delete_secret(
    s: State<Arc<Inner>>,
    p: UrlPath<(String, String)>,
    body: Bytes,
) -> Response {
    delete(s, Kind::Secret, p, body).await
}

async fn delete(
    State(inner): State<Arc<Inner>>,
    kind: Kind,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    body: Bytes,
) -> Response {
    let options: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let policy = options["propagationPolicy"].as_str().map(str::to_owned);
    let mut s = inner.store.lock().expect("store");
    if !s.objects.contains_key(&(kind, ns.clone(), name.clone())) {
        return not_found(kind, &name);
    }
    s.deletions.push(Deletion {
        kind,
        namespace: ns.clone(),
        name: name.clone(),
        propagation_policy: policy.clone(),
    });
    if kind == Kind::Job && policy.as_deref() != Some("Orphan") {
        let pods: Vec<String> = s
            .objects
            .iter()
            .filter(|((k, n, _), v)| {
                *k == Kind::Pod && *n == ns && v["metadata"]["labels"]["job-name"] == name.as_str()
            })
            .map(|((.., pod), _)| pod.clone())
            .collect();
        for pod in pods {
            remove(&mut s, &inner, Kind::Pod, &ns, &pod);
        }
    }
    let removed = remove(&mut s, &inner, kind, &ns, &name);
    let uid = removed
        .map(|o| o["metadata"]["uid"].clone())
        .unwrap_or(Value::Null);
    axum::Json(json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": {"name": name, "group": kind.group(), "kind": kind.plural(), "uid": uid},
    }))
    .into_response()
}

// ---- list and watch ----

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    label_selector: Option<String>,
    field_selector: Option<String>,
    watch: Option<String>,
    resource_version: Option<String>,
    timeout_seconds: Option<u64>,
}

async fn list_jobs(s: State<Arc<Inner>>, ns: UrlPath<String>, q: Query<ListQuery>) -> Response {
    list(s, Kind::Job, ns, q).await
}
async fn list_pods(s: State<Arc<Inner>>, ns: UrlPath<String>, q: Query<ListQuery>) -> Response {
    list(s, Kind::Pod, ns, q).await
}
async fn list_secrets(s: State<Arc<Inner>>, ns: UrlPath<String>, q: Query<ListQuery>) -> Response {
    list(s, Kind::Secret, ns, q).await
}

/// Whether `object` matches the query's label and field selectors (equality terms).
fn matches(q: &ListQuery, object: &Value) -> bool {
    let labels_ok = q.label_selector.as_deref().is_none_or(|sel| {
        sel.split(',')
            .filter(|t| !t.is_empty())
            .all(|term| match term.split_once('=') {
                Some((k, v)) => {
                    object["metadata"]["labels"][k.trim_end_matches('=')].as_str()
                        == Some(v.trim_start_matches('='))
                }
                None => !object["metadata"]["labels"][term].is_null(),
            })
    });
    let fields_ok = q.field_selector.as_deref().is_none_or(|sel| {
        sel.split(',')
            .filter(|t| !t.is_empty())
            .all(|term| match term.split_once('=') {
                Some(("metadata.name", v)) => {
                    object["metadata"]["name"].as_str() == Some(v.trim_start_matches('='))
                }
                Some(("metadata.namespace", v)) => {
                    object["metadata"]["namespace"].as_str() == Some(v.trim_start_matches('='))
                }
                _ => false,
            })
    });
    labels_ok && fields_ok
}

async fn list(
    State(inner): State<Arc<Inner>>,
    kind: Kind,
    UrlPath(ns): UrlPath<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    if q.watch.as_deref() == Some("true") || q.watch.as_deref() == Some("1") {
        return watch(inner, kind, ns, q);
    }
    let s = inner.store.lock().expect("store");
    let items: Vec<Value> = s
        .objects
        .iter()
        .filter(|((k, n, _), v)| *k == kind && *n == ns && matches(&q, v))
        .map(|(_, v)| {
            // List items carry no kind and apiVersion, as the real server writes them.
            let mut v = v.clone();
            if let Some(map) = v.as_object_mut() {
                map.remove("kind");
                map.remove("apiVersion");
            }
            v
        })
        .collect();
    axum::Json(json!({
        "kind": format!("{}List", kind.name()), "apiVersion": kind.api_version(),
        "metadata": {"resourceVersion": s.rv.to_string()},
        "items": items,
    }))
    .into_response()
}

fn watch(inner: Arc<Inner>, kind: Kind, ns: String, q: ListQuery) -> Response {
    let mut live = inner.changes.subscribe();
    let (tx, rx) = mpsc::channel::<String>(256);
    let from: Option<u64> = q
        .resource_version
        .as_deref()
        .filter(|v| !v.is_empty() && *v != "0")
        .and_then(|v| v.parse().ok());
    let (first, mut last) = {
        let s = inner.store.lock().expect("store");
        let first: Vec<Value> = match from {
            Some(rv) => s
                .history
                .iter()
                .filter(|c| {
                    c.rv > rv && c.kind == kind && c.namespace == ns && matches(&q, &c.object)
                })
                .map(|c| json!({"type": c.type_, "object": c.object}))
                .collect(),
            None => s
                .objects
                .iter()
                .filter(|((k, n, _), v)| *k == kind && *n == ns && matches(&q, v))
                .map(|(_, v)| json!({"type": "ADDED", "object": v}))
                .collect(),
        };
        (first, s.rv)
    };
    let timeout = Duration::from_secs(q.timeout_seconds.unwrap_or(1800));
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + timeout;
        for event in first {
            if tx.send(format!("{event}\n")).await.is_err() {
                return;
            }
        }
        loop {
            let change = tokio::select! {
                c = live.recv() => c,
                () = tokio::time::sleep_until(deadline) => return,
                () = tx.closed() => return,
            };
            let Ok(c) = change else { return };
            if c.rv <= last || c.kind != kind || c.namespace != ns || !matches(&q, &c.object) {
                continue;
            }
            last = c.rv;
            let event = json!({"type": c.type_, "object": c.object});
            if tx.send(format!("{event}\n")).await.is_err() {
                return;
            }
        }
    });
    stream_response(rx, "application/json")
}

fn stream_response(rx: mpsc::Receiver<String>, content_type: &'static str) -> Response {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, Infallible>(chunk), rx))
    });
    let mut response = Body::from_stream(stream).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

// ---- logs ----

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct LogQuery {
    follow: Option<bool>,
    timestamps: Option<bool>,
    since_time: Option<String>,
    container: Option<String>,
}

async fn pod_log(
    State(inner): State<Arc<Inner>>,
    UrlPath((ns, pod)): UrlPath<(String, String)>,
    Query(q): Query<LogQuery>,
) -> Response {
    let since = q
        .since_time
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    {
        let s = inner.store.lock().expect("store");
        let Some(object) = s.objects.get(&(Kind::Pod, ns.clone(), pod.clone())) else {
            return not_found(Kind::Pod, &pod);
        };
        let state = &object["status"]["containerStatuses"][0]["state"];
        if state["running"].is_null() && state["terminated"].is_null() {
            let why = state["waiting"]["reason"]
                .as_str()
                .unwrap_or("ContainerCreating");
            let container = q.container.clone().unwrap_or_else(|| "task".into());
            return status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("container \"{container}\" in pod \"{pod}\" is waiting to start: {why}"),
                Kind::Pod,
                &pod,
            );
        }
    }
    let follow = q.follow.unwrap_or(false);
    let stamps = q.timestamps.unwrap_or(false);
    let mut live = inner.changes.subscribe();
    let (tx, rx) = mpsc::channel::<String>(256);
    let cut = inner.store.lock().expect("store").log_cut;
    tokio::spawn(async move {
        let mut sent = 0;
        loop {
            let (lines, ended) = {
                let s = inner.store.lock().expect("store");
                if s.log_cut != cut {
                    return;
                }
                let all = s
                    .logs
                    .get(&(ns.clone(), pod.clone()))
                    .cloned()
                    .unwrap_or_default();
                let ended = match s.objects.get(&(Kind::Pod, ns.clone(), pod.clone())) {
                    None => true,
                    Some(p) => {
                        !p["status"]["containerStatuses"][0]["state"]["terminated"].is_null()
                    }
                };
                (all[sent.min(all.len())..].to_vec(), ended)
            };
            for (at, line) in &lines {
                sent += 1;
                if since.is_some_and(|s| *at < s) {
                    continue;
                }
                let text = if stamps {
                    format!(
                        "{} {line}\n",
                        at.to_rfc3339_opts(SecondsFormat::Nanos, true)
                    )
                } else {
                    format!("{line}\n")
                };
                if tx.send(text).await.is_err() {
                    return;
                }
            }
            if !follow || ended {
                return;
            }
            tokio::select! {
                r = live.recv() => if matches!(r, Err(broadcast::error::RecvError::Closed)) { return },
                () = tx.closed() => return,
            }
        }
    });
    stream_response(rx, "text/plain")
}
