//! The end of a try, decided: from what the backend reported, what the XCom file held,
//! whether the instance is still on this try, the retry policy (or a job definition's
//! `evaluate_on_exit`) and `now`, to what the engine writes — the try's recorded state
//! and reason, the XCom, the usage record, the instance's [`TaskInstanceUpdate::Finish`]
//! with its retry time, and the lines for the try's log.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use crate::cost::UsageRecord;
use crate::fair_share::RunningTry;
use crate::ids::TryKey;
use crate::job_def::{RetryDecision, RetryStrategy};
use crate::platform::Price;
use crate::retry::RetryPolicy;
use crate::state::TaskState;

use super::outcome::{EndReason, TryOutcome, XComRead};
use super::update::TaskInstanceUpdate;

/// Where a try ran and at what price, for its usage record (tries the dispatcher placed).
#[derive(Debug, Clone, PartialEq)]
pub struct Placement<'a> {
    pub running: &'a RunningTry,
    /// The compute environment's price when the try ran.
    pub price: Price,
}

/// Everything the end of a try is decided from.
#[derive(Debug, Clone)]
pub struct TryEnd<'a> {
    pub key: &'a TryKey,
    /// What the backend reported, with the XCom it read when the task succeeded.
    pub outcome: &'a TryOutcome,
    /// Whether the task instance is still on this try (running, with its try number). A
    /// cleared or marked instance has moved on: the result is recorded on the try only.
    pub current: bool,
    /// `false` for a failure retrying cannot fix (a task kind this server refuses).
    pub retryable: bool,
    /// The task's retry policy; `None` when the task is gone from its DAG version (no
    /// retries, no delay).
    pub policy: Option<RetryPolicy>,
    /// A job definition's retry strategy: when set, it decides whether to retry
    /// (AWS Batch's `attempts` and `evaluate_on_exit`); `policy` still sets the delay.
    pub strategy: Option<&'a RetryStrategy>,
    /// Earlier tries of the instance that never started (closed so by recovery): they
    /// used no retry. Only asked for when [`TryEnd::counts_attempts`] says so.
    pub never_started: u32,
    /// Tries made before the instance was last cleared: a clear gives the task its
    /// retries again, so they count against none of them (0 for an instance never
    /// cleared after a try).
    pub earlier_tries: u32,
    pub now: DateTime<Utc>,
    pub placement: Option<Placement<'a>>,
}

/// What to write when a try ends.
#[derive(Debug, Clone, PartialEq)]
pub struct TryEndDecision {
    /// The state recorded on the try.
    pub try_state: TaskState,
    /// Why it ended, in words (`exit code 0` for a success).
    pub reason: Option<String>,
    /// The XCom to store as `return_value`.
    pub xcom: Option<Value>,
    pub usage: Option<UsageRecord>,
    /// Lines for the try's log, whatever happens to the instance.
    pub log: Vec<String>,
    /// How the instance moves on; `None` when it is no longer on this try.
    pub instance: Option<InstanceMove>,
}

/// The instance's side of a try's end.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceMove {
    pub update: TaskInstanceUpdate,
    /// The line for the try's log once the update applied.
    pub log: Option<String>,
}

impl TryEndDecision {
    /// When the instance is tried again, if it is.
    pub fn retry_at(&self) -> Option<DateTime<Utc>> {
        match &self.instance {
            Some(InstanceMove {
                update: TaskInstanceUpdate::Finish { retry_at, .. },
                ..
            }) => *retry_at,
            _ => None,
        }
    }
}

/// Whether a try succeeded once its XCom is taken into account, and why not.
struct Verdict {
    succeeded: bool,
    reason: Option<String>,
    xcom: Option<Value>,
    log: Vec<String>,
}

fn verdict(outcome: &TryOutcome) -> Verdict {
    let reason = match &outcome.reason {
        EndReason::Exited => outcome.exit_code.map(|c| format!("exit code {c}")),
        EndReason::Lost(_) => Some("lost: the server stopped".to_string()),
        other => Some(other.to_string()),
    };
    let mut v = Verdict {
        succeeded: outcome.succeeded(),
        reason,
        xcom: None,
        log: Vec::new(),
    };
    if !v.succeeded {
        return v;
    }
    // A task that wrote an unusable XCom failed: its downstream would read nothing.
    let xcom = &outcome.xcom;
    match (xcom, xcom.problem()) {
        (XComRead::Value(value), _) => v.xcom = Some(value.clone()),
        (_, Some(why)) => {
            v.log.push(format!("error: {why}"));
            v.reason = Some(why);
            v.succeeded = false;
        }
        (_, None) => {}
    }
    v
}

