//! The `[compute_environments.aws_batch]` table of an `aws-batch` environment: where AWS
//! Batch is (region, endpoint), which Batch job queue each Weir queue submits to, the
//! IAM role each team's jobs run as, and extra tags; and the checks that say what is
//! wrong with it and what to write instead.
//!
//! ```toml
//! [[compute_environments]]
//! name = "batch"
//! backend = "aws-batch"
//! max_vcpus = 256
//! max_memory = "1Ti"
//!
//! [compute_environments.aws_batch]
//! region = "eu-west-1"
//! job_queues = { default = "weir-default", gpu = "arn:aws:batch:eu-west-1:123456789012:job-queue/gpu" }
//! job_roles = { marketing = "arn:aws:iam::123456789012:role/weir-marketing" }
//! tags = { cost-center = "data" }
//! ```

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::PlatformConfig;
use super::read::EntryPos;
use crate::spec::diagnostic::{Diagnostic, did_you_mean};

/// The log group AWS Batch writes job output to unless the job definition says otherwise.
pub const DEFAULT_BATCH_LOG_GROUP: &str = "/aws/batch/job";

/// Tag keys Weir sets on every job itself; the config may not set them.
const RESERVED_TAG_PREFIX: &str = "weir:";

/// How an `aws-batch` compute environment reaches AWS Batch.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwsBatchSettings {
    /// The AWS region (default: the SDK's, from the server's environment or profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Another endpoint than AWS's (a VPC endpoint, or a test server such as moto),
    /// used for both Batch and CloudWatch Logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The Batch job queue (name or ARN) each Weir queue feeding this environment
    /// submits to, by Weir queue name.
    #[serde(default)]
    pub job_queues: BTreeMap<String, String>,
    /// The IAM role ARN (`jobRoleArn`) each team's jobs run as, by team; a team not
    /// listed runs without a job role.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub job_roles: BTreeMap<String, String>,
    /// Tags added to every job, beside Weir's own `weir:*` ones.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The CloudWatch Logs group the jobs write to; default `/aws/batch/job`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
    /// Prefix of the names of jobs and job definitions Weir makes; default `weir-`.
    /// Distinct Weir installations sharing one AWS account need distinct prefixes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_prefix: Option<String>,
}

impl AwsBatchSettings {
    /// The log group jobs write to.
    pub fn log_group(&self) -> &str {
        self.log_group.as_deref().unwrap_or(DEFAULT_BATCH_LOG_GROUP)
    }

    /// The prefix of job and job definition names.
    pub fn name_prefix(&self) -> &str {
        self.name_prefix.as_deref().unwrap_or("weir-")
    }
}

