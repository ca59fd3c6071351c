//! The SDK clients of one `aws-batch` compute environment (Batch and CloudWatch Logs,
//! made on first use from the environment's region and endpoint) and the reading of the
//! SDK's errors: throttling, "not found", "the service refused", "no answer".

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_batch::config::http::HttpResponse;
use aws_sdk_batch::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use tokio::sync::OnceCell;
use weir_core::platform::AwsBatchSettings;

use crate::error::ComputeError;

/// The backend's name, as in a compute environment's `backend`.
pub const BACKEND: &str = "aws-batch";

/// The two clients of one environment.
#[derive(Debug, Clone)]
pub struct Clients {
    pub batch: aws_sdk_batch::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
}

/// How the SDK is set up: its own retries (on top of which the poller backs off) and
/// the longest wait for one call.
#[derive(Debug, Clone, Copy)]
pub struct SdkSettings {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub call_timeout: Duration,
}

/// The clients of one environment, made once, on first use (the credential chain and
/// region are read then, so a backend can be built while AWS is unreachable).
#[derive(Debug)]
pub struct LazyClients {
    settings: AwsBatchSettings,
    sdk: SdkSettings,
    cell: OnceCell<Arc<Clients>>,
}

impl LazyClients {
    pub fn new(settings: AwsBatchSettings, sdk: SdkSettings) -> Self {
        Self {
            settings,
            sdk,
            cell: OnceCell::new(),
        }
    }

    pub async fn get(&self) -> Arc<Clients> {
        self.cell
            .get_or_init(|| async {
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .retry_config(
                        RetryConfig::standard()
                            .with_max_attempts(self.sdk.max_attempts.max(1))
                            .with_initial_backoff(self.sdk.initial_backoff),
                    )
                    .timeout_config(
                        TimeoutConfig::builder()
                            .operation_attempt_timeout(self.sdk.call_timeout)
                            .build(),
                    );
                if let Some(region) = &self.settings.region {
                    loader = loader.region(aws_config::Region::new(region.clone()));
                }
                if let Some(endpoint) = &self.settings.endpoint {
                    loader = loader.endpoint_url(endpoint.clone());
                }
                let config = loader.load().await;
                Arc::new(Clients {
                    batch: aws_sdk_batch::Client::new(&config),
                    logs: aws_sdk_cloudwatchlogs::Client::new(&config),
                })
            })
            .await
            .clone()
    }
}

/// What kind of failure an SDK call met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// HTTP 429, `TooManyRequestsException`, `ThrottlingException`: slow down, retry.
    Throttled(String),
    /// The service answered no (a bad request, a missing resource): `code`, message.
    Refused { code: String, detail: String },
    /// No answer (connection refused, timeout, a 5xx): retry later.
    NoAnswer(String),
}

impl Failure {
    /// Reads an SDK error.
    pub fn of<E>(err: &SdkError<E, HttpResponse>) -> Failure
    where
        E: std::error::Error + ProvideErrorMetadata + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = err.code().unwrap_or_default().to_owned();
        let message = err.message().unwrap_or_default().to_owned();
        if status == Some(429)
            || matches!(
                code.as_str(),
                "TooManyRequestsException" | "ThrottlingException" | "Throttling"
            )
        {
            return Failure::Throttled(format!("{code} {message}").trim().to_owned());
        }
        match (err, status) {
            (SdkError::ServiceError(_), Some(s)) if (400..500).contains(&s) => Failure::Refused {
                code: if code.is_empty() {
                    format!("HTTP {s}")
                } else {
                    code
                },
                detail: message,
            },
            _ => Failure::NoAnswer(format!("{}", DisplayErrorContext(err))),
        }
    }

    /// Whether Batch said the thing asked about does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Failure::Refused { code, .. } if code == "ResourceNotFoundException")
    }

    /// The failure as the crate's error, for `action` (e.g. "submit the job").
    pub fn into_error(self, action: &str) -> ComputeError {
        match self {
            Failure::Throttled(detail) | Failure::NoAnswer(detail) => {
                ComputeError::BackendUnavailable {
                    backend: BACKEND,
                    detail: format!("cannot {action}: {detail}"),
                }
            }
            Failure::Refused { code, detail } => ComputeError::Backend {
                backend: BACKEND,
                action: action.to_owned(),
                detail: format!("{code}: {detail}"),
            },
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Throttled(d) => write!(f, "throttled: {d}"),
            Failure::Refused { code, detail } => write!(f, "{code}: {detail}"),
            Failure::NoAnswer(d) => write!(f, "no answer: {d}"),
        }
    }
}
