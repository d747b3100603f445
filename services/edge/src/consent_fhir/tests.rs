#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use pmd_domain::ident::oid;
use pmd_domain::valid_org_number;
use serde_json::json;

use super::*;
use crate::search::H_NUMBER_SYSTEM;

const FNR: &str = "15058512343";
const FNR_OTHER: &str = "29020050088";
const D_NUMBER: &str = "55058512337";
const H_NUMBER: &str = "15458512326";
const BAD_CHECKSUM: &str = "15058512344";
const HPR: &str = "9144900";

const PROD: IdPolicy = IdPolicy::production();

/// The Consent from the issue, with a valid patient.
fn example() -> Value {
    json!({"resourceType": "Consent", "status": "active",
     "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
     "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
     "patient": {"identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": FNR}},
     "policyRule": {"text": "pasient- og brukerrettighetsloven § 5-3"},
     "provision": {"type": "deny", "period": {"end": "2027-01-01"},
       "actor": [{"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]},
                  "reference": {"identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.4", "value": HPR}}}]}})
}

fn micros(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
        .unwrap()
        .timestamp_micros()
}

fn parse(value: &Value) -> Result<CreateBlockRequest, ServiceError> {
    parse_consent(value, &PROD)
}

fn parsed(value: &Value) -> CreateBlockRequest {
    match parse(value) {
        Ok(request) => request,
        Err(error) => panic!("expected a valid Consent, got {:?}", error.issues),
    }
}

/// The example with one change made by `edit`.
fn edited(edit: impl FnOnce(&mut Value)) -> Value {
    let mut consent = example();
    edit(&mut consent);
    consent
}

fn remove(consent: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    consent
        .pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(key);
}

fn set(consent: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    consent
        .pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .insert(key.to_owned(), value);
}

/// A 400 with exactly one issue of this code at this expression, echoing no id.
fn rejected(consent: &Value, code: &str, expression: &str) {
    let error = parse(consent).expect_err("expected 400");
    assert_eq!(error.code, pmd_error::ErrorCode::BadRequest);
    assert_eq!(error.issues.len(), 1, "{:?}", error.issues);
    let issue = &error.issues[0];
    assert_eq!(issue.code, code, "{issue:?}");
    assert_eq!(issue.expression.as_deref(), Some(expression), "{issue:?}");
    let text = format!("{error:?}");
    for id in [FNR, FNR_OTHER, D_NUMBER, BAD_CHECKSUM] {
        assert!(!text.contains(id), "error echoes an id: {text}");
    }
}

fn hpr_target(hpr: &str) -> Option<BlockTarget> {
    Some(BlockTarget {
        target: Some(Target::HprNumber(hpr.to_owned())),
    })
}

fn org_target(org: &str) -> Option<BlockTarget> {
    Some(BlockTarget {
        target: Some(Target::OrgNumber(org.to_owned())),
    })
}

fn fnr_identifier() -> Option<Identifier> {
    Some(Identifier {
        system: oid::FODSELSNUMMER.to_owned(),
        value: FNR.to_owned(),
    })
}

// ---------------------------------------------------------------- parse: accepted

#[test]
fn the_issue_example_is_an_hpr_block_through_the_end_of_that_day() {
    let request = parsed(&example());
    assert_eq!(
        request,
        CreateBlockRequest {
            patient: fnr_identifier(),
            target: hpr_target(HPR),
            valid_until_unix_micros: Some(micros(2027, 1, 2, 0, 0, 0)),
            policy_text: "pasient- og brukerrettighetsloven § 5-3".to_owned(),
        }
    );
}

#[test]
fn organisations_are_blocked_under_either_organisation_oid() {
    let org = valid_org_number(42);
    for system in [oid::ORG_NUMBER, oid::ORG_NUMBER_HELSEID] {
        let consent = edited(|c| {
            set(
                c,
                "/provision/actor/0/reference/identifier",
                json!({"system": system, "value": org}),
            );
        });
        assert_eq!(parsed(&consent).target, org_target(&org), "{system}");
    }
}

