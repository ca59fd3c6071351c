//! The `kubernetes` backend: runs container tries as Kubernetes Jobs, through the API
//! server (the `kube` client; never `kubectl`).
//!
//! # One try, one Job
//!
//! - **Identity**: the Job is named from the try ([`manifest::job_name`]: its slug as a
//!   DNS-1123 label plus a hash of the exact slug) in the team's namespace, labelled and
//!   annotated with the team, DAG, run, task and try. The API server refuses a second
//!   Job of the same name, so a try cannot start twice: `submit` answers
//!   [`ComputeError::AlreadyLaunched`] when the Job exists, and the engine adopts it.
//! - **Spec** ([`manifest`]): `backoffLimit: 0` (retries are Weir's), `restartPolicy:
//!   Never`, `activeDeadlineSeconds` from the timeout (so Kubernetes enforces it, also
//!   while Weir is down; it counts from the Job's start, image pull included),
//!   `ttlSecondsAfterFinished`, requests = limits from the try's vCPU and memory, the
//!   team's service account, unprivileged.
//! - **Secrets**: the values the spec marks secret go into a Secret made for the try
//!   (`<job>-env`), referenced by `secretKeyRef`; the Job's spec holds none. The Secret is
//!   deleted when the try ends (by the watcher, or by the next adoption), and is owned by
//!   the Job (`ownerReferences`), so Kubernetes deletes it with the Job in any case.
//! - **Logs**: the pod's output copied live into `try_dir/log` ([`logs`]), masked.
//! - **End** ([`state`], a pure function of the Job and its pod): exit code, OOM,
//!   deadline, eviction, image errors; see its table. `status.json` records it.
//! - **XCom**: `WEIR_XCOM` is the container's termination-message file; what the task
//!   writes there (4 KiB at most, Kubernetes' limit) is its XCom.
//! - **Usage**: CPU seconds and peak memory are not measured (the metrics API is not
//!   read); the usage record has the wall time and the reservation.
//!
//! # Files in the try folder
//!
//! ```text
//! try_dir/
//!   log           the task's output (see `backend` docs)
//!   job           `<namespace>/<job>`; written before the Job is posted, marks the try launched
//!   stop_reason   `cancelled`, written before the Job is deleted
//!   xcom.json     the task's XCom (its termination message)
//!   status.json   the final TryOutcome
//! ```
//!
//! # Adoption
//!
//! [`Backend::adopt`] reads the marker and looks the Job up: running → the watch resumes
//! (the log copy without duplicates); ended → settled at once; gone → the recorded
//! `status.json`, or `Lost`. A try with no marker never reached the API server:
//! [`Adopted::NeverStarted`].
//!
//! One server runs one `kubernetes` backend, for every `kubernetes` compute environment
//! (the platform config requires them to share one cluster setting).

mod client;
pub mod logs;
pub mod manifest;
pub mod state;
mod watch;

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use weir_core::ids::TryKey;
use weir_core::platform::KubernetesSettings;

use crate::backend::{
    Adopted, Backend, BoxFuture, CancelHandle, EndReason, LaunchSpec, RunningTry, TryOutcome,
};
use crate::capture::Masker;
use crate::container::ContainerLaunch;
use crate::error::{ComputeError, Result};
use crate::layout::{self, LOG};
use crate::supervisor::DEFAULT_KILL_GRACE;
use crate::try_folder::TryFolder;
use client::{BACKEND, Connection, is_conflict};
use manifest::Placement;
use watch::Watch;

/// Marks a try folder as launched by this backend; holds `<namespace>/<job>`.
pub const JOB_MARKER: &str = "job";

