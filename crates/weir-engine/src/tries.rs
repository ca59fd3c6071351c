//! The registry of tries this engine watches: the running ones (to cancel them on a
//! clear or a mark, to count them against parallelism and capacity, to finish them
//! without reading back what the engine already knows), the task instances waiting
//! for their retry time, the sensors waiting for their next check and those being
//! checked. One lock each, held only inside these methods.

use std::collections::{BTreeMap, HashMap, HashSet};
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
    /// When sensors waiting (`up_for_reschedule`) are due for their next check.
    reschedules: Mutex<BTreeMap<DateTime<Utc>, Vec<TaskInstanceKey>>>,
    /// Sensors whose check runs now: one check per instance at a time.
    checking: Mutex<HashSet<TaskInstanceKey>>,
}

/// The keys of `timers` due by `now`, forgotten there.
fn take_due(
    timers: &Mutex<BTreeMap<DateTime<Utc>, Vec<TaskInstanceKey>>>,
    now: DateTime<Utc>,
) -> Vec<TaskInstanceKey> {
    match timers.lock() {
        Ok(mut timers) => {
            let later = timers.split_off(&(now + TimeDelta::milliseconds(1)));
            let due = std::mem::replace(&mut *timers, later);
            due.into_values().flatten().collect()
        }
        Err(_) => Vec::new(),
    }
}

fn first(timers: &Mutex<BTreeMap<DateTime<Utc>, Vec<TaskInstanceKey>>>) -> Option<DateTime<Utc>> {
    timers.lock().ok().and_then(|t| t.keys().next().copied())
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

    /// Whether a try of `dag_id` runs under this engine's watch.
    pub fn watches_dag(&self, dag_id: &weir_core::ids::DagId) -> bool {
        self.running
            .lock()
            .map(|r| r.keys().any(|k| &k.dag_id == dag_id))
            .unwrap_or(true)
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
        take_due(&self.retries, now)
    }

    /// Remembers that the sensor `ti` is checked again at `at`.
    pub fn reschedule_at(&self, at: DateTime<Utc>, ti: TaskInstanceKey) {
        if let Ok(mut timers) = self.reschedules.lock() {
            timers.entry(at).or_default().push(ti);
        }
    }

    /// Marks the sensor `ti` as being checked; false if it already is.
    pub fn begin_check(&self, ti: &TaskInstanceKey) -> bool {
        self.checking
            .lock()
            .map(|mut set| set.insert(ti.clone()))
            .unwrap_or(false)
    }

    /// The check of the sensor `ti` is over.
    pub fn end_check(&self, ti: &TaskInstanceKey) {
        if let Ok(mut set) = self.checking.lock() {
            set.remove(ti);
        }
    }

    /// The sensors whose next check has come by `now`, forgotten here.
    pub fn take_due_reschedules(&self, now: DateTime<Utc>) -> Vec<TaskInstanceKey> {
        take_due(&self.reschedules, now)
    }

    /// When the next retry or sensor check is due.
    pub fn next_retry(&self) -> Option<DateTime<Utc>> {
        match (first(&self.retries), first(&self.reschedules)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
