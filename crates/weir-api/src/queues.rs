//! Weir: job queues and compute environments as the dispatcher last saw them
//! (`GET /queues`, `GET /queues/{name}`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every queue and compute environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QueueCollection {
    pub queues: Vec<Queue>,
    pub compute_environments: Vec<ComputeEnvironment>,
}

/// A job queue: where runnable tries wait, how deep it is per team, and who waits why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Queue {
    pub name: String,
    /// Higher-priority queues are served first.
    pub priority: i32,
    /// `fifo` or `fair_share`.
    pub scheduling_policy: String,
    /// The compute environments the queue feeds, in order of preference.
    pub compute_environments: Vec<String>,
    /// Waiting and running tries per team.
    pub depth: Vec<QueueDepth>,
    /// The waiting tries, in service order.
    pub waiting: Vec<WaitingTry>,
}

/// How many of a team's tries wait in, and run from, one queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QueueDepth {
    pub queue: String,
    pub team: String,
    pub waiting: u64,
    pub running: u64,
}

/// A try that waits in a queue, with its place in line and why it waits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WaitingTry {
    pub dag_id: String,
    pub dag_run_id: String,
    pub task_id: String,
    pub map_index: i32,
    pub team: String,
    /// 1-based place in the queue's service order: 1 starts next.
    pub position: u64,
    /// `capacity`, `policy`, `pool` or `unavailable`.
    pub reason_code: String,
    /// The reason as a sentence.
    pub reason: String,
}

/// A compute environment: its capacity and how much of it is in use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ComputeEnvironment {
    pub name: String,
    /// `process`, `docker` or `aws-batch`.
    pub backend: String,
    pub max_vcpus: f64,
    pub max_memory_bytes: u64,
    pub used_vcpus: f64,
    pub used_memory_bytes: u64,
    /// False when the backend does not answer (e.g. the Docker daemon is down).
    pub available: bool,
}
