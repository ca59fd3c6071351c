//! How a try stands, read from its Job and its pod as the API server returns them: a
//! pure function ([`observe`]), unit-tested on recorded objects (`fixtures/`).
//!
//! | what Kubernetes says | Weir's reading |
//! | --- | --- |
//! | Job condition `Failed`/`FailureTarget` with reason `DeadlineExceeded` | `TimedOut` (the code of the container, if it ended) |
//! | pod `status.reason: Evicted` | `Lost("Evicted: …")`: `evaluate_on_exit` can match `on_reason: "*Evicted*"` |
//! | container `terminated` with reason `OOMKilled` | `OutOfMemory`, its exit code |
//! | container `terminated` otherwise | `Exited` with its `exitCode` |
//! | pod `Failed` without a terminated container (`NodeLost`, `Shutdown`, …) | `Lost` with the pod's reason and message |
//! | container `waiting` with `InvalidImageName` / `ErrImageNeverPull` | `LaunchFailed` at once |
//! | container `waiting` with `ErrImagePull` / `ImagePullBackOff` / `CreateContainerConfigError` / `CreateContainerError` | pending during the grace after the pod's creation, then `LaunchFailed` with Kubernetes' message |
//! | pod not scheduled (`PodScheduled=False`, e.g. `Unschedulable`) | pending, with the scheduler's message: it waits for room |
//! | container `running` | running |
//! | no pod, Job `Complete` | `Exited` with code 0 |
//! | no pod, Job `Failed` otherwise | `Lost` (the pod and its exit code are gone) |
//! | no pod yet | pending |

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStateTerminated, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::backend::EndReason;

/// Waiting reasons that no wait will cure.
const HOPELESS: [&str; 2] = ["InvalidImageName", "ErrImageNeverPull"];
/// Waiting reasons that may pass (a registry's hiccup, a Secret arriving late), so they
/// fail the try only after a grace.
const STUCK: [&str; 4] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// Where a try stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    /// Not running yet; why, when Kubernetes says (unschedulable, pulling, …).
    Pending(Option<String>),
    /// The container runs.
    Running,
    /// It ended.
    Ended(Ended),
}

/// How a try ended, as its Job and pod say.
#[derive(Debug, Clone, PartialEq)]
pub struct Ended {
    pub reason: EndReason,
    pub exit_code: Option<i32>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The container's termination message: its XCom, when it succeeded.
    pub message: Option<String>,
}

impl Ended {
    fn without_exit(reason: EndReason) -> Self {
        Self {
            reason,
            exit_code: None,
            started_at: None,
            finished_at: None,
            message: None,
        }
    }

    fn from_terminated(reason: EndReason, t: &ContainerStateTerminated) -> Self {
        Self {
            reason,
            exit_code: Some(t.exit_code),
            started_at: t.started_at.as_ref().map(time),
            finished_at: t.finished_at.as_ref().map(time),
            message: t.message.clone().filter(|m| !m.is_empty()),
        }
    }
}

/// A Kubernetes time as chrono's.
pub fn time(t: &Time) -> DateTime<Utc> {
    let nanos = u32::try_from(t.0.subsec_nanosecond()).unwrap_or(0);
    DateTime::from_timestamp(t.0.as_second(), nanos).unwrap_or_default()
}

/// The pod the Job made last (a Job with `backoffLimit: 0` makes one, but a pod deleted
/// outside Weir may be replaced).
pub fn newest_pod(pods: &[Pod]) -> Option<&Pod> {
    pods.iter()
        .max_by_key(|p| p.metadata.creation_timestamp.as_ref().map(time))
}

