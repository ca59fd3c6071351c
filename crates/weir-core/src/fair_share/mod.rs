//! The dispatcher's brain: which waiting tries start now and where, and why the others
//! wait. Pure and deterministic — the engine passes in the platform config, what runs,
//! what waits, each team's recent usage and the time, and performs the returned plan.
//!
//! # Rules
//! - **Capacity is never exceeded**: a try starts on an environment only if the vCPUs and
//!   memory asked by the tries running there, plus its own, fit in `max_vcpus` and
//!   `max_memory`. vCPUs are counted in thousandths, so fractions add up exactly.
//! - **Higher-priority queues first**; within a `fifo` queue, oldest first (enqueue time,
//!   then sequence number).
//! - **Fair share** (AWS Batch fair-share scheduling, with teams as share identifiers):
//!   within a `fair_share` queue the next try comes from the team with the lowest
//!   `(recent usage + running vCPUs) / weight`, oldest first within a team. Recent usage
//!   is the team's past vCPU-seconds in that queue, decayed with a half-life of the
//!   queue's `share_decay_seconds` ([`DecayedUsage`]), expressed as an average number of
//!   vCPUs (see [`DecayedUsage::recent_vcpus`]) so it adds to running vCPUs. Each pick
//!   counts against its team at once, so free slots interleave by weight in one round.
//! - **No overtaking**: a try that waits for room *holds* the environments it waits on;
//!   later tries of its queue, and tries of lower-priority queues, do not start there.
//!   Big tries are therefore not starved by a stream of small ones. Tries that wait for
//!   something else (their pool, an unavailable environment, the fair-share reservation)
//!   hold nothing.
//! - **Never fits**: a try asking more than any environment of its queue has (or whose
//!   queue has no environment for its kind, or does not exist) is returned in
//!   [`DispatchPlan::never_fit`] with the reason; the engine fails it at once.
//!
//! Usage counts vCPUs only (as AWS Batch's fair share does); memory is a hard limit, not
//! a share.

mod dispatch;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod simulation;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use dispatch::dispatch;

use crate::ids::TeamId;
use crate::platform::{FitError, PlatformConfig, Request, Workload};

/// `value` after `elapsed` of exponential decay with half-life `half_life`. A zero
/// half-life forgets everything at once.
pub fn decay(value: f64, elapsed: Duration, half_life: Duration) -> f64 {
    if half_life.is_zero() {
        return 0.0;
    }
    value * 0.5f64.powf(elapsed.as_secs_f64() / half_life.as_secs_f64())
}

/// A team's past usage in one queue: vCPU-seconds, decayed as of `at`. Stored as a value
/// and its timestamp, so it is brought forward only when read or added to.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct DecayedUsage {
    pub vcpu_seconds: f64,
    pub at: DateTime<Utc>,
}

impl DecayedUsage {
    pub fn zero(at: DateTime<Utc>) -> Self {
        DecayedUsage {
            vcpu_seconds: 0.0,
            at,
        }
    }

    /// The decayed vCPU-seconds as of `now` (a `now` before `at` counts as no time).
    pub fn value_at(&self, now: DateTime<Utc>, half_life: Duration) -> f64 {
        let elapsed = (now - self.at).to_std().unwrap_or(Duration::ZERO);
        decay(self.vcpu_seconds, elapsed, half_life)
    }

    /// Brought forward to `now`, plus `vcpu_seconds` more (a finished try's requested
    /// vCPUs × wall seconds).
    pub fn add(&self, now: DateTime<Utc>, half_life: Duration, vcpu_seconds: f64) -> Self {
        DecayedUsage {
            vcpu_seconds: self.value_at(now, half_life) + vcpu_seconds.max(0.0),
            at: now.max(self.at),
        }
    }

    /// The decayed usage as an average vCPU count: a team that kept `n` vCPUs busy for a
    /// long while converges to `n`. This is `ln 2 / half_life` × the decayed
    /// vCPU-seconds, the rate that an exponentially weighted integral stands for.
    pub fn recent_vcpus(&self, now: DateTime<Utc>, half_life: Duration) -> f64 {
        if half_life.is_zero() {
            return 0.0;
        }
        self.value_at(now, half_life) * std::f64::consts::LN_2 / half_life.as_secs_f64()
    }
}

