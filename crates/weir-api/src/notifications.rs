//! Notifications (`GET /notifications`, `GET /notifications/channels`): the messages
//! Weir recorded for DAGs' `notify:` and how their delivery went, and each channel's
//! health.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::time;

/// One message: one event for one channel, by one medium.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Notification {
    pub id: i64,
    pub channel: String,
    /// `webhook` or `email`.
    pub medium: String,
    pub team: String,
    pub dag_id: String,
    pub dag_run_id: String,
    pub task_id: Option<String>,
    /// `failure`, `retry`, `success`, `recovery` or `deadline_miss`.
    pub event: String,
    /// `pending` (not sent yet, or to be tried again), `sent` or `failed` (given up).
    pub state: String,
    pub attempts: i64,
    #[serde(with = "time")]
    #[schema(value_type = String, format = DateTime)]
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    #[serde(with = "time")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(with = "time::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<DateTime<Utc>>,
    /// What was (or will be) sent: the event's facts, the log's last lines, the link.
    #[schema(value_type = Object)]
    pub message: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotificationCollection {
    pub notifications: Vec<Notification>,
    pub total_entries: i64,
}

/// A channel of `weir.toml` and how its deliveries go (over the messages the caller
/// may see). A webhook's URL is not shown: it often holds a token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotificationChannel {
    pub name: String,
    pub webhook: bool,
    /// `json` or `slack`, for a webhook.
    pub format: Option<String>,
    pub email: Vec<String>,
    /// The teams that may name it; empty: every team.
    pub teams: Vec<String>,
    pub max_per_minute: u32,
    pub pending: i64,
    pub sent: i64,
    pub failed: i64,
    #[serde(with = "time::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    #[serde(with = "time::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_error_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotificationChannelCollection {
    pub channels: Vec<NotificationChannel>,
}
