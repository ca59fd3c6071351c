//! What wakes the scheduler loop.

use weir_compute::TryOutcome;
use weir_core::ids::{DagId, RunId, TryKey};

#[derive(Debug)]
pub enum Event {
    /// A try ended (or was found ended after a restart).
    /// `retryable` is false when retrying cannot help (e.g. the task kind is not enabled).
    TryFinished {
        key: TryKey,
        outcome: TryOutcome,
        retryable: bool,
    },
    /// A run was created or changed from outside the loop (trigger, clear, mark).
    RunChanged { dag_id: DagId, run_id: RunId },
    /// DAGs were added, changed, paused or unpaused: recompute schedules, start runs.
    DagsChanged,
    /// A pool was created, resized or deleted: dispatch again (each pass reads the pools
    /// from the store), so what waits for a slot is placed or failed now.
    PoolsChanged,
    /// Dataset events were posted: the pass looks at their consumers.
    DatasetsUpdated,
}
