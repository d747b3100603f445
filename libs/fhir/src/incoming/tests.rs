#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::*;

const FNR_OID: &str = "urn:oid:2.16.578.1.12.4.1.4.1";

fn observation() -> Value {
    json!({"resourceType": "Observation", "status": "final"})
}

fn bundle(kind: &str, entries: Value) -> Value {
    json!({"resourceType": "Bundle", "type": kind, "entry": entries})
}

fn expressions(issues: &[Issue]) -> Vec<(&str, &str)> {
    issues
        .iter()
        .map(|i| (i.code.as_str(), i.expression.as_deref().unwrap_or_default()))
        .collect()
}

fn one_entry(entry: Value) -> IncomingEntry {
    let parsed = parse_bundle(&bundle("batch", json!([entry]))).unwrap();
    parsed.entries.into_iter().next().unwrap()
}

#[test]
fn a_batch_bundle_is_taken_apart_entry_by_entry() {
    let parsed = parse_bundle(&bundle(
        "batch",
        json!([
            {
                "fullUrl": "urn:uuid:a",
                "resource": observation(),
                "request": {"method": "POST", "url": "Observation", "ifNoneExist": "identifier=urn:ehr|1"},
            },
            {
                "fullUrl": "urn:uuid:b",
                "resource": observation(),
                "request": {"method": "PUT", "url": "Observation?identifier=urn:ehr|2"},
            },
        ]),
    ))
    .unwrap();
    assert_eq!(parsed.kind, BundleKind::Batch);
    assert_eq!(parsed.entries.len(), 2);
    let first = &parsed.entries[0];
    assert_eq!(first.index, 0);
    assert_eq!(first.full_url.as_deref(), Some("urn:uuid:a"));
    assert_eq!(first.method.as_deref(), Some("POST"));
    assert_eq!(first.url.as_deref(), Some("Observation"));
    assert_eq!(first.if_none_exist.as_deref(), Some("identifier=urn:ehr|1"));
    assert_eq!(first.resource, Some(observation()));
    assert!(first.check().is_empty());
    assert_eq!(
        first.request_identifier(),
        Some(("urn:ehr".into(), "1".into()))
    );
    let second = &parsed.entries[1];
    assert_eq!(second.index, 1);
    assert_eq!(second.path(), "Bundle.entry[1]");
    assert_eq!(second.resource_path(), "Bundle.entry[1].resource");
    assert!(second.check().is_empty());
    assert_eq!(
        second.request_identifier(),
        Some(("urn:ehr".into(), "2".into()))
    );
}

#[test]
fn a_transaction_bundle_is_recognised() {
    let parsed = parse_bundle(&bundle("transaction", json!([]))).unwrap();
    assert_eq!(parsed.kind, BundleKind::Transaction);
    assert!(parsed.entries.is_empty());
}

#[test]
fn a_bundle_without_entries_has_none() {
    let parsed = parse_bundle(&json!({"resourceType": "Bundle", "type": "batch"})).unwrap();
    assert!(parsed.entries.is_empty());
}

#[test]
fn a_body_that_is_not_an_object_is_invalid() {
    let issues = parse_bundle(&json!([1])).unwrap_err();
    assert_eq!(expressions(&issues), [("invalid", "Bundle")]);
}

#[test]
fn a_resource_that_is_not_a_bundle_is_invalid() {
    let issues =
        parse_bundle(&json!({"resourceType": "Observation", "type": "batch"})).unwrap_err();
    assert_eq!(expressions(&issues), [("invalid", "Bundle.resourceType")]);
}

#[test]
fn bundle_type_is_required() {
    let issues = parse_bundle(&json!({"resourceType": "Bundle"})).unwrap_err();
    assert_eq!(expressions(&issues), [("required", "Bundle.type")]);
}

#[test]
fn other_bundle_types_are_not_supported() {
    for kind in [
        json!("collection"),
        json!("searchset"),
        json!("Batch"),
        json!(1),
    ] {
        let issues = parse_bundle(&json!({"resourceType": "Bundle", "type": kind})).unwrap_err();
        assert_eq!(expressions(&issues), [("not-supported", "Bundle.type")]);
    }
}

