//! `weir variables get|set|list|delete`: variables on a server.

use std::process::ExitCode;

use reqwest::Method;
use weir_api::{Variable, VariableBody, VariableCollection};

use crate::cli::{OutputFormat, ServerArgs, VariablesCommand};
use crate::commands::output::outln;
use crate::commands::output::{self, print_json};
use crate::commands::server::with_client;

pub fn run(cmd: VariablesCommand, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let format = server.output;
    match cmd {
        VariablesCommand::Get { key } => with_client(server, |client| async move {
            let v: Variable = client.get(&["variables", &key], &[]).await?;
            if format == OutputFormat::Json {
                print_json(&v)?;
            } else {
                // The bare value, for `$(weir variables get x)`.
                outln!("{}", v.value)?;
            }
            Ok(ExitCode::SUCCESS)
        }),
        VariablesCommand::Set {
            key,
            value,
            description,
            team,
        } => with_client(server, |client| async move {
            let body = VariableBody {
                key,
                value: Some(value),
                description,
                team,
            };
            let v: Variable = client
                .send(Method::POST, &["variables"], &[], Some(&body))
                .await?;
            if format == OutputFormat::Json {
                print_json(&v)?;
            } else {
                match &v.team {
                    Some(team) => outln!("variable {} set for team {team}", v.key)?,
                    None => outln!("variable {} set (platform-wide)", v.key)?,
                }
            }
            Ok(ExitCode::SUCCESS)
        }),
        VariablesCommand::List => with_client(server, |client| async move {
            let mut all = VariableCollection {
                variables: Vec::new(),
                total_entries: 0,
            };
            loop {
                let query = [
                    ("limit", "1000".to_string()),
                    ("offset", all.variables.len().to_string()),
                ];
                let page: VariableCollection = client.get(&["variables"], &query).await?;
                all.total_entries = page.total_entries;
                let done = page.variables.is_empty();
                all.variables.extend(page.variables);
                if done || all.variables.len() as i64 >= all.total_entries {
                    break;
                }
            }
            if format == OutputFormat::Json {
                print_json(&all)?;
            } else if all.variables.is_empty() {
                outln!("no variables")?;
            } else {
                let mut t = output::table(["KEY", "TEAM", "VALUE", "DESCRIPTION"]);
                for v in &all.variables {
                    t.add_row(vec![
                        v.key.clone(),
                        v.team.clone().unwrap_or_else(|| "(platform)".into()),
                        v.value.clone(),
                        v.description.clone().unwrap_or_default(),
                    ]);
                }
                outln!("{t}")?;
            }
            Ok(ExitCode::SUCCESS)
        }),
        VariablesCommand::Delete { key } => with_client(server, |client| async move {
            client
                .send::<(), serde_json::Value>(Method::DELETE, &["variables", &key], &[], None)
                .await?;
            if format == OutputFormat::Table {
                outln!("variable {key} deleted")?;
            }
            Ok(ExitCode::SUCCESS)
        }),
    }
}
