//! The statistics API for the health directorate (scope `pmd:statistics`). The statistics
//! issue fills these in; until then each answers 501 with an OperationOutcome.

use pmd_error::ServiceError;

use crate::error::ApiError;

/// Usage counts per period and group.
#[utoipa::path(get, path = "/api/statistics/usage", tag = "statistics",
    params(
        ("from" = Option<String>, Query, description = "YYYY-MM-DD; default 29 days before today"),
        ("to" = Option<String>, Query, description = "YYYY-MM-DD; default today"),
        ("granularity" = Option<String>, Query, description = "day, week or month"),
        ("group_by" = Option<String>, Query, description = "org_type, municipality, code, purpose"),
    ),
    responses((status = 200, description = "JSON usage rows, small cells suppressed")))]
pub async fn usage() -> ApiError {
    ApiError(ServiceError::unimplemented("usage statistics"))
}

/// Adoption indicators.
#[utoipa::path(get, path = "/api/statistics/adoption", tag = "statistics",
    responses((status = 200, description = "JSON indicators")))]
pub async fn adoption() -> ApiError {
    ApiError(ServiceError::unimplemented("adoption indicators"))
}

/// De-identified raw export (CSV).
#[utoipa::path(get, path = "/api/statistics/export", tag = "statistics",
    responses((status = 200, description = "CSV stream", content_type = "text/csv")))]
pub async fn export() -> ApiError {
    ApiError(ServiceError::unimplemented("statistics export"))
}
