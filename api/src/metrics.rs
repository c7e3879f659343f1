//! Prometheus metrics at `GET /metrics`: HTTP requests by route and status, journal append
//! latency, and whatever the engine records (runs by workflow, step durations) through the
//! `metrics` facade. Labels are bounded: routes are matched templates, never raw paths.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use async_trait::async_trait;
use axum::extract::{MatchedPath, Request};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use journal::{
    AppendResult, EventStore, ExpectedVersion, ImportResult, NewEvent, Position, RecordedEvent,
    Seq, StoreError, StreamInfo, StreamName,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::sync::watch;

/// The node id every series carries as its `node` label (`install_for_node`).
static NODE: OnceLock<String> = OnceLock::new();

/// The process-wide recorder: one per process, installed by the first `AppState`.
fn handle() -> &'static Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = match NODE.get() {
            Some(node) => PrometheusBuilder::new().add_global_label("node", node),
            None => PrometheusBuilder::new(),
        };
        match builder.install_recorder() {
            Ok(handle) => Some(handle),
            Err(error) => {
                tracing::warn!(%error, "metrics recorder not installed");
                None
            }
        }
    })
}

/// Installs the recorder with every series labelled `node="{node}"` (the server's node id),
/// unless one is installed already; call it before anything records.
pub fn install_for_node(node: &str) {
    let _ = NODE.set(node.to_owned());
    install();
}

/// Installs the recorder if it is not yet installed.
pub fn install() {
    let _ = handle();
}

/// The derived stores whose rebuilds are counted.
const DERIVED_STORES: [&str; 3] = ["index", "readmodels", "snapshots"];

/// Counts one rebuild of derived state from the journal, by store and reason, in
/// `duro_derived_rebuilds_total`. Every store and reason is shown from the start, at 0, so a
/// dashboard or alert sees the series before the first rebuild.
pub fn record_rebuilds(rebuilds: &[&journal::Rebuild]) {
    install();
    for store in DERIVED_STORES {
        for reason in journal::RebuildReason::ALL {
            let count = rebuilds
                .iter()
                .filter(|r| r.store == store && r.reason == reason)
                .count() as u64;
            metrics::counter!(
                "duro_derived_rebuilds_total",
                "store" => store,
                "reason" => reason.label()
            )
            .increment(count);
        }
    }
}

/// Metrics
///
/// No API key. Prometheus metrics in the text exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format.", body = String, content_type = "text/plain; version=0.0.4; charset=utf-8")),
    security(())
)]
pub async fn render() -> Response {
    let text = handle().as_ref().map(|h| h.render()).unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Middleware: counts every request by method, matched route and status, and times it.
pub async fn track_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("duro_http_requests_total", &labels).increment(1);
    metrics::histogram!("duro_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Records an append's latency by outcome, and the events it wrote.
fn timed(
    started: Instant,
    count: u64,
    result: Result<AppendResult, StoreError>,
) -> Result<AppendResult, StoreError> {
    let outcome = match &result {
        Ok(_) => "ok",
        Err(StoreError::Conflict { .. }) => "conflict",
        Err(StoreError::Fenced { .. }) => "fenced",
        Err(_) => "error",
    };
    metrics::histogram!("duro_journal_append_seconds", "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
    if result.is_ok() {
        metrics::counter!("duro_journal_events_appended_total").increment(count);
    }
    result
}

/// An `EventStore` that times every append (`duro_journal_append_seconds`).
pub struct MeteredStore {
    inner: Arc<dyn EventStore>,
}

impl MeteredStore {
    pub fn wrap(inner: Arc<dyn EventStore>) -> Arc<dyn EventStore> {
        Arc::new(MeteredStore { inner })
    }
}

#[async_trait]
impl EventStore for MeteredStore {
    async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        let started = Instant::now();
        let count = events.len() as u64;
        let result = self.inner.append(stream, expected, events).await;
        timed(started, count, result)
    }

    async fn append_fenced(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        fence: &journal::Fence,
    ) -> Result<AppendResult, StoreError> {
        let started = Instant::now();
        let count = events.len() as u64;
        let result = self
            .inner
            .append_fenced(stream, expected, events, fence)
            .await;
        timed(started, count, result)
    }

    async fn import(&self, events: Vec<RecordedEvent>) -> Result<ImportResult, StoreError> {
        self.inner.import(events).await
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        from: Seq,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(stream, from, limit).await
    }

    async fn read_all(
        &self,
        from: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(from, limit).await
    }

    async fn stream_version(&self, stream: &StreamName) -> Result<u64, StoreError> {
        self.inner.stream_version(stream).await
    }

    async fn list_streams(
        &self,
        prefix: &str,
        after: Option<&StreamName>,
        limit: usize,
    ) -> Result<Vec<StreamInfo>, StoreError> {
        self.inner.list_streams(prefix, after, limit).await
    }

    fn subscribe(&self) -> watch::Receiver<Position> {
        self.inner.subscribe()
    }
}
