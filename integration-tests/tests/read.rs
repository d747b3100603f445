//! The read path as an EHR meets it: search by query string and form body, paging with an
//! opaque next link, filters, `$lastn`, read by id; who may read what (the matrix); every
//! read audited before data leaves. On PostgreSQL + Redis.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pmd_auth::TokenRequest;
use pmd_testkit::{Backend, TestMesh, spawn_mesh, spawn_mesh_on};
use serde_json::{Value, json};

const SOURCE: &str = "974589095";
const HPR: &str = "9144900";
const ORG: &str = "974589095";

fn patient_a() -> String {
    pmd_domain::synthetic_fnr(21)
}

fn patient_b() -> String {
    pmd_domain::synthetic_fnr(22)
}

fn observation(patient: &str, code: &str, unit: &str, value: f64, when: &str, id: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": patient}},
        "identifier": [{"system": "urn:test:read", "value": id}],
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": unit}
    })
}

/// `n` heart rates (one per hour back from 2026-11-10T12:00Z) and 3 weights for `patient`.
async fn seed(mesh: &TestMesh, patient: &str, n: usize) {
    let token = mesh.token(&TokenRequest::system(SOURCE));
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-10T12:00:00Z").unwrap();
    let mut entries = Vec::new();
    for i in 0..n {
        let when = (start - chrono::Duration::hours(i as i64)).to_rfc3339();
        entries.push(json!({"fullUrl": format!("urn:hr:{patient}:{i}"), "request": {"method": "POST", "url": "Observation"},
            "resource": observation(patient, "8867-4", "/min", 60.0 + (i % 30) as f64, &when, &format!("{patient}-hr-{i}"))}));
    }
    for i in 0..3 {
        let when = (start - chrono::Duration::days(i as i64 * 7)).to_rfc3339();
        entries.push(json!({"fullUrl": format!("urn:w:{patient}:{i}"), "request": {"method": "POST", "url": "Observation"},
            "resource": observation(patient, "29463-7", "kg", 80.0 + i as f64, &when, &format!("{patient}-w-{i}"))}));
    }
    let response = mesh
        .http
        .post(mesh.url("/fhir"))
        .bearer_auth(token)
        .header("content-type", "application/fhir+json")
        .json(&json!({"resourceType": "Bundle", "type": "batch", "entry": entries}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["entry"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["response"]["status"] == "201 Created"),
        "{body}"
    );
}

fn personnel(mesh: &TestMesh) -> String {
    mesh.token(&TokenRequest::personnel(HPR, ORG))
}

async fn get(mesh: &TestMesh, url: &str, token: &str) -> (u16, Value) {
    let response = mesh.http.get(url).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn search_form(mesh: &TestMesh, token: &str, form: &str) -> (u16, Value) {
    let response = mesh
        .http
        .post(mesh.url("/fhir/Observation/_search"))
        .bearer_auth(token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn entries(bundle: &Value) -> Vec<Value> {
    bundle["entry"].as_array().cloned().unwrap_or_default()
}

fn next_link(bundle: &Value) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == "next")
        .and_then(|l| l["url"].as_str())
        .map(str::to_owned)
}

#[tokio::test]
async fn search_pages_through_every_match_with_an_opaque_next_link() {
    let mesh = spawn_mesh().await.unwrap();
    seed(&mesh, &patient_a(), 117).await;
    let token = personnel(&mesh);
    let (status, first) = search_form(
        &mesh,
        &token,
        &format!(
            "patient=Patient/{}&code=http://loinc.org|8867-4&_count=50",
            patient_a()
        ),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["type"], "searchset");
    assert!(first.get("total").is_none(), "no total unless asked");
    let mut seen: Vec<String> = entries(&first)
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen.len(), 50);
    let self_link = first["link"][0]["url"].as_str().unwrap();
    assert!(
        !self_link.contains(&patient_a()),
        "self link holds the patient id: {self_link}"
    );
    let mut next = next_link(&first).expect("a next link");
    // New measurements arriving between pages do not disturb the paging.
    seed(&mesh, &patient_b(), 5).await;
    let mut pages = 1;
    loop {
        assert!(
            next.starts_with("http://"),
            "the next link is absolute: {next}"
        );
        assert!(
            !next.contains(&patient_a()),
            "the next link holds the patient id: {next}"
        );
        let (status, page) = get(&mesh, &next, &token).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        seen.extend(
            entries(&page)
                .iter()
                .map(|e| e["resource"]["id"].as_str().unwrap().to_owned()),
        );
        match next_link(&page) {
            Some(link) => next = link,
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 117);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 117, "no measurement twice");
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn search_filters_by_code_date_and_sorts_and_counts_on_request() {
    let mesh = spawn_mesh().await.unwrap();
    seed(&mesh, &patient_a(), 48).await;
    let token = personnel(&mesh);
    let p = patient_a();
    // Newest first by default.
    let (_, all) = get(
        &mesh,
        &mesh.url(&format!(
            "/fhir/Observation?patient=Patient/{p}&_count=1000"
        )),
        &token,
    )
    .await;
    let times: Vec<String> = entries(&all)
        .iter()
        .map(|e| {
            e["resource"]["effectiveDateTime"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(times.len(), 51);
    let parsed: Vec<chrono::DateTime<chrono::FixedOffset>> = times
        .iter()
        .map(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap())
        .collect();
    assert!(parsed.windows(2).all(|w| w[0] >= w[1]), "newest first");
    // Oldest first.
    let (_, asc) = get(
        &mesh,
        &mesh.url(&format!(
            "/fhir/Observation?patient=Patient/{p}&_sort=date&_count=3"
        )),
        &token,
    )
    .await;
    let first = chrono::DateTime::parse_from_rfc3339(
        entries(&asc)[0]["resource"]["effectiveDateTime"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first, *parsed.last().unwrap());
    // Codes.
    let (_, weights) = get(
        &mesh,
        &mesh.url(&format!(
            "/fhir/Observation?patient=Patient/{p}&code=29463-7"
        )),
        &token,
    )
    .await;
    assert_eq!(entries(&weights).len(), 3);
    let (_, both) = get(
        &mesh,
        &mesh.url(&format!(
            "/fhir/Observation?patient=Patient/{p}&code=29463-7,http://loinc.org|8867-4&_count=1000"
        )),
        &token,
    )
    .await;
    assert_eq!(entries(&both).len(), 51);
    // Dates: the day 2026-11-10 holds the 13 heart rates from 00:00 to 12:00 and one weight.
    let (_, day) = get(
        &mesh,
        &mesh.url(&format!(
            "/fhir/Observation?patient=Patient/{p}&date=2026-11-10&_count=1000"
        )),
        &token,
    )
    .await;
    assert_eq!(entries(&day).len(), 14, "{day}");
    let (_, range) = get(&mesh, &mesh.url(&format!("/fhir/Observation?patient=Patient/{p}&date=ge2026-11-10T06:00:00Z&date=lt2026-11-10T10:00:00Z&code=8867-4")), &token).await;
    assert_eq!(entries(&range).len(), 4);
    // Total only on request.
    let (_, counted) = get(
        &mesh,
        &mesh.url(&format!(
            "/fhir/Observation?patient=Patient/{p}&_total=accurate&_count=5"
        )),
        &token,
    )
    .await;
    assert_eq!(counted["total"], 51);
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn the_patient_may_come_in_any_supported_form_but_exactly_once() {
    let mesh = spawn_mesh().await.unwrap();
    seed(&mesh, &patient_a(), 2).await;
    let token = personnel(&mesh);
    let p = patient_a();
    for form in [
        format!("patient=Patient/{p}"),
        format!("patient.identifier=urn:oid:2.16.578.1.12.4.1.4.1|{p}"),
        format!("patient.identifier={p}"),
        format!("subject=Patient/{p}"),
    ] {
        let (status, body) = search_form(&mesh, &token, &form).await;
        assert_eq!(status, 200, "{form}: {body}");
        assert_eq!(entries(&body).len(), 5, "{form}");
    }
    let response = mesh
        .http
        .post(mesh.url("/fhir/Observation/_search"))
        .bearer_auth(&token)
        .header("x-pmd-patient", &p)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("code=8867-4")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the X-Pmd-Patient header");
    let (status, none) = search_form(&mesh, &token, "code=8867-4").await;
    assert_eq!(status, 400, "{none}");
    let (status, two) = search_form(
        &mesh,
        &token,
        &format!("patient=Patient/{p}&patient=Patient/{}", patient_b()),
    )
    .await;
    assert_eq!(status, 400, "{two}");
    let (status, unknown) =
        search_form(&mesh, &token, &format!("patient=Patient/{p}&colour=blue")).await;
    assert_eq!(status, 400, "{unknown}");
    let response = mesh
        .http
        .post(mesh.url("/fhir/Observation/_search"))
        .bearer_auth(&token)
        .header("prefer", "handling=lenient")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("patient=Patient/{p}&colour=blue"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "unknown parameters are ignored when lenient"
    );
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn lastn_gives_the_latest_per_code_and_read_gives_one_by_id() {
    let mesh = spawn_mesh().await.unwrap();
    seed(&mesh, &patient_a(), 10).await;
    let token = personnel(&mesh);
    let p = patient_a();
    let (status, latest) = get(
        &mesh,
        &mesh.url(&format!(
            "/fhir/Observation/$lastn?patient=Patient/{p}&max=2&category=vital-signs"
        )),
        &token,
    )
    .await;
    assert_eq!(status, 200, "{latest}");
    let codes: Vec<String> = entries(&latest)
        .iter()
        .map(|e| {
            e["resource"]["code"]["coding"][0]["code"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(codes.iter().filter(|c| *c == "8867-4").count(), 2);
    assert_eq!(codes.iter().filter(|c| *c == "29463-7").count(), 2);
    let newest_hr = entries(&latest)
        .into_iter()
        .find(|e| e["resource"]["code"]["coding"][0]["code"] == "8867-4")
        .unwrap();
    assert_eq!(
        newest_hr["resource"]["effectiveDateTime"],
        "2026-11-10T12:00:00+00:00"
    );
    let id = newest_hr["resource"]["id"].as_str().unwrap();
    let (status, one) = get(&mesh, &mesh.url(&format!("/fhir/Observation/{id}")), &token).await;
    assert_eq!(status, 200);
    assert_eq!(one["id"], id);
    assert_eq!(one["valueQuantity"]["code"], "/min");
    let (status, _) = get(
        &mesh,
        &mesh.url("/fhir/Observation/01a20000-0000-7000-8000-000000000000"),
        &token,
    )
    .await;
    assert_eq!(status, 404);
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn rows_stored_without_a_rendering_read_exactly_as_rendered_ones_on_postgres() {
    rows_stored_without_a_rendering_read_exactly_as_rendered_ones(Backend::Postgres).await;
}

#[tokio::test]
async fn rows_stored_without_a_rendering_read_exactly_as_rendered_ones_on_sqlite() {
    rows_stored_without_a_rendering_read_exactly_as_rendered_ones(Backend::Sqlite).await;
}

async fn rows_stored_without_a_rendering_read_exactly_as_rendered_ones(backend: Backend) {
    // Rows written before storage kept each measurement's FHIR rendering have none: they
    // are rendered on read, and must come out exactly as the stored renderings do.
    let mesh = spawn_mesh_on(backend).await.unwrap();
    seed(&mesh, &patient_a(), 6).await;
    let token = personnel(&mesh);
    let p = patient_a();
    let form = format!("patient=Patient/{p}&_count=4");
    let lastn = mesh.url(&format!(
        "/fhir/Observation/$lastn?patient=Patient/{p}&max=2&category=vital-signs"
    ));
    let (status, stored_page) = search_form(&mesh, &token, &form).await;
    assert_eq!(status, 200, "{stored_page}");
    assert_eq!(entries(&stored_page).len(), 4);
    let (_, stored_lastn) = get(&mesh, &lastn, &token).await;
    let id = entries(&stored_page)[0]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let one = mesh.url(&format!("/fhir/Observation/{id}"));
    let (_, stored_one) = get(&mesh, &one, &token).await;

    let cleared = mesh
        .execute_sql("storage", "UPDATE measurements SET fhir = NULL")
        .await
        .unwrap();
    assert!(cleared >= 6, "cleared {cleared} renderings");

    let (status, page) = search_form(&mesh, &token, &form).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(entries(&page), entries(&stored_page));
    assert_eq!(
        next_link(&page).is_some(),
        next_link(&stored_page).is_some()
    );
    let (_, fresh_lastn) = get(&mesh, &lastn, &token).await;
    assert_eq!(entries(&fresh_lastn), entries(&stored_lastn));
    let (status, fresh_one) = get(&mesh, &one, &token).await;
    assert_eq!(status, 200);
    assert_eq!(fresh_one, stored_one);
    assert_eq!(
        fresh_one["valueQuantity"]["system"],
        "http://unitsofmeasure.org"
    );
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn every_read_is_audited_with_the_basis_for_access_before_data_is_returned() {
    use pmd_proto::audit::v1::{Action, Outcome, QueryRequest};
    use pmd_proto::common::v1::Identifier;
    let mesh = spawn_mesh().await.unwrap();
    seed(&mesh, &patient_a(), 3).await;
    let token = personnel(&mesh);
    let (status, found) =
        search_form(&mesh, &token, &format!("patient=Patient/{}", patient_a())).await;
    assert_eq!(status, 200);
    let service = mesh.token(&TokenRequest::service("test"));
    let events = mesh
        .audit()
        .query(pmd_testkit::with_token(
            QueryRequest {
                patient: Some(Identifier {
                    system: String::new(),
                    value: patient_a(),
                }),
                ..QueryRequest::default()
            },
            &service,
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    let search = events
        .iter()
        .find(|e| e.action == Action::Search as i32)
        .expect("a search event, already committed");
    assert_eq!(search.outcome, Outcome::Success as i32);
    let actor = search.actor.as_ref().unwrap();
    assert_eq!(actor.hpr_number, HPR);
    assert_eq!(actor.org_parent, ORG);
    assert!(!actor.token_id.is_empty(), "the token's jti");
    let purpose = search.purpose.as_ref().unwrap();
    assert_eq!(purpose.purpose_of_use, "TREAT");
    assert_eq!(purpose.purpose_of_use_details.as_ref().unwrap().code, "15");
    assert!(!purpose.decision_ref_id.is_empty());
    assert_eq!(search.entities[0].count, entries(&found).len() as i64);
    assert!(!search.trace_id.is_empty());
    mesh.stop().await.unwrap();
}

/// Who may read what: each role against search (GET and POST), `$lastn` and read by id, for
/// a patient of their own (citizen) or any patient (personnel).
async fn matrix_row(role: &str, token: TokenRequest, own: bool, other: bool) {
    let mesh = spawn_mesh().await.unwrap();
    seed(&mesh, &patient_a(), 2).await;
    seed(&mesh, &patient_b(), 2).await;
    let reader = personnel(&mesh);
    // Ids to read, found by an allowed reader.
    let (_, a) = search_form(&mesh, &reader, &format!("patient=Patient/{}", patient_a())).await;
    let (_, b) = search_form(&mesh, &reader, &format!("patient=Patient/{}", patient_b())).await;
    let id_a = entries(&a)[0]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let id_b = entries(&b)[0]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = mesh.token(&token);
    for (patient, id, allowed, whose) in [
        (patient_a(), id_a, own, "own"),
        (patient_b(), id_b, other, "other"),
    ] {
        let expected = if allowed { 200 } else { 403 };
        let cells = [
            (
                "GET search",
                get(
                    &mesh,
                    &mesh.url(&format!("/fhir/Observation?patient=Patient/{patient}")),
                    &token,
                )
                .await,
            ),
            (
                "POST _search",
                search_form(&mesh, &token, &format!("patient=Patient/{patient}")).await,
            ),
            (
                "$lastn",
                get(
                    &mesh,
                    &mesh.url(&format!(
                        "/fhir/Observation/$lastn?patient=Patient/{patient}"
                    )),
                    &token,
                )
                .await,
            ),
            (
                "read by id",
                get(&mesh, &mesh.url(&format!("/fhir/Observation/{id}")), &token).await,
            ),
        ];
        for (endpoint, (status, body)) in cells {
            assert_eq!(
                status, expected,
                "{role} × {endpoint} × {whose} patient: {body}"
            );
            if !allowed {
                assert_eq!(body["resourceType"], "OperationOutcome");
                assert!(
                    !body.to_string().contains(&patient),
                    "a refusal must not echo the patient id"
                );
            }
        }
    }
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn matrix_personnel_with_attestation_reads_any_patient() {
    matrix_row("personnel", TokenRequest::personnel(HPR, ORG), true, true).await;
}

#[tokio::test]
async fn matrix_personnel_below_security_level_four_reads_nothing() {
    matrix_row(
        "personnel level 3",
        TokenRequest::personnel(HPR, ORG).security_level(3),
        false,
        false,
    )
    .await;
}

#[tokio::test]
async fn matrix_personnel_without_attestation_reads_nothing() {
    matrix_row(
        "personnel without attestation",
        TokenRequest::personnel(HPR, ORG).extra_claim("authorization_details", Value::Null),
        false,
        false,
    )
    .await;
}

#[tokio::test]
async fn matrix_citizen_reads_only_own_data() {
    matrix_row("citizen", TokenRequest::citizen(patient_a()), true, false).await;
}

#[tokio::test]
async fn matrix_source_system_reads_nothing() {
    matrix_row("source system", TokenRequest::system(SOURCE), false, false).await;
}

#[tokio::test]
async fn matrix_statistics_reads_no_individual_data() {
    matrix_row("statistics", TokenRequest::statistics(), false, false).await;
}
