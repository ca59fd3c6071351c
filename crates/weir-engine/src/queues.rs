//! What the dispatcher shows about its queues: depth per queue and team, and each
//! waiting try's place in line and reason to wait. Refreshed by every dispatch pass;
//! read by the API (`GET /api/v1/queues`) and the CLI (`weir queues`).

use serde::Serialize;
use weir_core::fair_share::QueueDepth;
use weir_core::platform::PlatformConfig;

/// One queue, as of the last dispatch pass.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueView {
    pub name: String,
    pub priority: i32,
    /// `fifo` or `fair_share`.
    pub scheduling_policy: String,
    pub compute_environments: Vec<String>,
    /// Waiting and running tries per team.
    pub depth: Vec<QueueDepth>,
    /// Waiting tries, in service order.
    pub waiting: Vec<WaitingView>,
}

/// A try that waits, with why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaitingView {
    pub dag_id: String,
    pub dag_run_id: String,
    pub task_id: String,
    pub map_index: i32,
    pub team: String,
    /// 1-based place in the queue's service order: 1 starts next.
    pub position: usize,
    /// `capacity`, `policy`, `pool` or `unavailable`.
    pub reason_code: String,
    /// The reason as a sentence.
    pub reason: String,
}

/// One compute environment, as of the last dispatch pass.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvironmentView {
    pub name: String,
    /// `process` or `docker`.
    pub backend: String,
    pub max_vcpus: f64,
    pub max_memory_bytes: u64,
    pub used_vcpus: f64,
    pub used_memory_bytes: u64,
    /// False when the backend does not answer (e.g. the Docker daemon is down).
    pub available: bool,
}

/// The views before any dispatch pass: every queue empty, nothing used.
pub fn empty_views(platform: &PlatformConfig) -> (Vec<QueueView>, Vec<EnvironmentView>) {
    let queues = platform
        .queues
        .iter()
        .map(|q| QueueView {
            name: q.name.clone(),
            priority: q.priority,
            scheduling_policy: policy_name(&q.scheduling_policy).to_string(),
            compute_environments: q.compute_environments.clone(),
            depth: Vec::new(),
            waiting: Vec::new(),
        })
        .collect();
    let environments = platform
        .compute_environments
        .iter()
        .map(|e| EnvironmentView {
            name: e.name.clone(),
            backend: e.backend.as_str().to_string(),
            max_vcpus: e.max_vcpus,
            max_memory_bytes: e.max_memory.0,
            used_vcpus: 0.0,
            used_memory_bytes: 0,
            available: true,
        })
        .collect();
    (queues, environments)
}

pub fn policy_name(p: &weir_core::platform::SchedulingPolicy) -> &'static str {
    match p {
        weir_core::platform::SchedulingPolicy::Fifo => "fifo",
        weir_core::platform::SchedulingPolicy::FairShare => "fair_share",
    }
}
