//! `weir pools list|set|delete`: pools on a server (`/api/v1/pools`). `set` changes the
//! pool if it exists and creates it otherwise, as Airflow's `pools set` does.

use std::process::ExitCode;

use reqwest::{Method, StatusCode};
use weir_api::Pool;
use weir_api::pool_changes::PoolBody;

use crate::cli::{OutputFormat, PoolsCommand, ServerArgs};
use crate::commands::client::ClientError;
use crate::commands::output::outln;
use crate::commands::output::{self, print_json};
use crate::commands::server::with_client;

/// A slot count as a table shows it.
fn slots(n: i64) -> String {
    if n < 0 {
        "unlimited".to_string()
    } else {
        n.to_string()
    }
}

pub fn run(cmd: PoolsCommand, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let format = server.output;
    match cmd {
        PoolsCommand::List => with_client(server, |client| async move {
            let (items, total) = client.get_all(&["pools"], &[], "pools").await?;
            if format == OutputFormat::Json {
                print_json(&serde_json::json!({"pools": items, "total_entries": total}))?;
                return Ok(ExitCode::SUCCESS);
            }
            let pools: Vec<Pool> = items
                .into_iter()
                .map(serde_json::from_value)
                .collect::<Result<_, _>>()?;
            let mut t =
                output::table(["POOL", "SLOTS", "OPEN", "RUNNING", "QUEUED", "DESCRIPTION"]);
            for p in &pools {
                t.add_row(vec![
                    p.name.clone(),
                    slots(p.slots),
                    slots(p.open_slots),
                    p.running_slots.to_string(),
                    p.queued_slots.to_string(),
                    p.description.clone().unwrap_or_default(),
                ]);
            }
            outln!("{t}")?;
            Ok(ExitCode::SUCCESS)
        }),
        PoolsCommand::Set {
            name,
            slots: count,
            description,
            include_deferred,
        } => with_client(server, |client| async move {
            let mut mask = vec!["slots", "include_deferred"];
            if description.is_some() {
                mask.push("description");
            }
            let body = PoolBody {
                name: Some(name.clone()),
                slots: Some(count),
                description: description.map(Some),
                include_deferred: Some(include_deferred),
            };
            let query = [("update_mask", mask.join(","))];
            let changed: Result<Pool, ClientError> = client
                .send(Method::PATCH, &["pools", &name], &query, Some(&body))
                .await;
            let (pool, verb) = match changed {
                Ok(pool) => (pool, "changed"),
                Err(ClientError::Api { status, .. }) if status == StatusCode::NOT_FOUND => {
                    let pool: Pool = client
                        .send(Method::POST, &["pools"], &[], Some(&body))
                        .await?;
                    (pool, "created")
                }
                Err(e) => return Err(e.into()),
            };
            if format == OutputFormat::Json {
                print_json(&pool)?;
            } else {
                outln!("pool {} {verb}: {} slots", pool.name, slots(pool.slots))?;
            }
            Ok(ExitCode::SUCCESS)
        }),
        PoolsCommand::Delete { name } => with_client(server, |client| async move {
            client
                .send::<(), serde_json::Value>(Method::DELETE, &["pools", &name], &[], None)
                .await?;
            if format == OutputFormat::Table {
                outln!("pool {name} deleted")?;
            }
            Ok(ExitCode::SUCCESS)
        }),
    }
}
