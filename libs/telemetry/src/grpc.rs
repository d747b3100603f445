//! Server-side gRPC (tonic) tracing and metrics.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use tonic::codegen::{Body as HttpBody, Bytes, StdError};
use tracing::Instrument as _;
use tracing::field::Empty;

use crate::metrics_admin::{GRPC_REQUEST_DURATION_SECONDS, GRPC_REQUESTS_TOTAL, metrics_handle};
use crate::propagation::adopt_remote_parent;

/// Label used for a service/method that is not a plausible gRPC name, or that the server
/// does not implement.
const UNKNOWN: &str = "unknown";

const CODE_CANCELLED: i32 = 1;
const CODE_UNKNOWN: i32 = 2;
const CODE_UNIMPLEMENTED: i32 = 12;

/// Canonical gRPC status code names, indexed by code.
const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

fn code_name(code: i32) -> &'static str {
    usize::try_from(code)
        .ok()
        .and_then(|i| CODE_NAMES.get(i))
        .copied()
        .unwrap_or("UNKNOWN")
}

/// Codes that point at a server-side problem (logged at WARN).
fn is_server_error(code: i32) -> bool {
    matches!(code, 2 | 4 | 13 | 14 | 15)
}

fn grpc_status(headers: &HeaderMap) -> Option<i32> {
    let code = headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .trim()
        .parse::<i32>()
        .ok()?;
    Some(if (0..=16).contains(&code) {
        code
    } else {
        CODE_UNKNOWN
    })
}

/// gRPC code for a non-200 HTTP response without `grpc-status` (gRPC HTTP mapping).
fn code_from_http(status: StatusCode) -> i32 {
    match status.as_u16() {
        400 => 13,
        401 => 16,
        403 => 7,
        404 => CODE_UNIMPLEMENTED,
        429 | 502 | 503 | 504 => 14,
        _ => CODE_UNKNOWN,
    }
}

/// A plausible proto name: starts with a letter or `_` (so never a national id), ≤ 128 of
/// `[A-Za-z0-9._]`.
fn is_grpc_name(s: &str) -> bool {
    s.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_'))
}

/// `/pkg.Service/Method` → (`pkg.Service`, `Method`); anything else → (`unknown`, `unknown`).
fn parse_grpc_path(path: &str) -> (String, String) {
    path.strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .filter(|(s, m)| is_grpc_name(s) && is_grpc_name(m))
        .map_or_else(
            || (UNKNOWN.to_owned(), UNKNOWN.to_owned()),
            |(s, m)| (s.to_owned(), m.to_owned()),
        )
}

/// Tower layer tracing a tonic server; see [`grpc_trace_layer`].
#[derive(Debug, Clone)]
pub struct GrpcTraceLayer {
    service_name: Arc<str>,
}

/// One `grpc.request` span and the `pmd_grpc_*` metrics per call, for a tonic server:
///
/// ```no_run
/// # async fn demo() -> Result<(), tonic::transport::Error> {
/// let (_reporter, health) = tonic_health::server::health_reporter();
/// tonic::transport::Server::builder()
///     .layer(pmd_telemetry::grpc_trace_layer("storage"))
///     .add_service(health)
///     .serve("127.0.0.1:50051".parse().unwrap())
///     .await
/// # }
/// ```
///
/// `service_name` is the PMD service (`storage`, `consent`, ...), recorded as `pmd.service`.
/// The span carries `rpc.service` / `rpc.method` (from the path `/pkg.Service/Method`),
/// `rpc.grpc.status_code`, `latency_ms` and `trace_id`; a W3C `traceparent` metadata entry
/// becomes the parent. The status comes from the `grpc-status` header of trailers-only
/// responses (tonic's way of returning errors) or from the trailers at the end of the body;
/// a body dropped before its trailers counts as `CANCELLED`. Latency runs until the status
/// is sent, so it covers streaming responses.
///
/// Metrics: `pmd_grpc_requests_total{service,method,code}` (code as canonical name, e.g.
/// `OK`, `NOT_FOUND`) and `pmd_grpc_request_duration_seconds{service,method}`. To keep label
/// sets bounded, paths that are not plausible gRPC names, and trailers-only `UNIMPLEMENTED`
/// answers (what tonic sends for unknown services/methods), are labelled `unknown`.
///
/// Also installs the process-wide metrics recorder (see [`crate::metrics_handle`]).
#[must_use]
pub fn grpc_trace_layer(service_name: impl Into<String>) -> GrpcTraceLayer {
    let _ = metrics_handle();
    GrpcTraceLayer {
        service_name: Arc::from(service_name.into()),
    }
}

impl<S> tower::Layer<S> for GrpcTraceLayer {
    type Service = GrpcTrace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcTrace {
            inner,
            service_name: Arc::clone(&self.service_name),
        }
    }
}

