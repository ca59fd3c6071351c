//! The catalog: what the engine knows of the teams' definitions. Parsed DAG versions
//! (by DAG and content hash; runs keep the version they started with) and the job
//! definitions of the jobs folder, and the lock that keeps two syncs of the DAG folder
//! from interleaving their writes.

use std::sync::{Arc, RwLock};

use weir_core::ids::DagId;
use weir_core::job_def::JobCatalog;
use weir_store::Store;

use crate::dag_cache::{DagCache, DagVersion};
use crate::error::Result;

#[derive(Default)]
pub(crate) struct Catalog {
    versions: DagCache,
    jobs: RwLock<Arc<JobCatalog>>,
    /// Held for a whole sync of the DAG folder: the watcher and `sync_dags` never
    /// interleave their writes of DAGs and import errors.
    sync: tokio::sync::Mutex<()>,
    /// Held for a whole repository sync (fetch, checkout, load): the interval's and the
    /// webhook's never share the Git cache at once.
    repository: tokio::sync::Mutex<()>,
}

impl Catalog {
    /// A DAG version, from memory or else from the store.
    pub async fn version(
        &self,
        store: &Store,
        dag_id: &DagId,
        hash: &str,
    ) -> Result<Arc<DagVersion>> {
        self.versions.get(store, dag_id, hash).await
    }

    /// The DAG's latest version, as the store knows it.
    pub async fn latest(&self, store: &Store, dag_id: &DagId) -> Result<Arc<DagVersion>> {
        self.versions.latest(store, dag_id).await
    }

    /// The parsed versions themselves, for the folder sync that adds to them.
    pub fn versions(&self) -> &DagCache {
        &self.versions
    }

    /// The job definitions in force (cheap: shared, not copied).
    pub fn jobs(&self) -> Arc<JobCatalog> {
        self.jobs.read().map(|j| j.clone()).unwrap_or_default()
    }

    /// The job definitions `version`'s tasks use: the ones it carries, or the current ones.
    pub fn jobs_for(&self, version: &DagVersion) -> Arc<JobCatalog> {
        version.jobs(self.jobs())
    }

    /// Replaces the job definitions (after a sync of the jobs folder).
    pub fn set_jobs(&self, jobs: JobCatalog) {
        if let Ok(mut current) = self.jobs.write() {
            *current = Arc::new(jobs);
        }
    }

    /// Held for one whole repository sync.
    pub async fn repository_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.repository.lock().await
    }

    /// Held for one whole sync of the DAG folder.
    pub async fn sync_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.sync.lock().await
    }
}
