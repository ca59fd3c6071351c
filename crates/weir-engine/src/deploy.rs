//! Deployments: a bundle of DAG and job definition files uploaded by a team without Git
//! hosting (`weir deploy PATH`, `POST /api/v1/deployments`). A bundle goes through the
//! same checks, versions and approvals as a commit, with the uploader as its author.
//!
//! A bundle is all or nothing: one broken file refuses the whole bundle, naming every
//! problem, and changes nothing. Every DAG and job definition in it must belong to the
//! deploying team. Its job definitions live in the versions of its DAGs (no folder holds
//! them), and its DAGs are never deactivated by a sync of the folder or repository.

use std::collections::HashSet;

use weir_core::access::{Caller, CallerKind};
use weir_core::ids::{DagId, TeamId};
use weir_core::job_def::{JobCatalog, JobSource, load_jobs};
use weir_core::spec::bag::BagInput;
use weir_store::Provenance;

use crate::dag_bag::{DEPLOYED, check_bag};
use crate::error::{EngineError, Result};
use crate::governance::{Submission, Submitted, submit};
use crate::shared::Shared;

/// Most files a bundle may hold.
pub const MAX_FILES: usize = 1_000;
/// Most bytes a bundle's files may hold together.
pub const MAX_BYTES: usize = 16 * 1024 * 1024;

/// What a deployment uploads.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub team: TeamId,
    /// `(path, text)`: paths relative to the bundle, under `dags/` or `jobs/`.
    pub files: Vec<(String, String)>,
    /// What this deployment changes, as a commit message would say.
    pub message: Option<String>,
}

/// What a deployment did, per DAG.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub dags: Vec<(DagId, Submitted)>,
    pub job_definitions: usize,
}

fn refuse(problem: impl Into<String>) -> EngineError {
    EngineError::InvalidRequest(problem.into())
}

/// Checks a bundle path: relative, `/`-separated, under `dags/` or `jobs/`, a YAML file.
fn check_path(path: &str) -> Result<(&str, &str)> {
    let bad = |why: &str| refuse(format!("bundle file `{path}`: {why}"));
    if path.starts_with('/') || path.contains('\\') {
        return Err(bad("paths are relative and `/`-separated"));
    }
    if path
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(bad("a path may not contain empty, `.` or `..` parts"));
    }
    if !(path.ends_with(".yaml") || path.ends_with(".yml")) {
        return Err(bad("only `.yaml`/`.yml` files are deployed"));
    }
    match path.split_once('/') {
        Some((folder @ ("dags" | "jobs"), rest)) => Ok((folder, rest)),
        _ => Err(bad("files live under `dags/` or `jobs/`")),
    }
}

/// Deploys `bundle` for `caller` (see the module doc).
pub(crate) async fn deploy(shared: &Shared, bundle: Bundle, caller: &Caller) -> Result<Deployed> {
    if bundle.files.is_empty() {
        return Err(refuse(
            "the bundle is empty: put DAG files under `dags/` (and job definitions under `jobs/`)",
        ));
    }
    if bundle.files.len() > MAX_FILES {
        return Err(refuse(format!(
            "the bundle has {} files; at most {MAX_FILES} are taken",
            bundle.files.len()
        )));
    }
    let bytes: usize = bundle.files.iter().map(|(_, text)| text.len()).sum();
    if bytes > MAX_BYTES {
        return Err(refuse(format!(
            "the bundle holds {bytes} bytes; at most {MAX_BYTES} are taken"
        )));
    }
    let team = bundle.team.as_str();
    let shown = |path: &str| format!("{DEPLOYED}{team}/{path}");
    let (mut dag_files, mut job_files) = (Vec::new(), Vec::new());
    let mut seen = HashSet::new();
    for (path, source) in &bundle.files {
        let (folder, rel) = check_path(path)?;
        if !seen.insert(path.as_str()) {
            return Err(refuse(format!("bundle file `{path}` is given twice")));
        }
        if folder == "dags" {
            dag_files.push(BagInput {
                path: shown(path),
                rel_path: rel.to_string(),
                source: source.clone(),
            });
        } else {
            job_files.push(JobSource {
                path: shown(path),
                rel_path: rel.to_string(),
                source: source.clone(),
            });
        }
    }

    let _one_at_a_time = shared.catalog.sync_lock().await;
    let (bundled, reports) = load_jobs(job_files, &shared.platform);
    let mut problems: Vec<String> = reports
        .iter()
        .filter(|f| f.report.has_errors())
        .map(|f| f.report.render(&f.path, &f.source))
        .collect();
    for job in bundled.iter().filter(|j| j.team != bundle.team) {
        problems.push(format!(
            "job definition `{}` belongs to team `{}`; a deployment of team `{team}` carries only its own",
            job.job, job.team
        ));
    }
    let job_definitions = bundled.len();
    // The bundle's definitions, over the ones already loaded.
    let current = shared.catalog.jobs();
    let jobs = JobCatalog::from_definitions(current.iter().cloned().chain(bundled.iter().cloned()));
    let bag = check_bag(shared, dag_files, std::sync::Arc::new(jobs.clone())).await?;
    for file in &bag {
        if file.report.has_errors() {
            problems.push(file.report.render(&file.path, &file.source));
        }
        for dag in file.report.dags.iter().filter(|d| d.team != bundle.team) {
            problems.push(format!(
                "{}: DAG `{}` belongs to team `{}`; a deployment of team `{team}` carries only its own",
                file.path, dag.dag, dag.team
            ));
        }
    }
    if !problems.is_empty() {
        return Err(refuse(format!(
            "the bundle was not deployed (nothing changed):\n{}",
            problems.join("\n")
        )));
    }
    let person = caller.kind != CallerKind::ServiceAccount;
    let provenance = Provenance {
        origin: "deploy".into(),
        author_name: Some(caller.name.clone()),
        author_user: person.then(|| caller.name.clone()),
        author_email: None,
        message: bundle.message.clone(),
        ..Provenance::default()
    };
    crate::dag_bag::record_job_versions(shared, bundled.iter(), &provenance).await?;
    let mut dags = Vec::new();
    for file in &bag {
        for spec in &file.report.dags {
            let submission = Submission {
                spec,
                source: &file.source,
                file_path: &file.path,
                provenance: &provenance,
                pin_jobs: true,
            };
            dags.push((spec.dag.clone(), submit(shared, &submission, &jobs).await?));
        }
    }
    Ok(Deployed {
        dags,
        job_definitions,
    })
}
