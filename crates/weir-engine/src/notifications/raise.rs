//! Raising events: after a try's end and a run's end are recorded, and when a deadline
//! passes, the messages the DAG asked for are recorded in the store (one per channel
//! and medium, deduplicated there). Sending is the delivery loop's job, so raising
//! costs the scheduler one insert and never waits on a channel.

use std::path::Path;

use chrono::{DateTime, Utc};
use tracing::warn;
use weir_core::ids::TryKey;
use weir_core::mask::Masker;
use weir_core::notify::{
    Message, NotifyEvent, NotifySpec, Subject, dedup_key, run_events, tail_lines, task_events,
};
use weir_core::spec::DagSpec;
use weir_core::spec::model::TaskSpec;
use weir_core::state::{DagRunState, TaskState};
use weir_store::{DagRunRecord, NewNotification, TaskInstanceKey};

use crate::shared::Shared;

/// Bytes read from the end of a log for its last lines.
const LOG_TAIL_BYTES: u64 = 16 * 1024;

/// A try moved its instance to `state`: records what the task's `notify` asks for.
/// Best effort after the fact: a store error is logged, the try's end stands.
pub(crate) async fn after_try(
    shared: &Shared,
    key: &TryKey,
    spec: &DagSpec,
    task: &TaskSpec,
    ended: Ended<'_>,
) {
    let notify = spec.task_notify(task);
    if notify.is_empty() {
        return;
    }
    if let Err(e) = raise_for_try(shared, key, spec, &notify, ended).await {
        warn!(%key, error = %e, "cannot record the try's notifications");
    }
}

/// How a try ended, as its messages tell it: the state it moved its instance to, why,
/// its log, and the masker of the credentials it was given.
pub(crate) struct Ended<'a> {
    pub state: TaskState,
    pub reason: Option<&'a str>,
    pub log: Option<&'a Path>,
    pub masker: &'a Masker,
}

async fn raise_for_try(
    shared: &Shared,
    key: &TryKey,
    spec: &DagSpec,
    notify: &NotifySpec,
    ended: Ended<'_>,
) -> crate::error::Result<()> {
    let Ended {
        state,
        reason,
        log,
        masker,
    } = ended;
    let failed_before = if notify.channels(NotifyEvent::Recovery).is_empty() {
        false
    } else {
        failed_before(shared, key).await?
    };
    let events: Vec<NotifyEvent> = task_events(state, failed_before)
        .into_iter()
        .filter(|e| !notify.channels(*e).is_empty())
        .collect();
    if events.is_empty() {
        return Ok(());
    }
    let Some(run) = shared.store.get_dag_run(&key.dag_id, &key.run_id).await? else {
        return Ok(());
    };
    let log_tail = match log {
        // Backends mask the log as they write it; masked again in case a value
        // arrived split across writes.
        Some(path) => read_tail(path.to_path_buf())
            .await
            .into_iter()
            .map(|line| masker.mask(&line))
            .collect(),
        None => Vec::new(),
    };
    let subject = Subject {
        team: spec.team.to_string(),
        dag_id: key.dag_id.to_string(),
        run_id: key.run_id.to_string(),
        task_id: Some(key.task_id.to_string()),
        map_index: Some(key.map_index),
        try_number: Some(key.try_number),
    };
    let now = shared.now();
    let mut out = Vec::new();
    for event in events {
        let message = Message {
            event,
            subject: subject.clone(),
            state: state.as_str().to_string(),
            reason: reason.map(str::to_string),
            logical_date: run.logical_date,
            deadline: None,
            log_tail: log_tail.clone(),
            url: run_url(shared, &run),
            at: now,
        };
        rows(shared, notify.channels(event), &message, None, &mut out);
    }
    added(shared, &out).await
}

/// Whether the instance's previous try failed, or (on its first try) the task failed
/// in the DAG's previous run.
async fn failed_before(shared: &Shared, key: &TryKey) -> crate::error::Result<bool> {
    if key.try_number > 1 {
        let previous = TryKey {
            try_number: key.try_number - 1,
            ..key.clone()
        };
        if let Some(t) = shared.store.get_try(&previous).await? {
            return Ok(matches!(t.state, TaskState::Failed | TaskState::UpForRetry));
        }
    }
    let Some(run) = shared.store.get_dag_run(&key.dag_id, &key.run_id).await? else {
        return Ok(false);
    };
    let Some(previous) = shared
        .store
        .previous_finished_run(&key.dag_id, run.logical_date)
        .await?
    else {
        return Ok(false);
    };
    let ti = shared
        .store
        .get_task_instance(&TaskInstanceKey {
            dag_id: key.dag_id.clone(),
            run_id: previous.run_id,
            task_id: key.task_id.clone(),
            map_index: key.map_index,
        })
        .await?;
    Ok(ti.is_some_and(|t| t.state == TaskState::Failed))
}

/// A run ended in `run.state`: records what the DAG's `notify` asks for, and a missed
/// deadline the deadline check had no time to see.
pub(crate) async fn after_run(shared: &Shared, spec: &DagSpec, run: &DagRunRecord) {
    if spec.notify.is_empty() {
        return;
    }
    if let Err(e) = raise_for_run(shared, spec, run).await {
        warn!(dag_id = %run.dag_id, run_id = %run.run_id, error = %e, "cannot record the run's notifications");
    }
}

