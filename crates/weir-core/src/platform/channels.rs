//! Where notifications go: the `[[channels]]` a DAG names in `notify:`, the `[smtp]`
//! server e-mail channels send through, and the `[notifications]` delivery settings.
//!
//! Channels belong to the platform (the file is the platform team's), so a DAG names a
//! channel and never holds an address or a webhook URL itself. A channel may be kept to
//! some teams (`teams = [...]`): another team's DAG naming it does not load. The SMTP
//! password is a team secret named as `team/name`, never written in the file.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::spec::model::HumanDuration;

/// Messages one channel sends a minute when `max_per_minute` is not given.
pub const DEFAULT_MAX_PER_MINUTE: u32 = 30;
/// The first retry's delay when `[notifications] retry_delay` is not given; each next
/// one doubles, up to [`MAX_RETRY_DELAY`].
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(10);
/// The longest wait between two attempts of one message.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(600);
/// Attempts of one message before it is marked failed, when not given.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// One `[[channels]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// The name DAGs use in `notify:`.
    pub name: String,
    /// An `http(s)://` URL each message is POSTed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    /// The webhook's body: `json` (Weir's message as JSON, the default) or `slack`
    /// (`{"text": …}`, which Slack, Mattermost and Teams' Slack-compatible hooks take).
    #[serde(default)]
    pub format: WebhookFormat,
    /// Addresses each message is e-mailed to, through `[smtp]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub email: Vec<String>,
    /// The teams whose DAGs may name this channel; every team when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<String>,
    /// At most this many messages a minute; more wait for the next minute.
    #[serde(default = "default_max_per_minute")]
    pub max_per_minute: u32,
}

/// The body a webhook channel posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    #[default]
    Json,
    Slack,
}

impl Channel {
    /// Whether `team`'s DAGs may name this channel.
    pub fn allows(&self, team: &str) -> bool {
        self.teams.is_empty() || self.teams.iter().any(|t| t == team)
    }

    /// What is wrong with the entry, as (key, sentence) pairs; `smtp` says whether an
    /// `[smtp]` table exists.
    pub fn problems(&self, smtp: bool) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if crate::ids::TeamId::new(self.name.as_str()).is_err() {
            out.push((
                "name",
                format!(
                    "`{}` is not a valid channel name: use letters, digits, `-` and `_`",
                    self.name
                ),
            ));
        }
        if self.webhook.is_none() && self.email.is_empty() {
            out.push((
                "name",
                format!(
                    "channel `{}` sends nowhere: give it a `webhook` URL or `email` addresses",
                    self.name
                ),
            ));
        }
        if let Some(url) = &self.webhook
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            out.push((
                "webhook",
                format!(
                    "`{url}` is not an http(s) URL; write e.g. \"https://hooks.example.com/x\""
                ),
            ));
        }
        if self.webhook.is_none() && self.format != WebhookFormat::Json {
            out.push((
                "format",
                "`format` is about a webhook's body; this channel has no `webhook`".to_string(),
            ));
        }
        for address in &self.email {
            if !looks_like_address(address) {
                out.push(("email", format!("`{address}` is not an e-mail address")));
            }
        }
        if !self.email.is_empty() && !smtp {
            out.push((
                "email",
                format!(
                    "channel `{}` sends e-mail, but weir.toml has no [smtp] table to send it through",
                    self.name
                ),
            ));
        }
        if self.max_per_minute == 0 {
            out.push((
                "max_per_minute",
                "`max_per_minute` must be at least 1".to_string(),
            ));
        }
        out
    }
}

fn looks_like_address(address: &str) -> bool {
    match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !address
                    .chars()
                    .any(|c| c.is_whitespace() || c == '<' || c == '>')
        }
        None => false,
    }
}

fn default_max_per_minute() -> u32 {
    DEFAULT_MAX_PER_MINUTE
}

/// The `[smtp]` table: the mail server e-mail channels send through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    /// The port; 587 with `starttls`, 465 with `tls`, 25 with `none` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `starttls` (the default), `tls` (implicit TLS) or `none` (a local relay only).
    #[serde(default)]
    pub tls: SmtpTls,
    /// The sender, e.g. `"Weir <weir@example.com>"`.
    pub from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// A secret holding the password, as `team/name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<String>,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    #[default]
    Starttls,
    Tls,
    None,
}

