//! Schedule tests with exact instants, including the 2026 DST changes in Europe/Berlin
//! (spring forward 2026-03-29 02:00 -> 03:00, fall back 2026-10-25 03:00 -> 02:00) and
//! America/New_York (2026-03-08 and 2026-11-01).

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use super::*;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("bad test instant {s}: {e}"))
        .with_timezone(&Utc)
}

fn sched(s: &str) -> Schedule {
    parse_schedule(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

const BERLIN: Tz = chrono_tz::Europe::Berlin;
const NEW_YORK: Tz = chrono_tz::America::New_York;
const UTC: Tz = chrono_tz::UTC;

/// The next `n` fire times after `from`.
fn fires(s: &Schedule, tz: Tz, from: &str, n: usize) -> Vec<String> {
    let mut t = utc(from);
    let mut out = Vec::new();
    for _ in 0..n {
        t = next_fire_after(s, tz, t).expect("fires");
        out.push(t.format("%Y-%m-%dT%H:%MZ").to_string());
    }
    out
}

#[test]
fn presets_expand_to_airflow_expressions() {
    let cases = [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@quarterly", "0 0 1 */3 *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
    ];
    for (preset, expanded) in cases {
        let Schedule::Cron(c) = sched(preset) else {
            panic!("{preset} is not cron")
        };
        assert_eq!(c.expr(), preset);
        assert_eq!(c.expanded(), expanded);
    }
    assert_eq!(sched("@once"), Schedule::Once);
    assert_eq!(sched("  0 3 * * *  ").to_string(), "0 3 * * *");
    assert_eq!(
        fires(&sched("@weekly"), UTC, "2026-01-01T00:00:00Z", 2),
        ["2026-01-04T00:00Z", "2026-01-11T00:00Z"]
    );
}

#[test]
fn bad_cron_messages_name_the_problem() {
    let msg = |s: &str| parse_schedule(s).expect_err("should fail").to_string();
    assert_eq!(
        msg("0 3 * *"),
        "`0 3 * *` is not a valid cron expression: expected 5 fields (minute hour \
         day-of-month month day-of-week), found 4"
    );
    assert!(msg("0 0 3 * * *").contains("found 6; Weir's cron has no seconds field"));
    assert_eq!(
        msg("61 3 * * *"),
        "`61 3 * * *` is not a valid cron expression: the minute field `61` is invalid \
         (number out of bounds); minute values are 0-59"
    );
    assert!(msg("0 25 * * *").contains("the hour field `25` is invalid"));
    assert!(msg("0 3 * 13 *").contains("the month field `13`"));
    assert!(msg("0 3 * * FUNDAY").contains("the day-of-week field `FUNDAY`"));
    assert!(msg("*/0 * * * *").contains("step cannot be zero"));
    assert_eq!(
        msg("0 0 30 2 *"),
        "`0 0 30 2 *` never fires: no date matches its day-of-month, month and day-of-week \
         together; check those fields"
    );
    assert!(msg("").contains("the schedule is empty"));
    assert_eq!(
        msg("@dayly"),
        "`@dayly` is not a schedule preset; did you mean `@daily`?"
    );
    assert!(msg("@fortnightly").contains("use one of @once, @hourly"));
    // Leap days are fine: they fire every four years.
    assert!(parse_schedule("0 0 29 2 *").is_ok());
}

#[test]
fn timezones_and_suggestions() {
    assert_eq!(parse_timezone("Europe/Berlin"), Ok(BERLIN));
    assert_eq!(parse_timezone("UTC"), Ok(UTC));
    let msg = |s: &str| parse_timezone(s).expect_err("should fail").to_string();
    assert_eq!(
        msg("Europe/Berln"),
        "`Europe/Berln` is not a known time zone; did you mean `Europe/Berlin`?"
    );
    assert!(msg("europe/berlin").contains("did you mean `Europe/Berlin`?"));
    assert!(msg("Berlin").contains("did you mean `Europe/Berlin`?"));
    assert!(msg("America/NewYork").contains("did you mean `America/New_York`?"));
    assert!(msg("Mars/Olympus").contains("use an IANA time zone name"));
}

#[test]
fn daily_berlin_keeps_local_time_across_both_changes() {
    let s = sched("0 3 * * *");
    // 03:00 CET = 02:00Z until the spring change, 03:00 CEST = 01:00Z after it.
    assert_eq!(
        fires(&s, BERLIN, "2026-03-27T12:00:00Z", 3),
        [
            "2026-03-28T02:00Z",
            "2026-03-29T01:00Z",
            "2026-03-30T01:00Z"
        ]
    );
    assert_eq!(
        fires(&s, BERLIN, "2026-10-23T12:00:00Z", 3),
        [
            "2026-10-24T01:00Z",
            "2026-10-25T02:00Z",
            "2026-10-26T02:00Z"
        ]
    );
    // The intervals spanning the changes are 23 and 25 hours long.
    let spring = data_interval_for(&s, BERLIN, utc("2026-03-28T02:00:00Z"));
    assert_eq!(spring.end, utc("2026-03-29T01:00:00Z"));
    let fall = data_interval_for(&s, BERLIN, utc("2026-10-24T01:00:00Z"));
    assert_eq!(fall.end, utc("2026-10-25T02:00:00Z"));
}

#[test]
fn berlin_fixed_time_in_the_gap_fires_after_it_and_once_in_the_fold() {
    let s = sched("30 2 * * *");
    // 02:30 does not exist on 2026-03-29: it fires at 03:00 CEST (01:00Z) instead.
    assert_eq!(
        fires(&s, BERLIN, "2026-03-27T12:00:00Z", 3),
        [
            "2026-03-28T01:30Z",
            "2026-03-29T01:00Z",
            "2026-03-30T00:30Z"
        ]
    );
    // 02:30 happens twice on 2026-10-25: it fires once, at 02:30 CEST (00:30Z).
    assert_eq!(
        fires(&s, BERLIN, "2026-10-23T12:00:00Z", 3),
        [
            "2026-10-24T00:30Z",
            "2026-10-25T00:30Z",
            "2026-10-26T01:30Z"
        ]
    );
    // The moved fire time is still a fire time for alignment and data intervals.
    let moved = utc("2026-03-29T01:00:00Z");
    let runs = intervals_between(&s, BERLIN, moved, moved).runs;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].logical_date, moved);
    assert_eq!(runs[0].data_interval_end, utc("2026-03-30T00:30:00Z"));
    let manual = infer_manual_data_interval(&s, BERLIN, utc("2026-03-29T12:00:00Z"));
    assert_eq!(manual.start, utc("2026-03-28T01:30:00Z"));
    assert_eq!(manual.end, moved);
}

