//! W3C TraceContext propagation (`traceparent` / `tracestate`) over HTTP headers and gRPC
//! metadata.
//!
//! The W3C propagator is used directly (not the global one) so propagation works the same
//! whether or not [`crate::init`] ran.

use std::task::{Context as TaskContext, Poll};

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// The remote parent context carried by `traceparent`/`tracestate` in `headers`, if valid.
pub(crate) fn extract_remote_context(headers: &HeaderMap) -> Option<opentelemetry::Context> {
    if !headers.contains_key("traceparent") {
        return None;
    }
    let cx = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    cx.span().span_context().is_valid().then_some(cx)
}

/// The OpenTelemetry context of the current `tracing` span (falling back to the current
/// OpenTelemetry context), if it carries a valid span.
fn current_context() -> Option<opentelemetry::Context> {
    let cx = tracing::Span::current().context();
    if cx.span().span_context().is_valid() {
        return Some(cx);
    }
    let cx = opentelemetry::Context::current();
    cx.span().span_context().is_valid().then_some(cx)
}

/// Hex trace id (32 lowercase hex digits) of the current span, as recorded by the audit log.
///
/// `None` outside any span, or when no OpenTelemetry layer is installed (neither [`crate::init`]
/// nor [`crate::subscriber_with_writer`]).
#[must_use]
pub fn current_trace_id() -> Option<String> {
    current_context().map(|cx| cx.span().span_context().trace_id().to_string())
}

/// Writes the current span's context as `traceparent` (and `tracestate` when non-empty) into
/// `headers`. Does nothing outside a traced span.
pub fn inject_trace_headers(headers: &mut HeaderMap) {
    if let Some(cx) = current_context() {
        TraceContextPropagator::new().inject_context(&cx, &mut HeaderInjector(headers));
    }
}

/// tonic interceptor injecting the current span's context as `traceparent` into an outgoing
/// gRPC request.
///
/// ```no_run
/// # fn demo(channel: tonic::transport::Channel) {
/// // let client = StorageClient::with_interceptor(channel, pmd_telemetry::inject_trace_context);
/// let _svc = tonic::service::interceptor::InterceptedService::new(
///     channel,
///     pmd_telemetry::inject_trace_context,
/// );
/// # }
/// ```
///
/// Call the client from inside the request's span (e.g. in an axum handler or tonic method
/// running under [`crate::http_trace_layer`] / [`crate::grpc_trace_layer`]).
///
/// # Errors
///
/// Never fails; the `Result` is what tonic's interceptor signature asks for.
#[allow(clippy::result_large_err)]
pub fn inject_trace_context(
    mut req: tonic::Request<()>,
) -> Result<tonic::Request<()>, tonic::Status> {
    inject_trace_headers(req.metadata_mut().as_mut());
    Ok(req)
}

/// Tower layer injecting the current span's context as `traceparent` into every outgoing
/// HTTP/gRPC request; wrap a `tonic::transport::Channel` with it:
///
/// ```no_run
/// # fn demo(channel: tonic::transport::Channel) {
/// use pmd_telemetry::PropagateTraceLayer;
/// let traced = tower::ServiceBuilder::new().layer(PropagateTraceLayer).service(channel);
/// // let client = StorageClient::new(traced);
/// # let _ = traced;
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct PropagateTraceLayer;

impl<S> tower::Layer<S> for PropagateTraceLayer {
    type Service = PropagateTrace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PropagateTrace { inner }
    }
}

/// Service produced by [`PropagateTraceLayer`].
#[derive(Debug, Clone)]
pub struct PropagateTrace<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for PropagateTrace<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        inject_trace_headers(req.headers_mut());
        self.inner.call(req)
    }
}

/// Makes `span` a child of the remote context in `headers` (if any) and records its trace id
/// in the span's `trace_id` field, so log lines inside the request carry it.
pub(crate) fn adopt_remote_parent(span: &tracing::Span, headers: &HeaderMap) {
    if let Some(cx) = extract_remote_context(headers) {
        // fails only without an OpenTelemetry layer; then there is nothing to parent
        let _ = span.set_parent(cx);
    }
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    if sc.is_valid() {
        span.record("trace_id", tracing::field::display(sc.trace_id()));
    }
}
