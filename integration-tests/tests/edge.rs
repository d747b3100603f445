//! The REST edge as an EHR vendor meets it before any data flows: authentication errors in
//! FHIR shape, the API description, the offline docs page, metrics without personal data.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pmd_auth::TokenRequest;
use pmd_testkit::{Backend, spawn_mesh_on};

const PATIENT: &str = "13116900216";

#[tokio::test]
async fn fhir_without_a_token_is_401_with_www_authenticate_and_an_operation_outcome() {
    let mesh = spawn_mesh_on(Backend::Sqlite).await.unwrap();
    let response = mesh
        .http
        .get(mesh.url("/fhir/Observation?patient=Patient/13116900216"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response
        .headers()
        .get("www-authenticate")
        .expect("WWW-Authenticate header")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["resourceType"], "OperationOutcome");
    assert_eq!(body["issue"][0]["severity"], "error");
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn fhir_with_a_forged_token_is_401() {
    let mesh = spawn_mesh_on(Backend::Sqlite).await.unwrap();
    let other_issuer = pmd_auth::DevIssuer::ephemeral().unwrap();
    let forged = other_issuer
        .mint(&TokenRequest::personnel("9144900", "974589095"))
        .unwrap();
    let response = mesh
        .http
        .get(mesh.url("/fhir/Observation"))
        .bearer_auth(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn openapi_describes_every_rest_route() {
    let mesh = spawn_mesh_on(Backend::Sqlite).await.unwrap();
    let response = mesh
        .http
        .get(mesh.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let doc: serde_json::Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/fhir", "post"),
        ("/fhir/Observation", "post"),
        ("/fhir/Observation", "get"),
        ("/fhir/Observation/_search", "post"),
        ("/fhir/Observation/$lastn", "get"),
        ("/fhir/Observation/{id}", "get"),
        ("/fhir/AuditEvent", "get"),
        ("/fhir/Consent", "post"),
        ("/fhir/Consent", "get"),
        ("/fhir/Consent/{id}", "delete"),
        ("/api/statistics/usage", "get"),
        ("/api/statistics/adoption", "get"),
        ("/api/statistics/export", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from /openapi.json"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn docs_page_renders_from_local_assets_only() {
    let mesh = spawn_mesh_on(Backend::Sqlite).await.unwrap();
    let page = mesh.http.get(mesh.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("https://"),
        "the docs page must not load from a CDN: {html}"
    );
    let script = mesh
        .http
        .get(mesh.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn healthz_answers_without_a_token() {
    let mesh = spawn_mesh_on(Backend::Sqlite).await.unwrap();
    let response = mesh.http.get(mesh.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_never_hold_a_patient_id() {
    let mesh = spawn_mesh_on(Backend::Sqlite).await.unwrap();
    let token = mesh.token(&TokenRequest::personnel("9144900", "974589095"));
    mesh.http
        .get(mesh.url(&format!("/fhir/Observation/{PATIENT}?patient={PATIENT}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let metrics = mesh
        .http
        .get(mesh.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("pmd_http_requests_total"), "{metrics}");
    assert!(metrics.contains("/fhir/Observation/{id}"), "{metrics}");
    assert!(
        !metrics.contains(PATIENT),
        "a patient id leaked into metrics"
    );
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_paths_are_404_operation_outcomes() {
    let mesh = spawn_mesh_on(Backend::Sqlite).await.unwrap();
    let token = mesh.token(&TokenRequest::personnel("9144900", "974589095"));
    let response = mesh
        .http
        .get(mesh.url("/fhir/Nonsense"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["resourceType"], "OperationOutcome");
    mesh.stop().await.unwrap();
}
