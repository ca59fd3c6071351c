//! A `job` task's container: its job definition with the task's overrides applied.

use std::time::Duration;

use indexmap::IndexMap;
use serde::Serialize;

use super::{JobDefinition, RetryStrategy};
use crate::platform::{DEFAULT_MEMORY_BYTES, DEFAULT_QUEUE, DEFAULT_VCPU, Request};
use crate::spec::model::{PullPolicy, Resources};

/// What a task may override of its job definition ("A task may override `command`,
/// `env` and `resources`").
#[derive(Debug, Clone, Copy, Default)]
pub struct TaskOverrides<'a> {
    /// Replaces the definition's command.
    pub command: Option<&'a [String]>,
    /// Added to the definition's env; a task's value wins for the same name.
    pub env: Option<&'a IndexMap<String, String>>,
    /// Replaces the definition's `vcpu` and/or `memory`, each on its own.
    pub resources: Option<&'a Resources>,
}

/// Everything needed to run one `job` task's container (before templates are
/// rendered): the definition's values, the task's overrides, Weir's defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedContainer {
    pub job: String,
    /// The definition's revision; the run records it.
    pub revision: String,
    pub image: String,
    pub command: Option<Vec<String>>,
    pub workdir: Option<String>,
    pub env: IndexMap<String, String>,
    pub secrets: IndexMap<String, String>,
    /// vCPUs and memory, with [`DEFAULT_VCPU`] and [`DEFAULT_MEMORY_BYTES`] where
    /// neither the task nor the definition says.
    pub request: Request,
    pub timeout: Option<Duration>,
    pub queue: String,
    pub retry: RetryStrategy,
    pub pull: PullPolicy,
}

/// Applies a task's overrides to its job definition.
pub fn resolve(job: &JobDefinition, overrides: &TaskOverrides<'_>) -> ResolvedContainer {
    let mut env = job.env.clone();
    if let Some(task_env) = overrides.env {
        env.extend(task_env.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let vcpus = overrides
        .resources
        .and_then(|r| r.vcpu)
        .or_else(|| job.resources.as_ref().and_then(|r| r.vcpu))
        .unwrap_or(DEFAULT_VCPU);
    let memory = overrides
        .resources
        .and_then(|r| r.memory)
        .or_else(|| job.resources.as_ref().and_then(|r| r.memory))
        .map_or(DEFAULT_MEMORY_BYTES, |m| m.0);
    ResolvedContainer {
        job: job.job.clone(),
        revision: job.revision(),
        image: job.image.clone(),
        command: overrides
            .command
            .map(<[String]>::to_vec)
            .or_else(|| job.command.clone()),
        workdir: job.workdir.clone(),
        env,
        secrets: job.secrets.clone(),
        request: Request::new(vcpus, memory),
        timeout: job.timeout.map(|t| t.0),
        queue: job.queue.clone().unwrap_or_else(|| DEFAULT_QUEUE.into()),
        retry: job.retry_strategy.clone(),
        pull: job.pull,
    }
}
