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
use weir_store::{DagFilter, DagRecord, Provenance, Store};

use crate::dag_cache::{DagCache, DagVersion};
use crate::dag_files::Loaded;
use crate::error::{EngineError, Result};
use crate::governance::{Submission, Submitted};
use crate::shared::Shared;

/// What one sync of the DAG folder found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub files: usize,
    pub dags: usize,
    /// DAGs whose content changed (or that are new), i.e. got a new version.
    pub new_versions: usize,
    /// Files (DAG files, job definition files, refused paths) that are import errors now.
    pub files_with_errors: usize,
    /// Versions of production DAGs now waiting for approval.
    pub pending_approval: usize,
    /// Versions whose exact content was rejected before (their DAGs keep running the
    /// active version).
    pub rejected: usize,
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

/// What a sync saw beside the DAGs it loaded: every path (import errors of any other
/// are removed at the end), and how many of them have errors of their own (refused
/// paths, broken job definition files).
#[derive(Default)]
struct Seen {
    present: HashSet<String>,
    with_errors: usize,
}

/// Reads `dir` (off the runtime): records each path it refused as that path's import
/// error, notes every path it saw, and returns the readable files.
async fn read_folder(
    store: &Store,
    dir: &Path,
    seen: &mut Seen,
) -> Result<Vec<(std::path::PathBuf, String)>> {
    let loaded = load_off_runtime(dir).await?;
    for (path, reason) in &loaded.refused {
        let shown = path.display().to_string();
        store
            .replace_import_errors(&shown, &[format!("{shown}: error: {reason}")])
            .await?;
        seen.present.insert(shown);
        seen.with_errors += 1;
    }
    seen.present.extend(
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

/// The files a sync reads: the DAG folder, the job definitions folder beside it, and
/// where this content came from (the watched folder, or a commit of the repository).
pub struct Tree<'a> {
    pub dags: &'a Path,
    pub jobs: Option<&'a Path>,
    pub provenance: &'a Provenance,
}

/// Loads every file of the folder and brings the store in line with it. One sync at a
/// time: the watcher's and a requested one queue.
pub async fn sync_folder(shared: &Shared, dir: &Path) -> Result<SyncReport> {
    let jobs = shared.config.jobs_folder.clone();
    let tree = Tree {
        dags: dir,
        jobs: jobs.as_deref(),
        provenance: &Provenance::folder(),
    };
    sync_tree(shared, &tree).await
}

/// Loads a tree of DAG and job files and brings the store in line with it: each DAG
/// found is submitted as a version (`crate::governance`), each broken file becomes an
/// import error and keeps its DAGs on their last good versions, and DAGs no file defines
/// any more are deactivated (deployed ones excepted: no tree holds them).
pub async fn sync_tree(shared: &Shared, tree: &Tree<'_>) -> Result<SyncReport> {
    let _one_at_a_time = shared.catalog.sync_lock().await;
    let (store, dir) = (&shared.store, tree.dags);
    // Files seen in this sync: import errors of any other file are removed at the end.
    let mut seen = Seen::default();
    let jobs = sync_jobs(shared, tree.jobs, tree.provenance, &mut seen).await?;
    let files: Vec<BagInput> = read_folder(store, dir, &mut seen)
        .await?
        .into_iter()
        .map(|(path, source)| BagInput {
            rel_path: relative_to_dag_folder(&path, dir),
            path: path.display().to_string(),
            source,
        })
        .collect();
    let bag = check_bag(shared, files, jobs.clone()).await?;

    let mut report = SyncReport {
        files: bag.len(),
        files_with_errors: seen.with_errors,
        ..SyncReport::default()
    };
    let mut keep: HashSet<DagId> = HashSet::new();
    let mut broken_files: HashSet<String> = HashSet::new();
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
            let submission = Submission {
                spec,
                source: &file.source,
                file_path: &file.path,
                provenance: tree.provenance,
                pin_jobs: false,
            };
            let submitted = crate::governance::submit(shared, &submission, &jobs).await?;
            report.new_versions += usize::from(submitted.is_new());
            match submitted {
                Submitted::Pending { .. } => report.pending_approval += 1,
                Submitted::Rejected { .. } => report.rejected += 1,
                _ => {}
            }
            keep.insert(spec.dag.clone());
            report.dags += 1;
        }
    }
    // DAGs of files that are broken now keep their last good version; deployed DAGs
    // belong to no tree.
    for dag in every_dag(store, true).await? {
        if broken_files.contains(&dag.file_path) || dag.file_path.starts_with(DEPLOYED) {
            keep.insert(dag.dag_id);
        }
    }
    let keep: Vec<DagId> = keep.into_iter().collect();
    store.deactivate_dags_not_in(&keep).await?;
    // Files deleted or moved away take their import errors with them.
    for filename in store.import_error_files().await? {
        let not_a_file = filename.starts_with(DEPLOYED) || filename.starts_with(REPOSITORY_ERROR);
        if !seen.present.contains(&filename) && !not_a_file {
            store.replace_import_errors(&filename, &[]).await?;
        }
    }
    Ok(report)
}

