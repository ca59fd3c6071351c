//! Four-eyes approval of production DAG versions.
//!
//! A DAG marked `production: true` does not run a new version because someone pushed it:
//! the version waits ([`VersionStatus::PendingApproval`]) until a second person approves
//! it, under the owning team's [`ApprovalPolicy`] (`approval` on its `[[teams]]` entry in
//! `weir.toml`). What a reviewer is shown is computed here too: a semantic
//! [`ChangeSummary`] of the two versions ([`summarize`]) and a unified diff of their
//! files ([`unified_diff`]).
//!
//! Everything here is a pure decision or a pure computation: the server records the
//! versions, the approval requests and who asked, and asks [`may_approve`] whether a
//! reviewer may approve; it never decides that itself.

mod approve;
mod diff;
mod policy;
mod status;
mod summary;

pub use approve::{ApprovalRefusal, VersionAuthor, may_approve};
pub use diff::unified_diff;
pub use policy::{ApprovalPolicy, BadApprovalPolicy};
pub use status::{ApprovalState, UnknownApprovalState, UnknownVersionStatus, VersionStatus};
pub use summary::{ChangeSummary, FieldChange, TaskChange, summarize};
