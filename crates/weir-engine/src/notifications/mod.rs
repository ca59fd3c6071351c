//! Notifications: raised where things happen (`raise.rs`: a try's end, a run's end;
//! `deadlines.rs`: deadlines passing), recorded in the store, and sent by one delivery
//! loop (`send.rs`: webhooks and e-mail) with retries, backoff and a rate limit per
//! channel (`weir_core::notify` decides each of those).
//!
//! The loop runs beside the scheduler on the engine's task tracker: a channel that
//! hangs or fails delays only other messages, never a run. Delivery is at least once
//! per (event, channel, medium): a message is marked sent after the receiver took it,
//! so a crash in between sends it again at the next start.

mod deadlines;
mod raise;
mod send;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{info, warn};
use weir_core::notify::{Message, RateWindow, next_attempt_delay};
use weir_core::platform::NotificationSettings;
use weir_store::{DeliveryUpdate, NotificationRecord};

pub(crate) use raise::{Ended, after_run, after_try};

use crate::shared::Shared;
use send::SendError;

/// Messages sent at once in one round of the loop.
const BATCH: i64 = 32;
/// The loop looks at deadlines at least this often.
const DEADLINE_POLL: Duration = Duration::from_secs(1);

/// The delivery side's state: the HTTP client, each channel's rate window, the
/// deadlines this process has raised, and the loop's wake-up.
pub(crate) struct Notifier {
    ui_url: String,
    settings: NotificationSettings,
    http: reqwest::Client,
    windows: Mutex<HashMap<String, RateWindow>>,
    misses: Mutex<HashSet<String>>,
    wake: tokio::sync::Notify,
}

impl Notifier {
    /// `server_url`: where people reach this server, for links when `[notifications]
    /// ui_url` is not set.
    pub fn new(settings: &NotificationSettings, server_url: &str) -> Notifier {
        let ui_url = settings
            .ui_url
            .clone()
            .unwrap_or_else(|| server_url.to_string())
            .trim_end_matches('/')
            .to_string();
        Notifier {
            ui_url,
            settings: settings.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            windows: Mutex::new(HashMap::new()),
            misses: Mutex::new(HashSet::new()),
            wake: tokio::sync::Notify::new(),
        }
    }

    pub fn ui_url(&self) -> &str {
        &self.ui_url
    }

    /// Wakes the delivery loop: a message was recorded.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Whether this process has not raised the deadline `key` yet (the store's dedup
    /// key is what keeps it to one message across restarts; this saves the inserts).
    fn first_miss(&self, key: &str) -> bool {
        self.misses
            .lock()
            .map(|mut m| m.insert(key.to_string()))
            .unwrap_or(true)
    }

    fn take_place(
        &self,
        channel: &str,
        max_per_minute: u32,
        now: DateTime<Utc>,
    ) -> Result<(), DateTime<Utc>> {
        match self.windows.lock() {
            Ok(mut windows) => windows
                .entry(channel.to_string())
                .or_insert_with(|| RateWindow::new(max_per_minute))
                .take(now),
            Err(_) => Ok(()),
        }
    }
}

/// Starts the delivery loop on the engine's tracker; it ends at shutdown.
pub(crate) fn spawn(shared: Arc<Shared>) {
    let tracker = shared.tracker.clone();
    tracker.spawn(async move { run(shared).await });
}

async fn run(shared: Arc<Shared>) {
    loop {
        let now = shared.now();
        let mut wake_at = now + chrono::Duration::from_std(DEADLINE_POLL).unwrap_or_default();
        match deadlines::check(&shared).await {
            Ok(Some(next)) => wake_at = wake_at.min(next),
            Ok(None) => {}
            Err(e) => warn!(error = %e, "cannot check deadlines"),
        }
        match deliver_due(&shared).await {
            Ok(Some(next)) => wake_at = wake_at.min(next),
            Ok(None) => {}
            Err(e) => warn!(error = %e, "cannot deliver notifications"),
        }
        tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            _ = shared.notifier.wake.notified() => {}
            _ = shared.clock.sleep_until(wake_at) => {}
        }
    }
}

/// Sends what is due, a batch at a time; returns when the next pending message is due.
async fn deliver_due(shared: &Shared) -> crate::error::Result<Option<DateTime<Utc>>> {
    loop {
        let due = shared.store.due_notifications(shared.now(), BATCH).await?;
        let full = due.len() as i64 == BATCH;
        futures_util::future::join_all(due.into_iter().map(|n| deliver(shared, n))).await;
        if !full || shared.shutdown.is_cancelled() {
            break;
        }
    }
    Ok(shared.store.next_notification_due().await?)
}

async fn deliver(shared: &Shared, n: NotificationRecord) {
    let update = attempt(shared, &n).await;
    let outcome = match &update {
        DeliveryUpdate::Sent => "sent",
        DeliveryUpdate::Retry { .. } => "retry",
        DeliveryUpdate::Failed { .. } => "failed",
        DeliveryUpdate::Postponed { .. } => "postponed",
    };
    shared
        .metrics
        .notification_deliveries
        .get_or_create(&crate::metrics::Delivery {
            channel: n.channel.clone(),
            medium: n.medium.clone(),
            outcome,
        })
        .inc();
    match &update {
        DeliveryUpdate::Sent => {
            info!(channel = %n.channel, medium = %n.medium, event = %n.event, dag_id = %n.dag_id, "notification sent");
        }
        DeliveryUpdate::Retry { error, .. } | DeliveryUpdate::Failed { error } => {
            warn!(channel = %n.channel, medium = %n.medium, attempts = n.attempts + 1, %error, "notification not delivered");
        }
        DeliveryUpdate::Postponed { .. } => {}
    }
    if let Err(e) = shared
        .store
        .record_delivery(n.id, shared.now(), &update)
        .await
    {
        warn!(id = n.id, error = %e, "cannot record a notification's delivery");
    }
}

async fn attempt(shared: &Shared, n: &NotificationRecord) -> DeliveryUpdate {
    let now = shared.now();
    let Some(channel) = shared.platform.channel(&n.channel) else {
        return DeliveryUpdate::Failed {
            error: format!("channel `{}` is no longer in weir.toml", n.channel),
        };
    };
    if let Err(next_at) = shared
        .notifier
        .take_place(&channel.name, channel.max_per_minute, now)
    {
        return DeliveryUpdate::Postponed { next_at };
    }
    let message: Message = match serde_json::from_value(n.message.clone()) {
        Ok(m) => m,
        Err(e) => {
            return DeliveryUpdate::Failed {
                error: format!("the recorded message cannot be read: {e}"),
            };
        }
    };
    let sent = match n.medium.as_str() {
        "webhook" => send::webhook(&shared.notifier.http, channel, &message).await,
        "email" => send::email(shared, channel, &message).await,
        other => Err(SendError::Permanent(format!("unknown medium `{other}`"))),
    };
    let attempts = u32::try_from(n.attempts)
        .unwrap_or(u32::MAX)
        .saturating_add(1);
    match sent {
        Ok(()) => DeliveryUpdate::Sent,
        Err(SendError::Transient(error)) if attempts < shared.notifier.settings.max_attempts => {
            let wait = next_attempt_delay(shared.notifier.settings.retry_delay.0, attempts);
            DeliveryUpdate::Retry {
                next_at: shared.now() + chrono::Duration::from_std(wait).unwrap_or_default(),
                error,
            }
        }
        Err(SendError::Transient(error)) => DeliveryUpdate::Failed {
            error: format!("{error} (gave up after {attempts} attempts)"),
        },
        Err(SendError::Permanent(error)) => DeliveryUpdate::Failed { error },
    }
}
