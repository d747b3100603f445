//! Whole-resource behaviour: several problems at once, non-Observations, odd JSON.

use super::*;

#[test]
fn several_problems_are_reported_together_in_resource_order() {
    let mut resource = with_quantity(LOINC, "8867-4", 72, "kg");
    resource["subject"]["identifier"]["value"] = json!("1505851234a");
    resource["effectiveDateTime"] = json!("2024-03-05T12:30:00Z");
    remove(&mut resource, "status");
    let issues = issues(&resource);
    assert_eq!(
        found(&issues),
        [
            ("value".to_owned(), at("subject.identifier.value")),
            ("not-supported".to_owned(), at("valueQuantity.code")),
            ("value".to_owned(), at("effectiveDateTime")),
            ("required".to_owned(), at("status")),
        ]
    );
}

#[test]
fn every_field_missing_is_reported_at_once() {
    let resource = json!({"resourceType": "Observation"});
    let issues = issues(&resource);
    assert_eq!(
        found(&issues),
        [
            ("required".to_owned(), at("subject")),
            ("required".to_owned(), at("code")),
            ("required".to_owned(), at("effective[x]")),
            ("required".to_owned(), at("status")),
        ]
    );
}

#[test]
fn value_problems_need_a_known_code_and_are_reported_with_the_others() {
    let mut resource = blood_pressure(120.0, 130.0);
    resource["status"] = json!("cancelled");
    let issues = issues(&resource);
    assert_eq!(
        found(&issues),
        [
            ("value".to_owned(), at("component")),
            ("value".to_owned(), at("status")),
        ]
    );
}

#[test]
fn a_resource_that_is_not_an_object_is_invalid() {
    for resource in [json!("Observation"), json!([heart_rate()]), json!(null)] {
        only(&resource, "invalid", "resourceType");
    }
}

#[test]
fn another_resource_type_is_reported_alone() {
    let mut resource = heart_rate();
    resource["resourceType"] = json!("Patient");
    remove(&mut resource, "status");
    only(&resource, "invalid", "resourceType");
    remove(&mut resource, "resourceType");
    only(&resource, "invalid", "resourceType");
}

#[test]
fn diagnostics_are_lowercase_sentences_without_a_trailing_period() {
    let mut resource = blood_pressure(400.0, 80.0);
    resource["subject"] = json!({"identifier": {"system": "urn:x", "value": "1"}});
    resource["effectiveDateTime"] = json!("2024-13-01");
    resource["status"] = json!("done");
    for issue in issues(&resource) {
        let first = issue.diagnostics.chars().next().unwrap();
        assert!(!first.is_uppercase(), "{issue:?}");
        assert!(!issue.diagnostics.ends_with('.'), "{issue:?}");
    }
}

/// Odd JSON values to put anywhere.
fn odd_values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(0),
        json!(-1.5),
        json!(1e308),
        json!(""),
        json!(fnr()),
        json!(format!("Patient/{}", fnr())),
        json!([]),
        json!([null, 1, "x", {}]),
        json!({}),
        json!({"coding": "x", "value": "y", "start": 1}),
    ]
}

/// Every element path of a JSON tree (objects and arrays), depth first.
fn paths(value: &Value, prefix: Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    match value {
        Value::Object(object) => {
            for (key, child) in object {
                let mut path = prefix.clone();
                path.push(PathStep::Key(key.clone()));
                out.push(path.clone());
                paths(child, path, out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                let mut path = prefix.clone();
                path.push(PathStep::Index(index));
                out.push(path.clone());
                paths(child, path, out);
            }
        }
        _ => {}
    }
}

#[derive(Clone)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn slot<'a>(value: &'a mut Value, path: &[PathStep]) -> &'a mut Value {
    path.iter().fold(value, |value, step| match step {
        PathStep::Key(key) => &mut value[key.as_str()],
        PathStep::Index(index) => &mut value[*index],
    })
}

#[test]
fn odd_json_anywhere_never_panics_nor_echoes_the_patient() {
    let mut tried = 0;
    for base in [heart_rate(), blood_pressure(120.0, 80.0), {
        let mut acvpu = observation(SCT, "1104441000000107");
        acvpu["valueCodeableConcept"] = json!({"coding": [{"system": SCT, "code": "248234008"}]});
        acvpu
    }] {
        let mut all = Vec::new();
        paths(&base, Vec::new(), &mut all);
        for path in &all {
            for odd in odd_values() {
                let mut resource = base.clone();
                *slot(&mut resource, path) = odd;
                tried += 1;
                if let Err(issues) = validate_observation(&resource, &ctx()) {
                    assert!(!issues.is_empty());
                    for issue in &issues {
                        assert!(!issue.diagnostics.contains(&fnr()), "{issue:?}");
                        assert!(
                            issue
                                .expression
                                .as_deref()
                                .is_some_and(|e| e.starts_with(PATH)),
                            "{issue:?}"
                        );
                    }
                }
            }
        }
    }
    assert!(tried > 500, "{tried}");
}
