//! The engine's one error type.

use weir_core::ids::{DagId, RunId};
use weir_store::StoreError;

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("DAG `{0}` not found")]
    DagNotFound(DagId),

    #[error("DAG run `{run_id}` of DAG `{dag_id}` not found")]
    DagRunNotFound { dag_id: DagId, run_id: RunId },

    #[error("the stored definition of DAG `{dag_id}` version {version} cannot be read: {detail}")]
    BadStoredSpec {
        dag_id: DagId,
        version: String,
        detail: String,
    },

    #[error("{0}")]
    InvalidRequest(String),

    #[error("cannot read the DAG folder {path}: {source}")]
    DagFolder {
        path: String,
        source: std::io::Error,
    },

    /// A production DAG whose first version still waits for approval.
    #[error(
        "DAG `{0}` has no approved version yet: a production DAG runs only after a second person approves its first version (`weir approvals list`)"
    )]
    NoActiveVersion(DagId),

    /// A rule refused the request (an API 403); the text names the rule.
    #[error("{0}")]
    Refused(String),

    /// The request clashes with the current state (an API 409).
    #[error("{0}")]
    Conflict(String),

    /// The request named something that does not exist (an API 404).
    #[error("{0}")]
    NotFound(String),

    /// The Git repository could not be synced.
    #[error("{0}")]
    Repository(String),

    /// The log store (`[logs] store`) cannot be used or reached (an API 503).
    #[error("{0}")]
    LogStore(String),

    #[error("the engine has stopped")]
    Stopped,

    /// The trace export (`[tracing]`) could not start.
    #[error("cannot start the trace export: {0}")]
    Traces(String),

    #[error(transparent)]
    Store(#[from] StoreError),

    #[error(transparent)]
    Compute(#[from] weir_compute::ComputeError),

    #[error("file system error at {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl EngineError {
    /// True when the request named something that does not exist (an API 404).
    pub fn is_not_found(&self) -> bool {
        match self {
            EngineError::DagNotFound(_)
            | EngineError::DagRunNotFound { .. }
            | EngineError::NotFound(_) => true,
            EngineError::Store(e) => e.is_not_found(),
            _ => false,
        }
    }

    /// True when the request clashes with existing state (an API 409).
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            EngineError::Conflict(_) | EngineError::NoActiveVersion(_)
        ) || matches!(self, EngineError::Store(e) if e.is_conflict())
    }

    /// True when a rule refused the request (an API 403).
    pub fn is_refused(&self) -> bool {
        matches!(self, EngineError::Refused(_))
    }

    /// True when the request itself is wrong (an API 400).
    pub fn is_bad_request(&self) -> bool {
        matches!(self, EngineError::InvalidRequest(_))
            || matches!(
                self,
                EngineError::Store(
                    StoreError::InvalidInput { .. } | StoreError::IllegalTransition(_)
                )
            )
    }
}