/// Service produced by [`GrpcTraceLayer`].
#[derive(Debug, Clone)]
pub struct GrpcTrace<S> {
    inner: S,
    service_name: Arc<str>,
}

/// Records the end of one call exactly once (on status, or when dropped early).
struct Completion {
    span: tracing::Span,
    service: String,
    method: String,
    start: Instant,
    done: bool,
}

impl Completion {
    fn finish(&mut self, code: i32, unimplemented_is_unknown: bool) {
        if self.done {
            return;
        }
        self.done = true;
        let elapsed = self.start.elapsed();
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        self.span.record("rpc.grpc.status_code", code);
        self.span.record("latency_ms", latency_ms);

        let (service, method) = if unimplemented_is_unknown && code == CODE_UNIMPLEMENTED {
            (UNKNOWN.to_owned(), UNKNOWN.to_owned())
        } else {
            (self.service.clone(), self.method.clone())
        };
        let name = code_name(code);
        metrics::counter!(
            GRPC_REQUESTS_TOTAL,
            "service" => service.clone(),
            "method" => method.clone(),
            "code" => name,
        )
        .increment(1);
        metrics::histogram!(
            GRPC_REQUEST_DURATION_SECONDS,
            "service" => service,
            "method" => method,
        )
        .record(elapsed.as_secs_f64());

        self.span.in_scope(|| {
            if is_server_error(code) {
                tracing::warn!(code = name, "rpc completed");
            } else {
                tracing::info!(code = name, "rpc completed");
            }
        });
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        // the response body went away before its trailers: the client cancelled (or the
        // connection broke)
        self.finish(CODE_CANCELLED, false);
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for GrpcTrace<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<StdError>,
{
    type Response = Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<tonic::body::Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let start = Instant::now();
        let (service, method) = parse_grpc_path(req.uri().path());
        let span = tracing::info_span!(
            "grpc.request",
            otel.name = %format_args!("{service}/{method}"),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            pmd.service = %self.service_name,
            rpc.grpc.status_code = Empty,
            latency_ms = Empty,
            trace_id = Empty,
        );
        adopt_remote_parent(&span, req.headers());

        let future = span.in_scope(|| self.inner.call(req));
        let mut completion = Completion {
            span: span.clone(),
            service,
            method,
            start,
            done: false,
        };
        Box::pin(async move {
            let response = match future.instrument(span).await {
                Ok(response) => response,
                Err(e) => {
                    completion.finish(CODE_UNKNOWN, false);
                    return Err(e);
                }
            };
            let (parts, body) = response.into_parts();
            if let Some(code) = grpc_status(&parts.headers) {
                // trailers-only response: the status is already known
                completion.finish(code, true);
                return Ok(Response::from_parts(parts, tonic::body::Body::new(body)));
            }
            if parts.status != StatusCode::OK {
                completion.finish(code_from_http(parts.status), false);
                return Ok(Response::from_parts(parts, tonic::body::Body::new(body)));
            }
            if body.is_end_stream() {
                completion.finish(CODE_UNKNOWN, false);
                return Ok(Response::from_parts(parts, tonic::body::Body::new(body)));
            }
            let body = body.map_frame(move |frame| {
                if let Some(trailers) = frame.trailers_ref() {
                    let code = grpc_status(trailers).unwrap_or(CODE_UNKNOWN);
                    completion.finish(code, false);
                }
                frame
            });
            Ok(Response::from_parts(parts, tonic::body::Body::new(body)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_path_is_parsed_and_bounded() {
        assert_eq!(
            parse_grpc_path("/pmd.storage.v1.Storage/GetObservation"),
            (
                "pmd.storage.v1.Storage".to_owned(),
                "GetObservation".to_owned()
            )
        );
        for bad in [
            "/",
            "/only",
            "/a/b/c",
            "/a b/c",
            "nope",
            "/a/01010112345",
            "/01010112345/Get",
        ] {
            assert_eq!(
                parse_grpc_path(bad),
                (UNKNOWN.to_owned(), UNKNOWN.to_owned()),
                "{bad}"
            );
        }
    }

    #[test]
    fn status_codes_map_to_names() {
        assert_eq!(code_name(0), "OK");
        assert_eq!(code_name(5), "NOT_FOUND");
        assert_eq!(code_name(16), "UNAUTHENTICATED");
        assert_eq!(code_name(99), "UNKNOWN");
        let mut h = HeaderMap::new();
        assert_eq!(grpc_status(&h), None);
        h.insert("grpc-status", http::HeaderValue::from_static("7"));
        assert_eq!(grpc_status(&h), Some(7));
        h.insert("grpc-status", http::HeaderValue::from_static("77"));
        assert_eq!(grpc_status(&h), Some(CODE_UNKNOWN));
        assert_eq!(code_from_http(StatusCode::SERVICE_UNAVAILABLE), 14);
    }
}
