//! The DAG folder: files found on disk, loaded through weir-core, synced into the store
//! (DAGs, content-addressed versions, import errors) and into the in-memory cache.
//!
//! A file that fails validation becomes an import error and changes nothing else: the
//! DAGs it defined before stay as they were, so runs in flight keep going.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use weir_core::ids::{DagId, TeamId};
use weir_core::spec::bag::load_bag;
use weir_core::spec::model::ScheduleSpec;
use weir_store::{DagFilter, DagRecord, Store};

use crate::dag_cache::{DagCache, DagVersion};
use crate::error::{EngineError, Result};
use crate::service::Shared;

/// What one sync of the DAG folder found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub files: usize,
    pub dags: usize,
    /// DAGs whose content changed (or that are new), i.e. got a new version.
    pub new_versions: usize,
    pub files_with_errors: usize,
}

/// The DAG files under `dir`, recursively, sorted; hidden entries skipped.
pub fn find_dag_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&d)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for path in entries.into_iter().rev() {
            let hidden = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if hidden {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Loads every file of the folder and brings the store in line with it.
pub async fn sync_folder(shared: &Shared, dir: &Path) -> Result<SyncReport> {
    let (store, cache, unpause_all) = (&shared.store, &shared.cache, shared.config.unpause_all);
    let jobs = sync_jobs(shared).await?;
    let folder_error = |source| EngineError::DagFolder {
        path: dir.display().to_string(),
        source,
    };
    let paths = find_dag_files(dir).map_err(folder_error)?;
    let mut files = Vec::with_capacity(paths.len());
    for path in &paths {
        let shown = path.display().to_string();
        match std::fs::read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => files.push((shown, text)),
                Err(_) => {
                    store
                        .replace_import_errors(
                            &shown,
                            &[format!("{shown}: error: the file is not UTF-8 text")],
                        )
                        .await?;
                }
            },
            // Deleted between listing and reading: the next sync sees it gone.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                store
                    .replace_import_errors(&shown, &[format!("{shown}: error: cannot read: {e}")])
                    .await?;
            }
        }
    }
    let platform = shared.platform.clone();
    let bag = tokio::task::spawn_blocking(move || {
        let mut bag = load_bag(files);
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
            let Ok(dag_id) = DagId::new(spec.dag.clone()) else {
                continue;
            };
            let hash = spec.content_hash();
            let record = DagRecord {
                dag_id: dag_id.clone(),
                team: TeamId::new(spec.team.clone()).ok(),
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
                owners: vec![spec.team.clone()],
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
    let mut offset = 0;
    loop {
        let page = store
            .list_dags(&DagFilter {
                only_active: true,
                offset,
                limit: 500,
                ..DagFilter::default()
            })
            .await?;
        for dag in &page.items {
            if broken_files.contains(&dag.file_path) {
                keep.insert(dag.dag_id.clone());
            }
        }
        offset += 500;
        if page.items.is_empty() || offset >= page.total_entries {
            break;
        }
    }
    let keep: Vec<DagId> = keep.into_iter().collect();
    store.deactivate_dags_not_in(&keep).await?;
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
    let dag_id =
        DagId::new(spec.dag.clone()).map_err(|e| EngineError::InvalidRequest(e.to_string()))?;
    let hash = spec.content_hash();
    let json =
        serde_json::to_value(spec).map_err(|e| EngineError::InvalidRequest(e.to_string()))?;
    store
        .insert_dag_version(&dag_id, &hash, &json, source)
        .await?;
    let record = DagRecord {
        dag_id: dag_id.clone(),
        team: TeamId::new(spec.team.clone()).ok(),
        file_path: file_path.to_string(),
        description: spec.description.clone(),
        tags: spec.tags.clone(),
        schedule: None,
        timezone: spec.timezone.clone(),
        latest_version: Some(hash.clone()),
        is_paused: !unpaused,
        is_active: true,
        owners: vec![spec.team.clone()],
        max_active_runs: spec.max_active_runs,
        next_dagrun: None,
        last_parsed_at: Some(Utc::now()),
    };
    let stored = store.upsert_dag(&record).await?;
    cache.insert(dag_id, Arc::new(DagVersion::new(spec.clone(), hash)));
    Ok(stored)
}

/// Loads the job definitions folder (`jobs/`), records its broken files as import
/// errors, and installs the catalog; returns it.
async fn sync_jobs(shared: &Shared) -> Result<weir_core::job_def::JobCatalog> {
    let Some(dir) = shared.config.jobs_folder.clone().filter(|d| d.is_dir()) else {
        return Ok(shared.jobs.read().map(|j| j.clone()).unwrap_or_default());
    };
    let paths = find_dag_files(&dir).map_err(|source| EngineError::DagFolder {
        path: dir.display().to_string(),
        source,
    })?;
    let mut files = Vec::new();
    for path in paths {
        if let Ok(text) = std::fs::read_to_string(&path) {
            files.push((path.display().to_string(), text));
        }
    }
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
    if let Ok(mut jobs) = shared.jobs.write() {
        *jobs = catalog.clone();
    }
    Ok(catalog)
}
