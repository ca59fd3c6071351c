//! Notifications, decided as values: what a DAG asks to hear about (`notify:`,
//! `deadline:`), which events a try's or a run's end raises, the message each event
//! becomes, and the arithmetic of delivering it (backoff, a channel's rate limit).
//!
//! The engine records each message in the store and a delivery loop sends it; nothing
//! here sends anything or reads a clock.
//!
//! The rules, as a DAG author sees them:
//! - `notify:` at the top of a DAG is about its runs: `on_failure`, `on_success`,
//!   `on_recovery` (a run that succeeds after the DAG's previous run failed) and
//!   `on_deadline_miss` (`deadline: {run_within: 2h}`, counted from the run's data
//!   interval end). A run has no retries, so `on_retry` is refused there.
//! - `notify:` in `defaults` and in a task is about task instances: `on_failure` (no
//!   retries left), `on_retry`, `on_success`, `on_recovery` (a success after the
//!   instance's previous try, or the task in the previous run, failed) and
//!   `on_deadline_miss` (the task's `deadline: {task_within: 30m}`). A task's list for
//!   an event replaces the default's list for that event.
//! - A deadline is missed once: one message, even while the run is still going.

mod delivery;
mod event;
mod message;
mod spec;

pub use delivery::{HttpVerdict, RateWindow, next_attempt_delay, webhook_verdict};
pub use event::{NotifyEvent, run_deadline, run_events, task_deadline, task_events};
pub use message::{LOG_TAIL_LINES, Message, Subject, dedup_key, tail_lines};
pub use spec::{
    NotifySpec, RunDeadline, TaskDeadline, read_notify, read_run_deadline, read_task_deadline,
};
