//! One error-code table for every service: each [`ErrorCode`] maps once to a `tonic::Code`
//! and to an HTTP status, and a [`ServiceError`] travels between services inside a
//! `tonic::Status` (its issues as JSON in the status details) so the edge can render the
//! exact FHIR `OperationOutcome` the service produced.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The shared error vocabulary of the PMD services (quickwit's `ServiceErrorCode` idea).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The input is malformed or fails validation (400).
    BadRequest,
    /// No valid credentials (401).
    Unauthenticated,
    /// Valid credentials without the right to do this (403).
    Forbidden,
    /// No such resource (404).
    NotFound,
    /// The request conflicts with stored state (409).
    Conflict,
    /// The body or batch is too large (413).
    PayloadTooLarge,
    /// The media type is not supported (415).
    UnsupportedMediaType,
    /// Well-formed but semantically unacceptable (422).
    Unprocessable,
    /// Too many requests (429).
    RateLimited,
    /// A dependency is down or the outcome cannot be decided safely (503).
    Unavailable,
    /// The operation is not implemented yet (501).
    Unimplemented,
    /// A bug or an unexpected failure (500).
    Internal,
}

impl ErrorCode {
    /// The HTTP status for this code.
    pub fn http_status(self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Self::BadRequest => S::BAD_REQUEST,
            Self::Unauthenticated => S::UNAUTHORIZED,
            Self::Forbidden => S::FORBIDDEN,
            Self::NotFound => S::NOT_FOUND,
            Self::Conflict => S::CONFLICT,
            Self::PayloadTooLarge => S::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => S::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable => S::UNPROCESSABLE_ENTITY,
            Self::RateLimited => S::TOO_MANY_REQUESTS,
            Self::Unavailable => S::SERVICE_UNAVAILABLE,
            Self::Unimplemented => S::NOT_IMPLEMENTED,
            Self::Internal => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// The gRPC status code for this code.
    pub fn grpc_code(self) -> tonic::Code {
        use tonic::Code as C;
        match self {
            Self::BadRequest | Self::Unprocessable | Self::UnsupportedMediaType => {
                C::InvalidArgument
            }
            Self::Unauthenticated => C::Unauthenticated,
            Self::Forbidden => C::PermissionDenied,
            Self::NotFound => C::NotFound,
            Self::Conflict => C::AlreadyExists,
            Self::PayloadTooLarge | Self::RateLimited => C::ResourceExhausted,
            Self::Unavailable => C::Unavailable,
            Self::Unimplemented => C::Unimplemented,
            Self::Internal => C::Internal,
        }
    }

    /// The code for a gRPC status that carries no PMD details (a transport failure, a
    /// deadline, a status from a foreign server).
    pub fn from_grpc_code(code: tonic::Code) -> Self {
        use tonic::Code as C;
        match code {
            C::InvalidArgument | C::OutOfRange | C::FailedPrecondition => Self::BadRequest,
            C::Unauthenticated => Self::Unauthenticated,
            C::PermissionDenied => Self::Forbidden,
            C::NotFound => Self::NotFound,
            C::AlreadyExists | C::Aborted => Self::Conflict,
            C::ResourceExhausted => Self::RateLimited,
            C::Unavailable | C::DeadlineExceeded | C::Cancelled => Self::Unavailable,
            C::Unimplemented => Self::Unimplemented,
            C::Ok | C::Unknown | C::Internal | C::DataLoss => Self::Internal,
        }
    }

    /// The FHIR `IssueType` that fits this code when a more precise one is not known.
    pub fn fhir_issue_type(self) -> &'static str {
        match self {
            Self::BadRequest | Self::Unprocessable => "invalid",
            Self::Unauthenticated => "login",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not-found",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "too-costly",
            Self::UnsupportedMediaType | Self::Unimplemented => "not-supported",
            Self::RateLimited => "throttled",
            Self::Unavailable => "transient",
            Self::Internal => "exception",
        }
    }
}

/// Severity of an [`Issue`], as FHIR names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Fatal,
    Error,
    Warning,
    Information,
}

/// One problem, shaped like a FHIR `OperationOutcome.issue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub severity: Severity,
    /// FHIR issue type: `invalid`, `required`, `value`, `not-supported`, `conflict`, ...
    pub code: String,
    /// Lowercase explanation; never a national id or a name.
    pub diagnostics: String,
    /// FHIRPath of the offending element, when one is to blame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

impl Issue {
    /// An error-severity issue.
    pub fn error(code: impl Into<String>, diagnostics: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code: code.into(),
            diagnostics: diagnostics.into(),
            expression: None,
        }
    }

    /// The same issue blaming the element at `expression`.
    pub fn at(mut self, expression: impl Into<String>) -> Self {
        self.expression = Some(expression.into());
        self
    }

    /// This issue as a FHIR `OperationOutcome.issue` element.
    pub fn to_fhir(&self) -> serde_json::Value {
        let mut issue = serde_json::json!({
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.diagnostics,
        });
        if let Some(expression) = &self.expression {
            issue["expression"] = serde_json::json!([expression]);
        }
        issue
    }
}

