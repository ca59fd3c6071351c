//! Weir: job definitions as the engine loaded them from the jobs folder
//! (`GET /jobDefinitions[/{job_definition_name}]`). Secrets appear by name only: the
//! environment variable and the name of the secret it is read from, never a value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use weir_core::job_def::{self, RetryAction};

/// A job definition: a team's reusable container template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobDefinition {
    /// Unique within its team; tasks say `job: NAME`.
    pub name: String,
    /// The team that owns it; only that team's DAGs may run it.
    pub team: String,
    /// The SHA-256 of the definition: every change is a new revision.
    pub revision: String,
    pub description: Option<String>,
    pub image: String,
    /// Replaces the image's entrypoint and command.
    pub command: Option<Vec<String>>,
    pub workdir: Option<String>,
    /// vCPUs a try asks for, when the definition says.
    pub vcpu: Option<f64>,
    /// Bytes of memory a try asks for, when the definition says.
    pub memory: Option<u64>,
    /// Environment variables set in the container.
    pub env: BTreeMap<String, String>,
    /// Environment variable → name of the team's secret it is read from (names only).
    pub secrets: BTreeMap<String, String>,
    /// Seconds a try may run, when limited.
    pub timeout: Option<u64>,
    /// The queue its tries wait in.
    pub queue: String,
    pub retry_strategy: RetryStrategy,
    /// When the image is pulled: `if_not_present`, `always` or `never`.
    pub pull: String,
    /// The commit (or deployment) that first brought this revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<crate::governance::Provenance>,
}

/// How failed tries are retried (AWS Batch's semantics).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RetryStrategy {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// Checked in order on each failure; the first rule that matches decides.
    pub evaluate_on_exit: Vec<ExitRule>,
}

/// One `evaluate_on_exit` rule: glob patterns on the exit code and reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExitRule {
    pub on_exit_code: Option<String>,
    pub on_reason: Option<String>,
    /// `retry` or `exit`.
    pub action: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobDefinitionCollection {
    pub job_definitions: Vec<JobDefinition>,
    pub total_entries: i64,
}

impl From<job_def::JobDefinition> for JobDefinition {
    fn from(j: job_def::JobDefinition) -> Self {
        let revision = j.revision();
        let pull = serde_json::to_value(j.pull)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        JobDefinition {
            name: j.job,
            team: j.team.to_string(),
            revision,
            description: j.description,
            image: j.image,
            command: j.command,
            workdir: j.workdir,
            vcpu: j.resources.as_ref().and_then(|r| r.vcpu),
            memory: j.resources.as_ref().and_then(|r| r.memory.map(|m| m.0)),
            env: j.env.into_iter().collect(),
            secrets: j.secrets.into_iter().collect(),
            timeout: j.timeout.map(|t| t.0.as_secs()),
            queue: j
                .queue
                .unwrap_or_else(|| weir_core::platform::DEFAULT_QUEUE.to_string()),
            retry_strategy: RetryStrategy {
                attempts: j.retry_strategy.attempts,
                evaluate_on_exit: j
                    .retry_strategy
                    .evaluate_on_exit
                    .into_iter()
                    .map(|r| ExitRule {
                        on_exit_code: r.on_exit_code,
                        on_reason: r.on_reason,
                        action: match r.action {
                            RetryAction::Retry => "retry",
                            RetryAction::Exit => "exit",
                        }
                        .to_string(),
                    })
                    .collect(),
            },
            pull,
            provenance: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_definition_as_the_api_shows_it() {
        let def: job_def::JobDefinition = serde_json::from_value(serde_json::json!({
            "job": "dbt", "team": "marketing", "image": "registry/dbt:1",
            "command": ["dbt", "build"], "resources": {"vcpu": 2.0, "memory": "1Gi"},
            "env": {"TARGET": "prod"}, "secrets": {"DB_PASSWORD": "redshift-password"},
            "timeout": "1h",
            "retry_strategy": {"attempts": 3, "evaluate_on_exit": [{"on_exit_code": "137", "action": "retry"}]}
        }))
        .expect("a valid definition");
        let revision = def.revision();
        let j = JobDefinition::from(def);
        assert_eq!((j.name.as_str(), j.team.as_str()), ("dbt", "marketing"));
        assert_eq!(j.revision, revision);
        assert_eq!((j.vcpu, j.memory), (Some(2.0), Some(1024 * 1024 * 1024)));
        assert_eq!(j.timeout, Some(3600));
        assert_eq!(j.queue, "default");
        assert_eq!(j.secrets["DB_PASSWORD"], "redshift-password");
        assert_eq!(j.retry_strategy.evaluate_on_exit[0].action, "retry");
        assert!(!j.pull.is_empty());
    }
}
