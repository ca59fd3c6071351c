//! Weir's pure domain: everything that can be decided without touching the world.
//!
//! This crate does no IO, starts no runtime and reads no clock: callers pass in the
//! source text, the time and the state, and get back values and diagnostics.

pub mod access;
pub mod cost;
pub mod dataset;
pub mod duration;
pub mod fair_share;
pub mod governance;
pub mod ids;
pub mod job_def;
pub mod lifecycle;
pub mod mask;
pub mod notify;
pub mod plan;
pub mod platform;
pub mod retry;
pub mod schedule;
pub mod secrets;
pub mod sensor;
pub mod spec;
pub mod state;
pub mod template;
pub mod trace_context;
pub mod trigger_rule;
