//! Usage records: what each finished try reserved and used, priced at the time it ran,
//! for `weir costs` and `GET /api/v1/costs`.
//!
//! A record is keyed by its try and written once: writing it again (e.g. after a restart
//! that re-collects a finished try) changes nothing. It has no foreign key to the try:
//! deleting a run deletes its tries, not its cost history.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::AssertSqlSafe;
use weir_core::cost::{UsageRecord, UsageTotals};
use weir_core::ids::TryKey;
use weir_core::platform::Price;

use crate::sql::{Dialect, Ts, int_col, opt_int_col, parse_col};
use crate::{Result, Store, StoreError};

pub(crate) const INSERT_USAGE: &str = "\
INSERT INTO usage_record (dag_id, run_id, task_id, map_index, try_number, team, queue,
    compute_environment, requested_vcpu, requested_memory_bytes, wall_seconds, cpu_seconds,
    peak_memory_bytes, started_at, finished_at, price_vcpu_hour, price_gib_hour, job_revision)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
ON CONFLICT (dag_id, run_id, task_id, map_index, try_number) DO NOTHING";

/// A stored usage record with what identifies it: its try, when the try finished and,
/// for a `job` task, the job definition revision it ran.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageEntry {
    pub key: TryKey,
    pub record: UsageRecord,
    pub finished_at: DateTime<Utc>,
    pub job_revision: Option<String>,
}

impl_from_row!(UsageEntry, |row| {
    let key = TryKey {
        dag_id: parse_col("dag_id", row.try_get::<String, _>("dag_id")?)?,
        run_id: parse_col("run_id", row.try_get::<String, _>("run_id")?)?,
        task_id: parse_col("task_id", row.try_get::<String, _>("task_id")?)?,
        map_index: int_col("map_index", row.try_get("map_index")?)?,
        try_number: int_col("try_number", row.try_get("try_number")?)?,
    };
    let record = UsageRecord {
        team: parse_col("team", row.try_get::<String, _>("team")?)?,
        dag_id: key.dag_id.clone(),
        queue: row.try_get("queue")?,
        compute_environment: row.try_get("compute_environment")?,
        requested_vcpu: row.try_get("requested_vcpu")?,
        requested_memory_bytes: int_col(
            "requested_memory_bytes",
            row.try_get("requested_memory_bytes")?,
        )?,
        wall_seconds: row.try_get("wall_seconds")?,
        cpu_seconds: row.try_get("cpu_seconds")?,
        peak_memory_bytes: opt_int_col("peak_memory_bytes", row.try_get("peak_memory_bytes")?)?,
        started_at: row.try_get::<Ts, _>("started_at")?.0,
        price: Price {
            vcpu_hour: row.try_get("price_vcpu_hour")?,
            gib_hour: row.try_get("price_gib_hour")?,
        },
    };
    Ok(UsageEntry {
        key,
        record,
        finished_at: row.try_get::<Ts, _>("finished_at")?.0,
        job_revision: row.try_get("job_revision")?,
    })
});

/// Refuses quantities no try can have (negative, NaN or infinite), which would poison
/// every sum they enter, and a record whose DAG is not its try's.
pub(crate) fn check(key: &TryKey, r: &UsageRecord) -> Result<()> {
    let bad = |detail: String| {
        Err(StoreError::InvalidInput {
            what: "usage record",
            detail,
        })
    };
    if r.dag_id != key.dag_id {
        return bad(format!(
            "the record is for DAG `{}` but its try {key} is of DAG `{}`",
            r.dag_id, key.dag_id
        ));
    }
    let quantities = [
        ("requested_vcpu", Some(r.requested_vcpu)),
        ("wall_seconds", Some(r.wall_seconds)),
        ("cpu_seconds", r.cpu_seconds),
        ("price.vcpu_hour", Some(r.price.vcpu_hour)),
        ("price.gib_hour", Some(r.price.gib_hour)),
    ];
    for (name, value) in quantities {
        if let Some(v) = value
            && !(v.is_finite() && v >= 0.0)
        {
            return bad(format!(
                "{name} must be a finite number of at least 0, not {v}"
            ));
        }
    }
    Ok(())
}

impl Store {
    /// Records what a finished try used. Idempotent on the try: returns `false` (and
    /// changes nothing) when the try's usage was already recorded.
    /// [`StoreError::InvalidInput`] for a negative or non-finite quantity.
    pub async fn insert_usage(
        &self,
        key: &TryKey,
        usage: &UsageRecord,
        finished_at: DateTime<Utc>,
        job_revision: Option<&str>,
    ) -> Result<bool> {
        check(key, usage)?;
        with_db!(self, |pool| {
            let inserted = insert_usage_query!(key, usage, finished_at, job_revision)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(inserted == 1)
        })
    }

