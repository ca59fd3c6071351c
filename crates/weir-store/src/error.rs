//! The store's one error type.

use chrono::{DateTime, Utc};
use weir_core::ids::{DagId, RunId, TryKey};
use weir_core::state::IllegalTransition;

use crate::records::TaskInstanceKey;

/// `Result` with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything the store can refuse or fail at. Variants that name a missing or clashing
/// object carry it, so the API layer can map them to 404/409 with a precise message.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DAG `{0}` not found")]
    DagNotFound(DagId),

    #[error("DAG run `{run_id}` of DAG `{dag_id}` not found")]
    DagRunNotFound { dag_id: DagId, run_id: RunId },

    #[error(
        "DAG `{dag_id}` already has a run with run id `{run_id}` or logical date {logical_date}"
    )]
    RunExists {
        dag_id: DagId,
        run_id: RunId,
        logical_date: DateTime<Utc>,
    },

    #[error("task instance {0} not found")]
    TaskInstanceNotFound(TaskInstanceKey),

    #[error("try {0} already exists")]
    TryExists(TryKey),

    #[error("try {0} not found")]
    TryNotFound(TryKey),

    #[error("pool `{0}` not found")]
    PoolNotFound(String),

    #[error("the default pool `{0}` cannot be deleted")]
    DefaultPoolUndeletable(String),

    #[error("pool `{0}` already exists")]
    PoolExists(String),

    #[error(
        "DAG `{dag_id}` has {count} task instance(s) queued or running; wait for them to \
         finish (or mark them failed) before deleting the DAG"
    )]
    DagHasRunningTasks { dag_id: DagId, count: i64 },

    #[error("user `{0}` already exists")]
    UserExists(String),

    #[error("user `{0}` not found")]
    UserNotFound(String),

    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),

    #[error("invalid value for {what}: {detail}")]
    InvalidInput { what: &'static str, detail: String },

    #[error("cannot open the store at `{url}`: {detail}")]
    InvalidUrl { url: String, detail: String },

    #[error("cannot make the database file `{path}` owner-only (mode 0600): {source}")]
    Permissions {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// True for "the thing asked for does not exist" variants (an API 404).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            StoreError::DagNotFound(_)
                | StoreError::DagRunNotFound { .. }
                | StoreError::TaskInstanceNotFound(_)
                | StoreError::TryNotFound(_)
                | StoreError::PoolNotFound(_)
                | StoreError::UserNotFound(_)
        )
    }

    /// True for "it already exists" variants (an API 409).
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            StoreError::RunExists { .. }
                | StoreError::TryExists(_)
                | StoreError::UserExists(_)
                | StoreError::PoolExists(_)
                | StoreError::DagHasRunningTasks { .. }
        )
    }
}

/// Whether `e` is a unique or primary-key violation, on either database.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Whether `e` is a foreign-key violation, on either database.
pub(crate) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_foreign_key_violation())
}
