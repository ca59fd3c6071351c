//! Data-aware scheduling: a successful try's outlets become dataset events
//! (`outlets.rs`, recorded in the try's end transaction), and dataset-scheduled DAGs get
//! a run when their condition is met by the events past their cursor (`consumers.rs`,
//! asked of `weir_core::dataset::trigger`).
//!
//! The consumers are looked at when this engine recorded an event (a try's outlet, or a
//! post through the API), when DAGs changed (a new consumer, an unpause), and every
//! [`RECHECK`] while consumers exist, for events another replica recorded.

mod consumers;
mod outlets;

use std::sync::atomic::{AtomicBool, Ordering};

pub(crate) use consumers::trigger_consumers;
pub(crate) use outlets::outlet_events;

/// How often consumers are looked at without a reason known to this engine.
pub(crate) const RECHECK: chrono::TimeDelta = chrono::TimeDelta::seconds(10);

/// Whether an event was recorded since the consumers were last looked at.
#[derive(Debug, Default)]
pub(crate) struct DatasetWatch {
    recorded: AtomicBool,
}

impl DatasetWatch {
    pub fn recorded(&self) {
        self.recorded.store(true, Ordering::Release);
    }

    pub fn take(&self) -> bool {
        self.recorded.swap(false, Ordering::AcqRel)
    }
}
