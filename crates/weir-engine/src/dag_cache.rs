//! DAG versions in memory: the parsed spec and task graph per (DAG, content hash), so a
//! run in flight keeps the version it started with while its file changes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use weir_core::ids::DagId;
use weir_core::spec::DagSpec;
use weir_core::spec::graph::TaskGraph;
use weir_store::Store;

use crate::error::{EngineError, Result};

/// One DAG version, ready to plan with.
#[derive(Debug)]
pub struct DagVersion {
    pub hash: String,
    pub spec: DagSpec,
    pub graph: TaskGraph,
    pub tz: chrono_tz::Tz,
    /// The tasks whose fields may use `conn.<id>`: only their tries load the team's
    /// connections for the template context. Found once per version, not per try.
    conn_tasks: HashSet<String>,
}

impl DagVersion {
    pub fn new(spec: DagSpec, hash: String) -> Self {
        let graph = TaskGraph::new(&spec);
        let tz = weir_core::schedule::parse_timezone(&spec.timezone).unwrap_or(chrono_tz::UTC);
        let conn_tasks = spec
            .tasks
            .iter()
            .filter(|(_, task)| {
                serde_json::to_string(task).is_ok_and(|text| text.contains("conn."))
            })
            .map(|(id, _)| id.to_string())
            .collect();
        DagVersion {
            hash,
            spec,
            graph,
            tz,
            conn_tasks,
        }
    }

    /// Whether the task's fields may use `conn.<id>` in their templates.
    pub fn uses_connections(&self, task_id: &str) -> bool {
        self.conn_tasks.contains(task_id)
    }
}

#[derive(Debug, Default)]
pub struct DagCache {
    versions: RwLock<HashMap<(DagId, String), Arc<DagVersion>>>,
}

impl DagCache {
    pub fn insert(&self, dag_id: DagId, version: Arc<DagVersion>) {
        if let Ok(mut map) = self.versions.write() {
            map.insert((dag_id, version.hash.clone()), version);
        }
    }

    /// The version, from memory or else from the store.
    pub async fn get(&self, store: &Store, dag_id: &DagId, hash: &str) -> Result<Arc<DagVersion>> {
        let key = (dag_id.clone(), hash.to_string());
        if let Some(v) = self.versions.read().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(v);
        }
        let record = store
            .get_dag_version(dag_id, hash)
            .await?
            .ok_or_else(|| EngineError::DagNotFound(dag_id.clone()))?;
        let spec: DagSpec =
            serde_json::from_value(record.spec).map_err(|e| EngineError::BadStoredSpec {
                dag_id: dag_id.clone(),
                version: hash.to_string(),
                detail: e.to_string(),
            })?;
        let version = Arc::new(DagVersion::new(spec, hash.to_string()));
        self.insert(dag_id.clone(), version.clone());
        Ok(version)
    }

    /// The DAG's latest version, as the store knows it.
    pub async fn latest(&self, store: &Store, dag_id: &DagId) -> Result<Arc<DagVersion>> {
        let dag = store
            .get_dag(dag_id)
            .await?
            .ok_or_else(|| EngineError::DagNotFound(dag_id.clone()))?;
        let hash = dag
            .latest_version
            .ok_or_else(|| EngineError::DagNotFound(dag_id.clone()))?;
        self.get(store, dag_id, &hash).await
    }
}
