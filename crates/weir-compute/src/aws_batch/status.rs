//! What AWS Batch says about a job, reduced to what Weir needs ([`JobView`]), and the one
//! pure function that turns a finished job into Weir's [`EndReason`] and exit code
//! ([`end_of`]).
//!
//! A [`JobView`] deserializes straight from a `DescribeJobs` entry (the recorded JSON of
//! the unit tests) and converts from the SDK's `JobDetail`, so the mapping is tested on
//! what AWS actually answers. It never holds the job's environment (secret values).
//!
//! | Batch says | Weir's reason | exit code |
//! | --- | --- | --- |
//! | Weir asked for the stop (cancel, timeout), whatever Batch says | `Cancelled` / `TimedOut` | as reported |
//! | `SUCCEEDED` | `Exited` | the container's, else 0 |
//! | `FAILED`, container reason `OutOfMemoryError…` | `OutOfMemory` | as reported |
//! | `FAILED`, status reason `Job attempt duration exceeded timeout` | `TimedOut` | as reported |
//! | `FAILED`, status reason `Host EC2 … terminated` (Spot reclaim, host gone) | `Lost(status reason)` | none |
//! | `FAILED` with an exit code | `Exited` | the code |
//! | `FAILED`, container reason `CannotPullContainerError…`, `CannotStartContainerError…`, `CannotCreateContainerError…`, `ResourceInitializationError…`, `CannotInspectContainerError…` | `LaunchFailed(reason)` | none |
//! | `FAILED`, anything else without an exit code (cancelled or terminated outside Weir, a dependency failed) | `Lost(reason)` | none |
//!
//! `Lost` carries Batch's own words, which is what `evaluate_on_exit`'s `on_reason`
//! matches (`on_reason: "Host EC2*"` behaves as `onStatusReason` does on AWS).

use serde::Deserialize;

use crate::backend::EndReason;

/// Batch's status reason when a job ran past its `attemptDurationSeconds`.
pub const TIMEOUT_REASON: &str = "Job attempt duration exceeded timeout";

/// The container reasons that mean the container never ran.
const LAUNCH_FAILURES: [&str; 5] = [
    "CannotPullContainerError",
    "CannotStartContainerError",
    "CannotCreateContainerError",
    "CannotInspectContainerError",
    "ResourceInitializationError",
];

/// A job's lifecycle status, as Batch names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Submitted,
    Pending,
    Runnable,
    Starting,
    Running,
    Succeeded,
    Failed,
}

impl Status {
    /// The status named `name` (`RUNNABLE`, …).
    pub fn parse(name: &str) -> Option<Status> {
        Some(match name {
            "SUBMITTED" => Status::Submitted,
            "PENDING" => Status::Pending,
            "RUNNABLE" => Status::Runnable,
            "STARTING" => Status::Starting,
            "RUNNING" => Status::Running,
            "SUCCEEDED" => Status::Succeeded,
            "FAILED" => Status::Failed,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Submitted => "SUBMITTED",
            Status::Pending => "PENDING",
            Status::Runnable => "RUNNABLE",
            Status::Starting => "STARTING",
            Status::Running => "RUNNING",
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
        }
    }

    /// Whether the job ended.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed)
    }

    /// Whether the job has not been placed yet: `CancelJob` stops it; later states need
    /// `TerminateJob`.
    pub fn is_before_start(self) -> bool {
        matches!(self, Status::Submitted | Status::Pending | Status::Runnable)
    }
}

/// The container part of a job, as far as Weir reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerView {
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub log_stream_name: Option<String>,
}

/// One `DescribeJobs` entry, as far as Weir reads it (never its environment).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    pub job_id: String,
    #[serde(default)]
    pub job_name: String,
    pub status: Status,
    #[serde(default)]
    pub status_reason: Option<String>,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub started_at: Option<i64>,
    #[serde(default)]
    pub stopped_at: Option<i64>,
    #[serde(default)]
    pub container: Option<ContainerView>,
}

impl JobView {
    /// The SDK's view of a job, reduced; None when Batch left out its id or status.
    pub fn from_sdk(job: &aws_sdk_batch::types::JobDetail) -> Option<JobView> {
        let status = Status::parse(job.status()?.as_str())?;
        // The last attempt knows the container's end when the job-level fields lag.
        let attempt = job.attempts().last().and_then(|a| a.container());
        let container = job.container().map(|c| ContainerView {
            exit_code: c.exit_code().or(attempt.and_then(|a| a.exit_code())),
            reason: c
                .reason()
                .or(attempt.and_then(|a| a.reason()))
                .map(str::to_owned),
            log_stream_name: c
                .log_stream_name()
                .or(attempt.and_then(|a| a.log_stream_name()))
                .map(str::to_owned),
        });
        Some(JobView {
            job_id: job.job_id()?.to_owned(),
            job_name: job.job_name().unwrap_or_default().to_owned(),
            status,
            status_reason: job.status_reason().map(str::to_owned),
            // The SDK fills a required time Batch left out with 0: not a time.
            started_at: job.started_at().filter(|t| *t > 0),
            stopped_at: job.stopped_at().filter(|t| *t > 0),
            container,
        })
    }

