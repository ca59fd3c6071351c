//! Sending one message by one medium: a webhook POST (reqwest) or an e-mail through
//! `[smtp]` (lettre). Each says whether a failure is worth another attempt.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use weir_core::notify::{HttpVerdict, Message, webhook_verdict};
use weir_core::platform::{Channel, SmtpSettings, SmtpTls, WebhookFormat};

use crate::shared::Shared;

/// How long one attempt may take.
pub(super) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an attempt failed.
#[derive(Debug)]
pub(super) enum SendError {
    /// Worth trying again later (the receiver is down, a timeout).
    Transient(String),
    /// Trying again cannot help (a refused hook, a bad address, no `[smtp]`).
    Permanent(String),
}

pub(super) async fn webhook(
    http: &reqwest::Client,
    channel: &Channel,
    message: &Message,
) -> Result<(), SendError> {
    let Some(url) = &channel.webhook else {
        return Err(SendError::Permanent(format!(
            "channel `{}` has no webhook any more",
            channel.name
        )));
    };
    let body = match channel.format {
        WebhookFormat::Json => serde_json::to_value(message).unwrap_or_default(),
        WebhookFormat::Slack => message.slack_body(),
    };
    let response = http
        .post(url)
        .timeout(ATTEMPT_TIMEOUT)
        .json(&body)
        .send()
        .await
        // The URL may hold a token (Slack's do): the error names the channel, not it.
        .map_err(|e| {
            SendError::Transient(format!("the webhook could not be reached: {}", describe(e)))
        })?;
    let status = response.status().as_u16();
    match webhook_verdict(status) {
        HttpVerdict::Delivered => Ok(()),
        HttpVerdict::Retry => Err(SendError::Transient(format!(
            "the webhook answered HTTP {status}"
        ))),
        HttpVerdict::Refused => Err(SendError::Permanent(format!(
            "the webhook refused the message with HTTP {status}; check the channel's URL in weir.toml"
        ))),
    }
}

/// A reqwest error in words, without the URL it carries.
fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        format!("no answer within {}s", ATTEMPT_TIMEOUT.as_secs())
    } else if e.is_connect() {
        "the connection was refused or failed".to_string()
    } else {
        e.without_url().to_string()
    }
}

pub(super) async fn email(
    shared: &Shared,
    channel: &Channel,
    message: &Message,
) -> Result<(), SendError> {
    let Some(smtp) = &shared.platform.smtp else {
        return Err(SendError::Permanent(
            "weir.toml has no [smtp] table to send e-mail through".to_string(),
        ));
    };
    let transport = transport(shared, smtp).await?;
    let mut builder =
        lettre::Message::builder()
            .from(smtp.from.parse().map_err(|e| {
                SendError::Permanent(format!("[smtp] `from` is not an address: {e}"))
            })?)
            .subject(message.email_subject());
    for address in &channel.email {
        builder = builder.to(address
            .parse()
            .map_err(|e| SendError::Permanent(format!("`{address}` is not an address: {e}")))?);
    }
    let email = builder
        .header(ContentType::TEXT_PLAIN)
        .body(message.text())
        .map_err(|e| SendError::Permanent(format!("the e-mail cannot be built: {e}")))?;
    transport.send(email).await.map(|_| ()).map_err(|e| {
        let text = format!("the mail server at {}:{}: {e}", smtp.host, smtp.port());
        if e.is_permanent() {
            SendError::Permanent(text)
        } else {
            SendError::Transient(text)
        }
    })
}

async fn transport(
    shared: &Shared,
    smtp: &SmtpSettings,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
    let tls_error = |e: lettre::transport::smtp::Error| {
        SendError::Permanent(format!("[smtp] cannot set up TLS for `{}`: {e}", smtp.host))
    };
    let builder = match smtp.tls {
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
        SmtpTls::Starttls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host).map_err(tls_error)?
        }
        SmtpTls::Tls => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host).map_err(tls_error)?
        }
    };
    let mut builder = builder.port(smtp.port()).timeout(Some(ATTEMPT_TIMEOUT));
    if let (Some(user), Some(reference)) = (&smtp.username, &smtp.password_secret) {
        let (team, name) = reference.split_once('/').unwrap_or(("", reference));
        let password = shared
            .secrets
            .resolve(team, &[name])
            .await
            .map_err(|e| {
                SendError::Transient(format!(
                    "the SMTP password cannot be read: {e}; set it with `weir secrets set {team}/{name}`"
                ))
            })?
            .pop()
            .unwrap_or_default();
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    Ok(builder.build())
}
