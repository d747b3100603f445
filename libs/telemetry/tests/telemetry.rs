//! Behaviour of pmd-telemetry as seen by a service: trace propagation, metrics labels, logs.
//!
//! All tests share one process (like `pmd up` and the integration tests): each installs its
//! own thread-local subscriber via `subscriber_with_writer`, except `init_*` which touch the
//! global one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use pmd_telemetry::{
    LogFormat, PropagateTraceLayer, TelemetryConfig, current_trace_id, grpc_trace_layer,
    http_trace_layer, inject_trace_context, metrics_handle, metrics_router,
};
use tower::{Service as _, ServiceBuilder, ServiceExt as _};
use tracing_subscriber::fmt::MakeWriter;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";
const NATIONAL_ID: &str = "01010112345";

fn traceparent() -> String {
    format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01")
}

/// Log lines captured in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Thread-local subscriber (JSON logs into `Captured`, W3C trace ids) for the current test.
fn local_telemetry(format: LogFormat) -> (Captured, tracing::dispatcher::DefaultGuard, impl Drop) {
    let captured = Captured::default();
    let mut cfg = TelemetryConfig::new("telemetry-test");
    cfg.log_format = format;
    cfg.log_filter = "info".to_owned();
    let (dispatch, guard) = pmd_telemetry::subscriber_with_writer(&cfg, captured.clone()).unwrap();
    let default = tracing::dispatcher::set_default(&dispatch);
    (captured, default, guard)
}