/// Where the try of `job` stands, given its newest pod, at `now`; image errors that may
/// pass fail the try only `pull_grace` after the pod was created.
pub fn observe(job: &Job, pod: Option<&Pod>, now: DateTime<Utc>, pull_grace: Duration) -> Observed {
    let terminated = pod.and_then(terminated_container);
    if let Some(condition) = job_failure(job)
        && condition.0 == "DeadlineExceeded"
    {
        return Observed::Ended(match terminated {
            Some(t) => Ended::from_terminated(EndReason::TimedOut, t),
            None => Ended::without_exit(EndReason::TimedOut),
        });
    }
    let Some(pod) = pod else {
        return without_pod(job);
    };
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
    let pod_reason = status.and_then(|s| s.reason.as_deref());
    let pod_message = status.and_then(|s| s.message.as_deref()).unwrap_or("");
    if pod_reason == Some("Evicted") {
        return Observed::Ended(Ended::without_exit(EndReason::Lost(format!(
            "Evicted: {pod_message}"
        ))));
    }
    if let Some(t) = terminated {
        let reason = if t.reason.as_deref() == Some("OOMKilled") {
            EndReason::OutOfMemory
        } else {
            EndReason::Exited
        };
        return Observed::Ended(Ended::from_terminated(reason, t));
    }
    match phase {
        "Failed" => {
            let reason = pod_reason.unwrap_or("Failed");
            let end = if reason == "DeadlineExceeded" {
                EndReason::TimedOut
            } else {
                EndReason::Lost(format!("the pod failed ({reason}): {pod_message}"))
            };
            return Observed::Ended(Ended::without_exit(end));
        }
        "Succeeded" => {
            let mut ended = Ended::without_exit(EndReason::Exited);
            ended.exit_code = Some(0);
            return Observed::Ended(ended);
        }
        _ => {}
    }
    if let Some((reason, message, image)) = waiting(pod) {
        let created = pod.metadata.creation_timestamp.as_ref().map(time);
        let waited = created
            .and_then(|c| (now - c).to_std().ok())
            .unwrap_or(Duration::MAX);
        let hopeless = HOPELESS.contains(&reason);
        if hopeless || (STUCK.contains(&reason) && waited >= pull_grace) {
            let what = if reason.starts_with("CreateContainer") {
                format!("the container of image `{image}` cannot be created")
            } else {
                format!("image `{image}` cannot be pulled")
            };
            return Observed::Ended(Ended::without_exit(EndReason::LaunchFailed(format!(
                "{what} ({reason}): {message}"
            ))));
        }
        return Observed::Pending(Some(format!("{reason}: {message}")));
    }
    if running(pod) {
        return Observed::Running;
    }
    Observed::Pending(unscheduled(pod))
}

/// A Job's failure condition (reason, message), if it has one (`FailureTarget` comes
/// before `Failed` since Kubernetes 1.31).
fn job_failure(job: &Job) -> Option<(String, String)> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Failed" || c.type_ == "FailureTarget") && c.status == "True")
        .map(|c| {
            (
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        })
}

fn job_complete(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                (c.type_ == "Complete" || c.type_ == "SuccessCriteriaMet") && c.status == "True"
            })
        })
}

/// The try's standing when its pod is gone (or not made yet).
fn without_pod(job: &Job) -> Observed {
    let status = job.status.as_ref();
    let started_at = status.and_then(|s| s.start_time.as_ref()).map(time);
    if job_complete(job) {
        return Observed::Ended(Ended {
            reason: EndReason::Exited,
            exit_code: Some(0),
            started_at,
            finished_at: status.and_then(|s| s.completion_time.as_ref()).map(time),
            message: None,
        });
    }
    if let Some((reason, message)) = job_failure(job) {
        return Observed::Ended(Ended {
            started_at,
            ..Ended::without_exit(EndReason::Lost(format!(
                "the Job failed ({reason}: {message}) and its pod is gone, with its exit code"
            )))
        });
    }
    Observed::Pending(None)
}

fn terminated_container(pod: &Pod) -> Option<&ContainerStateTerminated> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find_map(|c| c.state.as_ref()?.terminated.as_ref())
}

fn running(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
        })
}

/// The first waiting container's (reason, message, image).
fn waiting(pod: &Pod) -> Option<(&str, &str, &str)> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find_map(|c| {
            let w = c.state.as_ref()?.waiting.as_ref()?;
            let reason = w.reason.as_deref()?;
            // `ContainerCreating` and `PodInitializing` are the normal way to start.
            (HOPELESS.contains(&reason) || STUCK.contains(&reason))
                .then(|| (reason, w.message.as_deref().unwrap_or(""), c.image.as_str()))
        })
}

