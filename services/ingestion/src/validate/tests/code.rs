//! `code`: one test per class of bad input.

use pmd_domain::Catalogue;

use super::*;

fn supported() -> String {
    Catalogue::standard().supported_codes_text()
}

#[test]
fn a_missing_code_is_required() {
    let mut resource = heart_rate();
    remove(&mut resource, "code");
    let issue = only(&resource, "required", "code");
    assert!(issue.diagnostics.contains(&supported()));
}

#[test]
fn a_code_that_is_not_an_object_is_invalid() {
    let mut resource = heart_rate();
    resource["code"] = json!("8867-4");
    only(&resource, "invalid", "code");
}

#[test]
fn a_code_without_codings_is_required() {
    for code in [json!({}), json!({"coding": []}), json!({"text": "puls"})] {
        let mut resource = heart_rate();
        resource["code"] = code;
        only(&resource, "required", "code.coding");
    }
    let mut resource = heart_rate();
    resource["code"] = json!({"coding": {"system": LOINC, "code": "8867-4"}});
    only(&resource, "invalid", "code.coding");
}

#[test]
fn an_unknown_code_is_not_supported_and_the_supported_codes_are_listed() {
    let issue = only(
        &with_quantity(LOINC, "1234-5", 1, "/min"),
        "not-supported",
        "code",
    );
    assert!(issue.diagnostics.contains(&supported()), "{issue:?}");
    assert!(issue.diagnostics.contains("8867-4"));
    assert!(issue.diagnostics.contains("NPU02187"));
}

#[test]
fn known_but_refused_codes_are_not_supported_with_the_reason() {
    for (code, says) in [
        ("85353-1", "has no value"),
        ("9843-4", "head circumference"),
        ("8478-0", "mean arterial pressure"),
        ("8480-6", "component of the blood pressure panel"),
        ("8462-4", "component of the blood pressure panel"),
    ] {
        let issue = only(
            &with_quantity(LOINC, code, 120, "mm[Hg]"),
            "not-supported",
            "code",
        );
        assert!(issue.diagnostics.contains(code), "{issue:?}");
        assert!(issue.diagnostics.contains(says), "{issue:?}");
    }
}

#[test]
fn the_vital_signs_panel_without_a_value_is_refused() {
    let issue = only(&observation(LOINC, "85353-1"), "not-supported", "code");
    assert!(issue.diagnostics.contains("85353-1"));
}

#[test]
fn a_supported_code_in_the_wrong_system_is_refused_with_a_hint() {
    for system in [SCT, "http://loinc.org/", "LOINC"] {
        let issue = only(
            &with_quantity(system, "8867-4", 72, "/min"),
            "not-supported",
            "code",
        );
        assert!(issue.diagnostics.contains(LOINC), "{issue:?}");
        assert!(issue.diagnostics.contains("heart rate"), "{issue:?}");
    }
    let mut resource = heart_rate();
    resource["code"] = json!({"coding": [{"code": "8867-4"}]});
    let issue = only(&resource, "not-supported", "code");
    assert!(issue.diagnostics.contains(LOINC));
}

#[test]
fn codings_naming_two_measurements_are_invalid() {
    let mut resource = heart_rate();
    resource["code"]["coding"]
        .as_array_mut()
        .unwrap()
        .push(json!({"system": SCT, "code": "86290005"}));
    let issue = only(&resource, "invalid", "code.coding");
    assert!(issue.diagnostics.contains("heart rate"));
    assert!(issue.diagnostics.contains("respiratory rate"));
}

#[test]
fn a_known_coding_beside_unknown_ones_is_enough() {
    let mut resource = heart_rate();
    resource["code"]["coding"] = json!([
        {"system": "urn:oid:2.16.578.1.12.4.1.1.9999", "code": "PULS"},
        "odd",
        {"system": SCT, "code": "364075005"},
        {"system": LOINC, "code": "8867-4"},
    ]);
    let v = valid(&resource);
    assert_eq!(v.code, "8867-4");
    // Every coding as sent (objects only).
    assert_eq!(v.codings.len(), 3);
}

#[test]
fn a_refused_code_beside_a_supported_one_is_fine() {
    let mut resource = blood_pressure(120.0, 80.0);
    resource["code"]["coding"]
        .as_array_mut()
        .unwrap()
        .push(json!({"system": LOINC, "code": "85353-1"}));
    assert_eq!(valid(&resource).code, "85354-9");
}