#[test]
fn entry_must_be_an_array() {
    let issues = parse_bundle(&bundle("batch", json!({"fullUrl": "x"}))).unwrap_err();
    assert_eq!(expressions(&issues), [("invalid", "Bundle.entry")]);
}

#[test]
fn bundle_problems_are_reported_together() {
    let issues =
        parse_bundle(&json!({"resourceType": "Parameters", "type": "document", "entry": 3}))
            .unwrap_err();
    assert_eq!(
        expressions(&issues),
        [
            ("invalid", "Bundle.resourceType"),
            ("not-supported", "Bundle.type"),
            ("invalid", "Bundle.entry"),
        ]
    );
}

#[test]
fn an_entry_without_full_url_is_reported() {
    let entry = one_entry(
        json!({"resource": observation(), "request": {"method": "POST", "url": "Observation"}}),
    );
    assert_eq!(
        expressions(&entry.check()),
        [("required", "Bundle.entry[0].fullUrl")]
    );
    let empty =
        one_entry(json!({"fullUrl": "", "resource": observation(), "request": {"method": "POST"}}));
    assert_eq!(
        expressions(&empty.check()),
        [("required", "Bundle.entry[0].fullUrl")]
    );
}

#[test]
fn methods_other_than_post_and_put_are_not_supported() {
    for method in ["GET", "DELETE", "PATCH", "post"] {
        let entry = one_entry(
            json!({"fullUrl": "urn:uuid:a", "resource": observation(), "request": {"method": method, "url": "Observation"}}),
        );
        assert_eq!(
            expressions(&entry.check()),
            [("not-supported", "Bundle.entry[0].request.method")],
            "{method}"
        );
        assert_eq!(entry.request_identifier(), None);
    }
}

#[test]
fn a_missing_request_or_method_is_required() {
    let entry = one_entry(json!({"fullUrl": "urn:uuid:a", "resource": observation()}));
    assert_eq!(
        expressions(&entry.check()),
        [("required", "Bundle.entry[0].request.method")]
    );
}

#[test]
fn put_needs_an_identifier_url() {
    for url in [
        None,
        Some("Observation"),
        Some("Observation/123"),
        Some("Observation?identifier=urn:ehr"),
        Some("Observation?identifier=|1"),
        Some("Observation?identifier=urn:ehr|1&patient=x"),
        Some("Patient?identifier=urn:ehr|1"),
    ] {
        let mut request = json!({"method": "PUT"});
        if let Some(url) = url {
            request["url"] = json!(url);
        }
        let entry = one_entry(
            json!({"fullUrl": "urn:uuid:a", "resource": observation(), "request": request}),
        );
        assert_eq!(
            expressions(&entry.check()),
            [("invalid", "Bundle.entry[0].request.url")],
            "{url:?}"
        );
    }
}

#[test]
fn post_with_an_odd_if_none_exist_is_invalid() {
    let entry = one_entry(json!({
        "fullUrl": "urn:uuid:a",
        "resource": observation(),
        "request": {"method": "POST", "url": "Observation", "ifNoneExist": "_id=5"},
    }));
    assert_eq!(
        expressions(&entry.check()),
        [("invalid", "Bundle.entry[0].request.ifNoneExist")]
    );
}

#[test]
fn an_entry_without_resource_is_reported() {
    let entry = one_entry(json!({"fullUrl": "urn:uuid:a", "request": {"method": "POST"}}));
    assert_eq!(
        expressions(&entry.check()),
        [("required", "Bundle.entry[0].resource")]
    );
}

