use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use pmd_auth::{AuthLayer, DevIssuer, Principal, TokenRequest, grpc_public_path, http_public_path};
use serde_json::Value;
use tower::{ServiceBuilder, ServiceExt};

use crate::common::*;

fn app(dev: &DevIssuer) -> Router {
    Router::new()
        .route(
            "/fhir/whoami",
            get(|principal: Principal| async move {
                format!(
                    "{} {}",
                    principal.kind.name(),
                    principal.source_org().unwrap_or("-")
                )
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/docs/index.html", get(|| async { "docs" }))
        .layer(AuthLayer::http(verifier_for(dev)).allow_anonymous(http_public_path))
}

async fn send(router: Router, path: &str, token: Option<&str>) -> Response<Body> {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    router
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

async fn body_text(response: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn http_request_without_token_gets_401_with_challenge_and_operation_outcome() {
    let response = send(app(&dev()), "/fhir/whoami", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[WWW_AUTHENTICATE], "Bearer realm=\"pmd\"");
    assert_eq!(response.headers()[CONTENT_TYPE], "application/fhir+json");
    let outcome: Value = serde_json::from_str(&body_text(response).await).unwrap();
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert_eq!(outcome["issue"][0]["severity"], "error");
    assert_eq!(outcome["issue"][0]["code"], "login");
    assert_eq!(outcome["issue"][0]["diagnostics"], "missing bearer token");
}

#[tokio::test]
async fn http_request_with_invalid_token_gets_invalid_token_challenge() {
    let dev = dev();
    let other = DevIssuer::ephemeral().unwrap();
    let token = other
        .sign(
            &dev.header(),
            &other.claims(&TokenRequest::system(ORG)).unwrap(),
        )
        .unwrap();
    let response = send(app(&dev), "/fhir/whoami", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()[WWW_AUTHENTICATE],
        "Bearer realm=\"pmd\", error=\"invalid_token\", error_description=\"invalid signature\""
    );
    let outcome: Value = serde_json::from_str(&body_text(response).await).unwrap();
    assert_eq!(outcome["issue"][0]["diagnostics"], "invalid signature");
}

#[tokio::test]
async fn http_request_with_valid_token_reaches_the_handler_with_its_principal() {
    let dev = dev();
    let token = mint(
        &dev,
        &TokenRequest::personnel(HPR, ORG).child_org(CHILD_ORG),
    );
    let response = send(app(&dev), "/fhir/whoami", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_text(response).await, format!("personnel {CHILD_ORG}"));
}

#[tokio::test]
async fn http_token_without_pmd_scope_gets_403() {
    let dev = dev();
    let token = mint(
        &dev,
        &TokenRequest::system(ORG).extra_claim("scope", "openid"),
    );
    let response = send(app(&dev), "/fhir/whoami", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("error=\"insufficient_scope\"")
    );
    let outcome: Value = serde_json::from_str(&body_text(response).await).unwrap();
    assert_eq!(outcome["issue"][0]["code"], "forbidden");
}

#[tokio::test]
async fn http_anonymous_paths_pass_without_token() {
    let dev = dev();
    let response = send(app(&dev), "/healthz", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = send(app(&dev), "/docs/index.html", Some("not-a-token")).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn inner_service_sees_the_principal_in_request_extensions() {
    let dev = dev();
    let service = ServiceBuilder::new()
        .layer(AuthLayer::grpc(verifier_for(&dev)))
        .service_fn(|request: Request<tonic::body::Body>| async move {
            let principal = request.extensions().get::<Principal>().cloned();
            let mut response = Response::new(tonic::body::Body::empty());
            if let Some(p) = principal {
                response
                    .headers_mut()
                    .insert("x-kind", p.kind.name().parse().unwrap());
            }
            Ok::<_, Infallible>(response)
        });
    let token = mint(&dev, &TokenRequest::citizen(PID));
    let request = Request::post("/pmd.consent.v1.ConsentService/ListBlocks")
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(tonic::body::Body::empty())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.headers()["x-kind"], "citizen");
}

#[tokio::test]
async fn grpc_request_without_token_gets_status_16() {
    let dev = dev();
    let service = ServiceBuilder::new()
        .layer(AuthLayer::grpc(verifier_for(&dev)).allow_anonymous(grpc_public_path))
        .service_fn(|_: Request<tonic::body::Body>| async {
            Ok::<_, Infallible>(Response::new(tonic::body::Body::empty()))
        });
    let request = Request::post("/pmd.storage.v1.StorageService/Query")
        .body(tonic::body::Body::empty())
        .unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "grpc errors travel in headers"
    );
    assert_eq!(response.headers()["grpc-status"], "16");
    assert_eq!(response.headers()[CONTENT_TYPE], "application/grpc");

    let request = Request::post("/grpc.health.v1.Health/Check")
        .body(tonic::body::Body::empty())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert!(
        response.headers().get("grpc-status").is_none(),
        "health is public"
    );
}

/// The layer plugs into `tonic::transport::Server::builder().layer(..)`; a real health
/// call over HTTP/2 shows both sides of it.
#[tokio::test]
async fn tonic_server_with_the_layer_rejects_and_accepts_calls() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let dev = dev();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Health deliberately not exempted here, to exercise the rejection path end to end.
    let server = tonic::transport::Server::builder()
        .layer(AuthLayer::grpc(verifier_for(&dev)))
        .add_service(health)
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    let task = tokio::spawn(server);

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);

    let status = client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert_eq!(status.message(), "missing bearer token");

    let token = mint(&dev, &TokenRequest::system(ORG));
    let principal = verify_with(&dev, &token).await.unwrap();
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: String::new(),
    });
    pmd_auth::authorize_outgoing(&mut request, &principal);
    client.check(request).await.unwrap();
    task.abort();
}
