//! Every branch of the end-of-try decision, as a table: what the backend reported and
//! what the engine knew, against what to write.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::json;

use super::try_end::{self, InstanceMove, Placement, TryEnd, TryEndDecision, XComRead};
use super::{EndReason, TaskInstanceUpdate, TryOutcome};
use crate::fair_share::RunningTry;
use crate::ids::{DagId, RunId, TaskId, TryKey};
use crate::job_def::{ExitRule, RetryAction, RetryStrategy};
use crate::platform::{Price, Request};
use crate::retry::{RetryBackoff, RetryPolicy};
use crate::state::TaskState;

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
    }
}

fn running() -> RunningTry {
    RunningTry {
        queue: "default".into(),
        team: "data".into(),
        environment: "local".into(),
        request: Request::new(2.0, 1 << 30),
    }
}

fn decide(g: &Given) -> TryEndDecision {
    let (key, outcome, running) = (key(g.try_number), outcome(g), running());
    let end = TryEnd {
        key: &key,
        outcome: &outcome,
        xcom: g.xcom.clone(),
        current: g.current,
        retryable: g.retryable,
        policy: g.policy,
        strategy: g.strategy.as_ref(),
        never_started: g.never_started,
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

/// One row: a name, the case, the try's recorded state and reason, the instance's
/// update (`None`: recorded on the try only) and the log lines (always, then once moved).
struct Row {
    what: &'static str,
    given: Given,
    try_state: TaskState,
    reason: Option<&'static str>,
    update: Option<TaskInstanceUpdate>,
    log: Vec<String>,
    moved_log: Option<String>,
}

fn rows() -> Vec<Row> {
    use TaskState::*;
    let too_big = "the XCom written to $WEIR_XCOM is 2000000 bytes; the limit is 1048576 (1 MiB): pass large data through storage and its path through XCom";
    let malformed =
        "the XCom written to $WEIR_XCOM is not valid JSON: expected value at line 1 column 1";
    let exponential = RetryPolicy {
        retries: 5,
        retry_delay: Duration::from_secs(30),
        backoff: RetryBackoff::Exponential,
        max_retry_delay: Some(Duration::from_secs(100)),
    };
    vec![
        Row {
            what: "exit 0 succeeds",
            given: Given {
                exit_code: Some(0),
                ..Given::default()
            },
            try_state: Success,
            reason: Some("exit code 0"),
            update: Some(finish(Success, Option::None)),
            log: vec![],
            moved_log: Option::None,
        },
        Row {
            what: "a failure with retries left waits retry_delay from now",
            given: Given::default(),
            try_state: UpForRetry,
            reason: Some("exit code 1"),
            update: Some(finish(UpForRetry, Some(at(111)))),
            log: vec![],
            moved_log: Some("try 1 failed (exit code 1); retrying at 2027-01-15T08:01:51Z".into()),
        },
        Row {
            what: "the last try fails for good",
            given: Given {
                try_number: 3,
                ..Given::default()
            },
            try_state: Failed,
            reason: Some("exit code 1"),
            update: Some(finish(Failed, Option::None)),
            log: vec![],
            moved_log: Some("try 3 failed (exit code 1); no retries left".into()),
        },
        Row {
            what: "no retries at all",
            given: Given {
                policy: Some(RetryPolicy::default()),
                ..Given::default()
            },
            try_state: Failed,
            reason: Some("exit code 1"),
            update: Some(finish(Failed, Option::None)),
            log: vec![],
            moved_log: Some("try 1 failed (exit code 1); no retries left".into()),
        },
        Row {
            what: "a task gone from its version is not retried",
            given: Given {
                policy: Option::None,
                ..Given::default()
            },
            try_state: Failed,
            reason: Some("exit code 1"),
            update: Some(finish(Failed, Option::None)),
            log: vec![],
            moved_log: Some("try 1 failed (exit code 1); no retries left".into()),
        },
        Row {
            what: "exponential backoff doubles: try 3 waits 60 s",
            given: Given {
                try_number: 2,
                policy: Some(exponential),
                ..Given::default()
            },
            try_state: UpForRetry,
            reason: Some("exit code 1"),
            update: Some(finish(UpForRetry, Some(at(161)))),
            log: vec![],
            moved_log: Some("try 2 failed (exit code 1); retrying at 2027-01-15T08:02:41Z".into()),
        },
        Row {
            what: "max_retry_delay caps the wait: try 4 waits 100 s, not 120",
            given: Given {
                try_number: 3,
                policy: Some(exponential),
                ..Given::default()
            },
            try_state: UpForRetry,
            reason: Some("exit code 1"),
            update: Some(finish(UpForRetry, Some(at(201)))),
            log: vec![],
            moved_log: Some("try 3 failed (exit code 1); retrying at 2027-01-15T08:03:21Z".into()),
        },
        Row {
            what: "a timeout fails the try with its reason, and retries",
            given: Given {
                exit_code: Option::None,
                reason: EndReason::TimedOut,
                ..Given::default()
            },
            try_state: UpForRetry,
            reason: Some("timed out"),
            update: Some(finish(UpForRetry, Some(at(111)))),
            log: vec![],
            moved_log: Some("try 1 failed (timed out); retrying at 2027-01-15T08:01:51Z".into()),
        },
        Row {
            what: "a cancelled try of the current instance follows the retry policy",
            given: Given {
                exit_code: Option::None,
                reason: EndReason::Cancelled,
                try_number: 3,
                ..Given::default()
            },
            try_state: Failed,
            reason: Some("cancelled"),
            update: Some(finish(Failed, Option::None)),
            log: vec![],
            moved_log: Some("try 3 failed (cancelled); no retries left".into()),
        },
        Row {
            what: "a lost try says the server stopped",
            given: Given {
                exit_code: Option::None,
                reason: EndReason::Lost("no supervisor".into()),
                ..Given::default()
            },
            try_state: UpForRetry,
            reason: Some("lost: the server stopped"),
            update: Some(finish(UpForRetry, Some(at(111)))),
            log: vec![],
            moved_log: Some(
                "try 1 failed (lost: the server stopped); retrying at 2027-01-15T08:01:51Z".into(),
            ),
        },
        Row {
            what: "a try that could not launch for a reason retrying cannot fix fails",
            given: Given {
                exit_code: Option::None,
                reason: EndReason::LaunchFailed("sql tasks are not supported".into()),
                retryable: false,
                ..Given::default()
            },
            try_state: Failed,
            reason: Some("could not start: sql tasks are not supported"),
            update: Some(finish(Failed, Option::None)),
            log: vec![],
            moved_log: Some(
                "try 1 failed (could not start: sql tasks are not supported); no retries left"
                    .into(),
            ),
        },
        Row {
            what: "an XCom too big turns success into failure",
            given: Given {
                exit_code: Some(0),
                xcom: XComRead::TooBig {
                    bytes: 2_000_000,
                    limit: 1024 * 1024,
                },
                ..Given::default()
            },
            try_state: UpForRetry,
            reason: Some(too_big),
            update: Some(finish(UpForRetry, Some(at(111)))),
            log: vec![format!("error: {too_big}")],
            moved_log: Some(format!(
                "try 1 failed ({too_big}); retrying at 2027-01-15T08:01:51Z"
            )),
        },
        Row {
            what: "a malformed XCom turns success into failure",
            given: Given {
                exit_code: Some(0),
                xcom: XComRead::Malformed("expected value at line 1 column 1".into()),
                try_number: 3,
                ..Given::default()
            },
            try_state: Failed,
            reason: Some(malformed),
            update: Some(finish(Failed, Option::None)),
            log: vec![format!("error: {malformed}")],
            moved_log: Some(format!("try 3 failed ({malformed}); no retries left")),
        },
        Row {
            what: "an XCom of a failed try is not looked at",
            given: Given {
                xcom: XComRead::Malformed("x".into()),
                try_number: 3,
                ..Given::default()
            },
            try_state: Failed,
            reason: Some("exit code 1"),
            update: Some(finish(Failed, Option::None)),
            log: vec![],
            moved_log: Some("try 3 failed (exit code 1); no retries left".into()),
        },
        Row {
            what: "a stale try (the instance moved on) is recorded on the try only",
            given: Given {
                current: false,
                ..Given::default()
            },
            try_state: Failed,
            reason: Some("exit code 1"),
            update: Option::None,
            log: vec![],
            moved_log: Option::None,
        },
        Row {
            what: "a stale try that succeeded is recorded as such",
            given: Given {
                current: false,
                exit_code: Some(0),
                ..Given::default()
            },
            try_state: Success,
            reason: Some("exit code 0"),
            update: Option::None,
            log: vec![],
            moved_log: Option::None,
        },
        Row {
            what: "tries that never started are not attempts: try 4 after one is attempt 3",
            given: Given {
                try_number: 4,
                never_started: 1,
                ..Given::default()
            },
            try_state: Failed,
            reason: Some("exit code 1"),
            update: Some(finish(Failed, Option::None)),
            log: vec![],
            moved_log: Some("try 4 failed (exit code 1); no retries left".into()),
        },
        Row {
            what: "tries that never started are not attempts: try 3 after one is attempt 2",
            given: Given {
                try_number: 3,
                never_started: 1,
                ..Given::default()
            },
            try_state: UpForRetry,
            reason: Some("exit code 1"),
            update: Some(finish(UpForRetry, Some(at(111)))),
            log: vec![],
            moved_log: Some("try 3 failed (exit code 1); retrying at 2027-01-15T08:01:51Z".into()),
        },
        Row {
            what: "OOM with an `exit` rule on the reason fails at once",
            given: Given {
                exit_code: Some(137),
                reason: EndReason::OutOfMemory,
                strategy: Some(strategy(
                    3,
                    &[(Option::None, Some("OutOfMemory*"), RetryAction::Exit)],
                )),
                ..Given::default()
            },
            try_state: Failed,
            reason: Some("out of memory (OOM-killed)"),
            update: Some(finish(Failed, Option::None)),
            log: vec![],
            moved_log: Some("try 1 failed (out of memory (OOM-killed)); no retries left".into()),
        },
        Row {
            what: "OOM with a `retry` rule retries, with the task's delay",
            given: Given {
                exit_code: Some(137),
                reason: EndReason::OutOfMemory,
                strategy: Some(strategy(
                    3,
                    &[
                        (Option::None, Some("OutOfMemory*"), RetryAction::Retry),
                        (Some("*"), Option::None, RetryAction::Exit),
                    ],
                )),
                ..Given::default()
            },
            try_state: UpForRetry,
            reason: Some("out of memory (OOM-killed)"),
            update: Some(finish(UpForRetry, Some(at(111)))),
            log: vec![],
            moved_log: Some(
                "try 1 failed (out of memory (OOM-killed)); retrying at 2027-01-15T08:01:51Z"
                    .into(),
            ),
        },
        Row {
            what: "an `exit` rule on the exit code fails at once",
            given: Given {
                exit_code: Some(3),
                strategy: Some(strategy(5, &[(Some("3"), Option::None, RetryAction::Exit)])),
                ..Given::default()
            },
            try_state: Failed,
            reason: Some("exit code 3"),
            update: Some(finish(Failed, Option::None)),
            log: vec![],
            moved_log: Some("try 1 failed (exit code 3); no retries left".into()),
        },
        Row {
            what: "no rule matches: retried while the strategy's attempts last",
            given: Given {
                exit_code: Some(2),
                strategy: Some(strategy(2, &[(Some("3"), Option::None, RetryAction::Exit)])),
                ..Given::default()
            },
            try_state: UpForRetry,
            reason: Some("exit code 2"),
            update: Some(finish(UpForRetry, Some(at(111)))),
            log: vec![],
            moved_log: Some("try 1 failed (exit code 2); retrying at 2027-01-15T08:01:51Z".into()),
        },
        Row {
            what: "the strategy's attempts, not the task's retries, bound the tries",
            given: Given {
                try_number: 2,
                strategy: Some(strategy(2, &[])),
                ..Given::default()
            },
            try_state: Failed,
            reason: Some("exit code 1"),
            update: Some(finish(Failed, Option::None)),
            log: vec![],
            moved_log: Some("try 2 failed (exit code 1); no retries left".into()),
        },
        Row {
            what: "a timeout matches a rule on AWS Batch's wording",
            given: Given {
                exit_code: Option::None,
                reason: EndReason::TimedOut,
                strategy: Some(strategy(
                    3,
                    &[(
                        Option::None,
                        Some("Job attempt duration*"),
                        RetryAction::Exit,
                    )],
                )),
                ..Given::default()
            },
            try_state: Failed,
            reason: Some("timed out"),
            update: Some(finish(Failed, Option::None)),
            log: vec![],
            moved_log: Some("try 1 failed (timed out); no retries left".into()),
        },
    ]
}

#[test]
fn every_branch() {
    for row in rows() {
        let d = decide(&row.given);
        assert_eq!(d.try_state, row.try_state, "{}: try state", row.what);
        assert_eq!(d.reason.as_deref(), row.reason, "{}: reason", row.what);
        assert_eq!(d.log, row.log, "{}: log", row.what);
        let want = row.update.map(|update| InstanceMove {
            update,
            log: row.moved_log,
        });
        assert_eq!(d.instance, want, "{}: instance", row.what);
        let retry_at = match &d.instance {
            Some(InstanceMove {
                update: TaskInstanceUpdate::Finish { retry_at, .. },
                ..
            }) => *retry_at,
            _ => Option::None,
        };
        assert_eq!(d.retry_at(), retry_at, "{}: retry_at", row.what);
        assert_eq!(d.xcom, Option::None, "{}: no XCom stored", row.what);
        assert_eq!(d.usage, Option::None, "{}: not placed", row.what);
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
                ..Given::default()
            }),
        );
        let end = TryEnd {
            key: &key,
            outcome: &outcome,
            xcom,
            current,
            retryable: true,
            policy: Option::None,
            strategy: Option::None,
            never_started: 0,
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
