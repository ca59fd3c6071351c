//! `weir notifications list|channels`: the messages Weir sent (or is failing to send)
//! for DAGs' `notify:`, and each channel's health.

use std::process::ExitCode;

use chrono::SecondsFormat;
use weir_api::{NotificationChannelCollection, NotificationCollection};

use crate::cli::{NotificationsCommand, OutputFormat, ServerArgs};
use crate::commands::output::{self, outln, print_json};
use crate::commands::server::with_client;

pub fn run(cmd: NotificationsCommand, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let format = server.output;
    match cmd {
        NotificationsCommand::List {
            dag,
            state,
            channel,
            limit,
        } => {
            let mut query = vec![("limit", limit.to_string())];
            for (key, value) in [("dag_id", dag), ("state", state), ("channel", channel)] {
                if let Some(v) = value {
                    query.push((key, v));
                }
            }
            with_client(server, |client| async move {
                let all: NotificationCollection = client.get(&["notifications"], &query).await?;
                if format == OutputFormat::Json {
                    print_json(&all)?;
                } else {
                    print_list(&all)?;
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        NotificationsCommand::Channels => with_client(server, |client| async move {
            let all: NotificationChannelCollection =
                client.get(&["notifications", "channels"], &[]).await?;
            if format == OutputFormat::Json {
                print_json(&all)?;
            } else {
                print_channels(&all)?;
            }
            Ok(ExitCode::SUCCESS)
        }),
    }
}

fn print_list(all: &NotificationCollection) -> anyhow::Result<()> {
    if all.notifications.is_empty() {
        return outln!("no notifications");
    }
    let mut t = output::table([
        "WHEN",
        "EVENT",
        "DAG",
        "RUN",
        "TASK",
        "CHANNEL",
        "STATE",
        "ATTEMPTS",
        "LAST ERROR",
    ]);
    for n in &all.notifications {
        t.add_row(vec![
            n.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            n.event.clone(),
            n.dag_id.clone(),
            n.dag_run_id.clone(),
            n.task_id.clone().unwrap_or_default(),
            format!("{} ({})", n.channel, n.medium),
            n.state.clone(),
            n.attempts.to_string(),
            n.last_error.clone().unwrap_or_default(),
        ]);
    }
    outln!("{t}")?;
    outln!("{} of {} shown", all.notifications.len(), all.total_entries)
}

fn print_channels(all: &NotificationChannelCollection) -> anyhow::Result<()> {
    if all.channels.is_empty() {
        return outln!("no channels: weir.toml has no [[channels]]");
    }
    let mut t = output::table([
        "CHANNEL",
        "SENDS TO",
        "TEAMS",
        "PENDING",
        "SENT",
        "FAILED",
        "LAST ERROR",
    ]);
    for c in &all.channels {
        let mut to = Vec::new();
        if c.webhook {
            to.push(format!(
                "webhook ({})",
                c.format.as_deref().unwrap_or("json")
            ));
        }
        to.extend(c.email.iter().cloned());
        t.add_row(vec![
            c.name.clone(),
            to.join(", "),
            if c.teams.is_empty() {
                "all".to_string()
            } else {
                c.teams.join(", ")
            },
            c.pending.to_string(),
            c.sent.to_string(),
            c.failed.to_string(),
            c.last_error.clone().unwrap_or_default(),
        ]);
    }
    outln!("{t}")
}
