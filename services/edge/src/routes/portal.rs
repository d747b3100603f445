//! The citizen portal (*Mine målinger*, *Logg over bruk*, *Sperringer*) under `/portal/`:
//! plain HTML, CSS and JavaScript modules compiled into the binary from
//! `services/edge/portal/`, served with a strict Content-Security-Policy. The portal talks to
//! the same FHIR API as everyone else, with a bearer token it keeps in `sessionStorage`
//! (no cookies, so no cross-site request can act for the citizen).
//!
//! In the embedded mode (`pmd up`) a development sign-in lists the synthetic demo citizens
//! and mints a citizen token for one of them (`/portal/dev/…`); elsewhere those routes
//! answer 404 and the portal says that sign-in is not configured.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use pmd_error::{Issue, ServiceError};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::routes::write::{FhirBody, parse_json, require_json};

/// Only the portal's own files: no inline script or style, no other origin, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Lifetime of a development sign-in token.
pub const DEV_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// `client_id` of development sign-in tokens (shown in the log of use).
pub const DEV_CLIENT_ID: &str = "pmd-portal-dev";

/// A file served from the binary (the portal's and the dashboard's assets).
pub(crate) struct Asset {
    pub(crate) path: &'static str,
    pub(crate) content_type: &'static str,
    pub(crate) body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $content_type:literal) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_bytes!(concat!("../../portal/assets/", $path)),
        }
    };
}

/// Every file under `/portal/assets/`.
const ASSETS: &[Asset] = &[
    asset!("portal.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("js/main.js", "text/javascript; charset=utf-8"),
    asset!("js/api.js", "text/javascript; charset=utf-8"),
    asset!("js/format.js", "text/javascript; charset=utf-8"),
    asset!("js/chart.js", "text/javascript; charset=utf-8"),
    asset!("js/signin.js", "text/javascript; charset=utf-8"),
    asset!("js/measurements.js", "text/javascript; charset=utf-8"),
    asset!("js/log.js", "text/javascript; charset=utf-8"),
    asset!("js/blocks.js", "text/javascript; charset=utf-8"),
];

const INDEX: &[u8] = include_bytes!("../../portal/index.html");

fn secured(response: Response) -> Response {
    with_security_headers(response, CONTENT_SECURITY_POLICY)
}

/// The headers every portal and dashboard response carries: the page's CSP, no sniffing,
/// no referrer, no framing.
pub(crate) fn with_security_headers(mut response: Response, csp: &'static str) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", csp),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cache-control", "no-cache"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn file(content_type: &'static str, body: &'static [u8]) -> Response {
    secured((StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response())
}

/// The portal page.
#[utoipa::path(get, path = "/portal/", tag = "portal", security(()),
    responses((status = 200, description = "The citizen portal (HTML); public up to its sign-in", content_type = "text/html")))]
pub async fn index() -> Response {
    file("text/html; charset=utf-8", INDEX)
}

/// `/portal` → `/portal/`.
#[utoipa::path(get, path = "/portal", tag = "portal", security(()),
    responses((status = 308, description = "Redirect to /portal/")))]
pub async fn redirect() -> Redirect {
    Redirect::permanent("/portal/")
}

/// The portal's stylesheet, scripts and icon.
#[utoipa::path(get, path = "/portal/assets/{file}", tag = "portal", security(()),
    params(("file" = String, Path, description = "e.g. portal.css, js/main.js")),
    responses(
        (status = 200, description = "The file"),
        (status = 404, description = "No such file"),
    ))]
pub async fn asset(Path(path): Path<String>) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .find(|a| a.path == path)
        .map(|a| file(a.content_type, a.body))
        .ok_or_else(|| ApiError(ServiceError::not_found("no such portal file")))
}

fn dev(state: &AppState) -> Result<&crate::DevSignIn, ApiError> {
    state.dev_sign_in.as_deref().ok_or_else(|| {
        ApiError(ServiceError::not_found(
            "the development sign-in exists only in the embedded mode (pmd up)",
        ))
    })
}

fn no_store(body: Value) -> Response {
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    secured_headers_only(response)
}

/// The security headers without replacing `Cache-Control`.
fn secured_headers_only(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

/// DEVELOPMENT ONLY (embedded mode): the synthetic demo citizens one may sign in as.
#[utoipa::path(get, path = "/portal/dev/citizens", tag = "portal", security(()),
    responses(
        (status = 200, description = "JSON: {development: true, citizens: [{pid, label, follow_up}]}"),
        (status = 404, description = "Not the embedded mode: no development sign-in"),
    ))]
