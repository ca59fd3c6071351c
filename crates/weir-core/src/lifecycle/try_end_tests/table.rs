//! The table: one row per branch of the decision.

use super::*;

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
            what: "a cleared instance has its retries again: try 4 after 3 earlier is attempt 1",
            given: Given {
                try_number: 4,
                earlier_tries: 3,
                ..Given::default()
            },
            try_state: UpForRetry,
            reason: Some("exit code 1"),
            update: Some(finish(UpForRetry, Some(at(111)))),
            log: vec![],
            moved_log: Some("try 4 failed (exit code 1); retrying at 2027-01-15T08:01:51Z".into()),
        },
        Row {
            what: "a cleared instance's retries run out too: try 6 after 3 earlier is attempt 3",
            given: Given {
                try_number: 6,
                earlier_tries: 3,
                ..Given::default()
            },
            try_state: Failed,
            reason: Some("exit code 1"),
            update: Some(finish(Failed, Option::None)),
            log: vec![],
            moved_log: Some("try 6 failed (exit code 1); no retries left".into()),
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
