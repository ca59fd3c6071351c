//! What a task asks of compute: nothing (noop), a local process, a container (from a
//! `container` task or a team's job definition), or work the server does itself (`sql`,
//! `http`), with its queue and resource request. (A `sensor` needs none of these: the
//! dispatcher hands it to `crate::sensors`.)
//! Decided before rendering, so the dispatcher can place it; rendered at launch.

use std::time::Duration;

use indexmap::IndexMap;
use weir_core::job_def::{JobCatalog, RetryStrategy, TaskOverrides, resolve};
use weir_core::platform::{DEFAULT_MEMORY_BYTES, DEFAULT_VCPU, Request, Workload};
use weir_core::spec::DagSpec;
use weir_core::spec::model::{PullPolicy, TaskKind, TaskSpec};

/// A container to run, before its templates are rendered.
#[derive(Debug, Clone)]
pub struct ContainerPlan {
    pub image: String,
    /// Replaces the image's entrypoint (Kubernetes' `command`).
    pub command: Option<Vec<String>>,
    /// Arguments to the entrypoint (Kubernetes' `args`).
    pub args: Option<Vec<String>>,
    pub env: IndexMap<String, String>,
    pub secrets: IndexMap<String, String>,
    pub workdir: Option<String>,
    pub pull: PullPolicy,
    pub timeout: Option<Duration>,
    /// A job definition's retry strategy (`evaluate_on_exit`); None: the task's retries.
    pub retry: Option<RetryStrategy>,
    /// The job definition and revision the try uses, recorded with its usage.
    pub job_revision: Option<String>,
    /// Privileges the task asks for (allowed per team by the platform config).
    pub privileged: bool,
    pub host_network: bool,
    pub mounts: Vec<weir_core::spec::model::HostMountSpec>,
}

/// What a task needs.
#[derive(Debug, Clone)]
pub enum TaskWork {
    Noop,
    Process,
    Container(Box<ContainerPlan>),
    /// Work the server does itself (`sql`, `http`) on the inline backend: no compute
    /// environment, no capacity reserved (parallelism, `max_active_tasks` and pools
    /// still bound it).
    Inline,
    /// A kind this server cannot run (yet): the reason, and whether retrying can help.
    Refused(String, bool),
}

/// A task's work, queue and request.
#[derive(Debug, Clone)]
pub struct Need {
    pub work: TaskWork,
    pub queue: String,
    pub request: Request,
}

impl Need {
    pub fn workload(&self) -> Option<Workload> {
        match self.work {
            TaskWork::Process => Some(Workload::Process),
            TaskWork::Container(_) => Some(Workload::Container),
            TaskWork::Noop | TaskWork::Inline | TaskWork::Refused(..) => None,
        }
    }
}

/// Local processes do not reserve capacity (the engine's parallelism and pools bound
/// them); containers reserve what they ask, or Weir's defaults.
const PROCESS_REQUEST: Request = Request {
    vcpus: 0.0,
    memory_bytes: 0,
};

pub fn need(spec: &DagSpec, task: &TaskSpec, jobs: &JobCatalog) -> Need {
    let eff = spec.effective(task);
    let refuse = |why: String, retry: bool| Need {
        work: TaskWork::Refused(why, retry),
        queue: eff.queue.clone(),
        request: PROCESS_REQUEST,
    };
    match &task.kind {
        TaskKind::Noop(_) => Need {
            work: TaskWork::Noop,
            queue: eff.queue.clone(),
            request: PROCESS_REQUEST,
        },
        TaskKind::Shell(_) => Need {
            work: TaskWork::Process,
            queue: eff.queue.clone(),
            request: PROCESS_REQUEST,
        },
        TaskKind::Sql(_) | TaskKind::Http(_) => Need {
            work: TaskWork::Inline,
            queue: eff.queue.clone(),
            request: PROCESS_REQUEST,
        },
        TaskKind::Container(c) => {
            let request = Request::new(
                c.resources
                    .as_ref()
                    .and_then(|r| r.vcpu)
                    .unwrap_or(DEFAULT_VCPU),
                c.resources
                    .as_ref()
                    .and_then(|r| r.memory)
                    .map_or(DEFAULT_MEMORY_BYTES, |m| m.0),
            );
            let mut env = c.env.clone();
            env.extend(eff.env.iter().map(|(k, v)| (k.clone(), v.clone())));
            let plan = ContainerPlan {
                image: c.image.clone(),
                command: c.command.clone(),
                args: c.args.clone(),
                env,
                secrets: c.secrets.clone(),
                workdir: c.workdir.clone(),
                pull: c.pull,
                timeout: eff.timeout,
                retry: None,
                job_revision: None,
                privileged: c.privileged,
                host_network: c.host_network,
                mounts: c.mounts.clone(),
            };
            Need {
                work: TaskWork::Container(Box::new(plan)),
                queue: eff.queue.clone(),
                request,
            }
        }
        TaskKind::Job(name) => match jobs.get(&spec.team, name) {
            Err(e) => refuse(e.to_string(), true),
            Ok(job) => {
                let resolved = resolve(
                    job,
                    &TaskOverrides {
                        command: task.command.as_deref(),
                        env: Some(&eff.env),
                        resources: task.resources.as_ref(),
                    },
                );
                let plan = ContainerPlan {
                    image: resolved.image,
                    command: resolved.command,
                    args: None,
                    env: resolved.env,
                    secrets: resolved.secrets,
                    workdir: resolved.workdir,
                    pull: resolved.pull,
                    timeout: resolved.timeout.or(eff.timeout),
                    retry: Some(resolved.retry),
                    job_revision: Some(format!("{}@{}", resolved.job, resolved.revision)),
                    privileged: false,
                    host_network: false,
                    mounts: Vec::new(),
                };
                Need {
                    work: TaskWork::Container(Box::new(plan)),
                    queue: resolved.queue,
                    request: resolved.request,
                }
            }
        },
        other => refuse(
            format!("task kind `{}` is not enabled on this server", other.name()),
            false,
        ),
    }
}
