//! Operational endpoints: liveness, readiness, metrics. No token needed.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::AppState;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The edge process is alive")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "alive"}))
}

/// Readiness: 200 only when every downstream service reports SERVING over `grpc.health.v1`.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Every downstream service is SERVING"),
        (status = 503, description = "At least one downstream service is not SERVING; the body names them"),
    ))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let timeout = Duration::from_secs(2);
    let checks = state
        .upstreams
        .all()
        .map(|upstream| async move { (upstream.name, upstream.is_serving(timeout).await) });
    let results = futures::future::join_all(checks).await;
    let services: serde_json::Map<String, Value> = results
        .iter()
        .map(|(name, serving)| {
            let status = if *serving { "SERVING" } else { "NOT_SERVING" };
            ((*name).to_owned(), json!(status))
        })
        .collect();
    let ready = results.iter().all(|(_, serving)| *serving);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({"status": if ready { "ready" } else { "not ready" }, "services": services})),
    )
}