    /// The usage of every try that started at or after `since` (of one team, if given),
    /// oldest first.
    pub async fn list_usage(
        &self,
        since: DateTime<Utc>,
        team: Option<&str>,
    ) -> Result<Vec<UsageRecord>> {
        let entries: Vec<UsageEntry> = with_db!(self, |pool| {
            sqlx::query_as(
                "SELECT * FROM usage_record
                 WHERE started_at >= $1 AND ($2 IS NULL OR team = $2)
                 ORDER BY started_at, dag_id, run_id, task_id, map_index, try_number",
            )
            .bind(Ts(since))
            .bind(team)
            .fetch_all(pool)
            .await?
        });
        Ok(entries.into_iter().map(|e| e.record).collect())
    }

    /// The usage of the tries that started at or after `since` (of one team, if given),
    /// added up in the database per `by` (team, DAG or queue; `None`: all together) and,
    /// with `per_day`, per UTC day of the start: the same sums as
    /// [`weir_core::cost::summarize`] over [`Store::list_usage`], without reading every
    /// record out (the cost report of 100,000 tries took 80–450 ms that way). Sorted by
    /// day, then key.
    pub async fn usage_totals(
        &self,
        since: DateTime<Utc>,
        team: Option<&str>,
        by: Option<weir_core::cost::GroupKey>,
        per_day: bool,
    ) -> Result<Vec<(Option<NaiveDate>, Option<String>, UsageTotals)>> {
        use weir_core::cost::GroupKey;
        let key = match by {
            None => "NULL",
            Some(GroupKey::Team) => "team",
            Some(GroupKey::Dag) => "dag_id",
            Some(GroupKey::Queue) => "queue",
        };
        let rows: Vec<TotalsRow> = with_db!(self, |pool, dialect| {
            let (day, float) = match dialect {
                Dialect::Sqlite => ("substr(started_at, 1, 10)", "REAL"),
                Dialect::Postgres => (
                    "to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
                    "DOUBLE PRECISION",
                ),
            };
            let day = if per_day { day } else { "NULL" };
            let wall = "(CASE WHEN wall_seconds > 0 THEN wall_seconds ELSE 0 END)";
            let gib = format!("(CAST(requested_memory_bytes AS {float}) / 1073741824.0)");
            let sql = format!(
                "SELECT {day} AS day, {key} AS key, COUNT(*) AS tries,
                     CAST(COALESCE(SUM({wall}), 0) AS {float}) AS wall,
                     CAST(COALESCE(SUM(requested_vcpu * {wall}), 0) AS {float}) AS vcpu_s,
                     CAST(COALESCE(SUM({gib} * {wall}), 0) AS {float}) AS gib_s,
                     CAST(COALESCE(SUM(cpu_seconds), 0) AS {float}) AS cpu,
                     COALESCE(MAX(peak_memory_bytes), 0) AS peak,
                     CAST(COALESCE(SUM((requested_vcpu * {wall} * price_vcpu_hour
                         + {gib} * {wall} * price_gib_hour) / 3600.0), 0) AS {float}) AS cost
                 FROM usage_record
                 WHERE started_at >= $1 AND ($2 IS NULL OR team = $2)
                 GROUP BY 1, 2 ORDER BY 1, 2"
            );
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(Ts(since))
                .bind(team)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(|r| {
                let day = r
                    .day
                    .map(|d| {
                        NaiveDate::parse_from_str(&d, "%Y-%m-%d").map_err(|e| {
                            StoreError::Database(sqlx::Error::Decode(
                                format!("a usage day `{d}` is not a date: {e}").into(),
                            ))
                        })
                    })
                    .transpose()?;
                let totals = UsageTotals {
                    tries: u64::try_from(r.tries).unwrap_or(0),
                    wall: r.wall,
                    vcpu_s: r.vcpu_s,
                    gib_s: r.gib_s,
                    cpu: r.cpu,
                    peak: u64::try_from(r.peak).unwrap_or(0),
                    cost: r.cost,
                };
                Ok((day, r.key, totals))
            })
            .collect()
    }

    /// The usage recorded for one try, with its finish time and job revision.
    pub async fn get_usage(&self, key: &TryKey) -> Result<Option<UsageEntry>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT * FROM usage_record
                 WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND map_index = $4
                   AND try_number = $5",
            )
            .bind(key.dag_id.as_str())
            .bind(key.run_id.as_str())
            .bind(key.task_id.as_str())
            .bind(i64::from(key.map_index))
            .bind(i64::from(key.try_number))
            .fetch_optional(pool)
            .await?)
        })
    }
}

/// One group of [`Store::usage_totals`], as the database returns it.
struct TotalsRow {
    day: Option<String>,
    key: Option<String>,
    tries: i64,
    wall: f64,
    vcpu_s: f64,
    gib_s: f64,
    cpu: f64,
    peak: i64,
    cost: f64,
}

impl_from_row!(TotalsRow, |row| {
    Ok(TotalsRow {
        day: row.try_get("day")?,
        key: row.try_get("key")?,
        tries: row.try_get("tries")?,
        wall: row.try_get("wall")?,
        vcpu_s: row.try_get("vcpu_s")?,
        gib_s: row.try_get("gib_s")?,
        cpu: row.try_get("cpu")?,
        peak: row.try_get("peak")?,
        cost: row.try_get("cost")?,
    })
});
