//! Usage metering and cost: what one try used, what it costs, and the totals per team,
//! DAG or queue and day that `weir costs` and `GET /api/v1/costs` report.
//!
//! # Billing
//! Like AWS Batch (which bills the instances that hold the reserved capacity), a try
//! pays for what it **reserved**, not what it used, for as long as it ran:
//!
//! ```text
//! cost = vcpu × wall_hours × vcpu_hour  +  GiB × wall_hours × gib_hour
//! ```
//!
//! with `vcpu` and `GiB` (2^30 bytes) as requested and the price of the compute
//! environment it ran on. Measured CPU seconds and peak memory are kept beside it, so a
//! team can see how much of its reservation it used. A record carries the price in force
//! when the try ran, so a later price change does not rewrite history.
//!
//! # Arithmetic
//! Sums are kept in `f64` (exact enough: 53 bits hold a millionth of a unit up to
//! nine billion units) and rounded to the nearest millionth (6 decimals) on output only,
//! so the total of a group is the rounded sum, not the sum of rounded parts.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{DagId, TeamId};
use crate::platform::Price;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// What one try reserved and used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageRecord {
    pub team: TeamId,
    pub dag_id: DagId,
    pub queue: String,
    pub compute_environment: String,
    pub requested_vcpu: f64,
    pub requested_memory_bytes: u64,
    pub wall_seconds: f64,
    /// Measured CPU time (cgroup or rusage), when the backend could measure it.
    pub cpu_seconds: Option<f64>,
    /// Measured peak memory, when the backend could measure it.
    pub peak_memory_bytes: Option<u64>,
    pub started_at: DateTime<Utc>,
    /// The environment's price when the try ran.
    pub price: Price,
}

impl UsageRecord {
    /// Reserved vCPU-seconds.
    pub fn vcpu_seconds(&self) -> f64 {
        self.requested_vcpu * self.wall_seconds.max(0.0)
    }

    /// Reserved GiB-seconds.
    pub fn gib_seconds(&self) -> f64 {
        self.requested_memory_bytes as f64 / GIB * self.wall_seconds.max(0.0)
    }

    /// The try's cost, unrounded.
    pub fn cost(&self) -> f64 {
        (self.vcpu_seconds() * self.price.vcpu_hour + self.gib_seconds() * self.price.gib_hour)
            / 3600.0
    }
}

/// Rounds money to the nearest millionth, as every report shows it.
pub fn round_money(amount: f64) -> f64 {
    (amount * 1e6).round() / 1e6
}

/// What a report groups by, besides (optionally) the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupKey {
    Team,
    Dag,
    Queue,
}

impl GroupKey {
    fn of(self, r: &UsageRecord) -> &str {
        match self {
            GroupKey::Team => &r.team,
            GroupKey::Dag => &r.dag_id,
            GroupKey::Queue => &r.queue,
        }
    }
}

impl fmt::Display for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GroupKey::Team => "team",
            GroupKey::Dag => "dag",
            GroupKey::Queue => "queue",
        })
    }
}

/// `--by` was given something else than `team`, `dag` or `queue`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot group costs by `{0}`: use `team`, `dag` or `queue`")]
pub struct UnknownGroupKey(pub String);

impl FromStr for GroupKey {
    type Err = UnknownGroupKey;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "team" => Ok(GroupKey::Team),
            "dag" => Ok(GroupKey::Dag),
            "queue" => Ok(GroupKey::Queue),
            other => Err(UnknownGroupKey(other.to_string())),
        }
    }
}

/// How [`summarize`] groups: by a key, by day (UTC, of the try's start), both or
/// neither (one total row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GroupBy {
    pub key: Option<GroupKey>,
    pub per_day: bool,
}

impl GroupBy {
    pub fn key(key: GroupKey) -> Self {
        GroupBy {
            key: Some(key),
            per_day: false,
        }
    }

    pub fn key_and_day(key: GroupKey) -> Self {
        GroupBy {
            key: Some(key),
            per_day: true,
        }
    }
}

