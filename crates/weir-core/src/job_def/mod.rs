//! Job definitions: a team's reusable container template (image, command, resources,
//! env, secrets, timeout, queue, retry strategy), kept as YAML in `jobs/` beside `dags/`
//! in the DAG repository and run by a `job: NAME` task.
//!
//! ```yaml
//! job: dbt-runner
//! team: marketing
//! image: registry.example.com/marketing/dbt:1.7
//! command: [dbt, build]
//! resources: {vcpu: 2, memory: 4Gi}
//! env: {DBT_TARGET: prod}
//! secrets: {DB_PASSWORD: redshift-password}
//! timeout: 1h
//! queue: shared
//! retry_strategy:
//!   attempts: 3
//!   evaluate_on_exit:
//!     - {on_reason: "OutOfMemory*", action: retry}
//!     - {on_exit_code: "137", action: retry}
//!     - {on_exit_code: "*", action: exit}
//! ```
//!
//! Every change is a new revision, named by the SHA-256 of the definition's JSON
//! ([`JobDefinition::revision`]); a run records the revision it used. A task may
//! override `command`, `env` and `resources` ([`resolve`]). String values are templates
//! the engine renders per try, like a `container` task's.

mod read;
mod resolve;
mod retry;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use read::{JobFileReport, load_job_file};
pub use resolve::{ResolvedContainer, TaskOverrides, resolve};
pub use retry::{GiveUp, RetryDecision, evaluate_on_exit, glob_matches};

use crate::ids::TeamId;
use crate::spec::diagnostic::{Diagnostic, Pos, did_you_mean};
use crate::spec::model::{HumanDuration, PullPolicy, Resources};

/// Most attempts a retry strategy may ask for (AWS Batch's limit, so a definition can
/// also be handed to an AWS Batch backend unchanged).
pub const MAX_ATTEMPTS: u32 = 10;
/// Most `evaluate_on_exit` rules (AWS Batch's limit).
pub const MAX_EXIT_RULES: usize = 5;

/// A job definition as written in its file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Weir job definition")]
pub struct JobDefinition {
    /// The definition's name, unique within its team; tasks say `job: NAME`.
    pub job: String,
    /// The team that owns it; only that team's DAGs may run it.
    pub team: TeamId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub image: String,
    /// Replaces the image's entrypoint and command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    /// Environment variable name → name of a secret in the team's namespace.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub secrets: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    /// The queue its tries wait in (default: `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(default)]
    pub retry_strategy: RetryStrategy,
    #[serde(default)]
    pub pull: PullPolicy,
}

impl JobDefinition {
    /// The revision that names this exact definition: SHA-256 of its canonical JSON
    /// (field order fixed by the type, maps in file order), as `DagSpec::content_hash`.
    pub fn revision(&self) -> String {
        use sha2::{Digest, Sha256};
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(json))
    }
}

/// How failed tries are retried, with AWS Batch's `retryStrategy` semantics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryStrategy {
    /// Tries in all, the first included (1 to 10; default 1: no retry).
    #[serde(default = "one")]
    pub attempts: u32,
    /// Checked in order on each failure; the first rule whose conditions all match
    /// decides. When none matches, the try is retried if attempts are left.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evaluate_on_exit: Vec<ExitRule>,
}

fn one() -> u32 {
    1
}

impl Default for RetryStrategy {
    fn default() -> Self {
        RetryStrategy {
            attempts: 1,
            evaluate_on_exit: Vec::new(),
        }
    }
}

/// One `evaluate_on_exit` rule. Patterns are globs where `*` matches any run of
/// characters; matching is case-sensitive and covers the whole value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExitRule {
    /// Pattern for the exit code, e.g. `"137"` or `"1*"`. A try that ended without an
    /// exit code (never started, lost) does not match it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_exit_code: Option<String>,
    /// Pattern for the reason the backend gives, e.g. `"OutOfMemory*"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_reason: Option<String>,
    pub action: RetryAction,
}

/// What a matching rule says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetryAction {
    /// Try again, if attempts are left.
    Retry,
    /// Fail now, whatever attempts are left.
    Exit,
}

/// Why a job definition cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    #[error("team `{team}` has no job definition `{job}`{}", suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    Unknown {
        team: String,
        job: String,
        suggestion: Option<String>,
    },
}

/// The job definitions of a DAG repository, by team and name.
#[derive(Debug, Clone, Default)]
pub struct JobCatalog {
    jobs: BTreeMap<(TeamId, String), JobDefinition>,
}

impl JobCatalog {
    /// A catalog of exactly these definitions (a version's own, pinned ones).
    pub fn from_definitions(defs: impl IntoIterator<Item = JobDefinition>) -> JobCatalog {
        JobCatalog {
            jobs: defs
                .into_iter()
                .map(|d| ((d.team.clone(), d.job.clone()), d))
                .collect(),
        }
    }

    /// The definition `job` of `team`; teams cannot run each other's definitions.
    pub fn get(&self, team: &TeamId, job: &str) -> Result<&JobDefinition, JobError> {
        self.jobs
            .get(&(team.clone(), job.to_string()))
            .ok_or_else(|| JobError::Unknown {
                team: team.to_string(),
                job: job.to_string(),
                suggestion: did_you_mean(
                    job,
                    self.jobs
                        .keys()
                        .filter(|(t, _)| t == team)
                        .map(|(_, j)| j.as_str()),
                )
                .map(str::to_string),
            })
    }

    pub fn iter(&self) -> impl Iterator<Item = &JobDefinition> {
        self.jobs.values()
    }

    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }
}

/// One job file's load result.
#[derive(Debug, Clone)]
pub struct JobFile {
    pub path: String,
    pub source: String,
    pub report: JobFileReport,
}

/// One file of the job definitions folder.
#[derive(Debug, Clone)]
pub struct JobSource {
    /// As shown in messages and import errors.
    pub path: String,
    /// Relative to the job definitions folder, `/`-separated: what `[[teams]] paths` are
    /// matched against.
    pub rel_path: String,
    pub source: String,
}

/// Loads every file of `jobs/` and reports a definition that lies outside its team's
/// `paths`, or is defined twice for one team: the first file keeps it, the later one
/// gets an error. A file refused for its place never claims the name.
pub fn load_jobs(
    files: Vec<JobSource>,
    platform: &crate::platform::PlatformConfig,
) -> (JobCatalog, Vec<JobFile>) {
    let mut catalog = JobCatalog::default();
    let mut owner: BTreeMap<(TeamId, String), String> = BTreeMap::new();
    let mut out = Vec::with_capacity(files.len());
    for JobSource {
        path,
        rel_path,
        source,
    } in files
    {
        let mut report = load_job_file(&source, platform);
        if let Some(job) = report.job.take() {
            let key = (job.team.clone(), job.job.clone());
            if let Err(message) = platform.job_declared_at(job.team.as_str(), &rel_path) {
                report.diagnostics.push(
                    Diagnostic::error(Pos::new(1, 1), message)
                        .with_help("move the file into the team's folder, or fix its `team:`"),
                );
            } else if let Some(first) = owner.get(&key) {
                report.diagnostics.push(
                    Diagnostic::error(
                        Pos::new(1, 1),
                        format!(
                            "job definition `{}` of team `{}` is already defined in {first}",
                            job.job, job.team
                        ),
                    )
                    .with_help("job names must be unique within a team: rename one of them"),
                );
            } else {
                owner.insert(key.clone(), path.clone());
                catalog.jobs.insert(key, job.clone());
                report.job = Some(job);
            }
        }
        out.push(JobFile {
            path,
            source,
            report,
        });
    }
    (catalog, out)
}
