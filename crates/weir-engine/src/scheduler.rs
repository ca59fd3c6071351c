//! Time-based scheduling: for every unpaused DAG with a cron or `@once` schedule, create
//! the runs that are due (every missed interval with `catchup: true`, only the latest
//! without), remember the next one, and say when to wake for it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tracing::warn;
use weir_core::schedule::{self, DagRunInfo, Schedule};
use weir_core::spec::model::ScheduleSpec;
use weir_core::state::RunType;
use weir_store::{DagFilter, DagRecord, DagRunFilter, NextDagRun, StoreError};

use crate::error::{EngineError, Result};
use crate::shared::Shared;

/// Creates due runs of every DAG; returns the earliest time another becomes due.
pub async fn create_due_runs(shared: &Arc<Shared>) -> Result<Option<DateTime<Utc>>> {
    let mut wake: Option<DateTime<Utc>> = None;
    let mut offset = 0;
    loop {
        let page = shared
            .store
            .list_dags(&DagFilter {
                only_active: true,
                paused: Some(false),
                limit: 500,
                offset,
                ..DagFilter::default()
            })
            .await?;
        let n = page.items.len() as i64;
        // A production DAG whose first version waits for approval runs nothing yet.
        for dag in page
            .items
            .into_iter()
            .filter(|d| d.latest_version.is_some())
            // Among replicas, the one holding the DAG's lease schedules it.
            .filter(|d| shared.replica.holds(&d.dag_id))
        {
            match schedule_dag(shared, &dag).await {
                Ok(Some(at)) => wake = Some(wake.map_or(at, |w| w.min(at))),
                Ok(None) => {}
                Err(e) => warn!(dag_id = %dag.dag_id, error = %e, "cannot schedule DAG"),
            }
        }
        offset += n;
        if n == 0 || offset >= page.total_entries {
            break;
        }
    }
    Ok(wake)
}

async fn schedule_dag(shared: &Arc<Shared>, dag: &DagRecord) -> Result<Option<DateTime<Utc>>> {
    let version = shared.catalog.latest(&shared.store, &dag.dag_id).await?;
    let spec = &version.spec;
    let Some(expr) = spec.schedule.as_ref().and_then(ScheduleSpec::cron) else {
        return Ok(None);
    };
    let Ok(sched) = schedule::parse_schedule(expr) else {
        return Ok(None);
    };
    if !sched.is_time_based() {
        return Ok(None);
    }
    let now = shared.now();
    let next_info = |last_end: Option<DateTime<Utc>>| {
        schedule::next_dagrun_info(
            &sched,
            version.tz,
            spec.start_date,
            spec.end_date,
            spec.catchup,
            last_end,
            now,
        )
    };
    let mut next = match dag.next_dagrun {
        Some(n) => Some(info_from(&sched, n)),
        None => next_info(last_scheduled_end(shared, dag).await?),
    };
    let mut created = 0usize;
    let mut wake = None;
    while let Some(info) = next {
        if info.run_after > now {
            wake = Some(info.run_after);
            break;
        }
        if created >= shared.config.max_catchup_runs_per_pass {
            wake = Some(now);
            break;
        }
        match crate::runs::create_run(
            shared,
            &dag.dag_id,
            RunType::Scheduled,
            info.logical_date,
            Value::Object(Default::default()),
            None,
        )
        .await
        {
            Ok(_) | Err(EngineError::Store(StoreError::RunExists { .. })) => {}
            Err(e) => return Err(e),
        }
        created += 1;
        next = next_info(Some(info.data_interval_end));
        if matches!(sched, Schedule::Once) {
            next = None;
        }
    }
    let remembered = next.map(|i| NextDagRun {
        logical_date: i.logical_date,
        data_interval_start: Some(i.data_interval_start),
        data_interval_end: Some(i.data_interval_end),
    });
    if remembered != dag.next_dagrun || created > 0 {
        shared
            .store
            .set_next_dagrun(&dag.dag_id, remembered)
            .await?;
    }
    Ok(wake)
}

fn info_from(sched: &Schedule, n: NextDagRun) -> DagRunInfo {
    let start = n.data_interval_start.unwrap_or(n.logical_date);
    let end = n.data_interval_end.unwrap_or(n.logical_date);
    let run_after = if matches!(sched, Schedule::Once) {
        n.logical_date
    } else {
        end
    };
    DagRunInfo {
        logical_date: n.logical_date,
        data_interval_start: start,
        data_interval_end: end,
        run_after,
    }
}

/// The data interval end of the latest run the scheduler made (manual runs do not
/// move the schedule, as in Airflow).
async fn last_scheduled_end(shared: &Shared, dag: &DagRecord) -> Result<Option<DateTime<Utc>>> {
    let runs = shared
        .store
        .list_dag_runs(&DagRunFilter {
            dag_id: Some(dag.dag_id.clone()),
            limit: 50,
            ..DagRunFilter::default()
        })
        .await?;
    Ok(runs
        .items
        .into_iter()
        .find(|r| matches!(r.run_type, RunType::Scheduled | RunType::Backfill))
        .and_then(|r| r.data_interval_end))
}
