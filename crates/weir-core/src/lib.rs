//! Weir's pure domain: everything that can be decided without touching the world.
//!
//! This crate does no IO, starts no runtime and reads no clock: callers pass in the
//! source text, the time and the state, and get back values and diagnostics.

pub mod ids;
pub mod state;
