//! Governed versions: what happens to a DAG version when a sync or a deployment brings
//! it, and when someone approves, rejects or force-activates it.
//!
//! A DAG version that does not need approval becomes active at once (the folder's inner
//! loop of today). A version needs approval when its DAG says `production: true`, or when
//! the version it would replace did: switching `production` off is itself a production
//! change. Such a version is stored `pending_approval` with an approval request bound to
//! its exact hash; the DAG keeps running its active version (a brand-new production DAG
//! runs nothing) until a second person approves it. A production version is the DAG
//! together with the job definitions it uses: they are stored in the version, its runs use
//! those, and a changed job definition makes a new version that waits for approval too.
//!
//! Content already approved once (a revert) is active again without a new approval;
//! content rejected stays rejected. Who may approve is `weir_core::governance`'s rule.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use weir_core::access::Caller;
use weir_core::governance::{ApprovalState, VersionAuthor, VersionStatus, may_approve, summarize};
use weir_core::ids::DagId;
use weir_core::job_def::{JobCatalog, JobDefinition};
use weir_core::spec::DagSpec;
use weir_core::spec::model::{ScheduleSpec, TaskKind};
use weir_store::{
    Activation, ApprovalRecord, DagRecord, NewApproval, NewAuditEvent, NewDagVersion, Provenance,
};

use crate::dag_cache::DagVersion;
use crate::error::{EngineError, Result};
use crate::events::Event;
use crate::shared::Shared;

/// What became of a submitted version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// The DAG's active version already.
    Unchanged,
    /// Now the DAG's active version.
    Activated { hash: String },
    /// Waits for approval (the request's id); `new` when this submission opened it.
    Pending {
        hash: String,
        approval: i64,
        new: bool,
    },
    /// This exact content was rejected before; the DAG keeps its active version.
    Rejected { hash: String },
}

impl Submitted {
    pub fn is_new(&self) -> bool {
        matches!(
            self,
            Submitted::Activated { .. } | Submitted::Pending { new: true, .. }
        )
    }
}

/// One DAG as a sync or deployment found it.
pub(crate) struct Submission<'a> {
    pub spec: &'a DagSpec,
    pub source: &'a str,
    /// Shown as the DAG's file (`deploy:<team>/…` for a deployment).
    pub file_path: &'a str,
    pub provenance: &'a Provenance,
    /// Carry the job definitions even when not production (a deployment's definitions
    /// live nowhere else).
    pub pin_jobs: bool,
}

