//! The write surface: `POST /fhir` (batch or transaction Bundle) and `POST /fhir/Observation`,
//! translated to `ingestion.Submit`. The edge checks the envelope (token scope, media type,
//! size, JSON, Bundle shape); ingestion checks every entry.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::DateTime;
use pmd_auth::{Principal, Scope};
use pmd_error::{ErrorCode, Issue, ServiceError};
use pmd_fhir::{BundleKind, ResponseEntry};
use pmd_proto::ingestion::v1::{
    self as pb, Method, ingestion_service_client::IngestionServiceClient,
};
use pmd_proto::storage::v1::{WriteMode, WriteOutcome};
use serde_json::Value;

use crate::AppState;
use crate::error::{ApiError, FHIR_JSON};
use crate::render;

/// The request body; a body over the limit is 413 as an OperationOutcome.
pub struct FhirBody(pub Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for FhirBody {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(Self(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError(ServiceError::new(
                    ErrorCode::PayloadTooLarge,
                    "the body is larger than this server accepts (8 MiB by default); split the Bundle",
                )))
            }
            Err(rejection) => Err(ApiError(ServiceError::bad_request(format!(
                "the body could not be read: {}",
                rejection.body_text().to_lowercase()
            )))),
        }
    }
}

/// Most entries in one Bundle.
pub const MAX_ENTRIES: usize = 1000;

fn require_write(principal: &Principal) -> Result<(), ApiError> {
    principal.require_scope(Scope::Write).map_err(|_| {
        ApiError(ServiceError::forbidden(
            "writing measurements needs a source system token with scope pmd:write",
        ))
    })
}

/// 415 unless the body is FHIR JSON (`application/fhir+json` or `application/json`).
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence == "application/fhir+json" || essence == "application/json" {
        Ok(())
    } else {
        Err(ApiError(ServiceError::new(
            ErrorCode::UnsupportedMediaType,
            "send FHIR JSON: Content-Type application/fhir+json (or application/json)",
        )))
    }
}

/// The body as JSON, or 400 saying where it breaks.
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError(ServiceError::with_issues(
            ErrorCode::BadRequest,
            "malformed JSON",
            vec![Issue::error(
                "structure",
                format!(
                    "malformed JSON at line {}, column {}: {}",
                    e.line(),
                    e.column(),
                    short_reason(&e)
                ),
            )],
        ))
    })
}

fn short_reason(e: &serde_json::Error) -> &'static str {
    use serde_json::error::Category;
    match e.classify() {
        Category::Eof => "the document ends too early",
        Category::Syntax => "syntax error",
        Category::Data => "unexpected value",
        Category::Io => "could not be read",
    }
}

async fn submit(
    state: &AppState,
    principal: &Principal,
    request: pb::SubmitRequest,
) -> Result<pb::SubmitResponse, ApiError> {
    let mut call = tonic::Request::new(request);
    pmd_auth::authorize_outgoing(&mut call, principal);
    let response = IngestionServiceClient::new(state.upstreams.ingestion.channel.clone())
        .max_decoding_message_size(64 * 1024 * 1024)
        .max_encoding_message_size(64 * 1024 * 1024)
        .submit(call)
        .await?;
    Ok(response.into_inner())
}

/// `POST /fhir`: a batch or transaction Bundle of Observations.
#[utoipa::path(post, path = "/fhir", tag = "write",
    request_body(content = serde_json::Value, content_type = "application/fhir+json",
        description = "A FHIR Bundle of type batch or transaction (HL7 Norway PmdBundleObservation)"),
    responses(
        (status = 200, description = "batch-response Bundle, one entry per request entry"),
        (status = 400, description = "Malformed Bundle or, for a transaction, any bad entry (OperationOutcome)"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Token without pmd:write"),
        (status = 413, description = "Body or entry count over the limit"),
        (status = 415, description = "Not FHIR JSON"),
    ))]
pub async fn bundle(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    FhirBody(body): FhirBody,
) -> Result<Response, ApiError> {
    require_write(&principal)?;
    require_json(&headers)?;
    let (transaction, items) = match fast_entries(&body) {
        Some(parsed) => parsed,
        None => checked_entries(&body)?,
    };
    if items.len() > MAX_ENTRIES {
        return Err(ApiError(ServiceError::with_issues(
            ErrorCode::PayloadTooLarge,
            "too many entries",
            vec![
                Issue::error(
                    "too-costly",
                    format!(
                        "a Bundle may hold at most {MAX_ENTRIES} entries; this one holds {}",
                        items.len()
                    ),
                )
                .at("Bundle.entry"),
            ],
        )));
    }
    let response = submit(
        &state,
        &principal,
        pb::SubmitRequest {
            mode: if transaction {
                WriteMode::AllOrNothing as i32
            } else {
                WriteMode::Batch as i32
            },
            items,
            from_bundle: true,
            return_measurements: false,
        },
    )
    .await?;
    if transaction && !response.committed {
        return Err(transaction_failure(&response));
    }
    let entries: Vec<ResponseEntry> = response.results.iter().map(response_entry).collect();
    let body = if transaction {
        pmd_fhir::transaction_response(entries)
    } else {
        pmd_fhir::batch_response(entries)
    };
    Ok(fhir_response(StatusCode::OK, &body, None))
}

