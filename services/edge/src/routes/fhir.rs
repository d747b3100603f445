//! The FHIR R4 REST surface (mirrors NHN's PMD 2.0 API). Every route authenticates first.
//! The write path, read path and citizen services fill these in; until then each answers
//! 501 with an OperationOutcome saying so.

use pmd_error::ServiceError;

use crate::error::ApiError;

fn not_yet(what: &str) -> ApiError {
    ApiError(ServiceError::unimplemented(what))
}

/// Search one patient's Observations (query string).
#[utoipa::path(get, path = "/fhir/Observation", tag = "read",
    params(
        ("patient" = Option<String>, Query, description = "Patient/<id>, or use patient.identifier / subject"),
        ("code" = Option<String>, Query, description = "system|code or code; comma = OR"),
        ("date" = Option<String>, Query, description = "FHIR date with prefix (eq, ne, gt, lt, ge, le); repeatable"),
        ("_count" = Option<u32>, Query, description = "Page size, default 50, max 1000"),
        ("_sort" = Option<String>, Query, description = "date or -date (default -date)"),
    ),
    responses((status = 200, description = "searchset Bundle"), (status = 403, description = "Denied")))]
pub async fn search_get() -> ApiError {
    not_yet("observation search")
}

/// Search one patient's Observations (form body; keeps the patient id out of URLs).
#[utoipa::path(post, path = "/fhir/Observation/_search", tag = "read",
    request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "searchset Bundle"), (status = 403, description = "Denied")))]
pub async fn search_post() -> ApiError {
    not_yet("observation search")
}

/// The latest N Observations per code for one patient.
#[utoipa::path(get, path = "/fhir/Observation/$lastn", tag = "read",
    params(
        ("patient" = Option<String>, Query, description = "Patient/<id>"),
        ("max" = Option<u32>, Query, description = "Per code, default 1"),
        ("code" = Option<String>, Query, description = "Codes; or category=vital-signs"),
    ),
    responses((status = 200, description = "searchset Bundle")))]
pub async fn lastn() -> ApiError {
    not_yet("observation $lastn")
}

/// One Observation by id.
#[utoipa::path(get, path = "/fhir/Observation/{id}", tag = "read",
    params(("id" = String, Path, description = "Observation id")),
    responses((status = 200, description = "Observation"), (status = 404, description = "Not found")))]
pub async fn read_observation() -> ApiError {
    not_yet("observation read")
}

/// The citizen's access log.
#[utoipa::path(get, path = "/fhir/AuditEvent", tag = "citizen",
    params(("patient" = Option<String>, Query, description = "Patient/<id> (the citizen's own)")),
    responses((status = 200, description = "searchset Bundle of AuditEvent")))]
pub async fn audit_events() -> ApiError {
    not_yet("access log")
}

/// Create a block (FHIR Consent with provision type deny).
#[utoipa::path(post, path = "/fhir/Consent", tag = "citizen",
    request_body(content = serde_json::Value, content_type = "application/fhir+json"),
    responses((status = 201, description = "Created, with Location")))]
pub async fn create_consent() -> ApiError {
    not_yet("block creation")
}

/// The citizen's own blocks.
#[utoipa::path(get, path = "/fhir/Consent", tag = "citizen",
    responses((status = 200, description = "searchset Bundle of Consent")))]
pub async fn list_consents() -> ApiError {
    not_yet("block listing")
}

/// Revoke a block.
#[utoipa::path(delete, path = "/fhir/Consent/{id}", tag = "citizen",
    params(("id" = String, Path, description = "Consent id")),
    responses((status = 204, description = "Revoked")))]
pub async fn delete_consent() -> ApiError {
    not_yet("block revocation")
}