#[test]
fn berlin_hourly_fires_every_real_hour() {
    let s = sched("@hourly");
    // 01:00 CET (00:00Z), then 03:00 CEST (01:00Z): no 02:00 that day.
    assert_eq!(
        fires(&s, BERLIN, "2026-03-28T23:30:00Z", 3),
        [
            "2026-03-29T00:00Z",
            "2026-03-29T01:00Z",
            "2026-03-29T02:00Z"
        ]
    );
    // 02:00 CEST (00:00Z) and 02:00 CET (01:00Z): both instants of the repeated hour.
    assert_eq!(
        fires(&s, BERLIN, "2026-10-24T23:30:00Z", 3),
        [
            "2026-10-25T00:00Z",
            "2026-10-25T01:00Z",
            "2026-10-25T02:00Z"
        ]
    );
}

#[test]
fn new_york_changes() {
    let daily = sched("0 3 * * *");
    // 03:00 EST = 08:00Z, 03:00 EDT = 07:00Z.
    assert_eq!(
        fires(&daily, NEW_YORK, "2026-03-06T12:00:00Z", 3),
        [
            "2026-03-07T08:00Z",
            "2026-03-08T07:00Z",
            "2026-03-09T07:00Z"
        ]
    );
    assert_eq!(
        fires(&daily, NEW_YORK, "2026-10-30T12:00:00Z", 3),
        [
            "2026-10-31T07:00Z",
            "2026-11-01T08:00Z",
            "2026-11-02T08:00Z"
        ]
    );
    // 02:30 does not exist on 2026-03-08: 03:00 EDT (07:00Z).
    assert_eq!(
        fires(&sched("30 2 * * *"), NEW_YORK, "2026-03-07T12:00:00Z", 2),
        ["2026-03-08T07:00Z", "2026-03-09T06:30Z"]
    );
    // 01:30 happens twice on 2026-11-01: once, at 01:30 EDT (05:30Z).
    assert_eq!(
        fires(&sched("30 1 * * *"), NEW_YORK, "2026-10-31T12:00:00Z", 2),
        ["2026-11-01T05:30Z", "2026-11-02T06:30Z"]
    );
}

