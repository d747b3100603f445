//! The process-wide Prometheus recorder and the admin HTTP port.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::TelemetryError;

/// Counter `{route, method, status}`: HTTP requests served.
pub const HTTP_REQUESTS_TOTAL: &str = "pmd_http_requests_total";
/// Histogram `{route, method}`: HTTP request latency (until response headers), seconds.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "pmd_http_request_duration_seconds";
/// Counter `{service, method, code}`: gRPC calls served.
pub const GRPC_REQUESTS_TOTAL: &str = "pmd_grpc_requests_total";
/// Histogram `{service, method}`: gRPC call latency (until the status is sent), seconds.
pub const GRPC_REQUEST_DURATION_SECONDS: &str = "pmd_grpc_request_duration_seconds";

/// Latency buckets (seconds) for every `*_duration_seconds` histogram.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How often [`serve_admin`] runs recorder upkeep.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

fn build_handle() -> PrometheusHandle {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_duration_seconds".to_owned()),
            DURATION_BUCKETS,
        )
        .unwrap_or_else(|_| PrometheusBuilder::new());
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        // Another recorder owns the `metrics` facade: our handle stays valid but empty.
        tracing::warn!("a global metrics recorder was already installed; /metrics will be empty");
    }
    describe();
    handle
}

fn describe() {
    metrics::describe_counter!(HTTP_REQUESTS_TOTAL, "HTTP requests served");
    metrics::describe_histogram!(
        HTTP_REQUEST_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "HTTP request latency until the response headers"
    );
    metrics::describe_counter!(GRPC_REQUESTS_TOTAL, "gRPC calls served");
    metrics::describe_histogram!(
        GRPC_REQUEST_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "gRPC call latency until the status is sent"
    );
}

/// The process-wide Prometheus handle; installs the global `metrics` recorder on first use
/// (every later call, from any service in the process, returns the same handle).
pub fn metrics_handle() -> PrometheusHandle {
    HANDLE.get_or_init(build_handle).clone()
}

async fn render_metrics() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics_handle().render(),
    )
}

/// `GET /metrics` in Prometheus text format.
pub fn metrics_router() -> Router {
    // make sure the recorder exists before the first scrape
    let _ = metrics_handle();
    Router::new().route("/metrics", get(render_metrics))
}

/// Serves the admin port: [`metrics_router`] merged with `extra` (health, ...), until
/// `shutdown` resolves. Also runs the recorder's periodic upkeep meanwhile.
///
/// # Errors
///
/// [`TelemetryError::Io`] when serving fails.
pub async fn serve_admin(
    listener: tokio::net::TcpListener,
    extra: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), TelemetryError> {
    let handle = metrics_handle();
    let upkeep = tokio::spawn(async move {
        let mut interval = tokio::time::interval(UPKEEP_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            handle.run_upkeep();
        }
    });
    let app = metrics_router().merge(extra);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    upkeep.abort();
    result.map_err(TelemetryError::from)
}
