//! Sensors: `sensor` tasks, which wait without holding anything.
//!
//! The dispatcher hands every scheduled sensor instance here instead of to a backend:
//! it is never counted against parallelism, `max_active_tasks`, its pool or any
//! capacity. [`poke`] checks it off the scheduler's path (a task on the engine's
//! tracker; one check per instance at a time; `sql` and `http` checks bounded by
//! [`CHECK_TIMEOUT`]), asks `weir_core::sensor::decide` what the answer means, and
//! writes it compare-and-set on `scheduled`:
//! - not yet: `up_for_reschedule` with the next check in `next_retry_at` and a note
//!   saying what it waits for; the retry timers (`TryRegistry::reschedule_at`, kept
//!   again by `recovery` after a restart) put it back to `scheduled` when due;
//! - an answer: `success`, `failed` or `skipped`, as one try (no backend, no log), with
//!   a note saying why; the task's `notify` hears of it as of a try's end.
//!
//! A run cleared, marked or failed while its sensor waits or is being checked simply
//! wins: the sensor's compare-and-set finds another state and writes nothing. The loop
//! is woken after each check, so a finished sensor's downstream starts at once.
//!
//! What each kind checks is in [`checks`] (another DAG's run or task, `sql`, `http`,
//! `dataset`) and [`file`] (`file`, confined to the platform's `[sensors]` roots).

mod checks;
mod file;

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};
use weir_core::lifecycle::try_start::next_try_number;
use weir_core::sensor::{Check, Decision, Waiting, decide};
use weir_core::spec::model::{SensorTarget, SensorTask};
use weir_core::state::TaskState;
use weir_store::{DagRunRecord, TaskInstanceRecord, TaskInstanceUpdate};

use crate::dag_cache::DagVersion;
use crate::error::Result;
use crate::events::Event;
use crate::shared::Shared;

pub use checks::check_dataset;

/// The longest one `sql` or `http` check may take (a request's own `timeout` may be
/// shorter); a check that takes longer counts as "not yet".
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// Checks the scheduled sensor instance `ti` in the background, unless it is being
/// checked already; the loop is woken when the answer is written.
pub fn poke(
    shared: &Arc<Shared>,
    run: &DagRunRecord,
    version: Arc<DagVersion>,
    ti: &TaskInstanceRecord,
    sensor: &SensorTask,
) {
    if !shared.tries.begin_check(&ti.key) {
        return;
    }
    let (task_shared, run, ti, sensor) = (shared.clone(), run.clone(), ti.clone(), sensor.clone());
    shared.tracker.spawn(async move {
        let shared = task_shared;
        if let Err(e) = check_and_answer(&shared, &run, &version, &ti, &sensor).await {
            warn!(ti = %ti.key, error = %e, "cannot check sensor");
            // Still scheduled: held as being checked for one interval, so a store that
            // fails is asked again at the sensor's pace, not at every pass.
            let pause = Waiting::of(&sensor)
                .poke_interval
                .min(weir_core::sensor::MAX_BACKOFF);
            let retry_at = shared.now() + chrono::TimeDelta::from_std(pause).unwrap_or_default();
            tokio::select! {
                () = shared.clock.sleep_until(retry_at) => {}
                () = shared.shutdown.cancelled() => {}
            }
        }
        shared.tries.end_check(&ti.key);
        shared.notify(Event::RunChanged {
            dag_id: ti.key.dag_id.clone(),
            run_id: ti.key.run_id.clone(),
        });
    });
}

async fn check_and_answer(
    shared: &Arc<Shared>,
    run: &DagRunRecord,
    version: &DagVersion,
    ti: &TaskInstanceRecord,
    sensor: &SensorTask,
) -> Result<()> {
    // The timeout counts from the first check: the start date the first one wrote.
    let first_check = ti.start_date.unwrap_or_else(|| shared.now());
    let found = check(shared, run, version, ti, sensor).await?;
    let now = shared.now();
    let decision = decide(&Waiting::of(sensor), first_check, now, found);
    let done = |state, note: &String| TaskInstanceUpdate::SensorDone {
        state,
        try_number: next_try_number(ti.try_number),
        first_check,
        at: now,
        note: note.clone(),
    };
    let update = match &decision {
        Decision::Reschedule { at, note } => TaskInstanceUpdate::Reschedule {
            first_check,
            next_check: *at,
            note: note.clone(),
        },
        Decision::Succeed { note } => done(TaskState::Success, note),
        Decision::Fail { note } => done(TaskState::Failed, note),
        Decision::Skip { note } => done(TaskState::Skipped, note),
    };
    if !shared.store.update_task_instance(&ti.key, &update).await? {
        // Cleared, marked or failed with its run meanwhile: that change stands.
        return Ok(());
    }
    match decision {
        Decision::Reschedule { at, .. } => shared.tries.reschedule_at(at, ti.key.clone()),
        Decision::Succeed { note } | Decision::Fail { note } | Decision::Skip { note } => {
            let state = update.new_state();
            info!(ti = %ti.key, %state, %note, "sensor answered");
            // The task's `notify` hears of a sensor's answer as of a try's end.
            if let Some(task) = version.spec.tasks.get(ti.key.task_id.as_str()) {
                let masker = weir_core::mask::Masker::default();
                let ended = crate::notifications::Ended {
                    state,
                    reason: Some(&note),
                    log: None,
                    masker: &masker,
                };
                let key = ti.key.try_key(next_try_number(ti.try_number));
                crate::notifications::after_try(shared, &key, &version.spec, task, ended).await;
            }
        }
    }
    Ok(())
}

/// What the sensor's one check finds now.
async fn check(
    shared: &Arc<Shared>,
    run: &DagRunRecord,
    version: &DagVersion,
    ti: &TaskInstanceRecord,
    sensor: &SensorTask,
) -> Result<Check> {
    let Some(target) = sensor.target() else {
        return Ok(Check::Failed(
            "the sensor does not name exactly one thing to wait for".into(),
        ));
    };
    match target {
        SensorTarget::Dag {
            dag,
            task,
            logical_date_offset,
            fail_on_failure,
        } => checks::other_dag(shared, run, dag, task, logical_date_offset, fail_on_failure).await,
        SensorTarget::Dataset { uri, since } => {
            check_dataset(shared, run, version, ti, uri, since).await
        }
        SensorTarget::Sql(sql) => checks::sql(shared, run, version, ti, sql).await,
        SensorTarget::Http(http) => checks::http(shared, run, version, ti, http).await,
        SensorTarget::File(path) => file::check(shared, run, version, ti, path).await,
    }
}

/// The sensor's template context, or why it cannot be made (a failed check).
async fn context(
    shared: &Shared,
    run: &DagRunRecord,
    version: &DagVersion,
    ti: &TaskInstanceRecord,
) -> Result<std::result::Result<weir_core::template::TemplateContext, Check>> {
    let ctx = crate::prepare::try_context(shared, run, version, ti, next_try_number(ti.try_number))
        .await?;
    Ok(ctx.map_err(|(why, _)| Check::Failed(why)))
}

/// `text` rendered, or why not (a failed check: a template does not fix itself).
fn render(
    text: &str,
    what: &str,
    ctx: &weir_core::template::TemplateContext,
) -> std::result::Result<String, Check> {
    crate::prepare::render(text, what, ctx).map_err(|(why, _)| Check::Failed(why))
}
