//! The DAG specification as Rust types: what a valid DAG file means.
//!
//! These types are the contract of the format: `weir dags schema` derives the JSON Schema
//! from them, and a DAG version is stored as their JSON. They are built from a YAML file
//! by [`super::read`], which reports every problem with its position.

use std::time::Duration;

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::{format_duration, parse_duration};
use crate::ids::{DagId, TaskId, TeamId};
use crate::notify::{NotifySpec, RunDeadline, TaskDeadline};
use crate::retry::RetryBackoff;
use crate::trigger_rule::TriggerRule;

/// What a DAG file holds: one DAG, or a factory that makes several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(title = "Weir DAG file")]
pub enum DagFile {
    Dag(Box<DagSpec>),
    Factory(FactorySpec),
}

/// A DAG factory: one DAG template and a table of rows, one DAG per row. `${name}` in
/// the template is replaced by the row's value for `name`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FactorySpec {
    /// The factory's name, used in diagnostics.
    pub factory: String,
    /// One mapping of placeholder values per DAG to make.
    pub rows: Vec<serde_json::Map<String, serde_json::Value>>,
    /// A DAG, with `${name}` placeholders.
    pub template: serde_json::Map<String, serde_json::Value>,
}

/// A workflow: tasks and the dependencies between them, owned by one team.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DagSpec {
    /// The DAG's id: `[A-Za-z0-9_.-]`, at most 250 characters.
    pub dag: DagId,
    /// The team that owns the DAG: only its members may run or change it.
    pub team: TeamId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// New versions of a production DAG need a second person's approval.
    #[serde(default)]
    pub production: bool,
    /// A 5-field cron expression, a preset (`@once @hourly @daily @weekly @monthly
    /// @yearly`), or `{datasets: [uri, ...]}`; omitted for manual runs only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleSpec>,
    /// IANA time zone the schedule is evaluated in (default UTC).
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// First logical date to schedule: `2026-01-01` or an RFC 3339 date-time, in
    /// `timezone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub start_date: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub end_date: Option<DateTime<Utc>>,
    /// Create runs for the intervals missed since `start_date` (or since the server was
    /// down).
    #[serde(default)]
    pub catchup: bool,
    /// Whether a newly seen DAG starts paused.
    #[serde(default = "default_true")]
    pub paused: bool,
    #[serde(default = "default_max_active")]
    pub max_active_runs: u32,
    #[serde(default = "default_max_active")]
    pub max_active_tasks: u32,
    /// Values for `{{ params.NAME }}`; a manual trigger's `conf` may override them.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Settings every task inherits unless it sets its own.
    #[serde(default)]
    pub defaults: TaskDefaults,
    /// Who hears of this DAG's runs failing, succeeding, recovering or missing their
    /// deadline.
    #[serde(default, skip_serializing_if = "NotifySpec::is_empty")]
    pub notify: NotifySpec,
    /// When a run should be done by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<RunDeadline>,
    /// The tasks, by id, in file order.
    pub tasks: IndexMap<TaskId, TaskSpec>,
}

fn default_timezone() -> String {
    "UTC".into()
}
fn default_true() -> bool {
    true
}
fn default_max_active() -> u32 {
    16
}

/// When a DAG runs by itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ScheduleSpec {
    /// A cron expression or preset.
    Cron(String),
    /// Run when datasets are updated (and on a cron schedule too, when `cron` is set).
    Datasets(DatasetSchedule),
}

impl ScheduleSpec {
    /// The cron expression or preset, alone or beside datasets.
    pub fn cron(&self) -> Option<&str> {
        match self {
            ScheduleSpec::Cron(expr) => Some(expr),
            ScheduleSpec::Datasets(d) => d.cron.as_deref(),
        }
    }

    /// The datasets the DAG waits for, if any.
    pub fn datasets(&self) -> Option<&DatasetsSpec> {
        match self {
            ScheduleSpec::Cron(_) => None,
            ScheduleSpec::Datasets(d) => Some(&d.datasets),
        }
    }

    /// One line for lists: the cron expression, `datasets: a, b` (all of them),
    /// `datasets (any): a, b`, or `0 6 * * * or datasets: a`.
    pub fn summary(&self) -> String {
        let Some(datasets) = self.datasets() else {
            return self.cron().unwrap_or_default().to_string();
        };
        let list = match datasets {
            DatasetsSpec::All(uris) => format!("datasets: {}", uris.join(", ")),
            DatasetsSpec::Any { any } => format!("datasets (any): {}", any.join(", ")),
        };
        match self.cron() {
            Some(cron) => format!("{cron} or {list}"),
            None => list,
        }
    }

