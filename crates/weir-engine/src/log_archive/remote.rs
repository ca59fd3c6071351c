//! The S3 bucket of `[logs] store` (the `object_store` crate): the client, made once at
//! start from the settings and the credentials, and the three things done with it —
//! upload a log file, read a range of an archived log, delete one.
//!
//! Errors that reach the API say what failed in the user's words; the store's own
//! message (addresses, request ids) goes to the server's log only.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};
use tokio::io::AsyncWriteExt;
use tracing::warn;
use weir_core::platform::LogStoreUrl;

use crate::config::EngineConfig;
use crate::error::{EngineError, Result};

/// The region used when neither `[logs] region` nor the environment names one.
const DEFAULT_REGION: &str = "us-east-1";
/// Longest the start-up check of the bucket may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);
/// Logs up to this size are uploaded in one request, bigger ones in parts.
const SINGLE_PUT_BYTES: usize = 8 * 1024 * 1024;

/// The log store: one bucket, a key prefix.
pub(crate) struct Remote {
    store: Arc<AmazonS3>,
    url: LogStoreUrl,
    /// `s3://bucket/prefix`, for messages.
    shown: String,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("store", &self.shown)
            .finish()
    }
}

/// What `credentials_secret` holds.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyPair {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    session_token: Option<String>,
}

impl Remote {
    /// The client for `[logs] store`, after checking that the bucket answers: a wrong
    /// bucket, endpoint, region or credential stops the start with an error naming the
    /// settings.
    pub(crate) async fn connect(
        config: &EngineConfig,
        secrets: &weir_secrets::Secrets,
    ) -> Result<Remote> {
        let settings = &config.platform.logs;
        let store = settings.store.as_deref().unwrap_or_default();
        let url = LogStoreUrl::parse(store)
            .map_err(|e| EngineError::LogStore(format!("[logs] store: {e}")))?;
        let mut builder = AmazonS3Builder::new();
        let mut region_from_env = false;
        for (name, value) in &config.log_store_environment {
            if !super::LOG_STORE_ENVIRONMENT.contains(&name.as_str()) {
                continue;
            }
            if let Ok(key) = name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
                region_from_env |= key == AmazonS3ConfigKey::Region;
                builder = builder.with_config(key, value);
            }
        }
        if let Some(region) = &settings.region {
            builder = builder.with_region(region);
        } else if !region_from_env {
            builder = builder.with_region(DEFAULT_REGION);
        }
        if let Some(endpoint) = &settings.endpoint {
            // Another S3 service: path-style requests, plain HTTP when it says so.
            builder = builder
                .with_endpoint(endpoint.trim_end_matches('/'))
                .with_virtual_hosted_style_request(false);
        }
        if let Some(reference) = &settings.credentials_secret {
            let pair = key_pair(secrets, reference).await?;
            builder = builder
                .with_access_key_id(pair.access_key_id)
                .with_secret_access_key(pair.secret_access_key);
            if let Some(token) = pair.session_token {
                builder = builder.with_token(token);
            }
        }
        let store = builder
            .with_bucket_name(&url.bucket)
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(20),
                ..RetryConfig::default()
            })
            .with_client_options(
                ClientOptions::new()
                    // Plain HTTP only to an endpoint that says so (a local service).
                    .with_allow_http(
                        settings
                            .endpoint
                            .as_deref()
                            .is_some_and(|e| e.starts_with("http://")),
                    )
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(120)),
            )
            .build()
            .map_err(|e| {
                EngineError::LogStore(format!(
                    "[logs] store `{store}` cannot be used: {e}; check `store`, `endpoint` and `region`"
                ))
            })?;
        let remote = Remote {
            store: Arc::new(store),
            shown: format!("s3://{}/{}", url.bucket, url.prefix),
            url,
        };
        remote.check(settings.endpoint.as_deref()).await?;
        Ok(remote)
    }

    /// Lists the prefix once: the bucket exists, answers and lets us in.
    async fn check(&self, endpoint: Option<&str>) -> Result<()> {
        let prefix =
            (!self.url.prefix.is_empty()).then(|| ObjectPath::from(self.url.prefix.as_str()));
        let listed = tokio::time::timeout(
            CHECK_TIMEOUT,
            self.store.list_with_delimiter(prefix.as_ref()),
        )
        .await;
        let at = endpoint.map_or(String::new(), |e| format!(" at endpoint `{e}`"));
        let why = match listed {
            Ok(Ok(_)) => return Ok(()),
            // A list of a missing bucket is a plain error whose text has S3's code.
            Ok(Err(e))
                if matches!(e, object_store::Error::NotFound { .. })
                    || e.to_string().contains("NoSuchBucket") =>
            {
                format!(
                    "bucket `{}` does not exist{at}; create it, or fix `store`",
                    self.url.bucket
                )
            }
            Ok(Err(e))
                if [
                    "AccessDenied",
                    "InvalidAccessKeyId",
                    "SignatureDoesNotMatch",
                ]
                .iter()
                .any(|code| e.to_string().contains(code)) =>
            {
                format!(
                    "the bucket{at} refused the credentials: {e}; check `credentials_secret` (or the server's AWS_* variables) and the bucket's policy"
                )
            }
            Ok(Err(e)) => format!(
                "the bucket{at} cannot be listed: {e}; check `store`, `endpoint`, `region` and the credentials (`credentials_secret` or the server's AWS_* variables)"
            ),
            Err(_) => format!(
                "the bucket{at} did not answer within {}s; check `endpoint` and the network",
                CHECK_TIMEOUT.as_secs()
            ),
        };
        Err(EngineError::LogStore(format!(
            "[logs] store `{}`: {why}",
            self.shown
        )))
    }

    /// The object key of a try's log of `team`, and its recorded location.
    pub(crate) fn key(&self, team: &str, key: &weir_core::ids::TryKey) -> (String, String) {
        let object = self.url.key(team, key);
        let location = self.url.location(&object);
        (object, location)
    }

    /// Uploads the log file at `file` (already opened) as `object`; the bytes sent.
    pub(crate) async fn upload(&self, file: tokio::fs::File, object: &str) -> Result<u64> {
        let path = ObjectPath::from(object);
        let store: Arc<dyn ObjectStore> = self.store.clone();
        let mut writer = BufWriter::with_capacity(store, path, SINGLE_PUT_BYTES);
        let mut file = file;
        let sent = match tokio::io::copy(&mut file, &mut writer).await {
            Ok(n) => n,
            Err(e) => {
                // A multipart upload begun and not finished would be kept (and billed).
                let _ = writer.abort().await;
                return Err(self.failed("upload", object, &e));
            }
        };
        // A failed shutdown cannot be aborted any more (the writer refuses): a bucket
        // rule that expires incomplete multipart uploads cleans up after it.
        writer
            .shutdown()
            .await
            .map_err(|e| self.failed("upload", object, &e))?;
        Ok(sent)
    }

    /// The bytes `range` of the archived log at `location`.
    pub(crate) async fn read(&self, location: &str, range: Range<u64>) -> Result<Vec<u8>> {
        let object = self.object_of(location)?;
        match self.store.get_range(&ObjectPath::from(object), range).await {
            Ok(bytes) => Ok(bytes.to_vec()),
            Err(object_store::Error::NotFound { .. }) => Err(EngineError::NotFound(format!(
                "this try's archived log is missing from the log store ({location}): it was deleted outside Weir"
            ))),
            Err(e) => Err(self.failed("read", object, &e)),
        }
    }

    /// Deletes the archived log at `location` (one already gone is fine).
    pub(crate) async fn delete(&self, location: &str) -> Result<()> {
        let object = self.object_of(location)?;
        match self.store.delete(&ObjectPath::from(object)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed("delete", object, &e)),
        }
    }

    /// The object key of a recorded location, when it is in this store's bucket.
    fn object_of<'a>(&self, location: &'a str) -> Result<&'a str> {
        self.url.key_of(location).ok_or_else(|| {
            EngineError::LogStore(format!(
                "this try's log was archived to {location}, not to the configured `[logs] store` ({}); configure that bucket again to read it",
                self.shown
            ))
        })
    }

    /// The error of a failed request: the details to the server's log, a plain sentence
    /// to the caller.
    fn failed(&self, what: &str, object: &str, e: &dyn std::fmt::Display) -> EngineError {
        warn!(store = %self.shown, object, error = %e, "log store: cannot {what}");
        EngineError::LogStore(format!(
            "the log store ({}) cannot be reached right now (cannot {what} the log); try again later",
            self.shown
        ))
    }
}