/// How the kubernetes backend runs Jobs.
#[derive(Debug, Clone)]
pub struct KubernetesConfig {
    /// The cluster, namespaces, service accounts and TTL (`weir.toml`).
    pub settings: KubernetesSettings,
    /// The pods' termination grace (SIGTERM, then SIGKILL).
    pub kill_grace: Duration,
    /// How long an image that cannot be pulled may keep a try pending before it fails.
    pub image_pull_grace: Duration,
    /// Longest wait of the watcher between two looks when nothing changes.
    pub recheck: Duration,
    /// Honour privileges a try asks for (the engine checks which team may).
    pub allow_privileged: bool,
    /// Most bytes of output a try's log keeps; None: all of it.
    pub log_max_bytes: Option<u64>,
}

impl KubernetesConfig {
    /// The defaults around `settings`.
    pub fn new(settings: KubernetesSettings) -> Self {
        Self {
            settings,
            kill_grace: DEFAULT_KILL_GRACE,
            image_pull_grace: Duration::from_secs(120),
            recheck: Duration::from_secs(10),
            allow_privileged: false,
            log_max_bytes: None,
        }
    }
}

/// Runs tries as Kubernetes Jobs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct KubernetesBackend {
    config: KubernetesConfig,
    conn: Connection,
}

impl KubernetesBackend {
    /// A backend for the cluster `config` names. Does not connect yet: the first request
    /// does, so the backend can be built while the cluster is away.
    pub fn new(config: KubernetesConfig) -> Self {
        Self {
            conn: Connection::new(config.settings.clone()),
            config,
        }
    }

    pub fn config(&self) -> &KubernetesConfig {
        &self.config
    }

    /// The namespace and Job name of a try of `team`.
    pub fn job_of(&self, key: &TryKey, team: Option<&str>) -> (String, String) {
        (
            self.config.settings.namespace_for(team),
            manifest::job_name(key),
        )
    }

    /// Checks, cheaply (`GET /version`), that the API server answers.
    pub async fn ping(&self) -> Result<()> {
        let client = self.conn.get().await?;
        client.apiserver_version().await.map(drop).map_err(|e| {
            client::unavailable(format!(
                "the API server does not answer: {}",
                client::message(&e)
            ))
        })
    }

    fn placement(&self, launch: &ContainerLaunch) -> Placement {
        let team = launch.team.as_deref();
        Placement {
            namespace: self.config.settings.namespace_for(team),
            service_account: self.config.settings.service_account_for(team),
            ttl_seconds_after_finished: self.config.settings.ttl_seconds_after_finished,
            kill_grace: self.config.kill_grace,
            allow_privileged: self.config.allow_privileged,
        }
    }

    fn watch(&self, client: &Client, namespace: &str, job: &str, try_dir: PathBuf) -> Watch {
        Watch {
            jobs: Api::namespaced(client.clone(), namespace),
            pods: Api::namespaced(client.clone(), namespace),
            secrets: Api::namespaced(client.clone(), namespace),
            job: job.to_owned(),
            secret: None,
            try_dir,
            masker: Masker::default(),
            submitted_at: Utc::now(),
            kill_grace: self.config.kill_grace,
            pull_grace: self.config.image_pull_grace,
            recheck: self.config.recheck,
            log_max_bytes: self.config.log_max_bytes,
        }
    }

