//! The HTTP API's types: every request and response body, the problem JSON and the
//! date-time format, as one crate that depends only on `weir-core`.
//!
//! The server writes responses from these types, the `weir` CLI reads them into the very
//! same types, and the web UI reads the same shapes; the OpenAPI document is derived from
//! them (`utoipa::ToSchema`), with Airflow's schema names. Roles, caller kinds, audit
//! outcomes, task kinds, task and DAG-run states are enums (weir-core's where it has
//! them), spelled on the wire exactly as before. The list filters of `batch` keep their
//! states as text, so that a wrong one gets the handler's own message. Conversions from
//! store records live in the server, which is the only side that sees the store.
//!
//! Modules by area; every type is also re-exported at the crate root.

pub mod access;
pub mod audit;
pub mod batch;
pub mod config;
pub mod connections;
pub mod costs;
pub mod dag_sources;
pub mod dags;
pub mod datasets;
pub mod governance;
pub mod health;
pub mod import_errors;
pub mod job_definitions;
pub mod notifications;
pub mod pool_changes;
pub mod pools;
pub mod problem;
pub mod queues;
pub mod runs;
pub mod schema;
pub mod secrets;
pub mod task_instances;
pub mod time;
pub mod variables;
pub mod xcom;

pub use access::{
    CreatedToken, Me, MemberBody, Membership, NewTokenBody, NewUserBody, PasswordBody, Team,
    TeamCollection, TeamRoleEntry, TokenCollection, TokenInfo, User, UserCollection,
};
pub use audit::{AuditEvent, AuditEventCollection, AuditOutcome, UnknownOutcome};
pub use batch::{
    ClearDagRun, ClearDagRunResponse, ListDagRunsForm, ListTaskInstanceForm, UpdateTaskInstance,
    UpdateTaskState,
};
pub use config::{Config, ConfigOption, ConfigSection};
pub use connections::{Connection, ConnectionBody, ConnectionCollection, ConnectionCollectionItem};
pub use costs::{CostReport, CostRow};
pub use dags::{
    ClassRef, Dag, DagCollection, DagDetail, PatchDag, ScheduleInterval, Tag, Task, TaskCollection,
    TaskKind, TimeDelta,
};
pub use datasets::{
    BasicDagRun, CreateDatasetEvent, DagScheduleDatasetReference, Dataset, DatasetCollection,
    DatasetEvent, DatasetEventCollection, Lineage, TaskOutletDatasetReference,
};
pub use governance::{
    Approval, ApprovalCollection, ApprovalDecision, BreakGlass, DagVersion, DagVersionCollection,
    DagVersionDetail, DagVersionDiff, DeployedDag, Deployment, DeploymentFile, DeploymentResult,
    Provenance, RepositoryStatus, RunVersion, SyncSummary,
};
pub use health::{
    ComponentStatus, DagProcessorStatus, HealthInfo, ReplicaInfo, ReplicaRole, SchedulerStatus,
    TriggererStatus, VersionInfo,
};
pub use import_errors::{ImportError, ImportErrorCollection};
pub use job_definitions::{ExitRule, JobDefinition, JobDefinitionCollection, RetryStrategy};
pub use notifications::{
    Notification, NotificationChannel, NotificationChannelCollection, NotificationCollection,
};
pub use pools::{Pool, PoolCollection};
pub use problem::Problem;
pub use queues::{ComputeEnvironment, Queue, QueueCollection, QueueDepth, WaitingTry};
pub use runs::{
    BackfillRequest, BackfillResponse, DagRun, DagRunCollection, TriggerDagRun, UpdateDagRunState,
};
pub use secrets::{KeyRotation, Secret, SecretBody, SecretCollection};
pub use task_instances::{
    ClearTaskInstances, LogResponse, TaskInstance, TaskInstanceCollection, TaskInstanceReference,
    TaskInstanceReferenceCollection, TaskTry, TaskTryCollection,
};
pub use time::ApiDateTime;
pub use variables::{Variable, VariableBody, VariableCollection};
pub use xcom::{XCom, XComCollection, XComEntry};
