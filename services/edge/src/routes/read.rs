//! The read surface for health personnel (and citizens reading their own data): search by
//! query string or form body, `$lastn`, read by id. The edge parses the FHIR parameters;
//! `storage` decides access, audits and answers.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pmd_auth::Principal;
use pmd_error::{ErrorCode, ServiceError};
use pmd_proto::storage::v1::storage_service_client::StorageServiceClient;
use pmd_proto::storage::v1::{GetRequest, Measurement};

use crate::AppState;
use crate::error::{ApiError, FHIR_JSON};
use crate::routes::write::FhirBody;
use crate::search;

/// The patient may travel in this header instead of the URL (PMD's way of keeping ids out
/// of access logs).
pub const PATIENT_HEADER: &str = "x-pmd-patient";

fn storage(state: &AppState) -> StorageServiceClient<pmd_server::Channel> {
    StorageServiceClient::new(state.upstreams.storage.channel.clone())
        .max_decoding_message_size(64 * 1024 * 1024)
}

/// `name=value` pairs of a query string or form body, percent-decoded.
pub fn pairs(text: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    Ok(match text {
        None | Some("") => Vec::new(),
        Some(text) => form_urlencoded::parse(text.as_bytes())
            .into_owned()
            .collect(),
    })
}

pub(crate) fn lenient(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("handling=lenient"))
}

pub(crate) fn header_patient(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(PATIENT_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The absolute base URL clients reach the edge at (for `self` and `next` links).
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(base) = &state.public_base_url {
        return base.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

async fn run_search(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    params: Vec<(String, String)>,
) -> Result<Response, ApiError> {
    let parsed = search::parse_search(
        &params,
        header_patient(headers),
        lenient(headers),
        &state.ids,
    )
    .map_err(ApiError)?;
    let base = base_url(state, headers);
    let mut call = tonic::Request::new(search::to_query_request(&parsed));
    pmd_auth::authorize_outgoing(&mut call, principal);
    let mut response = storage(state).query(call).await?.into_inner();
    let next = (!response.next_cursor.is_empty())
        .then(|| search::next_link(&base, &response.next_cursor, parsed.count));
    let self_link = search::self_link(&base, "/fhir/Observation", &parsed);
    let total = response.total.map(|t| u64::try_from(t).unwrap_or_default());
    let bundle = pmd_fhir::searchset_json(
        &self_link,
        next.as_deref(),
        &raw_resources(&mut response.measurements),
        total,
    );
    Ok(fhir_bytes_response(StatusCode::OK, bundle))
}

/// A measurement storage sent without its stored rendering (from a replica older than
/// stored renderings, during a rolling upgrade) is rendered here from its full message, so
/// what the edge sends is always the Observation.
fn ensure_rendered(measurement: &mut Measurement) {
    if measurement.fhir_json.is_empty() {
        measurement.fhir_json = pmd_fhir::observation_json(measurement);
    }
}

/// The stored renderings storage sent, to splice into a Bundle untouched.
fn raw_resources(measurements: &mut [Measurement]) -> Vec<pmd_fhir::RawResource<'_>> {
    measurements.iter_mut().for_each(ensure_rendered);
    measurements
        .iter()
        .map(|m| pmd_fhir::RawResource {
            resource_type: "Observation",
            id: &m.id,
            json: &m.fhir_json,
        })
        .collect()
}

fn fhir_bytes_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, FHIR_JSON)], body).into_response()
}

/// `GET /fhir/Observation?...`: search one patient's measurements.
#[utoipa::path(get, path = "/fhir/Observation", tag = "read",
    params(
        ("patient" = Option<String>, Query, description = "Patient/<id>; or patient.identifier=<system>|<id>, subject, or the X-Pmd-Patient header"),
        ("code" = Option<String>, Query, description = "system|code or code; comma = OR"),
        ("category" = Option<String>, Query, description = "vital-signs"),
        ("date" = Option<String>, Query, description = "FHIR date with prefix (eq, ne, gt, lt, ge, le, sa, eb, ap); repeatable (AND)"),
        ("_count" = Option<u32>, Query, description = "Page size, default 50, at most 1000"),
        ("_sort" = Option<String>, Query, description = "date or -date (default -date: newest first)"),
        ("_total" = Option<String>, Query, description = "accurate to get Bundle.total"),
        ("_cursor" = Option<String>, Query, description = "Opaque; only in the next link"),
    ),
    responses(
        (status = 200, description = "searchset Bundle with self and (when more) next links"),
        (status = 400, description = "No patient, several patients, bad or unknown parameter (OperationOutcome)"),
        (status = 403, description = "Not allowed to read this patient's data (no hint of what exists)"),
        (status = 503, description = "Consent could not be decided or the audit log could not be written: no data"),
    ))]
pub async fn search_get(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = pairs(query.as_deref())?;
    run_search(&state, &principal, &headers, params).await
}