/// One line of a cost report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostRow {
    /// The team, DAG or queue; `None` when not grouped by a key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The day (UTC); `None` when not grouped by day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<NaiveDate>,
    pub tries: u64,
    pub wall_seconds: f64,
    /// Reserved vCPU-hours.
    pub vcpu_hours: f64,
    /// Reserved GiB-hours.
    pub gib_hours: f64,
    /// Measured CPU seconds, over the tries that measured it.
    pub cpu_seconds: f64,
    /// The largest measured peak memory of one try.
    pub peak_memory_bytes: u64,
    /// Money, rounded to 6 decimals.
    pub cost: f64,
}

/// The sums of a group of usage records, unrounded: what [`summarize`] adds up in memory
/// and what a store may add up in SQL, turned into a report row by [`cost_row`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UsageTotals {
    pub tries: u64,
    /// Wall-clock seconds (negative ones count as 0).
    pub wall: f64,
    /// Reserved vCPU-seconds.
    pub vcpu_s: f64,
    /// Reserved GiB-seconds.
    pub gib_s: f64,
    pub cpu: f64,
    pub peak: u64,
    pub cost: f64,
}

/// The report row of one group's totals, rounded as every report shows it.
pub fn cost_row(day: Option<NaiveDate>, key: Option<String>, t: &UsageTotals) -> CostRow {
    let round = |x: f64, digits: i32| {
        let f = 10f64.powi(digits);
        (x * f).round() / f
    };
    CostRow {
        key,
        day,
        tries: t.tries,
        wall_seconds: round(t.wall, 3),
        vcpu_hours: round(t.vcpu_s / 3600.0, 6),
        gib_hours: round(t.gib_s / 3600.0, 6),
        cpu_seconds: round(t.cpu, 3),
        peak_memory_bytes: t.peak,
        cost: round_money(t.cost),
    }
}

