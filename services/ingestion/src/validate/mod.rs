//! FHIR Observation → validated, normalised measurement.
//!
//! [`validate_observation`] checks one Observation (from a Bundle entry or posted alone)
//! against the catalogue (DESIGN.md §5) and the identifier rules, and either returns the
//! [`Validated`] measurement, its value converted to the catalogue's canonical unit, or
//! every problem it found at once. Each problem is an [`Issue`] whose `expression` is
//! the FHIRPath of the bad element under [`Context::path`], and whose `diagnostics`
//! never hold a national id: the subject's digits are never echoed, and any text the
//! source sent is echoed only when it cannot be one.
//!
//! Pure: no I/O, and the clock comes in through [`Context::now`].

mod code;
mod effective;
mod subject;
mod value;

use chrono::{DateTime, Utc};
use pmd_domain::{FhirDateTime, IdPolicy, NationalId};
use pmd_error::Issue;
use serde_json::{Map, Value};

pub use effective::MAX_FUTURE_SKEW;
pub use pmd_fhir::{Coding as CodingOut, Quantity};

/// What validation needs besides the resource.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Which national ids are acceptable (synthetic ones only in the embedded mode).
    pub ids: &'a IdPolicy,
    /// The server's time: effective times more than [`MAX_FUTURE_SKEW`] after it are
    /// refused.
    pub now: DateTime<Utc>,
    /// FHIRPath of the resource, the prefix of every issue's expression:
    /// `Bundle.entry[3].resource` or `Observation`.
    pub path: &'a str,
}

impl Context<'_> {
    /// The FHIRPath of an element of the resource.
    fn at(&self, element: &str) -> String {
        if self.path.is_empty() {
            element.to_owned()
        } else {
            format!("{}.{element}", self.path)
        }
    }
}

/// The statuses a measurement may be stored with (FHIR `ObservationStatus` without
/// `cancelled`, `entered-in-error` and `unknown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObservationStatus {
    Registered,
    Preliminary,
    Final,
    Amended,
    Corrected,
}

impl ObservationStatus {
    /// Every accepted status, in FHIR's order.
    pub const ALL: [Self; 5] = [
        Self::Registered,
        Self::Preliminary,
        Self::Final,
        Self::Amended,
        Self::Corrected,
    ];

    /// The FHIR code, e.g. `final`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::Preliminary => "preliminary",
            Self::Final => "final",
            Self::Amended => "amended",
            Self::Corrected => "corrected",
        }
    }

    /// The status a FHIR code names (exact match), if accepted.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == code)
    }
}

/// The value of a validated measurement.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueOut {
    /// A quantity in the catalogue's canonical unit, and as the source sent it.
    Quantity {
        canonical: Quantity,
        received: Quantity,
    },
    /// An integer score (NEWS2 total, Clinical Frailty Scale), as sent.
    Integer(i64),
    /// A coded score (ACVPU): the first coding of `valueCodeableConcept`, as sent.
    Coded(CodingOut),
    /// A panel: the values are in [`Validated::components`].
    Panel,
}

/// One validated panel component (blood pressure: systolic, diastolic).
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentOut {
    /// The catalogue component id, e.g. `8480-6`.
    pub code: &'static str,
    /// Every coding of the component's code, as sent.
    pub codings: Vec<CodingOut>,
    pub canonical: Quantity,
    pub received: Quantity,
}

/// A measurement that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    pub patient: NationalId,
    /// The catalogue entry id, e.g. `8867-4` (the SNOMED CT code for scores).
    pub code: &'static str,
    /// Every coding of `code`, as sent.
    pub codings: Vec<CodingOut>,
    pub value: ValueOut,
    /// Panel components in catalogue order (systolic, then diastolic); empty otherwise.
    pub components: Vec<ComponentOut>,
    /// `effectiveDateTime` (or `effectivePeriod.start`, or `effectiveInstant`), precision
    /// kept.
    pub effective: FhirDateTime,
    pub status: ObservationStatus,
    /// The first `identifier` with both `system` and `value`.
    pub identifier: Option<(String, String)>,
    /// `device.reference`, else `device.display`.
    pub device: Option<String>,
    /// `method.coding`, as sent.
    pub method: Vec<CodingOut>,
    /// The codings of the body-position extension
    /// (`http://hl7.org/fhir/StructureDefinition/observation-bodyPosition`), else those of
    /// `bodySite`.
    pub body_position: Vec<CodingOut>,
}

/// FHIR's standard extension for the body position during a measurement.
pub const BODY_POSITION_EXTENSION: &str =
    "http://hl7.org/fhir/StructureDefinition/observation-bodyPosition";