    /// Human text (Airflow's timetable description).
    pub fn describe(&self) -> String {
        let datasets = self.datasets().map(|d| match d {
            DatasetsSpec::All(uris) => {
                format!(
                    "When these datasets have been updated: {}.",
                    uris.join(", ")
                )
            }
            DatasetsSpec::Any { any } => {
                format!(
                    "When any of these datasets has been updated: {}.",
                    any.join(", ")
                )
            }
        });
        let cron = self
            .cron()
            .and_then(|c| crate::schedule::parse_schedule(c).ok())
            .map(|s| crate::schedule::describe(&s));
        match (cron, datasets) {
            (Some(cron), Some(datasets)) => format!("{cron} And {}", lower_first(&datasets)),
            (Some(text), None) | (None, Some(text)) => text,
            (None, None) => self.cron().unwrap_or_default().to_string(),
        }
    }
}

fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_lowercase().chain(chars).collect::<String>()
    })
}

/// `schedule: {datasets: ..., cron: ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetSchedule {
    /// Also run on this cron schedule (`{cron: "0 6 * * *", datasets: [...]}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    pub datasets: DatasetsSpec,
}

/// The datasets a DAG waits for: URIs or patterns (`*` within a segment, `**` across).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum DatasetsSpec {
    /// Every one updated (a plain list).
    All(Vec<String>),
    /// At least one updated (`{any: [...]}`).
    Any { any: Vec<String> },
}

impl DatasetsSpec {
    pub fn uris(&self) -> &[String] {
        match self {
            DatasetsSpec::All(uris) | DatasetsSpec::Any { any: uris } => uris,
        }
    }

    /// The condition the engine evaluates (patterns were checked when the DAG loaded;
    /// one that no longer parses matches nothing).
    pub fn condition(&self) -> crate::dataset::DatasetCondition {
        let patterns = self
            .uris()
            .iter()
            .filter_map(|u| crate::dataset::UriPattern::parse(u).ok())
            .collect();
        match self {
            DatasetsSpec::All(_) => crate::dataset::DatasetCondition::All(patterns),
            DatasetsSpec::Any { .. } => crate::dataset::DatasetCondition::Any(patterns),
        }
    }
}

/// Task settings a DAG sets once for all its tasks.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskDefaults {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_backoff: Option<RetryBackoff>,
    /// Cap on the delay between tries when `retry_backoff` is exponential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retry_delay: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_rule: Option<TriggerRule>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    /// Who hears of every task's failures, retries, successes and recoveries.
    #[serde(default, skip_serializing_if = "NotifySpec::is_empty")]
    pub notify: NotifySpec,
}

/// One node of the DAG: exactly one kind (`shell`, `container`, `job`, `sql`, `http`,
/// `sensor`, `noop`) plus how it fits in the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    #[serde(flatten)]
    pub kind: TaskKind,
    /// Upstream task ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<TaskId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_rule: Option<TriggerRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_backoff: Option<RetryBackoff>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retry_delay: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Datasets (URIs) this task produces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outlets: Vec<String>,
    /// Datasets (URIs) this task reads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inlets: Vec<String>,
    /// Fan out: one mapped task instance per item (`{{ item }}` in templates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<ForEach>,
    /// Environment variables (templated).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    /// With `job`: replaces the job definition's command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// With `job`: replaces the job definition's resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Environment variable → a secret of the DAG's team (`name` or `team/name`), set
    /// for the try and masked in its log.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub secrets: IndexMap<String, String>,
    /// Connections the try gets as `WEIR_CONN_<ID>` (Airflow's URI format), masked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<String>,
    /// Who hears of this task; each event's list replaces the one in `defaults`.
    #[serde(default, skip_serializing_if = "NotifySpec::is_empty")]
    pub notify: NotifySpec,
    /// When the task should be done by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<TaskDeadline>,
}

/// What a task does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// A command line run with `sh -c` (templated).
    Shell(String),
    /// A container image to run.
    Container(ContainerTask),
    /// A run of one of the team's job definitions, by name.
    Job(String),
    /// A query on a connection.
    Sql(SqlTask),
    /// An HTTP request.
    Http(HttpTask),
    /// Waits for another DAG's task or a dataset.
    Sensor(SensorTask),
    /// Does nothing; useful to join or group dependencies.
    Noop(NoopTask),
}

