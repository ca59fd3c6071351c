//! The fake's kubelet and Job controller: the test's handle drives a pod through its
//! life (start, output, exit, OOM kill, eviction, image pull back-off, deadline) and the
//! Job's status follows, as the real controllers would write them.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};

use super::{Change, FakeKube, Inner, Kind, Store, now_text, remove, update_job, update_pod};

impl FakeKube {
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

    /// The scheduler finds no node with room: the pod stays `Pending`, `PodScheduled=False`.
    pub fn unschedulable(&self, ns: &str, pod: &str) {
        let mut s = self.store();
        let now = now_text(Utc::now());
        update_pod(&mut s, &self.inner, ns, pod, |status| {
            status["phase"] = json!("Pending");
            status["conditions"] = json!([{
                "type": "PodScheduled", "status": "False", "lastProbeTime": null,
                "lastTransitionTime": now, "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
            }]);
        });
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

impl FakeKube {
    /// Runs a pod the way a kubelet would for a well-behaved task: its secrets must exist
    /// (else `CreateContainerConfigError`), it starts, prints its command and its
    /// variables (secret ones read from their Secret), exits 0 with an XCom.
    pub(super) async fn run_auto(&self, ns: &str, pod: &str) {
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
        // The container's own variables (not Weir's), as the kubelet resolved them.
        let env = {
            let s = self.store();
            container_env(&s, ns, pod)
        };
        for (name, value) in env.iter().filter(|(n, _)| !n.starts_with("WEIR_")) {
            self.log(ns, pod, &format!("env {name}={value}"));
        }
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

/// The container's variables as the kubelet gives them: plain values, and `secretKeyRef`s
/// read (and base64-decoded) from their Secret.
fn container_env(s: &Store, ns: &str, pod: &str) -> Vec<(String, String)> {
    let Some(object) = s.objects.get(&(Kind::Pod, ns.to_owned(), pod.to_owned())) else {
        return Vec::new();
    };
    let env = object["spec"]["containers"][0]["env"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    env.iter()
        .filter_map(|var| {
            let name = var["name"].as_str()?.to_owned();
            if let Some(value) = var["value"].as_str() {
                return Some((name, value.to_owned()));
            }
            let r = &var["valueFrom"]["secretKeyRef"];
            let secret =
                s.objects
                    .get(&(Kind::Secret, ns.to_owned(), r["name"].as_str()?.to_owned()))?;
            let encoded = secret["data"][r["key"].as_str()?].as_str()?;
            Some((
                name,
                String::from_utf8_lossy(&base64_decode(encoded)).into_owned(),
            ))
        })
        .collect()
}

/// Standard base64 (as Secrets' `data` holds values), padding allowed.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    };
    let digits: Vec<u32> = text.bytes().filter_map(value).collect();
    let mut out = Vec::new();
    for chunk in digits.chunks(4) {
        let mut n = 0u32;
        for (i, d) in chunk.iter().enumerate() {
            n |= d << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}
