//! `weir teams list|show|add-member|remove-member`: the platform's teams (defined in
//! `weir.toml`) and who holds which role in each. Changing members needs the team's
//! admin role or a platform admin.

use std::process::ExitCode;

use reqwest::Method;
use serde_json::{Value, json};
use weir_api::access::{MemberBody, Membership, Team};
use weir_core::access::LogReaders;

use crate::cli::{OutputFormat, ServerArgs, TeamsCommand};
use crate::commands::client;
use crate::commands::output::{self, outln, print_json};
use crate::commands::server::with_client;

pub fn run(cmd: TeamsCommand, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let format = server.output;
    match cmd {
        TeamsCommand::List => with_client(server, |client| async move {
            let (teams, total) = client.get_all(&["teams"], &[], "teams").await?;
            if format == OutputFormat::Json {
                print_json(&json!({"teams": teams, "total_entries": total}))?;
                return Ok(ExitCode::SUCCESS);
            }
            if teams.is_empty() {
                outln!("no teams")?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut t = output::table([
                "TEAM",
                "WEIGHT",
                "MEMBERS",
                "IMAGE PREFIXES",
                "LOGS READABLE BY",
            ]);
            for value in &teams {
                let team: Team = client::parse("a team", value)?;
                t.add_row(team_row(&team));
            }
            outln!("{t}")?;
            Ok(ExitCode::SUCCESS)
        }),
        TeamsCommand::Show { team } => with_client(server, |client| async move {
            let answer: Value = client.get(&["teams", &team], &[]).await?;
            if format == OutputFormat::Json {
                print_json(&answer)?;
                return Ok(ExitCode::SUCCESS);
            }
            let team: Team = client::parse("the team", &answer)?;
            outln!("team {}", team.name)?;
            outln!("  weight:           {}", team.weight)?;
            outln!("  image prefixes:   {}", list_or_dash(&team.image_prefixes))?;
            outln!("  logs readable by: {}", log_readers(team.logs_readable_by))?;
            if team.members.is_empty() {
                outln!("no members")?;
            } else {
                let mut t = output::table(["MEMBER", "ROLE", "SOURCE"]);
                for m in &team.members {
                    t.add_row(vec![
                        m.username.clone(),
                        m.role.to_string(),
                        m.source.clone(),
                    ]);
                }
                outln!("{t}")?;
            }
            Ok(ExitCode::SUCCESS)
        }),
        TeamsCommand::AddMember {
            team,
            username,
            role,
        } => with_client(server, |client| async move {
            let body = MemberBody { role: role.into() };
            let answer: Value = client
                .send(
                    Method::PUT,
                    &["teams", &team, "members", &username],
                    &[],
                    Some(&body),
                )
                .await?;
            if format == OutputFormat::Json {
                print_json(&answer)?;
            } else {
                let member: Membership = client::parse("the member", &answer)?;
                outln!(
                    "{} is now {} of team {team}",
                    member.username,
                    article(member.role.as_str())
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }),
        TeamsCommand::RemoveMember { team, username } => with_client(server, |client| async move {
            client
                .send::<(), Value>(
                    Method::DELETE,
                    &["teams", &team, "members", &username],
                    &[],
                    None,
                )
                .await?;
            if format == OutputFormat::Table {
                outln!("{username} removed from team {team}")?;
            }
            Ok(ExitCode::SUCCESS)
        }),
    }
}

/// One line of `weir teams list`.
fn team_row(team: &Team) -> Vec<String> {
    vec![
        team.name.clone(),
        team.weight.to_string(),
        team.members.len().to_string(),
        list_or_dash(&team.image_prefixes),
        log_readers(team.logs_readable_by).to_string(),
    ]
}

/// `team` or `everyone`, as `weir.toml` and the API spell it.
fn log_readers(readers: LogReaders) -> &'static str {
    match readers {
        LogReaders::Team => "team",
        LogReaders::Everyone => "everyone",
    }
}

fn list_or_dash(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_string()
    } else {
        items.join(", ")
    }
}

/// `an admin`, `an operator`, `a viewer`.
fn article(role: &str) -> String {
    if role.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {role}")
    } else {
        format!("a {role}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_team_row_counts_members() {
        let team: Team = client::parse(
            "test",
            &json!({
                "name": "finance", "weight": 3.0, "image_prefixes": ["registry/finance/"],
                "logs_readable_by": "team",
                "members": [{"team": "finance", "username": "alice", "role": "admin", "source": "local"}]
            }),
        )
        .expect("a team");
        assert_eq!(
            team_row(&team),
            ["finance", "3", "1", "registry/finance/", "team"]
        );
        assert_eq!(article("admin"), "an admin");
        assert_eq!(article("viewer"), "a viewer");
    }
}
