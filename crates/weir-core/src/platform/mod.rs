//! The platform config (`weir.toml`): compute environments, job queues, teams and the Git
//! repository DAG files come from, as one typed tree, and the policy questions answered
//! from it (may this team run this image? may its containers run privileged? who
//! approves its production versions?).
//!
//! The file is read by [`parse`] (every problem of the file as a located [`Diagnostic`]);
//! with no file, [`PlatformConfig::standalone_default`] describes the laptop install. See
//! `examples/weir.toml` for a documented example.
//!
//! [`Diagnostic`]: crate::spec::Diagnostic

mod aws_batch;
mod channels;
mod dag_paths;
mod datasets;
mod kubernetes;
mod logs;
mod metrics;
mod problem;
mod read;
mod repository;
mod sandbox;
mod sensors;
mod traces;
mod validate;

#[cfg(test)]
mod tests;

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use aws_batch::{AwsBatchSettings, DEFAULT_BATCH_LOG_GROUP, batch_name_char, tag_char};
pub use channels::{
    Channel, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_PER_MINUTE, DEFAULT_RETRY_DELAY, MAX_RETRY_DELAY,
    NotificationSettings, SmtpSettings, SmtpTls, WebhookFormat,
};
pub use dag_paths::{path_is_under, relative_to_dag_folder};
pub use datasets::DatasetSettings;
pub use kubernetes::{
    DEFAULT_NAMESPACE, DEFAULT_TTL_SECONDS_AFTER_FINISHED, KubernetesSettings, SettingsProblem,
    is_dns_label, team_label,
};
pub use logs::{LogStoreUrl, MIN_LOG_RETENTION};
pub use metrics::MetricsSettings;
pub use problem::KeyProblem;
pub use read::{PlatformReport, parse};
pub use repository::{
    DEFAULT_REPOSITORY_BRANCH, DEFAULT_REPOSITORY_INTERVAL, MAX_REPOSITORY_INTERVAL,
    MIN_REPOSITORY_INTERVAL, RepositorySettings,
};
pub use sandbox::{
    DEFAULT_SANDBOX_PROGRAM, DEFAULT_SANDBOX_USER, SandboxSettings, ShellIsolation, ShellSandbox,
};
pub use sensors::{FILE_ROOTS_SETTING, SensorSettings, clean_path, file_refusal, lexically_under};
pub use traces::{DEFAULT_SERVICE_NAME, OTLP_TRACES_PATH, TracingSettings};

use crate::access::LogReaders;
use crate::access::sso::OidcSettings;
use crate::governance::ApprovalPolicy;
use crate::spec::model::{HumanDuration, MemorySize};

/// vCPUs a try asks for when neither its task nor its job definition says.
pub const DEFAULT_VCPU: f64 = 1.0;
/// Memory a try asks for when neither its task nor its job definition says (2 GiB).
pub const DEFAULT_MEMORY_BYTES: u64 = 2 * GIB;
/// Name of the queue tasks land in when they name none.
pub const DEFAULT_QUEUE: &str = "default";
/// Longest fair-share decay half-life accepted: one week, AWS Batch's limit too.
pub const MAX_SHARE_DECAY_SECONDS: u64 = 604_800;
/// The fair-share half-life when a queue sets none.
pub const DEFAULT_SHARE_DECAY_SECONDS: u64 = 3_600;

const GIB: u64 = 1024 * 1024 * 1024;