#[test]
fn data_intervals() {
    let daily = sched("@daily");
    let ld = utc("2026-01-01T00:00:00Z");
    let di = data_interval_for(&daily, UTC, ld);
    assert_eq!((di.start, di.end), (ld, utc("2026-01-02T00:00:00Z")));
    for s in [
        Schedule::Once,
        Schedule::Manual,
        Schedule::datasets(["s3://x"]),
    ] {
        let di = data_interval_for(&s, UTC, ld);
        assert_eq!((di.start, di.end), (ld, ld));
        assert_eq!(infer_manual_data_interval(&s, UTC, ld), di);
    }
    // A daily DAG triggered at 01:00 on the 25th processes the 24th.
    let manual = infer_manual_data_interval(&daily, UTC, utc("2026-01-25T01:00:00Z"));
    assert_eq!(manual.start, utc("2026-01-24T00:00:00Z"));
    assert_eq!(manual.end, utc("2026-01-25T00:00:00Z"));
}

fn start_2026() -> Option<DateTime<Utc>> {
    Some(utc("2026-01-01T00:00:00Z"))
}

#[test]
fn first_run_with_catchup_starts_at_the_start_date() {
    let s = sched("@daily");
    let now = utc("2026-03-10T10:00:00Z");
    let info = next_dagrun_info(&s, UTC, start_2026(), None, true, None, now).expect("a run");
    assert_eq!(info.logical_date, utc("2026-01-01T00:00:00Z"));
    assert_eq!(info.data_interval_start, info.logical_date);
    assert_eq!(info.data_interval_end, utc("2026-01-02T00:00:00Z"));
    assert_eq!(info.run_after, info.data_interval_end);
    // A start date off the grid is aligned up to the next fire time.
    let odd = Some(utc("2026-01-01T05:00:00Z"));
    let info = next_dagrun_info(&s, UTC, odd, None, true, None, now).expect("a run");
    assert_eq!(info.logical_date, utc("2026-01-02T00:00:00Z"));
    // Following runs chain on the last data interval.
    let last = Some(utc("2026-01-05T00:00:00Z"));
    let info = next_dagrun_info(&s, UTC, start_2026(), None, true, last, now).expect("a run");
    assert_eq!(info.logical_date, utc("2026-01-05T00:00:00Z"));
}

#[test]
fn without_catchup_only_the_latest_complete_interval_runs() {
    let s = sched("@daily");
    let now = utc("2026-03-10T10:00:00Z");
    let info = next_dagrun_info(&s, UTC, start_2026(), None, false, None, now).expect("a run");
    assert_eq!(info.logical_date, utc("2026-03-09T00:00:00Z"));
    assert_eq!(info.run_after, utc("2026-03-10T00:00:00Z"));
    // Even after a long pause with an old last run.
    let old = Some(utc("2026-01-05T00:00:00Z"));
    let info = next_dagrun_info(&s, UTC, start_2026(), None, false, old, now).expect("a run");
    assert_eq!(info.logical_date, utc("2026-03-09T00:00:00Z"));
    // Once it ran, the next one is due in the future.
    let ran = Some(utc("2026-03-10T00:00:00Z"));
    let info = next_dagrun_info(&s, UTC, start_2026(), None, false, ran, now).expect("a run");
    assert_eq!(info.logical_date, utc("2026-03-10T00:00:00Z"));
    assert_eq!(info.run_after, utc("2026-03-11T00:00:00Z"));
    // `now` exactly on a boundary: the interval ending now is complete.
    let info = next_dagrun_info(
        &s,
        UTC,
        start_2026(),
        None,
        false,
        None,
        utc("2026-03-10T00:00:00Z"),
    )
    .expect("a run");
    assert_eq!(info.logical_date, utc("2026-03-09T00:00:00Z"));
    // A start date in the future wins.
    let later = Some(utc("2026-06-01T00:00:00Z"));
    let info = next_dagrun_info(&s, UTC, later, None, false, None, now).expect("a run");
    assert_eq!(info.logical_date, utc("2026-06-01T00:00:00Z"));
}

