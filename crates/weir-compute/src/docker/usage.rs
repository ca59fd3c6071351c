//! Resource usage of a container try, from the daemon's stats stream.
//!
//! Method (best effort): while the container runs, Weir follows `GET /containers/{id}/stats`
//! (the daemon sends one sample about every second) and keeps
//! - CPU: the largest `cpu_stats.cpu_usage.total_usage` seen (cumulative CPU time of the
//!   container's cgroup, in nanoseconds), so up to the last second of CPU is missed;
//! - memory: on cgroup v1 the cgroup's own high-water mark `memory_stats.max_usage` (exact,
//!   though it counts page cache); on cgroup v2, which has no such field in the API, the
//!   largest sampled `usage` minus `inactive_file` (as `docker stats` shows it).
//!
//! The cgroup is gone once the container stopped, so a container that lives less than a
//! sample interval may report zero. Both numbers are for the whole container, not one
//! process as with the process backend.

use std::sync::{Arc, Mutex};

use bollard::Docker;
use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::StatsOptions;
use futures_util::StreamExt;
use tokio::task::JoinHandle;

/// What was measured so far.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Usage {
    pub cpu_seconds: f64,
    pub peak_memory_bytes: u64,
}

impl Usage {
    /// Folds one sample in.
    fn add(&mut self, sample: &ContainerStatsResponse) {
        let cpu_ns = sample
            .cpu_stats
            .as_ref()
            .and_then(|c| c.cpu_usage.as_ref())
            .and_then(|u| u.total_usage)
            .unwrap_or(0);
        self.cpu_seconds = self.cpu_seconds.max(cpu_ns as f64 / 1e9);
        if let Some(mem) = &sample.memory_stats {
            let inactive = mem
                .stats
                .as_ref()
                .and_then(|s| {
                    s.get("inactive_file")
                        .or_else(|| s.get("total_inactive_file"))
                })
                .copied()
                .unwrap_or(0);
            let peak = mem
                .max_usage
                .filter(|m| *m > 0)
                .unwrap_or_else(|| mem.usage.unwrap_or(0).saturating_sub(inactive));
            self.peak_memory_bytes = self.peak_memory_bytes.max(peak);
        }
    }
}

/// Samples a running container in the background until it stops (or the sampler is
/// dropped).
pub(crate) struct Sampler {
    usage: Arc<Mutex<Usage>>,
    task: JoinHandle<()>,
}

impl Sampler {
    pub(crate) fn start(docker: Docker, name: String) -> Self {
        let usage = Arc::new(Mutex::new(Usage::default()));
        let shared = Arc::clone(&usage);
        let task = tokio::spawn(async move {
            let options = StatsOptions {
                stream: true,
                one_shot: false,
            };
            let mut samples = docker.stats(&name, Some(options));
            // Any error (the container went away, the daemon too) ends the sampling:
            // usage is best effort and never holds up the try.
            while let Some(Ok(sample)) = samples.next().await {
                if let Ok(mut usage) = shared.lock() {
                    usage.add(&sample);
                }
            }
        });
        Self { usage, task }
    }

    /// Stops sampling; returns what was measured.
    pub(crate) fn finish(self) -> Usage {
        self.task.abort();
        self.usage.lock().map(|u| *u).unwrap_or_default()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerCpuStats, ContainerCpuUsage, ContainerMemoryStats};
    use std::collections::HashMap;

    fn sample(cpu_ns: u64, max: Option<u64>, usage: u64, inactive: u64) -> ContainerStatsResponse {
        ContainerStatsResponse {
            cpu_stats: Some(ContainerCpuStats {
                cpu_usage: Some(ContainerCpuUsage {
                    total_usage: Some(cpu_ns),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            memory_stats: Some(ContainerMemoryStats {
                usage: Some(usage),
                max_usage: max,
                stats: Some(HashMap::from([("inactive_file".to_owned(), inactive)])),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn samples_fold_into_maxima() {
        let mut u = Usage::default();
        u.add(&sample(1_500_000_000, None, 10_000, 2_000));
        u.add(&sample(2_000_000_000, None, 5_000, 0));
        assert_eq!(u.cpu_seconds, 2.0);
        assert_eq!(u.peak_memory_bytes, 8_000);
        // cgroup v1: the high-water mark wins.
        u.add(&sample(2_500_000_000, Some(50_000), 1_000, 0));
        assert_eq!(u.peak_memory_bytes, 50_000);
        u.add(&ContainerStatsResponse::default());
        assert_eq!(u.cpu_seconds, 2.5);
    }
}
