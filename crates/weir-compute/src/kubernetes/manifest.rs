//! The objects one try posts: its `batch/v1` Job and the Secret holding its secret
//! variables, built from the [`LaunchSpec`] without any IO (so they are unit-tested here).
//!
//! - **Names**: the Job is `weir-<the try's slug, made a DNS-1123 label>-<hash>`, at most
//!   63 characters (the Job controller copies the name into a label of the pod). The
//!   hash is of the exact slug, so two tries whose slugs differ only in what the
//!   sanitizing changed (`a_b`, `a.b`) never share a Job. The Secret is `<job>-env`.
//! - **Labels** (sanitized values, for selectors and `kubectl get -l`) name the team,
//!   DAG, run, task, map index, try number and the Job; **annotations** keep the exact
//!   values, the try's key, the timeout and the *names* of the secret variables.
//! - **Spec**: `backoffLimit: 0` (retries are Weir's), `restartPolicy: Never`,
//!   `activeDeadlineSeconds` from the timeout (Kubernetes enforces it, also while Weir is
//!   down), `ttlSecondsAfterFinished`, the team's namespace and service account,
//!   requests equal to limits from the try's vCPU and memory, unprivileged (no privilege
//!   escalation, all capabilities dropped) unless the try asks for privileges and the
//!   backend allows them.
//! - **Environment**: plain values inline; each secret variable as a `secretKeyRef` into
//!   the try's Secret, so the Job's spec never holds a secret value. `WEIR_XCOM` names the
//!   container's termination-message file (`/dev/termination-log`): what the task writes
//!   there (at most 4 KiB, Kubernetes' limit) comes back as its XCom. `WEIR_TRY_DIR`, a
//!   path on Weir's machine, is left out.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EnvVar, EnvVarSource, HostPathVolumeSource, PodSpec, PodTemplateSpec,
    ResourceRequirements, Secret, SecretKeySelector, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use weir_core::ids::TryKey;

use crate::LaunchSpec;
use crate::container::{ContainerLaunch, PullPolicy};
use crate::docker::xcom::XCOM_ENV;
use crate::layout::TRY_DIR_ENV;

/// Prefix of Weir's labels and annotations.
pub const PREFIX: &str = "weir.dev/";
pub const LABEL_TEAM: &str = "weir.dev/team";
pub const LABEL_DAG: &str = "weir.dev/dag";
pub const LABEL_RUN: &str = "weir.dev/run";
pub const LABEL_TASK: &str = "weir.dev/task";
pub const LABEL_MAP_INDEX: &str = "weir.dev/map-index";
pub const LABEL_TRY_NUMBER: &str = "weir.dev/try-number";
/// The Job's name, on the Job and its pod: how the watcher finds the pod.
pub const LABEL_JOB: &str = "weir.dev/job";
/// The try's key, exactly (`dag/run/task[map]#try`): how adoption checks a Job is the try's.
pub const ANNOTATION_TRY: &str = "weir.dev/try-key";
/// The try's timeout in milliseconds.
pub const ANNOTATION_TIMEOUT_MS: &str = "weir.dev/timeout-ms";
/// Comma-separated *names* of the secret variables (never their values).
pub const ANNOTATION_SECRET_ENV: &str = "weir.dev/secret-env";
/// The container's name in the pod.
pub const CONTAINER: &str = "task";
/// Where the task writes its XCom inside the container.
pub const XCOM_IN_POD: &str = "/dev/termination-log";

/// The Job's name for a try.
pub fn job_name(key: &TryKey) -> String {
    let slug = key.slug();
    let hash = format!("{:010x}", fnv1a(slug.as_bytes()) & 0xff_ffff_ffff);
    // weir- (5) + body + - (1) + hash (10) <= 63.
    let body: String = dns_chars(&slug).chars().take(63 - 5 - 1 - 10).collect();
    let body = body.trim_matches('-');
    if body.is_empty() {
        format!("weir-{hash}")
    } else {
        format!("weir-{body}-{hash}")
    }
}

