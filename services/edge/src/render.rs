//! From the services' messages to FHIR JSON.

use pmd_error::{Issue, Severity};
use pmd_proto::common::v1 as common;

/// An issue from a service, as the shared issue type.
pub fn issue_from_pb(issue: &common::Issue) -> Issue {
    Issue {
        severity: match common::Severity::try_from(issue.severity) {
            Ok(common::Severity::Fatal) => Severity::Fatal,
            Ok(common::Severity::Warning) => Severity::Warning,
            Ok(common::Severity::Information) => Severity::Information,
            _ => Severity::Error,
        },
        code: issue.code.clone(),
        diagnostics: issue.diagnostics.clone(),
        expression: (!issue.expression.is_empty()).then(|| issue.expression.clone()),
    }
}
