//! The `aws-batch` backend: runs container tries as AWS Batch jobs, through the official
//! SDK (`aws-sdk-batch`, `aws-sdk-cloudwatchlogs`).
//!
//! # One try, one job
//!
//! - **Where**: the try's compute environment ([`LaunchSpec::environment`]) names its
//!   `[compute_environments.aws_batch]` settings (region, endpoint); the try's Weir
//!   queue ([`LaunchSpec::queue`]) picks the Batch job queue from `job_queues`.
//! - **Job definition**: one per distinct container spec (image, vCPUs, memory, the
//!   team's job role, log group), named after its content hash and reused ([`job_def`]).
//! - **Job**: `SubmitJob` with the try's command and environment as overrides (secret
//!   values included, as variables of the container; never logged by Weir), the timeout
//!   as `attemptDurationSeconds`, Weir's `weir:*` tags and a name derived from the try
//!   ([`submit`]). Batch does no retries: Weir does.
//! - **Watch**: one poller per environment asks `DescribeJobs` for all running jobs at
//!   once, 100 ids per call, backing off on throttling ([`poller`]); each try's watcher
//!   logs the status changes, copies the log from CloudWatch ([`logs`]), stops the job on
//!   cancel or timeout (`watch.rs`) and maps the end onto Weir's reasons ([`status`]).
//! - **XCom**: a Batch container has no way to hand a file back to Weir, so tries on this
//!   backend return no XCom.
//!
//! # Files in the try folder
//!
//! ```text
//! try_dir/
//!   log           the task's output, copied from CloudWatch Logs, and Weir's remarks
//!   batch_job     the launch marker: environment, job queue, job name, job id
//!   log_cursor    CloudWatch's forward token: where the log copy resumes
//!   stop_reason   `cancelled` or `timed_out`, written before the stop is sent
//!   status.json   the final TryOutcome
//! ```
//!
//! # Adoption
//!
//! [`Backend::adopt`] (`adopt.rs`) reads `status.json` (settled), then the marker: none → the try never
//! started; a marker without a job id (the engine died around `SubmitJob`) → the job is
//! looked up by name in its job queue (`ListJobs`) and its `weir:try` tag — found, it is
//! adopted; not found, nothing was submitted. A job still going is watched again
//! (Running); an ended one is settled at once (Finished); one Batch no longer knows is
//! Lost. Batch keeps running jobs while Weir is down, and enforces the timeout itself
//! (at least 60 s). The backend is [`Backend::host_bound`]: the marker and the log are
//! in the submitting host's try folder, so only a replica on that host adopts its tries.
//!
//! A `SubmitJob` that got no answer (a timeout, a throttle past the SDK's retries) may
//! still have been accepted: `submit` looks the job up by name three times over a few
//! seconds before it reports the try not started.

mod adopt;
mod client;
pub mod job_def;
pub mod logs;
pub mod poller;
pub mod status;
pub mod submit;
mod watch;

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use weir_core::ids::TryKey;
use weir_core::platform::{AwsBatchSettings, Backend as BackendKind, PlatformConfig};

pub use client::{BACKEND, SdkSettings};
pub use poller::PollStats;
pub use watch::Timing;

use crate::backend::{
    Adopted, Backend, BoxFuture, CancelHandle, EndReason, LaunchSpec, RunningTry, TryOutcome,
};
use crate::capture::Masker;
use crate::error::{ComputeError, Result};
use crate::layout::{self, LOG};
use client::{Failure, LazyClients};
use job_def::{JobDefSpec, JobDefs};
use logs::LogCopy;
use poller::{PollSettings, Poller};
use submit::Marker;
use watch::{TryWatch, settle};

