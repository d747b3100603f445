#![allow(clippy::unwrap_used)]

use chrono::TimeZone;

use super::*;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 5, 8, 16, 2).unwrap()
}

fn input(value: Option<(Quantity, Quantity)>) -> RenderInput<'static> {
    RenderInput {
        id: "0190f1c2-aaaa-7bbb-8ccc-000000000001",
        version_id: 2,
        last_updated: at(),
        status_override: None,
        value,
        components: Vec::new(),
    }
}

fn temperature_in_fahrenheit() -> Value {
    json!({
        "resourceType": "Observation",
        "id": "client-side-id",
        "meta": {"profile": ["http://hl7.no/fhir/StructureDefinition/no-vkp-BodyTemperature"], "source": "ehr-x"},
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
        "valueQuantity": {"value": 98.6, "unit": "°F", "system": UCUM, "code": "[degF]"},
        "performer": [{"reference": "Practitioner/abc"}],
        "vendorSpecific": {"anything": [1, 2, 3]},
    })
}

fn fahrenheit() -> Option<(Quantity, Quantity)> {
    Some((Quantity::new(37.0, "Cel"), Quantity::new(98.6, "[degF]")))
}

#[test]
fn render_sets_id_and_meta_but_keeps_profile_and_other_meta() {
    let out = render_observation(&temperature_in_fahrenheit(), &input(fahrenheit()));
    assert_eq!(out["id"], "0190f1c2-aaaa-7bbb-8ccc-000000000001");
    assert_eq!(out["meta"]["versionId"], "2");
    assert_eq!(out["meta"]["lastUpdated"], "2024-03-05T08:16:02Z");
    assert_eq!(
        out["meta"]["profile"][0],
        "http://hl7.no/fhir/StructureDefinition/no-vkp-BodyTemperature"
    );
    assert_eq!(out["meta"]["source"], "ehr-x");
}

#[test]
fn render_keeps_unknown_fields_as_sent() {
    let original = temperature_in_fahrenheit();
    let out = render_observation(&original, &input(fahrenheit()));
    assert_eq!(out["vendorSpecific"], original["vendorSpecific"]);
    assert_eq!(out["performer"], original["performer"]);
    assert_eq!(out["code"], original["code"]);
    assert_eq!(out["status"], "final");
    assert_eq!(out["resourceType"], "Observation");
}

#[test]
fn render_puts_the_canonical_value_and_the_received_one_in_an_extension() {
    let out = render_observation(&temperature_in_fahrenheit(), &input(fahrenheit()));
    assert_eq!(
        out["valueQuantity"],
        json!({
            "value": 37,
            "unit": "Cel",
            "system": UCUM,
            "code": "Cel",
            "extension": [{
                "url": RECEIVED_QUANTITY_URL,
                "valueQuantity": {"value": 98.6, "unit": "°F", "system": UCUM, "code": "[degF]"},
            }],
        })
    );
}

#[test]
fn render_builds_the_received_quantity_when_the_sent_element_differs() {
    let mut original = temperature_in_fahrenheit();
    original["valueQuantity"] = json!("not a quantity");
    let out = render_observation(&original, &input(fahrenheit()));
    assert_eq!(out["valueQuantity"]["value"], 37);
    assert_eq!(
        out["valueQuantity"]["extension"][0]["valueQuantity"],
        json!({"value": 98.6, "unit": "[degF]", "system": UCUM, "code": "[degF]"})
    );
}

#[test]
fn render_keeps_other_extensions_and_fields_of_the_quantity() {
    let mut original = temperature_in_fahrenheit();
    original["valueQuantity"]["comparator"] = json!("<");
    original["valueQuantity"]["extension"] =
        json!([{"url": "http://example.org/x", "valueString": "y"}]);
    let out = render_observation(&original, &input(fahrenheit()));
    let quantity = &out["valueQuantity"];
    assert_eq!(quantity["comparator"], "<");
    let extensions = quantity["extension"].as_array().unwrap();
    assert_eq!(extensions.len(), 2);
    assert_eq!(extensions[0]["url"], "http://example.org/x");
    assert_eq!(extensions[1]["url"], RECEIVED_QUANTITY_URL);
    // The received quantity is the element as sent, without its extensions.
    assert!(extensions[1]["valueQuantity"].get("extension").is_none());
    assert_eq!(extensions[1]["valueQuantity"]["comparator"], "<");
}

#[test]
fn rendering_twice_gives_the_same_resource() {
    let once = render_observation(&temperature_in_fahrenheit(), &input(fahrenheit()));
    let twice = render_observation(&once, &input(fahrenheit()));
    assert_eq!(once, twice);
}

#[test]
fn render_adds_the_value_when_the_original_has_none() {
    let mut original = temperature_in_fahrenheit();
    original.as_object_mut().unwrap().remove("valueQuantity");
    let out = render_observation(&original, &input(fahrenheit()));
    assert_eq!(out["valueQuantity"]["code"], "Cel");
}

