//! Governed delivery: DAG versions with their provenance and status, the approval
//! requests of production versions, and the Git repository's sync state.
//!
//! Activating a version (on approval, break-glass, or at once for a DAG that is not
//! production) is one transaction: the approval is decided compare-and-set (`WHERE state =
//! 'pending'`), the version becomes `active`, the one it replaces `approved` (or
//! `superseded` if it never was), and the DAG row points at it. Two approvers racing, or
//! an approval racing a newer commit, cannot both land.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use weir_core::governance::{ApprovalState, VersionStatus};
use weir_core::ids::DagId;

use crate::connect::BeginWrite;
use crate::records::Page;
use crate::sql::{Ts, ts};
use crate::{Result, Store};

/// Where a version came from: the commit or deployment that first brought its content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    /// `folder`, `git`, `deploy` or `test`.
    pub origin: String,
    pub commit_sha: Option<String>,
    pub author_name: Option<String>,
    pub author_email: Option<String>,
    /// The Weir user the author maps to, if any.
    pub author_user: Option<String>,
    pub committer: Option<String>,
    pub message: Option<String>,
    pub committed_at: Option<DateTime<Utc>>,
}

impl Provenance {
    /// A version read from the watched DAG folder (no author known).
    pub fn folder() -> Provenance {
        Provenance {
            origin: "folder".into(),
            ..Provenance::default()
        }
    }
}

/// A version to store.
#[derive(Debug, Clone)]
pub struct NewDagVersion<'a> {
    pub dag_id: &'a DagId,
    pub version_hash: &'a str,
    pub spec: &'a Value,
    pub source: &'a str,
    /// The job definitions a production version carries (its runs use these).
    pub jobs: Option<&'a Value>,
    pub status: VersionStatus,
    pub provenance: &'a Provenance,
}

/// A stored version with its provenance and status.
#[derive(Debug, Clone, PartialEq)]
pub struct GovernedVersion {
    pub dag_id: DagId,
    pub version_hash: String,
    pub spec: Value,
    pub source: String,
    pub created_at: DateTime<Utc>,
    pub status: VersionStatus,
    pub provenance: Provenance,
    pub jobs: Option<Value>,
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub break_glass_reason: Option<String>,
    /// The version's approval request, if it has one.
    pub approval_id: Option<i64>,
}

/// A version's columns, with its approval request's id (at most one per version).
const VERSION: &str = "SELECT v.*, a.id AS approval_id FROM dag_version v
    LEFT JOIN approval a ON a.dag_id = v.dag_id AND a.version_hash = v.version_hash";

/// Reads a [`Provenance`] from a row's `origin`, `commit_sha`, … columns.
macro_rules! provenance_from_row {
    ($row:ident) => {
        Provenance {
            origin: $row.try_get("origin")?,
            commit_sha: $row.try_get("commit_sha")?,
            author_name: $row.try_get("author_name")?,
            author_email: $row.try_get("author_email")?,
            author_user: $row.try_get("author_user")?,
            committer: $row.try_get("committer")?,
            message: $row.try_get("message")?,
            committed_at: $row.try_get::<Option<Ts>, _>("committed_at")?.map(|t| t.0),
        }
    };
}

/// Binds a [`Provenance`]'s eight columns, in the order `origin, commit_sha, author_name,
/// author_email, author_user, committer, message, committed_at`.
macro_rules! bind_provenance {
    ($query:expr, $p:expr) => {
        $query
            .bind(&$p.origin)
            .bind(&$p.commit_sha)
            .bind(&$p.author_name)
            .bind(&$p.author_email)
            .bind(&$p.author_user)
            .bind(&$p.committer)
            .bind(&$p.message)
            .bind(ts($p.committed_at))
    };
}

/// An approval request for one production version.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalRecord {
    pub id: i64,
    pub dag_id: DagId,
    pub version_hash: String,
    pub team: String,
    pub state: ApprovalState,
    pub author_name: Option<String>,
    pub author_email: Option<String>,
    pub author_user: Option<String>,
    pub commit_sha: Option<String>,
    pub message: Option<String>,
    pub summary: Value,
    pub base_version: Option<String>,
    pub created_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub comment: Option<String>,
}

/// What a new approval request says.
#[derive(Debug, Clone)]
pub struct NewApproval<'a> {
    pub dag_id: &'a DagId,
    pub version_hash: &'a str,
    pub team: &'a str,
    pub provenance: &'a Provenance,
    pub summary: &'a Value,
    pub base_version: Option<&'a str>,
}