#[test]
fn an_entry_that_is_not_an_object_reports_only_that() {
    let parsed = parse_bundle(&bundle("batch", json!([observation(), "x"]))).unwrap();
    // The first has the wrong shape for an entry (no fullUrl, request, resource).
    assert_eq!(
        expressions(&parsed.entries[0].check()),
        [
            ("required", "Bundle.entry[0].fullUrl"),
            ("required", "Bundle.entry[0].request.method"),
            ("required", "Bundle.entry[0].resource"),
        ]
    );
    assert_eq!(
        expressions(&parsed.entries[1].check()),
        [("invalid", "Bundle.entry[1]")]
    );
}

#[test]
fn fields_of_the_wrong_type_are_blamed_once() {
    let entry = one_entry(json!({
        "fullUrl": 7,
        "resource": "Observation",
        "request": {"method": ["POST"], "url": 1},
    }));
    assert_eq!(entry.full_url, None);
    assert_eq!(entry.resource, None);
    assert_eq!(
        expressions(&entry.check()),
        [
            ("invalid", "Bundle.entry[0].fullUrl"),
            ("invalid", "Bundle.entry[0].request.method"),
            ("invalid", "Bundle.entry[0].request.url"),
            ("invalid", "Bundle.entry[0].resource"),
        ]
    );
    let request =
        one_entry(json!({"fullUrl": "urn:uuid:a", "resource": observation(), "request": "POST"}));
    assert_eq!(
        expressions(&request.check()),
        [("invalid", "Bundle.entry[0].request")]
    );
}

#[test]
fn several_entry_problems_are_reported_together() {
    let entry = one_entry(json!({"request": {"method": "PUT", "url": "Observation"}}));
    assert_eq!(
        expressions(&entry.check()),
        [
            ("required", "Bundle.entry[0].fullUrl"),
            ("invalid", "Bundle.entry[0].request.url"),
            ("required", "Bundle.entry[0].resource"),
        ]
    );
}

#[test]
fn identifier_queries_are_parsed_in_every_accepted_form() {
    let expected = Some(("urn:ehr:obs".to_owned(), "abc-1".to_owned()));
    for query in [
        "identifier=urn:ehr:obs|abc-1",
        "Observation?identifier=urn:ehr:obs|abc-1",
        "/Observation?identifier=urn:ehr:obs|abc-1",
        "https://pmd.example/fhir/Observation?identifier=urn:ehr:obs|abc-1",
        "Observation?identifier=urn%3Aehr%3Aobs%7Cabc-1",
        "Observation?identifier=urn:ehr:obs%7cabc%2D1",
    ] {
        assert_eq!(parse_identifier_query(query), expected, "{query}");
    }
    assert_eq!(
        parse_identifier_query(&format!("identifier={FNR_OID}|a|b")),
        Some((FNR_OID.to_owned(), "a|b".to_owned()))
    );
    assert_eq!(
        parse_identifier_query("identifier=urn:x|a+b"),
        Some(("urn:x".to_owned(), "a+b".to_owned()))
    );
}

#[test]
fn malformed_identifier_queries_are_refused() {
    for query in [
        "",
        "identifier=",
        "identifier=urn:x",
        "identifier=urn:x|",
        "identifier=|v",
        "identifier=urn:x|v&code=1",
        "code=1&identifier=urn:x|v",
        "Identifier=urn:x|v",
        "Patient?identifier=urn:x|v",
        "Observation?_id=1",
        "identifier=urn:x|v%2",
        "identifier=urn:x|v%zz",
        "identifier=urn:x|v%+1",
        "identifier=urn:x|%FF",
    ] {
        assert_eq!(parse_identifier_query(query), None, "{query}");
    }
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Percent-encodes every byte outside RFC 3986's unreserved set.
    fn encode(text: &str) -> String {
        text.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    proptest! {
        #[test]
        fn encoded_identifiers_round_trip(system in "[^|]{1,40}", value in ".{1,40}") {
            let query = format!("Observation?identifier={}|{}", encode(&system), encode(&value));
            prop_assert_eq!(parse_identifier_query(&query), Some((system, value)));
        }

        #[test]
        fn any_text_parses_or_not_without_panicking(text in ".{0,80}") {
            let _ = parse_identifier_query(&text);
        }
    }
}
