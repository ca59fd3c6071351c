//! `weir secrets set|list|delete|rotate-key`: a team's secrets on a server. A value is
//! read from standard input or a file, never from the command line (where `ps` and the
//! shell's history would show it), and never printed.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, bail};
use reqwest::Method;
use weir_api::{KeyRotation, Secret, SecretBody, SecretCollection};

use crate::cli::{OutputFormat, SecretsCommand, ServerArgs};
use crate::commands::output::{self, outln, print_json};
use crate::commands::server::with_client;

/// `TEAM/NAME` split in two.
fn team_and_name(secret: &str) -> anyhow::Result<(String, String)> {
    match secret.split_once('/') {
        Some((team, name)) if !team.is_empty() && !name.is_empty() => {
            Ok((team.to_owned(), name.to_owned()))
        }
        _ => {
            bail!("name the secret as TEAM/NAME (e.g. `growth/warehouse-password`), not `{secret}`")
        }
    }
}

fn read_value(from_file: Option<&std::path::Path>) -> anyhow::Result<String> {
    let value = match from_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the secret's value from {}", path.display()))?,
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                rpassword::prompt_password("Value (not shown): ")
                    .context("cannot read the value from the terminal")?
            } else {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("cannot read the secret's value from standard input")?;
                // `echo value | weir secrets set …` adds a newline that is not the value's.
                text.strip_suffix('\n')
                    .map(|t| t.strip_suffix('\r').unwrap_or(t))
                    .unwrap_or(&text)
                    .to_owned()
            }
        }
    };
    if value.is_empty() {
        bail!(
            "the value is empty: pipe it in (`weir secrets set TEAM/NAME < file`) or use --from-file"
        );
    }
    Ok(value)
}

fn print_secrets(format: OutputFormat, all: &SecretCollection) -> anyhow::Result<()> {
    if format == OutputFormat::Json {
        return print_json(all);
    }
    if all.secrets.is_empty() {
        outln!("no secrets")?;
        return Ok(());
    }
    let mut t = output::table(["SECRET", "BACKEND", "VERSION", "UPDATED", "BY"]);
    for s in &all.secrets {
        t.add_row(vec![
            format!("{}/{}", s.team, s.name),
            s.backend.clone(),
            s.version.map(|v| v.to_string()).unwrap_or_default(),
            s.updated_at
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default(),
            s.updated_by.clone().unwrap_or_default(),
        ]);
    }
    outln!("{t}")?;
    Ok(())
}

pub fn run(cmd: SecretsCommand, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let format = server.output;
    match cmd {
        SecretsCommand::Set { secret, from_file } => {
            let (team, name) = team_and_name(&secret)?;
            let value = read_value(from_file.as_deref())?;
            with_client(server, |client| async move {
                let body = SecretBody { value };
                let s: Secret = client
                    .send(
                        Method::PUT,
                        &["teams", &team, "secrets", &name],
                        &[],
                        Some(&body),
                    )
                    .await?;
                if format == OutputFormat::Json {
                    print_json(&s)?;
                } else {
                    outln!(
                        "secret {}/{} set (version {})",
                        s.team,
                        s.name,
                        s.version
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "?".into())
                    )?;
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        SecretsCommand::List { team } => with_client(server, |client| async move {
            let all: SecretCollection = match &team {
                Some(team) => client.get(&["teams", team, "secrets"], &[]).await?,
                None => client.get(&["secrets"], &[]).await?,
            };
            print_secrets(format, &all)?;
            Ok(ExitCode::SUCCESS)
        }),
        SecretsCommand::Delete { secret } => {
            let (team, name) = team_and_name(&secret)?;
            with_client(server, |client| async move {
                client
                    .send::<(), serde_json::Value>(
                        Method::DELETE,
                        &["teams", &team, "secrets", &name],
                        &[],
                        None,
                    )
                    .await?;
                if format == OutputFormat::Table {
                    outln!("secret {team}/{name} deleted")?;
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        SecretsCommand::RotateKey => with_client(server, |client| async move {
            let done: KeyRotation = client
                .send::<(), _>(Method::POST, &["secrets", "rotateKey"], &[], None)
                .await?;
            if format == OutputFormat::Json {
                print_json(&done)?;
            } else {
                outln!(
                    "master key rotated: now {} ({} secrets and {} connection passwords re-sealed)",
                    done.key_id,
                    done.secrets_resealed,
                    done.connection_passwords_resealed
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }),
    }
}
