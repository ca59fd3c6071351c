//! Sending finished spans to the collector, off the scheduler's path: a bounded queue
//! that never blocks its sender (a full queue drops the span and says so), and one
//! background task that posts what the queue holds as one batch (OTLP/HTTP, protobuf,
//! opentelemetry-otlp's exporter on the workspace's reqwest), logging failures.
//!
//! Spans are few (one per run and per try), so a batch goes out as soon as the task
//! is free: there is no timer to wait for, and under load the spans that arrive while
//! one batch is posted make the next one. Shutdown posts what is queued, within
//! [`FLUSH_TIMEOUT`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::warn;
use weir_core::platform::TracingSettings;

/// Most spans waiting to be sent; past it new spans are dropped (and counted).
const QUEUE: usize = 4096;
/// Most spans in one export request.
const MAX_BATCH: usize = 512;
/// How long one export request may take (retries included, by the exporter).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for the queued spans to be sent.
pub(super) const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The queue and the task that empties it.
pub(super) struct Exporter {
    tx: mpsc::Sender<SpanData>,
    dropped: AtomicU64,
    stop: CancellationToken,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Exporter {
    /// Builds the OTLP exporter and starts its task (on the current tokio runtime).
    pub(super) fn start(settings: &TracingSettings) -> Result<Exporter, String> {
        let headers: HashMap<String, String> = settings
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(settings.traces_url())
            .with_timeout(EXPORT_TIMEOUT)
            .with_headers(headers)
            .build()
            .map_err(|e| e.to_string())?;
        exporter.set_resource(
            &Resource::builder_empty()
                .with_service_name(settings.service_name.clone())
                .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
                .build(),
        );
        let (tx, rx) = mpsc::channel(QUEUE);
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(exporter, rx, stop.clone()));
        Ok(Exporter {
            tx,
            dropped: AtomicU64::new(0),
            stop,
            task: Mutex::new(Some(task)),
        })
    }

    /// Queues a finished span; never waits.
    pub(super) fn send(&self, span: SpanData) {
        if self.tx.try_send(span).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // Once, then every thousandth: a collector that is down must not flood the log.
            if dropped == 1 || dropped.is_multiple_of(1000) {
                warn!(
                    dropped,
                    "the trace export queue is full (is the OTLP endpoint reachable?); spans are dropped"
                );
            }
        }
    }

    /// Sends what is queued, then stops the task; gives up after [`FLUSH_TIMEOUT`].
    pub(super) async fn shutdown(&self) {
        self.stop.cancel();
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(mut task) = task
            && tokio::time::timeout(FLUSH_TIMEOUT, &mut task)
                .await
                .is_err()
        {
            task.abort();
            warn!(
                "traces not yet exported at shutdown are dropped (the OTLP endpoint did not answer in time)"
            );
        }
    }
}

async fn run(
    exporter: opentelemetry_otlp::SpanExporter,
    mut rx: mpsc::Receiver<SpanData>,
    stop: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            span = rx.recv() => span,
            _ = stop.cancelled() => None,
        };
        let Some(first) = first else { break };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(span) => batch.push(span),
                Err(_) => break,
            }
        }
        export(&exporter, batch).await;
    }
    // Stopping: what is still queued goes out too.
    let mut batch = Vec::new();
    while let Ok(span) = rx.try_recv() {
        batch.push(span);
        if batch.len() == MAX_BATCH {
            export(&exporter, std::mem::take(&mut batch)).await;
        }
    }
    if !batch.is_empty() {
        export(&exporter, batch).await;
    }
    let _ = exporter.shutdown();
}

async fn export(exporter: &opentelemetry_otlp::SpanExporter, batch: Vec<SpanData>) {
    let spans = batch.len();
    if let Err(e) = exporter.export(batch).await {
        warn!(spans, error = %e, "cannot export spans to the OTLP endpoint; they are dropped");
    }
}