impl TaskKind {
    /// The key that names this kind in a DAG file.
    pub fn name(&self) -> &'static str {
        match self {
            TaskKind::Shell(_) => "shell",
            TaskKind::Container(_) => "container",
            TaskKind::Job(_) => "job",
            TaskKind::Sql(_) => "sql",
            TaskKind::Http(_) => "http",
            TaskKind::Sensor(_) => "sensor",
            TaskKind::Noop(_) => "noop",
        }
    }

    pub const NAMES: [&'static str; 7] =
        ["shell", "container", "job", "sql", "http", "sensor", "noop"];
}

/// `noop:` takes no settings (`noop: {}`, `noop: true` or just `noop:`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct NoopTask {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerTask {
    pub image: String,
    /// Replaces the image's entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Arguments to the entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    #[serde(default)]
    pub pull: PullPolicy,
    /// Environment variable name → name of a secret in the team's namespace.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub secrets: IndexMap<String, String>,
    /// Full privileges. Refused unless the platform config allows it for the team.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    /// The host's network instead of an isolated one. Same rule as `privileged`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_network: bool,
    /// Host folders to mount. Same rule as `privileged`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<HostMountSpec>,
}

/// A host folder mounted into a container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostMountSpec {
    /// Absolute path on the host.
    pub source: String,
    /// Absolute path in the container.
    pub target: String,
    #[serde(default)]
    pub read_only: bool,
}

// When to pull a container's image before running it. (Plain comments: doc comments
// would change the published JSON Schema.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PullPolicy {
    // Pull only when the image is not on the machine yet (the default).
    #[default]
    IfNotPresent,
    // Pull before every try (a moving tag such as `:latest`).
    Always,
    // Never pull: the image must already be on the machine.
    Never,
}

impl std::fmt::Display for PullPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::IfNotPresent => "if_not_present",
            Self::Always => "always",
            Self::Never => "never",
        })
    }
}

/// What a task asks of the compute it runs on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcpu: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemorySize>,
}

/// SQL run on a PostgreSQL-protocol connection (PostgreSQL, Redshift), in one
/// transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlTask {
    /// Connection id (type `postgres` or `redshift`).
    pub connection: String,
    /// The SQL: `query` (templated) or `file` (a path relative to the DAG file, read
    /// and templated at run time).
    #[serde(flatten)]
    pub source: SqlSource,
    /// Values bound to `$1`, `$2`, … (strings are templated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<serde_json::Value>,
    /// What the task pushes to XCom.
    #[serde(default)]
    pub output: SqlOutput,
    /// Most rows the output may hold; more fail the task (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<u32>,
}

/// Where a `sql` task's SQL comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SqlSource {
    /// The SQL itself (templated).
    Query(String),
    /// A file of SQL, relative to the DAG file (templated).
    File(String),
}

/// Rows a `sql` task keeps when no `max_rows` is given.
pub const DEFAULT_MAX_ROWS: u32 = 1000;

// What a `sql` task pushes to XCom. (Plain comments: doc comments would change the
// published JSON Schema.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SqlOutput {
    // Nothing (the default).
    #[default]
    None,
    // The last statement's first row, as an object (null without rows).
    FirstRow,
    // The last statement's rows, as a list of objects.
    Rows,
}

impl SqlOutput {
    pub const NAMES: [&'static str; 3] = ["none", "first_row", "rows"];
}

/// An HTTP request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpTask {
    /// Connection id (type `http`/`https`): the base of a relative `url`, and Basic
    /// auth from its login and password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// The URL (templated); relative to the connection's host when one is given.
    pub url: String,
    #[serde(default = "default_method")]
    pub method: String,
    /// Request headers (templated).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, String>,
    /// A text body (templated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// A JSON body (its strings templated); sets `Content-Type: application/json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<serde_json::Value>,
    /// Statuses that count as success: codes (`404`) or classes (`2xx`); default `2xx`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect_status: Vec<StatusPattern>,
    /// What the task pushes to XCom.
    #[serde(default)]
    pub output: HttpOutput,
    /// Time allowed for the whole request; by default the task's `timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
}

fn default_method() -> String {
    "GET".into()
}

