//! Deadlines: a run that is not done by its DAG's `run_within`, or a task instance not
//! done by its task's `task_within`, raises `deadline_miss` once — while it is still
//! going, which is the point (Airflow's SLA, done properly).

use chrono::{DateTime, Utc};
use weir_core::ids::TaskId;
use weir_core::notify::{Message, NotifyEvent, Subject, task_deadline};
use weir_core::state::DagRunState;
use weir_store::DagRunFilter;

use super::raise::{added, rows, run_deadline_of, run_message};
use crate::error::Result;
use crate::shared::Shared;

/// Most active runs looked at in one check.
const MAX_ACTIVE_RUNS: i64 = 10_000;

/// Raises every deadline passed by `now` among queued and running runs; returns the
/// next deadline still ahead, for the loop to wake at.
pub(super) async fn check(shared: &Shared) -> Result<Option<DateTime<Utc>>> {
    let now = shared.now();
    let runs = shared
        .store
        .list_dag_runs(&DagRunFilter {
            states: vec![DagRunState::Queued, DagRunState::Running],
            limit: MAX_ACTIVE_RUNS,
            ..DagRunFilter::default()
        })
        .await?
        .items;
    let mut next: Option<DateTime<Utc>> = None;
    let mut ahead = |at: DateTime<Utc>| next = Some(next.map_or(at, |n| n.min(at)));
    let mut out = Vec::new();
    for run in runs {
        let Ok(version) = shared
            .catalog
            .version(&shared.store, &run.dag_id, &run.version_hash)
            .await
        else {
            continue;
        };
        let spec = &version.spec;
        let run_channels = spec.notify.channels(NotifyEvent::DeadlineMiss);
        if let Some(deadline) = run_deadline_of(spec, &run)
            && !run_channels.is_empty()
        {
            if deadline <= now {
                if shared
                    .notifier
                    .first_miss(&format!("run:{}/{}", run.dag_id, run.run_id))
                {
                    let message = run_message(
                        shared,
                        spec,
                        &run,
                        NotifyEvent::DeadlineMiss,
                        now,
                        Some(deadline),
                    );
                    rows(shared, run_channels, &message, None, &mut out);
                }
            } else {
                ahead(deadline);
            }
        }
        let timed: Vec<(&TaskId, DateTime<Utc>, Vec<String>)> = spec
            .tasks
            .iter()
            .filter_map(|(id, task)| {
                let within = task.deadline.as_ref()?.task_within.0;
                let channels = spec
                    .task_notify(task)
                    .channels(NotifyEvent::DeadlineMiss)
                    .to_vec();
                if channels.is_empty() {
                    return None;
                }
                let at = task_deadline(run.data_interval_end.unwrap_or(run.logical_date), within)?;
                Some((id, at, channels))
            })
            .collect();
        if timed.is_empty() {
            continue;
        }
        if timed.iter().all(|(_, at, _)| *at > now) {
            timed.iter().for_each(|(_, at, _)| ahead(*at));
            continue;
        }
        let instances = shared
            .store
            .list_task_instances(&run.dag_id, &run.run_id)
            .await?;
        for (task_id, deadline, channels) in &timed {
            if *deadline > now {
                ahead(*deadline);
                continue;
            }
            for ti in instances.iter().filter(|t| t.key.task_id == **task_id) {
                if ti.state.is_finished() {
                    continue;
                }
                let seen = format!(
                    "task:{}/{}/{}/{}",
                    run.dag_id, run.run_id, task_id, ti.key.map_index
                );
                if !shared.notifier.first_miss(&seen) {
                    continue;
                }
                let message = Message {
                    event: NotifyEvent::DeadlineMiss,
                    subject: Subject {
                        team: spec.team.to_string(),
                        dag_id: run.dag_id.to_string(),
                        run_id: run.run_id.to_string(),
                        task_id: Some(task_id.to_string()),
                        map_index: Some(ti.key.map_index),
                        try_number: None,
                    },
                    state: ti.state.as_str().to_string(),
                    reason: None,
                    logical_date: run.logical_date,
                    deadline: Some(*deadline),
                    log_tail: Vec::new(),
                    url: run_message(shared, spec, &run, NotifyEvent::DeadlineMiss, now, None).url,
                    at: now,
                };
                rows(shared, channels, &message, None, &mut out);
            }
        }
    }
    added(shared, &out).await?;
    Ok(next)
}
