//! The edge's router and its one tower stack.

pub mod consent;
pub mod fhir;
pub mod ops;
pub mod portal;
pub mod read;
pub mod statistics;
pub mod write;

use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use pmd_error::{ErrorCode, ServiceError};
use tower::ServiceBuilder;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::AppState;
use crate::error::ApiError;
use crate::openapi::ApiDoc;

/// Paths that need no token: probes, metrics, the API description, the portal pages (public
/// up to their sign-in; their data comes from the token-checked API).
pub fn is_public(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics" | "/openapi.json")
        || path == "/docs"
        || path.starts_with("/docs/")
        || path == "/portal"
        || path.starts_with("/portal/")
}

pub fn router(
    state: AppState,
    request_timeout: Duration,
    max_body: usize,
    max_concurrent: usize,
) -> Router {
    let api = Router::new()
        .route("/fhir", post(write::bundle))
        .route(
            "/fhir/Observation",
            get(read::search_get).post(write::create_observation),
        )
        .route("/fhir/Observation/_search", post(read::search_post))
        .route(
            "/fhir/Observation/$lastn",
            get(read::lastn_get).post(read::lastn_post),
        )
        .route("/fhir/Observation/{id}", get(read::read_observation))
        .route("/fhir/AuditEvent", get(fhir::audit_events))
        .route("/fhir/Consent", get(consent::list).post(consent::create))
        .route("/fhir/Consent/{id}", delete(consent::delete))
        // Citizen portal: public files under /portal/ (see `is_public`) and the development
        // sign-in, which answers 404 unless the embedded mode gave the edge a dev issuer.
        // The portal's data comes from the token-checked routes above.
        .route("/portal", get(portal::redirect))
        .route("/portal/", get(portal::index))
        .route("/portal/assets/{*file}", get(portal::asset))
        .route("/portal/dev/citizens", get(portal::dev_citizens))
        .route("/portal/dev/sign-in", post(portal::dev_sign_in))
        // Statistics (scope pmd:statistics) and their dashboard: public files under
        // /portal/statistikk/ and, in the embedded mode only, a development sign-in.
        .route("/api/statistics/usage", get(statistics::usage))
        .route("/api/statistics/adoption", get(statistics::adoption))
        .route("/api/statistics/export", get(statistics::export))
        .route("/portal/statistikk", get(statistics::dashboard_redirect))
        .route("/portal/statistikk/", get(statistics::dashboard))
        .route(
            "/portal/statistikk/{file}",
            get(statistics::dashboard_asset),
        )
        .route("/portal/dev/statistics-token", post(statistics::dev_token));

    let ops = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz));

    // The stack, outermost first:
    // 1. trace: one span per request (W3C parent from `traceparent`), route-template metrics,
    //    no query string or body ever recorded;
    // 2. timeout and load shedding: a request over its deadline or beyond the concurrency
    //    limit is answered 503 at once instead of queueing;
    // 3. body limit: bodies over the limit are refused (413) before anyone parses them;
    // 4. auth: the bearer token is verified and the Principal placed in the extensions
    //    (public paths pass without one).
    let stack = ServiceBuilder::new()
        .layer(pmd_telemetry::http_trace_layer())
        .layer(HandleErrorLayer::new(overloaded))
        .load_shed()
        .concurrency_limit(max_concurrent)
        .timeout(request_timeout)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(pmd_auth::AuthLayer::http(state.verifier.clone()).allow_anonymous(is_public));

    Router::new()
        .merge(api)
        .merge(ops)
        .with_state(state)
        .merge(pmd_telemetry::metrics_router())
        .merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
        .fallback(not_found)
        .layer(stack)
}

async fn overloaded(error: tower::BoxError) -> ApiError {
    if error.is::<tower::timeout::error::Elapsed>() {
        ApiError(ServiceError::new(
            ErrorCode::Unavailable,
            "the request took too long and was abandoned",
        ))
    } else if error.is::<tower::load_shed::error::Overloaded>() {
        ApiError(ServiceError::new(
            ErrorCode::Unavailable,
            "the service is at capacity; retry shortly",
        ))
    } else {
        ApiError(ServiceError::internal("unexpected failure"))
    }
}

async fn not_found() -> ApiError {
    ApiError(ServiceError::not_found(
        "no such endpoint; see /openapi.json",
    ))
}
