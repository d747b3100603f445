//! `value[x]` and `component`: one test per class of bad input.

use super::*;

fn heart_rate_with(value_quantity: Value) -> Value {
    let mut resource = heart_rate();
    resource["valueQuantity"] = value_quantity;
    resource
}

#[test]
fn a_missing_value_quantity_is_required() {
    let mut resource = heart_rate();
    remove(&mut resource, "valueQuantity");
    let issue = only(&resource, "required", "valueQuantity");
    assert!(issue.diagnostics.contains("heart rate"));
}

#[test]
fn a_value_of_another_type_is_named_when_the_quantity_is_required() {
    let mut resource = heart_rate();
    remove(&mut resource, "valueQuantity");
    resource["valueString"] = json!("72");
    let issue = only(&resource, "required", "valueQuantity");
    assert!(issue.diagnostics.contains("valueString"), "{issue:?}");
}

#[test]
fn a_value_quantity_that_is_not_an_object_is_invalid() {
    only(&heart_rate_with(json!(72)), "invalid", "valueQuantity");
}

#[test]
fn a_non_numeric_value_is_invalid() {
    for value in [json!("72"), json!(true), json!({"v": 1}), json!([72])] {
        only(
            &heart_rate_with(json!({"value": value, "system": UCUM, "code": "/min"})),
            "invalid",
            "valueQuantity.value",
        );
    }
}

#[test]
fn a_missing_value_is_required() {
    only(
        &heart_rate_with(json!({"system": UCUM, "code": "/min"})),
        "required",
        "valueQuantity.value",
    );
}

#[test]
fn a_missing_unit_code_is_required_and_names_the_accepted_units() {
    let issue = only(
        &heart_rate_with(json!({"value": 72, "unit": "slag/min", "system": UCUM})),
        "required",
        "valueQuantity.code",
    );
    assert!(issue.diagnostics.contains("/min"));
    only(
        &heart_rate_with(json!({"value": 72, "system": UCUM, "code": ""})),
        "required",
        "valueQuantity.code",
    );
}

#[test]
fn a_unit_code_that_is_not_a_string_is_invalid() {
    only(
        &heart_rate_with(json!({"value": 72, "system": UCUM, "code": 1})),
        "invalid",
        "valueQuantity.code",
    );
}

#[test]
fn a_quantity_system_other_than_ucum_is_not_supported() {
    let issue = only(
        &heart_rate_with(json!({"value": 72, "system": "http://snomed.info/sct", "code": "/min"})),
        "not-supported",
        "valueQuantity.system",
    );
    assert!(issue.diagnostics.contains(UCUM));
}

#[test]
fn a_unit_of_another_dimension_is_not_supported_and_the_accepted_units_named() {
    let issue = only(
        &with_quantity(LOINC, "29463-7", 72, "cm"),
        "not-supported",
        "valueQuantity.code",
    );
    assert!(issue.diagnostics.contains("kg, g, [lb_av]"), "{issue:?}");
    assert!(issue.diagnostics.contains("unit cm"), "{issue:?}");
}

#[test]
fn an_unknown_unit_is_not_supported() {
    for unit in ["MMOL/L", "mg/dl", "mmHg"] {
        let (system, code) = if unit == "mmHg" {
            (LOINC, "8867-4")
        } else {
            (LOINC, "15074-8")
        };
        let issue = only(
            &with_quantity(system, code, 5, unit),
            "not-supported",
            "valueQuantity.code",
        );
        assert!(issue.diagnostics.contains("accepted"), "{issue:?}");
    }
}

#[test]
fn a_unit_holding_digits_is_not_echoed() {
    let issue = only(
        &with_quantity(LOINC, "8867-4", 72, &fnr()),
        "not-supported",
        "valueQuantity.code",
    );
    assert!(!issue.diagnostics.contains(&fnr()));
}

#[test]
fn a_value_outside_the_plausible_range_is_a_value_error_naming_the_range() {
    let issue = only(
        &with_quantity(LOINC, "8867-4", 400, "/min"),
        "value",
        "valueQuantity.value",
    );
    assert!(issue.diagnostics.contains("20–300 /min"), "{issue:?}");
    assert!(issue.diagnostics.contains("400"), "{issue:?}");
    let issue = only(
        &with_quantity(LOINC, "2708-6", 49, "%"),
        "value",
        "valueQuantity.value",
    );
    assert!(issue.diagnostics.contains("50–100 %"), "{issue:?}");
}

#[test]
fn the_range_is_checked_after_conversion() {
    let issue = only(
        &with_quantity(LOINC, "29463-7", 1200, "[lb_av]"),
        "value",
        "valueQuantity.value",
    );
    assert!(issue.diagnostics.contains("0.3–500 kg"), "{issue:?}");
    assert!(
        issue.diagnostics.contains("converted from 1200 [lb_av]"),
        "{issue:?}"
    );
    only(
        &with_quantity(LOINC, "8310-5", 114, "[degF]"),
        "value",
        "valueQuantity.value",
    );
}