/// The Secret of a try's Job.
pub fn secret_name(job: &str) -> String {
    format!("{job}-env")
}

/// Lower-case letters, digits and single `-` for everything else.
fn dns_chars(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '-'
        };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out
}

/// FNV-1a, 64 bits: a stable hash with no dependency (not for security).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A label value: at most 63 of `[A-Za-z0-9-_.]`, starting and ending alphanumeric.
pub fn label_value(text: &str) -> String {
    let mapped: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    mapped
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

/// A map index as a label value: `none` for an unmapped task (`-1` is no valid label).
fn map_index_label(index: i32) -> String {
    if index < 0 {
        "none".to_owned()
    } else {
        index.to_string()
    }
}

/// Where a try's Job goes and who it runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub namespace: String,
    pub service_account: Option<String>,
    pub ttl_seconds_after_finished: u32,
    pub kill_grace: Duration,
    /// Honour privileges a try asks for (the engine checked the team may).
    pub allow_privileged: bool,
}

/// The labels of a try's Job and pod.
pub fn labels(key: &TryKey, team: Option<&str>, job: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        ("app.kubernetes.io/managed-by".to_owned(), "weir".to_owned()),
        (LABEL_DAG.to_owned(), label_value(key.dag_id.as_str())),
        (LABEL_RUN.to_owned(), label_value(key.run_id.as_str())),
        (LABEL_TASK.to_owned(), label_value(key.task_id.as_str())),
        (LABEL_MAP_INDEX.to_owned(), map_index_label(key.map_index)),
        (LABEL_TRY_NUMBER.to_owned(), key.try_number.to_string()),
        (LABEL_JOB.to_owned(), job.to_owned()),
    ]);
    if let Some(team) = team {
        labels.insert(LABEL_TEAM.to_owned(), label_value(team));
    }
    labels
}

/// The annotations: exact values, and what adoption needs back.
fn annotations(spec: &LaunchSpec, team: Option<&str>) -> BTreeMap<String, String> {
    let key = &spec.key;
    let mut out = BTreeMap::from([
        (ANNOTATION_TRY.to_owned(), key.to_string()),
        (LABEL_DAG.to_owned(), key.dag_id.to_string()),
        (LABEL_RUN.to_owned(), key.run_id.to_string()),
        (LABEL_TASK.to_owned(), key.task_id.to_string()),
    ]);
    if let Some(team) = team {
        out.insert(LABEL_TEAM.to_owned(), team.to_owned());
    }
    if let Some(timeout) = spec.timeout {
        out.insert(
            ANNOTATION_TIMEOUT_MS.to_owned(),
            timeout.as_millis().to_string(),
        );
    }
    if !spec.secret_env.is_empty() {
        out.insert(ANNOTATION_SECRET_ENV.to_owned(), spec.secret_env.join(","));
    }
    out
}

/// The key of secret variable number `i` named `name` in the Secret.
fn secret_key(i: usize, name: &str) -> String {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        name.to_owned()
    } else {
        format!("var-{i}")
    }
}

/// The variables the container gets (name, value), as the spec gives them.
fn variables(spec: &LaunchSpec) -> impl Iterator<Item = (usize, &str, &str)> {
    spec.env
        .iter()
        .filter(|(k, _)| k != XCOM_ENV && k != TRY_DIR_ENV && !k.is_empty() && !k.contains('='))
        .enumerate()
        .map(|(i, (k, v))| (i, k.as_str(), v.as_str()))
}

