//! `subject`: one test per class of bad input.

use super::*;

fn with_subject(subject: Value) -> Value {
    let mut resource = heart_rate();
    resource["subject"] = subject;
    resource
}

fn with_identifier(system: &str, value: &str) -> Value {
    with_subject(json!({"identifier": {"system": system, "value": value}}))
}

/// `fnr()` with its last digit changed: the second check digit fails.
fn bad_second_check_digit() -> String {
    let id = fnr();
    let last = id.as_bytes()[10] - b'0';
    format!("{}{}", &id[..10], (last + 1) % 10)
}

#[test]
fn a_missing_subject_is_required() {
    let mut resource = heart_rate();
    remove(&mut resource, "subject");
    only(&resource, "required", "subject");
}

#[test]
fn a_subject_that_is_not_an_object_is_invalid() {
    only(&with_subject(json!("Patient/1")), "invalid", "subject");
}

#[test]
fn a_subject_with_only_a_display_is_required() {
    let issue = only(
        &with_subject(json!({"display": "Kari Nordmann"})),
        "required",
        "subject",
    );
    assert!(!issue.diagnostics.contains("Kari"));
}

#[test]
fn an_unknown_identifier_system_is_not_supported() {
    let issue = only(
        &with_identifier("urn:oid:2.16.578.1.12.4.1.4.999", &fnr()),
        "not-supported",
        "subject.identifier.system",
    );
    assert!(issue.diagnostics.contains(oid::FODSELSNUMMER));
}

#[test]
fn a_system_that_does_not_name_persons_is_not_supported() {
    let issue = only(
        &with_identifier(oid::HPR, &fnr()),
        "not-supported",
        "subject.identifier.system",
    );
    assert!(issue.diagnostics.contains("hpr number"));
}

#[test]
fn a_missing_identifier_system_is_required() {
    only(
        &with_subject(json!({"identifier": {"value": fnr()}})),
        "required",
        "subject.identifier.system",
    );
}

#[test]
fn a_missing_identifier_value_is_required() {
    only(
        &with_subject(json!({"identifier": {"system": oid::FODSELSNUMMER}})),
        "required",
        "subject.identifier.value",
    );
    only(
        &with_identifier(oid::FODSELSNUMMER, ""),
        "required",
        "subject.identifier.value",
    );
}

#[test]
fn an_identifier_value_that_is_not_a_string_is_invalid() {
    only(
        &with_subject(
            json!({"identifier": {"system": oid::FODSELSNUMMER, "value": 15058512343_u64}}),
        ),
        "invalid",
        "subject.identifier.value",
    );
}

#[test]
fn an_identifier_that_is_not_an_object_is_invalid() {
    only(
        &with_subject(json!({"identifier": [fnr()]})),
        "invalid",
        "subject.identifier",
    );
}

#[test]
fn a_wrong_second_check_digit_is_named_without_echoing_the_number() {
    let issue = only(
        &with_identifier(oid::FODSELSNUMMER, &bad_second_check_digit()),
        "value",
        "subject.identifier.value",
    );
    assert!(
        issue.diagnostics.contains("second check digit"),
        "{issue:?}"
    );
    assert!(!issue.diagnostics.contains(&bad_second_check_digit()));
}

#[test]
fn a_wrong_first_check_digit_is_named() {
    // 15058512353: first check digit wrong (the domain crate's test data).
    let issue = only(
        &with_identifier(oid::FODSELSNUMMER, "15058512353"),
        "value",
        "subject.identifier.value",
    );
    assert!(issue.diagnostics.contains("first check digit"), "{issue:?}");
}

#[test]
fn a_wrong_length_or_non_digits_are_values_in_error() {
    for (value, says) in [
        ("1505851234", "11 digits"),
        ("150585123430", "11 digits"),
        ("1505851234a", "only digits"),
    ] {
        let issue = only(
            &with_identifier(oid::FODSELSNUMMER, value),
            "value",
            "subject.identifier.value",
        );
        assert!(issue.diagnostics.contains(says), "{issue:?}");
    }
}

#[test]
fn a_synthetic_id_is_refused_by_the_production_policy() {
    let ctx = Context {
        ids: &PRODUCTION,
        ..ctx()
    };
    let issues = issues_with(&heart_rate(), &ctx);
    assert_eq!(
        found(&issues),
        [("value".to_owned(), at("subject.identifier.value"))]
    );
    assert!(issues[0].diagnostics.contains("synthetic"));
}

#[test]
fn an_id_of_another_kind_than_its_system_is_a_mismatch() {
    let issue = only(
        &with_identifier(oid::FODSELSNUMMER, D_NUMBER),
        "value",
        "subject.identifier",
    );
    assert!(issue.diagnostics.contains("d-number"), "{issue:?}");
}

#[test]
fn an_unknown_system_and_a_bad_value_are_both_reported() {
    let issues = issues(&with_identifier("urn:x", &bad_second_check_digit()));
    assert_eq!(
        found(&issues),
        [
            ("not-supported".to_owned(), at("subject.identifier.system")),
            ("value".to_owned(), at("subject.identifier.value")),
        ]
    );
}

#[test]
fn a_reference_that_is_not_to_a_patient_is_invalid() {
    for reference in ["Practitioner/123", "urn:uuid:1234", "Patient/", "Patient"] {
        only(
            &with_subject(json!({"reference": reference})),
            "invalid",
            "subject.reference",
        );
    }
    only(
        &with_subject(json!({"reference": 5})),
        "invalid",
        "subject.reference",
    );
}

#[test]
fn a_reference_with_a_bad_national_id_is_a_value_in_error() {
    let issue = only(
        &with_subject(json!({"reference": format!("Patient/{}", bad_second_check_digit())})),
        "value",
        "subject.reference",
    );
    assert!(issue.diagnostics.contains("check digit"));
}

#[test]
fn a_reference_naming_another_patient_than_the_identifier_is_invalid() {
    let mut resource = heart_rate();
    resource["subject"]["reference"] = json!(format!("Patient/{}", synthetic_fnr(2)));
    only(&resource, "invalid", "subject");
}