    pub fn exit_code(&self) -> Option<i32> {
        self.container.as_ref().and_then(|c| c.exit_code)
    }

    pub fn container_reason(&self) -> Option<&str> {
        self.container.as_ref().and_then(|c| c.reason.as_deref())
    }

    pub fn log_stream(&self) -> Option<&str> {
        self.container
            .as_ref()
            .and_then(|c| c.log_stream_name.as_deref())
    }

    /// A one-line description for the try's log (status and reasons, no values).
    pub fn describe(&self) -> String {
        let mut out = format!("AWS Batch job {} is {}", self.job_id, self.status.as_str());
        if let Some(reason) = &self.status_reason {
            out.push_str(&format!(" ({reason})"));
        }
        if let Some(reason) = self.container_reason() {
            out.push_str(&format!("; container: {reason}"));
        }
        if let Some(code) = self.exit_code() {
            out.push_str(&format!("; exit code {code}"));
        }
        out
    }
}

/// Why Weir itself stopped a job, as recorded in the try folder before the stop was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Cancelled,
    TimedOut,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Cancelled => "cancelled",
            StopReason::TimedOut => "timed_out",
        }
    }

    pub fn parse(text: &str) -> Option<StopReason> {
        match text.trim() {
            "cancelled" => Some(StopReason::Cancelled),
            "timed_out" => Some(StopReason::TimedOut),
            _ => None,
        }
    }

    pub fn reason(self) -> EndReason {
        match self {
            StopReason::Cancelled => EndReason::Cancelled,
            StopReason::TimedOut => EndReason::TimedOut,
        }
    }
}