/// The whole platform config. Every table denies unknown keys, so a typo is an error,
/// not a silently ignored setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Weir platform config (weir.toml)")]
pub struct PlatformConfig {
    /// Where work runs, and how much of it at once.
    #[serde(default)]
    pub compute_environments: Vec<ComputeEnvironment>,
    /// Where runnable tries wait, and in which order they are served.
    #[serde(default)]
    pub queues: Vec<Queue>,
    /// The teams' fair-share weights and what their containers may do.
    #[serde(default)]
    pub teams: Vec<Team>,
    /// How callers sign in beyond local users and tokens (`[auth.oidc]`).
    #[serde(default)]
    pub auth: AuthSettings,
    /// How `shell` tasks are isolated (`[sandbox]`).
    #[serde(default)]
    pub sandbox: SandboxSettings,
    /// Limits on tries' logs (`[logs]`).
    #[serde(default)]
    pub logs: LogSettings,
    /// The Git repository DAG and job files come from (`[repository]`); none: the local
    /// folders only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<RepositorySettings>,
    /// Where notifications go (`[[channels]]`), by the names DAGs use in `notify:`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<Channel>,
    /// The mail server e-mail channels send through (`[smtp]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<SmtpSettings>,
    /// How notifications are delivered (`[notifications]`).
    #[serde(default)]
    pub notifications: NotificationSettings,
    /// Where traces are exported (`[tracing]`, OTLP over HTTP); none: no export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TracingSettings>,
    /// Who may read `GET /metrics` (`[metrics]`).
    #[serde(default)]
    pub metrics: MetricsSettings,
    /// Who may post dataset events through the API (`[datasets]`).
    #[serde(default)]
    pub datasets: DatasetSettings,
    /// Where `file` sensors may look (`[sensors]`); none: `file` sensors are refused.
    #[serde(default)]
    pub sensors: SensorSettings,
    /// Whether this config came from a file or stands in for a missing one.
    #[serde(skip)]
    pub origin: ConfigOrigin,
}

/// Where a [`PlatformConfig`] came from. Without a file (standalone on a laptop) every
/// team may run any image; with one, only what the file grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConfigOrigin {
    #[default]
    File,
    StandaloneDefault,
}

/// A backend with a capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComputeEnvironment {
    /// The environment's id, named by queues.
    pub name: String,
    pub backend: Backend,
    /// vCPUs the environment runs at once; the sum of running tries' requests never
    /// exceeds it.
    pub max_vcpus: f64,
    /// Memory the environment runs at once, e.g. `"64Gi"`.
    pub max_memory: MemorySize,
    /// What an hour of reserved capacity costs here; free when left out.
    #[serde(default)]
    pub price: Price,
    /// The cluster, namespaces and service accounts of a `kubernetes` environment
    /// (`[compute_environments.kubernetes]`); required there, refused elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesSettings>,
    /// How an `aws-batch` environment reaches AWS Batch
    /// (`[compute_environments.aws_batch]`); required for that backend, refused for the
    /// others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_batch: Option<AwsBatchSettings>,
}

/// Money per reserved vCPU-hour and per reserved GiB-hour, in the platform's currency.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Price {
    #[serde(default)]
    pub vcpu_hour: f64,
    #[serde(default)]
    pub gib_hour: f64,
}

/// How an environment runs work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// Local processes: `shell` tasks.
    Process,
    /// Containers on the local Docker daemon: `container` and `job` tasks.
    Docker,
    /// Kubernetes Jobs, one per try: `container` and `job` tasks.
    Kubernetes,
    /// AWS Batch jobs: `container` and `job` tasks, run by AWS Batch in the job queues
    /// `[compute_environments.aws_batch]` names.
    #[serde(rename = "aws-batch", alias = "aws_batch")]
    AwsBatch,
    /// Work done inside the server itself: `sql` and `http` tasks. Not a compute
    /// environment: it reserves no capacity and is never configured; tries record it
    /// as their executor.
    Inline,
}

impl Backend {
    pub const NAMES: [&'static str; 5] = ["process", "docker", "kubernetes", "aws-batch", "inline"];

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Process => "process",
            Backend::Docker => "docker",
            Backend::Kubernetes => "kubernetes",
            Backend::AwsBatch => "aws-batch",
            Backend::Inline => "inline",
        }
    }

    /// The backend named `name` (as [`Self::as_str`] writes it, and as a try's record
    /// keeps it); None for a name this build does not know.
    pub fn from_name(name: &str) -> Option<Backend> {
        [
            Backend::Process,
            Backend::Docker,
            Backend::Kubernetes,
            Backend::AwsBatch,
            Backend::Inline,
        ]
        .into_iter()
        .find(|b| b.as_str() == name)
    }

    /// Whether this backend can run `workload`.
    pub fn runs(self, workload: Workload) -> bool {
        match self {
            Backend::Process => workload == Workload::Process,
            Backend::Docker | Backend::Kubernetes | Backend::AwsBatch => {
                workload == Workload::Container
            }
            // Inline work is started by the engine directly, never placed.
            Backend::Inline => false,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a try needs from a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Workload {
    /// A local process (`shell`).
    Process,
    /// A container image (`container`, `job`).
    Container,
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Workload::Process => "process",
            Workload::Container => "container",
        })
    }
}