/// A try waiting in a queue.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitingTry<K> {
    pub id: K,
    pub queue: String,
    pub team: TeamId,
    pub workload: Workload,
    pub request: Request,
    pub enqueued_at: DateTime<Utc>,
    /// Breaks ties between tries enqueued at the same instant (e.g. a store sequence).
    pub sequence: u64,
    /// Set by the engine when something outside the dispatcher holds the try back.
    pub hold: Option<Hold>,
}

/// Why the engine holds a try back, though it is in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Hold {
    /// The try's pool has no free slot.
    Pool { pool: String },
}

/// A try running (or starting) on an environment.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningTry {
    pub queue: String,
    pub team: TeamId,
    pub environment: String,
    pub request: Request,
}

/// A team's usage history in one queue.
#[derive(Debug, Clone, PartialEq)]
pub struct TeamUsage {
    pub queue: String,
    pub team: TeamId,
    pub usage: DecayedUsage,
}

/// Everything one dispatch round looks at.
#[derive(Debug, Clone)]
pub struct DispatchInput<'a, K> {
    pub now: DateTime<Utc>,
    pub config: &'a PlatformConfig,
    /// Environments that cannot take work now (e.g. the Docker daemon does not answer).
    pub unavailable: &'a [String],
    pub running: &'a [RunningTry],
    pub waiting: &'a [WaitingTry<K>],
    pub usage: &'a [TeamUsage],
}

/// What to do now, and what to show about the rest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DispatchPlan<K> {
    /// Tries to start, in the order they were placed.
    pub start: Vec<Placement<K>>,
    /// Every other try of a known queue, with its place in line and why it waits.
    pub waiting: Vec<Waiting<K>>,
    /// Tries that can never run where they are: fail them at once.
    pub never_fit: Vec<NeverFit<K>>,
    /// Per queue and team, after this plan: tries waiting and running.
    pub depth: Vec<QueueDepth>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Placement<K> {
    pub id: K,
    pub queue: String,
    pub team: TeamId,
    pub environment: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Waiting<K> {
    pub id: K,
    pub queue: String,
    pub team: TeamId,
    /// 1-based place in the queue's service order: 1 starts next.
    pub position: usize,
    pub reason: WaitReason<K>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NeverFit<K> {
    pub id: K,
    #[serde(serialize_with = "as_display")]
    pub error: FitError,
}

fn as_display<S: serde::Serializer>(e: &FitError, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(e)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueDepth {
    pub queue: String,
    pub team: TeamId,
    pub waiting: usize,
    pub running: usize,
}

/// Why a try waits.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WaitReason<K> {
    /// No environment of its queue has room for it now.
    Capacity,
    /// The room it would take is held for a waiting try of a higher-priority queue.
    Priority { queue: String, id: K },
    /// Fair share: the room is held for another team's try, whose turn comes first.
    Policy { turn_of: TeamId },
    /// Fair share: the rest of the room is kept for teams with nothing running
    /// (`compute_reservation`).
    Reserved,
    /// The engine holds it: its pool is full.
    Pool { pool: String },
    /// Every environment that could run it is unavailable.
    Unavailable { environments: Vec<String> },
}

impl<K> WaitReason<K> {
    /// The short code the CLI and API show: `capacity`, `policy`, `pool` or
    /// `unavailable`.
    pub fn code(&self) -> &'static str {
        match self {
            WaitReason::Capacity | WaitReason::Priority { .. } => "capacity",
            WaitReason::Policy { .. } | WaitReason::Reserved => "policy",
            WaitReason::Pool { .. } => "pool",
            WaitReason::Unavailable { .. } => "unavailable",
        }
    }
}

impl<K: fmt::Display> fmt::Display for WaitReason<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitReason::Capacity => f.write_str("waiting for capacity"),
            WaitReason::Priority { queue, id } => write!(
                f,
                "capacity is held for try {id} of higher-priority queue `{queue}`"
            ),
            WaitReason::Policy { turn_of } => {
                write!(f, "fair share: team `{turn_of}` is served first")
            }
            WaitReason::Reserved => f.write_str(
                "fair share: the free capacity is reserved for teams with nothing running",
            ),
            WaitReason::Pool { pool } => write!(f, "pool `{pool}` has no free slot"),
            WaitReason::Unavailable { environments } => write!(
                f,
                "compute environment {} not available",
                environments
                    .iter()
                    .map(|e| format!("`{e}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}