impl SmtpSettings {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        })
    }

    /// What is wrong with the table, as (key, sentence) pairs.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.host.trim().is_empty() {
            out.push(("host", "`host` must name the mail server".to_string()));
        }
        if !looks_like_address(
            self.from
                .rsplit('<')
                .next()
                .unwrap_or("")
                .trim_end_matches('>'),
        ) {
            out.push((
                "from",
                format!(
                    "`{}` is not a sender address; write e.g. \"Weir <weir@example.com>\"",
                    self.from
                ),
            ));
        }
        if self.password_secret.is_some() && self.username.is_none() {
            out.push((
                "username",
                "`password_secret` needs a `username` to sign in with".to_string(),
            ));
        }
        if let Some(reference) = &self.password_secret
            && reference
                .split_once('/')
                .is_none_or(|(t, n)| t.is_empty() || n.is_empty())
        {
            out.push((
                "password_secret",
                format!("`{reference}` does not name a secret; write it as \"team/name\""),
            ));
        }
        out
    }
}

/// The `[notifications]` table: how messages are delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    /// The address people open Weir at, for the link to the run in each message, e.g.
    /// `"https://weir.example.com"`; the server's own address when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui_url: Option<String>,
    /// The wait before a failed attempt is tried again, doubling each time (10s).
    #[serde(default = "default_retry_delay")]
    pub retry_delay: HumanDuration,
    /// Attempts before a message is marked failed (5).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        NotificationSettings {
            ui_url: None,
            retry_delay: default_retry_delay(),
            max_attempts: default_max_attempts(),
        }
    }
}

impl NotificationSettings {
    /// What is wrong with the table, as (key, sentence) pairs.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.max_attempts == 0 {
            out.push((
                "max_attempts",
                "`max_attempts` must be at least 1".to_string(),
            ));
        }
        if self.retry_delay.0 > MAX_RETRY_DELAY {
            out.push((
                "retry_delay",
                format!(
                    "`retry_delay` may be at most {}s",
                    MAX_RETRY_DELAY.as_secs()
                ),
            ));
        }
        if let Some(url) = &self.ui_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            out.push(("ui_url", format!("`{url}` is not an http(s) URL")));
        }
        out
    }
}

fn default_retry_delay() -> HumanDuration {
    HumanDuration(DEFAULT_RETRY_DELAY)
}

fn default_max_attempts() -> u32 {
    DEFAULT_MAX_ATTEMPTS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel() -> Channel {
        Channel {
            name: "alerts".into(),
            webhook: Some("https://hooks.example.com/x".into()),
            format: WebhookFormat::Json,
            email: Vec::new(),
            teams: Vec::new(),
            max_per_minute: 30,
        }
    }

    #[test]
    fn a_channel_needs_somewhere_to_send() {
        let mut c = channel();
        assert!(c.problems(false).is_empty());
        c.webhook = None;
        let problems = c.problems(false);
        assert!(problems[0].1.contains("sends nowhere"), "{problems:?}");
    }

    #[test]
    fn e_mail_needs_smtp_and_real_addresses() {
        let mut c = channel();
        c.email = vec!["oncall@example.com".into(), "not an address".into()];
        let problems = c.problems(false);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].1.contains("not an e-mail address"));
        assert!(problems[1].1.contains("no [smtp] table"));
        assert_eq!(c.problems(true).len(), 1);
    }

    #[test]
    fn a_channel_may_be_kept_to_some_teams() {
        let mut c = channel();
        assert!(c.allows("marketing"));
        c.teams = vec!["data-eng".into()];
        assert!(c.allows("data-eng"));
        assert!(!c.allows("marketing"));
    }

    #[test]
    fn smtp_ports_follow_the_protection() {
        let smtp = SmtpSettings {
            host: "mail".into(),
            port: None,
            tls: SmtpTls::Tls,
            from: "Weir <weir@example.com>".into(),
            username: None,
            password_secret: None,
        };
        assert_eq!(smtp.port(), 465);
        assert!(smtp.problems().is_empty(), "{:?}", smtp.problems());
        let bad = SmtpSettings {
            from: "weir".into(),
            password_secret: Some("nothing".into()),
            ..smtp
        };
        assert_eq!(bad.problems().len(), 3, "{:?}", bad.problems());
    }
}