pub async fn dev_citizens(State(state): State<AppState>) -> Result<Response, ApiError> {
    let dev = dev(&state)?;
    let citizens: Vec<Value> = dev
        .citizens
        .iter()
        .enumerate()
        .map(|(n, c)| {
            json!({
                "pid": c.pid,
                "label": format!("Demopasient {}", n + 1),
                "follow_up": c.follow_up,
            })
        })
        .collect();
    Ok(no_store(json!({"development": true, "citizens": citizens})))
}

/// DEVELOPMENT ONLY (embedded mode): a citizen token (scope `pmd:citizen`, one hour) for one
/// of the demo citizens, minted by the dev issuer.
#[utoipa::path(post, path = "/portal/dev/sign-in", tag = "portal", security(()),
    request_body(content = serde_json::Value, content_type = "application/json",
        description = r#"{"pid": "<a demo citizen's id from /portal/dev/citizens>"}"#),
    responses(
        (status = 200, description = "JSON: {access_token, token_type: Bearer, expires_in, patient}"),
        (status = 400, description = "Not one of the demo citizens"),
        (status = 404, description = "Not the embedded mode: no development sign-in"),
        (status = 415, description = "Not a JSON body"),
    ))]
pub async fn dev_sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    FhirBody(body): FhirBody,
) -> Result<Response, ApiError> {
    let dev = dev(&state)?;
    // A JSON content type cannot be sent cross-site without a CORS preflight, which this
    // server never grants.
    require_json(&headers)?;
    let request = parse_json(&body)?;
    let pid = request
        .get("pid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(citizen) = dev.citizens.iter().find(|c| c.pid == pid) else {
        return Err(ApiError(ServiceError::with_issues(
            pmd_error::ErrorCode::BadRequest,
            "pid must be one of the demo citizens of GET /portal/dev/citizens",
            vec![
                Issue::error(
                    "value",
                    "pid must be one of the demo citizens of GET /portal/dev/citizens",
                )
                .at("pid"),
            ],
        )));
    };
    let token = dev
        .issuer
        .mint(
            &pmd_auth::TokenRequest::citizen(citizen.pid.clone())
                .client_id(DEV_CLIENT_ID)
                .ttl(DEV_TOKEN_TTL),
        )
        .map_err(|error| {
            tracing::error!(%error, "the dev issuer could not mint a token");
            ApiError(ServiceError::internal("could not sign in"))
        })?;
    Ok(no_store(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": DEV_TOKEN_TTL.as_secs(),
        "patient": citizen.pid,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    const JS: &str = "text/javascript; charset=utf-8";

    #[test]
    fn every_asset_is_there_and_typed() {
        for asset in ASSETS {
            assert!(!asset.body.is_empty(), "{} is empty", asset.path);
            if asset.path.ends_with(".js") {
                assert_eq!(asset.content_type, JS);
            }
        }
        assert!(std::str::from_utf8(INDEX).is_ok());
    }

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        let html = std::str::from_utf8(INDEX).unwrap();
        assert!(!html.contains("<style"), "inline <style>");
        assert!(!html.contains(" style="), "inline style attribute");
        for (at, _) in html.match_indices("<script") {
            let tag = &html[at..at + html[at..].find('>').unwrap()];
            assert!(tag.contains("src="), "inline script: {tag}");
        }
        assert!(html.contains("lang=\"nb\""));
    }

    #[test]
    fn every_module_the_page_loads_is_served() {
        let html = std::str::from_utf8(INDEX).unwrap();
        for (at, _) in html.match_indices("/portal/assets/") {
            let rest = &html[at + "/portal/assets/".len()..];
            let path = &rest[..rest.find('"').unwrap()];
            assert!(ASSETS.iter().any(|a| a.path == path), "{path} not served");
        }
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let text = std::str::from_utf8(asset.body).unwrap();
            for (at, _) in text.match_indices(" from './") {
                let rest = &text[at + " from './".len()..];
                let name = &rest[..rest.find('\'').unwrap()];
                assert!(
                    ASSETS.iter().any(|a| a.path == format!("js/{name}")),
                    "{} imports {name}, which is not served",
                    asset.path
                );
            }
        }
    }
}