async fn body_text(res: http::Response<Body>) -> String {
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn observation_app() -> Router {
    Router::new()
        .route(
            "/fhir/Observation/{id}",
            get(|| async {
                tracing::info!("reading observation");
                current_trace_id().unwrap_or_default()
            }),
        )
        .layer(http_trace_layer())
}

#[tokio::test]
async fn incoming_traceparent_becomes_the_parent_of_the_request_span() {
    let (_logs, _default, _guard) = local_telemetry(LogFormat::Json);

    let res = observation_app()
        .oneshot(
            Request::get("/fhir/Observation/42")
                .header("traceparent", traceparent())
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_text(res).await, TRACE_ID);
}

#[tokio::test]
async fn requests_without_traceparent_get_a_fresh_trace_id() {
    let (_logs, _default, _guard) = local_telemetry(LogFormat::Json);

    let mut ids = Vec::new();
    for _ in 0..2 {
        let res = observation_app()
            .oneshot(
                Request::get("/fhir/Observation/42")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        ids.push(body_text(res).await);
    }
    for id in &ids {
        assert_eq!(id.len(), 32, "{id:?}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id:?}");
        assert_ne!(id, TRACE_ID);
    }
    assert_ne!(ids[0], ids[1]);
}

#[tokio::test]
async fn propagation_layer_and_interceptor_write_the_current_trace() {
    let (_logs, _default, _guard) = local_telemetry(LogFormat::Json);

    // a downstream "channel" that reports the traceparent it received
    let downstream = tower::service_fn(|req: Request<()>| async move {
        let tp = req
            .headers()
            .get("traceparent")
            .map(|v| v.to_str().unwrap().to_owned());
        Ok::<_, std::convert::Infallible>(tp)
    });

    let app = Router::new()
        .route(
            "/outgoing",
            get(move || async move {
                let mut client = ServiceBuilder::new()
                    .layer(PropagateTraceLayer)
                    .service(downstream);
                let via_layer = client
                    .ready()
                    .await
                    .unwrap()
                    .call(Request::new(()))
                    .await
                    .unwrap()
                    .unwrap_or_default();
                let req = inject_trace_context(tonic::Request::new(())).unwrap();
                let via_interceptor = req
                    .metadata()
                    .get("traceparent")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                format!("{via_layer}\n{via_interceptor}")
            }),
        )
        .layer(http_trace_layer());

    let res = app
        .oneshot(
            Request::get("/outgoing")
                .header("traceparent", traceparent())
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let text = body_text(res).await;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text:?}");
    for tp in lines {
        let parts: Vec<&str> = tp.split('-').collect();
        assert_eq!(parts.len(), 4, "{tp:?}");
        assert_eq!(parts[0], "00");
        assert_eq!(parts[1], TRACE_ID, "trace id carried on");
        assert_ne!(parts[2], PARENT_SPAN_ID, "the parent is our own span");
        assert_eq!(parts[3], "01");
    }

    // outside any span nothing is injected
    let req = inject_trace_context(tonic::Request::new(())).unwrap();
    assert!(req.metadata().get("traceparent").is_none());
}

#[tokio::test]
async fn metrics_use_the_route_template_and_never_the_raw_path_or_query() {
    let (_logs, _default, _guard) = local_telemetry(LogFormat::Json);

    let res = observation_app()
        .oneshot(
            Request::get(format!("/fhir/Observation/123?patient={NATIONAL_ID}"))
                .header("x-pmd-patient", NATIONAL_ID)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // a request no route matches
    let res = observation_app()
        .oneshot(
            Request::get(format!("/fhir/Patient/{NATIONAL_ID}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let res = metrics_router()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = body_text(res).await;

    let line = text
        .lines()
        .find(|l| {
            l.starts_with("pmd_http_requests_total{")
                && l.contains(r#"route="/fhir/Observation/{id}""#)
        })
        .unwrap_or_else(|| panic!("no templated counter in:\n{text}"));
    assert!(line.contains(r#"method="GET""#), "{line}");
    assert!(line.contains(r#"status="200""#), "{line}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("pmd_http_requests_total{")
                && l.contains(r#"route="unmatched""#)
                && l.contains(r#"status="404""#)),
        "{text}"
    );
    assert!(
        text.contains("pmd_http_request_duration_seconds_bucket{"),
        "histogram with buckets: {text}"
    );
    assert!(!text.contains(NATIONAL_ID), "national id leaked: {text}");
    assert!(!text.contains("/fhir/Observation/123"), "raw path leaked");
    assert!(!text.contains("patient="), "query leaked");
    assert!(
        metrics_handle()
            .render()
            .contains("pmd_http_requests_total")
    );
}

#[tokio::test]
async fn request_logs_carry_the_route_but_not_query_headers_or_path_values() {
    for format in [LogFormat::Json, LogFormat::Pretty] {
        let (logs, _default, _guard) = local_telemetry(format);

        let res = observation_app()
            .oneshot(
                Request::get(format!("/fhir/Observation/obs-777?patient={NATIONAL_ID}"))
                    .header("traceparent", traceparent())
                    .header("authorization", "Bearer secret-token")
                    .header("x-pmd-patient", NATIONAL_ID)
                    .header("x-request-id", "req-1")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);

        let text = logs.text();
        assert!(text.contains("reading observation"), "{format:?}: {text}");
        assert!(text.contains("request completed"), "{format:?}: {text}");
        assert!(
            text.contains("/fhir/Observation/{id}"),
            "{format:?}: {text}"
        );
        assert!(text.contains(TRACE_ID), "trace id in log lines: {text}");
        assert!(text.contains("req-1"), "{text}");
        for secret in [NATIONAL_ID, "patient=", "obs-777", "secret-token", "Bearer"] {
            assert!(
                !text.contains(secret),
                "{format:?}: {secret:?} leaked: {text}"
            );
        }
    }
}

#[tokio::test]
async fn a_trace_flows_http_to_grpc_and_grpc_metrics_are_recorded() {
    let (_logs, _default, _guard) = local_telemetry(LogFormat::Json);

    // gRPC server (tonic-health) with the trace layer; an inner layer captures the trace id
    // seen while the call is handled
    let seen = Arc::new(Mutex::new(Vec::<Option<String>>::new()));
    let seen_in_server = Arc::clone(&seen);
    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tonic::transport::Server::builder()
        .layer(
            ServiceBuilder::new()
                .layer(grpc_trace_layer("telemetry-test"))
                .map_request(move |req: Request<tonic::body::Body>| {
                    seen_in_server.lock().unwrap().push(current_trace_id());
                    req
                }),
        )
        .add_service(health)
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
    let server = tokio::spawn(server);

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();

    // HTTP edge handler calling gRPC, both ways of propagating
    let app = Router::new()
        .route(
            "/check",
            get(move || {
                let channel = channel.clone();
                async move {
                    use tonic_health::pb::HealthCheckRequest;
                    use tonic_health::pb::health_client::HealthClient;
                    let mut via_layer = HealthClient::new(
                        ServiceBuilder::new()
                            .layer(PropagateTraceLayer)
                            .service(channel.clone()),
                    );
                    via_layer
                        .check(HealthCheckRequest::default())
                        .await
                        .unwrap();
                    let mut via_interceptor =
                        HealthClient::with_interceptor(channel.clone(), inject_trace_context);
                    via_interceptor
                        .check(HealthCheckRequest::default())
                        .await
                        .unwrap();
                    // an unknown service: NOT_FOUND from the health service
                    let err = via_interceptor
                        .check(HealthCheckRequest {
                            service: "no.such.Service".to_owned(),
                        })
                        .await
                        .unwrap_err();
                    format!("{:?}", err.code())
                }
            }),
        )
        .layer(http_trace_layer());

    let res = app
        .oneshot(
            Request::get("/check")
                .header("traceparent", traceparent())
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let code = body_text(res).await;
    assert_eq!(code, "NotFound");

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    for id in seen {
        assert_eq!(id.as_deref(), Some(TRACE_ID));
    }

    let text = metrics_handle().render();
    let has = |code: &str| {
        text.lines().any(|l| {
            l.starts_with("pmd_grpc_requests_total{")
                && l.contains(r#"service="grpc.health.v1.Health""#)
                && l.contains(r#"method="Check""#)
                && l.contains(&format!(r#"code="{code}""#))
        })
    };
    assert!(has("OK"), "{text}");
    assert!(has("NOT_FOUND"), "{text}");
    assert!(
        text.contains("pmd_grpc_request_duration_seconds_bucket{"),
        "{text}"
    );
    server.abort();
}

#[tokio::test]
async fn admin_port_serves_metrics_and_extra_routes() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let extra = Router::new().route("/healthz", get(|| async { "ok" }));
    let admin = tokio::spawn(pmd_telemetry::serve_admin(listener, extra, async {
        let _ = stopped.await;
    }));

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let response = raw_get(&mut stream, "/healthz").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("ok"), "{response}");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let response = raw_get(&mut stream, "/metrics").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    stop.send(()).unwrap();
    admin.await.unwrap().unwrap();
}

async fn raw_get(stream: &mut tokio::net::TcpStream, path: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let request = format!("GET {path} HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_twice_does_not_panic_and_trace_ids_survive_guard_shutdown() {
    let mut cfg = TelemetryConfig::new("telemetry-test");
    cfg.log_format = LogFormat::Json;
    cfg.log_filter = "error".to_owned();

    let first = pmd_telemetry::init(cfg.clone()).unwrap();
    let second = pmd_telemetry::init(cfg.clone()).unwrap();
    assert!(first.is_active());

    let in_span = || {
        let span = tracing::info_span!("work");
        span.in_scope(current_trace_id)
    };
    assert!(in_span().is_some());

    first.shutdown();
    assert!(
        in_span().is_some(),
        "still traced while another guard lives"
    );
    drop(second);
    assert!(in_span().is_some(), "ids even after the last guard");

    let third = pmd_telemetry::init(cfg).unwrap();
    assert!(in_span().is_some());
    third.shutdown();
}

#[test]
fn otlp_export_outside_a_runtime_is_refused_clearly() {
    let mut cfg = TelemetryConfig::new("telemetry-test");
    cfg.otlp_endpoint = Some("http://127.0.0.1:4317".to_owned());
    let err = pmd_telemetry::subscriber_with_writer(&cfg, std::io::sink).unwrap_err();
    assert!(err.to_string().contains("tokio runtime"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_export_to_an_absent_collector_does_not_hang_shutdown() {
    let mut cfg = TelemetryConfig::new("telemetry-test");
    cfg.log_format = LogFormat::Json;
    // nothing listens on port 9 (discard) on the test machine
    cfg.otlp_endpoint = Some("http://127.0.0.1:9".to_owned());
    let (dispatch, guard) = pmd_telemetry::subscriber_with_writer(&cfg, std::io::sink).unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("exported");
        assert!(span.in_scope(current_trace_id).is_some());
    });
    let started = std::time::Instant::now();
    guard.shutdown(); // the export fails; shutdown must still return
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}
