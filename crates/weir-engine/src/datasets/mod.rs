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

/// What every active DAG declares about datasets (its active version's outlets, inlets,
/// schedule and dataset sensors), for the datasets API and lineage.
pub(crate) async fn declarations(
    shared: &crate::shared::Shared,
) -> crate::error::Result<Vec<weir_core::dataset::lineage::DagDatasets>> {
    use weir_core::spec::model::TaskKind;
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let page = shared
            .store
            .list_dags(&weir_store::DagFilter {
                only_active: true,
                limit: 500,
                offset,
                ..weir_store::DagFilter::default()
            })
            .await?;
        let n = page.items.len() as i64;
        for dag in page.items.iter().filter(|d| d.latest_version.is_some()) {
            let Ok(version) = shared.catalog.latest(&shared.store, &dag.dag_id).await else {
                continue;
            };
            let spec = &version.spec;
            let mut d = weir_core::dataset::lineage::DagDatasets {
                dag_id: spec.dag.to_string(),
                team: spec.team.to_string(),
                schedule: spec
                    .schedule
                    .as_ref()
                    .and_then(|s| s.datasets())
                    .map(|d| d.uris().to_vec())
                    .unwrap_or_default(),
                ..Default::default()
            };
            for (task_id, task) in &spec.tasks {
                d.outlets.extend(
                    task.outlets
                        .iter()
                        .map(|o| (task_id.to_string(), o.clone())),
                );
                d.inlets
                    .extend(task.inlets.iter().map(|i| (task_id.to_string(), i.clone())));
                if let TaskKind::Sensor(sensor) = &task.kind
                    && let Some(uri) = &sensor.dataset
                {
                    d.sensors.push((task_id.to_string(), uri.clone()));
                }
            }
            out.push(d);
        }
        offset += n;
        if n == 0 || offset >= page.total_entries {
            break;
        }
    }
    Ok(out)
}