/// An error that crosses a service boundary: a code, a message and the issues behind it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ServiceError {
    pub code: ErrorCode,
    pub message: String,
    pub issues: Vec<Issue>,
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)
    }
}

#[derive(Serialize, Deserialize)]
struct Details {
    code: ErrorCode,
    issues: Vec<Issue>,
}

impl ServiceError {
    /// An error whose single issue is the message itself, typed by the code.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let message = message.into();
        let issues = vec![Issue::error(code.fhir_issue_type(), message.clone())];
        Self {
            code,
            message,
            issues,
        }
    }

    /// An error carrying the given issues; the message summarises them.
    pub fn with_issues(code: ErrorCode, message: impl Into<String>, issues: Vec<Issue>) -> Self {
        Self {
            code,
            message: message.into(),
            issues,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    pub fn unimplemented(what: &str) -> Self {
        Self::new(
            ErrorCode::Unimplemented,
            format!("{what} is not implemented yet"),
        )
    }

    /// The error as a gRPC status; the issues ride in the status details as JSON.
    pub fn to_status(&self) -> tonic::Status {
        let details = Details {
            code: self.code,
            issues: self.issues.clone(),
        };
        let bytes = serde_json::to_vec(&details).unwrap_or_default();
        tonic::Status::with_details(self.code.grpc_code(), self.message.clone(), bytes.into())
    }

    /// Recover the error from a status, also one from a foreign server or the transport.
    pub fn from_status(status: &tonic::Status) -> Self {
        if let Ok(details) = serde_json::from_slice::<Details>(status.details()) {
            return Self {
                code: details.code,
                message: status.message().to_owned(),
                issues: details.issues,
            };
        }
        let code = ErrorCode::from_grpc_code(status.code());
        let message = match status.code() {
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
                "a service this request depends on is unavailable".to_owned()
            }
            _ if status.message().is_empty() => format!("{:?}", status.code()).to_lowercase(),
            _ => status.message().to_owned(),
        };
        Self::new(code, message)
    }

    /// The error as a FHIR R4 `OperationOutcome`.
    pub fn to_operation_outcome(&self) -> serde_json::Value {
        operation_outcome(&self.issues)
    }
}

impl From<ServiceError> for tonic::Status {
    fn from(error: ServiceError) -> Self {
        error.to_status()
    }
}

impl From<tonic::Status> for ServiceError {
    fn from(status: tonic::Status) -> Self {
        Self::from_status(&status)
    }
}

/// A FHIR R4 `OperationOutcome` holding these issues.
pub fn operation_outcome(issues: &[Issue]) -> serde_json::Value {
    serde_json::json!({
        "resourceType": "OperationOutcome",
        "issue": issues.iter().map(Issue::to_fhir).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_to_the_http_status_its_name_says() {
        assert_eq!(ErrorCode::BadRequest.http_status().as_u16(), 400);
        assert_eq!(ErrorCode::Unauthenticated.http_status().as_u16(), 401);
        assert_eq!(ErrorCode::Forbidden.http_status().as_u16(), 403);
        assert_eq!(ErrorCode::NotFound.http_status().as_u16(), 404);
        assert_eq!(ErrorCode::Conflict.http_status().as_u16(), 409);
        assert_eq!(ErrorCode::PayloadTooLarge.http_status().as_u16(), 413);
        assert_eq!(ErrorCode::UnsupportedMediaType.http_status().as_u16(), 415);
        assert_eq!(ErrorCode::Unprocessable.http_status().as_u16(), 422);
        assert_eq!(ErrorCode::RateLimited.http_status().as_u16(), 429);
        assert_eq!(ErrorCode::Unavailable.http_status().as_u16(), 503);
    }

    #[test]
    fn a_service_error_survives_the_trip_through_a_grpc_status() {
        let error = ServiceError::with_issues(
            ErrorCode::Unprocessable,
            "1 entry rejected",
            vec![
                Issue::error("value", "value 400 /min is outside 20–300 /min")
                    .at("Observation.valueQuantity.value"),
            ],
        );
        let status = error.to_status();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(ServiceError::from_status(&status), error);
    }

    #[test]
    fn a_transport_failure_becomes_unavailable_without_leaking_its_text() {
        let status = tonic::Status::unavailable("tcp connect error 127.0.0.1:50052");
        let error = ServiceError::from_status(&status);
        assert_eq!(error.code, ErrorCode::Unavailable);
        assert!(!error.message.contains("127.0.0.1"));
    }

    #[test]
    fn operation_outcome_names_the_element_as_a_fhirpath_list() {
        let outcome = ServiceError::with_issues(
            ErrorCode::BadRequest,
            "bad",
            vec![Issue::error("required", "subject is required").at("Observation.subject")],
        )
        .to_operation_outcome();
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert_eq!(outcome["issue"][0]["severity"], "error");
        assert_eq!(outcome["issue"][0]["code"], "required");
        assert_eq!(outcome["issue"][0]["expression"][0], "Observation.subject");
    }
}
