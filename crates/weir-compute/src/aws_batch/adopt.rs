//! Adoption after a restart: from what the try folder records (`status.json`, the launch
//! marker) and what Batch knows (`DescribeJobs`, or `ListJobs` by name and the
//! `weir:try` tag when the marker has no job id yet), the contract's answer — Running,
//! Finished or NeverStarted. Also the lookups `submit` uses when `SubmitJob` got no
//! answer.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use aws_sdk_batch::types::KeyValuesPair;
use chrono::Utc;
use weir_core::ids::TryKey;

use super::client::{self, Failure};
use super::status::JobView;
use super::submit::{self, Marker};
use super::watch::{self, settle};
use super::{AwsBatchBackend, joined};
use crate::backend::{Adopted, CancelHandle, EndReason, RunningTry, TryOutcome};
use crate::capture::Masker;
use crate::error::{ComputeError, Result};
use crate::layout;
use crate::try_folder::TryFolder;

impl AwsBatchBackend {
    pub(super) async fn adopt_now(&self, key: TryKey, try_dir: PathBuf) -> Result<Adopted> {
        let try_dir = match fs::canonicalize(&try_dir) {
            Ok(dir) => dir,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let why = format!("its try folder `{}` does not exist", try_dir.display());
                return Ok(Adopted::NeverStarted(why));
            }
            Err(e) => return Err(ComputeError::io("resolve", try_dir, e)),
        };
        let folder = TryFolder::at(&try_dir);
        let recorded =
            layout::read_status(&try_dir).map_err(|e| ComputeError::io("read", &try_dir, e))?;
        if let Some(outcome) = recorded {
            return Ok(Adopted::settled(outcome, &folder));
        }
        let marker = Marker::read(&try_dir)
            .map_err(|e| ComputeError::io("read", try_dir.join(submit::MARKER), e))?;
        let Some(mut marker) = marker else {
            return Ok(never_started(
                &try_dir,
                "no AWS Batch job was submitted for it",
            ));
        };
        let env = self.env(Some(&marker.environment))?.clone();
        let clients = env.clients.get().await;
        let job = match &marker.job_id {
            Some(id) => describe(&clients, id).await?,
            None => match find_job(&clients, &marker, &key).await? {
                Some(found) => {
                    marker.job_id = Some(found.job_id.clone());
                    let _ = marker.update(&try_dir);
                    describe(&clients, &found.job_id).await?
                }
                None => {
                    let _ = fs::remove_file(try_dir.join(submit::MARKER));
                    return Ok(never_started(&try_dir, "its job never reached AWS Batch"));
                }
            },
        };
        let Some((job, env_values)) = job else {
            let stop = watch::read_stop_reason(&try_dir);
            let now = Utc::now();
            let reason = match stop {
                Some(stop) => stop.reason(),
                None => EndReason::Lost(format!(
                    "AWS Batch no longer knows job {} and no outcome was recorded",
                    marker.job_id.as_deref().unwrap_or("?")
                )),
            };
            let outcome = TryOutcome::without_usage(reason, now, now);
            settle(&try_dir, &outcome);
            return Ok(Adopted::Finished(outcome));
        };
        let masker = Masker::new(
            env_values
                .iter()
                .filter(|(k, _)| marker.secret_env.contains(k))
                .map(|(_, v)| v.clone()),
        );
        let submitted_at = fs::metadata(try_dir.join(submit::MARKER))
            .and_then(|m| m.modified())
            .map(chrono::DateTime::<Utc>::from)
            .unwrap_or_else(|_| Utc::now());
        let w = self.try_watch(
            &env,
            clients,
            job.job_id.clone(),
            &try_dir,
            masker,
            marker.timeout(),
            submitted_at,
        );
        let cancel = CancelHandle::new();
        if job.status.is_final() {
            let outcome = watch::watch(w, cancel).await;
            return Ok(Adopted::Finished(folder.with_xcom(outcome)));
        }
        let task = tokio::spawn(watch::watch(w, cancel.clone()));
        Ok(Adopted::Running(RunningTry::new(
            key,
            try_dir,
            cancel,
            joined(task),
        )))
    }
}

/// One job as `DescribeJobs` tells it, with its environment (for the masker only);
/// None when Batch does not know the id.
async fn describe(
    clients: &client::Clients,
    job_id: &str,
) -> Result<Option<(JobView, Vec<(String, String)>)>> {
    let out = clients
        .batch
        .describe_jobs()
        .jobs(job_id)
        .send()
        .await
        .map_err(|e| Failure::of(&e).into_error("describe the try's job"))?;
    Ok(out.jobs().iter().find_map(|j| {
        let view = JobView::from_sdk(j)?;
        let env = j
            .container()
            .map(|c| {
                c.environment()
                    .iter()
                    .filter_map(|kv| Some((kv.name()?.to_owned(), kv.value()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Some((view, env))
    }))
}

/// The job of a try, found by its name in its job queue and its `weir:try` tag.
pub(super) async fn find_job(
    clients: &client::Clients,
    marker: &Marker,
    key: &TryKey,
) -> Result<Option<JobView>> {
    let listed = clients
        .batch
        .list_jobs()
        .job_queue(&marker.job_queue)
        .filters(
            KeyValuesPair::builder()
                .name("JOB_NAME")
                .values(&marker.job_name)
                .build(),
        )
        .send()
        .await
        .map_err(|e| Failure::of(&e).into_error("look up the try's job by name"))?;
    let ids: Vec<String> = listed
        .job_summary_list()
        .iter()
        .filter(|j| j.job_name() == Some(marker.job_name.as_str()))
        .filter_map(|j| j.job_id().map(str::to_owned))
        .collect();
    if ids.is_empty() {
        return Ok(None);
    }
    let described = clients
        .batch
        .describe_jobs()
        .set_jobs(Some(ids))
        .send()
        .await
        .map_err(|e| Failure::of(&e).into_error("describe the try's job"))?;
    let slug = key.slug();
    Ok(described
        .jobs()
        .iter()
        .filter(|j| j.tags().and_then(|t| t.get("weir:try")) == Some(&slug))
        .max_by_key(|j| j.created_at().unwrap_or(0))
        .and_then(JobView::from_sdk))
}

/// After a `SubmitJob` that got no answer: the job, if Batch accepted it after all.
/// Asks three times, a second and then two apart, since a job shows in `ListJobs`
/// a moment after it is accepted. None: not found (or Batch could not be asked:
/// the try then fails as not started, and a job that did start runs without Weir).
pub(super) async fn look_for_job(
    clients: &client::Clients,
    marker: &Marker,
    key: &TryKey,
) -> Option<JobView> {
    for wait in [0, 1, 2] {
        tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
        if let Ok(Some(job)) = find_job(clients, marker, key).await {
            return Some(job);
        }
    }
    None
}

/// Records that a try never started (so adopting it again gives the same answer).
fn never_started(dir: &Path, why: &str) -> Adopted {
    let now = Utc::now();
    settle(
        dir,
        &TryOutcome::without_usage(EndReason::NeverStarted(why.to_owned()), now, now),
    );
    Adopted::NeverStarted(why.to_owned())
}
