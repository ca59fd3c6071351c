//! `weir login`, `weir logout`, `weir whoami`: signing the CLI in to a server.
//!
//! `login` trades a username and password (Basic auth) for a 30-day API token named
//! `cli@<hostname>` and stores it (see `credentials`); the other commands then send it.
//! The password itself is never stored. `logout` revokes that token on its server, best
//! effort, and deletes the file either way.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use weir_api::access::{CreatedToken, Me, NewTokenBody};
use weir_core::access::CallerKind;

use crate::cli::{LoginArgs, LogoutArgs, OutputFormat, ServerArgs};
use crate::commands::client::{self, Auth, Client, ClientError};
use crate::commands::credentials::{self, Credentials, Token, TokenSource};
use crate::commands::output::{self, outln, print_json};
use crate::commands::passwords;
use crate::commands::server::with_client;

/// How long the CLI's own token lives.
const LOGIN_TOKEN_DAYS: u32 = 30;

/// What to do when the password cannot be asked for.
const PASSWORD_HINT: &str = "use --password-stdin or set WEIR_PASSWORD";

pub fn login(args: LoginArgs) -> anyhow::Result<ExitCode> {
    let format = args.server.output;
    // Before asking for anything: is there a server to ask, and somewhere to keep the
    // token?
    if let Err(e) = Client::anonymous(&args.server.server) {
        return Ok(output::usage(e));
    }
    let dir = credentials::config_dir()?;
    let username = match args.username.as_deref().map(str::trim) {
        Some("") => return Ok(output::usage("--username is empty")),
        Some(name) => name.to_string(),
        None if args.password_stdin => {
            return Ok(output::usage(
                "--password-stdin needs --username (standard input holds the password)",
            ));
        }
        None => match ask_username() {
            Ok(name) => name,
            Err(e) => return Ok(output::usage(e)),
        },
    };
    let password = if args.password_stdin {
        passwords::from_stdin()
    } else if let Some(p) = std::env::var("WEIR_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
    {
        Ok(p)
    } else {
        passwords::prompt(
            &format!("Password for {username} at {}: ", args.server.server),
            PASSWORD_HINT,
        )
    };
    let password = match password {
        Ok(p) => p,
        Err(e) => return Ok(output::usage(e)),
    };

    with_client(&args.server, |client| async move {
        let previous = credentials::load(&dir).ok().flatten();
        let client = client.with_auth(Some(Auth::Password {
            username: username.clone(),
            password,
        }));
        let body = NewTokenBody {
            name: format!("cli@{}", hostname()),
            expires_in_days: Some(Some(LOGIN_TOKEN_DAYS)),
            team: None,
            role: None,
        };
        let answer: Value = client
            .send(Method::POST, &["tokens"], &[], Some(&body))
            .await?;
        let created: CreatedToken = client::parse("the new token", &answer)?;
        let info = created.token_info;
        let creds = Credentials {
            server: client.server().to_string(),
            // The server's spelling of the name, in case it differs from what was typed.
            username: info.username.clone().unwrap_or(username),
            token: created.token,
            token_id: info.token_id.clone(),
        };
        let path = credentials::save(&dir, &creds)?;

        // Logging in again replaces the token; the old one would otherwise stay valid
        // for the rest of its 30 days with no one holding it.
        if let Some(old) = previous.filter(|old| {
            credentials::same_server(&old.server, &creds.server)
                && old.username == creds.username
                && old.token_id != creds.token_id
        }) {
            let client = client.with_auth(Some(Auth::Token(Token {
                secret: creds.token.clone(),
                source: TokenSource::Stored(path.clone()),
            })));
            if let Err(e) = revoke(&client, &old.token_id).await {
                eprintln!(
                    "warning: could not revoke the previous token {}: {e}",
                    old.token_id
                );
            }
        }

        if format == OutputFormat::Json {
            print_json(&json!({
                "server": creds.server,
                "username": creds.username,
                "token_id": creds.token_id,
                "expires_at": info.expires_at,
                "credentials_file": path,
            }))?;
        } else {
            outln!(
                "Logged in to {} as {} ({})",
                creds.server,
                creds.username,
                expiry(info.expires_at)
            )?;
        }
        if std::env::var("WEIR_TOKEN").is_ok_and(|t| !t.trim().is_empty()) {
            eprintln!("note: WEIR_TOKEN is set; commands send it instead of this login's token");
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn logout(args: LogoutArgs) -> anyhow::Result<ExitCode> {
    let dir = credentials::config_dir()?;
    let path = credentials::file_in(&dir);
    let creds = match credentials::load(&dir) {
        Ok(Some(creds)) => creds,
        Ok(None) => {
            outln!("Not logged in (there is no {})", path.display())?;
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => {
            // Nothing to revoke in a file that cannot be read; deleting it is the cure.
            eprintln!("warning: {e}");
            credentials::remove(&dir)?;
            outln!("Logged out (deleted {})", path.display())?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    if let Some(server) = &args.server
        && !credentials::same_server(server, &creds.server)
    {
        outln!(
            "Not logged in to {server}: the stored token is for {}; nothing changed",
            creds.server
        )?;
        return Ok(ExitCode::SUCCESS);
    }

    // Revoke with the stored token itself (not WEIR_TOKEN): a token may revoke itself.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let revoked = runtime.block_on(async {
        let client = Client::anonymous(&creds.server)?.with_auth(Some(Auth::Token(Token {
            secret: creds.token.clone(),
            source: TokenSource::Stored(path.clone()),
        })));
        revoke(&client, &creds.token_id).await
    });
    if let Err(e) = revoked {
        eprintln!(
            "warning: could not revoke token {} on {}: {e}. It stays valid until it \
             expires, unless revoked with `weir tokens revoke {}`",
            creds.token_id, creds.server, creds.token_id
        );
    }
    credentials::remove(&dir)?;
    outln!("Logged out of {} ({})", creds.server, creds.username)?;
    Ok(ExitCode::SUCCESS)
}

/// Revokes a token; one the server no longer knows or accepts (expired, already
/// revoked) counts as revoked.
async fn revoke(client: &Client, token_id: &str) -> Result<(), ClientError> {
    match client
        .send::<(), Value>(Method::DELETE, &["tokens", token_id], &[], None)
        .await
    {
        Ok(_)
        | Err(ClientError::Unauthenticated { .. })
        | Err(ClientError::Api {
            status: StatusCode::NOT_FOUND,
            ..
        }) => Ok(()),
        Err(e) => Err(e),
    }
}

pub fn whoami(server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let format = server.output;
    with_client(server, |client| async move {
        let answer: Value = client.get(&["me"], &[]).await?;
        if format == OutputFormat::Json {
            print_json(&answer)?;
            return Ok(ExitCode::SUCCESS);
        }
        let me: Me = client::parse("/me", &answer)?;
        outln!("{}", describe(&me))?;
        if let Some(Auth::Token(t)) = client.auth() {
            outln!("signed in to {} with {}", client.server(), t.source)?;
        }
        if me.teams.is_empty() {
            outln!("no teams")?;
        } else {
            let mut t = output::table(["TEAM", "ROLE"]);
            for m in &me.teams {
                t.add_row(vec![m.team.clone(), m.role.to_string()]);
            }
            outln!("{t}")?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `alice (user, platform admin)`, `etl-bot (service account)`.
fn describe(me: &Me) -> String {
    let kind = match me.kind {
        CallerKind::User => "user",
        CallerKind::SsoUser => "SSO user",
        CallerKind::ServiceAccount => "service account",
    };
    if me.platform_admin {
        format!("{} ({kind}, platform admin)", me.username)
    } else {
        format!("{} ({kind})", me.username)
    }
}

/// `token expires 2026-05-01 10:00:00Z`, or `token never expires`.
fn expiry(expires_at: Option<DateTime<Utc>>) -> String {
    match expires_at {
        Some(t) => format!("token expires {}", output::time(Some(t))),
        None => "token never expires".to_string(),
    }
}

/// Asks for the username on the terminal (it may echo).
fn ask_username() -> Result<String, String> {
    if !std::io::stdin().is_terminal() {
        return Err("give --username (there is no terminal to ask on)".into());
    }
    eprint!("Username: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the username: {e}"))?;
    let name = line.trim();
    if name.is_empty() {
        return Err("no username given".into());
    }
    Ok(name.to_string())
}

/// This machine's name, for the token's name (`cli@laptop`), so a list of tokens says
/// where each CLI token lives.
fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whoami_says_kind_and_admin() {
        let me = |kind, platform_admin| Me {
            username: "alice".into(),
            kind,
            platform_admin,
            teams: Vec::new(),
        };
        assert_eq!(
            describe(&me(CallerKind::User, true)),
            "alice (user, platform admin)"
        );
        assert_eq!(
            describe(&me(CallerKind::ServiceAccount, false)),
            "alice (service account)"
        );
        assert_eq!(
            describe(&me(CallerKind::SsoUser, false)),
            "alice (SSO user)"
        );
    }

    #[test]
    fn expiry_reads_as_a_sentence() {
        let t = DateTime::parse_from_rfc3339("2026-05-01T10:00:00Z")
            .map(|t| t.to_utc())
            .ok();
        assert_eq!(expiry(t), "token expires 2026-05-01 10:00:00Z");
        assert_eq!(expiry(None), "token never expires");
    }

    #[test]
    fn the_hostname_is_never_empty() {
        assert!(!hostname().is_empty());
    }
}