#[test]
fn the_patient_may_be_a_reference_or_an_identifier_of_any_national_kind() {
    let consent = edited(|c| {
        set(
            c,
            "/patient",
            json!({"reference": format!("Patient/{FNR}")}),
        )
    });
    assert_eq!(parsed(&consent).patient, fnr_identifier());

    let consent = edited(|c| {
        set(
            c,
            "/patient",
            json!({"identifier": {"system": oid::D_NUMBER, "value": D_NUMBER}}),
        );
    });
    assert_eq!(
        parsed(&consent).patient.unwrap(),
        Identifier {
            system: oid::D_NUMBER.to_owned(),
            value: D_NUMBER.to_owned()
        }
    );

    let consent = edited(|c| set(c, "/patient", json!({"identifier": {"value": D_NUMBER}})));
    assert_eq!(parsed(&consent).patient.unwrap().system, oid::D_NUMBER);

    let consent = edited(|c| {
        set(
            c,
            "/patient",
            json!({"reference": format!("Patient/{H_NUMBER}")}),
        )
    });
    assert_eq!(parsed(&consent).patient.unwrap().system, H_NUMBER_SYSTEM);

    let consent = edited(|c| {
        set(
            c,
            "/patient",
            json!({"reference": format!("Patient/{FNR}"),
                   "identifier": {"system": oid::FODSELSNUMMER, "value": FNR}}),
        );
    });
    assert_eq!(parsed(&consent).patient, fnr_identifier());
}

#[test]
fn without_a_period_or_end_the_block_lasts_until_revoked() {
    let consent = edited(|c| remove(c, "/provision/period"));
    assert_eq!(parsed(&consent).valid_until_unix_micros, None);
    let consent = edited(|c| set(c, "/provision/period", json!({})));
    assert_eq!(parsed(&consent).valid_until_unix_micros, None);
}

#[test]
fn period_end_is_the_end_of_its_implicit_range() {
    for (end, until) in [
        ("2027", micros(2028, 1, 1, 0, 0, 0)),
        ("2027-01", micros(2027, 2, 1, 0, 0, 0)),
        ("2027-12-31", micros(2028, 1, 1, 0, 0, 0)),
        ("2027-01-01T10:00:00+01:00", micros(2027, 1, 1, 9, 0, 1)),
        ("2027-01-01T10:00:00Z", micros(2027, 1, 1, 10, 0, 1)),
        (
            "2027-01-01T10:00:00.5Z",
            micros(2027, 1, 1, 10, 0, 0) + 600_000,
        ),
    ] {
        let consent = edited(|c| set(c, "/provision/period/end", json!(end)));
        assert_eq!(
            parsed(&consent).valid_until_unix_micros,
            Some(until),
            "{end}"
        );
    }
    let consent = edited(|c| set(c, "/provision/period/start", json!("2026-06-01")));
    assert!(parse(&consent).is_ok());
}

#[test]
fn missing_category_and_policy_rule_are_accepted() {
    let consent = edited(|c| {
        remove(c, "/category");
        remove(c, "/policyRule");
    });
    let request = parsed(&consent);
    assert_eq!(request.policy_text, "");
    assert_eq!(request.target, hpr_target(HPR));
}

#[test]
fn optional_and_display_elements_are_ignored() {
    let consent = edited(|c| {
        set(c, "/id", json!("client-chosen"));
        set(c, "/meta", json!({"profile": ["http://example.org/p"]}));
        set(c, "/text", json!({"status": "generated", "div": "<div/>"}));
        set(c, "/dateTime", json!("2026-01-01"));
        set(
            c,
            "/extension",
            json!([{"url": "http://example.org/x", "valueString": "y"}]),
        );
        set(c, "/provision/actor/0/reference/display", json!("Dr. Who"));
        set(
            c,
            "/provision/action",
            json!([{"coding": [{"system": CONSENT_ACTION, "code": "access"}]}]),
        );
        set(
            c,
            "/scope/coding",
            json!([{"system": "http://example.org", "code": "x"},
                   {"system": CONSENT_SCOPE, "code": PATIENT_PRIVACY, "display": "Privacy"}]),
        );
    });
    assert_eq!(parsed(&consent), parsed(&example()));
}

// ---------------------------------------------------------------- parse: rejected

#[test]
fn a_body_that_is_not_an_object_is_refused() {
    let error = parse(&json!([1, 2])).expect_err("array");
    assert_eq!(error.issues.len(), 1);
    assert_eq!(error.issues[0].code, "structure");
}

#[test]
fn resource_type_must_be_consent() {
    rejected(
        &edited(|c| set(c, "/resourceType", json!("Observation"))),
        "invalid",
        "Consent.resourceType",
    );
    rejected(
        &edited(|c| remove(c, "/resourceType")),
        "required",
        "Consent.resourceType",
    );
}

