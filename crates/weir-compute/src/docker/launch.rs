//! Starting a try's container: the image (pull policy), the create, Weir's `/weir`
//! folder, the start. Each step sorts the daemon's answers into "the task cannot run"
//! ([`Refused`], which becomes a `LaunchFailed` outcome), "the daemon is away"
//! (`BackendUnavailable`) and "it was launched before" (`AlreadyLaunched`).

use std::path::Path;

use bollard::Docker;
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, InspectContainerOptions,
};
use futures_util::StreamExt;

use super::DockerBackend;
use super::client::{is_not_found, is_unreachable, message, status};
use super::create::{self, LABEL_TRY};
use super::watch;
use super::xcom;
use crate::backend::LaunchSpec;
use crate::container::{ContainerLaunch, PullPolicy};
use crate::error::ComputeError;

/// How a launch ended without a running container.
pub(crate) enum NotStarted {
    /// The task cannot run as specified; the reason goes into a `LaunchFailed` outcome.
    Refused(String),
    /// Nothing ran; the caller gets this error (and may submit again).
    Error(ComputeError),
}

impl From<ComputeError> for NotStarted {
    fn from(e: ComputeError) -> Self {
        Self::Error(e)
    }
}

impl DockerBackend {
    /// Creates, prepares and starts the container `name`; `io_dir` is the folder to mount
    /// at `/weir` (bind-mount XCom transfer) or `None` (archive transfer).
    pub(crate) async fn start(
        &self,
        docker: &Docker,
        spec: &LaunchSpec,
        launch: &ContainerLaunch,
        name: &str,
        io_dir: Option<&Path>,
    ) -> Result<(), NotStarted> {
        if launch.is_privileged() && !self.config.allow_privileged {
            return Err(NotStarted::Refused(format!(
                "the container asks for {}, which this docker compute environment does not \
                 allow (it runs tries unprivileged and isolated)",
                launch.privileges().join(", ")
            )));
        }
        if launch.pull == PullPolicy::Always {
            self.pull(docker, &launch.image).await?;
        }
        self.create(docker, spec, launch, name, io_dir).await?;
        let prepared = match io_dir {
            Some(_) => Ok(()),
            None => xcom::prepare(docker, name).await,
        };
        let started = match prepared {
            Ok(()) => docker.start_container(name, None).await,
            Err(e) => Err(e),
        };
        match started {
            Ok(()) => Ok(()),
            Err(e) => {
                // Never started, so removing it cannot lose work. (If the daemon went away
                // mid-start, a later submit finds the container and reports it launched.)
                if is_unreachable(&e) {
                    return Err(self.conn.unavailable(&e).into());
                }
                watch::remove(docker, name).await;
                Err(NotStarted::Refused(format!(
                    "the container of image `{}` did not start: {}",
                    launch.image,
                    message(&e)
                )))
            }
        }
    }

    async fn create(
        &self,
        docker: &Docker,
        spec: &LaunchSpec,
        launch: &ContainerLaunch,
        name: &str,
        io_dir: Option<&Path>,
    ) -> Result<(), NotStarted> {
        let body = create::body(spec, launch, &self.config, io_dir);
        let options = || CreateContainerOptions {
            name: Some(name.to_owned()),
            ..Default::default()
        };
        let mut pulled = launch.pull == PullPolicy::Always;
        let mut replaced = false;
        loop {
            let Err(e) = docker.create_container(Some(options()), body.clone()).await else {
                return Ok(());
            };
            match status(&e) {
                Some(404) if launch.pull == PullPolicy::Never => {
                    return Err(NotStarted::Refused(format!(
                        "image `{}` is not present on this machine and `pull: never` forbids \
                         pulling it",
                        launch.image
                    )));
                }
                Some(404) if !pulled => {
                    self.pull(docker, &launch.image).await?;
                    pulled = true;
                }
                Some(409) if !replaced => {
                    self.replace_unstarted(docker, spec, name).await?;
                    replaced = true;
                }
                Some(409) => return Err(already_launched(spec).into()),
                Some(code) if (400..500).contains(&code) => {
                    let mut why = format!(
                        "the daemon refused the container of image `{}`: {}",
                        launch.image,
                        message(&e)
                    );
                    if io_dir.is_some() && why.contains("bind source path does not exist") {
                        why.push_str(
                            " (the daemon cannot see Weir's try folders: is it on another \
                             machine, or Weir in a container? use the archive XCom transfer)",
                        );
                    }
                    return Err(NotStarted::Refused(why));
                }
                _ => return Err(self.conn.error("create the container", e).into()),
            }
        }
    }

    /// A container of that name exists. If it is this try's and never started (Weir
    /// stopped between create and start), it is removed so the try can start; otherwise
    /// the try was launched before.
    async fn replace_unstarted(
        &self,
        docker: &Docker,
        spec: &LaunchSpec,
        name: &str,
    ) -> Result<(), NotStarted> {
        let inspected = match docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
        {
            Ok(inspected) => inspected,
            Err(e) if is_not_found(&e) => return Ok(()), // removed meanwhile
            Err(e) => return Err(self.conn.error("inspect the existing container", e).into()),
        };
        let ours = inspected
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .and_then(|l| l.get(LABEL_TRY))
            .is_some_and(|slug| *slug == spec.key.slug());
        let state = inspected.state.unwrap_or_default();
        let never_started =
            watch::parse_time(state.started_at.as_deref()).is_none() && state.running != Some(true);
        if ours && never_started {
            watch::remove(docker, name).await;
            Ok(())
        } else {
            Err(already_launched(spec).into())
        }
    }

    /// Pulls `image`; a registry's refusal is the task's problem (a bad image name, no
    /// access), so it becomes a refusal naming the registry's words.
    async fn pull(&self, docker: &Docker, image: &str) -> Result<(), NotStarted> {
        let options = CreateImageOptions {
            from_image: Some(with_default_tag(image)),
            ..Default::default()
        };
        let mut progress = docker.create_image(Some(options), None, None);
        while let Some(step) = progress.next().await {
            let failure = match step {
                Ok(info) => match info.error_detail.and_then(|d| d.message) {
                    Some(why) => why,
                    None => continue,
                },
                Err(e) if is_unreachable(&e) => return Err(self.conn.unavailable(&e).into()),
                Err(e) => message(&e),
            };
            return Err(NotStarted::Refused(format!(
                "cannot pull image `{image}`: {failure}"
            )));
        }
        Ok(())
    }
}

/// The image reference with `:latest` when it names no tag or digest: without one the
/// pull API would fetch *every* tag of the repository.
fn with_default_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last.contains(':') {
        image.to_owned()
    } else {
        format!("{image}:latest")
    }
}

pub(crate) fn already_launched(spec: &LaunchSpec) -> ComputeError {
    ComputeError::AlreadyLaunched {
        key: spec.key.to_string(),
        try_dir: spec.try_dir.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulls_name_a_tag() {
        assert_eq!(with_default_tag("busybox"), "busybox:latest");
        assert_eq!(with_default_tag("busybox:1.36"), "busybox:1.36");
        assert_eq!(
            with_default_tag("localhost:5000/etl"),
            "localhost:5000/etl:latest"
        );
        assert_eq!(
            with_default_tag("localhost:5000/etl:2"),
            "localhost:5000/etl:2"
        );
        assert_eq!(with_default_tag("etl@sha256:abc"), "etl@sha256:abc");
    }
}