    async fn submit_now(&self, spec: LaunchSpec) -> Result<RunningTry> {
        let Some(launch) = spec.container.clone() else {
            return Err(ComputeError::Unsupported {
                backend: BACKEND,
                why: "the try has no container (image) to run".into(),
            });
        };
        let try_dir = prepare_dir(&spec.try_dir)?;
        let placement = self.placement(&launch);
        let name = manifest::job_name(&spec.key);
        // Connect before marking: an unreachable cluster leaves the try submittable.
        let client = self.conn.get().await?;
        let mut w = self.watch(&client, &placement.namespace, &name, try_dir.clone());
        if try_dir.join(layout::STATUS).exists() {
            return Err(already_launched(&spec));
        }
        match w.jobs.get_opt(&name).await {
            Ok(None) => {}
            Ok(Some(_)) => return Err(already_launched(&spec)),
            Err(e) => return Err(client::error("look for the try's Job", &e)),
        }
        mark_launched(&try_dir, &placement.namespace, &name).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => already_launched(&spec),
            _ => ComputeError::io("create", try_dir.join(JOB_MARKER), e),
        })?;
        let secret = manifest::secret(&spec, &name, &placement);
        w.secret = secret.as_ref().and_then(|s| s.metadata.name.clone());
        w.masker = Masker::new(secret_values(&spec));
        let cancel = CancelHandle::new();
        match self.post(&w, &spec, &launch, &placement, secret).await {
            Ok(()) => {
                let task = tokio::spawn(watch::watch(w, cancel.clone()));
                Ok(RunningTry::new(spec.key, try_dir, cancel, joined(task)))
            }
            Err(Posted::Refused(why)) => {
                watch::delete_secret(&w).await;
                let outcome = TryOutcome::without_usage(
                    EndReason::LaunchFailed(why),
                    w.submitted_at,
                    Utc::now(),
                );
                watch::record(&try_dir, &outcome, &[]);
                Ok(RunningTry::new(
                    spec.key,
                    try_dir,
                    cancel,
                    Box::pin(async move { outcome }),
                ))
            }
            Err(Posted::Twice) => Err(already_launched(&spec)),
            Err(Posted::Error(e)) => {
                // Nothing runs: release the marker so the try can be submitted again.
                watch::delete_secret(&w).await;
                let _ = fs::remove_file(try_dir.join(JOB_MARKER));
                Err(e)
            }
        }
    }

    /// Posts the Secret (if any) and the Job.
    async fn post(
        &self,
        w: &Watch,
        spec: &LaunchSpec,
        launch: &ContainerLaunch,
        placement: &Placement,
        secret: Option<Secret>,
    ) -> Result<(), Posted> {
        if launch.is_privileged() && !self.config.allow_privileged {
            return Err(Posted::Refused(format!(
                "the container asks for {}, which this kubernetes compute environment does not allow (it runs tries unprivileged)",
                launch.privileges().join(", ")
            )));
        }
        let params = PostParams::default();
        if let Some(secret) = &secret {
            let name = secret.metadata.name.clone().unwrap_or_default();
            let mut created = w.secrets.create(&params, secret).await;
            if matches!(&created, Err(e) if is_conflict(e)) {
                // Left by a submit that stopped before posting its Job (there is none:
                // checked above), so its values may be stale: make it anew.
                let _ = w.secrets.delete(&name, &DeleteParams::background()).await;
                created = w.secrets.create(&params, secret).await;
            }
            created.map_err(|e| {
                refused_or_error("create the try's Secret", &placement.namespace, &e)
            })?;
        }
        let job = manifest::job(spec, launch, &w.job, placement);
        let created = match w.jobs.create(&params, &job).await {
            Ok(created) => created,
            Err(e) if is_conflict(&e) => return Err(Posted::Twice),
            Err(e) => {
                return Err(refused_or_error(
                    "create the try's Job",
                    &placement.namespace,
                    &e,
                ));
            }
        };
        if let (Some(secret), Some(uid)) = (&secret, created.metadata.uid.as_deref()) {
            own_secret(w, secret, uid).await;
        }
        Ok(())
    }

    async fn adopt_now(&self, key: TryKey, try_dir: PathBuf) -> Result<Adopted> {
        let try_dir = match fs::canonicalize(&try_dir) {
            Ok(dir) => dir,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let why = format!("its try folder `{}` does not exist", try_dir.display());
                return Ok(Adopted::NeverStarted(why));
            }
            Err(e) => return Err(ComputeError::io("resolve", try_dir, e)),
        };
        let recorded =
            layout::read_status(&try_dir).map_err(|e| ComputeError::io("read", &try_dir, e))?;
        let marker = fs::read_to_string(try_dir.join(JOB_MARKER)).ok();
        let Some((namespace, name)) = marker.as_deref().and_then(|m| m.trim().split_once('/'))
        else {
            if let Some(outcome) = recorded {
                return Ok(Adopted::settled(outcome, &TryFolder::at(&try_dir)));
            }
            return Ok(never_started(&try_dir, "no Job was posted for it"));
        };
        let client = self.conn.get().await?;
        let mut w = self.watch(&client, namespace, name, try_dir.clone());
        w.secret = Some(manifest::secret_name(name));
        if let Some(outcome) = recorded {
            // Settled; a crash may have come before the Secret was deleted.
            watch::delete_secret(&w).await;
            return Ok(Adopted::settled(outcome, &TryFolder::at(&try_dir)));
        }
        let job = match w.jobs.get_opt(name).await {
            Ok(job) => job,
            Err(e) => return Err(client::error("look for the try's Job", &e)),
        };
        let Some(job) = job else {
            // Posted (maybe), and gone without a recorded outcome: the watch settles it
            // as lost (or cancelled, if that was asked).
            let outcome = watch::watch(w, CancelHandle::new()).await;
            return Ok(Adopted::Finished(outcome));
        };
        if !manifest::is_job_of(&job, &key) {
            return Err(ComputeError::Backend {
                backend: BACKEND,
                action: format!("adopt try {key}"),
                detail: format!("Job `{namespace}/{name}` exists but is not this try's"),
            });
        }
        if let Some(at) = job.metadata.creation_timestamp.as_ref() {
            w.submitted_at = state::time(at);
        }
        w.masker = Masker::new(self.recorded_secrets(&w, &job).await);
        let finished = job
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    matches!(c.type_.as_str(), "Complete" | "Failed") && c.status == "True"
                })
            });
        let cancel = CancelHandle::new();
        if finished {
            // Ended while Weir was away: the same watch settles it at once.
            let outcome = watch::watch(w, cancel).await;
            return Ok(Adopted::Finished(
                TryFolder::at(&try_dir).with_xcom(outcome),
            ));
        }
        let task = tokio::spawn(watch::watch(w, cancel.clone()));
        Ok(Adopted::Running(RunningTry::new(
            key,
            try_dir,
            cancel,
            joined(task),
        )))
    }

    /// The secret values of an adopted try, read back from its Secret (to mask its log).
    async fn recorded_secrets(&self, w: &Watch, job: &Job) -> Vec<String> {
        let names = manifest::recorded_secret_names(job);
        let Some(secret) = &w.secret else {
            return Vec::new();
        };
        if names.is_empty() {
            return Vec::new();
        }
        match w.secrets.get_opt(secret).await {
            Ok(Some(s)) => s
                .data
                .unwrap_or_default()
                .into_values()
                .map(|v| String::from_utf8_lossy(&v.0).into_owned())
                .collect(),
            Ok(None) => Vec::new(),
            Err(e) => {
                tracing::warn!(secret = %secret, error = %e, "cannot read the try's Secret; its log is not masked");
                Vec::new()
            }
        }
    }
}

