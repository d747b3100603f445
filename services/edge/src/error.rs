//! Errors leave the edge as FHIR `OperationOutcome`s with the status the shared error table
//! gives them.

use axum::response::{IntoResponse, Response};
use pmd_error::ServiceError;

pub const FHIR_JSON: &str = "application/fhir+json";

/// A service error on its way to an HTTP client.
#[derive(Debug)]
pub struct ApiError(pub ServiceError);

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        Self(error)
    }
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        Self(ServiceError::from_status(&status))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0.code.http_status();
        let body = self.0.to_operation_outcome().to_string();
        (status, [(http::header::CONTENT_TYPE, FHIR_JSON)], body).into_response()
    }
}
