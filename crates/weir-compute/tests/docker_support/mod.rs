//! Helpers for the docker backend's tests: the real daemon, the locally built test image,
//! containers cleaned up per test even when a test fails, bounded polling.

#![allow(dead_code)] // each test file uses a different subset

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptions};
use weir_compute::{ContainerLaunch, DockerBackend, DockerConfig, LaunchSpec, PullPolicy};
use weir_core::ids::{DagId, RunId, TaskId, TryKey};

/// The image every test runs; built by `scripts/build-test-image.sh`.
pub const IMAGE: &str = "weir-test/busybox:latest";
/// Container name prefix of these tests.
pub const PREFIX: &str = "weirtest-";

/// The try key of task `task` in this test's own DAG `dag` (one DAG per test, so its
/// containers can be found and removed by the `weir.dag` label).
pub fn key(dag: &str, task: &str) -> TryKey {
    TryKey {
        dag_id: DagId::new(dag).expect("dag id"),
        run_id: RunId::new("manual__2026-11-27T12:00:00+00:00").expect("run id"),
        task_id: TaskId::new(task).expect("task id"),
        map_index: -1,
        try_number: 1,
    }
}

/// A backend on the local daemon with a short kill grace.
pub fn backend() -> DockerBackend {
    DockerBackend::new(config())
}

/// The configuration of [`backend`], to vary.
pub fn config() -> DockerConfig {
    DockerConfig {
        name_prefix: PREFIX.to_owned(),
        kill_grace: Duration::from_secs(1),
        ..DockerConfig::default()
    }
}

/// A spec running `script` with `sh -c` in the test image, never pulling.
pub fn spec(key: TryKey, script: &str, try_dir: &Path) -> LaunchSpec {
    let mut launch = ContainerLaunch::new(IMAGE).with_command(["sh", "-c", script]);
    launch.pull = PullPolicy::Never;
    launch.team = Some("testers".into());
    LaunchSpec::for_container(key, launch, try_dir)
}

/// A client for inspecting what the backend did.
pub async fn docker() -> Docker {
    Docker::connect_with_unix("/var/run/docker.sock", 30, bollard::API_DEFAULT_VERSION)
        .expect("docker socket")
        .negotiate_version()
        .await
        .expect("the Docker daemon answers (is it running?)")
}

/// Fails (never skips) when the test image is missing.
pub async fn require_image(docker: &Docker) {
    if let Err(e) = docker.inspect_image(IMAGE).await {
        panic!(
            "test image {IMAGE} is missing ({e}): run \
             `crates/weir-compute/scripts/build-test-image.sh` first"
        );
    }
}

/// Removes this test's containers when dropped, also when the test panics.
pub struct Cleanup {
    dag: String,
}

impl Cleanup {
    pub fn new(dag: &str) -> Self {
        let cleanup = Self {
            dag: dag.to_owned(),
        };
        cleanup.run(); // leftovers of an earlier, interrupted run
        cleanup
    }

    fn run(&self) {
        let filter = format!("label=weir.dag={}", self.dag);
        let Ok(out) = Command::new("docker")
            .args(["ps", "-aq", "--filter", &filter])
            .output()
        else {
            return;
        };
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if !ids.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f"])
                .args(&ids)
                .output();
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.run();
    }
}

/// The containers (any state) labelled as the try `key`.
pub async fn containers_of(docker: &Docker, key: &TryKey) -> usize {
    let filters = HashMap::from([("label".to_owned(), vec![format!("weir.try={}", key.slug())])]);
    let options = ListContainersOptions {
        all: true,
        filters: Some(filters),
        ..Default::default()
    };
    docker
        .list_containers(Some(options))
        .await
        .expect("list")
        .len()
}

/// Inspects a container; `None` when it does not exist.
pub async fn inspect(docker: &Docker, name: &str) -> Option<ContainerInspectResponse> {
    docker
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
        .ok()
}

/// Polls `cond` every 20 ms until it holds or `within` passes; returns whether it held.
pub async fn poll_until(within: Duration, mut cond: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn log_text(try_dir: &Path) -> String {
    std::fs::read_to_string(try_dir.join("log")).unwrap_or_default()
}

/// The log's lines without their timestamps; checks every line has a valid one.
pub fn log_lines(try_dir: &Path) -> Vec<String> {
    log_text(try_dir)
        .lines()
        .map(|line| {
            assert!(line.len() > 24, "short line {line:?}");
            let (stamp, text) = line.split_at(24);
            assert!(
                chrono::DateTime::parse_from_rfc3339(stamp).is_ok() && stamp.ends_with('Z'),
                "bad timestamp in {line:?}"
            );
            text.strip_prefix(' ')
                .expect("space after stamp")
                .to_owned()
        })
        .collect()
}
