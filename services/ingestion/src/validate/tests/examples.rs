//! A valid example per catalogue entry and per accepted form.

use pmd_domain::{IdKind, Precision};

use super::*;

fn canonical(validated: &Validated) -> (f64, &str) {
    match &validated.value {
        ValueOut::Quantity { canonical, .. } => (canonical.value, canonical.unit.as_str()),
        other => panic!("not a quantity: {other:?}"),
    }
}

fn received(validated: &Validated) -> (f64, &str) {
    match &validated.value {
        ValueOut::Quantity { received, .. } => (received.value, received.unit.as_str()),
        other => panic!("not a quantity: {other:?}"),
    }
}

fn approx(actual: f64, expected: f64) {
    assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
}

#[test]
fn heart_rate_is_validated_with_everything_kept() {
    let mut resource = heart_rate();
    resource["device"] = json!({"reference": "Device/123", "display": "Omron"});
    resource["method"] =
        json!({"coding": [{"system": SCT, "code": "37931006", "display": "auscultation"}]});
    let v = valid(&resource);
    assert_eq!(v.patient.expose_secret(), fnr());
    assert_eq!(v.patient.kind(), IdKind::Fodselsnummer);
    assert_eq!(v.code, "8867-4");
    assert_eq!(
        v.codings,
        [CodingOut {
            system: Some(LOINC.into()),
            code: Some("8867-4".into()),
            display: Some("as sent".into()),
        }]
    );
    assert_eq!(
        v.value,
        ValueOut::Quantity {
            canonical: Quantity::new(72.0, "/min"),
            received: Quantity::new(72.0, "/min"),
        }
    );
    assert!(v.components.is_empty());
    assert_eq!(v.effective.original(), "2024-03-05T08:15:00+01:00");
    assert_eq!(v.effective.precision(), Precision::Second);
    assert_eq!(v.status, ObservationStatus::Final);
    assert_eq!(
        v.identifier,
        Some(("urn:oid:2.16.578.1.12.4.1.2.12345".into(), "obs-1".into()))
    );
    assert_eq!(v.device.as_deref(), Some("Device/123"));
    assert_eq!(v.method.len(), 1);
    assert_eq!(v.method[0].code.as_deref(), Some("37931006"));
    assert!(v.body_position.is_empty());
}

#[test]
fn heart_rate_by_snomed_is_stored_under_its_loinc_id() {
    let v = valid(&with_quantity(SCT, "364075005", 64, "/min"));
    assert_eq!(v.code, "8867-4");
    assert_eq!(v.codings[0].system.as_deref(), Some(SCT));
}

#[test]
fn heart_rate_with_an_annotated_unit_is_read_as_per_minute() {
    let v = valid(&with_quantity(LOINC, "8867-4", 64, "{beats}/min"));
    assert_eq!(canonical(&v), (64.0, "/min"));
    assert_eq!(received(&v), (64.0, "{beats}/min"));
}

#[test]
fn respiratory_rate_is_validated() {
    for (system, code) in [(LOINC, "9279-1"), (SCT, "86290005")] {
        let v = valid(&with_quantity(system, code, 16, "/min"));
        assert_eq!(v.code, "9279-1");
        assert_eq!(canonical(&v), (16.0, "/min"));
    }
}

#[test]
fn oxygen_saturation_is_validated_under_both_loinc_codes_and_snomed() {
    for (system, code) in [(LOINC, "2708-6"), (LOINC, "59408-5"), (SCT, "431314004")] {
        let v = valid(&with_quantity(system, code, 97, "%"));
        assert_eq!(v.code, "2708-6", "{code}");
        assert_eq!(canonical(&v), (97.0, "%"));
    }
}

#[test]
fn body_temperature_in_celsius_is_validated() {
    let v = valid(&with_quantity(LOINC, "8310-5", 36.8, "Cel"));
    assert_eq!(v.code, "8310-5");
    assert_eq!(canonical(&v), (36.8, "Cel"));
    let v = valid(&with_quantity(SCT, "276885007", 37.2, "Cel"));
    assert_eq!(v.code, "8310-5");
}

