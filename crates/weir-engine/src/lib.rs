//! The orchestration engine: loads DAG files, creates DAG runs on schedule or on request,
//! decides which task instances run (through weir-core's planner), launches their tries
//! on a compute backend, collects the results, and recovers after a crash.
//!
//! It is event-driven: a finished try wakes its run at once, in process; the clock wakes
//! only for the next schedule or retry. There is no polling interval on the hot path.
//!
//! The [`EngineHandle`] is what the HTTP API and the CLI use to act on the engine; reads
//! go straight to the store.

mod backends;
mod catalog;
mod clock;
mod config;
mod connections;
mod credentials;
mod dag_bag;
mod dag_cache;
mod dag_files;
mod datasets;
mod deploy;
mod dispatch;
mod dispatch_state;
mod error;
mod events;
mod governance;
mod handle;
mod inline;
mod launch;
mod log_archive;
pub mod metrics;
mod notifications;
mod prepare;
mod queues;
mod recovery;
mod render;
mod replicas;
mod repository;
mod runs;
mod scheduler;
mod sensors;
mod service;
mod shared;
mod traces;
mod tries;
mod watcher;
mod workload;

pub use clock::{Clock, ManualClock, Sleep, SystemClock};
pub use config::EngineConfig;
pub use dag_bag::SyncReport;
pub use dag_files::{Loaded, ReadError, find_dag_files, load_folder, read as read_dag_file};
pub use deploy::{Bundle, Deployed};
pub use error::{EngineError, Result};
pub use governance::Submitted;
pub use handle::{ClearRequest, EngineHandle, TriggerRequest};
pub use log_archive::{LOG_STORE_ENVIRONMENT, LogLocation};
pub use metrics::Metrics;
pub use queues::{EnvironmentView, QueueView, WaitingView};
pub use replicas::{ReplicaRole, ReplicaSettings};
pub use repository::RepositorySync;
pub use service::{Engine, EngineOptions};