/// Totals of the records that started at or after `since`, grouped as asked, sorted by
/// day then key. The report's definition: the API asks the store to add up the same
/// sums in SQL (`Store::usage_totals`), and the store's conformance suite checks that
/// they equal this over `Store::list_usage`.
pub fn summarize(records: &[UsageRecord], group_by: GroupBy, since: DateTime<Utc>) -> Vec<CostRow> {
    let mut groups: BTreeMap<(Option<NaiveDate>, Option<String>), UsageTotals> = BTreeMap::new();
    for r in records.iter().filter(|r| r.started_at >= since) {
        let day = group_by.per_day.then(|| r.started_at.date_naive());
        let key = group_by.key.map(|k| k.of(r).to_string());
        let t = groups.entry((day, key)).or_default();
        t.tries += 1;
        t.wall += r.wall_seconds.max(0.0);
        t.vcpu_s += r.vcpu_seconds();
        t.gib_s += r.gib_seconds();
        t.cpu += r.cpu_seconds.unwrap_or(0.0);
        t.peak = t.peak.max(r.peak_memory_bytes.unwrap_or(0));
        t.cost += r.cost();
    }
    groups
        .into_iter()
        .map(|((day, key), t)| cost_row(day, key, &t))
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn record(team: &str, dag: &str, vcpu: f64, mem_gib: f64, wall: f64, day: u32) -> UsageRecord {
        UsageRecord {
            team: TeamId::new(team).unwrap(),
            dag_id: DagId::new(dag).unwrap(),
            queue: "default".into(),
            compute_environment: "docker".into(),
            requested_vcpu: vcpu,
            requested_memory_bytes: (mem_gib * GIB) as u64,
            wall_seconds: wall,
            cpu_seconds: Some(wall * vcpu / 2.0),
            peak_memory_bytes: Some((mem_gib * GIB / 2.0) as u64),
            started_at: Utc.with_ymd_and_hms(2026, 3, day, 23, 0, 0).unwrap(),
            price: Price {
                vcpu_hour: 0.04,
                gib_hour: 0.005,
            },
        }
    }

    #[test]
    fn a_try_pays_for_what_it_reserved_for_as_long_as_it_ran() {
        // 2 vCPU × 0.5 h × 0.04 = 0.04, plus 4 GiB × 0.5 h × 0.005 = 0.01.
        assert_eq!(
            round_money(record("m", "a", 2.0, 4.0, 1800.0, 1).cost()),
            0.05
        );
        // 0.5 vCPU × 0.025 h × 0.05 = 0.000625, plus 0.5 GiB × 0.025 h × 0.006 = 0.000075.
        let mut small = record("m", "b", 0.5, 0.5, 90.0, 1);
        small.price = Price {
            vcpu_hour: 0.05,
            gib_hour: 0.006,
        };
        assert_eq!(round_money(small.cost()), 0.0007);
        // 1 vCPU × 10 s at 0.04 = 0.000111…, and no memory price: six decimals shown.
        let mut short = record("m", "b", 1.0, 1.0, 10.0, 1);
        short.price.gib_hour = 0.0;
        assert_eq!(round_money(short.cost()), 0.000111);
        let free = UsageRecord {
            price: Price::default(),
            ..record("m", "a", 8.0, 8.0, 3600.0, 1)
        };
        assert_eq!(free.cost(), 0.0);
    }

    #[test]
    fn summaries_group_by_key_and_day_since_a_date() {
        let mut small = record("marketing", "b", 0.5, 0.5, 90.0, 1);
        small.price = Price {
            vcpu_hour: 0.05,
            gib_hour: 0.006,
        };
        small.cpu_seconds = None;
        let records = vec![
            record("marketing", "a", 2.0, 4.0, 1800.0, 1),
            small,
            record("finance", "c", 1.0, 1.0, 3600.0, 2),
            record("finance", "c", 1.0, 1.0, 3600.0, 2),
            // Before `since`: not counted.
            record("finance", "old", 100.0, 100.0, 3600.0, 1),
        ];
        let since = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let mut records = records;
        records[4].started_at = Utc.with_ymd_and_hms(2026, 2, 28, 0, 0, 0).unwrap();

        let by_team = summarize(&records, GroupBy::key(GroupKey::Team), since);
        let rows: Vec<(Option<&str>, u64, f64)> = by_team
            .iter()
            .map(|r| (r.key.as_deref(), r.tries, r.cost))
            .collect();
        // finance: 2 × (0.04 + 0.005); marketing: 0.05 + 0.0007.
        assert_eq!(
            rows,
            [(Some("finance"), 2, 0.09), (Some("marketing"), 2, 0.0507)]
        );
        let m = &by_team[1];
        assert_eq!(m.vcpu_hours, 1.0125); // 2 × 0.5 + 0.5 × 0.025
        assert_eq!(m.gib_hours, 2.0125); // 4 × 0.5 + 0.5 × 0.025
        assert_eq!(m.wall_seconds, 1890.0);
        assert_eq!(
            m.cpu_seconds, 1800.0,
            "only the try that measured CPU counts"
        );
        assert_eq!(m.peak_memory_bytes, 2 * 1024 * 1024 * 1024);

        let by_dag_day = summarize(&records, GroupBy::key_and_day(GroupKey::Dag), since);
        let rows: Vec<(String, &str, f64)> = by_dag_day
            .iter()
            .map(|r| {
                (
                    r.day.map(|d| d.to_string()).unwrap_or_default(),
                    r.key.as_deref().unwrap_or(""),
                    r.cost,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("2026-03-01".to_string(), "a", 0.05),
                ("2026-03-01".to_string(), "b", 0.0007),
                ("2026-03-02".to_string(), "c", 0.09),
            ]
        );

        let total = summarize(&records, GroupBy::default(), since);
        assert_eq!(total.len(), 1);
        assert_eq!(
            (total[0].key.clone(), total[0].tries, total[0].cost),
            (None, 4, 0.1407)
        );
        let json = serde_json::to_value(&total[0]).expect("json");
        assert!(json.get("key").is_none() && json.get("day").is_none());

        assert!(
            summarize(
                &records,
                GroupBy::key(GroupKey::Queue),
                Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
            )
            .is_empty()
        );
        assert_eq!("queue".parse::<GroupKey>(), Ok(GroupKey::Queue));
        assert_eq!(
            "teams".parse::<GroupKey>().unwrap_err().to_string(),
            "cannot group costs by `teams`: use `team`, `dag` or `queue`"
        );
    }
}
