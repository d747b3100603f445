//! From the services' messages to FHIR JSON.

use chrono::DateTime;
use pmd_error::{Issue, Severity};
use pmd_proto::common::v1 as common;
use pmd_proto::storage::v1::{self as storage, MeasurementStatus};

/// A stored measurement as the Observation the source sent, with the canonical quantity
/// (the received one in the `received-quantity` extension), `id` and `meta`.
pub fn observation(m: &storage::Measurement) -> serde_json::Value {
    let original: serde_json::Value =
        serde_json::from_slice(&m.resource_json).unwrap_or(serde_json::Value::Null);
    let value = match (&m.value, &m.received_quantity) {
        (Some(storage::measurement::Value::Quantity(canonical)), Some(received)) => {
            Some((quantity(canonical), quantity(received)))
        }
        _ => None,
    };
    let components = m
        .components
        .iter()
        .filter_map(|c| {
            Some(pmd_fhir::RenderComponent {
                code: c.code.clone(),
                canonical: quantity(c.quantity.as_ref()?),
                received: quantity(c.received_quantity.as_ref()?),
            })
        })
        .collect();
    let status = MeasurementStatus::try_from(m.status)
        .ok()
        .and_then(|s| match s {
            MeasurementStatus::Amended => Some("amended"),
            MeasurementStatus::Corrected => Some("corrected"),
            _ => None,
        });
    let input = pmd_fhir::RenderInput {
        id: &m.id,
        version_id: m.version.max(1),
        last_updated: DateTime::from_timestamp_micros(m.last_updated_unix_micros)
            .unwrap_or_default(),
        status_override: status,
        value,
        components,
    };
    pmd_fhir::render_observation(&original, &input)
}

fn quantity(q: &common::Quantity) -> pmd_fhir::Quantity {
    pmd_fhir::Quantity::new(q.value, q.unit.clone())
}

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
