//! Dataset-scheduled DAGs: each one's pending events (past its cursor) against its
//! condition; a met condition is one run, created with its events and the cursor's move
//! in one store transaction.

use std::sync::Arc;

use chrono::SubsecRound;
use serde_json::Value;
use tracing::{info, warn};
use weir_core::dataset::{PendingEvent, Trigger, trigger};
use weir_core::ids::{DagId, RunId};
use weir_core::state::{DagRunState, RunType};
use weir_store::{DatasetTrigger, NewDagRun, StoreError};

use crate::error::{EngineError, Result};
use crate::shared::Shared;

/// Events read per query while collecting a consumer's pending events.
const PAGE: i64 = 1000;
/// Most events one look at one consumer reads; the rest wait for the next look.
const MOST_PER_LOOK: usize = 100_000;

/// Looks at every dataset-scheduled DAG; returns whether there are any (the loop then
/// looks again within [`super::RECHECK`], for events other replicas record).
pub(crate) async fn trigger_consumers(shared: &Arc<Shared>) -> Result<bool> {
    let consumers = shared.store.dataset_consumer_dags().await?;
    if consumers.is_empty() {
        return Ok(false);
    }
    let newest = shared.store.last_dataset_event_id().await?;
    for consumer in consumers {
        let dag_id = consumer.dag_id;
        if !shared.replica.holds(&dag_id) {
            continue;
        }
        // A new consumer starts after the newest event: what came before it is not its.
        let cursor = match consumer.cursor {
            Some(cursor) => cursor,
            None => shared.store.dataset_cursor(&dag_id, newest).await?,
        };
        if consumer.paused || cursor >= newest {
            continue;
        }
        if let Err(e) = consider(shared, &dag_id, cursor).await {
            warn!(%dag_id, error = %e, "cannot look at the DAG's dataset events");
        }
    }
    Ok(true)
}

async fn consider(shared: &Arc<Shared>, dag_id: &DagId, cursor: i64) -> Result<()> {
    let version = shared.catalog.latest(&shared.store, dag_id).await?;
    let Some(condition) = version
        .spec
        .schedule
        .as_ref()
        .and_then(|s| s.datasets())
        .map(|d| d.condition())
    else {
        return Ok(());
    };
    // Only the wanted events are kept; `newest` is how far the reading got.
    let mut pending: Vec<PendingEvent> = Vec::new();
    let mut newest = cursor;
    let mut read = 0usize;
    loop {
        let page = shared.store.dataset_events_after(newest, PAGE).await?;
        let Some(last) = page.last() else { break };
        newest = last.id;
        read += page.len();
        let full = page.len() as i64 == PAGE;
        pending.extend(
            page.into_iter()
                .filter(|e| condition.wants(&e.uri))
                .map(|e| PendingEvent {
                    id: e.id,
                    uri: e.uri,
                    timestamp: e.created_at,
                }),
        );
        if !full || read >= MOST_PER_LOOK {
            break;
        }
    }
    match trigger(&condition, cursor, &pending, newest) {
        Trigger::Wait => {}
        Trigger::Skip { through } => {
            shared
                .store
                .move_dataset_cursor(dag_id, cursor, through)
                .await?;
        }
        Trigger::Run {
            events,
            through,
            data_interval,
        } => {
            // Microseconds, as the store keeps them, so the run id names the logical date.
            let now = shared.now().trunc_subsecs(6);
            let run_id = RunId::new(crate::runs::run_id_for(RunType::DatasetTriggered, now))
                .map_err(|e| EngineError::InvalidRequest(format!("cannot make a run id: {e}")))?;
            let run = NewDagRun {
                dag_id: dag_id.clone(),
                run_id,
                version_hash: version.hash.clone(),
                run_type: RunType::DatasetTriggered,
                state: DagRunState::Queued,
                logical_date: now,
                data_interval_start: Some(data_interval.0),
                data_interval_end: Some(data_interval.1),
                conf: Value::Object(Default::default()),
                external_trigger: false,
                queued_at: now,
            };
            let tasks =
                crate::runs::initial_task_instances(&version, &shared.catalog.jobs_for(&version));
            let made = shared
                .store
                .trigger_dataset_run(&DatasetTrigger {
                    run: &run,
                    tasks: &tasks,
                    cursor,
                    through,
                    events: &events,
                })
                .await;
            match made {
                Ok(Some(run)) => {
                    info!(%dag_id, run_id = %run.run_id, events = events.len(), "dataset-triggered DAG run created");
                }
                // Another scheduler took these events first.
                Ok(None) => {}
                // Two triggers within one clock tick: the next look makes it.
                Err(StoreError::RunExists { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}
