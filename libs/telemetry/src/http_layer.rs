//! Server-side HTTP (axum) tracing and metrics.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use http::{HeaderMap, Method, Request, Response};
use tracing::Instrument as _;
use tracing::field::Empty;

use crate::metrics_admin::{HTTP_REQUEST_DURATION_SECONDS, HTTP_REQUESTS_TOTAL, metrics_handle};
use crate::propagation::adopt_remote_parent;

/// Route label for requests no route matched (also used when the layer sits outside the
/// router, where the matched route is not known yet).
pub(crate) const UNMATCHED: &str = "unmatched";

/// Tower layer tracing axum requests; see [`http_trace_layer`].
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpTraceLayer;

/// One `http.request` span and the `pmd_http_*` metrics per request.
///
/// Add it with [`axum::Router::layer`] (after the routes it should cover, or on the outer
/// router after `nest`/`merge`) so the matched route template is known:
///
/// ```
/// use axum::{Router, routing::get};
/// let app: Router = Router::new()
///     .route("/fhir/Observation/{id}", get(|| async { "ok" }))
///     .layer(pmd_telemetry::http_trace_layer());
/// ```
///
/// The span carries `method`, `route` (the matched template such as
/// `/fhir/Observation/{id}`, or `unmatched`), `status`, `latency_ms`, `trace_id` and a
/// well-formed `x-request-id` as `request_id`; it never records the raw path, the query, the
/// body or any other header. A W3C `traceparent` (+ `tracestate`) header becomes the parent.
/// Each request ends with one `request completed` log event (WARN for 5xx).
///
/// Also installs the process-wide metrics recorder (see [`crate::metrics_handle`]).
#[must_use]
pub fn http_trace_layer() -> HttpTraceLayer {
    let _ = metrics_handle();
    HttpTraceLayer
}

impl<S> tower::Layer<S> for HttpTraceLayer {
    type Service = HttpTrace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpTrace { inner }
    }
}

/// Service produced by [`HttpTraceLayer`].
#[derive(Debug, Clone)]
pub struct HttpTrace<S> {
    inner: S,
}

/// Bounded method label: standard methods, else `OTHER`.
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "OTHER",
    }
}

/// `x-request-id`, only when it looks like an opaque token (≤ 64 of `[A-Za-z0-9._-]`).
fn request_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("x-request-id")?.to_str().ok()?;
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    ok.then(|| value.to_owned())
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for HttpTrace<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<ResBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let start = Instant::now();
        let method = method_label(req.method());
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| UNMATCHED.to_owned(), |p| p.as_str().to_owned());
        let span = tracing::info_span!(
            "http.request",
            otel.name = %format_args!("{method} {route}"),
            otel.kind = "server",
            method,
            route = %route,
            request_id = request_id(req.headers()),
            status = Empty,
            latency_ms = Empty,
            trace_id = Empty,
        );
        adopt_remote_parent(&span, req.headers());

        let future = span.in_scope(|| self.inner.call(req));
        Box::pin(async move {
            let result = future.instrument(span.clone()).await;
            let elapsed = start.elapsed();
            // an error here never reaches the client as a response from this service;
            // count it as 500 (axum routes are infallible anyway)
            let status = result.as_ref().map_or(500, |res| res.status().as_u16());
            let latency_ms = elapsed.as_secs_f64() * 1000.0;
            span.record("status", status);
            span.record("latency_ms", latency_ms);

            metrics::counter!(
                HTTP_REQUESTS_TOTAL,
                "route" => route.clone(),
                "method" => method,
                "status" => status.to_string(),
            )
            .increment(1);
            metrics::histogram!(
                HTTP_REQUEST_DURATION_SECONDS,
                "route" => route,
                "method" => method,
            )
            .record(elapsed.as_secs_f64());

            span.in_scope(|| {
                if status >= 500 {
                    tracing::warn!("request completed");
                } else {
                    tracing::info!("request completed");
                }
            });
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_label_is_bounded() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(
            method_label(&Method::from_bytes(b"PROPFIND").unwrap_or(Method::GET)),
            "OTHER"
        );
    }

    #[test]
    fn request_id_only_when_token_like() {
        let mut h = HeaderMap::new();
        assert_eq!(request_id(&h), None);
        h.insert(
            "x-request-id",
            http::HeaderValue::from_static("abc-123_x.y"),
        );
        assert_eq!(request_id(&h).as_deref(), Some("abc-123_x.y"));
        h.insert(
            "x-request-id",
            http::HeaderValue::from_static("kari nordmann"),
        );
        assert_eq!(request_id(&h), None);
    }
}