/// How the backend talks to AWS Batch.
#[derive(Debug, Clone)]
pub struct AwsBatchConfig {
    /// The `aws-batch` compute environments, by name.
    pub environments: Vec<(String, AwsBatchSettings)>,
    /// Between two `DescribeJobs` rounds (and two log copies) while jobs run.
    pub poll_interval: Duration,
    /// The longest wait between polls while AWS throttles or does not answer.
    pub max_backoff: Duration,
    /// Good polls in a row without a job before it counts as gone.
    pub gone_after_polls: u32,
    pub sdk: SdkSettings,
    pub timing: Timing,
    /// Most bytes of output a try's log keeps; None: all of it.
    pub log_max_bytes: Option<u64>,
}

impl Default for AwsBatchConfig {
    fn default() -> Self {
        Self {
            environments: Vec::new(),
            poll_interval: Duration::from_secs(5),
            max_backoff: Duration::from_secs(60),
            gone_after_polls: 5,
            sdk: SdkSettings {
                max_attempts: 3,
                initial_backoff: Duration::from_secs(1),
                call_timeout: Duration::from_secs(30),
            },
            timing: Timing {
                log_interval: Duration::from_secs(5),
                // Batch sends SIGKILL 30 s after SIGTERM; its status follows.
                stop_wait: Duration::from_secs(120),
                log_settle: Duration::from_secs(30),
            },
            log_max_bytes: None,
        }
    }
}

impl AwsBatchConfig {
    /// The `aws-batch` environments of a platform config, with default timings.
    pub fn from_platform(platform: &PlatformConfig) -> Self {
        Self {
            environments: platform
                .compute_environments
                .iter()
                .filter(|e| e.backend == BackendKind::AwsBatch)
                .map(|e| (e.name.clone(), e.aws_batch.clone().unwrap_or_default()))
                .collect(),
            log_max_bytes: Some(platform.logs.max_bytes_per_try.0),
            ..Self::default()
        }
    }
}

/// One environment: its settings, clients, poller and known job definitions.
#[derive(Debug)]
struct Env {
    name: String,
    settings: AwsBatchSettings,
    clients: Arc<LazyClients>,
    poller: Poller,
    job_defs: JobDefs,
}

/// Runs container tries as AWS Batch jobs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AwsBatchBackend {
    config: Arc<AwsBatchConfig>,
    envs: Arc<HashMap<String, Arc<Env>>>,
}

impl AwsBatchBackend {
    /// A backend for the environments of `config`. Does not call AWS yet.
    pub fn new(config: AwsBatchConfig) -> Self {
        let poll = PollSettings {
            interval: config.poll_interval,
            max_backoff: config.max_backoff,
            gone_after: config.gone_after_polls.max(1),
        };
        let envs = config
            .environments
            .iter()
            .map(|(name, settings)| {
                let clients = Arc::new(LazyClients::new(settings.clone(), config.sdk));
                let env = Env {
                    name: name.clone(),
                    settings: settings.clone(),
                    poller: Poller::new(clients.clone(), poll),
                    clients,
                    job_defs: JobDefs::default(),
                };
                (name.clone(), Arc::new(env))
            })
            .collect();
        Self {
            config: Arc::new(config),
            envs: Arc::new(envs),
        }
    }

    /// The poller's counters of environment `environment`.
    pub fn poll_stats(&self, environment: &str) -> Option<PollStats> {
        self.envs.get(environment).map(|e| e.poller.stats())
    }

    /// The Batch job name of a try in environment `environment`.
    pub fn job_name(&self, environment: &str, key: &TryKey) -> Option<String> {
        self.envs
            .get(environment)
            .map(|e| submit::job_name(e.settings.name_prefix(), key))
    }

    fn env(&self, name: Option<&str>) -> Result<&Arc<Env>> {
        let found = match name {
            Some(name) => self.envs.get(name),
            None if self.envs.len() == 1 => self.envs.values().next(),
            None => None,
        };
        found.ok_or_else(|| ComputeError::Unsupported {
            backend: BACKEND,
            why: match name {
                Some(name) => format!("no `aws-batch` compute environment is named `{name}`"),
                None => "the try names no `aws-batch` compute environment".into(),
            },
        })
    }