async fn raise_for_run(
    shared: &Shared,
    spec: &DagSpec,
    run: &DagRunRecord,
) -> crate::error::Result<()> {
    let notify = &spec.notify;
    let previous_failed = if notify.channels(NotifyEvent::Recovery).is_empty() {
        false
    } else {
        shared
            .store
            .previous_finished_run(&run.dag_id, run.logical_date)
            .await?
            .is_some_and(|r| r.state == DagRunState::Failed)
    };
    let now = shared.now();
    let mut out = Vec::new();
    for event in run_events(run.state, previous_failed) {
        let message = run_message(shared, spec, run, event, now, None);
        rows(
            shared,
            notify.channels(event),
            &message,
            run.end_date.or(Some(now)),
            &mut out,
        );
    }
    if let (Some(deadline), Some(ended)) = (run_deadline_of(spec, run), run.end_date)
        && ended > deadline
    {
        let message = run_message(
            shared,
            spec,
            run,
            NotifyEvent::DeadlineMiss,
            now,
            Some(deadline),
        );
        rows(
            shared,
            notify.channels(NotifyEvent::DeadlineMiss),
            &message,
            None,
            &mut out,
        );
    }
    added(shared, &out).await
}

pub(super) fn run_deadline_of(spec: &DagSpec, run: &DagRunRecord) -> Option<DateTime<Utc>> {
    let within = spec.deadline.as_ref()?.run_within.0;
    weir_core::notify::run_deadline(run.data_interval_end.unwrap_or(run.logical_date), within)
}

pub(super) fn run_message(
    shared: &Shared,
    spec: &DagSpec,
    run: &DagRunRecord,
    event: NotifyEvent,
    now: DateTime<Utc>,
    deadline: Option<DateTime<Utc>>,
) -> Message {
    Message {
        event,
        subject: Subject {
            team: spec.team.to_string(),
            dag_id: run.dag_id.to_string(),
            run_id: run.run_id.to_string(),
            task_id: None,
            map_index: None,
            try_number: None,
        },
        state: run.state.as_str().to_string(),
        reason: None,
        logical_date: run.logical_date,
        deadline,
        log_tail: Vec::new(),
        url: run_url(shared, run),
        at: now,
    }
}

/// One row per channel and medium the channel sends by.
pub(super) fn rows(
    shared: &Shared,
    channels: &[String],
    message: &Message,
    ended_at: Option<DateTime<Utc>>,
    out: &mut Vec<NewNotification>,
) {
    let key = dedup_key(message.event, &message.subject, ended_at);
    let body = serde_json::to_value(message).unwrap_or_default();
    for name in channels {
        // Validation refuses a DAG naming a channel that does not exist; a channel
        // removed from weir.toml since is skipped with a warning.
        let Some(channel) = shared.platform.channel(name) else {
            warn!(channel = %name, dag_id = %message.subject.dag_id, "notification channel no longer exists");
            continue;
        };
        let media = [
            ("webhook", channel.webhook.is_some()),
            ("email", !channel.email.is_empty()),
        ];
        for (medium, _) in media.into_iter().filter(|(_, on)| *on) {
            out.push(NewNotification {
                dedup_key: key.clone(),
                channel: name.clone(),
                medium: medium.to_string(),
                team: message.subject.team.clone(),
                dag_id: message.subject.dag_id.clone(),
                run_id: message.subject.run_id.clone(),
                task_id: message.subject.task_id.clone(),
                event: message.event.as_str().to_string(),
                message: body.clone(),
                created_at: message.at,
            });
        }
    }
}

/// Records the rows and wakes the delivery loop when any is new.
pub(super) async fn added(shared: &Shared, rows: &[NewNotification]) -> crate::error::Result<()> {
    if shared.store.enqueue_notifications(rows).await? > 0 {
        shared.notifier.wake();
    }
    Ok(())
}

/// The run in the web UI.
fn run_url(shared: &Shared, run: &DagRunRecord) -> String {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "{}/dags/{}/runs/{}",
        shared.notifier.ui_url(),
        encode(run.dag_id.as_str()),
        encode(run.run_id.as_str())
    )
}

/// The last lines of a try's log (already masked: backends mask as they write).
async fn read_tail(path: std::path::PathBuf) -> Vec<String> {
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Seek, SeekFrom};
        use std::os::unix::fs::OpenOptionsExt;
        // The task may have replaced its log by a link to a server file, or a FIFO:
        // neither is followed or waited on.
        let Ok(mut file) = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
        else {
            return Vec::new();
        };
        let Ok(meta) = file.metadata() else {
            return Vec::new();
        };
        if !meta.is_file() {
            return Vec::new();
        }
        let len = meta.len();
        let start = len.saturating_sub(LOG_TAIL_BYTES);
        if file.seek(SeekFrom::Start(start)).is_err() {
            return Vec::new();
        }
        let mut end = Vec::new();
        if file.take(LOG_TAIL_BYTES).read_to_end(&mut end).is_err() {
            return Vec::new();
        }
        tail_lines(&end, start > 0)
    })
    .await
    .unwrap_or_default()
}