/// The key pair in the secret `reference` (`team/name`).
async fn key_pair(secrets: &weir_secrets::Secrets, reference: &str) -> Result<KeyPair> {
    let (team, name) = reference.split_once('/').unwrap_or(("", reference));
    let value = secrets
        .resolve(team, &[name])
        .await
        .map_err(|e| {
            EngineError::LogStore(format!(
                "[logs] credentials_secret `{reference}` cannot be read: {e}; set it with `weir secrets set {reference}`"
            ))
        })?
        .pop()
        .unwrap_or_default();
    serde_json::from_str(&value).map_err(|_| {
        EngineError::LogStore(format!(
            "[logs] credentials_secret `{reference}` must hold JSON such as {{\"access_key_id\": \"…\", \"secret_access_key\": \"…\"}} (and optionally \"session_token\")"
        ))
    })
}

/// Opens the log at `path` for reading: None when there is none; an error for a link (a
/// task may have left one in its folder) or anything but a regular file.
pub(crate) async fn open_regular(path: &Path) -> std::io::Result<Option<tokio::fs::File>> {
    let mut options = tokio::fs::OpenOptions::new();
    options.read(true).custom_flags(libc::O_NOFOLLOW);
    let file = match options.open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !file.metadata().await?.is_file() {
        return Err(std::io::Error::other("the try's log is not a regular file"));
    }
    Ok(Some(file))
}
