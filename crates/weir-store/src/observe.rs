//! Watching the store from outside, for metrics: how long each store method took, and
//! each task-instance state change that landed. The store knows nothing of how this is
//! reported; whoever runs it gives it a [`StoreObserver`] ([`crate::Store::observe`]).
//!
//! Every method's body runs inside `with_db!`, which times it under the method's own
//! name (a bounded set: the store's public methods), whatever way it ends (`?`, early
//! return). A state change is reported after its transaction committed, once per
//! compare-and-set update that applied and changed the state (a note alone is no change),
//! so a lost race or a rolled-back start reports nothing.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use weir_core::state::TaskState;

use crate::records::{TaskInstanceKey, TaskInstanceUpdate};

/// What the store tells an observer. Called on the caller's task, inside the store's
/// methods: keep it quick and never block.
pub trait StoreObserver: Send + Sync + 'static {
    /// A store method (by name, e.g. `get_dag_run`) ended, well or not, after `elapsed`.
    fn query(&self, operation: &'static str, elapsed: Duration);
    /// A task instance moved to `to` (committed).
    fn task_instance_moved(&self, key: &TaskInstanceKey, to: TaskState);
}

/// The observer of a store and of all its clones (they share one connection pool, and
/// one observer): set once, by the engine, after the store was opened.
#[derive(Clone, Default)]
pub(crate) struct ObserverSlot(Arc<RwLock<Option<Arc<dyn StoreObserver>>>>);

impl std::fmt::Debug for ObserverSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = self.get().is_some();
        f.debug_struct("ObserverSlot").field("set", &set).finish()
    }
}

impl ObserverSlot {
    pub(crate) fn set(&self, observer: Arc<dyn StoreObserver>) {
        if let Ok(mut slot) = self.0.write() {
            *slot = Some(observer);
        }
    }

    fn get(&self) -> Option<Arc<dyn StoreObserver>> {
        self.0.read().ok().and_then(|slot| slot.clone())
    }

    /// Starts timing `operation`; the time is reported when the timer drops.
    pub(crate) fn time(&self, operation: &'static str) -> QueryTimer {
        QueryTimer(self.get().map(|o| (o, operation, Instant::now())))
    }

    /// Reports the state changes of `updates` that applied (call after the commit).
    pub(crate) fn moved(&self, key: &TaskInstanceKey, updates: &[&TaskInstanceUpdate]) {
        let Some(observer) = self.get() else { return };
        for update in updates {
            if update.expected() != update.new_state() {
                observer.task_instance_moved(key, update.new_state());
            }
        }
    }
}

/// Times one store method; reports on drop.
pub(crate) struct QueryTimer(Option<(Arc<dyn StoreObserver>, &'static str, Instant)>);

impl Drop for QueryTimer {
    fn drop(&mut self) {
        if let Some((observer, operation, started)) = self.0.take() {
            observer.query(operation, started.elapsed());
        }
    }
}

/// The name of the method a `with_db!` is in, from the type name of a function item
/// declared there (`weir_store::dags::<impl weir_store::Store>::get_dag::{{closure}}::here`
/// → `get_dag`). Computed once per call site.
pub(crate) fn method_name(here: &'static str) -> &'static str {
    let mut path = here.strip_suffix("::here").unwrap_or(here);
    while let Some(outer) = path.strip_suffix("::{{closure}}") {
        path = outer;
    }
    path.rsplit("::").next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::method_name;

    #[test]
    fn the_method_name_is_the_last_path_segment() {
        assert_eq!(
            method_name("weir_store::dags::<impl weir_store::Store>::get_dag::{{closure}}::here"),
            "get_dag"
        );
        assert_eq!(
            method_name("weir_store::<impl weir_store::Store>::health_check::here"),
            "health_check"
        );
    }

    #[test]
    fn the_macro_names_its_method() {
        fn list_things() -> &'static str {
            operation_name!()
        }
        async fn get_thing() -> &'static str {
            operation_name!()
        }
        assert_eq!(list_things(), "list_things");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        assert_eq!(runtime.block_on(get_thing()), "get_thing");
    }
}