#[test]
fn render_without_a_value_leaves_value_x_as_sent() {
    let original = json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1104051000000101"}]},
        "valueInteger": 5,
    });
    let out = render_observation(&original, &input(None));
    assert_eq!(out["valueInteger"], 5);
    assert!(out.get("valueQuantity").is_none());
}

#[test]
fn status_override_replaces_the_status() {
    let mut input = input(fahrenheit());
    input.status_override = Some("amended");
    let out = render_observation(&temperature_in_fahrenheit(), &input);
    assert_eq!(out["status"], "amended");
}

fn blood_pressure(systolic_system: &str, systolic_code: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "component": [
            {
                "code": {"coding": [{"system": systolic_system, "code": systolic_code}]},
                "valueQuantity": {"value": 120, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
            },
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                "valueQuantity": {"value": 80, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
            },
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                "valueQuantity": {"value": 64, "unit": "/min", "system": UCUM, "code": "/min"},
            },
            "not an object",
        ],
    })
}

fn bp_input() -> RenderInput<'static> {
    let mm = |v: f64| Quantity::new(v, "mm[Hg]");
    RenderInput {
        components: vec![
            RenderComponent {
                code: "8480-6".into(),
                canonical: mm(120.0),
                received: mm(120.0),
            },
            RenderComponent {
                code: "8462-4".into(),
                canonical: mm(80.0),
                received: mm(80.0),
            },
        ],
        ..input(None)
    }
}

#[test]
fn render_rewrites_matching_components_by_loinc_code() {
    let original = blood_pressure("http://loinc.org", "8480-6");
    let out = render_observation(&original, &bp_input());
    for (i, value) in [(0, 120), (1, 80)] {
        let quantity = &out["component"][i]["valueQuantity"];
        assert_eq!(quantity["value"], value);
        assert_eq!(quantity["unit"], "mm[Hg]");
        assert_eq!(quantity["extension"][0]["url"], RECEIVED_QUANTITY_URL);
        // Sent with the display "mmHg": the received quantity is the element as sent.
        assert_eq!(quantity["extension"][0]["valueQuantity"]["unit"], "mmHg");
    }
    // A component the input does not name, and an odd element, are left untouched.
    assert_eq!(out["component"][2], original["component"][2]);
    assert_eq!(out["component"][3], "not an object");
    assert!(out.get("valueQuantity").is_none());
}

#[test]
fn render_matches_components_through_their_snomed_codes() {
    let original = blood_pressure("http://snomed.info/sct", "271649006");
    let out = render_observation(&original, &bp_input());
    let systolic = &out["component"][0]["valueQuantity"];
    assert_eq!(systolic["unit"], "mm[Hg]");
    assert_eq!(systolic["extension"][0]["url"], RECEIVED_QUANTITY_URL);
}

#[test]
fn render_does_not_fail_on_odd_input() {
    let out = render_observation(&json!([1, 2]), &input(fahrenheit()));
    assert_eq!(out["resourceType"], "Observation");
    assert_eq!(out["id"], "0190f1c2-aaaa-7bbb-8ccc-000000000001");
    assert_eq!(out["valueQuantity"]["code"], "Cel");

    let odd = json!({"resourceType": "Observation", "meta": "x", "component": {"a": 1}});
    let out = render_observation(&odd, &bp_input());
    assert_eq!(out["meta"]["versionId"], "2");
    assert_eq!(out["component"], json!({"a": 1}));
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-zA-Z/\\[\\]0-9-]{0,12}".prop_map(Value::from),
            prop_oneof![
                Just("valueQuantity"),
                Just("component"),
                Just("extension"),
                Just(RECEIVED_QUANTITY_URL),
                Just("8480-6"),
                Just("code"),
                Just("coding"),
                Just("meta"),
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            let key = prop_oneof![
                Just("valueQuantity".to_owned()),
                Just("component".to_owned()),
                Just("code".to_owned()),
                Just("coding".to_owned()),
                Just("system".to_owned()),
                Just("extension".to_owned()),
                Just("url".to_owned()),
                Just("value".to_owned()),
                Just("meta".to_owned()),
                "[a-z]{1,6}",
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(key, inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn render_never_panics_and_always_sets_id_and_meta(original in any_json()) {
            let with_value = RenderInput { value: fahrenheit(), ..bp_input() };
            for input in [bp_input(), with_value] {
                let out = render_observation(&original, &input);
                prop_assert_eq!(&out["id"], "0190f1c2-aaaa-7bbb-8ccc-000000000001");
                prop_assert_eq!(&out["meta"]["versionId"], "2");
                let again = render_observation(&out, &input);
                prop_assert_eq!(again, out);
            }
        }
    }
}