#[test]
fn status_must_be_active() {
    rejected(
        &edited(|c| remove(c, "/status")),
        "required",
        "Consent.status",
    );
    for status in ["inactive", "draft", "proposed", "Active"] {
        rejected(
            &edited(|c| set(c, "/status", json!(status))),
            "value",
            "Consent.status",
        );
    }
    rejected(
        &edited(|c| set(c, "/status", json!(1))),
        "invalid",
        "Consent.status",
    );
}

#[test]
fn scope_must_be_patient_privacy_in_its_system() {
    rejected(
        &edited(|c| remove(c, "/scope")),
        "required",
        "Consent.scope",
    );
    for coding in [
        json!({"system": CONSENT_SCOPE, "code": "research"}),
        json!({"system": "http://example.org", "code": PATIENT_PRIVACY}),
        json!({"code": PATIENT_PRIVACY}),
    ] {
        rejected(
            &edited(|c| set(c, "/scope", json!({"coding": [coding]}))),
            "value",
            "Consent.scope",
        );
    }
    rejected(
        &edited(|c| set(c, "/scope", json!("patient-privacy"))),
        "invalid",
        "Consent.scope",
    );
}

#[test]
fn a_given_category_must_include_patient_consent() {
    rejected(
        &edited(|c| {
            set(
                c,
                "/category",
                json!([{"coding": [{"system": LOINC, "code": "64292-6"}]}]),
            );
        }),
        "value",
        "Consent.category",
    );
    rejected(
        &edited(|c| set(c, "/category", json!([]))),
        "value",
        "Consent.category",
    );
    rejected(
        &edited(|c| set(c, "/category", json!({"coding": []}))),
        "invalid",
        "Consent.category",
    );
}

#[test]
fn the_patient_is_required_and_checked_without_echoing_it() {
    rejected(
        &edited(|c| remove(c, "/patient")),
        "required",
        "Consent.patient",
    );
    rejected(
        &edited(|c| set(c, "/patient", json!({}))),
        "required",
        "Consent.patient",
    );
    rejected(
        &edited(|c| set(c, "/patient", json!("Patient/x"))),
        "invalid",
        "Consent.patient",
    );
    rejected(
        &edited(|c| set(c, "/patient/identifier/value", json!(BAD_CHECKSUM))),
        "value",
        "Consent.patient.identifier.value",
    );
    rejected(
        &edited(|c| set(c, "/patient/identifier/system", json!(oid::D_NUMBER))),
        "value",
        "Consent.patient.identifier.value",
    );
    rejected(
        &edited(|c| set(c, "/patient/identifier/system", json!("urn:oid:1.2.3"))),
        "invalid",
        "Consent.patient.identifier.system",
    );
    rejected(
        &edited(|c| remove(c, "/patient/identifier/value")),
        "required",
        "Consent.patient.identifier.value",
    );
    rejected(
        &edited(|c| set(c, "/patient/identifier/value", json!(15058512343_u64))),
        "invalid",
        "Consent.patient.identifier.value",
    );
    rejected(
        &edited(|c| {
            set(
                c,
                "/patient",
                json!({"reference": format!("Patient/{BAD_CHECKSUM}")}),
            )
        }),
        "value",
        "Consent.patient.reference",
    );
    for reference in [
        format!("Practitioner/{FNR}"),
        FNR.to_owned(),
        format!("Patient/{FNR}/_history/1"),
    ] {
        rejected(
            &edited(|c| set(c, "/patient", json!({"reference": reference}))),
            "invalid",
            "Consent.patient.reference",
        );
    }
    rejected(
        &edited(|c| {
            set(
                c,
                "/patient",
                json!({"reference": format!("Patient/{FNR_OTHER}"),
                       "identifier": {"system": oid::FODSELSNUMMER, "value": FNR}}),
            );
        }),
        "invalid",
        "Consent.patient",
    );
}

#[test]
fn synthetic_patients_follow_the_policy() {
    let synthetic = "15858512309";
    let consent = edited(|c| set(c, "/patient/identifier/value", json!(synthetic)));
    assert!(parse(&consent).is_err());
    assert!(parse_consent(&consent, &IdPolicy::embedded()).is_ok());
}

