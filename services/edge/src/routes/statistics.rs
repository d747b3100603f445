//! The statistics API for the health directorate (scope `pmd:statistics`) and its dashboard
//! (`/portal/statistikk/`). The edge translates query parameters to `StatisticsService`
//! calls and answers JSON (or the export's CSV stream), forwarding the caller's token;
//! the statistics service decides, suppresses and audits.
//!
//! In the embedded mode (`pmd up`) `POST /portal/dev/statistics-token` mints a statistics
//! token with the dev issuer so the dashboard can sign in; elsewhere it answers 404.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use futures::StreamExt;
use pmd_auth::{Principal, Scope};
use pmd_error::{ErrorCode, Issue, ServiceError};
use pmd_proto::statistics::v1 as pb;
use pmd_proto::statistics::v1::statistics_service_client::StatisticsServiceClient;
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::routes::write::require_json;

fn client(state: &AppState) -> StatisticsServiceClient<pmd_server::Channel> {
    StatisticsServiceClient::new(state.upstreams.statistics.channel.clone())
}

fn bad_parameter(name: &str, message: impl Into<String>) -> ApiError {
    let message = message.into();
    ApiError(ServiceError::with_issues(
        ErrorCode::BadRequest,
        message.clone(),
        vec![Issue::error("value", message).at(name)],
    ))
}

fn require_statistics(principal: &Principal) -> Result<(), ApiError> {
    if principal.has_scope(Scope::Statistics) {
        Ok(())
    } else {
        Err(ApiError(ServiceError::forbidden(
            "statistics need scope pmd:statistics",
        )))
    }
}

/// The query's parameters, each allowed name at most once (except `group_by`).
fn parameters(query: Option<&str>, allowed: &[&str]) -> Result<Vec<(String, String)>, ApiError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    for (i, (name, _)) in pairs.iter().enumerate() {
        if !allowed.contains(&name.as_str()) {
            return Err(bad_parameter(
                name,
                format!("unknown parameter {name}; use {}", allowed.join(", ")),
            ));
        }
        if name != "group_by" && pairs[..i].iter().any(|(n, _)| n == name) {
            return Err(bad_parameter(name, format!("{name} may be given once")));
        }
    }
    Ok(pairs)
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.trim())
}

fn granularity_param(text: &str) -> Result<pb::Granularity, ApiError> {
    match text {
        "" | "day" => Ok(pb::Granularity::Day),
        "week" => Ok(pb::Granularity::Week),
        "month" => Ok(pb::Granularity::Month),
        _ => Err(bad_parameter(
            "granularity",
            "granularity must be day, week or month",
        )),
    }
}

fn granularity_name(value: i32) -> &'static str {
    match pb::Granularity::try_from(value) {
        Ok(pb::Granularity::Week) => "week",
        Ok(pb::Granularity::Month) => "month",
        _ => "day",
    }
}

fn group_by_param(pairs: &[(String, String)]) -> Result<Vec<pb::GroupBy>, ApiError> {
    let mut out = Vec::new();
    for value in pairs
        .iter()
        .filter(|(n, _)| n == "group_by")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        let dim = match value {
            "org_type" => pb::GroupBy::OrgType,
            "municipality" => pb::GroupBy::Municipality,
            "region" => pb::GroupBy::Region,
            "code" => pb::GroupBy::Code,
            "purpose" => pb::GroupBy::Purpose,
            _ => {
                return Err(bad_parameter(
                    "group_by",
                    "group_by must be org_type, municipality, region, code or purpose",
                ));
            }
        };
        if !out.contains(&dim) {
            out.push(dim);
        }
    }
    Ok(out)
}

fn count_json(count: Option<&pb::Count>) -> (Value, bool) {
    match count.and_then(|c| c.value.as_ref()) {
        Some(pb::count::Value::Count(n)) => (json!(n), false),
        // Suppressed, or nothing sent: never shown as a number.
        _ => (Value::Null, true),
    }
}