/// The prefix of a deployed DAG's file path (`deploy:<team>/<path>`).
pub const DEPLOYED: &str = "deploy:";
/// The prefix of the import error a failed repository sync leaves (no file's: a sync
/// of the tree does not remove it; the next successful repository sync does).
pub const REPOSITORY_ERROR: &str = "repository ";

/// Parses and validates files as one bag (DAG ids unique across them, each id kept by
/// the team that registered it), with the platform's rules applied: off the runtime.
pub(crate) async fn check_bag(
    shared: &Shared,
    files: Vec<BagInput>,
    jobs: Arc<weir_core::job_def::JobCatalog>,
) -> Result<Vec<weir_core::spec::bag::BagFile>> {
    let registered = registered_dags(&shared.store).await?;
    let platform = shared.platform.clone();
    tokio::task::spawn_blocking(move || {
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
    .map_err(|e| EngineError::InvalidRequest(format!("loading DAG files failed: {e}")))
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
        .insert_governed_version(&weir_store::NewDagVersion {
            dag_id: &dag_id,
            version_hash: &hash,
            spec: &json,
            source,
            jobs: None,
            status: weir_core::governance::VersionStatus::Active,
            provenance: &Provenance {
                origin: "test".into(),
                ..Provenance::default()
            },
        })
        .await?;
    // `weir dags test` runs the DAG once, by hand: no schedule.
    let record = DagRecord {
        schedule: None,
        ..crate::governance::dag_record(spec, file_path, Some(hash.clone()), !unpaused, Utc::now())
    };
    let stored = store.upsert_dag(&record).await?;
    cache.insert(dag_id, Arc::new(DagVersion::new(spec.clone(), hash)));
    Ok(stored)
}

/// Loads the job definitions folder (`jobs/`), records its broken files as import
/// errors (and notes every file it saw in `seen`), and installs the catalog; returns it.
async fn sync_jobs(
    shared: &Shared,
    dir: Option<&Path>,
    provenance: &Provenance,
    seen: &mut Seen,
) -> Result<Arc<weir_core::job_def::JobCatalog>> {
    let Some(dir) = dir.filter(|d| d.is_dir()).map(Path::to_path_buf) else {
        return Ok(shared.catalog.jobs());
    };
    let files: Vec<weir_core::job_def::JobSource> = read_folder(&shared.store, &dir, seen)
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
            seen.with_errors += 1;
            vec![file.report.render(&file.path, &file.source)]
        } else {
            Vec::new()
        };
        shared
            .store
            .replace_import_errors(&file.path, &errors)
            .await?;
    }
    record_job_versions(shared, catalog.iter(), provenance).await?;
    shared.catalog.set_jobs(catalog);
    Ok(shared.catalog.jobs())
}

/// Records each job definition revision with the provenance of the tree (or bundle)
/// that brought it; a revision seen before keeps its first provenance.
pub(crate) async fn record_job_versions<'a>(
    shared: &Shared,
    defs: impl Iterator<Item = &'a weir_core::job_def::JobDefinition>,
    provenance: &Provenance,
) -> Result<()> {
    for def in defs {
        let json = serde_json::to_value(def).unwrap_or_default();
        shared
            .store
            .record_job_version(
                def.team.as_str(),
                &def.job,
                &def.revision(),
                &json,
                provenance,
            )
            .await?;
    }
    Ok(())
}