/// A job queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    pub name: String,
    /// Queues with a higher priority are served first.
    #[serde(default)]
    pub priority: i32,
    /// The environments this queue feeds, tried in this order.
    pub compute_environments: Vec<String>,
    #[serde(default)]
    pub scheduling_policy: SchedulingPolicy,
    /// Fair share: the half-life, in seconds, of a team's past usage (AWS Batch's
    /// `shareDecaySeconds`). `0` forgets the past: only running work counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_decay_seconds: Option<u64>,
    /// Fair share: percent (0-99) of each environment's vCPUs kept for teams that have
    /// nothing running yet, as AWS Batch's `computeReservation`: with `n` teams running,
    /// `(p/100)^n` of the vCPUs stay free for a newcomer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_reservation: Option<u8>,
}

impl Queue {
    /// The decay half-life this queue uses.
    pub fn share_decay_seconds(&self) -> u64 {
        self.share_decay_seconds
            .unwrap_or(DEFAULT_SHARE_DECAY_SECONDS)
    }
}

/// The order a queue serves its tries in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SchedulingPolicy {
    /// First in, first out.
    #[default]
    Fifo,
    /// Teams take turns by weight and recent usage; FIFO within a team.
    FairShare,
}

impl SchedulingPolicy {
    pub const NAMES: [&'static str; 2] = ["fifo", "fair_share"];
}

/// A team's entry in the platform config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Team {
    pub name: String,
    /// Fair-share weight: a team's share of a contended queue is proportional to it, so
    /// weight 3 gets three times what weight 1 gets. (AWS Batch's `weightFactor` is the
    /// inverse: there a lower factor gets more.)
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// Image references the team may run, matched at a path boundary:
    /// `registry.example.com/marketing` allows `registry.example.com/marketing/etl:1` but
    /// not `registry.example.com/marketing-x/etl`. `"*"` allows any image. Empty: none.
    #[serde(default)]
    pub image_prefixes: Vec<String>,
    #[serde(default)]
    pub allow_privileged: bool,
    #[serde(default)]
    pub allow_host_network: bool,
    #[serde(default)]
    pub allow_host_mounts: bool,
    /// Who may read the task logs of the team's DAGs: `"team"` (its members and platform
    /// admins, the default, since logs may hold the team's data) or `"everyone"`.
    #[serde(default)]
    pub logs_readable_by: LogReaders,
    /// The OS user the team's `shell` tasks run as, inside the sandbox; `[sandbox] user`
    /// when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell_user: Option<String>,
    /// Run the team's `shell` tasks without the sandbox, as the server's own OS user,
    /// with everything it can reach (Weir's database included). Only for a team
    /// trusted as much as the platform's operators.
    #[serde(default)]
    pub allow_unsandboxed_shell: bool,
    /// Where the team's DAG files must live, like a CODEOWNERS entry: folders relative to
    /// the DAG folder, `/`-separated and matched by whole path components (`"marketing/"`
    /// holds `marketing/daily.yaml` and `marketing/sub/x.yaml`, not `marketing-x/y.yaml`;
    /// `"shared/revenue.yaml"` names one file). No globs. A file elsewhere that declares
    /// the team is an import error. Empty (the default): the team may be declared anywhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Where the team's secrets live: Weir's own encrypted store (the default), or
    /// AWS Secrets Manager (`secrets = { backend = "aws_secrets_manager", region =
    /// "eu-west-1" }`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<TeamSecrets>,
    /// Who may approve the team's production versions: `"other_person"` (another
    /// operator of the team, or a platform admin; the default), `"other_team"` (an
    /// operator of another team, or a platform admin, who is no member of this one) or
    /// `"team:NAME"` (an operator of the declared team NAME). Never the author.
    #[serde(default)]
    pub approval: ApprovalPolicy,
    /// Dataset URI prefixes the team owns (`["s3://lake/marketing/"]`): only its DAGs
    /// may declare outlets there, and only its operators post events there through the
    /// API (unless `[datasets] open`). Any team may consume any dataset.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datasets: Vec<String>,
}