impl Backend for KubernetesBackend {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn submit(&self, spec: LaunchSpec) -> BoxFuture<'_, Result<RunningTry>> {
        Box::pin(self.submit_now(spec))
    }

    fn adopt(&self, key: TryKey, try_dir: PathBuf) -> BoxFuture<'_, Result<Adopted>> {
        Box::pin(self.adopt_now(key, try_dir))
    }

    fn available(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.ping())
    }
}

/// How posting a try's objects went wrong.
enum Posted {
    /// The cluster refused the try as specified (no such namespace, service account, an
    /// invalid spec, a quota): its `LaunchFailed` reason.
    Refused(String),
    /// A Job of that name exists: the try was launched before.
    Twice,
    /// Nothing was posted; the caller gets this error.
    Error(ComputeError),
}

/// Makes the Job the owner of the try's Secret, so Kubernetes' garbage collector deletes
/// the Secret with the Job (its TTL) even if no Weir comes back to do it. Best effort: the
/// watcher deletes the Secret anyway.
async fn own_secret(w: &Watch, secret: &Secret, job_uid: &str) {
    let Some(name) = secret.metadata.name.as_deref() else {
        return;
    };
    let owner = serde_json::json!({"metadata": {"ownerReferences": [{
        "apiVersion": "batch/v1", "kind": "Job", "name": w.job, "uid": job_uid,
        "controller": false, "blockOwnerDeletion": false,
    }]}});
    if let Err(e) = w
        .secrets
        .patch(name, &PatchParams::default(), &Patch::Merge(&owner))
        .await
    {
        tracing::warn!(secret = %name, error = %e, "cannot make the Job own the try's Secret");
    }
}

