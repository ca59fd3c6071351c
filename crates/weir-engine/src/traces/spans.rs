//! What a run's and a try's spans say: their ids (from `weir_core::trace_context`),
//! times and attributes. Only the run's or try's own data goes in: no `conf`, no note,
//! no rendered command; a try's reason is the one recorded, credentials masked.

use std::borrow::Cow;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use weir_core::ids::TryKey;
use weir_core::lifecycle::outcome::EndReason;
use weir_core::state::{DagRunState, TaskState};
use weir_core::trace_context;
use weir_store::DagRunRecord;

/// What a try's span is made of.
pub(super) struct TrySpan<'a> {
    pub key: &'a TryKey,
    pub team: Option<&'a str>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub state: TaskState,
    pub exit_code: Option<i32>,
    pub end: &'a EndReason,
    /// The recorded reason, credentials masked.
    pub reason: Option<&'a str>,
    pub placement: Option<&'a weir_core::fair_share::RunningTry>,
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("weir")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

fn context(trace: TraceId, span: SpanId) -> SpanContext {
    SpanContext::new(
        trace,
        span,
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    )
}

fn time(at: DateTime<Utc>) -> SystemTime {
    SystemTime::from(at)
}

fn run_ids(key_dag: &weir_core::ids::DagId, key_run: &weir_core::ids::RunId) -> (TraceId, SpanId) {
    (
        TraceId::from_bytes(trace_context::trace_id(key_dag, key_run)),
        SpanId::from_bytes(trace_context::run_span_id(key_dag, key_run)),
    )
}

/// A finished run's span: from its start (or its queueing, for a run that never
/// started) to `ended`.
pub(super) fn run_span(
    run: &DagRunRecord,
    team: Option<&str>,
    state: DagRunState,
    ended: DateTime<Utc>,
) -> SpanData {
    let (trace, span) = run_ids(&run.dag_id, &run.run_id);
    let started = run.start_date.or(run.queued_at).unwrap_or(ended).min(ended);
    let mut attributes = vec![
        KeyValue::new("weir.dag_id", run.dag_id.to_string()),
        KeyValue::new("weir.run_id", run.run_id.to_string()),
        KeyValue::new("weir.run_type", run.run_type.as_str()),
        KeyValue::new("weir.logical_date", run.logical_date.to_rfc3339()),
        KeyValue::new("weir.state", state.as_str()),
    ];
    if let Some(team) = team {
        attributes.insert(0, KeyValue::new("weir.team", team.to_string()));
    }
    let status = match state {
        DagRunState::Success => Status::Ok,
        DagRunState::Failed => Status::error("the DAG run failed"),
        DagRunState::Queued | DagRunState::Running => Status::Unset,
    };
    SpanData {
        span_context: context(trace, span),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: Cow::Owned(format!("dag_run {}", run.dag_id)),
        start_time: time(started),
        end_time: time(ended),
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: scope(),
    }
}

/// A finished try's span, a child of its run's span.
pub(super) fn try_span(t: &TrySpan<'_>) -> SpanData {
    let key = t.key;
    let (trace, run_span) = run_ids(&key.dag_id, &key.run_id);
    let span = SpanId::from_bytes(trace_context::try_span_id(key));
    let mut attributes = vec![
        KeyValue::new("weir.dag_id", key.dag_id.to_string()),
        KeyValue::new("weir.run_id", key.run_id.to_string()),
        KeyValue::new("weir.task_id", key.task_id.to_string()),
        KeyValue::new("weir.map_index", i64::from(key.map_index)),
        KeyValue::new("weir.try_number", i64::from(key.try_number)),
        KeyValue::new("weir.state", t.state.as_str()),
        KeyValue::new("weir.end", end_kind(t.end)),
    ];
    if let Some(team) = t.team {
        attributes.insert(0, KeyValue::new("weir.team", team.to_string()));
    }
    if let Some(code) = t.exit_code {
        attributes.push(KeyValue::new("weir.exit_code", i64::from(code)));
    }
    if let Some(reason) = t.reason {
        attributes.push(KeyValue::new("weir.reason", reason.to_string()));
    }
    if let Some(p) = t.placement {
        attributes.push(KeyValue::new("weir.queue", p.queue.clone()));
        attributes.push(KeyValue::new(
            "weir.compute_environment",
            p.environment.clone(),
        ));
    }
    let status = match t.state {
        TaskState::Success => Status::Ok,
        TaskState::Failed | TaskState::UpForRetry | TaskState::UpstreamFailed => {
            Status::error(t.reason.unwrap_or("the try failed").to_string())
        }
        _ => Status::Unset,
    };
    SpanData {
        span_context: context(trace, span),
        parent_span_id: run_span,
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: Cow::Owned(format!("try {}", key.task_id)),
        start_time: time(t.started_at.min(t.finished_at)),
        end_time: time(t.finished_at),
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: scope(),
    }
}

/// How the try ended, as one word (the reason's text is `weir.reason`).
fn end_kind(end: &EndReason) -> &'static str {
    match end {
        EndReason::Exited => "exited",
        EndReason::TimedOut => "timed_out",
        EndReason::Cancelled => "cancelled",
        EndReason::Signalled(_) => "signalled",
        EndReason::OutOfMemory => "out_of_memory",
        EndReason::Lost(_) => "lost",
        EndReason::LaunchFailed(_) => "launch_failed",
        EndReason::Failed { .. } => "failed",
        EndReason::NeverStarted(_) => "never_started",
    }
}
