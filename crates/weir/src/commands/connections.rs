//! `weir connections list|get|set|delete`: connections on a server (Airflow's API). A
//! password is read from standard input, never from the command line, and never shown.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::{Map, Value, json};
use weir_api::{Connection, ConnectionCollection};

use crate::cli::{ConnectionsCommand, OutputFormat, ServerArgs};
use crate::commands::output::{self, outln, print_json};
use crate::commands::server::with_client;

fn read_password() -> anyhow::Result<String> {
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return rpassword::prompt_password("Password (not shown): ")
            .context("cannot read the password from the terminal");
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read the password from standard input")?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

fn show(format: OutputFormat, c: &Connection) -> anyhow::Result<()> {
    if format == OutputFormat::Json {
        return print_json(c);
    }
    let mut t = output::table(["FIELD", "VALUE"]);
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    for (field, value) in [
        ("id", c.connection_id.clone()),
        ("type", c.conn_type.clone()),
        (
            "team",
            c.team.clone().unwrap_or_else(|| "(platform-wide)".into()),
        ),
        ("host", text(&c.host)),
        ("port", c.port.map(|p| p.to_string()).unwrap_or_default()),
        ("login", text(&c.login)),
        ("schema", text(&c.schema)),
        ("extra", text(&c.extra)),
        ("description", text(&c.description)),
    ] {
        t.add_row(vec![field.to_string(), value]);
    }
    outln!("{t}")?;
    Ok(())
}

pub fn run(cmd: ConnectionsCommand, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let format = server.output;
    match cmd {
        ConnectionsCommand::List => with_client(server, |client| async move {
            let all: ConnectionCollection = client
                .get(&["connections"], &[("limit", "1000".to_string())])
                .await?;
            if format == OutputFormat::Json {
                print_json(&all)?;
            } else if all.connections.is_empty() {
                outln!("no connections")?;
            } else {
                let mut t =
                    output::table(["ID", "TYPE", "TEAM", "HOST", "PORT", "LOGIN", "SCHEMA"]);
                for c in &all.connections {
                    t.add_row(vec![
                        c.connection_id.clone(),
                        c.conn_type.clone(),
                        c.team.clone().unwrap_or_default(),
                        c.host.clone().unwrap_or_default(),
                        c.port.map(|p| p.to_string()).unwrap_or_default(),
                        c.login.clone().unwrap_or_default(),
                        c.schema.clone().unwrap_or_default(),
                    ]);
                }
                outln!("{t}")?;
            }
            Ok(ExitCode::SUCCESS)
        }),
        ConnectionsCommand::Get { id } => with_client(server, |client| async move {
            let c: Connection = client.get(&["connections", &id], &[]).await?;
            show(format, &c)?;
            Ok(ExitCode::SUCCESS)
        }),
        ConnectionsCommand::Set {
            id,
            conn_type,
            host,
            port,
            login,
            schema,
            extra,
            description,
            password_stdin,
            team,
        } => {
            if let Some(extra) = &extra
                && !matches!(serde_json::from_str::<Value>(extra), Ok(Value::Object(_)))
            {
                bail!("--extra must be a JSON object, e.g. '{{\"sslmode\": \"require\"}}'");
            }
            let password = password_stdin.then(read_password).transpose()?;
            let mut body = Map::new();
            let mut put = |key: &str, value: Option<Value>| {
                if let Some(v) = value {
                    body.insert(key.to_owned(), v);
                }
            };
            put("conn_type", conn_type.map(Value::from));
            put("host", host.map(Value::from));
            put("port", port.map(Value::from));
            put("login", login.map(Value::from));
            put("schema", schema.map(Value::from));
            put("extra", extra.map(Value::from));
            put("description", description.map(Value::from));
            put("password", password.map(Value::from));
            with_client(server, |client| async move {
                let exists = client
                    .get::<Connection>(&["connections", &id], &[])
                    .await
                    .is_ok();
                let c: Connection = if exists {
                    if team.is_some() {
                        bail!(
                            "the team of a connection is fixed when it is created; `--team` only applies to a new one"
                        );
                    }
                    client
                        .send(
                            Method::PATCH,
                            &["connections", &id],
                            &[],
                            Some(&Value::Object(body)),
                        )
                        .await?
                } else {
                    if !body.contains_key("conn_type") {
                        bail!("connection `{id}` does not exist yet: give its --type to create it");
                    }
                    body.insert("connection_id".into(), json!(id));
                    if let Some(team) = team {
                        body.insert("team".into(), json!(team));
                    }
                    client
                        .send(
                            Method::POST,
                            &["connections"],
                            &[],
                            Some(&Value::Object(body)),
                        )
                        .await?
                };
                show(format, &c)?;
                Ok(ExitCode::SUCCESS)
            })
        }
        ConnectionsCommand::Delete { id } => with_client(server, |client| async move {
            client
                .send::<(), Value>(Method::DELETE, &["connections", &id], &[], None)
                .await?;
            if format == OutputFormat::Table {
                outln!("connection {id} deleted")?;
            }
            Ok(ExitCode::SUCCESS)
        }),
    }
}
