//! What `SubmitJob` is given for one try: the job's name (found again after a restart),
//! its tags, its command, environment and timeout; and the launch marker in the try
//! folder that makes adoption exact.
//!
//! - **Name**: `<prefix><slug>` ([`TryKey::slug`]) with every character Batch refuses
//!   replaced by `_`, cut to Batch's 128 characters (a long one keeps a hash of the
//!   whole so two tries never share a name).
//! - **Tags**: `weir:team`, `weir:dag`, `weir:run`, `weir:task`, `weir:map_index`,
//!   `weir:try_number` and `weir:try` (the slug, which identifies the try exactly), plus
//!   the environment's own tags.
//! - **Timeout**: `attemptDurationSeconds`, at least Batch's minimum of 60 s; a shorter
//!   timeout is enforced by Weir's watcher (`TerminateJob`).
//! - **Marker**: `try_dir/batch_job` (JSON: environment, job queue, job name, and the job
//!   id once Batch accepted the job; the *names* of secret variables, never values).
//!   Created exclusively before `SubmitJob`, so a try can never be submitted twice.

use std::collections::{BTreeMap, HashMap};
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use aws_sdk_batch::types::{ContainerOverrides, JobTimeout, KeyValuePair, RetryStrategy};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use weir_core::ids::TryKey;
use weir_core::platform::{AwsBatchSettings, batch_name_char, tag_char};

use crate::backend::LaunchSpec;
use crate::container::ContainerLaunch;
use crate::layout;

/// The launch marker's file name in the try folder.
pub const MARKER: &str = "batch_job";
/// Batch's longest job name.
const MAX_NAME: usize = 128;
/// Batch's shortest `attemptDurationSeconds`.
pub const MIN_TIMEOUT_SECONDS: i32 = 60;

/// The launch marker: what a restarted engine needs to find the job again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub environment: String,
    pub job_queue: String,
    pub job_name: String,
    /// Set once Batch accepted the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The names of the variables whose values the log masks (read back from Batch).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_env: Vec<String>,
    /// The try's own timeout, in milliseconds (Weir enforces it beyond Batch's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

impl Marker {
    /// Creates the marker exclusively: `AlreadyExists` when the try was launched before.
    pub fn create(&self, dir: &Path) -> io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dir.join(MARKER))?;
        file.write_all(&serde_json::to_vec(self).map_err(io::Error::other)?)
    }

    /// Replaces the marker (to add the job id), atomically.
    pub fn update(&self, dir: &Path) -> io::Result<()> {
        layout::write_atomic(
            dir,
            MARKER,
            &serde_json::to_vec(self).map_err(io::Error::other)?,
        )
    }

    /// The marker of a try folder; None when there is none.
    pub fn read(dir: &Path) -> io::Result<Option<Marker>> {
        match std::fs::read(dir.join(MARKER)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn timeout(&self) -> Option<Duration> {
        self.timeout_ms.map(Duration::from_millis)
    }
}

/// The Batch job name of a try.
pub fn job_name(prefix: &str, key: &TryKey) -> String {
    let whole: String = format!("{prefix}{}", key.slug())
        .chars()
        .map(|c| if batch_name_char(c) { c } else { '_' })
        .collect();
    let mut name = if whole.len() <= MAX_NAME {
        whole
    } else {
        let digest = hex::encode(&Sha256::digest(whole.as_bytes())[..8]);
        format!("{}-{digest}", &whole[..MAX_NAME - 17])
    };
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        name.replace_range(..1, "w");
    }
    name
}

/// A tag value as AWS accepts it.
fn tag_value(text: &str) -> String {
    text.chars()
        .map(|c| if tag_char(c) { c } else { '_' })
        .take(256)
        .collect()
}

/// The tags of a try's job: Weir's own and the environment's.
pub fn tags(
    key: &TryKey,
    launch: &ContainerLaunch,
    settings: &AwsBatchSettings,
) -> HashMap<String, String> {
    let mut tags: BTreeMap<String, String> = settings.tags.clone().into_iter().collect();
    let ours = [
        ("weir:team", launch.team.clone().unwrap_or_default()),
        ("weir:dag", key.dag_id.to_string()),
        ("weir:run", key.run_id.to_string()),
        ("weir:task", key.task_id.to_string()),
        ("weir:map_index", key.map_index.to_string()),
        ("weir:try_number", key.try_number.to_string()),
        ("weir:try", key.slug()),
    ];
    for (k, v) in ours {
        tags.insert(k.to_owned(), tag_value(&v));
    }
    tags.into_iter().collect()
}

/// `attemptDurationSeconds` for a timeout: whole seconds, rounded up, at least 60.
pub fn attempt_seconds(timeout: Duration) -> i32 {
    let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
    i32::try_from(secs)
        .unwrap_or(i32::MAX)
        .max(MIN_TIMEOUT_SECONDS)
}