fn json_response(body: &Value) -> Response {
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Usage counts per period and group.
#[utoipa::path(get, path = "/api/statistics/usage", tag = "statistics",
    params(
        ("from" = Option<String>, Query, description = "YYYY-MM-DD (UTC day); default 29 days before today"),
        ("to" = Option<String>, Query, description = "YYYY-MM-DD; default today"),
        ("granularity" = Option<String>, Query, description = "day (default), week (ISO) or month; the range widens to whole buckets"),
        ("group_by" = Option<String>, Query, description = "org_type, municipality, region, code, purpose; repeat or comma-separate to combine"),
    ),
    responses(
        (status = 200, description = r#"JSON: {from, to, granularity, group_by, rows: [{period, metric, group: {dimension: value}, count, suppressed}]}; a suppressed cell has count null and suppressed true"#),
        (status = 400, description = "A bad parameter (OperationOutcome naming it)"),
        (status = 401, description = "No valid token"),
        (status = 403, description = "The token lacks scope pmd:statistics"),
    ))]
pub async fn usage(
    State(state): State<AppState>,
    principal: Principal,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    require_statistics(&principal)?;
    let pairs = parameters(query.as_deref(), &["from", "to", "granularity", "group_by"])?;
    let group_by = group_by_param(&pairs)?;
    let mut call = tonic::Request::new(pb::UsageRequest {
        from: get(&pairs, "from").to_owned(),
        to: get(&pairs, "to").to_owned(),
        granularity: granularity_param(get(&pairs, "granularity"))? as i32,
        group_by: group_by.iter().map(|g| *g as i32).collect(),
    });
    pmd_auth::authorize_outgoing(&mut call, &principal);
    let answer = client(&state).usage(call).await?.into_inner();
    let rows: Vec<Value> = answer
        .rows
        .iter()
        .map(|row| {
            let (count, suppressed) = count_json(row.value.as_ref());
            let group: Map<String, Value> = row
                .group
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            json!({
                "period": row.period,
                "metric": row.metric,
                "group": group,
                "count": count,
                "suppressed": suppressed,
            })
        })
        .collect();
    let group_by: Vec<&str> = group_by
        .iter()
        .map(|g| match g {
            pb::GroupBy::OrgType => "org_type",
            pb::GroupBy::Municipality => "municipality",
            pb::GroupBy::Region => "region",
            pb::GroupBy::Code => "code",
            pb::GroupBy::Purpose => "purpose",
            pb::GroupBy::Unspecified => "",
        })
        .collect();
    Ok(json_response(&json!({
        "from": answer.from,
        "to": answer.to,
        "granularity": granularity_name(answer.granularity),
        "group_by": group_by,
        "rows": rows,
    })))
}

/// Adoption indicators.
#[utoipa::path(get, path = "/api/statistics/adoption", tag = "statistics",
    params(
        ("period" = Option<String>, Query, description = "One calendar bucket: YYYY-MM-DD, YYYY-Www (ISO week), YYYY-MM or YYYY"),
        ("from" = Option<String>, Query, description = "Instead of period: YYYY-MM-DD; default 29 days before today"),
        ("to" = Option<String>, Query, description = "Instead of period: YYYY-MM-DD; default today"),
    ),
    responses(
        (status = 200, description = r#"JSON: {from, to, indicators: [{id, org_type, role, numerator: {count, suppressed}, denominator: {count, suppressed}, share}]}"#),
        (status = 400, description = "A bad parameter (OperationOutcome naming it)"),
        (status = 401, description = "No valid token"),
        (status = 403, description = "The token lacks scope pmd:statistics"),
    ))]
pub async fn adoption(
    State(state): State<AppState>,
    principal: Principal,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    require_statistics(&principal)?;
    let pairs = parameters(query.as_deref(), &["from", "to", "period"])?;
    let mut call = tonic::Request::new(pb::AdoptionRequest {
        from: get(&pairs, "from").to_owned(),
        to: get(&pairs, "to").to_owned(),
        period: get(&pairs, "period").to_owned(),
    });
    pmd_auth::authorize_outgoing(&mut call, &principal);
    let answer = client(&state).adoption(call).await?.into_inner();
    let indicators: Vec<Value> = answer
        .indicators
        .iter()
        .map(|i| {
            let (numerator, n_suppressed) = count_json(i.numerator.as_ref());
            let (denominator, d_suppressed) = count_json(i.denominator.as_ref());
            json!({
                "id": i.id,
                "org_type": i.org_type,
                "role": i.role,
                "numerator": {"count": numerator, "suppressed": n_suppressed},
                "denominator": {"count": denominator, "suppressed": d_suppressed},
                "share": i.share,
            })
        })
        .collect();
    Ok(json_response(&json!({
        "from": answer.from,
        "to": answer.to,
        "indicators": indicators,
    })))
}