#[test]
fn a_huge_value_is_not_echoed() {
    let value: u64 = fnr().parse().unwrap();
    let issue = only(
        &with_quantity(LOINC, "8867-4", value, "/min"),
        "value",
        "valueQuantity.value",
    );
    assert!(!issue.diagnostics.contains(&fnr()));
    assert!(issue.diagnostics.contains("20–300"));
}

#[test]
fn blood_pressure_without_diastolic_is_required() {
    let mut resource = blood_pressure(120.0, 80.0);
    resource["component"].as_array_mut().unwrap().remove(1);
    let issue = only(&resource, "required", "component");
    assert!(issue.diagnostics.contains("diastolic"));
    assert!(issue.diagnostics.contains("8462-4"));
    assert!(issue.diagnostics.contains("271650006"));
}

#[test]
fn blood_pressure_without_components_needs_both() {
    let mut resource = blood_pressure(120.0, 80.0);
    remove(&mut resource, "component");
    let issues = issues(&resource);
    assert_eq!(
        found(&issues),
        [
            ("required".to_owned(), at("component")),
            ("required".to_owned(), at("component")),
        ]
    );
    assert!(issues[0].diagnostics.contains("systolic"));
    assert!(issues[1].diagnostics.contains("diastolic"));
}

#[test]
fn blood_pressure_components_must_be_an_array() {
    let mut resource = blood_pressure(120.0, 80.0);
    resource["component"] = json!({"code": "8480-6"});
    only(&resource, "invalid", "component");
}

#[test]
fn each_blood_pressure_component_is_checked_against_its_range() {
    only(
        &blood_pressure(320.0, 80.0),
        "value",
        "component[0].valueQuantity.value",
    );
    let issue = only(
        &blood_pressure(120.0, 10.0),
        "value",
        "component[1].valueQuantity.value",
    );
    assert!(issue.diagnostics.contains("20–200 mm[Hg]"), "{issue:?}");
}

#[test]
fn diastolic_not_below_systolic_is_a_value_error_on_the_components() {
    for (systolic, diastolic) in [(120.0, 130.0), (120.0, 120.0)] {
        let issue = only(&blood_pressure(systolic, diastolic), "value", "component");
        assert!(issue.diagnostics.contains("below systolic"), "{issue:?}");
    }
}

#[test]
fn blood_pressure_components_need_millimetres_of_mercury() {
    let mut resource = blood_pressure(120.0, 80.0);
    resource["component"][1]["valueQuantity"] = quantity(10.7, "kPa");
    let issue = only(
        &resource,
        "not-supported",
        "component[1].valueQuantity.code",
    );
    assert!(issue.diagnostics.contains("mm[Hg]"));
    let mut resource = blood_pressure(120.0, 80.0);
    remove(&mut resource["component"][0], "valueQuantity");
    only(&resource, "required", "component[0].valueQuantity");
}

#[test]
fn a_blood_pressure_component_given_twice_is_invalid() {
    let mut resource = blood_pressure(120.0, 80.0);
    resource["component"]
        .as_array_mut()
        .unwrap()
        .push(component(SCT, "271649006", 121, "mm[Hg]"));
    only(&resource, "invalid", "component[2]");
}

#[test]
fn a_value_on_the_blood_pressure_panel_itself_is_invalid() {
    let mut resource = blood_pressure(120.0, 80.0);
    resource["valueQuantity"] = quantity(120, "mm[Hg]");
    only(&resource, "invalid", "valueQuantity");
}

#[test]
fn integer_scores_need_a_whole_value() {
    let mut resource = observation(SCT, "1104051000000101");
    only(&resource, "required", "valueInteger");
    resource["valueInteger"] = json!(2.5);
    only(&resource, "invalid", "valueInteger");
    resource["valueInteger"] = json!("5");
    only(&resource, "invalid", "valueInteger");
    remove(&mut resource, "valueInteger");
    resource["valueQuantity"] = json!({"value": 2.5});
    only(&resource, "invalid", "valueQuantity.value");
    resource["valueQuantity"] = json!({"unit": "{score}"});
    only(&resource, "required", "valueQuantity.value");
    resource["valueString"] = json!("5");
    remove(&mut resource, "valueQuantity");
    let issue = only(&resource, "required", "valueInteger");
    assert!(issue.diagnostics.contains("valueString"));
}

#[test]
fn acvpu_needs_a_coded_value() {
    let mut resource = observation(SCT, "1104441000000107");
    only(&resource, "required", "valueCodeableConcept");
    resource["valueCodeableConcept"] = json!({"text": "alert"});
    only(&resource, "required", "valueCodeableConcept.coding");
    resource["valueCodeableConcept"] = json!({"coding": [{"system": SCT}]});
    only(&resource, "required", "valueCodeableConcept.coding[0].code");
    resource["valueCodeableConcept"] = json!({"coding": ["A"]});
    only(&resource, "invalid", "valueCodeableConcept.coding[0]");
    resource["valueCodeableConcept"] = json!("A");
    only(&resource, "invalid", "valueCodeableConcept");
}
