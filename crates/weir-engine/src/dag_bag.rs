//! The DAG folder: files found on disk, loaded through weir-core, synced into the store
//! (DAGs, content-addressed versions, import errors) and into the in-memory cache.
//!
//! A file that fails validation becomes an import error and changes nothing else: the
//! DAGs it defined before stay as they were, so runs in flight keep going. A DAG id
//! stays with the team that registered it; a file that claims it for another team, or
//! declares a team outside its `[[teams]] paths`, is an import error. Import errors of
//! files no longer in the folder are removed by each sync (so also at start-up).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use weir_core::ids::DagId;
use weir_core::platform::relative_to_dag_folder;
use weir_core::spec::bag::{BagInput, BagRules, Registered, load_bag_with};
use weir_core::spec::model::ScheduleSpec;
use weir_store::{DagFilter, DagRecord, Store};

use crate::dag_cache::{DagCache, DagVersion};
use crate::dag_files::Loaded;
use crate::error::{EngineError, Result};
use crate::shared::Shared;

/// What one sync of the DAG folder found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub files: usize,
    pub dags: usize,
    /// DAGs whose content changed (or that are new), i.e. got a new version.
    pub new_versions: usize,
    pub files_with_errors: usize,
}

/// How long reading a folder may take before the sync gives up (a hung network file
/// system): the reads run off the async runtime, so nothing else waits meanwhile.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads `dir` on a blocking thread, within [`READ_TIMEOUT`].
async fn load_off_runtime(dir: &Path) -> Result<Loaded> {
    let owned = dir.to_path_buf();
    let folder_error = |source| EngineError::DagFolder {
        path: dir.display().to_string(),
        source,
    };
    match tokio::time::timeout(
        READ_TIMEOUT,
        tokio::task::spawn_blocking(move || crate::dag_files::load_folder(&owned)),
    )
    .await
    {
        Ok(Ok(loaded)) => loaded.map_err(folder_error),
        Ok(Err(e)) => Err(folder_error(std::io::Error::other(format!(
            "the thread reading it failed: {e}"
        )))),
        Err(_) => Err(folder_error(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "reading it took more than {} s; is it on a file system that hangs?",
                READ_TIMEOUT.as_secs()
            ),
        ))),
    }
}

/// Reads `dir` (off the runtime): records each path it refused as that path's import
/// error, adds every path it saw to `present`, and returns the readable files.
async fn read_folder(
    store: &Store,
    dir: &Path,
    present: &mut HashSet<String>,
) -> Result<Vec<(std::path::PathBuf, String)>> {
    let loaded = load_off_runtime(dir).await?;
    for (path, reason) in &loaded.refused {
        let shown = path.display().to_string();
        store
            .replace_import_errors(&shown, &[format!("{shown}: error: {reason}")])
            .await?;
        present.insert(shown);
    }
    present.extend(
        loaded
            .files
            .iter()
            .map(|(path, _)| path.display().to_string()),
    );
    Ok(loaded.files)
}

/// Every DAG the store knows (active or not) with its team and file: a DAG id stays
/// with the team that registered it first.
async fn registered_dags(store: &Store) -> Result<HashMap<DagId, Registered>> {
    Ok(every_dag(store, false)
        .await?
        .into_iter()
        .map(|dag| {
            let registered = Registered {
                team: dag.team.clone(),
                file: dag.file_path.clone(),
            };
            (dag.dag_id.clone(), registered)
        })
        .collect())
}

/// Every DAG of the store (only the active ones, if asked), page by page.
async fn every_dag(store: &Store, only_active: bool) -> Result<Vec<DagRecord>> {
    const PAGE: i64 = 500;
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let page = store
            .list_dags(&DagFilter {
                only_active,
                offset,
                limit: PAGE,
                ..DagFilter::default()
            })
            .await?;
        let done = page.items.is_empty();
        out.extend(page.items);
        offset += PAGE;
        if done || offset >= page.total_entries {
            return Ok(out);
        }
    }
}