/// Validates one Observation. On failure, every problem found is returned, each naming
/// its element by FHIRPath under `ctx.path`. A resource that is not an Observation is
/// reported alone.
pub fn validate_observation(resource: &Value, ctx: &Context) -> Result<Validated, Vec<Issue>> {
    let Some(observation) = resource.as_object() else {
        return Err(vec![
            Issue::error(
                "invalid",
                "the resource must be a json object (an observation)",
            )
            .at(ctx.at("resourceType")),
        ]);
    };
    if observation.get("resourceType").and_then(Value::as_str) != Some("Observation") {
        return Err(vec![
            Issue::error("invalid", "resourceType must be Observation").at(ctx.at("resourceType")),
        ]);
    }

    let mut issues = Vec::new();
    let patient = subject::check(observation, ctx, &mut issues);
    let code = code::check(observation, ctx, &mut issues);
    let value = code
        .as_ref()
        .and_then(|(entry, _)| value::check(observation, entry, ctx, &mut issues));
    let effective = effective::check_effective(observation, ctx, &mut issues);
    let status = effective::check_status(observation, ctx, &mut issues);

    match (patient, code, value, effective, status) {
        (
            Some(patient),
            Some((entry, codings)),
            Some((value, components)),
            Some(effective),
            Some(status),
        ) if issues.is_empty() => Ok(Validated {
            patient,
            code: entry.id(),
            codings,
            value,
            components,
            effective,
            status,
            identifier: first_identifier(observation),
            device: device(observation),
            method: present(observation, "method")
                .map(pmd_fhir::codings)
                .unwrap_or_default(),
            body_position: body_position(observation),
        }),
        _ => {
            if issues.is_empty() {
                // Every check reports why it gives nothing; this only guards that rule.
                issues.push(
                    Issue::error("exception", "the observation could not be validated")
                        .at(ctx.at("resourceType")),
                );
            }
            scrub_subject(observation, &mut issues);
            Err(issues)
        }
    }
}

/// A field that is there and not `null` (FHIR JSON has no nulls; treat one as absent).
fn present<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).filter(|value| !value.is_null())
}

/// A required string field: reports `required` when absent or empty and `invalid` when
/// not a string. `path` is the field's FHIRPath.
fn required_string<'a>(
    object: &'a Map<String, Value>,
    name: &str,
    path: String,
    what: &str,
    issues: &mut Vec<Issue>,
) -> Option<&'a str> {
    match present(object, name) {
        None => {
            issues.push(Issue::error("required", format!("{what} is required")).at(path));
            None
        }
        Some(Value::String(text)) if text.is_empty() => {
            issues.push(Issue::error("required", format!("{what} is required")).at(path));
            None
        }
        Some(Value::String(text)) => Some(text),
        Some(_) => {
            issues.push(Issue::error("invalid", format!("{what} must be a string")).at(path));
            None
        }
    }
}

/// Text the source sent, fit to echo in a message: short, and without a run of six or
/// more digits (so never a national id).
fn echo(text: &str) -> Option<&str> {
    let mut run = 0;
    for c in text.chars() {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        if run >= 6 {
            return None;
        }
    }
    (text.chars().count() <= 32 && !text.is_empty()).then_some(text)
}

/// A number the source sent, fit to echo: below a million in size.
fn echo_number(value: f64) -> Option<String> {
    (value.is_finite() && value.abs() < 1e6).then(|| value.to_string())
}

/// Belt and braces: whatever the subject holds never appears in a diagnostic, however it
/// got there (a national id pasted into a unit or a status, say).
fn scrub_subject(observation: &Map<String, Value>, issues: &mut [Issue]) {
    let subject = present(observation, "subject");
    let identifier_value = subject
        .and_then(|s| s.get("identifier"))
        .and_then(|i| i.get("value"))
        .and_then(Value::as_str);
    let reference = subject
        .and_then(|s| s.get("reference"))
        .and_then(Value::as_str);
    let reference_tail = reference.and_then(|r| r.rsplit('/').next());
    let secrets: Vec<&str> = [identifier_value, reference, reference_tail]
        .into_iter()
        .flatten()
        .filter(|secret| secret.chars().count() >= 6)
        .collect();
    for issue in issues {
        for secret in &secrets {
            if issue.diagnostics.contains(secret) {
                issue.diagnostics = issue.diagnostics.replace(secret, "***");
            }
        }
    }
}

fn first_identifier(observation: &Map<String, Value>) -> Option<(String, String)> {
    present(observation, "identifier")?
        .as_array()?
        .iter()
        .find_map(|identifier| {
            let system = identifier.get("system")?.as_str()?;
            let value = identifier.get("value")?.as_str()?;
            (!system.is_empty() && !value.is_empty()).then(|| (system.to_owned(), value.to_owned()))
        })
}

fn device(observation: &Map<String, Value>) -> Option<String> {
    let device = present(observation, "device")?;
    ["reference", "display"].into_iter().find_map(|field| {
        device
            .get(field)
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    })
}

fn body_position(observation: &Map<String, Value>) -> Vec<CodingOut> {
    let from_extension = present(observation, "extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|extension| {
            extension.get("url").and_then(Value::as_str) == Some(BODY_POSITION_EXTENSION)
        })
        .find_map(|extension| extension.get("valueCodeableConcept"))
        .map(pmd_fhir::codings)
        .unwrap_or_default();
    if !from_extension.is_empty() {
        return from_extension;
    }
    present(observation, "bodySite")
        .map(pmd_fhir::codings)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
