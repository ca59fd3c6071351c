//! The fake's HTTP surface: the routes of the API server that the backend uses, answering
//! as the real server does (objects, lists, watch streams, pod logs, `Status` errors).

use std::convert::Infallible;
use std::sync::Arc;
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

use super::{Deletion, FakeKube, Inner, Kind, bump, now_text, remove, with_type};

/// What the API server's validation would refuse in an object the backend posts: its
/// name (a DNS-1123 subdomain; a Job's at most 63 characters, since the controller puts
/// it in a label of its pods), its labels and its pod template's labels (at most 63 of
/// `[A-Za-z0-9-_.]`, alphanumeric at both ends), a Secret's keys.
fn invalid(kind: Kind, name: &str, object: &Value) -> Option<String> {
    let subdomain = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !subdomain {
        return Some(format!(
            "metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"
        ));
    }
    if kind == Kind::Job && name.len() > 63 {
        return Some(format!(
            "spec.template.labels: Invalid value: \"{name}\": must be no more than 63 characters"
        ));
    }
    let label_sets = [
        ("metadata.labels", &object["metadata"]["labels"]),
        (
            "spec.template.metadata.labels",
            &object["spec"]["template"]["metadata"]["labels"],
        ),
    ];
    for (field, labels) in label_sets {
        for (key, value) in labels.as_object().into_iter().flatten() {
            let value = value.as_str().unwrap_or("");
            let ok = value.len() <= 63
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && (value.is_empty()
                    || (value.starts_with(|c: char| c.is_ascii_alphanumeric())
                        && value.ends_with(|c: char| c.is_ascii_alphanumeric())));
            if !ok {
                return Some(format!(
                    "{field}: Invalid value: \"{value}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.' (label {key})"
                ));
            }
        }
    }
    if kind == Kind::Secret {
        for key in object["data"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            if key.is_empty()
                || !key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                return Some(format!(
                    "data[{key}]: Invalid value: \"{key}\": a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
                ));
            }
        }
    }
    None
}

/// The routes, on the fake's state.
pub(super) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
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
            get(get_secret).delete(delete_secret).patch(patch_secret),
        )
        .layer(axum::middleware::from_fn_with_state(
            inner.clone(),
            note_request,
        ))
        .with_state(inner)
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
    if let Some(problem) = invalid(kind, &name, &object) {
        let what = format!(
            "{}{}",
            kind.name(),
            if kind == Kind::Job { ".batch" } else { "" }
        );
        return status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("{what} \"{name}\" is invalid: {problem}"),
            kind,
            &name,
        );
    }
    let mut s = inner.store.lock().expect("store");
    if s.forbidden.contains(&ns) {
        let group = if kind == Kind::Job {
            "\"batch\""
        } else {
            "\"\""
        };
        return status(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "{}{} \"{name}\" is forbidden: User \"system:serviceaccount:weir:weir\" cannot create resource \"{}\" in API group {group} in the namespace \"{ns}\"",
                kind.plural(),
                if kind == Kind::Job { ".batch" } else { "" },
                kind.plural()
            ),
            kind,
            &name,
        );
    }
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

// ---- patch ----

async fn patch_secret(
    State(inner): State<Arc<Inner>>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let merge = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/merge-patch+json"));
    if !merge {
        return status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            "the fake applies JSON merge patches only".into(),
            Kind::Secret,
            &name,
        );
    }
    let Ok(patch) = serde_json::from_slice::<Value>(&body) else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "malformed patch".into(),
            Kind::Secret,
            &name,
        );
    };
    let mut s = inner.store.lock().expect("store");
    let key = (Kind::Secret, ns.clone(), name.clone());
    let Some(mut object) = s.objects.get(&key).cloned() else {
        return not_found(Kind::Secret, &name);
    };
    merge_patch(&mut object, &patch);
    bump(&mut s, &inner, Kind::Secret, &ns, "MODIFIED", &mut object);
    s.objects.insert(key, object.clone());
    axum::Json(object).into_response()
}

/// RFC 7386: objects merge key by key, `null` removes, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(fields) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    for (key, value) in fields {
        if value.is_null() {
            if let Some(map) = target.as_object_mut() {
                map.remove(key);
            }
        } else {
            merge_patch(&mut target[key.as_str()], value);
        }
    }
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
    // The garbage collector: what the deleted object owned goes with it.
    if let Some(uid) = removed.as_ref().and_then(|o| o["metadata"]["uid"].as_str()) {
        let owned: Vec<(Kind, String)> = s
            .objects
            .iter()
            .filter(|((_, n, _), v)| {
                *n == ns
                    && v["metadata"]["ownerReferences"]
                        .as_array()
                        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
            })
            .map(|((k, _, name), _)| (*k, name.clone()))
            .collect();
        for (k, owned_name) in owned {
            remove(&mut s, &inner, k, &ns, &owned_name);
        }
    }
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