#[test]
fn body_temperature_in_fahrenheit_is_converted_and_the_received_value_kept() {
    let v = valid(&with_quantity(LOINC, "8310-5", 98.6, "[degF]"));
    assert_eq!(canonical(&v), (37.0, "Cel"));
    assert_eq!(received(&v), (98.6, "[degF]"));
}

fn assert_blood_pressure(v: &Validated, systolic: f64, diastolic: f64) {
    assert_eq!(v.code, "85354-9");
    assert_eq!(v.value, ValueOut::Panel);
    assert_eq!(v.components.len(), 2);
    assert_eq!(v.components[0].code, "8480-6");
    assert_eq!(v.components[0].canonical, Quantity::new(systolic, "mm[Hg]"));
    assert_eq!(v.components[0].received, Quantity::new(systolic, "mm[Hg]"));
    assert_eq!(v.components[1].code, "8462-4");
    assert_eq!(
        v.components[1].canonical,
        Quantity::new(diastolic, "mm[Hg]")
    );
}

#[test]
fn blood_pressure_panel_by_loinc_is_validated() {
    let v = valid(&blood_pressure(120.0, 80.0));
    assert_blood_pressure(&v, 120.0, 80.0);
    assert_eq!(v.components[0].codings[0].code.as_deref(), Some("8480-6"));
}

#[test]
fn blood_pressure_panel_by_snomed_is_validated() {
    let mut resource = observation(SCT, "75367002");
    // Diastolic first, systolic second: components come back in catalogue order.
    resource["component"] = json!([
        component(SCT, "271650006", 85, "mm[Hg]"),
        component(SCT, "271649006", 135, "mm[Hg]"),
    ]);
    let v = valid(&resource);
    assert_blood_pressure(&v, 135.0, 85.0);
    assert_eq!(v.components[0].codings[0].system.as_deref(), Some(SCT));
}

#[test]
fn blood_pressure_keeps_other_components_unchecked() {
    let mut resource = blood_pressure(120.0, 80.0);
    resource["component"]
        .as_array_mut()
        .unwrap()
        .push(component(LOINC, "8867-4", 999, "kg"));
    let v = valid(&resource);
    assert_eq!(v.components.len(), 2);
}

#[test]
fn body_weight_is_validated_in_kilograms_grams_and_pounds() {
    let v = valid(&with_quantity(LOINC, "29463-7", 72.4, "kg"));
    assert_eq!(canonical(&v), (72.4, "kg"));
    let v = valid(&with_quantity(SCT, "27113001", 3500, "g"));
    assert_eq!(v.code, "29463-7");
    assert_eq!(canonical(&v), (3.5, "kg"));
    assert_eq!(received(&v), (3500.0, "g"));
    let v = valid(&with_quantity(LOINC, "29463-7", 150, "[lb_av]"));
    let (value, unit) = canonical(&v);
    approx(value, 68.0388555);
    assert_eq!(unit, "kg");
    assert_eq!(received(&v), (150.0, "[lb_av]"));
}

#[test]
fn body_height_is_validated_in_centimetres_and_inches() {
    let v = valid(&with_quantity(LOINC, "8302-2", 180, "cm"));
    assert_eq!(canonical(&v), (180.0, "cm"));
    let v = valid(&with_quantity(SCT, "50373000", 70, "[in_i]"));
    assert_eq!(v.code, "8302-2");
    assert_eq!(canonical(&v), (177.8, "cm"));
}

#[test]
fn bmi_is_validated() {
    for (system, code) in [(LOINC, "39156-5"), (SCT, "60621009")] {
        let v = valid(&with_quantity(system, code, 24.3, "kg/m2"));
        assert_eq!(v.code, "39156-5");
        assert_eq!(canonical(&v), (24.3, "kg/m2"));
    }
}

#[test]
fn blood_glucose_is_validated_in_mmol_per_litre() {
    let v = valid(&with_quantity(LOINC, "15074-8", 5.4, "mmol/L"));
    assert_eq!(v.code, "15074-8");
    assert_eq!(canonical(&v), (5.4, "mmol/L"));
    let v = valid(&with_quantity(LOINC, "15074-8", 5.4, "mmol/l"));
    assert_eq!(canonical(&v), (5.4, "mmol/L"));
    assert_eq!(received(&v), (5.4, "mmol/l"));
    let v = valid(&with_quantity(SCT, "434912009", 6.1, "mmol/L"));
    assert_eq!(v.code, "15074-8");
}

