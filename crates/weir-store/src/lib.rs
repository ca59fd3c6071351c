//! Weir's metadata store: the only crate that speaks SQL.
//!
//! One API, [`Store`], in front of two databases:
//!
//! - **SQLite** (WAL journal, `busy_timeout`, foreign keys on) for `weir standalone`: open it
//!   with a file path or a `sqlite:` URL;
//! - **PostgreSQL** for replicated deployments: open it with a `postgres://` URL.
//!
//! Both run the same SQL wherever the dialects agree (`$n` placeholders work on both:
//! SQLite binds `$n` by its number), with per-dialect SQL only where they differ, and each
//! has its own migration folder (`migrations/sqlite`, `migrations/postgres`) describing the
//! same tables. One conformance suite (`tests/conformance.rs`) runs against both.
//!
//! State changes are compare-and-set: `UPDATE … WHERE state = $expected`, returning whether
//! the row changed, after the change has been checked by weir-core's state machine, so an
//! illegal change is refused with [`StoreError::IllegalTransition`] and a change that lost a
//! race with another scheduler replica returns `false` instead of landing twice.
//!
//! Times are stored with microsecond precision (TIMESTAMPTZ on PostgreSQL, fixed-width
//! RFC 3339 text on SQLite); finer precision is truncated on write.

#[macro_use]
mod macros;

mod access_records;
mod audit;
mod changes;
mod connect;
mod connections;
mod dag_runs;
mod dags;
pub(crate) mod datasets;
mod error;
mod governance;
mod import_errors;
mod lifecycle;
mod mapping;
mod notifications;
mod observe;
mod pools;
mod records;
mod replicas;
mod rows;
mod secrets;
mod sql;
mod task_instances;
mod task_logs;
pub mod ti_search;
mod tokens;
mod tries;
mod ui_sessions;
mod usage;
mod users;
mod variables;
mod xcom;

use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

pub use access_records::*;
pub use changes::ChangeListener;
pub use connect::StoreOptions;
pub use datasets::{
    DatasetConsumer, DatasetEventFilter, DatasetEventRecord, DatasetRecord, DatasetTrigger,
    EventSource, NewDatasetEvent,
};
pub use error::{Result, StoreError};
pub use governance::{
    Activation, ApprovalFilter, ApprovalRecord, GovernedVersion, JobVersionRecord, NewApproval,
    NewDagVersion, Provenance, RepositoryState,
};
pub use notifications::{
    ChannelDeliveries, DeliveryUpdate, NewNotification, NotificationFilter, NotificationRecord,
};
pub use observe::StoreObserver;
pub use pools::{NewPool, PoolChange};
pub use records::*;
pub use replicas::ReplicaRecord;
pub use secrets::{SealedValue, SecretRecord};
pub use task_logs::{ExpiredLog, TaskLogRecord};
pub use ui_sessions::UiSessionRecord;
pub use usage::UsageEntry;

/// The default pool every task instance uses unless its task names another; created by
/// the first migration with 128 slots, and never deleted.
pub const DEFAULT_POOL: &str = "default_pool";

/// Weir's metadata store. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    /// Who is told how long each method took and which task instances moved.
    observer: observe::ObserverSlot,
}

/// The database behind a [`Store`].
#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Which kind of database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    Sqlite,
    Postgres,
}

impl BackendKind {
    /// `"sqlite"` or `"postgres"`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Sqlite => "sqlite",
            BackendKind::Postgres => "postgres",
        }
    }
}

impl Store {
    /// Which kind of database this store talks to.
    pub fn backend_kind(&self) -> BackendKind {
        match self.backend {
            Backend::Sqlite(_) => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// `"sqlite"` or `"postgres"`, for logs and the health endpoint.
    pub fn backend_name(&self) -> &'static str {
        self.backend_kind().as_str()
    }

    /// Checks that the database answers (`SELECT 1`), for health checks.
    pub async fn health_check(&self) -> Result<()> {
        with_db!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Tells `observer` how long each method of this store and of its clones takes, and
    /// each task-instance state change that lands ([`StoreObserver`]); replaces any
    /// observer set before.
    pub fn observe(&self, observer: std::sync::Arc<dyn StoreObserver>) {
        self.observer.set(observer);
    }

    /// Closes every connection of the pool; later calls on any clone fail.
    pub async fn close(&self) {
        with_db!(self, |pool| pool.close().await)
    }
}