fn method(method: Option<&str>) -> i32 {
    match method {
        Some("POST") => Method::Post as i32,
        Some("PUT") => Method::Put as i32,
        _ => Method::Unspecified as i32,
    }
}

#[derive(serde::Deserialize)]
struct RawBundle<'a> {
    #[serde(rename = "resourceType")]
    resource_type: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(borrow)]
    entry: Vec<RawEntry<'a>>,
}

#[derive(serde::Deserialize)]
struct RawEntry<'a> {
    #[serde(rename = "fullUrl")]
    full_url: Option<String>,
    request: Option<RawRequest>,
    #[serde(borrow)]
    resource: Option<&'a serde_json::value::RawValue>,
}

#[derive(serde::Deserialize)]
struct RawRequest {
    method: Option<String>,
    url: Option<String>,
    #[serde(rename = "ifNoneExist")]
    if_none_exist: Option<String>,
}

/// The common case, fast: a well-formed batch or transaction Bundle, each resource handed on
/// as the bytes it arrived as (no parse into a tree and back). `None` for anything unusual;
/// [`checked_entries`] then explains what is wrong.
fn fast_entries(body: &[u8]) -> Option<(bool, Vec<pb::SubmitItem>)> {
    let bundle: RawBundle = serde_json::from_slice(body).ok()?;
    if bundle.resource_type != "Bundle" {
        return None;
    }
    let transaction = match bundle.kind.as_str() {
        "batch" => false,
        "transaction" => true,
        _ => return None,
    };
    let items = bundle
        .entry
        .into_iter()
        .map(|entry| {
            let request = entry.request.unwrap_or(RawRequest {
                method: None,
                url: None,
                if_none_exist: None,
            });
            pb::SubmitItem {
                full_url: entry.full_url.unwrap_or_default(),
                method: method(request.method.as_deref()),
                request_url: request.url.unwrap_or_default(),
                if_none_exist: request.if_none_exist.unwrap_or_default(),
                resource_json: entry
                    .resource
                    .map(|raw| raw.get().as_bytes().to_vec())
                    .unwrap_or_default(),
            }
        })
        .collect();
    Some((transaction, items))
}

/// The general case: parse the document, report Bundle-level problems, keep every entry.
fn checked_entries(body: &[u8]) -> Result<(bool, Vec<pb::SubmitItem>), ApiError> {
    let document = parse_json(body)?;
    let incoming = pmd_fhir::parse_bundle(&document).map_err(|issues| {
        ApiError(ServiceError::with_issues(
            ErrorCode::BadRequest,
            "not a batch or transaction Bundle",
            issues,
        ))
    })?;
    let transaction = incoming.kind == BundleKind::Transaction;
    let items = incoming
        .entries
        .iter()
        .map(|entry| pb::SubmitItem {
            full_url: entry.full_url.clone().unwrap_or_default(),
            method: method(entry.method.as_deref()),
            request_url: entry.url.clone().unwrap_or_default(),
            if_none_exist: entry.if_none_exist.clone().unwrap_or_default(),
            resource_json: entry
                .resource
                .as_ref()
                .and_then(|r| serde_json::to_vec(r).ok())
                .unwrap_or_default(),
        })
        .collect();
    Ok((transaction, items))
}

/// Every failed entry of a transaction, by index and fullUrl, in one OperationOutcome.
fn transaction_failure(response: &pb::SubmitResponse) -> ApiError {
    let mut issues = Vec::new();
    let mut only_conflicts = true;
    for result in &response.results {
        let outcome = WriteOutcome::try_from(result.outcome).unwrap_or(WriteOutcome::Unspecified);
        if !matches!(outcome, WriteOutcome::Rejected | WriteOutcome::Conflict) {
            continue;
        }
        only_conflicts &= outcome == WriteOutcome::Conflict;
        for issue in &result.issues {
            let mut out = Issue::error(
                issue.code.clone(),
                format!(
                    "entry {} ({}): {}",
                    result.index,
                    if result.full_url.is_empty() {
                        "no fullUrl"
                    } else {
                        &result.full_url
                    },
                    issue.diagnostics
                ),
            );
            out.expression = if issue.expression.is_empty() {
                Some(format!("Bundle.entry[{}]", result.index))
            } else {
                Some(issue.expression.clone())
            };
            issues.push(out);
        }
    }
    let code = if only_conflicts && !issues.is_empty() {
        ErrorCode::Conflict
    } else {
        ErrorCode::BadRequest
    };
    ApiError(ServiceError::with_issues(
        code,
        "the transaction was not stored: no entry was stored",
        issues,
    ))
}

