//! `Observation.subject`: the patient, by identifier or by `Patient/<national id>`.

use pmd_domain::ident::oid;
use pmd_domain::{IdError, IdentifierSystem, NationalId};
use pmd_error::Issue;
use serde_json::{Map, Value};

use super::{Context, present, required_string};

/// What to send instead, for messages.
const ACCEPTED: &str = "use fødselsnummer (urn:oid:2.16.578.1.12.4.1.4.1), \
                        d-number (urn:oid:2.16.578.1.12.4.1.4.2) or \
                        fh-number (urn:oid:2.16.578.1.12.4.1.4.3)";

pub(super) fn check(
    observation: &Map<String, Value>,
    ctx: &Context,
    issues: &mut Vec<Issue>,
) -> Option<NationalId> {
    let Some(subject) = present(observation, "subject") else {
        issues.push(
            Issue::error(
                "required",
                "subject is required: the patient's identifier or a reference Patient/<national id>",
            )
            .at(ctx.at("subject")),
        );
        return None;
    };
    let Some(subject) = subject.as_object() else {
        issues.push(
            Issue::error("invalid", "subject must be a reference (a json object)")
                .at(ctx.at("subject")),
        );
        return None;
    };
    let reference = present(subject, "reference");
    match present(subject, "identifier") {
        Some(identifier) => {
            let patient = by_identifier(identifier, ctx, issues)?;
            // A reference naming another patient contradicts the identifier.
            let other = reference
                .and_then(Value::as_str)
                .and_then(patient_id_in_reference)
                .and_then(|digits| NationalId::parse(digits, ctx.ids).ok());
            if other.is_some_and(|other| other.expose_secret() != patient.expose_secret()) {
                issues.push(
                    Issue::error(
                        "invalid",
                        "subject.reference and subject.identifier name different patients",
                    )
                    .at(ctx.at("subject")),
                );
                return None;
            }
            Some(patient)
        }
        None => match reference {
            Some(reference) => by_reference(reference, ctx, issues),
            None => {
                issues.push(
                    Issue::error(
                        "required",
                        "subject needs identifier (system and value) or reference Patient/<national id>",
                    )
                    .at(ctx.at("subject")),
                );
                None
            }
        },
    }
}

fn by_identifier(identifier: &Value, ctx: &Context, issues: &mut Vec<Issue>) -> Option<NationalId> {
    let Some(identifier) = identifier.as_object() else {
        issues.push(
            Issue::error("invalid", "subject.identifier must be a json object")
                .at(ctx.at("subject.identifier")),
        );
        return None;
    };
    let system_path = ctx.at("subject.identifier.system");
    let value_path = ctx.at("subject.identifier.value");
    let system = required_string(
        identifier,
        "system",
        system_path.clone(),
        "subject.identifier.system",
        issues,
    );
    let value = required_string(
        identifier,
        "value",
        value_path.clone(),
        "subject.identifier.value",
        issues,
    );

    let system_ok = match system.map(IdentifierSystem::from_uri) {
        None => false,
        Some(None) => {
            issues.push(
                Issue::error(
                    "not-supported",
                    format!(
                        "subject.identifier.system is not a patient identifier system; {ACCEPTED}"
                    ),
                )
                .at(system_path),
            );
            false
        }
        Some(Some(known)) if known.national_id_kind().is_none() => {
            issues.push(
                Issue::error(
                    "not-supported",
                    format!(
                        "subject.identifier.system names a {}, not a patient; {ACCEPTED}",
                        known.label()
                    ),
                )
                .at(system_path),
            );
            false
        }
        Some(Some(_)) => true,
    };
    let value = value?;
    let parsed = match system {
        Some(system) if system_ok => NationalId::parse_with_system(system, value, ctx.ids),
        // The system is missing or wrong: still say what is wrong with the value.
        _ => NationalId::parse(value, ctx.ids),
    };
    match parsed {
        Ok(patient) if system_ok => Some(patient),
        Ok(_) => None,
        Err(error @ IdError::SystemMismatch { .. }) => {
            issues.push(
                Issue::error("value", format!("subject.identifier: {error}"))
                    .at(ctx.at("subject.identifier")),
            );
            None
        }
        Err(error) => {
            issues.push(
                Issue::error("value", format!("subject.identifier.value: {error}")).at(value_path),
            );
            None
        }
    }
}

fn by_reference(reference: &Value, ctx: &Context, issues: &mut Vec<Issue>) -> Option<NationalId> {
    let path = ctx.at("subject.reference");
    let Some(reference) = reference.as_str() else {
        issues.push(Issue::error("invalid", "subject.reference must be a string").at(path));
        return None;
    };
    let Some(digits) = patient_id_in_reference(reference) else {
        issues.push(
            Issue::error(
                "invalid",
                format!(
                    "subject.reference must be Patient/<national id>, or give subject.identifier \
                     with system {}",
                    oid::FODSELSNUMMER
                ),
            )
            .at(path),
        );
        return None;
    };
    match NationalId::parse(digits, ctx.ids) {
        Ok(patient) => Some(patient),
        Err(error) => {
            issues.push(Issue::error("value", format!("subject.reference: {error}")).at(path));
            None
        }
    }
}

/// The id in `Patient/<id>` (also at the end of an absolute URL).
fn patient_id_in_reference(reference: &str) -> Option<&str> {
    let (before, id) = reference.rsplit_once('/')?;
    let is_patient = before == "Patient" || before.ends_with("/Patient");
    (is_patient && !id.is_empty()).then_some(id)
}