/// A team's secrets backend (`secrets = { … }` on its `[[teams]]` entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamSecrets {
    #[serde(default)]
    pub backend: SecretsBackendKind,
    /// The AWS region (default: the SDK's, from the environment or profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Another endpoint than AWS's (a VPC endpoint, or a test server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The prefix of the team's secret names in AWS Secrets Manager; default
    /// `weir/<team>/`. Give each team its own, and grant the server's IAM role only
    /// these prefixes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// Where a team's secrets live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecretsBackendKind {
    /// Weir's database, sealed under the master key.
    #[default]
    Local,
    /// AWS Secrets Manager.
    AwsSecretsManager,
}

/// The `[auth]` table: sign-in beyond local users and API tokens.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Single sign-on: bearer JWTs from this OpenID Connect provider are accepted.
    #[serde(default)]
    pub oidc: Option<OidcSettings>,
}

/// The `[logs]` table: limits on what tries write to their logs, where finished tries'
/// logs are archived and how long logs are kept (see `logs.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// Most bytes of output one try's log keeps, e.g. `"100Mi"` (the default). Past it
    /// the log says it was truncated, the rest of the output is read and dropped, and
    /// the task runs on to its normal end.
    #[serde(default = "default_max_log_bytes")]
    pub max_bytes_per_try: MemorySize,
    /// Where a finished try's log is archived, e.g. `"s3://weir-logs/prod"`; none: logs
    /// stay in the try folders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// Another S3 endpoint than AWS's (MinIO, a VPC endpoint, a test server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The bucket's region (default: `AWS_REGION` of the server's environment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// A secret holding the store's key pair, as `team/name` (JSON with `access_key_id`,
    /// `secret_access_key` and optionally `session_token`); none: the server's
    /// environment (`AWS_ACCESS_KEY_ID`, a web identity, the instance's role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<String>,
    /// Logs of tries that ended longer ago are deleted, locally and in the store, e.g.
    /// `"30d"`; none: kept forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<HumanDuration>,
}

/// The default of `[logs] max_bytes_per_try`: 100 MiB.
pub const DEFAULT_MAX_LOG_BYTES_PER_TRY: u64 = 100 * 1024 * 1024;

fn default_max_log_bytes() -> MemorySize {
    MemorySize(DEFAULT_MAX_LOG_BYTES_PER_TRY)
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            max_bytes_per_try: default_max_log_bytes(),
            store: None,
            endpoint: None,
            region: None,
            credentials_secret: None,
            retention: None,
        }
    }
}

fn default_weight() -> f64 {
    1.0
}

/// What a team's containers may do beyond the locked-down default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ContainerPolicy {
    pub privileged: bool,
    pub host_network: bool,
    pub host_mounts: bool,
}

impl PlatformConfig {
    /// The config standalone uses when there is no `weir.toml`: a `process` environment
    /// sized to the host, a `docker` one too when the daemon answers, one FIFO `default`
    /// queue feeding them, and no team restrictions on images.
    pub fn standalone_default(
        host_vcpus: f64,
        host_memory_bytes: u64,
        docker_available: bool,
    ) -> PlatformConfig {
        let env = |name: &str, backend| ComputeEnvironment {
            name: name.into(),
            backend,
            max_vcpus: host_vcpus,
            max_memory: MemorySize(host_memory_bytes),
            price: Price::default(),
            kubernetes: None,
            aws_batch: None,
        };
        let mut compute_environments = vec![env("process", Backend::Process)];
        if docker_available {
            compute_environments.push(env("docker", Backend::Docker));
        }
        let queue = Queue {
            name: DEFAULT_QUEUE.into(),
            priority: 0,
            compute_environments: compute_environments
                .iter()
                .map(|e| e.name.clone())
                .collect(),
            scheduling_policy: SchedulingPolicy::Fifo,
            share_decay_seconds: None,
            compute_reservation: None,
        };
        PlatformConfig {
            compute_environments,
            queues: vec![queue],
            teams: Vec::new(),
            auth: AuthSettings::default(),
            sandbox: SandboxSettings::default(),
            logs: LogSettings::default(),
            repository: None,
            channels: Vec::new(),
            smtp: None,
            notifications: NotificationSettings::default(),
            tracing: None,
            metrics: MetricsSettings::default(),
            datasets: DatasetSettings::default(),
            sensors: SensorSettings::default(),
            origin: ConfigOrigin::StandaloneDefault,
        }
    }

