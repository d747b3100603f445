//! FHIR routes whose behaviour a later issue owns (the citizen's access log). They
//! authenticate first and answer 501 with an OperationOutcome until then.

use pmd_error::ServiceError;

use crate::error::ApiError;

fn not_yet(what: &str) -> ApiError {
    ApiError(ServiceError::unimplemented(what))
}

/// The citizen's access log.
#[utoipa::path(get, path = "/fhir/AuditEvent", tag = "citizen",
    params(("patient" = Option<String>, Query, description = "Patient/<id> (the citizen's own)")),
    responses((status = 200, description = "searchset Bundle of AuditEvent")))]
pub async fn audit_events() -> ApiError {
    not_yet("access log")
}