/// Loads every file of the folder and brings the store in line with it. One sync at a
/// time: the watcher's and a requested one queue.
pub async fn sync_folder(shared: &Shared, dir: &Path) -> Result<SyncReport> {
    let _one_at_a_time = shared.catalog.sync_lock().await;
    let (store, cache, unpause_all) = (
        &shared.store,
        shared.catalog.versions(),
        shared.config.unpause_all,
    );
    // Files seen in this sync: import errors of any other file are removed at the end.
    let mut present: HashSet<String> = HashSet::new();
    let jobs = sync_jobs(shared, &mut present).await?;
    let files: Vec<BagInput> = read_folder(store, dir, &mut present)
        .await?
        .into_iter()
        .map(|(path, source)| BagInput {
            rel_path: relative_to_dag_folder(&path, dir),
            path: path.display().to_string(),
            source,
        })
        .collect();
    let registered = registered_dags(store).await?;
    let platform = shared.platform.clone();
    let bag = tokio::task::spawn_blocking(move || {
        let rules = BagRules {
            registered: Some(&registered),
            platform: Some(&platform),
        };
        let mut bag = load_bag_with(files, rules);
        // The platform's rules (images, job definitions, queues) are validation too.
        for file in &mut bag {
            let mut kept = Vec::new();
            for dag in std::mem::take(&mut file.report.dags) {
                let problems = weir_core::spec::policy::check(&dag, &file.source, &platform, &jobs);
                if problems.is_empty() {
                    kept.push(dag);
                } else {
                    file.report.diagnostics.extend(problems);
                }
            }
            file.report.dags = kept;
        }
        bag
    })
    .await
    .map_err(|e| EngineError::InvalidRequest(format!("loading DAG files failed: {e}")))?;

    let mut report = SyncReport {
        files: bag.len(),
        ..SyncReport::default()
    };
    let mut keep: HashSet<DagId> = HashSet::new();
    let mut broken_files: HashSet<String> = HashSet::new();
    let now = Utc::now();
    for file in &bag {
        let errors: Vec<String> = if file.report.has_errors() {
            vec![file.report.render(&file.path, &file.source)]
        } else {
            Vec::new()
        };
        if !errors.is_empty() {
            report.files_with_errors += 1;
            broken_files.insert(file.path.clone());
        }
        store.replace_import_errors(&file.path, &errors).await?;
        for spec in &file.report.dags {
            let dag_id = spec.dag.clone();
            let hash = spec.content_hash();
            let record = DagRecord {
                dag_id: dag_id.clone(),
                team: Some(spec.team.clone()),
                file_path: file.path.clone(),
                description: spec.description.clone(),
                tags: spec.tags.clone(),
                schedule: spec.schedule.as_ref().map(|s| match s {
                    ScheduleSpec::Cron(expr) => expr.clone(),
                    ScheduleSpec::Datasets { datasets } => {
                        format!("datasets: {}", datasets.join(", "))
                    }
                }),
                timezone: spec.timezone.clone(),
                latest_version: Some(hash.clone()),
                is_paused: spec.paused && !unpause_all,
                is_active: true,
                owners: vec![spec.team.to_string()],
                max_active_runs: spec.max_active_runs,
                next_dagrun: None,
                last_parsed_at: Some(now),
            };
            let json = serde_json::to_value(spec).map_err(|e| EngineError::BadStoredSpec {
                dag_id: dag_id.clone(),
                version: hash.clone(),
                detail: e.to_string(),
            })?;
            let previous = store.get_dag(&dag_id).await?;
            store.upsert_dag(&record).await?;
            if store
                .insert_dag_version(&dag_id, &hash, &json, &file.source)
                .await?
            {
                report.new_versions += 1;
            }
            // A new version may move the schedule: let the scheduler recompute it.
            if previous
                .as_ref()
                .is_some_and(|p| p.latest_version.as_deref() != Some(hash.as_str()))
            {
                store.set_next_dagrun(&dag_id, None).await?;
            }
            cache.insert(
                dag_id.clone(),
                Arc::new(DagVersion::new(spec.clone(), hash)),
            );
            keep.insert(dag_id);
            report.dags += 1;
        }
    }
    // DAGs of files that are broken now keep their last good version.
    for dag in every_dag(store, true).await? {
        if broken_files.contains(&dag.file_path) {
            keep.insert(dag.dag_id);
        }
    }
    let keep: Vec<DagId> = keep.into_iter().collect();
    store.deactivate_dags_not_in(&keep).await?;
    // Files deleted or moved away take their import errors with them.
    for filename in store.import_error_files().await? {
        if !present.contains(&filename) {
            store.replace_import_errors(&filename, &[]).await?;
        }
    }
    Ok(report)
}

/// Registers one DAG from a spec (no folder): used by `weir dags test`.
pub async fn register(
    store: &Store,
    cache: &DagCache,
    spec: &weir_core::spec::DagSpec,
    file_path: &str,
    source: &str,
    unpaused: bool,
) -> Result<DagRecord> {
    let dag_id = spec.dag.clone();
    let hash = spec.content_hash();
    let json =
        serde_json::to_value(spec).map_err(|e| EngineError::InvalidRequest(e.to_string()))?;
    store
        .insert_dag_version(&dag_id, &hash, &json, source)
        .await?;
    let record = DagRecord {
        dag_id: dag_id.clone(),
        team: Some(spec.team.clone()),
        file_path: file_path.to_string(),
        description: spec.description.clone(),
        tags: spec.tags.clone(),
        schedule: None,
        timezone: spec.timezone.clone(),
        latest_version: Some(hash.clone()),
        is_paused: !unpaused,
        is_active: true,
        owners: vec![spec.team.to_string()],
        max_active_runs: spec.max_active_runs,
        next_dagrun: None,
        last_parsed_at: Some(Utc::now()),
    };
    let stored = store.upsert_dag(&record).await?;
    cache.insert(dag_id, Arc::new(DagVersion::new(spec.clone(), hash)));
    Ok(stored)
}

/// Loads the job definitions folder (`jobs/`), records its broken files as import
/// errors (and adds every file it saw to `present`), and installs the catalog; returns it.
async fn sync_jobs(
    shared: &Shared,
    present: &mut HashSet<String>,
) -> Result<Arc<weir_core::job_def::JobCatalog>> {
    let Some(dir) = shared.config.jobs_folder.clone().filter(|d| d.is_dir()) else {
        return Ok(shared.catalog.jobs());
    };
    let files: Vec<weir_core::job_def::JobSource> = read_folder(&shared.store, &dir, present)
        .await?
        .into_iter()
        .map(|(path, source)| weir_core::job_def::JobSource {
            rel_path: relative_to_dag_folder(&path, &dir),
            path: path.display().to_string(),
            source,
        })
        .collect();
    let (catalog, reports) = weir_core::job_def::load_jobs(files, &shared.platform);
    for file in &reports {
        let errors: Vec<String> = if file.report.has_errors() {
            vec![file.report.render(&file.path, &file.source)]
        } else {
            Vec::new()
        };
        shared
            .store
            .replace_import_errors(&file.path, &errors)
            .await?;
    }
    shared.catalog.set_jobs(catalog);
    Ok(shared.catalog.jobs())
}
