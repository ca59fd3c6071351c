//! One Batch job definition per distinct container spec, registered once and reused.
//!
//! A try's container becomes a [`JobDefSpec`]: image, vCPUs, memory, the team's job role
//! and the log group — what stays the same from one run to the next. Its content hash
//! names the definition (`<prefix><16 hex digits>`, e.g. `weir-3f2a…`) and is kept as
//! its `weir:content` tag, so the next try with the same spec finds the definition by
//! name (`DescribeJobDefinitions`, `ACTIVE`) instead of registering a revision per try.
//! The command, environment and timeout change per try and go into `SubmitJob`'s
//! overrides instead.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_batch::types::{
    ContainerProperties, JobDefinitionType, LogConfiguration, LogDriver, ResourceRequirement,
    ResourceType, RetryStrategy,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::client::{BACKEND, Clients, Failure};
use crate::container::ContainerLaunch;
use crate::error::{ComputeError, Result};

/// Memory a job gets when its container names none (Batch needs a number): 2 GiB.
const DEFAULT_MEMORY_MIB: u64 = 2048;
/// Batch's smallest memory for a container job.
const MIN_MEMORY_MIB: u64 = 4;

/// What a job definition fixes: the part of a container spec that is the same for every
/// try of a task.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct JobDefSpec {
    pub image: String,
    /// Batch's `VCPU` value: a whole number of vCPUs (EC2 compute environments take no
    /// fractions), at least 1.
    pub vcpus: u32,
    /// Batch's `MEMORY` value, in MiB.
    pub memory_mib: u64,
    pub job_role_arn: Option<String>,
    /// Set only when it is not Batch's default `/aws/batch/job`.
    pub log_group: Option<String>,
}

impl JobDefSpec {
    /// The definition a container needs.
    pub fn of(
        launch: &ContainerLaunch,
        job_role_arn: Option<&str>,
        log_group: Option<&str>,
    ) -> Self {
        let vcpus = launch.vcpu.map_or(1.0, |v| v.ceil().max(1.0));
        let memory_mib = launch
            .memory_bytes
            .map_or(DEFAULT_MEMORY_MIB, |b| b.div_ceil(1024 * 1024))
            .max(MIN_MEMORY_MIB);
        Self {
            image: launch.image.clone(),
            vcpus: if vcpus >= f64::from(u32::MAX) {
                u32::MAX
            } else {
                vcpus as u32
            },
            memory_mib,
            job_role_arn: job_role_arn.map(str::to_owned),
            log_group: log_group
                .filter(|g| *g != weir_core::platform::DEFAULT_BATCH_LOG_GROUP)
                .map(str::to_owned),
        }
    }

    /// The content hash: 16 hex digits of the SHA-256 of the spec's JSON.
    pub fn hash(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let digest = Sha256::digest(&json);
        hex::encode(&digest[..8])
    }

    /// The definition's name under `prefix`.
    pub fn name(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.hash())
    }

    fn properties(&self) -> ContainerProperties {
        let mut props = ContainerProperties::builder()
            .image(&self.image)
            .resource_requirements(
                ResourceRequirement::builder()
                    .r#type(ResourceType::Vcpu)
                    .value(self.vcpus.to_string())
                    .build(),
            )
            .resource_requirements(
                ResourceRequirement::builder()
                    .r#type(ResourceType::Memory)
                    .value(self.memory_mib.to_string())
                    .build(),
            )
            .privileged(false)
            .set_job_role_arn(self.job_role_arn.clone());
        if let Some(group) = &self.log_group {
            props = props.log_configuration(
                LogConfiguration::builder()
                    .log_driver(LogDriver::Awslogs)
                    .options("awslogs-group", group)
                    .build(),
            );
        }
        props.build()
    }
}

/// The ARNs of the definitions this backend found or registered, by name.
#[derive(Debug, Default)]
pub struct JobDefs {
    known: Mutex<HashMap<String, String>>,
}

impl JobDefs {
    /// The ARN of the active definition for `spec`, registering it when there is none.
    /// Errors: Batch refused the definition (a malformed image name) or did not answer.
    pub async fn ensure(
        &self,
        clients: &Clients,
        spec: &JobDefSpec,
        prefix: &str,
    ) -> Result<String> {
        let name = spec.name(prefix);
        if let Some(arn) = self.known.lock().ok().and_then(|k| k.get(&name).cloned()) {
            return Ok(arn);
        }
        let found = clients
            .batch
            .describe_job_definitions()
            .job_definition_name(&name)
            .status("ACTIVE")
            .send()
            .await
            .map_err(|e| Failure::of(&e).into_error("look up the job definition"))?;
        let existing = found
            .job_definitions()
            .iter()
            .filter(|d| d.job_definition_name() == Some(name.as_str()))
            .filter(|d| d.status().is_none_or(|s| s == "ACTIVE"))
            .max_by_key(|d| d.revision().unwrap_or(0))
            .and_then(|d| d.job_definition_arn())
            .map(str::to_owned);
        let arn = match existing {
            Some(arn) => arn,
            None => {
                let out = clients
                    .batch
                    .register_job_definition()
                    .job_definition_name(&name)
                    .r#type(JobDefinitionType::Container)
                    .container_properties(spec.properties())
                    // Weir decides about retries itself.
                    .retry_strategy(RetryStrategy::builder().attempts(1).build())
                    .tags("weir:content", spec.hash())
                    .tags("weir:managed", "true")
                    .send()
                    .await
                    .map_err(|e| Failure::of(&e).into_error("register the job definition"))?;
                out.job_definition_arn().map(str::to_owned).ok_or_else(|| {
                    ComputeError::Backend {
                        backend: BACKEND,
                        action: "register the job definition".into(),
                        detail: format!("AWS Batch gave no ARN for `{name}`"),
                    }
                })?
            }
        };
        if let Ok(mut known) = self.known.lock() {
            known.insert(name, arn.clone());
        }
        Ok(arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_follows_the_content() {
        let mut launch = ContainerLaunch::new("busybox:1").with_command(["true"]);
        launch.vcpu = Some(0.5);
        launch.memory_bytes = Some(512 * 1024 * 1024);
        let spec = JobDefSpec::of(&launch, None, Some("/aws/batch/job"));
        assert_eq!(spec.vcpus, 1, "rounded up to a whole vCPU");
        assert_eq!(spec.memory_mib, 512);
        assert_eq!(spec.log_group, None, "Batch's default is left unsaid");
        let name = spec.name("weir-");
        assert_eq!(name.len(), "weir-".len() + 16);
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        // The command is per try: it does not change the definition.
        let other_command = JobDefSpec::of(
            &launch.clone().with_command(["false"]),
            None,
            Some("/aws/batch/job"),
        );
        assert_eq!(other_command.name("weir-"), name);
        // Image, resources, role and log group do.
        let mut bigger = launch.clone();
        bigger.vcpu = Some(2.0);
        assert_ne!(JobDefSpec::of(&bigger, None, None).name("weir-"), name);
        let role = JobDefSpec::of(&launch, Some("arn:aws:iam::123456789012:role/r"), None);
        assert_ne!(role.name("weir-"), name);
        assert_ne!(
            JobDefSpec::of(&launch, None, Some("/weir/jobs")).name("weir-"),
            name
        );
        let bare = JobDefSpec::of(&ContainerLaunch::new("busybox:1"), None, None);
        assert_eq!((bare.vcpus, bare.memory_mib), (1, DEFAULT_MEMORY_MIB));
    }
}