/// De-identified raw export (CSV).
#[utoipa::path(get, path = "/api/statistics/export", tag = "statistics",
    params(
        ("from" = Option<String>, Query, description = "YYYY-MM-DD (UTC day); default 29 days before today"),
        ("to" = Option<String>, Query, description = "YYYY-MM-DD; default today; at most 366 days"),
    ),
    responses(
        (status = 200, description = "CSV, streamed: hour, action, outcome, actor_kind, org_parent, org_child, org_type, municipality, purpose_of_use, patient (pseudonym keyed for this period), codes, count. Recorded in the audit log before the first byte.", content_type = "text/csv"),
        (status = 400, description = "A bad parameter (OperationOutcome naming it)"),
        (status = 401, description = "No valid token"),
        (status = 403, description = "The token lacks scope pmd:statistics"),
        (status = 503, description = "The export could not be audited, so nothing is exported"),
    ))]
pub async fn export(
    State(state): State<AppState>,
    principal: Principal,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    require_statistics(&principal)?;
    let pairs = parameters(query.as_deref(), &["from", "to"])?;
    let mut call = tonic::Request::new(pb::ExportRequest {
        from: get(&pairs, "from").to_owned(),
        to: get(&pairs, "to").to_owned(),
    });
    pmd_auth::authorize_outgoing(&mut call, &principal);
    let stream = client(&state).export(call).await?.into_inner();
    let body = Body::from_stream(stream.map(|chunk| {
        chunk.map(|c| c.csv).map_err(|status| {
            tracing::warn!(code = ?status.code(), "statistics export broke off");
            std::io::Error::other("the export broke off")
        })
    }));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"pmd-statistikk-eksport.csv\""),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

// --- the dashboard ---------------------------------------------------------------------

/// Only the dashboard's own files; no inline script or style, no other origin, no framing.
pub const DASHBOARD_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// Lifetime of a development statistics token.
pub const DEV_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// `client_id` of development statistics tokens.
pub const DEV_CLIENT_ID: &str = "pmd-statistikk-dev";

use super::portal::Asset;

macro_rules! asset {
    ($path:literal, $content_type:literal) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_bytes!(concat!("../../portal/statistikk/", $path)),
        }
    };
}

/// Every file of the dashboard under `/portal/statistikk/`.
const ASSETS: &[Asset] = &[
    asset!("statistikk.css", "text/css; charset=utf-8"),
    asset!("statistikk.js", "text/javascript; charset=utf-8"),
    asset!("charts.js", "text/javascript; charset=utf-8"),
    asset!("labels.js", "text/javascript; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
];

const INDEX: &[u8] = include_bytes!("../../portal/statistikk/index.html");

fn dashboard_file(content_type: &'static str, body: &'static [u8]) -> Response {
    let response = (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response();
    super::portal::with_security_headers(response, DASHBOARD_CSP)
}

/// The statistics dashboard (HTML; its numbers come from the token-checked API).
#[utoipa::path(get, path = "/portal/statistikk/", tag = "statistics", security(()),
    responses((status = 200, description = "The dashboard (HTML), public up to its sign-in", content_type = "text/html")))]
pub async fn dashboard() -> Response {
    dashboard_file("text/html; charset=utf-8", INDEX)
}

/// `/portal/statistikk` → `/portal/statistikk/`.
#[utoipa::path(get, path = "/portal/statistikk", tag = "statistics", security(()),
    responses((status = 308, description = "Redirect to /portal/statistikk/")))]
pub async fn dashboard_redirect() -> Redirect {
    Redirect::permanent("/portal/statistikk/")
}

/// The dashboard's stylesheet and scripts.
#[utoipa::path(get, path = "/portal/statistikk/{file}", tag = "statistics", security(()),
    params(("file" = String, Path, description = "statistikk.css, statistikk.js, charts.js, labels.js, favicon.svg")),
    responses(
        (status = 200, description = "The file"),
        (status = 404, description = "No such file"),
    ))]
pub async fn dashboard_asset(Path(path): Path<String>) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .find(|a| a.path == path)
        .map(|a| dashboard_file(a.content_type, a.body))
        .ok_or_else(|| ApiError(ServiceError::not_found("no such dashboard file")))
}

