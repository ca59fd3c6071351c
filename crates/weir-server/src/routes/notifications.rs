//! `GET /notifications`: the messages recorded for DAGs' `notify:`, newest first, with
//! how their delivery went; `GET /notifications/channels`: the channels of weir.toml
//! and their health. A message carries a try's last log lines, so a caller sees the
//! messages of the teams whose logs it may read (its teams, teams whose logs are open
//! to everyone; platform admins all), and channel counts over those only.

use axum::Json;
use axum::extract::{Extension, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weir_core::access::{LogReaders, TeamRole};
use weir_core::platform::WebhookFormat;
use weir_store::{NotificationFilter, NotificationRecord};

use crate::AppState;
use crate::auth::Authorized;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::json::{
    Notification, NotificationChannel, NotificationChannelCollection, NotificationCollection,
};
use crate::openapi::BadRequest;
use crate::pagination::Pagination;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_notifications))
        .routes(routes!(list_channels))
}

const STATES: [&str; 3] = ["pending", "sent", "failed"];

/// The teams whose messages the caller sees; `None`: every team's.
fn readable_teams(state: &AppState, auth: &Authorized) -> Option<Vec<String>> {
    if auth.caller.platform_admin {
        return None;
    }
    let mut teams: Vec<String> = auth
        .caller
        .teams_with(TeamRole::Viewer)
        .map(str::to_string)
        .collect();
    for team in &state.platform.teams {
        if team.logs_readable_by == LogReaders::Everyone && !teams.contains(&team.name) {
            teams.push(team.name.clone());
        }
    }
    Some(teams)
}

fn notification(n: NotificationRecord) -> Notification {
    Notification {
        id: n.id,
        channel: n.channel,
        medium: n.medium,
        team: n.team,
        dag_id: n.dag_id,
        dag_run_id: n.run_id,
        task_id: n.task_id,
        event: n.event,
        state: n.state,
        attempts: n.attempts,
        next_attempt_at: n.next_attempt_at,
        last_error: n.last_error,
        created_at: n.created_at,
        sent_at: n.sent_at,
        message: n.message,
    }
}

/// List notifications.
#[utoipa::path(get, path = "/notifications", operation_id = "get_notifications", tag = "Monitoring",
    params(Pagination,
        ("dag_id" = Option<String>, Query, description = "Only this DAG's."),
        ("state" = Option<String>, Query, description = "`pending`, `sent` or `failed`."),
        ("channel" = Option<String>, Query, description = "Only this channel's.")),
    responses((status = 200, description = "Success.", body = NotificationCollection),
              (status = 400, response = BadRequest)))]
async fn list_notifications(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
    q: QueryParams,
) -> Result<Json<NotificationCollection>, ApiError> {
    let page = Pagination::from_query(&q, &state.config)?;
    let wanted = q.str("state").map(str::to_string);
    if let Some(s) = &wanted
        && !STATES.contains(&s.as_str())
    {
        return Err(ApiError::bad_request(format!(
            "unknown state `{s}`: use one of {}",
            STATES.join(", ")
        )));
    }
    let filter = NotificationFilter {
        teams: readable_teams(&state, &auth),
        dag_id: q.str("dag_id").map(str::to_string),
        state: wanted,
        channel: q.str("channel").map(str::to_string),
    };
    let found = state
        .store()
        .list_notifications(&filter, page.limit, page.offset)
        .await?;
    Ok(Json(NotificationCollection {
        notifications: found.items.into_iter().map(notification).collect(),
        total_entries: found.total_entries,
    }))
}

/// List notification channels.
#[utoipa::path(get, path = "/notifications/channels", operation_id = "get_notification_channels",
    tag = "Monitoring",
    responses((status = 200, description = "Success.", body = NotificationChannelCollection)))]
async fn list_channels(
    State(state): State<AppState>,
    Extension(auth): Extension<Authorized>,
) -> Result<Json<NotificationChannelCollection>, ApiError> {
    let teams = readable_teams(&state, &auth);
    let deliveries = state.store().channel_deliveries(teams.as_deref()).await?;
    let channels = state
        .platform
        .channels
        .iter()
        .map(|c| {
            let d = deliveries.iter().find(|d| d.channel == c.name);
            NotificationChannel {
                name: c.name.clone(),
                webhook: c.webhook.is_some(),
                format: c.webhook.as_ref().map(|_| {
                    match c.format {
                        WebhookFormat::Json => "json",
                        WebhookFormat::Slack => "slack",
                    }
                    .to_string()
                }),
                email: c.email.clone(),
                teams: c.teams.clone(),
                max_per_minute: c.max_per_minute,
                pending: d.map_or(0, |d| d.pending),
                sent: d.map_or(0, |d| d.sent),
                failed: d.map_or(0, |d| d.failed),
                last_sent_at: d.and_then(|d| d.last_sent_at),
                last_error: d.and_then(|d| d.last_error.clone()),
                last_error_at: d.and_then(|d| d.last_error_at),
            }
        })
        .collect();
    Ok(Json(NotificationChannelCollection { channels }))
}
