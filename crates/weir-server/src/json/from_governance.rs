//! Conversions to the governed-delivery shapes (`weir_api::governance`) from the store's
//! versions, approval requests and repository state.

use weir_api::governance::{Approval, DagVersion, RepositoryStatus, RunVersion};
use weir_core::governance::ChangeSummary;
use weir_core::platform::RepositorySettings;
use weir_store::{ApprovalRecord, GovernedVersion, RepositoryState};

/// A version with its provenance (and its approval request's id, if it has one).
pub fn dag_version(v: &GovernedVersion) -> DagVersion {
    let p = &v.provenance;
    DagVersion {
        dag_id: v.dag_id.to_string(),
        version: v.version_hash.clone(),
        created_at: v.created_at,
        status: v.status,
        origin: p.origin.clone(),
        commit: p.commit_sha.clone(),
        author: p.author_name.clone(),
        author_email: p.author_email.clone(),
        author_user: p.author_user.clone(),
        committer: p.committer.clone(),
        message: p.message.clone(),
        committed_at: p.committed_at,
        approved_by: v.approved_by.clone(),
        approved_at: v.approved_at,
        break_glass_reason: v.break_glass_reason.clone(),
        approval_id: v.approval_id,
    }
}

/// What a run shows of the version it executes.
pub fn run_version(v: GovernedVersion) -> RunVersion {
    RunVersion {
        version: v.version_hash,
        origin: v.provenance.origin,
        commit: v.provenance.commit_sha,
        author: v.provenance.author_name,
        approved_by: v.approved_by,
        break_glass_reason: v.break_glass_reason,
    }
}

/// An approval request, with its summary's one-line headline.
pub fn approval(a: ApprovalRecord) -> Approval {
    let headline = serde_json::from_value::<ChangeSummary>(a.summary.clone())
        .map(|s| s.headline())
        .unwrap_or_default();
    Approval {
        approval_id: a.id,
        dag_id: a.dag_id.to_string(),
        version: a.version_hash,
        team: a.team,
        state: a.state,
        author: a.author_name,
        author_email: a.author_email,
        author_user: a.author_user,
        commit: a.commit_sha,
        message: a.message,
        created_at: a.created_at,
        base_version: a.base_version,
        headline,
        summary: a.summary,
        decided_by: a.decided_by,
        decided_at: a.decided_at,
        comment: a.comment,
    }
}

/// The repository's settings and sync state.
pub fn repository_status(
    settings: Option<&RepositorySettings>,
    state: Option<RepositoryState>,
) -> RepositoryStatus {
    let state = state.unwrap_or_default();
    RepositoryStatus {
        configured: settings.is_some(),
        url: settings.map(|s| s.url.clone()),
        branch: settings.map(|s| s.branch.clone()),
        path: settings.map(|s| s.path.clone()),
        interval_seconds: settings.map(|s| s.interval.0.as_secs()),
        commit: state.commit_sha,
        commit_message: state.commit_message,
        commit_author: state.commit_author,
        synced_at: state.synced_at,
        last_attempt_at: state.last_attempt_at,
        last_error: state.last_error,
        loaded: None,
    }
}