/// Which approvals [`Store::list_approvals`] returns.
#[derive(Debug, Clone, Default)]
pub struct ApprovalFilter {
    pub state: Option<ApprovalState>,
    pub dag_id: Option<DagId>,
    pub limit: i64,
    pub offset: i64,
}

/// How a version becomes active.
#[derive(Debug, Clone, Default)]
pub struct Activation<'a> {
    /// The approval being granted (decided compare-and-set: `false` if it was no longer
    /// pending).
    pub approval: Option<i64>,
    /// Who approved (or who broke the glass).
    pub by: Option<&'a str>,
    pub comment: Option<&'a str>,
    /// A platform admin's reason for activating without approval.
    pub break_glass_reason: Option<&'a str>,
    /// The DAG row's fields from the version (schedule, description, …).
    pub dag: Option<&'a crate::DagRecord>,
}

/// The repository's sync state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RepositoryState {
    pub url: String,
    pub branch: String,
    pub commit_sha: Option<String>,
    pub commit_message: Option<String>,
    pub commit_author: Option<String>,
    pub synced_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

impl_from_row!(GovernedVersion, |row| {
    Ok(GovernedVersion {
        dag_id: crate::sql::parse_col("dag_id", row.try_get::<String, _>("dag_id")?)?,
        version_hash: row.try_get("version_hash")?,
        spec: row.try_get::<Json<Value>, _>("spec")?.0,
        source: row.try_get("source")?,
        created_at: row.try_get::<Ts, _>("created_at")?.0,
        status: crate::sql::parse_col("status", row.try_get::<String, _>("status")?)?,
        provenance: provenance_from_row!(row),
        jobs: row.try_get::<Option<Json<Value>>, _>("jobs")?.map(|j| j.0),
        approved_by: row.try_get("approved_by")?,
        approved_at: row.try_get::<Option<Ts>, _>("approved_at")?.map(|t| t.0),
        break_glass_reason: row.try_get("break_glass_reason")?,
        approval_id: row.try_get("approval_id")?,
    })
});

/// A job definition revision's provenance: the commit or deployment that first brought it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobVersionRecord {
    pub team: String,
    pub job: String,
    pub revision: String,
    pub created_at: DateTime<Utc>,
    pub provenance: Provenance,
}

impl_from_row!(JobVersionRecord, |row| {
    Ok(JobVersionRecord {
        team: row.try_get("team")?,
        job: row.try_get("job")?,
        revision: row.try_get("revision")?,
        created_at: row.try_get::<Ts, _>("created_at")?.0,
        provenance: provenance_from_row!(row),
    })
});

impl_from_row!(ApprovalRecord, |row| {
    Ok(ApprovalRecord {
        id: row.try_get("id")?,
        dag_id: crate::sql::parse_col("dag_id", row.try_get::<String, _>("dag_id")?)?,
        version_hash: row.try_get("version_hash")?,
        team: row.try_get("team")?,
        state: crate::sql::parse_col("state", row.try_get::<String, _>("state")?)?,
        author_name: row.try_get("author_name")?,
        author_email: row.try_get("author_email")?,
        author_user: row.try_get("author_user")?,
        commit_sha: row.try_get("commit_sha")?,
        message: row.try_get("message")?,
        summary: row.try_get::<Json<Value>, _>("summary")?.0,
        base_version: row.try_get("base_version")?,
        created_at: row.try_get::<Ts, _>("created_at")?.0,
        decided_by: row.try_get("decided_by")?,
        decided_at: row.try_get::<Option<Ts>, _>("decided_at")?.map(|t| t.0),
        comment: row.try_get("comment")?,
    })
});

impl_from_row!(RepositoryState, |row| {
    Ok(RepositoryState {
        url: row.try_get("url")?,
        branch: row.try_get("branch")?,
        commit_sha: row.try_get("commit_sha")?,
        commit_message: row.try_get("commit_message")?,
        commit_author: row.try_get("commit_author")?,
        synced_at: row.try_get::<Option<Ts>, _>("synced_at")?.map(|t| t.0),
        last_attempt_at: row
            .try_get::<Option<Ts>, _>("last_attempt_at")?
            .map(|t| t.0),
        last_error: row.try_get("last_error")?,
    })
});