/// The per-try overrides: the command and the environment (secrets included: Batch
/// passes them to the container as variables; they are never logged by Weir).
pub fn overrides(spec: &LaunchSpec, launch: &ContainerLaunch) -> ContainerOverrides {
    let env: Vec<KeyValuePair> = spec
        .env
        .iter()
        .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
        .collect();
    ContainerOverrides::builder()
        .set_command(launch.command.clone())
        .set_environment(Some(env))
        .build()
}

/// The `SubmitJob` call of a try (not sent).
pub fn request(
    client: &aws_sdk_batch::Client,
    spec: &LaunchSpec,
    launch: &ContainerLaunch,
    settings: &AwsBatchSettings,
    marker: &Marker,
    job_definition: &str,
) -> aws_sdk_batch::operation::submit_job::builders::SubmitJobFluentBuilder {
    let mut call = client
        .submit_job()
        .job_name(&marker.job_name)
        .job_queue(&marker.job_queue)
        .job_definition(job_definition)
        .container_overrides(overrides(spec, launch))
        .retry_strategy(RetryStrategy::builder().attempts(1).build())
        .set_tags(Some(tags(&spec.key, launch, settings)));
    if let Some(timeout) = spec.timeout {
        call = call.timeout(
            JobTimeout::builder()
                .attempt_duration_seconds(attempt_seconds(timeout))
                .build(),
        );
    }
    call
}

/// Why a container cannot run on AWS Batch at all (the task's fault: its try fails with
/// `LaunchFailed`), or None.
pub fn refusal(launch: &ContainerLaunch) -> Option<String> {
    if launch.is_privileged() {
        return Some(format!(
            "the aws-batch backend runs no containers with {}",
            launch.privileges().join(", ")
        ));
    }
    if launch.entrypoint.is_some() {
        return Some(
            "AWS Batch cannot replace an image's entrypoint: put the program in `command`, or build an image with that entrypoint".into(),
        );
    }
    if launch.workdir.is_some() {
        return Some(
            "AWS Batch cannot set a container's working directory: `cd` in the command, or set WORKDIR in the image".into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::ids::{DagId, RunId, TaskId};

    fn key(dag: &str) -> TryKey {
        TryKey {
            dag_id: DagId::new(dag).expect("id"),
            run_id: RunId::new("scheduled__2026-01-01T00:00:00+00:00").expect("id"),
            task_id: TaskId::new("load").expect("id"),
            map_index: -1,
            try_number: 2,
        }
    }

    #[test]
    fn job_names_follow_batch_rules() {
        let name = job_name("weir-", &key("etl"));
        assert_eq!(
            name,
            "weir-etl_scheduled__2026-01-01T00_00_00_00_00_load_-1_2"
        );
        let long = job_name("weir-", &key(&"d".repeat(120)));
        assert_eq!(long.len(), 128);
        assert!(long.chars().all(batch_name_char));
        assert_ne!(long, job_name("weir-", &key(&"d".repeat(121))));
    }

    #[test]
    fn tags_and_timeouts() {
        let mut launch = ContainerLaunch::new("busybox");
        launch.team = Some("marketing".into());
        let mut settings = AwsBatchSettings::default();
        settings.tags.insert("cost-center".into(), "data".into());
        let tags = tags(&key("etl"), &launch, &settings);
        assert_eq!(tags.len(), 8);
        assert_eq!(tags["weir:team"], "marketing");
        assert_eq!(tags["weir:run"], "scheduled__2026-01-01T00:00:00+00:00");
        assert_eq!(tags["weir:map_index"], "-1");
        assert_eq!(tags["cost-center"], "data");
        assert_eq!(attempt_seconds(Duration::from_millis(1500)), 60);
        assert_eq!(attempt_seconds(Duration::from_millis(90_001)), 91);
    }

    #[test]
    fn what_batch_cannot_run_is_refused_with_a_way_out() {
        assert_eq!(refusal(&ContainerLaunch::new("busybox")), None);
        let mut entry = ContainerLaunch::new("busybox");
        entry.entrypoint = Some(vec!["sh".into()]);
        assert!(refusal(&entry).is_some_and(|w| w.contains("entrypoint")));
        let mut privileged = ContainerLaunch::new("busybox");
        privileged.privileged = true;
        assert!(refusal(&privileged).is_some_and(|w| w.contains("privileged mode")));
    }

    #[test]
    fn the_marker_is_created_once() {
        let dir = tempfile::tempdir().expect("dir");
        let mut marker = Marker {
            environment: "batch".into(),
            job_queue: "q".into(),
            job_name: "n".into(),
            job_id: None,
            secret_env: vec!["TOKEN".into()],
            timeout_ms: Some(1500),
        };
        assert_eq!(Marker::read(dir.path()).expect("read"), None);
        marker.create(dir.path()).expect("create");
        let again = marker.create(dir.path()).expect_err("exclusive");
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        marker.job_id = Some("job-1".into());
        marker.update(dir.path()).expect("update");
        let read = Marker::read(dir.path()).expect("read").expect("marker");
        assert_eq!(read, marker);
        assert_eq!(read.timeout(), Some(Duration::from_millis(1500)));
    }
}