/// The job definitions `spec`'s tasks use, in name order.
fn used_jobs(spec: &DagSpec, jobs: &JobCatalog) -> Vec<JobDefinition> {
    let mut names: Vec<&str> = spec
        .tasks
        .values()
        .filter_map(|t| match &t.kind {
            TaskKind::Job(name) => Some(name.as_str()),
            _ => None,
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .filter_map(|n| jobs.get(&spec.team, n).ok().cloned())
        .collect()
}

/// The version's hash: the spec's, or (with job definitions) the spec's and theirs.
fn version_hash(spec: &DagSpec, pinned: Option<&[JobDefinition]>) -> String {
    let spec_hash = spec.content_hash();
    match pinned {
        None => spec_hash,
        Some(defs) => {
            let mut h = Sha256::new();
            h.update(spec_hash.as_bytes());
            for d in defs {
                h.update(b"\n");
                h.update(d.revision().as_bytes());
            }
            hex::encode(h.finalize())
        }
    }
}

/// The DAG row a version describes.
pub(crate) fn dag_record(
    spec: &DagSpec,
    file_path: &str,
    hash: Option<String>,
    paused: bool,
    now: DateTime<Utc>,
) -> DagRecord {
    DagRecord {
        dag_id: spec.dag.clone(),
        team: Some(spec.team.clone()),
        file_path: file_path.to_string(),
        description: spec.description.clone(),
        tags: spec.tags.clone(),
        schedule: spec.schedule.as_ref().map(ScheduleSpec::summary),
        timezone: spec.timezone.clone(),
        latest_version: hash,
        is_paused: paused,
        is_active: true,
        owners: vec![spec.team.to_string()],
        max_active_runs: spec.max_active_runs,
        next_dagrun: None,
        last_parsed_at: Some(now),
    }
}

fn bad_spec(dag: &DagSpec, hash: &str, e: serde_json::Error) -> EngineError {
    EngineError::BadStoredSpec {
        dag_id: dag.dag.clone(),
        version: hash.to_string(),
        detail: e.to_string(),
    }
}

/// Brings one DAG version in: stores it with its provenance, then activates it or opens
/// its approval request (see the module doc).
pub(crate) async fn submit(
    shared: &Shared,
    sub: &Submission<'_>,
    jobs: &JobCatalog,
) -> Result<Submitted> {
    let (store, spec) = (&shared.store, sub.spec);
    let dag_id = &spec.dag;
    let now = Utc::now();
    let previous = store.get_dag(dag_id).await?;
    let active = match previous.as_ref().and_then(|p| p.latest_version.clone()) {
        Some(h) => shared.catalog.version(store, dag_id, &h).await.ok(),
        None => None,
    };
    let needs_approval = spec.production || active.as_ref().is_some_and(|a| a.spec.production);
    let pinned = (needs_approval || sub.pin_jobs).then(|| used_jobs(spec, jobs));
    let hash = version_hash(spec, pinned.as_deref());
    let json = serde_json::to_value(spec).map_err(|e| bad_spec(spec, &hash, e))?;
    let jobs_json = pinned
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| bad_spec(spec, &hash, e))?;
    shared.catalog.versions().insert(
        dag_id.clone(),
        Arc::new(DagVersion::with_jobs(spec.clone(), hash.clone(), pinned)),
    );
    let paused = spec.paused && !shared.config.unpause_all;
    let record = dag_record(spec, sub.file_path, Some(hash.clone()), paused, now);
    let is_active = previous
        .as_ref()
        .is_some_and(|p| p.latest_version.as_deref() == Some(hash.as_str()));
    let new_version = |status| NewDagVersion {
        dag_id,
        version_hash: &hash,
        spec: &json,
        source: sub.source,
        jobs: jobs_json.as_ref(),
        status,
        provenance: sub.provenance,
    };

    if !needs_approval {
        let inserted = store
            .insert_governed_version(&new_version(VersionStatus::Active))
            .await?;
        store.upsert_dag(&record).await?;
        if is_active && !inserted {
            return Ok(Submitted::Unchanged);
        }
        activate(shared, &hash, &Activation::default(), &record).await?;
        return Ok(Submitted::Activated { hash });
    }

    let existing = store.get_governed_version(dag_id, &hash).await?;
    match existing.as_ref().map(|v| v.status) {
        Some(VersionStatus::Active) if is_active => {
            store.upsert_dag(&record).await?;
            Ok(Submitted::Unchanged)
        }
        Some(VersionStatus::Active | VersionStatus::Approved) => {
            // Content approved once (a revert): active again without a new approval.
            if previous.is_none() {
                store.upsert_dag(&record).await?;
            }
            activate(shared, &hash, &Activation::default(), &record).await?;
            Ok(Submitted::Activated { hash })
        }
        Some(VersionStatus::Rejected) => Ok(Submitted::Rejected { hash }),
        Some(VersionStatus::PendingApproval) => {
            supersede_others(shared, dag_id, spec.team.as_str(), &hash).await?;
            let approval = match existing.and_then(|v| v.approval_id) {
                Some(id) => id,
                None => request(shared, sub, &hash, active.as_deref()).await?.id,
            };
            Ok(Submitted::Pending {
                hash,
                approval,
                new: false,
            })
        }
        Some(VersionStatus::Superseded) | None => {
            if existing.is_some() {
                store
                    .set_version_status(dag_id, &hash, VersionStatus::PendingApproval)
                    .await?;
            } else {
                store
                    .insert_governed_version(&new_version(VersionStatus::PendingApproval))
                    .await?;
            }
            supersede_others(shared, dag_id, spec.team.as_str(), &hash).await?;
            if previous.is_none() {
                // A brand-new production DAG is listed, but runs nothing yet.
                let waiting = DagRecord {
                    latest_version: None,
                    ..record
                };
                store.upsert_dag(&waiting).await?;
            }
            let approval = request(shared, sub, &hash, active.as_deref()).await?;
            Ok(Submitted::Pending {
                hash,
                approval: approval.id,
                new: true,
            })
        }
    }
}

/// Supersedes the DAG's other pending versions (a newer one needs its own approval).
async fn supersede_others(shared: &Shared, dag_id: &DagId, team: &str, keep: &str) -> Result<()> {
    for id in shared.store.supersede_pending(dag_id, keep).await? {
        audit(
            shared,
            "weir",
            "approval.supersede",
            dag_id.as_ref(),
            team,
            json!({"approval": id, "superseded_by": keep}),
        )
        .await;
    }
    Ok(())
}

/// Opens the approval request of a pending version, with the summary of its change
/// from the active one, and audits the submission.
async fn request(
    shared: &Shared,
    sub: &Submission<'_>,
    hash: &str,
    active: Option<&DagVersion>,
) -> Result<ApprovalRecord> {
    let summary = summarize(active.map(|a| &a.spec), sub.spec);
    let summary = serde_json::to_value(&summary).unwrap_or(Value::Null);
    let approval = shared
        .store
        .request_approval(&NewApproval {
            dag_id: &sub.spec.dag,
            version_hash: hash,
            team: sub.spec.team.as_str(),
            provenance: sub.provenance,
            summary: &summary,
            base_version: active.map(|a| a.hash.as_str()),
        })
        .await?;
    shared.metrics.approval(sub.spec.team.as_str(), "requested");
    let p = sub.provenance;
    audit(
        shared,
        p.author_user
            .as_deref()
            .or(p.author_email.as_deref())
            .unwrap_or("weir"),
        "version.submit",
        &format!("{}@{hash}", sub.spec.dag),
        sub.spec.team.as_str(),
        json!({"approval": approval.id, "origin": p.origin, "commit": p.commit_sha,
               "author_email": p.author_email}),
    )
    .await;
    Ok(approval)
}

/// Makes a version active and lets the scheduler see it.
async fn activate(
    shared: &Shared,
    hash: &str,
    how: &Activation<'_>,
    record: &DagRecord,
) -> Result<bool> {
    let dag_id = &record.dag_id;
    let done = shared
        .store
        .activate_version(
            dag_id,
            hash,
            &Activation {
                dag: Some(record),
                ..how.clone()
            },
        )
        .await?;
    if done {
        let team = record.team.as_ref().map_or("", |t| t.as_str());
        supersede_others(shared, dag_id, team, hash).await?;
        shared.notify(Event::DagsChanged);
        let how_it_came = if how.break_glass_reason.is_some() {
            "break-glass"
        } else if how.approval.is_some() {
            "approved"
        } else {
            "no approval needed"
        };
        audit(
            shared,
            how.by.unwrap_or("weir"),
            "version.activate",
            &format!("{dag_id}@{hash}"),
            team,
            json!({"how": how_it_came, "approval": how.approval}),
        )
        .await;
    }
    Ok(done)
}

/// The approval request `id`, or a 404 naming it.
pub(crate) async fn approval(shared: &Shared, id: i64) -> Result<ApprovalRecord> {
    shared.store.get_approval(id).await?.ok_or_else(|| {
        EngineError::NotFound(format!(
            "approval {id} not found (`weir approvals list` shows the pending ones)"
        ))
    })
}

/// Why an approval request cannot be decided any more.
fn not_pending(a: &ApprovalRecord) -> EngineError {
    EngineError::Conflict(match a.state {
        ApprovalState::Superseded => format!(
            "approval {} is for version {} of DAG `{}`, which a newer version superseded; approve the newer one (`weir approvals list`)",
            a.id, a.version_hash, a.dag_id
        ),
        state => format!("approval {} is already {state}", a.id),
    })
}

/// Approves a pending version: the rule first (403 with the rule that refused), then the
/// version becomes active, compare-and-set against a racing decision or a newer version.
pub(crate) async fn approve(
    shared: &Shared,
    id: i64,
    caller: &Caller,
    comment: Option<&str>,
) -> Result<ApprovalRecord> {
    let a = reviewable(shared, id, caller).await?;
    let version = shared
        .catalog
        .version(&shared.store, &a.dag_id, &a.version_hash)
        .await?;
    let current = shared.store.get_dag(&a.dag_id).await?;
    let record = dag_record(
        &version.spec,
        current.as_ref().map_or("", |d| d.file_path.as_str()),
        Some(a.version_hash.clone()),
        current.as_ref().is_some_and(|d| d.is_paused),
        Utc::now(),
    );
    let how = Activation {
        approval: Some(id),
        by: Some(&caller.name),
        comment,
        ..Activation::default()
    };
    if !activate(shared, &a.version_hash, &how, &record).await? {
        return Err(not_pending(&approval(shared, id).await?));
    }
    shared.metrics.approval(&a.team, "approved");
    approval(shared, id).await
}

/// Rejects a pending version (the same rule as approving: the author cannot reject their
/// own version either, so a rejection is a second person's word too).
pub(crate) async fn reject(
    shared: &Shared,
    id: i64,
    caller: &Caller,
    comment: Option<&str>,
) -> Result<ApprovalRecord> {
    let a = reviewable(shared, id, caller).await?;
    if !shared
        .store
        .reject_approval(id, &caller.name, comment)
        .await?
    {
        return Err(not_pending(&approval(shared, id).await?));
    }
    shared.metrics.approval(&a.team, "rejected");
    approval(shared, id).await
}

/// The pending request `id`, if `caller` may decide it (404, 409 or 403 otherwise).
async fn reviewable(shared: &Shared, id: i64, caller: &Caller) -> Result<ApprovalRecord> {
    let a = approval(shared, id).await?;
    if a.state != ApprovalState::Pending {
        return Err(not_pending(&a));
    }
    check_reviewer(shared, &a, caller).await?;
    Ok(a)
}

/// Whether `caller` may decide `a`, under the team's `approval` setting.
/// Asks the rule, with the author and the committer mapped to users.
async fn check_reviewer(shared: &Shared, a: &ApprovalRecord, caller: &Caller) -> Result<()> {
    let committer = shared
        .store
        .get_governed_version(&a.dag_id, &a.version_hash)
        .await?
        .and_then(|v| v.provenance.committer);
    // Recorded as `Name <email>` (`repository::fetch`).
    let committer_email = committer
        .as_deref()
        .and_then(|c| c.rsplit_once('<'))
        .map(|(_, rest)| rest.trim_end_matches('>').trim().to_string());
    let committer_user = match committer_email {
        Some(email) => shared.store.user_by_email(&email).await?,
        None => None,
    };
    let author = VersionAuthor {
        name: a.author_name.clone(),
        email: a.author_email.clone(),
        user: a.author_user.clone(),
        committer_user,
    };
    let team = weir_core::ids::TeamId::new(&a.team)
        .map_err(|e| EngineError::InvalidRequest(e.to_string()))?;
    let policy = shared.platform.approval_policy(&a.team);
    may_approve(&policy, &team, &author, caller).map_err(|r| EngineError::Refused(r.to_string()))
}

/// A platform admin activates a version without approval ("break-glass"): only with a
/// reason, flagged on the version and in the audit trail (by the route, and here).
pub(crate) async fn break_glass(
    shared: &Shared,
    dag_id: &DagId,
    hash: &str,
    caller: &Caller,
    reason: &str,
) -> Result<()> {
    if reason.trim().is_empty() {
        return Err(EngineError::InvalidRequest(
            "break-glass needs a reason: say why this version cannot wait for approval".into(),
        ));
    }
    let version = shared
        .store
        .get_governed_version(dag_id, hash)
        .await?
        .ok_or_else(|| EngineError::NotFound(format!("DAG `{dag_id}` has no version `{hash}`")))?;
    if version.status == VersionStatus::Active {
        return Err(EngineError::Conflict(format!(
            "version {hash} of DAG `{dag_id}` is already active"
        )));
    }
    let parsed = shared.catalog.version(&shared.store, dag_id, hash).await?;
    let current = shared.store.get_dag(dag_id).await?;
    let record = dag_record(
        &parsed.spec,
        current.as_ref().map_or("", |d| d.file_path.as_str()),
        Some(hash.to_string()),
        current.as_ref().is_some_and(|d| d.is_paused),
        Utc::now(),
    );
    let how = Activation {
        by: Some(&caller.name),
        break_glass_reason: Some(reason),
        ..Activation::default()
    };
    if activate(shared, hash, &how, &record).await? {
        shared
            .metrics
            .approval(parsed.spec.team.as_str(), "break_glass");
    }
    audit(
        shared,
        &caller.name,
        "version.break_glass",
        &format!("{dag_id}@{hash}"),
        parsed.spec.team.as_str(),
        json!({"reason": reason, "break_glass": true}),
    )
    .await;
    Ok(())
}

/// Appends an event the engine itself witnessed (a sync, a submission); a failure to
/// write it is logged, never fatal to the sync.
pub(crate) async fn audit(
    shared: &Shared,
    actor: &str,
    action: &str,
    object_id: &str,
    team: &str,
    details: Value,
) {
    let event = NewAuditEvent {
        time: Utc::now(),
        actor: actor.to_string(),
        action: action.to_string(),
        object_type: if action.starts_with("repository") {
            "repository".into()
        } else {
            "dag_version".into()
        },
        object_id: object_id.to_string(),
        team: (!team.is_empty()).then(|| team.to_string()),
        outcome: if details.get("error").is_some() {
            "failed".into()
        } else {
            "success".into()
        },
        source_addr: None,
        details,
    };
    if let Err(e) = shared.store.append_audit_event(&event).await {
        tracing::error!(error = %e, action, "cannot write an audit event");
    }
}
