//! The engine's parts, as the loop, the handle and the try waiters share them. Each
//! module of the engine takes what it needs from here; this module depends on the parts
//! only, never on the modules that use them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use weir_store::Store;

use crate::backends::Backends;
use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::config::EngineConfig;
use crate::dispatch_state::DispatchState;
use crate::events::Event;
use crate::notifications::Notifier;
use crate::tries::TryRegistry;

/// The engine's parts, shared by the loop, the handle and the try waiters: the store
/// and the settings, and four owned parts with one job each and their own narrow
/// methods (the catalog of definitions, the registry of tries, the dispatcher's state,
/// the compute backends); plus what the loop runs on (clock, wake-ups, background
/// tasks, shutdown).
pub(crate) struct Shared {
    pub config: EngineConfig,
    pub store: Store,
    /// The platform in force: from `weir.toml`, or the standalone default.
    pub platform: Arc<weir_core::platform::PlatformConfig>,
    /// Parsed DAG versions and job definitions.
    pub catalog: Catalog,
    /// The tries this engine watches and the retries it waits for.
    pub tries: TryRegistry,
    /// Fair-share usage and what the last dispatch pass saw.
    pub dispatcher: DispatchState,
    /// The compute backends, by the kind of environment they run.
    pub backends: Backends,
    /// What `GET /metrics` shows; also the store's observer.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Team secrets (resolved for a try at dispatch) and connection passwords.
    pub secrets: Arc<weir_secrets::Secrets>,
    /// Notification delivery: channels' rate windows, the loop's wake-up.
    pub notifier: Notifier,
    /// Spans of runs and tries, exported when `[tracing]` says so.
    pub traces: crate::traces::Traces,
    /// The log store (`[logs] store`) and retention.
    pub logs: crate::log_archive::LogArchive,
    /// Whether a dataset event was recorded since consumers were last looked at.
    pub datasets: crate::datasets::DatasetWatch,
    pub clock: Arc<dyn Clock>,
    pub events: mpsc::UnboundedSender<Event>,
    pub tracker: TaskTracker,
    pub shutdown: CancellationToken,
    /// How many scheduling passes the loop has made: whoever waits for the engine to
    /// act (a test on a manual clock, a live view) waits for the next one.
    pub passes: tokio::sync::watch::Sender<u64>,
    /// This process among Weir's replicas: its id, role and the DAGs it holds.
    pub replica: crate::replicas::Replica,
    /// Wakes the replica's heartbeat early (DAGs to claim).
    pub lease_wake: crate::replicas::leases::LeaseWake,
}

impl Shared {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Wakes this engine's loop for `event`, and tells the other replicas when it may
    /// concern them.
    pub fn notify(&self, event: Event) {
        crate::replicas::announce::tell_others(self, &event);
        self.notify_here(event);
    }

    /// Wakes this engine's loop only (for what other replicas announced, or what only
    /// this one acts on).
    pub fn notify_here(&self, event: Event) {
        // Fails only after the loop stopped, when nobody needs waking.
        let _ = self.events.send(event);
    }
}
