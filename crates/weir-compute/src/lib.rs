//! Weir's compute backends: where a try's command actually runs.
//!
//! Every backend implements one small contract, [`Backend`] (submit, wait, cancel, adopt;
//! specified in [`backend`]), so the engine treats a local process, a container and a
//! Kubernetes Job alike. Each try has a stable identity ([`weir_core::ids::TryKey`]) and
//! a folder of its own, which is what lets a restarted engine adopt running work instead
//! of starting it twice.
//!
//! Backends so far:
//! - [`ProcessBackend`] (`process`): `shell` tasks as local processes, each watched by a
//!   small [`supervisor`] process that outlives the server and records the result in
//!   the try folder ([`layout`]).
//! - [`DockerBackend`] (`docker`): `container` tasks as Docker containers, through the
//!   Docker Engine API ([`docker`]); the container is named after the try, so it is found
//!   again after a restart.
//! - [`KubernetesBackend`] (`kubernetes`): `container` tasks as Kubernetes Jobs, one per
//!   try, through the API server ([`kubernetes`]); the Job is named after the try.
//! - [`AwsBatchBackend`] (`aws-batch`): `container` tasks as AWS Batch jobs
//!   ([`aws_batch`]), watched by one batched `DescribeJobs` poller per environment; the
//!   job is named and tagged after the try, so it is found again after a restart.
//! - [`InlineBackend`] (`inline`): work the server does itself (`sql` queries, `http`
//!   requests), given as an [`InlineWork`] ([`inline`]); it dies with the server, so
//!   adoption reports it lost.

pub mod aws_batch;
pub mod backend;
pub mod container;
pub mod docker;
pub mod host;
pub mod inline;
pub mod kubernetes;
pub mod layout;
pub mod process;
pub mod sandbox;
pub mod supervisor;
pub mod try_folder;

mod capture;
mod error;

pub use aws_batch::{AwsBatchBackend, AwsBatchConfig};
pub use backend::{
    Adopted, Backend, BoxFuture, CancelHandle, EndReason, LaunchSpec, RunningTry, TryOutcome,
};
pub use container::{ContainerLaunch, HostMount, PullPolicy};
pub use docker::{DockerBackend, DockerConfig, HostCapacity};
pub use error::{ComputeError, Result};
pub use host::{HostResources, effective_platform};
pub use inline::{InlineBackend, InlineContext, InlineLog, InlineResult, InlineWork, StopSignal};
pub use kubernetes::{KubernetesBackend, KubernetesConfig};
pub use process::ProcessBackend;
pub use sandbox::Sandbox;
pub use try_folder::{MAX_XCOM_BYTES, TryFolder};