impl TryEnd<'_> {
    /// Whether the decision depends on [`TryEnd::never_started`]: a failed try of the
    /// current instance, whose attempt number decides the retry. Lets the engine skip
    /// counting on the common path.
    pub fn counts_attempts(&self) -> bool {
        self.current && !verdict(self.outcome).succeeded
    }
}

/// Decides the end of a try. See the module docs.
pub fn decide(end: &TryEnd<'_>) -> TryEndDecision {
    let Verdict {
        succeeded,
        reason,
        xcom,
        log,
    } = verdict(end.outcome);
    let try_number = end.key.try_number;
    // Tries that never started used no retry.
    let attempt = if succeeded || !end.current {
        try_number
    } else {
        try_number
            .saturating_sub(end.earlier_tries)
            .saturating_sub(end.never_started)
            .max(1)
    };
    let may_retry = end.retryable
        && !matches!(
            end.outcome.reason,
            EndReason::Failed {
                retryable: false,
                ..
            }
        )
        && end.current
        && match end.strategy {
            Some(strategy) => matches!(
                strategy.decide(
                    attempt,
                    end.outcome.exit_code,
                    &batch_reason(&end.outcome.reason)
                ),
                RetryDecision::Retry
            ),
            None => end.policy.is_some_and(|p| p.can_retry_after(attempt)),
        };
    let (state, retry_at) = if succeeded {
        (TaskState::Success, None)
    } else if may_retry {
        let delay = end
            .policy
            .map(|p| p.delay_before_try(attempt + 1))
            .unwrap_or_default();
        let at = end.now + chrono::TimeDelta::from_std(delay).unwrap_or_default();
        (TaskState::UpForRetry, Some(at))
    } else {
        (TaskState::Failed, None)
    };
    let said = reason.as_deref().unwrap_or("failed");
    let instance = end.current.then(|| InstanceMove {
        update: TaskInstanceUpdate::Finish {
            state,
            end_date: end.outcome.finished_at,
            retry_at,
        },
        log: match (state, retry_at) {
            (TaskState::UpForRetry, Some(at)) => Some(format!(
                "try {try_number} failed ({said}); retrying at {}",
                at.to_rfc3339_opts(SecondsFormat::Secs, true)
            )),
            (TaskState::Failed, _) => {
                Some(format!("try {try_number} failed ({said}); no retries left"))
            }
            _ => None,
        },
    });
    TryEndDecision {
        try_state: state,
        reason,
        xcom,
        usage: end
            .placement
            .as_ref()
            .map(|p| usage_record(end.key, p, end.outcome)),
        log,
        instance,
    }
}

/// The end of a try its backend proved never started (found after a restart): closed
/// with state `scheduled`, its instance (if still on it) queued again with no retry
/// used, and nothing measured.
pub fn never_started(key: &TryKey, why: &str, current: bool) -> TryEndDecision {
    let reason = format!("never started: {why}");
    TryEndDecision {
        try_state: TaskState::Scheduled,
        log: vec![format!(
            "try {} {reason}; the task goes back to the queue (no retry used)",
            key.try_number
        )],
        reason: Some(reason),
        xcom: None,
        usage: None,
        instance: current.then_some(InstanceMove {
            update: TaskInstanceUpdate::Requeue,
            log: None,
        }),
    }
}

/// The reason as AWS Batch words it, for `evaluate_on_exit` patterns such as
/// `OutOfMemory*`.
pub fn batch_reason(reason: &EndReason) -> String {
    match reason {
        EndReason::OutOfMemory => "OutOfMemoryError: Container killed due to memory usage".into(),
        EndReason::TimedOut => "Job attempt duration exceeded timeout".into(),
        // The backend's own words, unprefixed: the AWS Batch backend reports a reclaimed
        // Spot host as `Lost("Host EC2 (instance …) terminated.")`, which `Host EC2*`
        // matches, as `onStatusReason` does on AWS.
        EndReason::Lost(why) => why.clone(),
        other => other.to_string(),
    }
}

/// What the try used, priced at its environment's rates (for cost per team).
fn usage_record(key: &TryKey, placement: &Placement<'_>, outcome: &TryOutcome) -> UsageRecord {
    let running = placement.running;
    UsageRecord {
        team: running.team.clone(),
        dag_id: key.dag_id.clone(),
        queue: running.queue.clone(),
        compute_environment: running.environment.clone(),
        requested_vcpu: running.request.vcpus,
        requested_memory_bytes: running.request.memory_bytes,
        wall_seconds: outcome.wall_seconds(),
        cpu_seconds: Some(outcome.cpu_seconds),
        peak_memory_bytes: Some(outcome.peak_rss_bytes),
        started_at: outcome.started_at,
        price: placement.price,
    }
}