    /// Whether this config declares no compute environments and no queues, so
    /// [`Self::or_defaults`] gives it the standalone ones.
    pub fn needs_default_compute(&self) -> bool {
        self.compute_environments.is_empty() && self.queues.is_empty()
    }

    /// A file that declares no compute environments and no queues (say, only `[[teams]]`)
    /// keeps `defaults`' (usually [`Self::standalone_default`]) environments and queues;
    /// everything else (team rules, auth, logs) stays the file's.
    pub fn or_defaults(mut self, defaults: PlatformConfig) -> PlatformConfig {
        if self.needs_default_compute() {
            self.compute_environments = defaults.compute_environments;
            self.queues = defaults.queues;
        }
        self
    }

    /// The `[[channels]]` entry named `name`.
    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.name == name)
    }

    pub fn environment(&self, name: &str) -> Option<&ComputeEnvironment> {
        self.compute_environments.iter().find(|e| e.name == name)
    }

    /// The first environment of `queue` that runs `workload`, by name.
    pub fn environment_for(&self, queue: &str, workload: Workload) -> Option<String> {
        self.queue(queue)?
            .compute_environments
            .iter()
            .filter_map(|name| self.environment(name))
            .find(|e| e.backend.runs(workload))
            .map(|e| e.name.clone())
    }

    pub fn queue(&self, name: &str) -> Option<&Queue> {
        self.queues.iter().find(|q| q.name == name)
    }

    pub fn team(&self, name: &str) -> Option<&Team> {
        self.teams.iter().find(|t| t.name == name)
    }

    /// Who may read the task logs of `team`'s DAGs (its members, for a team not listed).
    pub fn log_readers(&self, team: &str) -> LogReaders {
        self.team(team)
            .map_or(LogReaders::Team, |t| t.logs_readable_by)
    }

    /// Who may approve `team`'s production versions ([`ApprovalPolicy::OtherPerson`]
    /// for a team the config does not list).
    pub fn approval_policy(&self, team: &str) -> ApprovalPolicy {
        self.team(team)
            .map_or(ApprovalPolicy::OtherPerson, |t| t.approval.clone())
    }

    /// A team's fair-share weight: 1 for a team the config does not list.
    pub fn weight(&self, team: &str) -> f64 {
        self.team(team).map_or(1.0, |t| t.weight)
    }

    /// Whether `team` may run `image`; the error says who, what and what is allowed.
    pub fn image_allowed(&self, team: &str, image: &str) -> Result<(), String> {
        if self.origin == ConfigOrigin::StandaloneDefault {
            return Ok(());
        }
        let Some(t) = self.team(team) else {
            return Err(format!(
                "team `{team}` may not run image `{image}`: the platform config lists no team `{team}`, so it may run no images"
            ));
        };
        if t.image_prefixes.iter().any(|p| prefix_matches(p, image)) {
            return Ok(());
        }
        if t.image_prefixes.is_empty() {
            return Err(format!(
                "team `{team}` may not run image `{image}`: the platform config gives it no `image_prefixes`"
            ));
        }
        let allowed: Vec<String> = t.image_prefixes.iter().map(|p| format!("`{p}`")).collect();
        Err(format!(
            "team `{team}` may not run image `{image}`: its images must start with {}",
            allowed.join(" or ")
        ))
    }

    /// What `team`'s containers may do; all `false` unless the config allows it.
    pub fn container_policy(&self, team: &str) -> ContainerPolicy {
        self.team(team)
            .map(|t| ContainerPolicy {
                privileged: t.allow_privileged,
                host_network: t.allow_host_network,
                host_mounts: t.allow_host_mounts,
            })
            .unwrap_or_default()
    }

    /// Whether a try of `workload` asking `request` can ever run in `queue`: some
    /// environment of the queue runs that workload and is at least that big. A try
    /// that cannot fails at once instead of waiting forever.
    pub fn check_fit(
        &self,
        queue: &str,
        workload: Workload,
        request: Request,
    ) -> Result<(), FitError> {
        let Some(q) = self.queue(queue) else {
            return Err(FitError::UnknownQueue {
                queue: queue.to_string(),
                known: self.queues.iter().map(|q| q.name.clone()).collect(),
            });
        };
        let envs: Vec<&ComputeEnvironment> = q
            .compute_environments
            .iter()
            .filter_map(|name| self.environment(name))
            .filter(|e| e.backend.runs(workload))
            .collect();
        if envs.is_empty() {
            return Err(FitError::NoBackend {
                queue: queue.to_string(),
                workload,
            });
        }
        if envs
            .iter()
            .any(|e| request.fits_in(e.max_vcpus, e.max_memory.0))
        {
            return Ok(());
        }
        Err(FitError::TooBig {
            queue: queue.to_string(),
            request,
            largest: envs
                .iter()
                .map(|e| (e.name.clone(), e.max_vcpus, e.max_memory.0))
                .collect(),
        })
    }
}

