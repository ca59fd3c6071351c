//! DAG versions in memory: the parsed spec and task graph per (DAG, content hash), so a
//! run in flight keeps the version it started with while its file changes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use weir_core::ids::DagId;
use weir_core::job_def::{JobCatalog, JobDefinition};
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
    /// The job definitions this version carries (a production or deployed version is the
    /// DAG with the definitions it was approved with); None: the catalog's current ones.
    pinned_jobs: Option<Arc<JobCatalog>>,
}

impl DagVersion {
    pub fn new(spec: DagSpec, hash: String) -> Self {
        Self::with_jobs(spec, hash, None)
    }

    /// A version that carries its own job definitions.
    pub fn with_jobs(spec: DagSpec, hash: String, pinned: Option<Vec<JobDefinition>>) -> Self {
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
            pinned_jobs: pinned.map(|defs| Arc::new(JobCatalog::from_definitions(defs))),
        }
    }

    /// The job definitions this version's tasks use: its own if it carries them, else
    /// `current` (the catalog's).
    pub fn jobs(&self, current: Arc<JobCatalog>) -> Arc<JobCatalog> {
        self.pinned_jobs.clone().unwrap_or(current)
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
            .get_governed_version(dag_id, hash)
            .await?
            .ok_or_else(|| EngineError::DagNotFound(dag_id.clone()))?;
        let bad = |e: serde_json::Error| EngineError::BadStoredSpec {
            dag_id: dag_id.clone(),
            version: hash.to_string(),
            detail: e.to_string(),
        };
        let spec: DagSpec = serde_json::from_value(record.spec).map_err(bad)?;
        let pinned: Option<Vec<JobDefinition>> = record
            .jobs
            .map(serde_json::from_value)
            .transpose()
            .map_err(bad)?;
        let version = Arc::new(DagVersion::with_jobs(spec, hash.to_string(), pinned));
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
            .ok_or_else(|| EngineError::NoActiveVersion(dag_id.clone()))?;
        self.get(store, dag_id, &hash).await
    }
}
