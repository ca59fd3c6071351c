//! Datasets, decided as values: what a dataset URI may look like, which URIs a
//! consumer's pattern names, when a consumer's condition is met by the events that
//! arrived since its last dataset-triggered run, and which team owns a URI prefix.
//!
//! The contract the engine and the API rely on:
//!
//! - A dataset is named by a URI with a scheme (`s3://lake/marketing/revenue/2026-01-01`,
//!   `postgres://warehouse/marketing.revenue`). [`check_uri`] refuses what cannot be one
//!   (no scheme, whitespace, control characters, longer than [`MAX_URI_LENGTH`]).
//! - A consumer names datasets by [`UriPattern`]: an exact URI, or one with `*` (any
//!   characters within one `/`-separated segment) and `**` (any characters, across
//!   segments). Nothing else is special, so `?`, `[` and `{` in a URI are literal.
//! - A consumer's [`DatasetCondition`] (`all` of its patterns, or `any`) is evaluated over
//!   the URIs of the events it has not consumed yet ([`DatasetCondition::is_met`]); when
//!   it is met the engine creates one run with every one of those events and moves the
//!   consumer's cursor past them ([`trigger`]). A paused consumer is not evaluated, so
//!   the events that arrive meanwhile make one run when it is unpaused.
//! - A URI under a prefix a team declares (`[[teams]] datasets = ["s3://lake/marketing/"]`)
//!   is that team's to produce ([`owner`], longest prefix wins); outlets into another
//!   team's prefix are refused when the DAG is validated, and events posted through the
//!   API are authorized the same way.

mod condition;
pub mod lineage;
mod ownership;
mod uri;

#[cfg(test)]
mod tests;

pub use condition::{DatasetCondition, PendingEvent, Trigger, trigger};
pub use ownership::{outlet_problem, owner, static_prefix};
pub use uri::{MAX_URI_LENGTH, UriPattern, check_uri};
