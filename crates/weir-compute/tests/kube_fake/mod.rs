//! A fake Kubernetes API server for the tests of the `kubernetes` backend (no cluster can
//! run on the test machines): an axum server on 127.0.0.1 that speaks the part of the API
//! the backend uses, as the real one does, and a handle through which a test plays the
//! kubelet and the Job controller.
//!
//! What it serves (JSON as the API server writes it):
//! - `GET /version`;
//! - Jobs (`/apis/batch/v1/namespaces/{ns}/jobs[/{name}]`), Pods
//!   (`/api/v1/namespaces/{ns}/pods[/{name}]`) and Secrets (`…/secrets[/{name}]`):
//!   create (409 `AlreadyExists` for a taken name, 422 `Invalid` for a name, label or
//!   Secret key the real server's validation refuses), get (404 `NotFound` as a `Status`),
//!   list with `labelSelector` (equality terms) and `fieldSelector` (`metadata.name=`),
//!   delete (the `DeleteOptions` body's `propagationPolicy` is recorded; deleting an
//!   object deletes its pods and what it owns, as the garbage collector does), a Secret's
//!   JSON merge patch (`ownerReferences`), and watch (`?watch=true`: newline-delimited `WatchEvent`s after
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
//! What it does not do: authentication, RBAC (beyond a namespace the test forbids), namespaces' existence, quotas, admission
//! (validation stops at names, labels and Secret keys),
//! scheduling (a test says when a pod starts), `Foreground` deletion's lingering Job with
//! a finalizer (the Job and its pods go at once), `410 Gone` for old resource versions,
//! bookmarks, PATCH/PUT, and any other resource.

#![allow(dead_code)]

mod api;
mod kubelet;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use tokio::sync::broadcast;

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
    /// Namespaces where Weir's account may create nothing (RBAC says no).
    forbidden: Vec<String>,
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
        let app = api::router(inner.clone());
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

    /// Weir's account may create nothing in `ns`: creations there answer 403 `Forbidden`.
    pub fn forbid(&self, ns: &str) {
        self.store().forbidden.push(ns.to_owned());
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

    /// Every object of `kind` ever created in `ns`, as it was created (kept after its
    /// deletion, for tests that look at what a finished try posted).
    pub fn created(&self, kind: Kind, ns: &str) -> Vec<Value> {
        self.store()
            .history
            .iter()
            .filter(|c| c.kind == kind && c.namespace == ns && c.type_ == "ADDED")
            .map(|c| c.object.clone())
            .collect()
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
