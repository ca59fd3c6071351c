//! Pools (`/pools`) and how many of their slots are taken.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A pool and how many of its slots are taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Pool {
    pub name: String,
    /// `-1` for unlimited.
    pub slots: i64,
    pub occupied_slots: i64,
    pub running_slots: i64,
    pub queued_slots: i64,
    /// `-1` for an unlimited pool.
    pub open_slots: i64,
    pub scheduled_slots: i64,
    pub deferred_slots: i64,
    pub description: Option<String>,
    pub include_deferred: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PoolCollection {
    pub pools: Vec<Pool>,
    pub total_entries: i64,
}
