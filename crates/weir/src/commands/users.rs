//! `weir users create|list|delete|set-password`: the server's users (local and SSO),
//! their teams and roles. Creating and deleting users needs a platform admin; anyone may
//! set their own password.

use std::process::ExitCode;

use reqwest::Method;
use serde_json::{Value, json};
use weir_api::access::{Me, NewUserBody, User};

use crate::cli::{OutputFormat, ServerArgs, UsersCommand};
use crate::commands::client;
use crate::commands::output::{self, outln, print_json};
use crate::commands::passwords;
use crate::commands::server::with_client;

pub fn run(cmd: UsersCommand, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let format = server.output;
    match cmd {
        UsersCommand::Create {
            username,
            email,
            platform_admin,
            password_stdin,
        } => {
            // Read or make the password before any request, so a bad one is bad usage.
            let (password, generated) = if password_stdin {
                match passwords::from_stdin().and_then(|p| passwords::check(&p).map(|()| p)) {
                    Ok(p) => (p, false),
                    Err(e) => return Ok(output::usage(e)),
                }
            } else {
                let password = passwords::generate().map_err(|e| {
                    anyhow::anyhow!("cannot generate a password (no randomness: {e})")
                })?;
                (password, true)
            };
            with_client(server, |client| async move {
                let body = NewUserBody {
                    username,
                    password: password.clone(),
                    email,
                    platform_admin,
                };
                let mut answer: Value = client
                    .send(Method::POST, &["users"], &[], Some(&body))
                    .await?;
                if format == OutputFormat::Json {
                    // A generated password is in the JSON too: it is shown nowhere else.
                    if let (true, Value::Object(user)) = (generated, &mut answer) {
                        user.insert("generated_password".into(), password.into());
                    }
                    print_json(&answer)?;
                    return Ok(ExitCode::SUCCESS);
                }
                let user: User = client::parse("the new user", &answer)?;
                outln!(
                    "user {} created{}",
                    user.username,
                    if user.platform_admin {
                        " (platform admin)"
                    } else {
                        ""
                    }
                )?;
                if generated {
                    outln!("password: {password}")?;
                    outln!(
                        "This is the only time it is shown. {0} can change it with \
                         `weir users set-password {0}`.",
                        user.username
                    )?;
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        UsersCommand::List => with_client(server, |client| async move {
            let (users, total) = client.get_all(&["users"], &[], "users").await?;
            if format == OutputFormat::Json {
                print_json(&json!({"users": users, "total_entries": total}))?;
                return Ok(ExitCode::SUCCESS);
            }
            if users.is_empty() {
                outln!("no users")?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut t = output::table([
                "USERNAME",
                "SOURCE",
                "PLATFORM ADMIN",
                "EMAIL",
                "TEAMS",
                "LAST LOGIN",
            ]);
            for value in &users {
                let user: User = client::parse("a user", value)?;
                t.add_row(user_row(&user));
            }
            outln!("{t}")?;
            Ok(ExitCode::SUCCESS)
        }),
        UsersCommand::Delete { username } => with_client(server, |client| async move {
            client
                .send::<(), Value>(Method::DELETE, &["users", &username], &[], None)
                .await?;
            if format == OutputFormat::Table {
                outln!("user {username} deleted")?;
            }
            Ok(ExitCode::SUCCESS)
        }),
        UsersCommand::SetPassword {
            username,
            password_stdin,
            current_password_stdin,
        } => {
            // Standard input holds the current password first, then the new one.
            let current = if current_password_stdin {
                match passwords::from_stdin() {
                    Ok(p) => Some(p),
                    Err(e) => return Ok(output::usage(e)),
                }
            } else {
                None
            };
            let new_from_stdin = if password_stdin {
                match passwords::from_stdin().and_then(|p| passwords::check(&p).map(|()| p)) {
                    Ok(p) => Some(p),
                    Err(e) => return Ok(output::usage(e)),
                }
            } else {
                None
            };
            with_client(server, |client| async move {
                // Your own password needs the current one; a platform admin resetting
                // someone else's does not.
                let me: Me = client.get(&["me"], &[]).await?;
                let own = me.username == username;
                let current = match (own, current) {
                    (false, _) => None,
                    (true, Some(current)) => Some(current),
                    (true, None) => match passwords::prompt(
                        &format!("Current password for {username}: "),
                        "use --current-password-stdin",
                    ) {
                        Ok(current) => Some(current),
                        Err(e) => return Ok(output::usage(e)),
                    },
                };
                let password = match new_from_stdin {
                    Some(p) => p,
                    None => match passwords::prompt_new(&username, "use --password-stdin") {
                        Ok(p) => p,
                        Err(e) => return Ok(output::usage(e)),
                    },
                };
                let mut body = json!({ "password": password });
                if let Some(current) = current {
                    body["current_password"] = current.into();
                }
                client
                    .send::<_, Value>(
                        Method::POST,
                        &["users", &username, "password"],
                        &[],
                        Some(&body),
                    )
                    .await?;
                if format == OutputFormat::Table {
                    outln!("password of {username} changed")?;
                }
                Ok(ExitCode::SUCCESS)
            })
        }
    }
}

/// One line of `weir users list`.
fn user_row(user: &User) -> Vec<String> {
    let teams = if user.teams.is_empty() {
        "-".to_string()
    } else {
        user.teams
            .iter()
            .map(|m| format!("{} ({})", m.team, m.role))
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![
        user.username.clone(),
        user.source.clone(),
        if user.platform_admin { "yes" } else { "no" }.to_string(),
        user.email.clone().unwrap_or_else(|| "-".to_string()),
        teams,
        output::time(user.last_login_at),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_row_lists_teams_with_roles() {
        let user: User = client::parse(
            "test",
            &json!({
                "username": "alice", "email": null, "source": "local", "platform_admin": false,
                "created_at": "2026-01-01T00:00:00Z", "last_login_at": null,
                "teams": [
                    {"team": "finance", "username": "alice", "role": "admin", "source": "local"},
                    {"team": "ml", "username": "alice", "role": "viewer", "source": "sso"}
                ]
            }),
        )
        .expect("a user");
        assert_eq!(
            user_row(&user),
            [
                "alice",
                "local",
                "no",
                "-",
                "finance (admin), ml (viewer)",
                "-"
            ]
        );
    }
}