#[test]
fn end_date_bounds_the_logical_date() {
    let s = sched("@daily");
    let now = utc("2026-03-10T10:00:00Z");
    let end = Some(utc("2026-01-03T00:00:00Z"));
    let last = Some(utc("2026-01-03T00:00:00Z"));
    let info = next_dagrun_info(&s, UTC, start_2026(), end, true, last, now).expect("a run");
    assert_eq!(info.logical_date, utc("2026-01-03T00:00:00Z"));
    let after = Some(utc("2026-01-04T00:00:00Z"));
    assert_eq!(
        next_dagrun_info(&s, UTC, start_2026(), end, true, after, now),
        None
    );
    let list = catchup_intervals(&s, UTC, start_2026(), end, now, None);
    let dates: Vec<_> = list
        .runs
        .iter()
        .map(|r| r.logical_date.date_naive())
        .collect();
    assert_eq!(
        dates,
        [1, 2, 3].map(|d| NaiveDate::from_ymd_opt(2026, 1, d).expect("date"))
    );
    assert!(!list.truncated);
}

#[test]
fn catchup_lists_every_missed_interval() {
    let s = sched("0 3 * * *");
    let start = Some(utc("2026-03-27T00:00:00Z"));
    let now = utc("2026-03-31T00:00:00Z");
    let list = catchup_intervals(&s, BERLIN, start, None, now, None);
    let got: Vec<_> = list
        .runs
        .iter()
        .map(|r| (r.logical_date, r.run_after))
        .collect();
    assert_eq!(
        got,
        [
            (utc("2026-03-27T02:00:00Z"), utc("2026-03-28T02:00:00Z")),
            (utc("2026-03-28T02:00:00Z"), utc("2026-03-29T01:00:00Z")),
            (utc("2026-03-29T01:00:00Z"), utc("2026-03-30T01:00:00Z")),
        ]
    );
    // From a last run on: only what came after it.
    let last = Some(utc("2026-03-29T01:00:00Z"));
    let list = catchup_intervals(&s, BERLIN, start, None, now, last);
    assert_eq!(list.runs.len(), 1);
    assert_eq!(list.runs[0].logical_date, utc("2026-03-29T01:00:00Z"));
    // Nothing due yet.
    let early = utc("2026-03-27T05:00:00Z");
    assert!(
        catchup_intervals(&s, BERLIN, start, None, early, None)
            .runs
            .is_empty()
    );
}

#[test]
fn catchup_is_capped() {
    let s = sched("* * * * *");
    let now = utc("2026-02-01T00:00:00Z");
    let list = catchup_intervals(&s, UTC, start_2026(), None, now, None);
    assert_eq!(list.runs.len(), MAX_INTERVALS);
    assert!(list.truncated);
    let last = list.runs[MAX_INTERVALS - 1];
    assert_eq!(last.logical_date, utc("2026-01-07T22:39:00Z"));
    // Asking again from the last one continues where it stopped.
    let more = catchup_intervals(
        &s,
        UTC,
        start_2026(),
        None,
        now,
        Some(last.data_interval_end),
    );
    assert_eq!(more.runs[0].logical_date, last.data_interval_end);
}