/// How a finished job ended, in Weir's words: the reason and the exit code. None while
/// the job has not ended.
pub fn end_of(job: &JobView, stop: Option<StopReason>) -> Option<(EndReason, Option<i32>)> {
    if !job.status.is_final() {
        return None;
    }
    let code = job.exit_code();
    if let Some(stop) = stop {
        return Some((stop.reason(), code));
    }
    let status_reason = job.status_reason.as_deref().unwrap_or("");
    let container_reason = job.container_reason().unwrap_or("");
    Some(match job.status {
        Status::Succeeded => (EndReason::Exited, Some(code.unwrap_or(0))),
        _ if container_reason.starts_with("OutOfMemoryError") => (EndReason::OutOfMemory, code),
        _ if status_reason.starts_with(TIMEOUT_REASON) => (EndReason::TimedOut, code),
        _ if status_reason.starts_with("Host EC2") => {
            (EndReason::Lost(status_reason.to_owned()), None)
        }
        _ if code.is_some() => (EndReason::Exited, code),
        _ if LAUNCH_FAILURES
            .iter()
            .any(|p| container_reason.starts_with(p)) =>
        {
            (EndReason::LaunchFailed(container_reason.to_owned()), None)
        }
        _ => {
            let why = match (status_reason, container_reason) {
                ("", "") => "AWS Batch reports the job FAILED without a reason".to_owned(),
                (s, "") => s.to_owned(),
                ("", c) => c.to_owned(),
                (s, c) => format!("{s} ({c})"),
            };
            (EndReason::Lost(why), None)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries of `DescribeJobs` answers, recorded from AWS Batch (ids shortened).
    const SUCCEEDED: &str = r#"{"jobArn":"arn:aws:batch:eu-west-1:123456789012:job/5a0b","jobName":"weir-etl_load_-1_1","jobId":"5a0b","jobQueue":"arn:aws:batch:eu-west-1:123456789012:job-queue/weir","status":"SUCCEEDED","attempts":[{"container":{"containerInstanceArn":"arn:aws:ecs:eu-west-1:123456789012:container-instance/x","taskArn":"arn:aws:ecs:eu-west-1:123456789012:task/y","exitCode":0,"logStreamName":"weir-3f2a/default/y","networkInterfaces":[]},"startedAt":1764849600123,"stoppedAt":1764849660456,"statusReason":"Essential container in task exited"}],"statusReason":"Essential container in task exited","createdAt":1764849590000,"startedAt":1764849600123,"stoppedAt":1764849660456,"dependsOn":[],"jobDefinition":"arn:aws:batch:eu-west-1:123456789012:job-definition/weir-3f2a:1","parameters":{},"container":{"image":"busybox","vcpus":1,"memory":2048,"command":["sh","-c","echo hi"],"environment":[{"name":"WEIR_DAG_ID","value":"etl"}],"exitCode":0,"logStreamName":"weir-3f2a/default/y"},"tags":{"weir:dag":"etl"}}"#;
    const EXIT_3: &str = r#"{"jobId":"6c1d","jobName":"j","status":"FAILED","statusReason":"Essential container in task exited","startedAt":1764849600123,"stoppedAt":1764849610000,"container":{"exitCode":3,"logStreamName":"weir-3f2a/default/z"}}"#;
    const OOM: &str = r#"{"jobId":"7e2f","jobName":"j","status":"FAILED","statusReason":"Essential container in task exited","container":{"exitCode":137,"reason":"OutOfMemoryError: Container killed due to memory usage","logStreamName":"s"}}"#;
    const SPOT: &str = r#"{"jobId":"8f30","jobName":"j","status":"FAILED","statusReason":"Host EC2 (instance i-0a1b2c3d4e5f60718) terminated.","container":{"logStreamName":"s"}}"#;
    const TIMEOUT: &str = r#"{"jobId":"9a41","jobName":"j","status":"FAILED","statusReason":"Job attempt duration exceeded timeout","container":{"exitCode":137}}"#;
    const PULL: &str = r#"{"jobId":"ab52","jobName":"j","status":"FAILED","statusReason":"Task failed to start","container":{"reason":"CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref docker.io/library/nope:latest: not found"}}"#;
    const CANCELLED_ELSEWHERE: &str = r#"{"jobId":"bc63","jobName":"j","status":"FAILED","statusReason":"cancelled in the console"}"#;
    const RUNNING: &str = r#"{"jobId":"cd74","jobName":"j","status":"RUNNING","startedAt":1764849600123,"container":{"logStreamName":"weir-3f2a/default/w"}}"#;
    const RUNNABLE: &str = r#"{"jobId":"de85","jobName":"j","status":"RUNNABLE"}"#;

    fn view(json: &str) -> JobView {
        serde_json::from_str(json).expect("a DescribeJobs entry")
    }

    #[test]
    fn batch_endings_map_onto_weir_reasons() {
        assert_eq!(
            end_of(&view(SUCCEEDED), None),
            Some((EndReason::Exited, Some(0)))
        );
        assert_eq!(
            end_of(&view(EXIT_3), None),
            Some((EndReason::Exited, Some(3)))
        );
        assert_eq!(
            end_of(&view(OOM), None),
            Some((EndReason::OutOfMemory, Some(137)))
        );
        assert_eq!(
            end_of(&view(SPOT), None),
            Some((
                EndReason::Lost("Host EC2 (instance i-0a1b2c3d4e5f60718) terminated.".into()),
                None
            ))
        );
        assert_eq!(
            end_of(&view(TIMEOUT), None),
            Some((EndReason::TimedOut, Some(137)))
        );
        match end_of(&view(PULL), None) {
            Some((EndReason::LaunchFailed(why), None)) => {
                assert!(why.starts_with("CannotPullContainerError"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            end_of(&view(CANCELLED_ELSEWHERE), None),
            Some((EndReason::Lost("cancelled in the console".into()), None))
        );
        // moto (no Docker) reports success without an exit code.
        let bare = r#"{"jobId":"x","status":"SUCCEEDED"}"#;
        assert_eq!(
            end_of(&view(bare), None),
            Some((EndReason::Exited, Some(0)))
        );
        let failed_bare = r#"{"jobId":"x","status":"FAILED"}"#;
        assert!(matches!(
            end_of(&view(failed_bare), None),
            Some((EndReason::Lost(why), None)) if why.contains("without a reason")
        ));
    }

    #[test]
    fn a_stop_weir_asked_for_wins_over_what_batch_says() {
        // Terminated by Weir: Batch says FAILED with its own reason; even an exit 0
        // during the grace is not trusted.
        let mut terminated = view(EXIT_3);
        terminated.status_reason = Some("weir: cancelled".into());
        assert_eq!(
            end_of(&terminated, Some(StopReason::Cancelled)),
            Some((EndReason::Cancelled, Some(3)))
        );
        assert_eq!(
            end_of(&view(SUCCEEDED), Some(StopReason::TimedOut)),
            Some((EndReason::TimedOut, Some(0)))
        );
        assert_eq!(StopReason::parse("timed_out\n"), Some(StopReason::TimedOut));
    }

    #[test]
    fn running_jobs_have_no_end_yet() {
        let running = view(RUNNING);
        assert_eq!(end_of(&running, None), None);
        assert_eq!(end_of(&running, Some(StopReason::Cancelled)), None);
        assert_eq!(running.log_stream(), Some("weir-3f2a/default/w"));
        assert!(!running.status.is_before_start());
        let runnable = view(RUNNABLE);
        assert!(runnable.status.is_before_start());
        assert_eq!(runnable.log_stream(), None);
        let full = view(SUCCEEDED);
        assert_eq!(full.started_at, Some(1_764_849_600_123));
        assert_eq!(
            full.describe(),
            "AWS Batch job 5a0b is SUCCEEDED (Essential container in task exited); exit code 0"
        );
    }

    #[test]
    fn the_sdk_view_matches_the_json_view() {
        use aws_sdk_batch::types::{ContainerDetail, JobDetail, JobStatus};
        let sdk = JobDetail::builder()
            .job_id("6c1d")
            .job_name("j")
            .status(JobStatus::Failed)
            .status_reason("Essential container in task exited")
            .started_at(1_764_849_600_123)
            .stopped_at(1_764_849_610_000)
            .container(
                ContainerDetail::builder()
                    .exit_code(3)
                    .log_stream_name("weir-3f2a/default/z")
                    .build(),
            )
            .build();
        assert_eq!(JobView::from_sdk(&sdk), Some(view(EXIT_3)));
    }
}
