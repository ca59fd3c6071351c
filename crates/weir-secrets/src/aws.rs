//! A team's secrets in AWS Secrets Manager, under the team's name prefix
//! (`weir/<team>/` unless its settings give another).
//!
//! Weir keeps no copy: a value is read from AWS when a try starts, so a secret a team
//! sets or rotates in AWS itself is what its next try gets. Weir's own writes tag the
//! secret with who set it and a version count (`weir:created-by`, `weir:updated-by`,
//! `weir:version`), which is what the API shows as metadata.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, Tag};
use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;
use weir_core::platform::TeamSecrets;

use crate::{Result, SecretInfo, SecretsError};

const CREATED_BY: &str = "weir:created-by";
const UPDATED_BY: &str = "weir:updated-by";
const VERSION: &str = "weir:version";
const BACKEND: &str = "aws_secrets_manager";

/// One team's place in AWS Secrets Manager.
pub(crate) struct TeamVault {
    team: String,
    prefix: String,
    region: Option<String>,
    endpoint: Option<String>,
    client: OnceCell<Client>,
}

impl TeamVault {
    pub(crate) fn new(team: &str, settings: &TeamSecrets) -> Self {
        Self {
            team: team.to_owned(),
            prefix: settings
                .prefix
                .clone()
                .unwrap_or_else(|| format!("weir/{team}/")),
            region: settings.region.clone(),
            endpoint: settings.endpoint.clone(),
            client: OnceCell::new(),
        }
    }

    /// The SDK client, made on first use (the credential chain and region are read then).
    async fn client(&self) -> &Client {
        self.client
            .get_or_init(|| async {
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
                if let Some(region) = &self.region {
                    loader = loader.region(aws_config::Region::new(region.clone()));
                }
                if let Some(endpoint) = &self.endpoint {
                    loader = loader.endpoint_url(endpoint.clone());
                }
                Client::new(&loader.load().await)
            })
            .await
    }

    fn full_name(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn error<E>(
        &self,
        context: &str,
        err: &aws_sdk_secretsmanager::error::SdkError<E>,
    ) -> SecretsError
    where
        E: std::error::Error + ProvideErrorMetadata + 'static,
    {
        let detail = match err.as_service_error() {
            Some(service) => format!(
                "{}: {}",
                service.code().unwrap_or("error"),
                service.message().unwrap_or("no message")
            ),
            None => format!("{}", DisplayErrorContext(err)),
        };
        SecretsError::Aws {
            context: format!("{context} for team `{}`", self.team),
            detail,
        }
    }

    /// The metadata of one secret; None when it does not exist.
    pub(crate) async fn describe(&self, name: &str) -> Result<Option<SecretInfo>> {
        let client = self.client().await;
        match client
            .describe_secret()
            .secret_id(self.full_name(name))
            .send()
            .await
        {
            Ok(out) => Ok(Some(self.info(
                name,
                out.created_date.as_ref(),
                out.last_changed_date.as_ref(),
                out.tags(),
            ))),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.error("describing a secret", &e)),
        }
    }

    pub(crate) async fn put(&self, name: &str, value: &str, actor: &str) -> Result<SecretInfo> {
        let client = self.client().await;
        let full = self.full_name(name);
        let existing = self.describe(name).await?;
        match &existing {
            None => {
                client
                    .create_secret()
                    .name(&full)
                    .secret_string(value)
                    .tags(tag(CREATED_BY, actor))
                    .tags(tag(UPDATED_BY, actor))
                    .tags(tag(VERSION, "1"))
                    .tags(tag("weir:team", &self.team))
                    .send()
                    .await
                    .map_err(|e| self.error("creating a secret", &e))?;
            }
            Some(info) => {
                client
                    .put_secret_value()
                    .secret_id(&full)
                    .secret_string(value)
                    .send()
                    .await
                    .map_err(|e| self.error("setting a secret", &e))?;
                let version = info.version.unwrap_or(1) + 1;
                client
                    .tag_resource()
                    .secret_id(&full)
                    .tags(tag(UPDATED_BY, actor))
                    .tags(tag(VERSION, &version.to_string()))
                    .send()
                    .await
                    .map_err(|e| self.error("tagging a secret", &e))?;
            }
        }
        self.describe(name).await?.ok_or_else(|| SecretsError::Aws {
            context: format!("setting a secret for team `{}`", self.team),
            detail: format!("`{full}` was written but cannot be found"),
        })
    }

    pub(crate) async fn list(&self) -> Result<Vec<SecretInfo>> {
        let client = self.client().await;
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = client
                .list_secrets()
                .filters(
                    Filter::builder()
                        .key(FilterNameStringType::Name)
                        .values(&self.prefix)
                        .build(),
                )
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| self.error("listing secrets", &e))?;
            for entry in page.secret_list() {
                // The name filter matches a prefix of words, not of characters: check.
                let Some(name) = entry.name().and_then(|n| n.strip_prefix(&self.prefix)) else {
                    continue;
                };
                if weir_core::secrets::check_name(name).is_err() {
                    continue;
                }
                out.push(self.info(
                    name,
                    entry.created_date.as_ref(),
                    entry.last_changed_date.as_ref(),
                    entry.tags(),
                ));
            }
            match page.next_token {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub(crate) async fn delete(&self, name: &str) -> Result<bool> {
        if self.describe(name).await?.is_none() {
            return Ok(false);
        }
        self.client()
            .await
            .delete_secret()
            .secret_id(self.full_name(name))
            .force_delete_without_recovery(true)
            .send()
            .await
            .map_err(|e| self.error("deleting a secret", &e))?;
        Ok(true)
    }

    pub(crate) async fn read(&self, name: &str) -> Result<Option<String>> {
        let client = self.client().await;
        match client
            .get_secret_value()
            .secret_id(self.full_name(name))
            .send()
            .await
        {
            Ok(out) => Ok(out.secret_string),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.error("reading a secret", &e)),
        }
    }

    fn info(
        &self,
        name: &str,
        created: Option<&aws_sdk_secretsmanager::primitives::DateTime>,
        changed: Option<&aws_sdk_secretsmanager::primitives::DateTime>,
        tags: &[Tag],
    ) -> SecretInfo {
        let tag_value = |key: &str| {
            tags.iter()
                .find(|t| t.key() == Some(key))
                .and_then(|t| t.value())
                .map(str::to_owned)
        };
        SecretInfo {
            team: self.team.clone(),
            name: name.to_owned(),
            backend: BACKEND,
            version: tag_value(VERSION).and_then(|v| v.parse().ok()),
            created_at: created.and_then(to_chrono),
            created_by: tag_value(CREATED_BY),
            updated_at: changed.or(created).and_then(to_chrono),
            updated_by: tag_value(UPDATED_BY),
        }
    }
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

fn to_chrono(t: &aws_sdk_secretsmanager::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}
