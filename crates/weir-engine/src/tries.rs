//! The registry of tries this engine watches: the running ones (to cancel them on a
//! clear or a mark, to count them against parallelism and capacity, to finish them
//! without reading back what the engine already knows) and the task instances waiting
//! for their retry time. One lock each, held only inside these methods.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};
use weir_compute::{CancelHandle, TryFolder};
use weir_core::fair_share::RunningTry;
use weir_core::ids::TryKey;
use weir_store::TaskInstanceKey;

/// What the engine remembers of a try it watches.
pub(crate) struct Watched {
    pub cancel: CancelHandle,
    pub folder: TryFolder,
    pub version_hash: String,
    /// Where the dispatcher placed it (queue, team, environment, request).
    pub placement: Option<RunningTry>,
    /// `job@revision` for a job task.
    pub job_revision: Option<String>,
    /// The credentials the try was given, masked in what is recorded of it.
    pub masker: weir_core::mask::Masker,
}

#[derive(Default)]
pub(crate) struct TryRegistry {
    running: Mutex<HashMap<TryKey, Watched>>,
    /// When task instances waiting to retry become due.
    retries: Mutex<BTreeMap<DateTime<Utc>, Vec<TaskInstanceKey>>>,
}

impl TryRegistry {
    /// Starts watching a try.
    pub fn watch(&self, key: TryKey, watched: Watched) {
        if let Ok(mut map) = self.running.lock() {
            map.insert(key, watched);
        }
    }

    /// Stops watching a try (it ended); what the engine knew of it.
    pub fn finished(&self, key: &TryKey) -> Option<Watched> {
        self.running.lock().ok().and_then(|mut map| map.remove(key))
    }

    /// Links a try's placeholder cancel handle to the backend's, once the backend has
    /// taken the try. A cancel that came while the backend was starting it applies now.
    pub fn link_cancel(&self, key: &TryKey, running: &weir_compute::RunningTry) {
        if let Ok(mut map) = self.running.lock()
            && let Some(w) = map.get_mut(key)
        {
            if w.cancel.is_cancelled() {
                running.cancel();
            }
            w.cancel = running.cancel_handle();
        }
    }

    /// Asks the backend to stop a watched try; false if this engine does not watch it.
    pub fn cancel(&self, key: &TryKey) -> bool {
        // Under the lock, so a handle being linked to its backend cannot miss the cancel.
        match self.running.lock() {
            Ok(map) => match map.get(key) {
                Some(watched) => {
                    watched.cancel.cancel();
                    true
                }
                None => false,
            },
            Err(_) => false,
        }
    }

    /// How many tries run now.
    pub fn in_flight(&self) -> usize {
        self.running.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// Where the running tries were placed, for the dispatcher's capacity accounting.
    pub fn placements(&self) -> Vec<RunningTry> {
        self.running
            .lock()
            .map(|r| r.values().filter_map(|w| w.placement.clone()).collect())
            .unwrap_or_default()
    }

    /// Remembers that `ti` retries at `at`.
    pub fn retry_at(&self, at: DateTime<Utc>, ti: TaskInstanceKey) {
        if let Ok(mut retries) = self.retries.lock() {
            retries.entry(at).or_default().push(ti);
        }
    }

    /// The task instances whose retry time has come by `now`, forgotten here.
    pub fn take_due_retries(&self, now: DateTime<Utc>) -> Vec<TaskInstanceKey> {
        match self.retries.lock() {
            Ok(mut retries) => {
                let later = retries.split_off(&(now + TimeDelta::milliseconds(1)));
                let due = std::mem::replace(&mut *retries, later);
                due.into_values().flatten().collect()
            }
            Err(_) => Vec::new(),
        }
    }

    /// When the next retry is due.
    pub fn next_retry(&self) -> Option<DateTime<Utc>> {
        self.retries
            .lock()
            .ok()
            .and_then(|r| r.keys().next().copied())
    }
}