    /// Checks that every environment's Batch API answers (`DescribeJobQueues`).
    pub async fn ping(&self) -> Result<()> {
        for env in self.envs.values() {
            let clients = env.clients.get().await;
            // One named queue is the cheapest question; without one, any single queue.
            let named = env.settings.job_queues.values().next().cloned();
            let max_results = if named.is_none() { Some(1) } else { None };
            clients
                .batch
                .describe_job_queues()
                .set_job_queues(named.map(|q| vec![q]))
                .set_max_results(max_results)
                .send()
                .await
                .map_err(|e| match Failure::of(&e) {
                    Failure::Refused { code, detail } => ComputeError::BackendUnavailable {
                        backend: BACKEND,
                        detail: format!("environment `{}`: {code}: {detail}", env.name),
                    },
                    other => {
                        other.into_error(&format!("reach AWS Batch for environment `{}`", env.name))
                    }
                })?;
        }
        Ok(())
    }

    async fn submit_now(&self, spec: LaunchSpec) -> Result<RunningTry> {
        let Some(launch) = spec.container.clone() else {
            return Err(ComputeError::Unsupported {
                backend: BACKEND,
                why: "the try has no container (image) to run".into(),
            });
        };
        let env = self.env(spec.environment.as_deref())?.clone();
        let weir_queue = spec
            .queue
            .as_deref()
            .unwrap_or(weir_core::platform::DEFAULT_QUEUE);
        let Some(job_queue) = env.settings.job_queues.get(weir_queue).cloned() else {
            return Err(ComputeError::Unsupported {
                backend: BACKEND,
                why: format!(
                    "environment `{}` names no Batch job queue for Weir queue `{weir_queue}` (`aws_batch.job_queues`)",
                    env.name
                ),
            });
        };
        let try_dir = prepare_dir(&spec.try_dir)?;
        if try_dir.join(layout::STATUS).exists() {
            return Err(already_launched(&spec));
        }
        let mut marker = Marker {
            environment: env.name.clone(),
            job_queue,
            job_name: submit::job_name(env.settings.name_prefix(), &spec.key),
            job_id: None,
            secret_env: spec.secret_env.clone(),
            timeout_ms: spec
                .timeout
                .map(|t| t.as_millis().min(u128::from(u64::MAX)) as u64),
        };
        marker.create(&try_dir).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => already_launched(&spec),
            _ => ComputeError::io("create", try_dir.join(submit::MARKER), e),
        })?;
        let submitted_at = Utc::now();
        let cancel = CancelHandle::new();
        if let Some(why) = submit::refusal(&launch) {
            let outcome =
                TryOutcome::without_usage(EndReason::LaunchFailed(why), submitted_at, Utc::now());
            settle(&try_dir, &outcome);
            let done = Box::pin(async move { outcome });
            return Ok(RunningTry::new(spec.key, try_dir, cancel, done));
        }
        let clients = env.clients.get().await;
        let role = launch
            .team
            .as_deref()
            .and_then(|team| env.settings.job_roles.get(team))
            .map(String::as_str);
        let def_spec = JobDefSpec::of(&launch, role, Some(env.settings.log_group()));
        let definition = match env
            .job_defs
            .ensure(&clients, &def_spec, env.settings.name_prefix())
            .await
        {
            Ok(arn) => arn,
            Err(e) => {
                let _ = fs::remove_file(try_dir.join(submit::MARKER));
                return Err(e);
            }
        };
        let sent = submit::request(
            &clients.batch,
            &spec,
            &launch,
            &env.settings,
            &marker,
            &definition,
        )
        // SubmitJob is not idempotent: a retry after a lost answer would start a second
        // job. No SDK retries here; an unanswered call is looked up by name instead.
        .customize()
        .config_override(
            aws_sdk_batch::config::Builder::default()
                .retry_config(aws_config::retry::RetryConfig::disabled()),
        )
        .send()
        .await;
        let job_id = match sent {
            Ok(out) => out.job_id().map(str::to_owned),
            Err(e) => {
                let failure = Failure::of(&e);
                // A call that got no answer may still have been accepted: look first.
                let found = match &failure {
                    Failure::Refused { .. } => None,
                    _ => adopt::look_for_job(&clients, &marker, &spec.key).await,
                };
                match found {
                    Some(job) => Some(job.job_id),
                    None => {
                        let _ = fs::remove_file(try_dir.join(submit::MARKER));
                        if let Failure::Refused { code, detail } = &failure
                            && code == "ClientException"
                        {
                            // Batch refused the job itself (a bad request): the task's fault.
                            let why = format!("AWS Batch refused the job: {detail}");
                            let outcome = TryOutcome::without_usage(
                                EndReason::LaunchFailed(why),
                                submitted_at,
                                Utc::now(),
                            );
                            settle(&try_dir, &outcome);
                            let done = Box::pin(async move { outcome });
                            return Ok(RunningTry::new(spec.key, try_dir, cancel, done));
                        }
                        return Err(failure.into_error("submit the job"));
                    }
                }
            }
        };
        let Some(job_id) = job_id else {
            return Err(ComputeError::Backend {
                backend: BACKEND,
                action: "submit the job".into(),
                detail: "AWS Batch accepted the job but gave no job id".into(),
            });
        };
        marker.job_id = Some(job_id.clone());
        if let Err(e) = marker.update(&try_dir) {
            tracing::warn!(try_dir = %try_dir.display(), error = %e, "cannot record the job id; adoption will look the job up by name");
        }
        watch::remark(
            &try_dir,
            &format!(
                "submitted AWS Batch job {job_id} ({}) to job queue {}",
                marker.job_name, marker.job_queue
            ),
        );
        let masker = Masker::new(
            spec.env
                .iter()
                .filter(|(k, _)| spec.secret_env.contains(k))
                .map(|(_, v)| v.clone()),
        );
        let w = self.try_watch(
            &env,
            clients,
            job_id,
            &try_dir,
            masker,
            spec.timeout,
            submitted_at,
        );
        let task = tokio::spawn(watch::watch(w, cancel.clone()));
        Ok(RunningTry::new(spec.key, try_dir, cancel, joined(task)))
    }

    #[allow(clippy::too_many_arguments)]
    fn try_watch(
        &self,
        env: &Env,
        clients: Arc<client::Clients>,
        job_id: String,
        try_dir: &Path,
        masker: Masker,
        timeout: Option<Duration>,
        submitted_at: chrono::DateTime<Utc>,
    ) -> TryWatch {
        TryWatch {
            clients,
            poller: env.poller.clone(),
            job_id,
            try_dir: try_dir.to_path_buf(),
            logs: LogCopy::new(
                try_dir,
                env.settings.log_group(),
                masker,
                self.config.log_max_bytes,
            ),
            timeout,
            timing: self.config.timing,
            submitted_at,
        }
    }
}

impl Backend for AwsBatchBackend {
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

    /// The job runs in AWS, but what adoption starts from — the launch marker (job id,
    /// the names of the secrets to mask), the log copied so far and its CloudWatch
    /// cursor — is in the try folder of the host that submitted it. A replica on another
    /// host would find no marker and answer "never started", so only a replica on the
    /// same host adopts these tries.
    fn host_bound(&self) -> bool {
        true
    }
}

fn already_launched(spec: &LaunchSpec) -> ComputeError {
    ComputeError::AlreadyLaunched {
        key: spec.key.to_string(),
        try_dir: spec.try_dir.clone(),
    }
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

/// The outcome future of a watcher task; one that panicked or was aborted leaves the
/// try without a known outcome.
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
