//! A citizen's block of a practitioner or an organisation, through the REST edge as a FHIR
//! Consent: it holds at once, also in emergencies, and revoking it restores access.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pmd_auth::{Purpose, TokenRequest};
use pmd_testkit::{TestMesh, spawn_mesh};
use serde_json::{Value, json};

const HPR: &str = "9144900";
const ORG: &str = "974589095";

fn patient() -> String {
    pmd_domain::synthetic_fnr(31)
}

fn child_org() -> String {
    pmd_domain::valid_org_number(77)
}

pub fn consent(patient: &str, system: &str, value: &str) -> Value {
    json!({"resourceType": "Consent", "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": patient}},
        "policyRule": {"text": "pasient- og brukerrettighetsloven § 5-3"},
        "provision": {"type": "deny", "period": {"end": "2099-01-01"},
            "actor": [{"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]},
                       "reference": {"identifier": {"system": system, "value": value}}}]}})
}

async fn seed(mesh: &TestMesh) {
    let token = mesh.token(&TokenRequest::system(ORG));
    let observation = json!({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": format!("Patient/{}", patient())},
        "effectiveDateTime": "2026-11-01T08:00:00Z",
        "valueQuantity": {"value": 70, "system": "http://unitsofmeasure.org", "code": "/min"}});
    let response = mesh
        .http
        .post(mesh.url("/fhir/Observation"))
        .bearer_auth(token)
        .header("content-type", "application/fhir+json")
        .json(&observation)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

async fn search(mesh: &TestMesh, token: &str) -> u16 {
    mesh.http
        .post(mesh.url("/fhir/Observation/_search"))
        .bearer_auth(token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("patient=Patient/{}", patient()))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn block(mesh: &TestMesh, system: &str, value: &str) -> Value {
    let citizen = mesh.token(&TokenRequest::citizen(patient()));
    let response = mesh
        .http
        .post(mesh.url("/fhir/Consent"))
        .bearer_auth(citizen)
        .header("content-type", "application/fhir+json")
        .json(&consent(&patient(), system, value))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert!(response.headers().get("location").is_some());
    response.json().await.unwrap()
}

#[tokio::test]
async fn an_hpr_block_denies_that_practitioner_at_once_also_in_emergencies_until_revoked() {
    let mesh = spawn_mesh().await.unwrap();
    seed(&mesh).await;
    let treat = mesh.token(&TokenRequest::personnel(HPR, ORG));
    let btg = mesh.token(&TokenRequest::personnel(HPR, ORG).purpose(Purpose::Btg));
    let etreat = mesh.token(&TokenRequest::personnel(HPR, ORG).purpose(Purpose::Etreat));
    let colleague = mesh.token(&TokenRequest::personnel("1234567", ORG));
    assert_eq!(
        search(&mesh, &treat).await,
        200,
        "allowed before the block (and now cached)"
    );
    let stored = block(&mesh, "urn:oid:2.16.578.1.12.4.1.4.4", HPR).await;
    assert_eq!(stored["resourceType"], "Consent");
    assert_eq!(
        search(&mesh, &treat).await,
        403,
        "denied right after the block"
    );
    assert_eq!(
        search(&mesh, &btg).await,
        403,
        "no break-the-glass override"
    );
    assert_eq!(search(&mesh, &etreat).await, 403, "no emergency override");
    assert_eq!(
        search(&mesh, &colleague).await,
        200,
        "another practitioner is not blocked"
    );

    let citizen = mesh.token(&TokenRequest::citizen(patient()));
    let list: Value = mesh
        .http
        .get(mesh.url("/fhir/Consent"))
        .bearer_auth(&citizen)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["type"], "searchset");
    assert_eq!(list["entry"].as_array().unwrap().len(), 1);
    let id = stored["id"].as_str().unwrap();
    let response = mesh
        .http
        .delete(mesh.url(&format!("/fhir/Consent/{id}")))
        .bearer_auth(&citizen)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(search(&mesh, &treat).await, 200, "revoking restores access");
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn an_organisation_block_matches_the_legal_entity_and_the_point_of_care() {
    let mesh = spawn_mesh().await.unwrap();
    seed(&mesh).await;
    let at_parent = mesh.token(&TokenRequest::personnel(HPR, ORG));
    let at_child = mesh.token(
        &TokenRequest::personnel("1234567", pmd_domain::valid_org_number(55))
            .child_org(child_org()),
    );
    assert_eq!(search(&mesh, &at_parent).await, 200);
    assert_eq!(search(&mesh, &at_child).await, 200);
    block(&mesh, "urn:oid:2.16.578.1.12.4.1.4.101", ORG).await;
    assert_eq!(
        search(&mesh, &at_parent).await,
        403,
        "blocked as legal entity"
    );
    assert_eq!(
        search(&mesh, &at_child).await,
        200,
        "another organisation is not blocked"
    );
    block(&mesh, "urn:oid:2.16.578.1.12.4.1.2.101", &child_org()).await;
    assert_eq!(
        search(&mesh, &at_child).await,
        403,
        "blocked as point of care (HelseID's OID)"
    );
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn a_citizen_can_block_only_for_themselves_and_revoke_only_their_own() {
    let mesh = spawn_mesh().await.unwrap();
    let other = mesh.token(&TokenRequest::citizen(pmd_domain::synthetic_fnr(32)));
    let response = mesh
        .http
        .post(mesh.url("/fhir/Consent"))
        .bearer_auth(&other)
        .header("content-type", "application/fhir+json")
        .json(&consent(&patient(), "urn:oid:2.16.578.1.12.4.1.4.4", HPR))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let stored = block(&mesh, "urn:oid:2.16.578.1.12.4.1.4.4", HPR).await;
    let id = stored["id"].as_str().unwrap();
    let response = mesh
        .http
        .delete(mesh.url(&format!("/fhir/Consent/{id}")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        404,
        "another citizen's block is not theirs to see"
    );
    let personnel = mesh.token(&TokenRequest::personnel(HPR, ORG));
    let response = mesh
        .http
        .post(mesh.url("/fhir/Consent"))
        .bearer_auth(&personnel)
        .header("content-type", "application/fhir+json")
        .json(&consent(
            &patient(),
            "urn:oid:2.16.578.1.12.4.1.4.4",
            "1234567",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        403,
        "health personnel cannot create blocks"
    );
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn a_malformed_consent_is_refused_naming_the_field() {
    let mesh = spawn_mesh().await.unwrap();
    let citizen = mesh.token(&TokenRequest::citizen(patient()));
    let mut bad = consent(&patient(), "urn:oid:2.16.578.1.12.4.1.4.4", "not-digits");
    let response = mesh
        .http
        .post(mesh.url("/fhir/Consent"))
        .bearer_auth(&citizen)
        .header("content-type", "application/fhir+json")
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["issue"][0]["expression"][0],
        "Consent.provision.actor[0].reference.identifier.value"
    );
    bad["provision"]["type"] = json!("permit");
    let response = mesh
        .http
        .post(mesh.url("/fhir/Consent"))
        .bearer_auth(&citizen)
        .header("content-type", "application/fhir+json")
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    mesh.stop().await.unwrap();
}