#[test]
fn policy_text_must_be_a_short_string() {
    rejected(
        &edited(|c| {
            set(
                c,
                "/policyRule/text",
                json!("x".repeat(MAX_POLICY_TEXT + 1)),
            )
        }),
        "value",
        "Consent.policyRule.text",
    );
    let consent = edited(|c| set(c, "/policyRule/text", json!("§".repeat(MAX_POLICY_TEXT))));
    assert!(parse(&consent).is_ok());
    rejected(
        &edited(|c| set(c, "/policyRule/text", json!(53))),
        "invalid",
        "Consent.policyRule.text",
    );
    rejected(
        &edited(|c| set(c, "/policyRule", json!("§ 5-3"))),
        "invalid",
        "Consent.policyRule",
    );
}

#[test]
fn the_provision_must_deny() {
    rejected(
        &edited(|c| remove(c, "/provision")),
        "required",
        "Consent.provision",
    );
    rejected(
        &edited(|c| remove(c, "/provision/type")),
        "required",
        "Consent.provision.type",
    );
    rejected(
        &edited(|c| set(c, "/provision/type", json!("permit"))),
        "value",
        "Consent.provision.type",
    );
}

#[test]
fn the_period_must_be_valid_dates_in_order() {
    for end in ["2027-13-01", "01.01.2027", "2027-01-01T10:00", ""] {
        rejected(
            &edited(|c| set(c, "/provision/period/end", json!(end))),
            "value",
            "Consent.provision.period.end",
        );
    }
    rejected(
        &edited(|c| set(c, "/provision/period/start", json!("yesterday"))),
        "value",
        "Consent.provision.period.start",
    );
    rejected(
        &edited(|c| set(c, "/provision/period/start", json!("2027-01-02"))),
        "invalid",
        "Consent.provision.period",
    );
    rejected(
        &edited(|c| set(c, "/provision/period", json!("2027"))),
        "invalid",
        "Consent.provision.period",
    );
}

#[test]
fn exactly_one_actor_is_blocked() {
    rejected(
        &edited(|c| remove(c, "/provision/actor")),
        "required",
        "Consent.provision.actor",
    );
    rejected(
        &edited(|c| set(c, "/provision/actor", json!([]))),
        "required",
        "Consent.provision.actor",
    );
    rejected(
        &edited(|c| {
            let actor = c.pointer("/provision/actor/0").unwrap().clone();
            set(c, "/provision/actor", json!([actor.clone(), actor]));
        }),
        "invalid",
        "Consent.provision.actor",
    );
    rejected(
        &edited(|c| set(c, "/provision/actor", json!({}))),
        "invalid",
        "Consent.provision.actor",
    );
    rejected(
        &edited(|c| set(c, "/provision/actor", json!(["x"]))),
        "invalid",
        "Consent.provision.actor[0]",
    );
}

#[test]
fn the_actor_role_must_be_the_primary_recipient() {
    rejected(
        &edited(|c| remove(c, "/provision/actor/0/role")),
        "required",
        "Consent.provision.actor[0].role",
    );
    rejected(
        &edited(|c| {
            set(
                c,
                "/provision/actor/0/role",
                json!({"coding": [{"system": PARTICIPATION_TYPE, "code": "AUT"}]}),
            );
        }),
        "value",
        "Consent.provision.actor[0].role",
    );
}

