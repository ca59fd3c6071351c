//! `weir tokens create|list|revoke`: API tokens, for scripts and CI: a user's own, or a
//! team's service account's (which acts with one role in one team, whoever holds it).
//!
//! A token's secret is shown once, when it is created; the server keeps only a hash.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::Value;
use weir_api::access::{CreatedToken, NewTokenBody, TokenInfo};
use weir_core::access::TeamRole;

use crate::cli::{OutputFormat, ServerArgs, TokensCommand};
use crate::commands::client::{self, Client};
use crate::commands::credentials;
use crate::commands::output::{self, outln, print_json};
use crate::commands::server::with_client;

pub fn run(cmd: TokensCommand, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let format = server.output;
    match cmd {
        TokensCommand::Create {
            name,
            team,
            role,
            expires_in_days,
            no_expiry,
        } => with_client(server, |client| async move {
            let body = create_body(
                &name,
                team.as_deref(),
                role.map(TeamRole::from),
                expires_in_days,
                no_expiry,
            );
            let answer: Value = client
                .send(Method::POST, &["tokens"], &[], Some(&body))
                .await?;
            if format == OutputFormat::Json {
                print_json(&answer)?;
                return Ok(ExitCode::SUCCESS);
            }
            let created: CreatedToken = client::parse("the new token", &answer)?;
            let info = &created.token_info;
            // The note goes to stderr and the secret alone to stdout, so that
            // `TOKEN=$(weir tokens create ci)` captures just the token.
            eprintln!(
                "Created token {} ({}) for {}, {}. Copy it now: it is not shown again.",
                info.name,
                info.token_id,
                holder(info),
                match info.expires_at {
                    Some(t) => format!("expires {}", output::time(Some(t))),
                    None => "never expires".to_string(),
                }
            );
            outln!("{}", created.token)?;
            Ok(ExitCode::SUCCESS)
        }),
        TokensCommand::List { username, team } => with_client(server, |client| async move {
            let mut query = Vec::new();
            if let Some(u) = username {
                query.push(("username", u));
            }
            if let Some(t) = team {
                query.push(("team", t));
            }
            let (tokens, total) = client.get_all(&["tokens"], &query, "tokens").await?;
            if format == OutputFormat::Json {
                return print_list(&tokens, total);
            }
            if tokens.is_empty() {
                outln!("no tokens")?;
                return Ok(ExitCode::SUCCESS);
            }
            let now = Utc::now();
            let mut t = output::table([
                "ID",
                "NAME",
                "FOR",
                "CREATED BY",
                "CREATED",
                "EXPIRES",
                "LAST USED",
                "STATE",
            ]);
            for value in &tokens {
                let info: TokenInfo = client::parse("a token", value)?;
                t.add_row(vec![
                    info.token_id.clone(),
                    info.name.clone(),
                    holder(&info),
                    info.created_by.clone(),
                    output::time(Some(info.created_at)),
                    info.expires_at
                        .map_or_else(|| "never".to_string(), |e| output::time(Some(e))),
                    output::time(info.last_used_at),
                    state(&info, now).to_string(),
                ]);
            }
            outln!("{t}")?;
            Ok(ExitCode::SUCCESS)
        }),
        TokensCommand::Revoke { token_id } => with_client(server, |client| async move {
            client
                .send::<(), Value>(Method::DELETE, &["tokens", &token_id], &[], None)
                .await?;
            if format == OutputFormat::Table {
                outln!("token {token_id} revoked")?;
                if is_login_token(&client, &token_id) {
                    outln!("it was this CLI's login token: run `weir login` to sign in again")?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }),
    }
}

/// `POST /tokens`' body. `expires_in_days` is left out for the server's default (90
/// days) and `null` for a token that never expires, so the two are not confused.
fn create_body(
    name: &str,
    team: Option<&str>,
    role: Option<TeamRole>,
    expires_in_days: Option<u32>,
    no_expiry: bool,
) -> NewTokenBody {
    NewTokenBody {
        name: name.to_string(),
        expires_in_days: if no_expiry {
            Some(None)
        } else {
            expires_in_days.map(Some)
        },
        team: team.map(str::to_string),
        role,
    }
}

/// Who a token acts as: `alice`, or `team finance (operator)` for a service account's.
fn holder(info: &TokenInfo) -> String {
    match (&info.username, &info.team, &info.role) {
        (Some(user), _, _) => user.clone(),
        (None, Some(team), Some(role)) => format!("team {team} ({role})"),
        (None, Some(team), None) => format!("team {team}"),
        (None, None, _) => "-".to_string(),
    }
}

/// `revoked`, `expired` or `active`, as of `now`.
fn state(info: &TokenInfo, now: DateTime<Utc>) -> &'static str {
    if info.revoked_at.is_some() {
        "revoked"
    } else if info.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    }
}

/// Whether `token_id` is the token `weir login` stored for this client's server.
fn is_login_token(client: &Client, token_id: &str) -> bool {
    credentials::config_dir()
        .ok()
        .and_then(|dir| credentials::load(&dir).ok().flatten())
        .is_some_and(|c| {
            c.token_id == token_id && credentials::same_server(&c.server, client.server())
        })
}

fn print_list(tokens: &[Value], total: i64) -> anyhow::Result<ExitCode> {
    print_json(&serde_json::json!({"tokens": tokens, "total_entries": total}))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn info(value: Value) -> TokenInfo {
        client::parse("test", &value).expect("a token")
    }

    #[test]
    fn the_body_tells_default_expiry_from_none() {
        let create_body = |name, team, role, days, no_expiry| {
            serde_json::to_value(create_body(name, team, role, days, no_expiry))
                .expect("serializes")
        };
        assert_eq!(
            create_body("ci", None, None, None, false),
            json!({"name": "ci", "team": null, "role": null})
        );
        assert_eq!(
            create_body("ci", None, None, None, true),
            json!({"name": "ci", "expires_in_days": null, "team": null, "role": null})
        );
        assert_eq!(
            create_body(
                "etl",
                Some("finance"),
                Some(TeamRole::Operator),
                Some(7),
                false
            ),
            json!({"name": "etl", "expires_in_days": 7, "team": "finance", "role": "operator"})
        );
    }

    #[test]
    fn tokens_say_whom_they_act_as_and_whether_they_work() {
        let now = DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
            .expect("a date")
            .to_utc();
        let user = info(json!({
            "token_id": "t1", "name": "cli@laptop", "username": "alice", "team": null,
            "role": null, "created_by": "alice", "created_at": "2026-01-01T00:00:00Z",
            "expires_at": "2026-02-01T00:00:00Z", "revoked_at": null, "last_used_at": null
        }));
        assert_eq!(holder(&user), "alice");
        assert_eq!(state(&user, now), "expired");

        let service = info(json!({
            "token_id": "t2", "name": "etl", "username": null, "team": "finance",
            "role": "operator", "created_by": "bob", "created_at": "2026-01-01T00:00:00Z",
            "expires_at": null, "revoked_at": null, "last_used_at": "2026-02-01T00:00:00Z"
        }));
        assert_eq!(holder(&service), "team finance (operator)");
        assert_eq!(state(&service, now), "active");

        let revoked = info(json!({
            "token_id": "t3", "name": "old", "username": "bob", "created_by": "bob",
            "created_at": "2026-01-01T00:00:00Z", "revoked_at": "2026-01-02T00:00:00Z"
        }));
        assert_eq!(state(&revoked, now), "revoked");
    }
}
