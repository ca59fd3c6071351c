//! Helpers for the aws-batch backend's tests: try keys and specs, a backend with short
//! timings, moto's server (`WEIR_TEST_MOTO_URL`; skipped with a reason when unset, a
//! failure when `WEIR_REQUIRE_MOTO` is set) with a Batch job queue of the test's own,
//! and the scripted fake of [`fake`].

#![allow(dead_code, clippy::unwrap_used)] // each test file uses a different subset

pub mod fake;
pub mod moto;

#[allow(unused_imports)] // the moto tests use it, the fake ones do not
pub use moto::unique;

use std::path::Path;
use std::time::{Duration, Instant};

use weir_compute::aws_batch::{SdkSettings, Timing};
use weir_compute::{AwsBatchBackend, AwsBatchConfig, ContainerLaunch, LaunchSpec};
use weir_core::ids::{DagId, RunId, TaskId, TryKey};
use weir_core::platform::AwsBatchSettings;

/// The compute environment name every test uses.
pub const ENV: &str = "batch";

pub fn key(dag: &str, task: &str) -> TryKey {
    TryKey {
        dag_id: DagId::new(dag).expect("dag id"),
        run_id: RunId::new("manual__2026-11-27T12:00:00+00:00").expect("run id"),
        task_id: TaskId::new(task).expect("task id"),
        map_index: -1,
        try_number: 1,
    }
}

/// A container try running `command` in environment [`ENV`], queue `default`.
pub fn spec(key: TryKey, command: &[&str], try_dir: &Path) -> LaunchSpec {
    let mut launch = ContainerLaunch::new("busybox:1.36").with_command(command.iter().copied());
    launch.team = Some("testers".into());
    launch.vcpu = Some(1.0);
    launch.memory_bytes = Some(256 << 20);
    let mut spec = LaunchSpec::for_container(key, launch, try_dir);
    spec.environment = Some(ENV.into());
    spec.queue = Some("default".into());
    spec
}

/// Settings for an endpoint and a Batch job queue.
pub fn settings(endpoint: &str, job_queue: &str) -> AwsBatchSettings {
    let mut s = AwsBatchSettings {
        region: Some("us-east-1".into()),
        endpoint: Some(endpoint.into()),
        name_prefix: Some("weirtest-".into()),
        ..AwsBatchSettings::default()
    };
    s.job_queues.insert("default".into(), job_queue.into());
    s.tags.insert("suite".into(), "weir-compute".into());
    s
}

/// A backend with short timings (100 ms polls), no SDK retries (the poller's own
/// backoff is what the tests observe), and a 5 s wait for logs.
pub fn config(endpoint: &str, job_queue: &str) -> AwsBatchConfig {
    AwsBatchConfig {
        environments: vec![(ENV.into(), settings(endpoint, job_queue))],
        poll_interval: Duration::from_millis(100),
        max_backoff: Duration::from_secs(5),
        gone_after_polls: 5,
        sdk: SdkSettings {
            max_attempts: 1,
            initial_backoff: Duration::from_millis(50),
            call_timeout: Duration::from_secs(10),
        },
        timing: Timing {
            log_interval: Duration::from_millis(100),
            stop_wait: Duration::from_secs(5),
            log_settle: Duration::from_secs(5),
        },
        log_max_bytes: None,
    }
}

pub fn backend(endpoint: &str, job_queue: &str) -> AwsBatchBackend {
    AwsBatchBackend::new(config(endpoint, job_queue))
}

/// Test credentials for the SDK's default chain (moto and the fake accept any).
pub fn credentials() {
    // SAFETY of the tests: set before any client is made, the same values everywhere.
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        // Edition 2024 makes set_var unsafe; the workspace forbids unsafe code, so the
        // tests ask for the variables instead.
        panic!("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any value; scripts/test does)");
    }
}

/// Polls `check` until it gives a value, or fails after `limit`.
pub async fn eventually<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The try's log.
pub fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("log")).unwrap_or_default()
}