#[test]
fn the_actor_needs_an_hpr_or_organisation_identifier() {
    const REF: &str = "Consent.provision.actor[0].reference";
    rejected(
        &edited(|c| remove(c, "/provision/actor/0/reference")),
        "required",
        REF,
    );
    rejected(
        &edited(|c| {
            set(
                c,
                "/provision/actor/0/reference",
                json!({"reference": "Practitioner/1"}),
            )
        }),
        "required",
        "Consent.provision.actor[0].reference.identifier",
    );
    rejected(
        &edited(|c| {
            set(
                c,
                "/provision/actor/0/reference/identifier",
                json!("9144900"),
            )
        }),
        "invalid",
        "Consent.provision.actor[0].reference.identifier",
    );
    for system in [oid::RESH, oid::FODSELSNUMMER, "urn:oid:1.2.3"] {
        rejected(
            &edited(|c| {
                set(
                    c,
                    "/provision/actor/0/reference/identifier/system",
                    json!(system),
                )
            }),
            "invalid",
            "Consent.provision.actor[0].reference.identifier.system",
        );
    }
    rejected(
        &edited(|c| remove(c, "/provision/actor/0/reference/identifier/system")),
        "required",
        "Consent.provision.actor[0].reference.identifier.system",
    );
    for value in [json!("abc"), json!("1234567890"), json!("")] {
        rejected(
            &edited(|c| set(c, "/provision/actor/0/reference/identifier/value", value)),
            "value",
            "Consent.provision.actor[0].reference.identifier.value",
        );
    }
    rejected(
        &edited(|c| {
            set(
                c,
                "/provision/actor/0/reference/identifier/value",
                json!(9_144_900),
            )
        }),
        "invalid",
        "Consent.provision.actor[0].reference.identifier.value",
    );
    rejected(
        &edited(|c| remove(c, "/provision/actor/0/reference/identifier/value")),
        "required",
        "Consent.provision.actor[0].reference.identifier.value",
    );
    let org = valid_org_number(7);
    let mut bad_org = org.clone();
    let last = bad_org.pop().unwrap();
    bad_org.push(if last == '0' { '1' } else { '0' });
    rejected(
        &edited(|c| {
            set(
                c,
                "/provision/actor/0/reference/identifier",
                json!({"system": oid::ORG_NUMBER, "value": bad_org}),
            );
        }),
        "value",
        "Consent.provision.actor[0].reference.identifier.value",
    );
}

#[test]
fn narrowing_elements_and_modifier_extensions_are_not_supported() {
    for key in NARROWING {
        rejected(
            &edited(|c| set(c, &format!("/provision/{key}"), json!([{}]))),
            "not-supported",
            &format!("Consent.provision.{key}"),
        );
    }
    for action in [
        json!([{"coding": [{"system": CONSENT_ACTION, "code": "disclose"}]}]),
        json!([{"coding": []}]),
        json!("access"),
    ] {
        rejected(
            &edited(|c| set(c, "/provision/action", action)),
            "not-supported",
            "Consent.provision.action",
        );
    }
    for (pointer, expression) in [
        ("/modifierExtension", "Consent.modifierExtension"),
        (
            "/provision/modifierExtension",
            "Consent.provision.modifierExtension",
        ),
        (
            "/provision/actor/0/modifierExtension",
            "Consent.provision.actor[0].modifierExtension",
        ),
    ] {
        rejected(
            &edited(|c| set(c, pointer, json!([{"url": "http://example.org/m"}]))),
            "not-supported",
            expression,
        );
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let consent = edited(|c| {
        set(c, "/status", json!("draft"));
        remove(c, "/scope");
        set(c, "/patient/identifier/value", json!(BAD_CHECKSUM));
        set(c, "/provision/type", json!("permit"));
        set(
            c,
            "/provision/actor/0/reference/identifier/value",
            json!("x"),
        );
    });
    let error = parse(&consent).expect_err("several problems");
    let expressions: Vec<_> = error
        .issues
        .iter()
        .map(|i| i.expression.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        expressions,
        [
            "Consent.status",
            "Consent.scope",
            "Consent.patient.identifier.value",
            "Consent.provision.type",
            "Consent.provision.actor[0].reference.identifier.value",
        ]
    );
    assert!(!format!("{error:?}").contains(BAD_CHECKSUM));
}

// ---------------------------------------------------------------- render

fn block() -> Block {
    Block {
        id: "b1".to_owned(),
        patient: fnr_identifier(),
        target: hpr_target(HPR),
        created_unix_micros: micros(2026, 3, 5, 8, 15, 0),
        created_by: None,
        revoked_unix_micros: None,
        revoked_by: None,
        valid_until_unix_micros: Some(micros(2027, 1, 2, 0, 0, 0)),
        target_display: "Kari Lege".to_owned(),
        policy_text: "pasient- og brukerrettighetsloven § 5-3".to_owned(),
    }
}

#[test]
fn an_active_block_renders_as_the_consent_it_stands_for() {
    assert_eq!(
        render_consent(&block()),
        json!({
            "resourceType": "Consent",
            "id": "b1",
            "meta": {"lastUpdated": "2026-03-05T08:15:00Z"},
            "status": "active",
            "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "patient-privacy", "display": "Privacy Consent"}]},
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]}],
            "patient": {"identifier": {"system": oid::FODSELSNUMMER, "value": FNR}},
            "dateTime": "2026-03-05T08:15:00Z",
            "policyRule": {"text": "pasient- og brukerrettighetsloven § 5-3"},
            "provision": {
                "type": "deny",
                "period": {"end": "2027-01-01"},
                "actor": [{
                    "role": {"coding": [{"system": PARTICIPATION_TYPE, "code": "PRCP", "display": "primary information recipient"}]},
                    "reference": {
                        "identifier": {"system": oid::HPR, "value": HPR},
                        "display": "Kari Lege",
                    },
                }],
            },
        })
    );
}