fn response_entry(result: &pb::ItemResult) -> ResponseEntry {
    let outcome = WriteOutcome::try_from(result.outcome).unwrap_or(WriteOutcome::Unspecified);
    let stored = matches!(
        outcome,
        WriteOutcome::Created | WriteOutcome::AlreadyStored | WriteOutcome::Replaced
    );
    let status = match outcome {
        WriteOutcome::Created => "201 Created",
        WriteOutcome::AlreadyStored | WriteOutcome::Replaced => "200 OK",
        WriteOutcome::Conflict => "409 Conflict",
        WriteOutcome::Rejected => "400 Bad Request",
        WriteOutcome::NotAttempted => "424 Failed Dependency",
        WriteOutcome::Unspecified => "500 Internal Server Error",
    };
    let outcome_body = (!stored).then(|| {
        let issues: Vec<Issue> = result.issues.iter().map(render::issue_from_pb).collect();
        pmd_error::operation_outcome(&issues)
    });
    ResponseEntry {
        full_url: (!result.full_url.is_empty()).then(|| result.full_url.clone()),
        status: status.to_owned(),
        location: stored.then(|| {
            format!(
                "Observation/{}/_history/{}",
                result.id,
                result.version.max(1)
            )
        }),
        etag: (stored && result.version > 0).then(|| pmd_fhir::weak_etag(result.version)),
        last_modified: (stored && result.last_updated_unix_micros > 0)
            .then(|| DateTime::from_timestamp_micros(result.last_updated_unix_micros))
            .flatten(),
        outcome: outcome_body,
    }
}

/// `POST /fhir/Observation`: one measurement; honours `If-None-Exist`.
#[utoipa::path(post, path = "/fhir/Observation", tag = "write",
    request_body(content = serde_json::Value, content_type = "application/fhir+json"),
    responses(
        (status = 201, description = "Created"),
        (status = 200, description = "Already stored"),
        (status = 400, description = "Invalid Observation (OperationOutcome naming the field)"),
        (status = 409, description = "Same identifier, different content"),
    ))]
pub async fn create_observation(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    FhirBody(body): FhirBody,
) -> Result<Response, ApiError> {
    require_write(&principal)?;
    require_json(&headers)?;
    let resource = parse_json(&body)?;
    let if_none_exist = headers
        .get("if-none-exist")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let response = submit(
        &state,
        &principal,
        pb::SubmitRequest {
            mode: WriteMode::AllOrNothing as i32,
            items: vec![pb::SubmitItem {
                full_url: String::new(),
                method: Method::Post as i32,
                request_url: String::new(),
                if_none_exist,
                resource_json: serde_json::to_vec(&resource).unwrap_or_default(),
            }],
            from_bundle: false,
            return_measurements: true,
        },
    )
    .await?;
    let result = response
        .results
        .into_iter()
        .next()
        .ok_or_else(|| ApiError(ServiceError::internal("ingestion answered no result")))?;
    let outcome = WriteOutcome::try_from(result.outcome).unwrap_or(WriteOutcome::Unspecified);
    let status = match outcome {
        WriteOutcome::Created => StatusCode::CREATED,
        WriteOutcome::AlreadyStored | WriteOutcome::Replaced => StatusCode::OK,
        WriteOutcome::Conflict => {
            return Err(ApiError(ServiceError::with_issues(
                ErrorCode::Conflict,
                "conflict",
                result.issues.iter().map(render::issue_from_pb).collect(),
            )));
        }
        _ => {
            return Err(ApiError(ServiceError::with_issues(
                ErrorCode::BadRequest,
                "the Observation was not stored",
                result.issues.iter().map(render::issue_from_pb).collect(),
            )));
        }
    };
    let location = format!(
        "Observation/{}/_history/{}",
        result.id,
        result.version.max(1)
    );
    let body = match &result.measurement {
        Some(measurement) => pmd_fhir::observation(measurement),
        None => resource,
    };
    let mut response = fhir_response(status, &body, Some(&location));
    if let Ok(etag) = pmd_fhir::weak_etag(result.version.max(1)).parse() {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}

/// A FHIR JSON response.
pub fn fhir_response(status: StatusCode, body: &Value, location: Option<&str>) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, FHIR_JSON)],
        body.to_string(),
    )
        .into_response();
    if let Some(location) = location
        && let Ok(value) = location.parse()
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