/// The try's Secret: its secret variables' values; None when it has none.
pub fn secret(spec: &LaunchSpec, job: &str, placement: &Placement) -> Option<Secret> {
    let data: BTreeMap<String, ByteString> = variables(spec)
        .filter(|(_, k, _)| spec.secret_env.iter().any(|s| s == k))
        .map(|(i, k, v)| (secret_key(i, k), ByteString(v.as_bytes().to_vec())))
        .collect();
    if data.is_empty() {
        return None;
    }
    let team = spec.container.as_ref().and_then(|c| c.team.as_deref());
    Some(Secret {
        metadata: ObjectMeta {
            name: Some(secret_name(job)),
            namespace: Some(placement.namespace.clone()),
            labels: Some(labels(&spec.key, team, job)),
            annotations: Some(BTreeMap::from([(
                ANNOTATION_TRY.to_owned(),
                spec.key.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        data: Some(data),
        type_: Some("Opaque".to_owned()),
        immutable: Some(true),
        ..Secret::default()
    })
}

/// The container's environment: plain values inline, secret ones by reference.
fn env(spec: &LaunchSpec, job: &str) -> Vec<EnvVar> {
    let mut out: Vec<EnvVar> = variables(spec)
        .map(|(i, k, v)| {
            if spec.secret_env.iter().any(|s| s == k) {
                EnvVar {
                    name: k.to_owned(),
                    value: None,
                    value_from: Some(EnvVarSource {
                        secret_key_ref: Some(SecretKeySelector {
                            name: secret_name(job),
                            key: secret_key(i, k),
                            optional: Some(false),
                        }),
                        ..EnvVarSource::default()
                    }),
                }
            } else {
                EnvVar {
                    name: k.to_owned(),
                    value: Some(v.to_owned()),
                    value_from: None,
                }
            }
        })
        .collect();
    out.push(EnvVar {
        name: XCOM_ENV.to_owned(),
        value: Some(XCOM_IN_POD.to_owned()),
        value_from: None,
    });
    out
}

/// CPU as Kubernetes writes it (`500m`); memory in bytes.
fn resources(launch: &ContainerLaunch) -> Option<ResourceRequirements> {
    let mut amounts = BTreeMap::new();
    if let Some(vcpu) = launch.vcpu.filter(|v| v.is_finite() && *v > 0.0) {
        let milli = (vcpu * 1000.0).round().max(1.0) as u64;
        amounts.insert("cpu".to_owned(), Quantity(format!("{milli}m")));
    }
    if let Some(bytes) = launch.memory_bytes.filter(|m| *m > 0) {
        amounts.insert("memory".to_owned(), Quantity(bytes.to_string()));
    }
    (!amounts.is_empty()).then(|| ResourceRequirements {
        // Requests equal to limits: the try gets what the dispatcher reserved for it.
        requests: Some(amounts.clone()),
        limits: Some(amounts),
        ..ResourceRequirements::default()
    })
}

/// The whole Job of a try.
pub fn job(spec: &LaunchSpec, launch: &ContainerLaunch, job: &str, placement: &Placement) -> Job {
    let team = launch.team.as_deref();
    let labels = labels(&spec.key, team, job);
    let privileged = placement.allow_privileged && launch.privileged;
    let mounts = if placement.allow_privileged {
        launch.host_mounts.as_slice()
    } else {
        &[]
    };
    let container = Container {
        name: CONTAINER.to_owned(),
        image: Some(launch.image.clone()),
        command: launch.entrypoint.clone(),
        args: launch.command.clone(),
        working_dir: launch.workdir.clone(),
        env: Some(env(spec, job)),
        resources: resources(launch),
        image_pull_policy: Some(
            match launch.pull {
                PullPolicy::Always => "Always",
                PullPolicy::IfNotPresent => "IfNotPresent",
                PullPolicy::Never => "Never",
            }
            .to_owned(),
        ),
        security_context: Some(SecurityContext {
            privileged: Some(privileged),
            allow_privilege_escalation: Some(privileged),
            capabilities: (!privileged).then(|| Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                add: None,
            }),
            ..SecurityContext::default()
        }),
        termination_message_path: Some(XCOM_IN_POD.to_owned()),
        termination_message_policy: Some("File".to_owned()),
        volume_mounts: (!mounts.is_empty()).then(|| {
            mounts
                .iter()
                .enumerate()
                .map(|(i, m)| VolumeMount {
                    name: format!("host-{i}"),
                    mount_path: m.target.clone(),
                    read_only: Some(m.read_only),
                    ..VolumeMount::default()
                })
                .collect()
        }),
        ..Container::default()
    };
    let grace = i64::try_from(placement.kill_grace.as_secs().max(1)).unwrap_or(i64::MAX);
    let pod = PodSpec {
        containers: vec![container],
        restart_policy: Some("Never".to_owned()),
        service_account_name: placement.service_account.clone(),
        termination_grace_period_seconds: Some(grace),
        host_network: (placement.allow_privileged && launch.host_network).then_some(true),
        volumes: (!mounts.is_empty()).then(|| {
            mounts
                .iter()
                .enumerate()
                .map(|(i, m)| Volume {
                    name: format!("host-{i}"),
                    host_path: Some(HostPathVolumeSource {
                        path: m.source.clone(),
                        type_: None,
                    }),
                    ..Volume::default()
                })
                .collect()
        }),
        ..PodSpec::default()
    };
    Job {
        metadata: ObjectMeta {
            name: Some(job.to_owned()),
            namespace: Some(placement.namespace.clone()),
            labels: Some(labels.clone()),
            annotations: Some(annotations(spec, team)),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            active_deadline_seconds: spec.timeout.map(deadline_secs),
            ttl_seconds_after_finished: Some(
                i32::try_from(placement.ttl_seconds_after_finished).unwrap_or(i32::MAX),
            ),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..JobSpec::default()
        }),
        status: None,
    }
}

/// The timeout in whole seconds, rounded up, at least 1 (what `activeDeadlineSeconds` takes).
fn deadline_secs(timeout: Duration) -> i64 {
    let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
    i64::try_from(secs.max(1)).unwrap_or(i64::MAX)
}

/// The secret variables' names a Job's annotations recorded.
pub fn recorded_secret_names(job: &Job) -> Vec<String> {
    job.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_SECRET_ENV))
        .map(|names| {
            names
                .split(',')
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the Job is the one of try `key` (its annotation names the key exactly).
pub fn is_job_of(job: &Job, key: &TryKey) -> bool {
    job.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_TRY))
        .is_some_and(|k| *k == key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::ids::{DagId, RunId, TaskId};

    fn spec() -> (LaunchSpec, ContainerLaunch) {
        let key = TryKey {
            dag_id: DagId::new("Daily_Revenue").expect("dag"),
            run_id: RunId::new("manual__2026-11-27T12:00:00+00:00").expect("run"),
            task_id: TaskId::new("extract.part").expect("task"),
            map_index: -1,
            try_number: 3,
        };
        let mut launch =
            ContainerLaunch::new("registry.example.com/etl:1").with_command(["python", "x.py"]);
        launch.vcpu = Some(0.5);
        launch.memory_bytes = Some(64 << 20);
        launch.team = Some("data_science".into());
        let mut spec = LaunchSpec::for_container(key, launch.clone(), "/tmp/x");
        spec.env = vec![
            ("A".into(), "1".into()),
            ("WEIR_XCOM".into(), "/host/xcom.json".into()),
            ("WEIR_TRY_DIR".into(), "/host".into()),
            ("DB_PASSWORD".into(), "s3cret".into()),
        ];
        spec.secret_env = vec!["DB_PASSWORD".into()];
        spec.timeout = Some(Duration::from_millis(1500));
        (spec, launch)
    }

    fn placement() -> Placement {
        Placement {
            namespace: "weir-data-science".into(),
            service_account: Some("runner".into()),
            ttl_seconds_after_finished: 600,
            kill_grace: Duration::from_secs(10),
            allow_privileged: false,
        }
    }

    #[test]
    fn names_are_dns_labels_and_unique_per_slug() {
        let (spec, _) = spec();
        let name = job_name(&spec.key);
        assert!(name.len() <= 63, "{name}");
        assert!(weir_core::platform::is_dns_label(&name), "{name}");
        assert!(
            name.starts_with("weir-daily-revenue-manual-2026-11-27t12-00-00-0"),
            "{name}"
        );
        let mut other = spec.key.clone();
        other.dag_id = DagId::new("Daily.Revenue").expect("dag");
        assert_ne!(
            job_name(&other),
            name,
            "sanitizing must not merge two tries"
        );
        let mut long = spec.key.clone();
        long.task_id = TaskId::new("t".repeat(200)).expect("task");
        assert!(job_name(&long).len() <= 63);
        assert_eq!(job_name(&spec.key), name, "stable");
        assert_eq!(
            label_value("manual__2026-11-27T12:00:00+00:00"),
            "manual__2026-11-27T12_00_00_00_00"
        );
        assert_eq!(label_value("_x_"), "x");
        assert_eq!(label_value(&"a".repeat(70)).len(), 63);
    }

    #[test]
    fn the_job_runs_once_within_limits_and_holds_no_secret() {
        let (spec, launch) = spec();
        let name = job_name(&spec.key);
        let job = job(&spec, &launch, &name, &placement());
        let text = serde_json::to_string(&job).expect("json");
        assert!(
            !text.contains("s3cret"),
            "a secret value in the Job: {text}"
        );
        let js = job.spec.as_ref().expect("spec");
        assert_eq!(js.backoff_limit, Some(0));
        assert_eq!(js.active_deadline_seconds, Some(2));
        assert_eq!(js.ttl_seconds_after_finished, Some(600));
        let pod = js.template.spec.as_ref().expect("pod");
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        assert_eq!(pod.service_account_name.as_deref(), Some("runner"));
        let c = &pod.containers[0];
        assert_eq!(
            c.args.as_deref(),
            Some(&["python".to_owned(), "x.py".to_owned()][..])
        );
        assert_eq!(c.command, None);
        let res = c.resources.as_ref().expect("resources");
        let limits = res.limits.as_ref().expect("limits");
        assert_eq!(limits["cpu"].0, "500m");
        assert_eq!(limits["memory"].0, (64u64 << 20).to_string());
        assert_eq!(res.requests, res.limits);
        let env = c.env.as_ref().expect("env");
        let names: Vec<&str> = env.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["A", "DB_PASSWORD", "WEIR_XCOM"]);
        assert_eq!(env[2].value.as_deref(), Some(XCOM_IN_POD));
        let reference = env[1]
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref())
            .expect("a secret reference");
        assert_eq!(reference.name, secret_name(&name));
        assert_eq!(reference.key, "DB_PASSWORD");
        let sc = c.security_context.as_ref().expect("security");
        assert_eq!(sc.privileged, Some(false));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        let meta = &job.metadata;
        assert_eq!(meta.namespace.as_deref(), Some("weir-data-science"));
        let labels = meta.labels.as_ref().expect("labels");
        assert_eq!(labels[LABEL_TEAM], "data_science");
        assert_eq!(labels[LABEL_JOB], name);
        assert_eq!(labels[LABEL_TRY_NUMBER], "3");
        assert_eq!(labels[LABEL_MAP_INDEX], "none");
        assert_eq!(map_index_label(4), "4");
        assert!(is_job_of(&job, &spec.key));
        assert_eq!(recorded_secret_names(&job), ["DB_PASSWORD"]);
        let ann = meta.annotations.as_ref().expect("annotations");
        assert_eq!(ann[LABEL_RUN], "manual__2026-11-27T12:00:00+00:00");

        let secret = secret(&spec, &name, &placement()).expect("a secret");
        let data = secret.data.expect("data");
        assert_eq!(data.len(), 1);
        assert_eq!(data["DB_PASSWORD"].0, b"s3cret");
        let mut plain = spec.clone();
        plain.secret_env.clear();
        assert!(super::secret(&plain, &name, &placement()).is_none());
    }
}
