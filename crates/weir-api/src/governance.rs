//! Governed delivery: DAG versions with their provenance (`/dags/{dag_id}/versions`),
//! their diffs, approval requests (`/approvals`), the Git repository's sync state
//! (`/repository`) and uploaded deployments (`/deployments`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use weir_core::governance::{ApprovalState, VersionStatus};

use crate::schema::{ApprovalStateSchema, VersionStatusSchema};
use crate::time;

/// Where a version came from and who let it run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DagVersion {
    pub dag_id: String,
    /// The version's content hash (the DAG, with the job definitions it carries).
    pub version: String,
    #[serde(with = "time")]
    pub created_at: DateTime<Utc>,
    #[schema(value_type = VersionStatusSchema)]
    pub status: VersionStatus,
    /// `git`, `deploy`, `folder` (the watched folder) or `test`.
    pub origin: String,
    /// The commit that first brought this content.
    pub commit: Option<String>,
    pub author: Option<String>,
    pub author_email: Option<String>,
    /// The Weir user the author maps to (by e-mail, or the deploying user).
    pub author_user: Option<String>,
    pub committer: Option<String>,
    pub message: Option<String>,
    #[serde(default, with = "time::option")]
    pub committed_at: Option<DateTime<Utc>>,
    pub approved_by: Option<String>,
    #[serde(default, with = "time::option")]
    pub approved_at: Option<DateTime<Utc>>,
    /// Set when a platform admin activated it without approval (break-glass).
    pub break_glass_reason: Option<String>,
    /// The approval request of a production version.
    pub approval_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DagVersionCollection {
    /// Newest first.
    pub versions: Vec<DagVersion>,
    pub total_entries: i64,
}

/// One version with its YAML (`GET /dags/{dag_id}/versions/{version}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DagVersionDetail {
    #[serde(flatten)]
    pub version: DagVersion,
    /// The DAG file's text, as committed.
    pub source: String,
    /// The job definitions the version carries (production and deployed versions).
    #[schema(value_type = Option<Vec<Object>>)]
    pub job_definitions: Option<Value>,
}

/// `GET /dags/{dag_id}/versions/{a}/diff/{b}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DagVersionDiff {
    pub dag_id: String,
    pub from_version: String,
    pub to_version: String,
    /// One line: what changed.
    pub headline: String,
    /// The semantic summary: tasks added/removed/changed, schedule, images, resources,
    /// secrets and connections referenced.
    #[schema(value_type = Object)]
    pub summary: Value,
    /// A unified diff of the two DAG files.
    pub diff: String,
}

/// An approval request (`GET /approvals/{approval_id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Approval {
    pub approval_id: i64,
    pub dag_id: String,
    pub version: String,
    pub team: String,
    #[schema(value_type = ApprovalStateSchema)]
    pub state: ApprovalState,
    pub author: Option<String>,
    pub author_email: Option<String>,
    pub author_user: Option<String>,
    pub commit: Option<String>,
    pub message: Option<String>,
    #[serde(with = "time")]
    pub created_at: DateTime<Utc>,
    /// The version active when this one was submitted (what the summary compares with).
    pub base_version: Option<String>,
    pub headline: String,
    #[schema(value_type = Object)]
    pub summary: Value,
    pub decided_by: Option<String>,
    #[serde(default, with = "time::option")]
    pub decided_at: Option<DateTime<Utc>>,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalCollection {
    /// Newest first.
    pub approvals: Vec<Approval>,
    pub total_entries: i64,
}

/// `POST /approvals/{approval_id}/approve` and `…/reject`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalDecision {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// `POST /dags/{dag_id}/versions/{version}/activate`: break-glass, with its reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakGlass {
    pub reason: String,
}

/// `GET /repository`, and the answer of `POST /repository/sync`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RepositoryStatus {
    /// Whether `weir.toml` has a `[repository]` (without one, the DAG folder is watched).
    pub configured: bool,
    pub url: Option<String>,
    pub branch: Option<String>,
    pub path: Option<String>,
    pub interval_seconds: Option<u64>,
    /// The commit in use.
    pub commit: Option<String>,
    pub commit_message: Option<String>,
    pub commit_author: Option<String>,
    /// When the commit in use was synced.
    #[serde(default, with = "time::option")]
    pub synced_at: Option<DateTime<Utc>>,
    #[serde(default, with = "time::option")]
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed (the commit in use stays in use); null after a success.
    pub last_error: Option<String>,
    /// What the sync just done found (only in the answer of a sync that loaded a commit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loaded: Option<SyncSummary>,
}

/// What a sync loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SyncSummary {
    pub dags: usize,
    pub new_versions: usize,
    pub pending_approval: usize,
    pub files_with_errors: usize,
}

/// One file of a deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentFile {
    /// Relative to the bundle: `dags/…` or `jobs/…`, a `.yaml`/`.yml` file.
    pub path: String,
    pub content: String,
}

/// `POST /deployments`: a bundle of DAG and job definition files of one team.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    pub team: String,
    pub files: Vec<DeploymentFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What a deployment did to one DAG.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeployedDag {
    pub dag_id: String,
    pub version: Option<String>,
    /// `active` (runs now), `pending_approval` (a production DAG: waits for a second
    /// person), `unchanged`, or `rejected` (this exact content was rejected before).
    pub outcome: String,
    pub approval_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeploymentResult {
    pub dags: Vec<DeployedDag>,
    pub job_definitions: usize,
}

/// Where a revision came from: the commit or deployment that first brought it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Provenance {
    /// `git`, `deploy` or `folder`.
    pub origin: String,
    pub commit: Option<String>,
    pub author: Option<String>,
    pub author_email: Option<String>,
    pub committer: Option<String>,
    pub message: Option<String>,
    #[serde(default, with = "time::option")]
    pub committed_at: Option<DateTime<Utc>>,
    /// When Weir first saw it.
    #[serde(with = "time")]
    pub created_at: DateTime<Utc>,
}

/// The version a run executes, with its commit and who approved it (in a DAG run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunVersion {
    pub version: String,
    pub origin: String,
    pub commit: Option<String>,
    pub author: Option<String>,
    pub approved_by: Option<String>,
    pub break_glass_reason: Option<String>,
}
