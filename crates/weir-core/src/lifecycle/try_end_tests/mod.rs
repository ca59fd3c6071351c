//! Every branch of the end-of-try decision, as a table: what the backend reported and
//! what the engine knew, against what to write.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::json;

use super::outcome::XComRead;
use super::try_end::{self, InstanceMove, Placement, TryEnd, TryEndDecision};
use super::{EndReason, TaskInstanceUpdate, TryOutcome};
use crate::fair_share::RunningTry;
use crate::ids::{DagId, RunId, TaskId, TeamId, TryKey};
use crate::job_def::{ExitRule, RetryAction, RetryStrategy};
use crate::platform::{Price, Request};
use crate::retry::{RetryBackoff, RetryPolicy};
use crate::state::TaskState;

mod table;

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

fn key(try_number: u32) -> TryKey {
    TryKey {
        dag_id: DagId::new("etl").unwrap(),
        run_id: RunId::new("manual__1").unwrap(),
        task_id: TaskId::new("load").unwrap(),
        map_index: -1,
        try_number,
    }
}

/// What a case starts from: a failed-by-default try 1 of a current instance with two
/// retries 10 s apart, ended at second 100, decided at second 101.
struct Given {
    try_number: u32,
    exit_code: Option<i32>,
    reason: EndReason,
    xcom: XComRead,
    current: bool,
    retryable: bool,
    policy: Option<RetryPolicy>,
    strategy: Option<RetryStrategy>,
    never_started: u32,
    earlier_tries: u32,
    placed: bool,
}

impl Default for Given {
    fn default() -> Self {
        Given {
            try_number: 1,
            exit_code: Some(1),
            reason: EndReason::Exited,
            xcom: XComRead::None,
            current: true,
            retryable: true,
            policy: Some(RetryPolicy {
                retries: 2,
                retry_delay: Duration::from_secs(10),
                backoff: RetryBackoff::Fixed,
                max_retry_delay: None,
            }),
            strategy: None,
            never_started: 0,
            earlier_tries: 0,
            placed: false,
        }
    }
}

fn outcome(g: &Given) -> TryOutcome {
    TryOutcome {
        exit_code: g.exit_code,
        reason: g.reason.clone(),
        started_at: at(40),
        finished_at: at(100),
        cpu_seconds: 12.5,
        peak_rss_bytes: 1 << 20,
        xcom: g.xcom.clone(),
    }
}

fn running() -> RunningTry {
    RunningTry {
        queue: "default".into(),
        team: TeamId::new("data").unwrap(),
        environment: "local".into(),
        request: Request::new(2.0, 1 << 30),
    }
}

fn decide(g: &Given) -> TryEndDecision {
    let (key, outcome, running) = (key(g.try_number), outcome(g), running());
    let end = TryEnd {
        key: &key,
        outcome: &outcome,
        current: g.current,
        retryable: g.retryable,
        policy: g.policy,
        strategy: g.strategy.as_ref(),
        never_started: g.never_started,
        earlier_tries: g.earlier_tries,
        now: at(101),
        placement: g.placed.then_some(Placement {
            running: &running,
            price: Price {
                vcpu_hour: 0.5,
                gib_hour: 0.25,
            },
        }),
    };
    try_end::decide(&end)
}

fn finish(state: TaskState, retry_at: Option<DateTime<Utc>>) -> TaskInstanceUpdate {
    TaskInstanceUpdate::Finish {
        state,
        end_date: at(100),
        retry_at,
    }
}

fn strategy(attempts: u32, rules: &[(Option<&str>, Option<&str>, RetryAction)]) -> RetryStrategy {
    RetryStrategy {
        attempts,
        evaluate_on_exit: rules
            .iter()
            .map(|(code, reason, action)| ExitRule {
                on_exit_code: code.map(str::to_string),
                on_reason: reason.map(str::to_string),
                action: *action,
            })
            .collect(),
    }
}

