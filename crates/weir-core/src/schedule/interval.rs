//! Data intervals, the next run to create, catch-up and backfill ranges, following
//! Airflow's `CronDataIntervalTimetable` and `OnceTimetable`.
//!
//! All instants are UTC; the cron expression is evaluated on the wall clock of the DAG's
//! time zone `tz`. Nothing here reads the clock: the caller passes `now`.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use chrono_tz::Tz;
use croner::Cron;

use super::Schedule;

/// The most runs [`catchup_intervals`] and [`intervals_between`] return at once, so a
/// minutely schedule with a start date years ago cannot exhaust memory. The caller
/// creates these runs, then asks again from the last one.
pub const MAX_INTERVALS: usize = 10_000;

/// The span of data a run processes: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataInterval {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// A run the scheduler should create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DagRunInfo {
    /// The run's logical date: the start of its data interval.
    pub logical_date: DateTime<Utc>,
    pub data_interval_start: DateTime<Utc>,
    pub data_interval_end: DateTime<Utc>,
    /// The earliest instant the run may be created: the end of its data interval.
    pub run_after: DateTime<Utc>,
}

impl DagRunInfo {
    /// A run covering `[start, end)`, due at `end`.
    fn interval(start: DateTime<Utc>, end: DateTime<Utc>) -> DagRunInfo {
        DagRunInfo {
            logical_date: start,
            data_interval_start: start,
            data_interval_end: end,
            run_after: end,
        }
    }

    /// A run for one instant (`@once`): an empty data interval, due at once.
    fn exact(at: DateTime<Utc>) -> DagRunInfo {
        DagRunInfo::interval(at, at)
    }

    pub fn data_interval(&self) -> DataInterval {
        DataInterval {
            start: self.data_interval_start,
            end: self.data_interval_end,
        }
    }
}

/// Runs listed by [`catchup_intervals`] or [`intervals_between`], in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Intervals {
    pub runs: Vec<DagRunInfo>,
    /// True when the list stopped at [`MAX_INTERVALS`] with more runs to come.
    pub truncated: bool,
}

/// The first time the schedule fires strictly after `after`; `None` for schedules the
/// clock does not drive (`@once` has no recurring fire time).
pub fn next_fire_after(schedule: &Schedule, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match schedule {
        Schedule::Cron(c) => Clock::new(c.cron(), tz).next(after),
        Schedule::Once | Schedule::Datasets(_) | Schedule::Manual => None,
    }
}

/// The data interval of a run with this logical date: for cron, from the logical date to
/// the next fire time after it; for every other schedule an empty interval at the logical
/// date (Airflow does the same for `@once`, dataset and unscheduled DAGs).
pub fn data_interval_for(schedule: &Schedule, tz: Tz, logical_date: DateTime<Utc>) -> DataInterval {
    let end = match schedule {
        Schedule::Cron(c) => Clock::new(c.cron(), tz).next(logical_date),
        _ => None,
    };
    DataInterval {
        start: logical_date,
        end: end.unwrap_or(logical_date),
    }
}

/// The data interval Airflow gives a run triggered by hand at `run_after`: for cron, the
/// last complete interval before it (triggered at 01:00 on the 25th, a daily DAG's run
/// covers the 24th); otherwise an empty interval at `run_after`.
pub fn infer_manual_data_interval(
    schedule: &Schedule,
    tz: Tz,
    run_after: DateTime<Utc>,
) -> DataInterval {
    let empty = DataInterval {
        start: run_after,
        end: run_after,
    };
    let Schedule::Cron(c) = schedule else {
        return empty;
    };
    let clock = Clock::new(c.cron(), tz);
    let Some(end) = clock.align_to_prev(run_after) else {
        return empty;
    };
    match clock.prev(end) {
        Some(start) => DataInterval { start, end },
        None => empty,
    }
}

