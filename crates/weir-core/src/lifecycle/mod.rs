//! The life of a task instance, decided without touching the world: how a try starts
//! ([`try_start`]), how it ends ([`try_end`]: success, retry or failure, the XCom, the
//! usage record), what the engine settles without a try ([`run`]), and the changes all
//! of these write, one named case each ([`TaskInstanceUpdate`]). The engine gathers the
//! inputs, asks, and writes the answer.

pub mod outcome;
pub mod run;
pub mod try_end;
pub mod try_start;
mod update;

#[cfg(test)]
mod try_end_tests;

pub use outcome::{EndReason, TryOutcome, XComRead};
pub use update::{TaskInstanceUpdate, fresh_max_tries};