#[test]
fn a_successful_xcom_is_stored() {
    let d = decide(&Given {
        exit_code: Some(0),
        xcom: XComRead::Value(json!({"rows": 3})),
        ..Given::default()
    });
    assert_eq!(d.try_state, TaskState::Success);
    assert_eq!(d.xcom, Some(json!({"rows": 3})));
    assert!(d.log.is_empty());
}

#[test]
fn an_unreadable_xcom_fails_the_try() {
    let d = decide(&Given {
        exit_code: Some(0),
        xcom: XComRead::Unreadable("permission denied".into()),
        ..Given::default()
    });
    assert_eq!(d.try_state, TaskState::UpForRetry);
    assert_eq!(
        d.reason.as_deref(),
        Some("cannot read the XCom file: permission denied")
    );
}

#[test]
fn a_placed_try_gets_a_usage_record_even_when_stale() {
    for current in [true, false] {
        let d = decide(&Given {
            placed: true,
            current,
            ..Given::default()
        });
        let usage = d.usage.expect("usage");
        assert_eq!(
            (
                usage.team.as_str(),
                usage.dag_id.as_str(),
                usage.queue.as_str()
            ),
            ("data", "etl", "default")
        );
        assert_eq!(usage.compute_environment, "local");
        assert_eq!(
            (usage.requested_vcpu, usage.requested_memory_bytes),
            (2.0, 1 << 30)
        );
        assert_eq!(usage.wall_seconds, 60.0);
        assert_eq!(
            (usage.cpu_seconds, usage.peak_memory_bytes),
            (Some(12.5), Some(1 << 20))
        );
        assert_eq!(usage.started_at, at(40));
        assert_eq!(usage.price.vcpu_hour, 0.5);
    }
}

#[test]
fn the_attempt_count_is_only_asked_for_a_failed_current_try() {
    let cases = [
        (Some(0), XComRead::None, true, false),
        (Some(1), XComRead::None, true, true),
        (Some(1), XComRead::None, false, false),
        (Some(0), XComRead::Malformed("x".into()), true, true),
    ];
    for (exit_code, xcom, current, want) in cases {
        let (key, outcome) = (
            key(1),
            outcome(&Given {
                exit_code,
                xcom,
                ..Given::default()
            }),
        );
        let end = TryEnd {
            key: &key,
            outcome: &outcome,
            current,
            retryable: true,
            policy: Option::None,
            strategy: Option::None,
            never_started: 0,
            earlier_tries: 0,
            now: at(101),
            placement: Option::None,
        };
        assert_eq!(
            end.counts_attempts(),
            want,
            "exit {exit_code:?}, current {current}"
        );
    }
}

#[test]
fn a_retry_delay_too_long_for_a_date_retries_at_once() {
    // As before: a delay chrono cannot add is no delay (it never happens with the
    // one-day cap of exponential backoff).
    let d = decide(&Given {
        policy: Some(RetryPolicy {
            retries: 1,
            retry_delay: Duration::MAX,
            backoff: RetryBackoff::Fixed,
            max_retry_delay: Option::None,
        }),
        ..Given::default()
    });
    assert_eq!(d.retry_at(), Some(at(101)));
    assert!(TimeDelta::from_std(Duration::MAX).is_err());
}

#[test]
fn a_try_that_never_started_goes_back_to_the_queue() {
    let d = try_end::never_started(&key(2), "no supervisor ran in its try folder", true);
    assert_eq!(d.try_state, TaskState::Scheduled);
    assert_eq!(
        d.reason.as_deref(),
        Some("never started: no supervisor ran in its try folder")
    );
    assert_eq!(
        d.instance,
        Some(InstanceMove {
            update: TaskInstanceUpdate::Requeue,
            log: Option::None,
        })
    );
    assert_eq!(
        d.log,
        [
            "try 2 never started: no supervisor ran in its try folder; the task goes back to the queue (no retry used)"
        ]
    );
    assert_eq!(d.retry_at(), Option::None);
    assert_eq!((d.xcom, d.usage), (Option::None, Option::None));
    let stale = try_end::never_started(&key(2), "gone", false);
    assert_eq!(stale.instance, Option::None);
    assert_eq!(stale.try_state, TaskState::Scheduled);
}