#[test]
fn blood_glucose_in_mg_per_decilitre_under_2339_0_is_converted() {
    let v = valid(&with_quantity(LOINC, "2339-0", 180.16, "mg/dL"));
    assert_eq!(v.code, "15074-8");
    let (value, unit) = canonical(&v);
    approx(value, 10.0);
    assert_eq!(unit, "mmol/L");
    assert_eq!(received(&v), (180.16, "mg/dL"));
}

#[test]
fn blood_glucose_by_npu_is_validated() {
    let v = valid(&with_quantity(NPU, "NPU02187", 7.2, "mmol/L"));
    assert_eq!(v.code, "15074-8");
    assert_eq!(v.codings[0].system.as_deref(), Some(NPU));
}

#[test]
fn news2_total_is_kept_as_an_integer() {
    let mut resource = observation(SCT, "1104051000000101");
    resource["valueInteger"] = json!(5);
    let v = valid(&resource);
    assert_eq!(v.code, "1104051000000101");
    assert_eq!(v.value, ValueOut::Integer(5));
    assert!(v.components.is_empty());
}

#[test]
fn news2_total_is_also_accepted_as_a_whole_quantity() {
    for value in [json!(7), json!(7.0)] {
        let mut resource = observation(SCT, "1104051000000101");
        resource["valueQuantity"] = json!({"value": value, "unit": "{score}"});
        assert_eq!(valid(&resource).value, ValueOut::Integer(7));
    }
}

#[test]
fn clinical_frailty_scale_is_kept_as_an_integer() {
    let mut resource = observation(SCT, "763264000");
    resource["valueInteger"] = json!(4);
    let v = valid(&resource);
    assert_eq!(v.code, "763264000");
    assert_eq!(v.value, ValueOut::Integer(4));
}

#[test]
fn acvpu_keeps_the_first_coding_of_its_value() {
    let mut resource = observation(SCT, "1104441000000107");
    resource["valueCodeableConcept"] = json!({"coding": [
        {"system": SCT, "code": "248234008", "display": "Mentally alert"},
        {"system": "urn:local", "code": "A"},
    ]});
    let v = valid(&resource);
    assert_eq!(v.code, "1104441000000107");
    assert_eq!(
        v.value,
        ValueOut::Coded(CodingOut {
            system: Some(SCT.into()),
            code: Some("248234008".into()),
            display: Some("Mentally alert".into()),
        })
    );
}

#[test]
fn patient_by_d_number_and_fh_number_identifiers() {
    for (system, id, kind) in [
        (oid::D_NUMBER, D_NUMBER, IdKind::DNumber),
        (oid::FH_NUMBER, FH_NUMBER, IdKind::FhNumber),
    ] {
        let mut resource = heart_rate();
        resource["subject"] = json!({"identifier": {"system": system, "value": id}});
        let v = valid(&resource);
        assert_eq!(v.patient.kind(), kind);
        assert_eq!(v.patient.expose_secret(), id);
    }
}

#[test]
fn patient_by_reference() {
    for reference in [
        format!("Patient/{}", fnr()),
        format!("https://pmd.example/fhir/Patient/{}", fnr()),
    ] {
        let mut resource = heart_rate();
        resource["subject"] = json!({"reference": reference});
        assert_eq!(valid(&resource).patient.expose_secret(), fnr());
    }
}

#[test]
fn patient_by_identifier_and_the_same_reference() {
    let mut resource = heart_rate();
    resource["subject"]["reference"] = json!(format!("Patient/{}", fnr()));
    resource["subject"]["display"] = json!("Kari Nordmann");
    assert_eq!(valid(&resource).patient.expose_secret(), fnr());
}

#[test]
fn a_reference_to_a_bundle_patient_beside_an_identifier_is_ignored() {
    let mut resource = heart_rate();
    resource["subject"]["reference"] = json!("urn:uuid:5b3f2a4e-1c1d-4f7e-9d55-0c6a1b2c3d4e");
    assert_eq!(valid(&resource).patient.expose_secret(), fnr());
}

