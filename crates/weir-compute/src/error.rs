//! The one error type of the crate.
//!
//! A try that *ran* and failed is not an error: it is a [`crate::TryOutcome`]. Errors are
//! reserved for the cases where the backend could not do what was asked at all (no try
//! folder, no supervisor, a try launched twice), so the engine can tell "the task failed"
//! from "we could not run the task".

use std::io;
use std::path::PathBuf;

/// What went wrong in a compute backend.
#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    /// A file-system operation on the try folder failed.
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The try folder shows this try was launched before; starting it again could run the
    /// task twice, so the caller must adopt it instead.
    #[error(
        "try {key} was already launched in `{}`; adopt it instead of submitting it again",
        try_dir.display()
    )]
    AlreadyLaunched { key: String, try_dir: PathBuf },

    /// The supervisor process could not be started.
    #[error("cannot start the try supervisor `{program}`: {source}")]
    SpawnSupervisor {
        program: String,
        #[source]
        source: io::Error,
    },

    /// The backend was built without a supervisor command.
    #[error("the process backend has no supervisor command (expected e.g. `weir supervise`)")]
    NoSupervisor,

    /// The supervisor's command line is malformed.
    #[error("bad supervisor arguments: {0}")]
    Usage(String),

    /// The backend's service (the Docker daemon, …) cannot be reached right now. Nothing
    /// was started: the engine should keep the try queued, with this as the reason, and
    /// submit it again once the backend answers.
    #[error("the {backend} backend is unavailable: {detail}")]
    BackendUnavailable {
        backend: &'static str,
        detail: String,
    },

    /// The backend's service answered, but refused or failed an operation that is not the
    /// task's fault (the task's own problems are [`crate::EndReason::LaunchFailed`]).
    #[error("{backend}: cannot {action}: {detail}")]
    Backend {
        backend: &'static str,
        action: String,
        detail: String,
    },

    /// The spec asks for something this backend does not do (e.g. a `shell` command on
    /// the docker backend, which needs an image).
    #[error("the {backend} backend cannot run this try: {why}")]
    Unsupported { backend: &'static str, why: String },
}

impl ComputeError {
    /// Shorthand for [`ComputeError::Io`].
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = ComputeError> = std::result::Result<T, E>;