// What an `http` task pushes to XCom. (Plain comments: doc comments would change the
// published JSON Schema.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HttpOutput {
    // Nothing (the default).
    #[default]
    None,
    // The response body, parsed as JSON.
    Json,
    // The response body, as a string.
    Text,
}

impl HttpOutput {
    pub const NAMES: [&'static str; 3] = ["none", "json", "text"];
}

/// An HTTP status, or a class of them: `404`, `4xx`.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(with = "String")]
pub struct StatusPattern(String);

impl StatusPattern {
    /// `200`..`599`, or `1xx`..`5xx`.
    pub fn parse(text: &str) -> Result<StatusPattern, String> {
        let text = text.trim().to_ascii_lowercase();
        let bytes = text.as_bytes();
        let ok = bytes.len() == 3
            && (b'1'..=b'5').contains(&bytes[0])
            && ((bytes[1].is_ascii_digit() && bytes[2].is_ascii_digit()) || &bytes[1..] == b"xx");
        if ok {
            Ok(StatusPattern(text))
        } else {
            Err(format!(
                "`{text}` is not an HTTP status: write a code such as `404` or a class such as `2xx`"
            ))
        }
    }

    /// Whether `status` matches.
    pub fn matches(&self, status: u16) -> bool {
        let code = status.to_string();
        let (pattern, code) = (self.0.as_bytes(), code.as_bytes());
        code.len() == 3 && pattern.iter().zip(code).all(|(p, c)| *p == b'x' || p == c)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Serialize for StatusPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for StatusPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        StatusPattern::parse(&text).map_err(serde::de::Error::custom)
    }
}

pub use super::model_sensor::{SensorSql, SensorTarget, SensorTask, SignedDuration};

/// The items a task fans out over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ForEach {
    /// A literal list of items.
    Items(Vec<serde_json::Value>),
    /// A template evaluated when the task is ready, e.g. `{{ ti.xcom_pull('list') }}` or
    /// `{{ params.countries }}`; it must yield a list.
    Template(String),
}

/// A duration written as `30s`, `5m`, `1h30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[schemars(with = "String")]
pub struct HumanDuration(pub Duration);

impl Serialize for HumanDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text)
            .map(HumanDuration)
            .map_err(serde::de::Error::custom)
    }
}

/// A memory size written as `512Mi`, `2Gi`; held in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[schemars(with = "String")]
pub struct MemorySize(pub u64);

impl Serialize for MemorySize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for MemorySize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        crate::duration::parse_size(&text)
            .map(MemorySize)
            .map_err(serde::de::Error::custom)
    }
}

impl DagSpec {
    /// A task's settings after the DAG's `defaults` are applied.
    /// Who hears of `task`: its own lists over the DAG's `defaults`.
    pub fn task_notify(&self, task: &TaskSpec) -> NotifySpec {
        task.notify.over(Some(&self.defaults.notify))
    }

    pub fn effective(&self, task: &TaskSpec) -> EffectiveTask {
        let d = &self.defaults;
        let mut env = d.env.clone();
        env.extend(task.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        EffectiveTask {
            trigger_rule: task.trigger_rule.or(d.trigger_rule).unwrap_or_default(),
            retries: task.retries.or(d.retries).unwrap_or(0),
            retry_delay: task
                .retry_delay
                .or(d.retry_delay)
                .map_or(Duration::from_secs(300), |h| h.0),
            retry_backoff: task.retry_backoff.or(d.retry_backoff).unwrap_or_default(),
            max_retry_delay: task.max_retry_delay.or(d.max_retry_delay).map(|h| h.0),
            timeout: task.timeout.or(d.timeout).map(|h| h.0),
            queue: task
                .queue
                .clone()
                .or_else(|| d.queue.clone())
                .unwrap_or_else(|| "default".into()),
            pool: task
                .pool
                .clone()
                .or_else(|| d.pool.clone())
                .unwrap_or_else(|| "default_pool".into()),
            env,
        }
    }

    /// The content hash that names this DAG version: SHA-256 of its canonical JSON.
    pub fn content_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(json))
    }
}

/// A task's settings with the DAG's defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveTask {
    pub trigger_rule: TriggerRule,
    pub retries: u32,
    pub retry_delay: Duration,
    pub retry_backoff: RetryBackoff,
    pub max_retry_delay: Option<Duration>,
    pub timeout: Option<Duration>,
    pub queue: String,
    pub pool: String,
    pub env: IndexMap<String, String>,
}