#[test]
fn a_date_only_effective_time_is_accepted_with_its_precision() {
    for (text, precision) in [
        ("2024-03-05", Precision::Day),
        ("2024-03", Precision::Month),
        ("2024", Precision::Year),
    ] {
        let mut resource = heart_rate();
        resource["effectiveDateTime"] = json!(text);
        let v = valid(&resource);
        assert_eq!(v.effective.original(), text);
        assert_eq!(v.effective.precision(), precision);
    }
}

#[test]
fn effective_period_start_is_accepted() {
    let mut resource = heart_rate();
    remove(&mut resource, "effectiveDateTime");
    resource["effectivePeriod"] =
        json!({"start": "2024-03-05T08:00:00Z", "end": "2024-03-05T08:10:00Z"});
    let v = valid(&resource);
    assert_eq!(v.effective.original(), "2024-03-05T08:00:00Z");
}

#[test]
fn effective_instant_is_accepted() {
    let mut resource = heart_rate();
    remove(&mut resource, "effectiveDateTime");
    resource["effectiveInstant"] = json!("2024-03-05T08:00:00.250Z");
    assert_eq!(
        valid(&resource).effective.original(),
        "2024-03-05T08:00:00.250Z"
    );
}

#[test]
fn an_effective_time_up_to_five_minutes_ahead_is_accepted() {
    for ahead in [
        "2024-03-05T12:04:00Z",
        "2024-03-05T12:05:00Z",
        "2024-03-05T13:04:59+01:00",
    ] {
        let mut resource = heart_rate();
        resource["effectiveDateTime"] = json!(ahead);
        assert_eq!(valid(&resource).effective.original(), ahead);
    }
}

#[test]
fn every_accepted_status_is_kept() {
    for status in ObservationStatus::ALL {
        let mut resource = heart_rate();
        resource["status"] = json!(status.as_str());
        assert_eq!(valid(&resource).status, status);
        assert_eq!(ObservationStatus::parse(status.as_str()), Some(status));
    }
}

#[test]
fn identifier_is_the_first_with_system_and_value() {
    let mut resource = heart_rate();
    resource["identifier"] = json!([
        {"value": "no-system"},
        {"system": "urn:ehr", "value": ""},
        {"system": "urn:ehr", "value": "second"},
        {"system": "urn:ehr", "value": "third"},
    ]);
    assert_eq!(
        valid(&resource).identifier,
        Some(("urn:ehr".into(), "second".into()))
    );
    remove(&mut resource, "identifier");
    assert_eq!(valid(&resource).identifier, None);
}

#[test]
fn device_falls_back_to_its_display() {
    let mut resource = heart_rate();
    resource["device"] = json!({"display": "Withings BPM Connect"});
    assert_eq!(
        valid(&resource).device.as_deref(),
        Some("Withings BPM Connect")
    );
}

#[test]
fn body_position_comes_from_its_extension_else_body_site() {
    let mut resource = blood_pressure(120.0, 80.0);
    resource["bodySite"] =
        json!({"coding": [{"system": SCT, "code": "368208006", "display": "Left upper arm"}]});
    assert_eq!(
        valid(&resource).body_position[0].code.as_deref(),
        Some("368208006")
    );
    resource["extension"] = json!([
        {"url": "http://example.org/other", "valueString": "x"},
        {"url": BODY_POSITION_EXTENSION, "valueCodeableConcept": {"coding": [{"system": SCT, "code": "33586001", "display": "Sitting position"}]}},
    ]);
    let v = valid(&resource);
    assert_eq!(v.body_position.len(), 1);
    assert_eq!(v.body_position[0].code.as_deref(), Some("33586001"));
}

#[test]
fn a_value_quantity_without_system_is_accepted() {
    let mut resource = heart_rate();
    resource["valueQuantity"] = json!({"value": 70, "code": "/min"});
    assert_eq!(canonical(&valid(&resource)), (70.0, "/min"));
}

#[test]
fn expressions_start_with_the_context_path() {
    let mut resource = heart_rate();
    remove(&mut resource, "status");
    for (path, expected) in [
        ("Observation", "Observation.status"),
        (
            "Bundle.entry[0].resource",
            "Bundle.entry[0].resource.status",
        ),
        ("", "status"),
    ] {
        let ctx = Context { path, ..ctx() };
        let issues = issues_with(&resource, &ctx);
        assert_eq!(issues[0].expression.as_deref(), Some(expected));
    }
}
