//! Traces (OpenTelemetry): one span per DAG run and one per try, exported over OTLP/HTTP
//! when `weir.toml` has a `[tracing]` table, and the W3C `TRACEPARENT` in every try's
//! environment so a team's own code continues the trace.
//!
//! A run can last hours and outlive the server that started it, so no live span is
//! kept: the ids come from the run's and try's keys (`weir_core::trace_context`), and
//! each span is built and exported once, when it ends, with its real start and end:
//! a try's in [`try_finished`] (from `launch::finish_try`), parented to its run's span;
//! a run's in [`run_finished`] (when the planner or a mark ends it). A run cleared
//! after it finished and finished again exports its run span again, with the same ids.
//!
//! Export off (no `[tracing]`, the default): every hook returns at once, and tries get
//! no `TRACEPARENT` (a DAG's own `env: TRACEPARENT` passes unchanged). Export on: Weir's
//! `TRACEPARENT` replaces a DAG's own (the try's log says so), and `http` tasks send it
//! as the `traceparent` header (replacing theirs). The collector's endpoint and headers
//! stay in the server: a try gets only the ids.
//!
//! Exporting never blocks or fails the scheduler (see [`export`]).

mod export;
mod spans;

use chrono::{DateTime, Utc};
use weir_compute::{LaunchSpec, TryFolder, TryOutcome};
use weir_core::fair_share::RunningTry;
use weir_core::ids::TryKey;
use weir_core::state::DagRunState;
use weir_core::trace_context::{TRACEPARENT, TRACEPARENT_HEADER, traceparent};
use weir_store::DagRunRecord;

use crate::dag_cache::DagVersion;
use crate::shared::Shared;

/// The engine's trace export: off, or a queue and the task that sends it.
pub(crate) struct Traces {
    exporter: Option<export::Exporter>,
}

impl Traces {
    /// Export as `platform`'s `[tracing]` says: off without it.
    pub(crate) fn start(
        platform: &weir_core::platform::PlatformConfig,
    ) -> crate::error::Result<Traces> {
        let Some(settings) = &platform.tracing else {
            return Ok(Traces { exporter: None });
        };
        let exporter = export::Exporter::start(settings).map_err(|why| {
            crate::EngineError::Traces(format!("to `{}`: {why}", settings.traces_url()))
        })?;
        tracing::info!(endpoint = %settings.traces_url(), "exporting traces (OTLP/HTTP)");
        Ok(Traces {
            exporter: Some(exporter),
        })
    }

    /// Sends the spans still queued; called once the scheduler loop has stopped.
    pub(crate) async fn shutdown(&self) {
        if let Some(exporter) = &self.exporter {
            exporter.shutdown().await;
        }
    }
}

/// Gives a try its `TRACEPARENT` (export on): its run's trace, its own span. A DAG's
/// own `TRACEPARENT` is replaced, and the try's log says so.
pub(crate) fn add_trace_context(shared: &Shared, spec: &mut LaunchSpec, folder: &TryFolder) {
    if shared.traces.exporter.is_none() {
        return;
    }
    let before = spec.env.len();
    spec.env.retain(|(name, _)| name != TRACEPARENT);
    if spec.env.len() != before {
        folder.remark(&format!(
            "note: the task's own `{TRACEPARENT}` is replaced by Weir's (this try's span in the run's trace)"
        ));
    }
    spec.env
        .push((TRACEPARENT.to_string(), traceparent(&spec.key)));
}

/// An `http` task's headers with the `traceparent` of its try (export on), in place of
/// one the task sets itself.
pub(crate) fn add_trace_header(shared: &Shared, key: &TryKey, headers: &mut Vec<(String, String)>) {
    if shared.traces.exporter.is_none() {
        return;
    }
    headers.retain(|(name, _)| !name.eq_ignore_ascii_case(TRACEPARENT_HEADER));
    headers.push((TRACEPARENT_HEADER.to_string(), traceparent(key)));
}

/// Exports the span of a try that ended, as recorded (`recorded`'s reason is masked).
pub(crate) fn try_finished(
    shared: &Shared,
    key: &TryKey,
    outcome: &TryOutcome,
    recorded: &weir_store::TryOutcome,
    version: Option<&DagVersion>,
    placement: Option<&RunningTry>,
) {
    let Some(exporter) = &shared.traces.exporter else {
        return;
    };
    let team = version
        .map(|v| v.spec.team.as_str())
        .or(placement.map(|p| p.team.as_str()));
    exporter.send(spans::try_span(&spans::TrySpan {
        key,
        team,
        started_at: outcome.started_at,
        finished_at: outcome.finished_at,
        state: recorded.state,
        exit_code: recorded.exit_code,
        end: &outcome.reason,
        reason: recorded.reason.as_deref(),
        placement,
    }));
}

/// Exports the span of a run that reached `state` (success or failed) at `ended`.
pub(crate) async fn run_finished(
    shared: &Shared,
    run: &DagRunRecord,
    state: DagRunState,
    ended: DateTime<Utc>,
) {
    let Some(exporter) = &shared.traces.exporter else {
        return;
    };
    let version = shared
        .catalog
        .version(&shared.store, &run.dag_id, &run.version_hash)
        .await
        .ok();
    let team = version.as_ref().map(|v| v.spec.team.as_str());
    exporter.send(spans::run_span(run, team, state, ended));
}