fn refused_or_error(action: &str, namespace: &str, e: &kube::Error) -> Posted {
    match client::code(e) {
        Some(code) if (400..500).contains(&code) && code != 429 => Posted::Refused(format!(
            "Kubernetes refused to {action} in namespace `{namespace}`: {}",
            client::message(e)
        )),
        _ => Posted::Error(client::error(action, e)),
    }
}

fn already_launched(spec: &LaunchSpec) -> ComputeError {
    ComputeError::AlreadyLaunched {
        key: spec.key.to_string(),
        try_dir: spec.try_dir.clone(),
    }
}

/// The values of the spec's secret variables.
fn secret_values(spec: &LaunchSpec) -> Vec<String> {
    spec.env
        .iter()
        .filter(|(k, _)| spec.secret_env.contains(k))
        .map(|(_, v)| v.clone())
        .collect()
}

/// Creates the try folder and its log; returns its canonical path.
fn prepare_dir(dir: &Path) -> Result<PathBuf> {
    fs::create_dir_all(dir).map_err(|e| ComputeError::io("create", dir, e))?;
    let dir = fs::canonicalize(dir).map_err(|e| ComputeError::io("resolve", dir, e))?;
    let log = dir.join(LOG);
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| ComputeError::io("open", log, e))?;
    Ok(dir)
}

/// Creates the launch marker exclusively.
fn mark_launched(dir: &Path, namespace: &str, job: &str) -> io::Result<()> {
    let mut marker = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dir.join(JOB_MARKER))?;
    marker.write_all(format!("{namespace}/{job}").as_bytes())
}

/// Records that a try never started (so adopting it again gives the same answer).
fn never_started(dir: &Path, why: &str) -> Adopted {
    let now = Utc::now();
    let outcome = TryOutcome::without_usage(EndReason::NeverStarted(why.to_owned()), now, now);
    watch::record(dir, &outcome, &[]);
    Adopted::NeverStarted(why.to_owned())
}

/// The outcome future of a watcher task; one that panicked or was aborted (runtime
/// shutdown) leaves the try without a known outcome.
fn joined(task: tokio::task::JoinHandle<TryOutcome>) -> BoxFuture<'static, TryOutcome> {
    Box::pin(async move {
        task.await.unwrap_or_else(|e| {
            let now = Utc::now();
            TryOutcome::without_usage(
                EndReason::Lost(format!("the try's watcher stopped: {e}")),
                now,
                now,
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_from_the_api_are_sorted() {
        let status = |code: u16| {
            kube::Error::Api(Box::new(kube::core::Status {
                code,
                message: "m".into(),
                reason: "R".into(),
                ..kube::core::Status::default()
            }))
        };
        assert!(matches!(
            refused_or_error("create", "ns", &status(403)),
            Posted::Refused(why) if why.contains("namespace `ns`") && why.contains("m (R)")
        ));
        assert!(matches!(
            refused_or_error("create", "ns", &status(503)),
            Posted::Error(ComputeError::BackendUnavailable { .. })
        ));
        assert!(client::is_not_found(&status(404)) && is_conflict(&status(409)));
    }
}