/// The next scheduled run to create, as Airflow's timetables decide it.
///
/// - `last_data_interval_end`: the end of the data interval of the latest run the
///   scheduler created (not manual ones); `None` before the first.
/// - cron: the first interval starts at `start_date` aligned up to a fire time; each
///   later one where the previous ended. With `catchup: false`, intervals that ended
///   before the latest complete one (the one ending at or before `now`) are skipped.
///   The returned run may be due in the future: create it once `run_after <= now`.
/// - `@once`: one run at `start_date`, whatever `catchup` says.
/// - no run when the logical date would be after `end_date`, for dataset and manual
///   schedules, or (cron with catch-up, and `@once`) without a start date.
pub fn next_dagrun_info(
    schedule: &Schedule,
    tz: Tz,
    start_date: Option<DateTime<Utc>>,
    end_date: Option<DateTime<Utc>>,
    catchup: bool,
    last_data_interval_end: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DagRunInfo> {
    let info = match schedule {
        Schedule::Cron(c) => {
            let clock = Clock::new(c.cron(), tz);
            let earliest = if catchup {
                match start_date {
                    Some(start) => Some(clock.align_to_next(start)?),
                    None => None,
                }
            } else {
                Some(clock.skip_to_latest(start_date, now)?)
            };
            let start = match (last_data_interval_end, earliest) {
                (None, earliest) => earliest?,
                // A changed schedule may leave the last end off the new grid: align it.
                (Some(last_end), None) => clock.align_to_prev(last_end)?,
                (Some(last_end), Some(earliest)) => clock.align_to_prev(last_end)?.max(earliest),
            };
            DagRunInfo::interval(start, clock.next(start)?)
        }
        Schedule::Once => {
            if last_data_interval_end.is_some() {
                return None;
            }
            DagRunInfo::exact(start_date?)
        }
        Schedule::Datasets(_) | Schedule::Manual => return None,
    };
    match end_date {
        Some(end) if info.logical_date > end => None,
        _ => Some(info),
    }
}

/// Every run that is due (`run_after <= now`) but not created yet, oldest first, as a
/// DAG with `catchup: true` creates them after `last_data_interval_end` (or from
/// `start_date`). Stops at [`MAX_INTERVALS`] with `truncated` set.
pub fn catchup_intervals(
    schedule: &Schedule,
    tz: Tz,
    start_date: Option<DateTime<Utc>>,
    end_date: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    last_data_interval_end: Option<DateTime<Utc>>,
) -> Intervals {
    let first = next_dagrun_info(
        schedule,
        tz,
        start_date,
        end_date,
        true,
        last_data_interval_end,
        now,
    );
    let mut out = Intervals::default();
    let Some(first) = first.filter(|f| f.run_after <= now) else {
        return out;
    };
    let Schedule::Cron(c) = schedule else {
        // `@once`: a single run.
        out.runs.push(first);
        return out;
    };
    // Later intervals chain end to start; walking the clock forward directly is much
    // cheaper than asking `next_dagrun_info` again for each.
    let clock = Clock::new(c.cron(), tz);
    let mut current = first;
    loop {
        if out.runs.len() == MAX_INTERVALS {
            out.truncated = true;
            break;
        }
        out.runs.push(current);
        let start = current.data_interval_end;
        if end_date.is_some_and(|end| start > end) {
            break;
        }
        match clock.next(start) {
            Some(end) if end <= now => current = DagRunInfo::interval(start, end),
            _ => break,
        }
    }
    out
}

/// The runs a backfill over `[from, to]` creates: those whose logical date lies in the
/// range, oldest first (for cron, `from` aligned up to a fire time; for `@once`, one run
/// at `from`). Dataset and manual schedules have no intervals to backfill. Stops at
/// [`MAX_INTERVALS`] with `truncated` set.
pub fn intervals_between(
    schedule: &Schedule,
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Intervals {
    let mut out = Intervals::default();
    if from > to {
        return out;
    }
    match schedule {
        Schedule::Cron(c) => {
            let clock = Clock::new(c.cron(), tz);
            let mut start = clock.align_to_next(from);
            while let Some(s) = start.filter(|s| *s <= to) {
                if out.runs.len() == MAX_INTERVALS {
                    out.truncated = true;
                    break;
                }
                let Some(end) = clock.next(s) else { break };
                out.runs.push(DagRunInfo::interval(s, end));
                start = Some(end);
            }
        }
        Schedule::Once => out.runs.push(DagRunInfo::exact(from)),
        Schedule::Datasets(_) | Schedule::Manual => {}
    }
    out
}

/// A cron expression on the wall clock of one time zone, with Airflow's four moves.
///
/// croner works in whole seconds; instants are rounded first so that a sub-second
/// `now` neither skips nor repeats a fire time.
struct Clock<'a> {
    cron: &'a Cron,
    tz: Tz,
}

impl<'a> Clock<'a> {
    fn new(cron: &'a Cron, tz: Tz) -> Self {
        Clock { cron, tz }
    }

    /// The first fire time strictly after `t`.
    fn next(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = floor_second(t).with_timezone(&self.tz);
        let found = self.cron.find_next_occurrence(&local, false).ok()?;
        Some(found.with_timezone(&Utc))
    }

    /// The last fire time strictly before `t`.
    fn prev(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = ceil_second(t).with_timezone(&self.tz);
        let found = self.cron.find_previous_occurrence(&local, false).ok()?;
        Some(found.with_timezone(&Utc))
    }

    /// `t` if it is a fire time, else the next one. Checked through `prev(next(t))`, as
    /// Airflow does, rather than by matching `t` against the pattern: the instant a
    /// fixed time moves to when it falls into a DST gap (03:00 for `30 2 * * *`) does
    /// not match the pattern, yet is a fire time.
    fn align_to_next(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let next = self.next(t)?;
        if self.prev(next) == Some(t) {
            Some(t)
        } else {
            Some(next)
        }
    }

    /// `t` if it is a fire time, else the last one before it.
    fn align_to_prev(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let prev = self.prev(t)?;
        if self.next(prev) == Some(t) {
            Some(t)
        } else {
            Some(prev)
        }
    }

    /// The start of the latest complete interval (its end at or before `now`), or the
    /// aligned start date if that is later: where a DAG with `catchup: false` starts.
    fn skip_to_latest(
        &self,
        start_date: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let last_start = self.prev(now)?;
        let next_start = self.next(last_start)?;
        let latest = if next_start <= now {
            // `now` is on a fire time: the interval that ends now is complete.
            last_start
        } else {
            self.prev(last_start)?
        };
        match start_date {
            Some(start) => Some(latest.max(self.align_to_next(start)?)),
            None => Some(latest),
        }
    }
}

fn floor_second(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::seconds(1)).unwrap_or(t)
}

fn ceil_second(t: DateTime<Utc>) -> DateTime<Utc> {
    let floor = floor_second(t);
    if floor == t {
        t
    } else {
        floor + TimeDelta::seconds(1)
    }
}