impl Store {
    /// Stores a version with its provenance and status; returns `true` if it is new. A
    /// hash already stored keeps its row (same hash, same content, first provenance).
    pub async fn insert_governed_version(&self, v: &NewDagVersion<'_>) -> Result<bool> {
        let now = Ts(Utc::now());
        let p = v.provenance;
        with_db!(self, |pool| {
            let query = sqlx::query(
                "INSERT INTO dag_version (dag_id, version_hash, spec, source, created_at,
                     status, jobs, origin, commit_sha, author_name, author_email, author_user,
                     committer, message, committed_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                 ON CONFLICT (dag_id, version_hash) DO NOTHING",
            );
            let query = query
                .bind(v.dag_id.as_str())
                .bind(v.version_hash)
                .bind(Json(v.spec))
                .bind(v.source)
                .bind(now)
                .bind(v.status.as_str())
                .bind(v.jobs.map(Json));
            let inserted = bind_provenance!(query, p)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(inserted == 1)
        })
    }

    /// One version with its provenance and status.
    pub async fn get_governed_version(
        &self,
        dag_id: &DagId,
        version_hash: &str,
    ) -> Result<Option<GovernedVersion>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{VERSION} WHERE v.dag_id = $1 AND v.version_hash = $2"
            )))
            .bind(dag_id.as_str())
            .bind(version_hash)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// The DAG's versions with provenance and status, newest first.
    pub async fn list_governed_versions(
        &self,
        dag_id: &DagId,
        limit: i64,
        offset: i64,
    ) -> Result<Page<GovernedVersion>> {
        crate::sql::check_page(limit, offset)?;
        with_db!(self, |pool| {
            let items = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{VERSION} WHERE v.dag_id = $1
                 ORDER BY v.created_at DESC, v.version_hash LIMIT $2 OFFSET $3"
            )))
            .bind(dag_id.as_str())
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?;
            let total_entries: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM dag_version WHERE dag_id = $1")
                    .bind(dag_id.as_str())
                    .fetch_one(pool)
                    .await?;
            Ok(Page {
                items,
                total_entries,
            })
        })
    }

    /// Sets a version's status (a pending one found again after it was superseded).
    pub async fn set_version_status(
        &self,
        dag_id: &DagId,
        version_hash: &str,
        status: VersionStatus,
    ) -> Result<()> {
        with_db!(self, |pool| {
            sqlx::query(
                "UPDATE dag_version SET status = $3 WHERE dag_id = $1 AND version_hash = $2",
            )
            .bind(dag_id.as_str())
            .bind(version_hash)
            .bind(status.as_str())
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Marks the DAG's pending versions other than `keep` superseded, with their approval
    /// requests; returns the approvals it superseded.
    pub async fn supersede_pending(&self, dag_id: &DagId, keep: &str) -> Result<Vec<i64>> {
        with_db!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "UPDATE dag_version SET status = 'superseded'
                 WHERE dag_id = $1 AND version_hash <> $2 AND status = 'pending_approval'",
            )
            .bind(dag_id.as_str())
            .bind(keep)
            .execute(&mut *tx)
            .await?;
            let ids: Vec<i64> = sqlx::query_scalar(
                "UPDATE approval SET state = 'superseded'
                 WHERE dag_id = $1 AND version_hash <> $2 AND state = 'pending'
                 RETURNING id",
            )
            .bind(dag_id.as_str())
            .bind(keep)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(ids)
        })
    }

    /// Makes `version_hash` the DAG's active version (see the module doc). Returns
    /// `false`, changing nothing, when `activation.approval` is no longer pending.
    pub async fn activate_version(
        &self,
        dag_id: &DagId,
        version_hash: &str,
        activation: &Activation<'_>,
    ) -> Result<bool> {
        let now = Ts(Utc::now());
        with_db!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            if let Some(id) = activation.approval {
                let decided = sqlx::query(
                    "UPDATE approval SET state = 'approved', decided_by = $2, decided_at = $3,
                         comment = $4
                     WHERE id = $1 AND state = 'pending'",
                )
                .bind(id)
                .bind(activation.by)
                .bind(now)
                .bind(activation.comment)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if decided == 0 {
                    return Ok(false);
                }
            }
            // The version it replaces: `approved` if it ever was, else `superseded`.
            sqlx::query(
                "UPDATE dag_version SET status = CASE
                     WHEN approved_by IS NOT NULL THEN 'approved' ELSE 'superseded' END
                 WHERE dag_id = $1 AND version_hash <> $2 AND status = 'active'",
            )
            .bind(dag_id.as_str())
            .bind(version_hash)
            .execute(&mut *tx)
            .await?;
            let approved = activation.approval.is_some() || activation.break_glass_reason.is_some();
            sqlx::query(
                "UPDATE dag_version SET status = 'active',
                     approved_by = CASE WHEN $3 THEN $4 ELSE approved_by END,
                     approved_at = CASE WHEN $3 THEN $5 ELSE approved_at END,
                     break_glass_reason = COALESCE($6, break_glass_reason)
                 WHERE dag_id = $1 AND version_hash = $2",
            )
            .bind(dag_id.as_str())
            .bind(version_hash)
            .bind(approved)
            .bind(activation.by)
            .bind(now)
            .bind(activation.break_glass_reason)
            .execute(&mut *tx)
            .await?;
            if activation.break_glass_reason.is_some() {
                sqlx::query(
                    "UPDATE approval SET state = 'approved', decided_by = $3, decided_at = $4,
                         comment = $5
                     WHERE dag_id = $1 AND version_hash = $2 AND state = 'pending'",
                )
                .bind(dag_id.as_str())
                .bind(version_hash)
                .bind(activation.by)
                .bind(now)
                .bind(
                    activation
                        .break_glass_reason
                        .map(|r| format!("break-glass: {r}")),
                )
                .execute(&mut *tx)
                .await?;
            }
            if let Some(dag) = activation.dag {
                sqlx::query(
                    "UPDATE dag SET latest_version = $2, description = $3, tags = $4,
                         schedule = $5, timezone = $6, max_active_runs = $7, owners = $8,
                         next_logical_date = NULL, next_data_interval_start = NULL,
                         next_data_interval_end = NULL
                     WHERE dag_id = $1",
                )
                .bind(dag_id.as_str())
                .bind(version_hash)
                .bind(&dag.description)
                .bind(Json(&dag.tags))
                .bind(&dag.schedule)
                .bind(&dag.timezone)
                .bind(i64::from(dag.max_active_runs))
                .bind(Json(&dag.owners))
                .execute(&mut *tx)
                .await?;
            } else {
                sqlx::query("UPDATE dag SET latest_version = $2 WHERE dag_id = $1")
                    .bind(dag_id.as_str())
                    .bind(version_hash)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Rejects a pending approval and its version; `false` if it was no longer pending.
    pub async fn reject_approval(&self, id: i64, by: &str, comment: Option<&str>) -> Result<bool> {
        let now = Ts(Utc::now());
        with_db!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let decided: Option<(String, String)> = sqlx::query_as(
                "UPDATE approval SET state = 'rejected', decided_by = $2, decided_at = $3,
                     comment = $4
                 WHERE id = $1 AND state = 'pending'
                 RETURNING dag_id, version_hash",
            )
            .bind(id)
            .bind(by)
            .bind(now)
            .bind(comment)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((dag_id, hash)) = decided else {
                return Ok(false);
            };
            sqlx::query(
                "UPDATE dag_version SET status = 'rejected'
                 WHERE dag_id = $1 AND version_hash = $2 AND status = 'pending_approval'",
            )
            .bind(&dag_id)
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Opens (or re-opens, for a version found again) the approval request of a version;
    /// returns it.
    pub async fn request_approval(&self, new: &NewApproval<'_>) -> Result<ApprovalRecord> {
        let now = Ts(Utc::now());
        let p = new.provenance;
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "INSERT INTO approval (dag_id, version_hash, team, state, author_name,
                     author_email, author_user, commit_sha, message, summary, base_version,
                     created_at)
                 VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (dag_id, version_hash) DO UPDATE SET
                     state = 'pending', summary = excluded.summary,
                     base_version = excluded.base_version, decided_by = NULL,
                     decided_at = NULL, comment = NULL
                 RETURNING *",
            )
            .bind(new.dag_id.as_str())
            .bind(new.version_hash)
            .bind(new.team)
            .bind(&p.author_name)
            .bind(&p.author_email)
            .bind(&p.author_user)
            .bind(&p.commit_sha)
            .bind(&p.message)
            .bind(Json(new.summary))
            .bind(new.base_version)
            .bind(now)
            .fetch_one(pool)
            .await?)
        })
    }

    /// One approval request.
    pub async fn get_approval(&self, id: i64) -> Result<Option<ApprovalRecord>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as("SELECT * FROM approval WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?)
        })
    }

    /// One page of approval requests, newest first, with the count of all that match.
    pub async fn list_approvals(&self, filter: &ApprovalFilter) -> Result<Page<ApprovalRecord>> {
        crate::sql::check_page(filter.limit, filter.offset)?;
        let state = filter.state.map(ApprovalState::as_str);
        let dag = filter.dag_id.as_ref().map(DagId::as_str);
        const WHERE: &str = "WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR dag_id = $2)";
        with_db!(self, |pool| {
            let items = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT * FROM approval {WHERE} ORDER BY id DESC LIMIT $3 OFFSET $4"
            )))
            .bind(state)
            .bind(dag)
            .bind(filter.limit)
            .bind(filter.offset)
            .fetch_all(pool)
            .await?;
            let total_entries: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM approval {WHERE}"
            )))
            .bind(state)
            .bind(dag)
            .fetch_one(pool)
            .await?;
            Ok(Page {
                items,
                total_entries,
            })
        })
    }

    /// Records a job definition revision with its provenance; `true` if it is new (a
    /// revision seen before keeps its first provenance).
    pub async fn record_job_version(
        &self,
        team: &str,
        job: &str,
        revision: &str,
        definition: &Value,
        p: &Provenance,
    ) -> Result<bool> {
        let now = Ts(Utc::now());
        with_db!(self, |pool| {
            let query = sqlx::query(
                "INSERT INTO job_version (team, job, revision, definition, created_at, origin,
                     commit_sha, author_name, author_email, author_user, committer, message,
                     committed_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                 ON CONFLICT (team, job, revision) DO NOTHING",
            )
            .bind(team)
            .bind(job)
            .bind(revision)
            .bind(Json(definition))
            .bind(now);
            let inserted = bind_provenance!(query, p)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(inserted == 1)
        })
    }

    /// Where a job definition revision came from, if it was recorded.
    pub async fn job_version(
        &self,
        team: &str,
        job: &str,
        revision: &str,
    ) -> Result<Option<JobVersionRecord>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT team, job, revision, created_at, origin, commit_sha, author_name,
                     author_email, author_user, committer, message, committed_at
                 FROM job_version WHERE team = $1 AND job = $2 AND revision = $3",
            )
            .bind(team)
            .bind(job)
            .bind(revision)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// The one user whose e-mail is `email` (case-insensitive); `None` when no user, or
    /// more than one, has it: an ambiguous author maps to nobody.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<String>> {
        with_db!(self, |pool| {
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT username FROM weir_user WHERE LOWER(email) = LOWER($1) LIMIT 2",
            )
            .bind(email)
            .fetch_all(pool)
            .await?;
            Ok(match names.as_slice() {
                [one] => Some(one.clone()),
                _ => None,
            })
        })
    }

    /// The repository's sync state, if a sync was ever tried.
    pub async fn repository_state(&self) -> Result<Option<RepositoryState>> {
        with_db!(self, |pool| {
            Ok(
                sqlx::query_as("SELECT * FROM repository_state WHERE id = 1")
                    .fetch_optional(pool)
                    .await?,
            )
        })
    }

    /// Records a sync attempt: the commit now in use when it succeeded, the error when not
    /// (a failed attempt keeps the commit in use).
    pub async fn record_repository_sync(&self, state: &RepositoryState) -> Result<()> {
        with_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO repository_state (id, url, branch, commit_sha, commit_message,
                     commit_author, synced_at, last_attempt_at, last_error)
                 VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (id) DO UPDATE SET
                     url = excluded.url, branch = excluded.branch,
                     commit_sha = COALESCE(excluded.commit_sha, repository_state.commit_sha),
                     commit_message = CASE WHEN excluded.commit_sha IS NULL
                         THEN repository_state.commit_message ELSE excluded.commit_message END,
                     commit_author = CASE WHEN excluded.commit_sha IS NULL
                         THEN repository_state.commit_author ELSE excluded.commit_author END,
                     synced_at = COALESCE(excluded.synced_at, repository_state.synced_at),
                     last_attempt_at = excluded.last_attempt_at,
                     last_error = excluded.last_error",
            )
            .bind(&state.url)
            .bind(&state.branch)
            .bind(&state.commit_sha)
            .bind(&state.commit_message)
            .bind(&state.commit_author)
            .bind(ts(state.synced_at))
            .bind(ts(state.last_attempt_at))
            .bind(&state.last_error)
            .execute(pool)
            .await?;
            Ok(())
        })
    }
}
