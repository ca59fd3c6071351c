//! What this host offers, for the platform a `weir.toml` leaves to the host: the
//! standalone default's compute environments are sized to this machine's CPUs and
//! memory, and get a Docker environment only when the daemon answers.
//!
//! Read once, by whoever builds the typed config (the binary, a test harness): the
//! engine is given the resolved [`PlatformConfig`] and never looks at the host itself.

use std::path::Path;
use std::time::Duration;

use weir_core::platform::PlatformConfig;

use crate::docker::{DockerBackend, DockerConfig};

/// How long start-up waits for the Docker daemon to answer: one that hangs must not
/// hold the server up.
const DOCKER_PING_TIMEOUT: Duration = Duration::from_millis(500);

/// The host's CPUs, memory, and whether its Docker daemon answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostResources {
    pub vcpus: f64,
    pub memory_bytes: u64,
    pub docker_up: bool,
}

impl HostResources {
    /// Looks at this host; `docker_socket` is the daemon's socket (None: the default).
    pub async fn probe(docker_socket: Option<&Path>) -> HostResources {
        let mut docker = DockerConfig::default();
        if let Some(socket) = docker_socket {
            docker.socket = socket.to_path_buf();
        }
        let docker = DockerBackend::new(docker);
        let docker_up = matches!(
            tokio::time::timeout(DOCKER_PING_TIMEOUT, docker.ping()).await,
            Ok(Ok(()))
        );
        HostResources {
            vcpus: host_vcpus(),
            memory_bytes: host_memory_bytes(),
            docker_up,
        }
    }
}

/// The platform in force: `given` (from `weir.toml`), with the standalone default's
/// compute environments and queues when it declares none; the standalone default when
/// there is no file.
pub fn effective_platform(given: Option<PlatformConfig>, host: HostResources) -> PlatformConfig {
    let defaults =
        PlatformConfig::standalone_default(host.vcpus, host.memory_bytes, host.docker_up);
    match given {
        Some(file) => file.or_defaults(defaults),
        None => defaults,
    }
}

/// This host's CPUs.
fn host_vcpus() -> f64 {
    std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
}

/// This host's memory (4 GiB when `/proc/meminfo` cannot say).
fn host_memory_bytes() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(4 << 30, |kb| kb * 1024)
}