/// The problems of environment `env`'s AWS Batch settings (or of their absence or
/// misplacement), each at the key it is about.
pub(super) fn validate(
    config: &PlatformConfig,
    env: &super::ComputeEnvironment,
    p: &EntryPos,
    diags: &mut Vec<Diagnostic>,
) {
    let name = &env.name;
    let Some(settings) = &env.aws_batch else {
        if env.backend == super::Backend::AwsBatch {
            diags.push(
                Diagnostic::error(
                    p.key("backend"),
                    format!("compute environment `{name}` runs on AWS Batch but has no `[compute_environments.aws_batch]` table"),
                )
                .with_help("add one under this entry with `job_queues = { default = \"<Batch job queue>\" }`, naming the Batch job queue each Weir queue submits to"),
            );
        }
        return;
    };
    let at = p.key("aws_batch");
    if env.backend != super::Backend::AwsBatch {
        diags.push(
            Diagnostic::error(
                at,
                format!(
                    "compute environment `{name}` has an `aws_batch` table but its backend is `{}`",
                    env.backend
                ),
            )
            .with_help("write `backend = \"aws-batch\"`, or remove the `aws_batch` table"),
        );
        return;
    }
    let error = |message: String, help: &str| {
        Diagnostic::error(at, format!("compute environment `{name}`: {message}")).with_help(help)
    };
    if let Some(region) = &settings.region
        && !valid_region(region)
    {
        diags.push(error(
            format!("`aws_batch.region` `{region}` is not an AWS region name"),
            "write a region such as \"eu-west-1\", or leave it out to use the server's",
        ));
    }
    if let Some(endpoint) = &settings.endpoint
        && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
    {
        diags.push(error(
            format!("`aws_batch.endpoint` `{endpoint}` is not an http(s) URL"),
            "write e.g. \"https://batch.eu-west-1.amazonaws.com\", or leave it out",
        ));
    }
    if let Some(prefix) = &settings.name_prefix
        && (prefix.is_empty()
            || prefix.len() > 40
            || !prefix.starts_with(|c: char| c.is_ascii_alphanumeric())
            || !prefix.chars().all(batch_name_char))
    {
        diags.push(error(
            format!("`aws_batch.name_prefix` `{prefix}` is not usable in a Batch job name"),
            "use 1 to 40 letters, digits, `-` or `_`, starting with a letter or digit, e.g. \"weir-prod-\"",
        ));
    }
    if let Some(group) = &settings.log_group
        && (group.is_empty() || group.len() > 512)
    {
        diags.push(error(
            "`aws_batch.log_group` must be a CloudWatch Logs group name".into(),
            "leave it out for AWS Batch's own `/aws/batch/job`",
        ));
    }

    // Every queue feeding this environment must say where its jobs go.
    let queue_names: Vec<&str> = config.queues.iter().map(|q| q.name.as_str()).collect();
    for q in &config.queues {
        if q.compute_environments.contains(name) && !settings.job_queues.contains_key(&q.name) {
            diags.push(error(
                format!(
                    "queue `{}` feeds this environment, but `aws_batch.job_queues` names no Batch job queue for it",
                    q.name
                ),
                &format!(
                    "add `{} = \"<Batch job queue name or ARN>\"` to `job_queues`",
                    q.name
                ),
            ));
        }
    }
    for (weir_queue, batch_queue) in &settings.job_queues {
        if batch_queue.trim().is_empty() {
            diags.push(error(
                format!("`aws_batch.job_queues.{weir_queue}` is empty"),
                "write the Batch job queue's name or ARN",
            ));
        }
        if !queue_names.contains(&weir_queue.as_str()) {
            let help = match did_you_mean(weir_queue, queue_names.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "the keys of `job_queues` are Weir queue names from `[[queues]]`".into(),
            };
            diags.push(error(
                format!("`aws_batch.job_queues` names an unknown queue `{weir_queue}`"),
                &help,
            ));
        }
    }

    let team_names: Vec<&str> = config.teams.iter().map(|t| t.name.as_str()).collect();
    for (team, role) in &settings.job_roles {
        if !valid_role_arn(role) {
            diags.push(error(
                format!("`aws_batch.job_roles.{team}` `{role}` is not an IAM role ARN"),
                "write e.g. \"arn:aws:iam::123456789012:role/weir-marketing\"",
            ));
        }
        if !team_names.contains(&team.as_str()) {
            let help = match did_you_mean(team, team_names.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "the keys of `job_roles` are team names from `[[teams]]`".into(),
            };
            diags.push(error(
                format!("`aws_batch.job_roles` names an unknown team `{team}`"),
                &help,
            ));
        }
    }

    for (key, value) in &settings.tags {
        if key.starts_with(RESERVED_TAG_PREFIX) || key.starts_with("aws:") {
            diags.push(error(
                format!("tag `{key}` uses a reserved prefix (`weir:` is Weir's own, `aws:` AWS's)"),
                "choose another key",
            ));
        } else if key.is_empty() || key.chars().count() > 128 || !key.chars().all(tag_char) {
            diags.push(error(
                format!("tag key `{key}` is not a valid AWS tag key"),
                "use 1 to 128 letters, digits, spaces or `_ . : / = + - @`",
            ));
        }
        if value.chars().count() > 256 || !value.chars().all(tag_char) {
            diags.push(error(
                format!("the value of tag `{key}` is not a valid AWS tag value"),
                "use at most 256 letters, digits, spaces or `_ . : / = + - @`",
            ));
        }
    }
    // AWS allows 50 tags on a job; Weir sets 7 of its own.
    if settings.tags.len() > 43 {
        diags.push(error(
            format!(
                "`aws_batch.tags` holds {} tags; a Batch job takes at most 50, 7 of them Weir's",
                settings.tags.len()
            ),
            "keep at most 43 tags",
        ));
    }
}

/// A character AWS accepts in a Batch job or job definition name.
pub fn batch_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// A character AWS accepts in a tag key or value.
pub fn tag_char(c: char) -> bool {
    c.is_alphanumeric() || " _.:/=+-@".contains(c)
}

fn valid_region(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 32
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn valid_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, "iam", "", account, resource]
        if !partition.is_empty()
            && account.len() == 12
            && account.chars().all(|c| c.is_ascii_digit())
            && resource.strip_prefix("role/").is_some_and(|r| !r.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_and_regions() {
        assert!(valid_role_arn("arn:aws:iam::123456789012:role/weir"));
        assert!(valid_role_arn("arn:aws:iam::123456789012:role/path/weir"));
        assert!(!valid_role_arn("arn:aws:iam::123:role/weir"));
        assert!(!valid_role_arn("arn:aws:iam::123456789012:user/weir"));
        assert!(!valid_role_arn("weir"));
        assert!(valid_region("eu-west-1"));
        assert!(!valid_region("EU West"));
    }
}
