//! The admin pages: users, teams and their members, API tokens, pools, variables and
//! connections — read through the API, so each admin sees what the API shows them (a
//! team admin, their teams' objects), and never a secret: connections show no password
//! or extra, variables no value (a value may be a credential).

use askama::Template;
use axum::response::Html;
use weir_api::{
    ConnectionCollection, PoolCollection, TeamCollection, TokenCollection, UserCollection,
    VariableCollection,
};

use super::UiError;
use super::api::Api;
use super::dag::label;
use super::layout::{Chrome, when};

/// One admin table: its columns and rows of text.
#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    chrome: Chrome,
    section: &'static str,
    title: &'static str,
    columns: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

const SECTIONS: [(&str, &str); 6] = [
    ("users", "Users"),
    ("teams", "Teams"),
    ("tokens", "Tokens"),
    ("pools", "Pools"),
    ("variables", "Variables"),
    ("connections", "Connections"),
];

impl AdminPage {
    fn sections(&self) -> &'static [(&'static str, &'static str)] {
        &SECTIONS
    }
}

fn render(
    api: &Api,
    section: &'static str,
    title: &'static str,
    columns: Vec<&'static str>,
    rows: Vec<Vec<String>>,
) -> Result<Html<String>, UiError> {
    let page = AdminPage {
        chrome: Chrome::new(api, title, "admin"),
        section,
        title,
        columns,
        rows,
    };
    Ok(Html(page.render()?))
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

/// `GET /admin/users`.
pub async fn users(api: Api) -> Result<Html<String>, UiError> {
    let list: UserCollection = api.get("/api/v1/users?limit=1000").await?;
    let rows = list
        .users
        .iter()
        .map(|u| {
            vec![
                u.username.clone(),
                opt(&u.email),
                u.source.clone(),
                if u.platform_admin { "yes" } else { "" }.into(),
                u.teams
                    .iter()
                    .map(|m| format!("{} ({})", m.team, label(&m.role)))
                    .collect::<Vec<_>>()
                    .join(", "),
                when(u.last_login_at),
            ]
        })
        .collect();
    let columns = vec![
        "User",
        "Email",
        "Source",
        "Platform admin",
        "Teams",
        "Last sign-in",
    ];
    render(&api, "users", "Users", columns, rows)
}

/// `GET /admin/teams`.
pub async fn teams(api: Api) -> Result<Html<String>, UiError> {
    let list: TeamCollection = api.get("/api/v1/teams").await?;
    let rows = list
        .teams
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                format!("{}", t.weight),
                t.members
                    .iter()
                    .map(|m| format!("{} ({})", m.username, label(&m.role)))
                    .collect::<Vec<_>>()
                    .join(", "),
                t.image_prefixes.join(", "),
                label(&t.logs_readable_by),
            ]
        })
        .collect();
    let columns = vec![
        "Team",
        "Fair-share weight",
        "Members",
        "Image prefixes",
        "Logs readable by",
    ];
    render(&api, "teams", "Teams", columns, rows)
}

/// `GET /admin/tokens`.
pub async fn tokens(api: Api) -> Result<Html<String>, UiError> {
    let list: TokenCollection = api.get("/api/v1/tokens?limit=1000").await?;
    let rows = list
        .tokens
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                t.token_id.clone(),
                opt(&t.username),
                opt(&t.team),
                t.role.map(|r| label(&r)).unwrap_or_default(),
                t.created_by.clone(),
                when(t.expires_at),
                when(t.last_used_at),
                if t.revoked_at.is_some() {
                    "revoked"
                } else {
                    ""
                }
                .into(),
            ]
        })
        .collect();
    let columns = vec![
        "Name",
        "Id",
        "User",
        "Team",
        "Role",
        "Created by",
        "Expires",
        "Last used",
        "",
    ];
    render(&api, "tokens", "API tokens", columns, rows)
}

/// `GET /admin/pools`.
pub async fn pools(api: Api) -> Result<Html<String>, UiError> {
    let list: PoolCollection = api.get("/api/v1/pools?limit=1000").await?;
    let rows = list
        .pools
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.slots.to_string(),
                p.running_slots.to_string(),
                p.queued_slots.to_string(),
                p.open_slots.to_string(),
                opt(&p.description),
            ]
        })
        .collect();
    let columns = vec!["Pool", "Slots", "Running", "Queued", "Open", "Description"];
    render(&api, "pools", "Pools", columns, rows)
}

/// `GET /admin/variables`: keys, owners and descriptions; never values.
pub async fn variables(api: Api) -> Result<Html<String>, UiError> {
    let list: VariableCollection = api.get("/api/v1/variables?limit=1000").await?;
    let rows = list
        .variables
        .iter()
        .map(|v| vec![v.key.clone(), opt(&v.team), opt(&v.description)])
        .collect();
    let columns = vec!["Key", "Team", "Description"];
    render(&api, "variables", "Variables", columns, rows)
}

/// `GET /admin/connections`: never a password or an extra.
pub async fn connections(api: Api) -> Result<Html<String>, UiError> {
    let list: ConnectionCollection = api.get("/api/v1/connections?limit=1000").await?;
    let rows = list
        .connections
        .iter()
        .map(|c| {
            vec![
                c.connection_id.clone(),
                c.conn_type.clone(),
                opt(&c.host),
                c.port.map(|p| p.to_string()).unwrap_or_default(),
                opt(&c.login),
                opt(&c.schema),
                opt(&c.team),
                opt(&c.description),
            ]
        })
        .collect();
    let columns = vec![
        "Connection",
        "Type",
        "Host",
        "Port",
        "Login",
        "Schema",
        "Team",
        "Description",
    ];
    render(&api, "connections", "Connections", columns, rows)
}