/// The scheduler's word on a pod it has not placed.
fn unscheduled(pod: &Pod) -> Option<String> {
    let c = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")?;
    Some(format!(
        "not scheduled ({}): {}",
        c.reason.as_deref().unwrap_or("Unschedulable"),
        c.message.as_deref().unwrap_or("")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(text: &str) -> Job {
        serde_json::from_str(text).expect("a Job")
    }

    fn pod(text: &str) -> Pod {
        serde_json::from_str(text).expect("a Pod")
    }

    const RUNNING_JOB: &str = include_str!("fixtures/job_running.json");
    const GRACE: Duration = Duration::from_secs(60);

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn ended(o: Observed) -> Ended {
        match o {
            Observed::Ended(e) => e,
            other => panic!("not ended: {other:?}"),
        }
    }

    #[test]
    fn exits_and_oom_come_from_the_terminated_container() {
        let now = at("2026-12-04T12:10:00Z");
        let job = job(RUNNING_JOB);
        let ok = ended(observe(
            &job,
            Some(&pod(include_str!("fixtures/pod_succeeded.json"))),
            now,
            GRACE,
        ));
        assert_eq!(ok.reason, EndReason::Exited);
        assert_eq!(ok.exit_code, Some(0));
        assert_eq!(ok.started_at, Some(at("2026-12-04T12:00:03Z")));
        assert_eq!(ok.finished_at, Some(at("2026-12-04T12:00:09Z")));
        assert_eq!(ok.message.as_deref(), Some("{\"rows\": 42}"));

        let failed = ended(observe(
            &job,
            Some(&pod(include_str!("fixtures/pod_failed_exit3.json"))),
            now,
            GRACE,
        ));
        assert_eq!(
            (failed.reason, failed.exit_code),
            (EndReason::Exited, Some(3))
        );

        let oom = ended(observe(
            &job,
            Some(&pod(include_str!("fixtures/pod_oomkilled.json"))),
            now,
            GRACE,
        ));
        assert_eq!(
            (oom.reason, oom.exit_code),
            (EndReason::OutOfMemory, Some(137))
        );
    }

    #[test]
    fn deadline_eviction_and_lost_pods() {
        let now = at("2026-12-04T12:10:00Z");
        let deadline = job(include_str!("fixtures/job_deadline_exceeded.json"));
        let t = ended(observe(
            &deadline,
            Some(&pod(include_str!("fixtures/pod_failed_exit3.json"))),
            now,
            GRACE,
        ));
        assert_eq!((t.reason, t.exit_code), (EndReason::TimedOut, Some(3)));
        let t = ended(observe(&deadline, None, now, GRACE));
        assert_eq!((t.reason, t.exit_code), (EndReason::TimedOut, None));

        let evicted = ended(observe(
            &job(RUNNING_JOB),
            Some(&pod(include_str!("fixtures/pod_evicted.json"))),
            now,
            GRACE,
        ));
        let EndReason::Lost(why) = &evicted.reason else {
            panic!("{evicted:?}")
        };
        assert!(
            why.starts_with("Evicted: The node was low on resource: memory."),
            "{why}"
        );
        assert!(weir_core::job_def::glob_matches(
            "*Evicted*",
            &evicted.reason.to_string()
        ));

        let complete = ended(observe(
            &job(include_str!("fixtures/job_complete.json")),
            None,
            now,
            GRACE,
        ));
        assert_eq!(
            (complete.reason, complete.exit_code),
            (EndReason::Exited, Some(0))
        );
        let gone = ended(observe(
            &job(include_str!("fixtures/job_failed_backoff.json")),
            None,
            now,
            GRACE,
        ));
        assert!(
            matches!(gone.reason, EndReason::Lost(ref w) if w.contains("BackoffLimitExceeded"))
        );
    }

    #[test]
    fn image_errors_fail_after_the_grace_and_unschedulable_waits() {
        let job = job(RUNNING_JOB);
        let backoff = pod(include_str!("fixtures/pod_image_pull_backoff.json"));
        // Created at 12:00:00.
        let early = observe(&job, Some(&backoff), at("2026-12-04T12:00:30Z"), GRACE);
        assert!(
            matches!(early, Observed::Pending(Some(ref w)) if w.starts_with("ImagePullBackOff")),
            "{early:?}"
        );
        let late = ended(observe(
            &job,
            Some(&backoff),
            at("2026-12-04T12:01:00Z"),
            GRACE,
        ));
        let EndReason::LaunchFailed(why) = &late.reason else {
            panic!("{late:?}")
        };
        assert!(
            why.contains("image `registry.example.com/nope:1` cannot be pulled (ImagePullBackOff)"),
            "{why}"
        );

        let invalid = ended(observe(
            &job,
            Some(&pod(include_str!("fixtures/pod_invalid_image.json"))),
            at("2026-12-04T12:00:01Z"),
            GRACE,
        ));
        assert!(
            matches!(invalid.reason, EndReason::LaunchFailed(ref w) if w.contains("InvalidImageName"))
        );

        let unschedulable = observe(
            &job,
            Some(&pod(include_str!("fixtures/pod_unschedulable.json"))),
            at("2026-12-04T13:00:00Z"),
            GRACE,
        );
        assert!(
            matches!(unschedulable, Observed::Pending(Some(ref w)) if w.contains("Insufficient cpu")),
            "{unschedulable:?}"
        );

        let running = observe(
            &job,
            Some(&pod(include_str!("fixtures/pod_running.json"))),
            at("2026-12-04T12:00:05Z"),
            GRACE,
        );
        assert_eq!(running, Observed::Running);
        assert_eq!(
            observe(&job, None, at("2026-12-04T12:00:05Z"), GRACE),
            Observed::Pending(None)
        );
    }
}