/// DEVELOPMENT ONLY (embedded mode): a statistics token (scope `pmd:statistics`, one hour)
/// minted by the dev issuer, for the dashboard's sign-in.
#[utoipa::path(post, path = "/portal/dev/statistics-token", tag = "statistics", security(()),
    request_body(content = serde_json::Value, content_type = "application/json", description = "{}"),
    responses(
        (status = 200, description = "JSON: {access_token, token_type: Bearer, expires_in}"),
        (status = 404, description = "Not the embedded mode: no development sign-in"),
        (status = 415, description = "Not a JSON request"),
    ))]
pub async fn dev_token(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(dev) = state.dev_sign_in.as_deref() else {
        return Err(ApiError(ServiceError::not_found(
            "the development sign-in exists only in the embedded mode (pmd up)",
        )));
    };
    // A JSON content type cannot be sent cross-site without a CORS preflight, which this
    // server never grants.
    require_json(&headers)?;
    let token = dev
        .issuer
        .mint(
            &pmd_auth::TokenRequest::statistics()
                .client_id(DEV_CLIENT_ID)
                .ttl(DEV_TOKEN_TTL),
        )
        .map_err(|error| {
            tracing::error!(%error, "the dev issuer could not mint a statistics token");
            ApiError(ServiceError::internal("could not sign in"))
        })?;
    Ok(json_response(&json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": DEV_TOKEN_TTL.as_secs(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_repeated_parameters_are_refused_by_name() {
        assert!(parameters(Some("from=2026-01-01&to=2026-01-31"), &["from", "to"]).is_ok());
        let error = parameters(Some("form=2026-01-01"), &["from", "to"]).err();
        assert!(format!("{error:?}").contains("form"));
        assert!(parameters(Some("from=a&from=b"), &["from", "to"]).is_err());
        let pairs = parameters(
            Some("group_by=org_type,code&group_by=purpose"),
            &["group_by"],
        )
        .unwrap_or_default();
        let dims = group_by_param(&pairs).unwrap_or_default();
        assert_eq!(
            dims,
            vec![
                pb::GroupBy::OrgType,
                pb::GroupBy::Code,
                pb::GroupBy::Purpose
            ]
        );
        assert!(group_by_param(&[("group_by".into(), "hpr".into())]).is_err());
        assert!(granularity_param("year").is_err());
    }

    #[test]
    fn suppressed_counts_are_null_never_a_number() {
        let suppressed = pb::Count {
            value: Some(pb::count::Value::Suppressed(true)),
        };
        assert_eq!(count_json(Some(&suppressed)), (Value::Null, true));
        assert_eq!(count_json(None), (Value::Null, true));
        let shown = pb::Count {
            value: Some(pb::count::Value::Count(12)),
        };
        assert_eq!(count_json(Some(&shown)), (json!(12), false));
    }

    #[test]
    fn the_dashboard_has_no_inline_script_or_style_and_every_file_is_served() {
        let html = std::str::from_utf8(INDEX).unwrap_or_default();
        assert!(html.contains("lang=\"nb\""));
        assert!(!html.contains("<style"), "inline <style>");
        assert!(!html.contains(" style="), "inline style attribute");
        for (at, _) in html.match_indices("<script") {
            let end = html[at..].find('>').map_or(html.len(), |e| at + e);
            assert!(html[at..end].contains("src="), "inline script");
        }
        for (at, _) in html.match_indices("/portal/statistikk/") {
            let rest = &html[at + "/portal/statistikk/".len()..];
            let path = &rest[..rest.find('"').unwrap_or(0)];
            if !path.is_empty() {
                assert!(ASSETS.iter().any(|a| a.path == path), "{path} not served");
            }
        }
        for asset in ASSETS {
            let text = std::str::from_utf8(asset.body).unwrap_or_default();
            assert!(!text.is_empty(), "{}", asset.path);
            // Nothing from another origin (the SVG namespace is a name, not a fetch).
            let outside = text.replace("http://www.w3.org/2000/svg", "");
            assert!(
                !outside.contains("http://") && !outside.contains("https://"),
                "no CDN: {}",
                asset.path
            );
            for (at, _) in text.match_indices("from './") {
                let rest = &text[at + "from './".len()..];
                let name = &rest[..rest.find('\'').unwrap_or(0)];
                assert!(
                    ASSETS.iter().any(|a| a.path == name),
                    "{name} imported but not served"
                );
            }
        }
    }
}
