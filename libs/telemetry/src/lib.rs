//! Telemetry for every PMD service: logs, traces and metrics.
//!
//! * **Logs** go through [`tracing`] to **stderr** (stdout is reserved for the short
//!   machine-readable lines of the `pmd` command): JSON when stderr is not a terminal
//!   (containers), human-readable otherwise.
//! * **Traces**: every span gets a W3C trace id from an OpenTelemetry SDK tracer provider
//!   (always on, even without an exporter, so ids can be propagated and audited); spans are
//!   exported by OTLP/gRPC only when an endpoint is configured. The W3C `traceparent` header
//!   is carried HTTP → edge → gRPC → gRPC by [`http_trace_layer`], [`grpc_trace_layer`] and
//!   [`PropagateTraceLayer`] / [`inject_trace_context`].
//! * **Metrics**: one process-wide Prometheus recorder ([`metrics_handle`]), served on the
//!   admin port by [`metrics_router`] / [`serve_admin`].
//!
//! Nothing here records personal data: request spans and metric labels hold the matched
//! route template (never the raw path), never the query string, the body or headers other
//! than a small allowlist. Use [`redact_query`] when a URI must be logged.
//!
//! # Wiring a service
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use pmd_telemetry::{TelemetryConfig, grpc_trace_layer, http_trace_layer, PropagateTraceLayer};
//!
//! // 1. telemetry first (inside the Tokio runtime when OTLP export is on)
//! let env: std::collections::HashMap<String, String> = std::env::vars().collect();
//! let guard = pmd_telemetry::init(TelemetryConfig::from_env_map("storage", &env)?)?;
//!
//! // 2. gRPC server: one span + metrics per call, parent taken from `traceparent`
//! // tonic::transport::Server::builder().layer(grpc_trace_layer("storage")).add_service(svc)
//! let _layer = grpc_trace_layer("storage");
//!
//! // 3. REST (axum): add the layer with `Router::layer` so the matched route is known
//! let _app: axum::Router = axum::Router::new()
//!     .route("/fhir/Observation/{id}", axum::routing::get(|| async { "ok" }))
//!     .layer(http_trace_layer());
//!
//! // 4. outgoing gRPC: propagate the current trace
//! let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:50051").connect_lazy();
//! let _traced = tower::ServiceBuilder::new().layer(PropagateTraceLayer).service(channel);
//! // or: MyClient::with_interceptor(channel, pmd_telemetry::inject_trace_context)
//!
//! // 5. admin port: /metrics (+ whatever the service adds, e.g. health)
//! let admin = tokio::net::TcpListener::bind("127.0.0.1:9100").await?;
//! tokio::spawn(pmd_telemetry::serve_admin(admin, axum::Router::new(), std::future::pending()));
//!
//! // 6. on shutdown: flush spans
//! guard.shutdown();
//! # Ok(()) }
//! ```

mod config;
mod grpc;
mod http_layer;
mod init;
mod metrics_admin;
mod propagation;
mod redact;

pub use config::{LogFormat, TelemetryConfig};
pub use grpc::{GrpcTrace, GrpcTraceLayer, grpc_trace_layer};
pub use http_layer::{HttpTrace, HttpTraceLayer, http_trace_layer};
pub use init::{TelemetryGuard, init, subscriber_with_writer};
pub use metrics_admin::{
    GRPC_REQUEST_DURATION_SECONDS, GRPC_REQUESTS_TOTAL, HTTP_REQUEST_DURATION_SECONDS,
    HTTP_REQUESTS_TOTAL, metrics_handle, metrics_router, serve_admin,
};
pub use propagation::{
    PropagateTrace, PropagateTraceLayer, current_trace_id, inject_trace_context,
    inject_trace_headers,
};
pub use redact::redact_query;

/// Errors raised while setting up telemetry.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The log filter (`RUST_LOG` / `PMD_LOG` syntax) could not be parsed.
    #[error("invalid log filter {filter:?}: {message}")]
    InvalidLogFilter {
        /// The filter as given.
        filter: String,
        /// Why it was rejected.
        message: String,
    },
    /// `PMD_LOG_FORMAT` holds something other than `auto`, `json` or `pretty`.
    #[error("invalid log format {0:?}: expected auto, json or pretty")]
    InvalidLogFormat(String),
    /// The OTLP exporter could not be built (bad endpoint, ...).
    #[error("otlp exporter: {0}")]
    Exporter(String),
    /// OTLP export over gRPC needs a Tokio runtime at init time.
    #[error("otlp export needs a tokio runtime: call init from inside one")]
    NoRuntime,
    /// Flushing or shutting down the tracer provider failed.
    #[error("tracer provider shutdown: {0}")]
    Shutdown(String),
    /// The admin server failed.
    #[error("admin server: {0}")]
    Io(#[from] std::io::Error),
}