/// What one try asks of an environment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub vcpus: f64,
    pub memory_bytes: u64,
}

impl Request {
    pub fn new(vcpus: f64, memory_bytes: u64) -> Self {
        Request {
            vcpus,
            memory_bytes,
        }
    }

    /// Whether the request fits in an environment of this size.
    pub fn fits_in(&self, vcpus: f64, memory_bytes: u64) -> bool {
        self.vcpus <= vcpus && self.memory_bytes <= memory_bytes
    }
}

impl Default for Request {
    /// [`DEFAULT_VCPU`] and [`DEFAULT_MEMORY_BYTES`].
    fn default() -> Self {
        Request::new(DEFAULT_VCPU, DEFAULT_MEMORY_BYTES)
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} vCPU and {} of memory",
            self.vcpus,
            format_bytes(self.memory_bytes)
        )
    }
}

/// Why a try can never run in its queue.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("queue `{queue}` is not configured (known queues: {})", known.join(", "))]
    UnknownQueue { queue: String, known: Vec<String> },
    #[error("queue `{queue}` feeds no compute environment that runs {workload} work")]
    NoBackend { queue: String, workload: Workload },
    #[error(
        "the try asks {request}, more than any environment of queue `{queue}` has ({})",
        sizes(largest)
    )]
    TooBig {
        queue: String,
        request: Request,
        /// Each candidate environment: name, vCPUs, memory bytes.
        largest: Vec<(String, f64, u64)>,
    },
}

fn sizes(envs: &[(String, f64, u64)]) -> String {
    envs.iter()
        .map(|(name, vcpus, mem)| format!("`{name}`: {vcpus} vCPU, {}", format_bytes(*mem)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A byte count as users write sizes: `2Gi`, `512Mi`, `1.5Gi`, `100`.
pub fn format_bytes(bytes: u64) -> String {
    for (unit, size) in [
        ("Ti", GIB * 1024),
        ("Gi", GIB),
        ("Mi", 1024 * 1024),
        ("Ki", 1024),
    ] {
        if bytes >= size {
            let value = bytes as f64 / size as f64;
            let rounded = (value * 100.0).round() / 100.0;
            return format!("{rounded}{unit}");
        }
    }
    bytes.to_string()
}

/// `prefix` allows `image` when the image starts with it at a boundary of the reference
/// (`/`, `:` or `@` follows, or the prefix itself ends in one), or the prefix is `*`.
pub fn prefix_matches(prefix: &str, image: &str) -> bool {
    if prefix == "*" {
        return true;
    }
    if prefix.is_empty() || !image.starts_with(prefix) {
        return false;
    }
    let rest = &image[prefix.len()..];
    rest.is_empty() || prefix.ends_with(['/', ':', '@']) || rest.starts_with(['/', ':', '@'])
}