#[test]
fn once_runs_once_at_the_start_date() {
    let s = sched("@once");
    let now = utc("2026-03-10T10:00:00Z");
    for catchup in [true, false] {
        let info = next_dagrun_info(&s, UTC, start_2026(), None, catchup, None, now).expect("run");
        assert_eq!(info.logical_date, utc("2026-01-01T00:00:00Z"));
        assert_eq!(info.data_interval_end, info.logical_date);
        assert_eq!(info.run_after, info.logical_date);
    }
    let ran = Some(utc("2026-01-01T00:00:00Z"));
    assert_eq!(
        next_dagrun_info(&s, UTC, start_2026(), None, true, ran, now),
        None
    );
    assert_eq!(next_dagrun_info(&s, UTC, None, None, true, None, now), None);
    let before_start = Some(utc("2025-12-01T00:00:00Z"));
    assert_eq!(
        next_dagrun_info(&s, UTC, start_2026(), before_start, true, None, now),
        None
    );
    assert_eq!(
        catchup_intervals(&s, UTC, start_2026(), None, now, None)
            .runs
            .len(),
        1
    );
    assert_eq!(next_fire_after(&s, UTC, now), None);
}

#[test]
fn datasets_and_manual_are_never_scheduled() {
    let now = utc("2026-03-10T10:00:00Z");
    for s in [Schedule::datasets(["s3://lake/a"]), Schedule::Manual] {
        assert!(!s.is_time_based());
        assert_eq!(
            next_dagrun_info(&s, UTC, start_2026(), None, true, None, now),
            None
        );
        assert!(
            catchup_intervals(&s, UTC, start_2026(), None, now, None)
                .runs
                .is_empty()
        );
        assert!(
            intervals_between(&s, UTC, utc("2026-01-01T00:00:00Z"), now)
                .runs
                .is_empty()
        );
    }
}

#[test]
fn backfill_intervals_cover_logical_dates_in_the_range() {
    let s = sched("0 6 * * 1-5");
    let runs = intervals_between(
        &s,
        UTC,
        utc("2026-01-02T00:00:00Z"),
        utc("2026-01-06T06:00:00Z"),
    )
    .runs;
    let got: Vec<_> = runs.iter().map(|r| r.logical_date.to_rfc3339()).collect();
    assert_eq!(
        got,
        [
            "2026-01-02T06:00:00+00:00",
            "2026-01-05T06:00:00+00:00",
            "2026-01-06T06:00:00+00:00"
        ]
    );
    assert_eq!(runs[0].data_interval_end, utc("2026-01-05T06:00:00Z"));
    let once = intervals_between(
        &Schedule::Once,
        UTC,
        utc("2026-01-02T00:00:00Z"),
        utc("2026-01-03T00:00:00Z"),
    );
    assert_eq!(once.runs.len(), 1);
    assert!(
        intervals_between(
            &s,
            UTC,
            utc("2026-01-03T00:00:00Z"),
            utc("2026-01-02T00:00:00Z")
        )
        .runs
        .is_empty()
    );
}

#[test]
fn sub_second_instants_neither_skip_nor_repeat() {
    let s = sched("@hourly");
    let t = utc("2026-01-01T00:59:59.500Z");
    assert_eq!(
        next_fire_after(&s, UTC, t),
        Some(utc("2026-01-01T01:00:00Z"))
    );
    let t = utc("2026-01-01T01:00:00.250Z");
    assert_eq!(
        next_fire_after(&s, UTC, t),
        Some(utc("2026-01-01T02:00:00Z"))
    );
}

#[test]
fn describe_and_local_times() {
    assert_eq!(describe(&sched("0 3 * * *")), "At 03:00.");
    assert!(describe(&sched("@daily")).ends_with("(@daily)"));
    assert_eq!(describe(&Schedule::Once), "Once, at the start date.");
    assert!(describe(&Schedule::datasets(["s3://a"])).contains("s3://a"));
    let midnight = NaiveDate::from_ymd_opt(2026, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("date");
    assert_eq!(local_to_utc(midnight, BERLIN), utc("2025-12-31T23:00:00Z"));
    let in_gap = NaiveDate::from_ymd_opt(2026, 3, 29)
        .and_then(|d| d.and_hms_opt(2, 30, 0))
        .expect("date");
    assert_eq!(local_to_utc(in_gap, BERLIN), utc("2026-03-29T01:00:00Z"));
    let twice = NaiveDate::from_ymd_opt(2026, 10, 25)
        .and_then(|d| d.and_hms_opt(2, 30, 0))
        .expect("date");
    assert_eq!(local_to_utc(twice, BERLIN), utc("2026-10-25T00:30:00Z"));
}