#[test]
fn a_revoked_block_is_inactive_and_last_updated_when_revoked() {
    let mut revoked = block();
    revoked.revoked_unix_micros = Some(micros(2026, 4, 1, 12, 0, 0));
    let consent = render_consent(&revoked);
    assert_eq!(consent["status"], "inactive");
    assert_eq!(consent["meta"]["lastUpdated"], "2026-04-01T12:00:00Z");
    assert_eq!(consent["dateTime"], "2026-03-05T08:15:00Z");
}

#[test]
fn optional_parts_are_left_out_when_unknown() {
    let mut bare = block();
    bare.valid_until_unix_micros = None;
    bare.target_display = String::new();
    bare.policy_text = String::new();
    let consent = render_consent(&bare);
    assert!(consent["provision"].get("period").is_none());
    assert!(consent.get("policyRule").is_none());
    assert!(
        consent["provision"]["actor"][0]["reference"]
            .get("display")
            .is_none()
    );
}

#[test]
fn organisation_blocks_render_with_the_canonical_organisation_oid() {
    let org = valid_org_number(3);
    let mut block = block();
    block.target = org_target(&org);
    let consent = render_consent(&block);
    assert_eq!(
        consent["provision"]["actor"][0]["reference"]["identifier"],
        json!({"system": oid::ORG_NUMBER, "value": org})
    );
}

#[test]
fn h_number_patients_render_as_a_reference() {
    let mut block = block();
    block.patient = Some(Identifier {
        system: H_NUMBER_SYSTEM.to_owned(),
        value: H_NUMBER.to_owned(),
    });
    assert_eq!(
        render_consent(&block)["patient"],
        json!({"reference": format!("Patient/{H_NUMBER}")})
    );
}

#[test]
fn rendering_and_parsing_round_trip_the_block() {
    let org = valid_org_number(11);
    for (target, until, end) in [
        (hpr_target(HPR), micros(2027, 1, 2, 0, 0, 0), "2027-01-01"),
        (org_target(&org), micros(2028, 1, 1, 0, 0, 0), "2027-12-31"),
        (
            hpr_target(HPR),
            micros(2027, 1, 1, 9, 0, 1),
            "2027-01-01T09:00:00Z",
        ),
        (
            hpr_target(HPR),
            micros(2027, 1, 1, 9, 0, 0) + 600_000,
            "2027-01-01T09:00:00.599999Z",
        ),
    ] {
        let mut block = block();
        block.target = target.clone();
        block.valid_until_unix_micros = Some(until);
        let consent = render_consent(&block);
        assert_eq!(consent["provision"]["period"]["end"], end);
        let again = parsed(&consent);
        assert_eq!(again.patient, block.patient);
        assert_eq!(again.target, target);
        assert_eq!(again.valid_until_unix_micros, Some(until));
        assert_eq!(again.policy_text, block.policy_text);
    }
}

#[test]
fn the_bundle_is_a_searchset_of_every_block() {
    let mut second = block();
    second.id = "b2".to_owned();
    second.revoked_unix_micros = Some(micros(2026, 4, 1, 0, 0, 0));
    let bundle = consent_bundle("https://pmd.example", &[block(), second]);
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "searchset");
    assert_eq!(bundle["total"], 2);
    assert_eq!(
        bundle["link"],
        json!([{"relation": "self", "url": "https://pmd.example/fhir/Consent"}])
    );
    assert_eq!(
        bundle["entry"][0]["fullUrl"],
        "https://pmd.example/fhir/Consent/b1"
    );
    assert_eq!(bundle["entry"][1]["resource"]["status"], "inactive");
    assert_eq!(bundle["entry"][1]["search"]["mode"], "match");
    assert!(!bundle["link"].to_string().contains(FNR));

    let empty = consent_bundle("https://pmd.example", &[]);
    assert_eq!(empty["total"], 0);
    assert_eq!(empty["entry"], json!([]));
}
