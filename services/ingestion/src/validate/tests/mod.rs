#![allow(clippy::unwrap_used)]

mod code;
mod effective;
mod examples;
mod robustness;
mod subject;
mod value;

use chrono::{DateTime, TimeZone, Utc};
use pmd_domain::ident::oid;
use pmd_domain::{IdPolicy, synthetic_fnr};
use pmd_error::Issue;
use serde_json::{Value, json};

use super::*;

const LOINC: &str = "http://loinc.org";
const SCT: &str = "http://snomed.info/sct";
const NPU: &str = "urn:oid:2.16.578.1.12.4.1.1.7280";
const UCUM: &str = "http://unitsofmeasure.org";
const EMBEDDED: IdPolicy = IdPolicy::embedded();
const PRODUCTION: IdPolicy = IdPolicy::production();
const PATH: &str = "Bundle.entry[3].resource";

/// Independently computed valid ids (the domain crate's test data).
const D_NUMBER: &str = "55058512337";
const FH_NUMBER: &str = "81234567802";

fn fnr() -> String {
    synthetic_fnr(1)
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 5, 12, 0, 0).unwrap()
}

fn ctx() -> Context<'static> {
    Context {
        ids: &EMBEDDED,
        now: now(),
        path: PATH,
    }
}

fn at(element: &str) -> String {
    format!("{PATH}.{element}")
}

fn quantity(value: impl Into<Value>, code: &str) -> Value {
    json!({"value": value.into(), "unit": code, "system": UCUM, "code": code})
}

/// An Observation with everything but a value.
fn observation(system: &str, code: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "meta": {"profile": ["http://hl7.no/fhir/StructureDefinition/no-vkp-Observation"]},
        "identifier": [{"system": "urn:oid:2.16.578.1.12.4.1.2.12345", "value": "obs-1"}],
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": system, "code": code, "display": "as sent"}]},
        "subject": {"identifier": {"system": oid::FODSELSNUMMER, "value": fnr()}},
        "effectiveDateTime": "2024-03-05T08:15:00+01:00",
        "performer": [{"identifier": {"system": oid::ORG_NUMBER, "value": "974589095"}}],
    })
}

/// An Observation of `system|code` with a `valueQuantity`.
fn with_quantity(system: &str, code: &str, value: impl Into<Value>, unit: &str) -> Value {
    let mut resource = observation(system, code);
    resource["valueQuantity"] = quantity(value, unit);
    resource
}

fn heart_rate() -> Value {
    with_quantity(LOINC, "8867-4", 72, "/min")
}

fn component(system: &str, code: &str, value: impl Into<Value>, unit: &str) -> Value {
    json!({"code": {"coding": [{"system": system, "code": code}]}, "valueQuantity": quantity(value, unit)})
}

fn blood_pressure(systolic: f64, diastolic: f64) -> Value {
    let mut resource = observation(LOINC, "85354-9");
    resource["component"] = json!([
        component(LOINC, "8480-6", systolic, "mm[Hg]"),
        component(LOINC, "8462-4", diastolic, "mm[Hg]"),
    ]);
    resource
}

fn remove(resource: &mut Value, field: &str) {
    resource.as_object_mut().unwrap().remove(field);
}

fn valid(resource: &Value) -> Validated {
    match validate_observation(resource, &ctx()) {
        Ok(validated) => validated,
        Err(issues) => panic!("expected valid, got {issues:#?}"),
    }
}

/// Every text the test resource holds as the subject, and our test ids.
fn secrets(resource: &Value) -> Vec<String> {
    let mut secrets = vec![fnr(), D_NUMBER.to_owned(), FH_NUMBER.to_owned()];
    let subject = &resource["subject"];
    for text in [&subject["identifier"]["value"], &subject["reference"]] {
        if let Some(text) = text.as_str() {
            secrets.push(text.to_owned());
            if let Some((_, tail)) = text.rsplit_once('/') {
                secrets.push(tail.to_owned());
            }
        }
    }
    secrets.retain(|secret| secret.len() >= 6);
    secrets
}

/// Validates with `ctx`, expects failure, and checks that no diagnostic holds an id.
fn issues_with(resource: &Value, ctx: &Context) -> Vec<Issue> {
    let issues = validate_observation(resource, ctx).unwrap_err();
    assert!(!issues.is_empty());
    for issue in &issues {
        for secret in secrets(resource) {
            assert!(
                !issue.diagnostics.contains(&secret),
                "diagnostics echo the subject: {issue:?}"
            );
        }
        assert_eq!(issue.severity, pmd_error::Severity::Error);
        assert!(issue.expression.is_some(), "{issue:?}");
    }
    issues
}

fn issues(resource: &Value) -> Vec<Issue> {
    issues_with(resource, &ctx())
}

/// `(code, expression)` of every issue.
fn found(issues: &[Issue]) -> Vec<(String, String)> {
    issues
        .iter()
        .map(|issue| {
            (
                issue.code.clone(),
                issue.expression.clone().unwrap_or_default(),
            )
        })
        .collect()
}

/// Expects exactly one issue, of this code at this element; returns it.
fn only(resource: &Value, code: &str, element: &str) -> Issue {
    let issues = issues(resource);
    assert_eq!(
        found(&issues),
        [(code.to_owned(), at(element))],
        "{issues:#?}"
    );
    issues.into_iter().next().unwrap()
}
