//! The work of `sql` and `http` tasks, done by the server itself on the inline backend
//! (`weir_compute::InlineBackend`): each is a `weir_compute::InlineWork` built by
//! `prepare` from the rendered task and its connection (resolved with
//! `crate::connections::resolve`, so a task only ever uses its team's or a
//! platform-wide connection).
//!
//! A connection's password reaches the work in memory only; `prepare` also lists it
//! among the launch spec's secrets ([`PASSWORD_ENV`]), so the backend masks it in the
//! try's log, its reason and its XCom.

pub mod http;
pub mod sql;

/// The launch-spec entry holding a connection's password, listed in `secret_env` so the
/// backend masks the value wherever the try's output is recorded.
pub const PASSWORD_ENV: &str = "WEIR_CONN_PASSWORD";

/// A failure of an inline work: why, and whether a retry can help.
pub(crate) fn failed(why: impl Into<String>, retryable: bool) -> weir_compute::InlineResult {
    weir_compute::InlineResult::failed(why, retryable)
}