/// `POST /fhir/Observation/_search`: the same with a form body (keeps the patient id out of
/// URLs and access logs).
#[utoipa::path(post, path = "/fhir/Observation/_search", tag = "read",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "The search parameters of GET /fhir/Observation as a form body"),
    responses(
        (status = 200, description = "searchset Bundle"),
        (status = 400, description = "Bad parameters"),
        (status = 403, description = "Denied"),
        (status = 415, description = "Not a form body"),
    ))]
pub async fn search_post(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    FhirBody(body): FhirBody,
) -> Result<Response, ApiError> {
    let mut params = pairs(query.as_deref())?;
    params.extend(form_body(&headers, &body)?);
    run_search(&state, &principal, &headers, params).await
}

fn form_body(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if content_type != "application/x-www-form-urlencoded" {
        return Err(ApiError(ServiceError::new(
            ErrorCode::UnsupportedMediaType,
            "send the search parameters as application/x-www-form-urlencoded",
        )));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError(ServiceError::bad_request("the form body is not UTF-8")))?;
    pairs(Some(text))
}

async fn run_lastn(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    params: Vec<(String, String)>,
) -> Result<Response, ApiError> {
    let parsed = search::parse_lastn(
        &params,
        header_patient(headers),
        lenient(headers),
        &state.ids,
    )
    .map_err(ApiError)?;
    let mut call = tonic::Request::new(search::to_latest_request(&parsed));
    pmd_auth::authorize_outgoing(&mut call, principal);
    let mut response = storage(state).latest(call).await?.into_inner();
    let base = base_url(state, headers);
    let self_link = search::lastn_self_link(&base, &parsed);
    let bundle = pmd_fhir::searchset_json(
        &self_link,
        None,
        &raw_resources(&mut response.measurements),
        None,
    );
    Ok(fhir_bytes_response(StatusCode::OK, bundle))
}

/// `GET /fhir/Observation/$lastn`: the latest `max` measurements per code.
#[utoipa::path(get, path = "/fhir/Observation/$lastn", tag = "read",
    params(
        ("patient" = Option<String>, Query, description = "Patient/<id> (or the other patient forms of search)"),
        ("max" = Option<u32>, Query, description = "Per code, default 1"),
        ("code" = Option<String>, Query, description = "Codes; or category=vital-signs for all"),
    ),
    responses((status = 200, description = "searchset Bundle, newest first within each code")))]
pub async fn lastn_get(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = pairs(query.as_deref())?;
    run_lastn(&state, &principal, &headers, params).await
}

/// `POST /fhir/Observation/$lastn` with a form body.
#[utoipa::path(post, path = "/fhir/Observation/$lastn", tag = "read",
    request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "searchset Bundle")))]
pub async fn lastn_post(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    FhirBody(body): FhirBody,
) -> Result<Response, ApiError> {
    let mut params = pairs(query.as_deref())?;
    params.extend(form_body(&headers, &body)?);
    run_lastn(&state, &principal, &headers, params).await
}

/// `GET /fhir/Observation/{id}`.
#[utoipa::path(get, path = "/fhir/Observation/{id}", tag = "read",
    params(("id" = String, Path, description = "Observation id")),
    responses(
        (status = 200, description = "The Observation"),
        (status = 403, description = "Denied"),
        (status = 404, description = "Not found"),
    ))]
pub async fn read_observation(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut call = tonic::Request::new(GetRequest { id });
    pmd_auth::authorize_outgoing(&mut call, &principal);
    let response = storage(&state).get(call).await?.into_inner();
    let mut measurement = response
        .measurement
        .ok_or_else(|| ApiError(ServiceError::not_found("no Observation with that id")))?;
    ensure_rendered(&mut measurement);
    let mut response = fhir_bytes_response(StatusCode::OK, measurement.fhir_json);
    if let Ok(etag) = pmd_fhir::weak_etag(measurement.version.max(1)).parse() {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_measurement_without_a_stored_rendering_is_rendered_for_the_bundle() {
        let stored = Measurement {
            id: "a".into(),
            fhir_json: br#"{"resourceType":"Observation","id":"a"}"#.to_vec(),
            ..Measurement::default()
        };
        let old_replica = Measurement {
            id: "b".into(),
            version: 1,
            resource_json: br#"{"resourceType":"Observation","status":"final"}"#.to_vec(),
            ..Measurement::default()
        };
        let mut measurements = vec![stored, old_replica];
        let raw = raw_resources(&mut measurements);
        let bundle = pmd_fhir::searchset_json("https://h/fhir/Observation", None, &raw, None);
        let bundle: serde_json::Value = serde_json::from_slice(&bundle).unwrap();
        assert_eq!(bundle["entry"][0]["resource"]["id"], "a");
        assert_eq!(bundle["entry"][1]["resource"]["id"], "b");
        assert_eq!(bundle["entry"][1]["resource"]["status"], "final");
        assert_eq!(bundle["entry"][1]["resource"]["meta"]["versionId"], "1");
    }
}
