//! The write path as a source system meets it: batch and transaction Bundles, single
//! Observations, validation errors naming the field, idempotency, conditional update, and
//! nothing left behind by a refused input. On PostgreSQL unless the test says otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pmd_auth::TokenRequest;
use pmd_testkit::{Backend, TestMesh, spawn_mesh, spawn_mesh_on};
use serde_json::{Value, json};

const SOURCE: &str = "974589095";

fn patient() -> String {
    pmd_domain::synthetic_fnr(7)
}

fn heart_rate(identifier: &str, value: f64) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": patient()}},
        "identifier": [{"system": "urn:test:source", "value": identifier}],
        "effectiveDateTime": "2026-11-01T08:00:00+01:00",
        "valueQuantity": {"value": value, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}
    })
}

fn blood_pressure(systolic: f64, diastolic: f64) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "subject": {"reference": format!("Patient/{}", patient())},
        "effectiveDateTime": "2026-11-01",
        "component": [
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
             "valueQuantity": {"value": systolic, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
             "valueQuantity": {"value": diastolic, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}
        ]
    })
}

fn entry(full_url: &str, resource: Value) -> Value {
    json!({"fullUrl": full_url, "resource": resource, "request": {"method": "POST", "url": "Observation"}})
}

fn bundle(kind: &str, entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": kind, "entry": entries})
}

fn source_token(mesh: &TestMesh) -> String {
    mesh.token(&TokenRequest::system(SOURCE))
}

async fn post(mesh: &TestMesh, path: &str, token: &str, body: &Value) -> (u16, Value) {
    let response = mesh
        .http
        .post(mesh.url(path))
        .bearer_auth(token)
        .header("content-type", "application/fhir+json")
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn stored(mesh: &TestMesh) -> i64 {
    mesh.count_rows("storage", "measurements").await.unwrap()
}

#[tokio::test]
async fn a_batch_stores_good_entries_and_names_each_bad_one_in_order() {
    let mesh = spawn_mesh().await.unwrap();
    let mut bad_patient = heart_rate("b", 70.0);
    bad_patient["subject"]["identifier"]["value"] = json!("13116900217");
    let mut bad_code = heart_rate("c", 70.0);
    bad_code["code"]["coding"][0]["code"] = json!("9843-4");
    let request = bundle(
        "batch",
        vec![
            entry("urn:uuid:a", heart_rate("a", 70.0)),
            entry("urn:uuid:b", bad_patient),
            entry("urn:uuid:c", bad_code),
            entry("urn:uuid:d", blood_pressure(135.0, 85.0)),
        ],
    );
    let (status, body) = post(&mesh, "/fhir", &source_token(&mesh), &request).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["type"], "batch-response");
    let entries = body["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 4);
    for (i, full_url) in ["urn:uuid:a", "urn:uuid:b", "urn:uuid:c", "urn:uuid:d"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            entries[i]["fullUrl"], *full_url,
            "entry {i} must echo its fullUrl"
        );
    }
    assert_eq!(entries[0]["response"]["status"], "201 Created");
    assert!(
        entries[0]["response"]["location"]
            .as_str()
            .unwrap()
            .starts_with("Observation/")
    );
    assert_eq!(entries[1]["response"]["status"], "400 Bad Request");
    let issue = &entries[1]["response"]["outcome"]["issue"][0];
    assert_eq!(
        issue["expression"][0],
        "Bundle.entry[1].resource.subject.identifier.value"
    );
    assert!(
        !issue["diagnostics"]
            .as_str()
            .unwrap()
            .contains("13116900217")
    );
    let issue = &entries[2]["response"]["outcome"]["issue"][0];
    assert_eq!(issue["code"], "not-supported");
    assert_eq!(issue["expression"][0], "Bundle.entry[2].resource.code");
    assert_eq!(entries[3]["response"]["status"], "201 Created");
    assert_eq!(stored(&mesh).await, 2);
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn a_transaction_with_one_bad_entry_stores_nothing_and_names_it() {
    let mesh = spawn_mesh().await.unwrap();
    let request = bundle(
        "transaction",
        vec![
            entry("urn:uuid:1", heart_rate("t1", 70.0)),
            entry("urn:uuid:2", heart_rate("t2", 400.0)),
            entry("urn:uuid:3", blood_pressure(120.0, 80.0)),
        ],
    );
    let (status, body) = post(&mesh, "/fhir", &source_token(&mesh), &request).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["resourceType"], "OperationOutcome");
    let issue = &body["issue"][0];
    assert_eq!(issue["code"], "value");
    assert_eq!(
        issue["expression"][0],
        "Bundle.entry[1].resource.valueQuantity.value"
    );
    let text = issue["diagnostics"].as_str().unwrap();
    assert!(
        text.contains("entry 1") && text.contains("urn:uuid:2"),
        "{text}"
    );
    assert_eq!(stored(&mesh).await, 0);
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn a_good_transaction_is_stored_whole() {
    let mesh = spawn_mesh().await.unwrap();
    let request = bundle(
        "transaction",
        vec![
            entry("urn:uuid:1", heart_rate("g1", 70.0)),
            entry("urn:uuid:2", blood_pressure(120.0, 80.0)),
        ],
    );
    let (status, body) = post(&mesh, "/fhir", &source_token(&mesh), &request).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["type"], "transaction-response");
    assert_eq!(body["entry"][0]["response"]["status"], "201 Created");
    assert_eq!(stored(&mesh).await, 2);
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn one_observation_is_created_then_recognised_then_refused_if_changed() {
    let mesh = spawn_mesh().await.unwrap();
    let token = source_token(&mesh);
    let response = mesh
        .http
        .post(mesh.url("/fhir/Observation"))
        .bearer_auth(&token)
        .header("content-type", "application/fhir+json")
        .json(&heart_rate("once", 72.0))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(location.starts_with(&format!("Observation/{id}")));
    assert_eq!(created["meta"]["versionId"], "1");

    let (status, again) = post(
        &mesh,
        "/fhir/Observation",
        &token,
        &heart_rate("once", 72.0),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["id"],
        id.as_str(),
        "a repeat answers with the stored id"
    );

    let (status, conflict) = post(
        &mesh,
        "/fhir/Observation",
        &token,
        &heart_rate("once", 90.0),
    )
    .await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["issue"][0]["code"], "conflict");
    assert_eq!(stored(&mesh).await, 1);
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn if_none_exist_with_a_match_creates_nothing_whatever_the_content() {
    let mesh = spawn_mesh().await.unwrap();
    let token = source_token(&mesh);
    let (status, _) = post(&mesh, "/fhir/Observation", &token, &heart_rate("ine", 72.0)).await;
    assert_eq!(status, 201);
    let response = mesh
        .http
        .post(mesh.url("/fhir/Observation"))
        .bearer_auth(&token)
        .header("content-type", "application/fhir+json")
        .header("if-none-exist", "identifier=urn:test:source|ine")
        .json(&heart_rate("ine", 99.0))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = mesh
        .http
        .post(mesh.url("/fhir/Observation"))
        .bearer_auth(&token)
        .header("content-type", "application/fhir+json")
        .header("if-none-exist", "identifier=urn:test:source|other")
        .json(&heart_rate("other", 99.0))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "no match → created");
    assert_eq!(stored(&mesh).await, 2);
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn another_sources_identifier_is_never_matched() {
    let mesh = spawn_mesh().await.unwrap();
    let (status, _) = post(
        &mesh,
        "/fhir/Observation",
        &source_token(&mesh),
        &heart_rate("shared", 72.0),
    )
    .await;
    assert_eq!(status, 201);
    let other = mesh.token(&TokenRequest::system(pmd_domain::valid_org_number(9)));
    let (status, body) = post(
        &mesh,
        "/fhir/Observation",
        &other,
        &heart_rate("shared", 80.0),
    )
    .await;
    assert_eq!(
        status, 201,
        "another source's identifier is its own: {body}"
    );
    assert_eq!(stored(&mesh).await, 2);
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn a_put_entry_replaces_the_measurement_with_that_identifier() {
    let mesh = spawn_mesh().await.unwrap();
    let token = source_token(&mesh);
    let (status, created) =
        post(&mesh, "/fhir/Observation", &token, &heart_rate("put", 72.0)).await;
    assert_eq!(status, 201);
    let put = bundle(
        "batch",
        vec![json!({
            "fullUrl": "urn:uuid:p",
            "resource": heart_rate("put", 75.0),
            "request": {"method": "PUT", "url": "Observation?identifier=urn:test:source|put"}
        })],
    );
    let (status, body) = post(&mesh, "/fhir", &token, &put).await;
    assert_eq!(status, 200);
    assert_eq!(body["entry"][0]["response"]["status"], "200 OK", "{body}");
    let location = body["entry"][0]["response"]["location"].as_str().unwrap();
    assert_eq!(
        location,
        format!("Observation/{}/_history/2", created["id"].as_str().unwrap())
    );
    assert_eq!(stored(&mesh).await, 1, "replaced, not added");
    // A PUT for an identifier not stored yet creates it.
    let put_new = bundle(
        "batch",
        vec![json!({
            "fullUrl": "urn:uuid:q",
            "resource": heart_rate("put-new", 75.0),
            "request": {"method": "PUT", "url": "Observation?identifier=urn:test:source|put-new"}
        })],
    );
    let (_, body) = post(&mesh, "/fhir", &token, &put_new).await;
    assert_eq!(
        body["entry"][0]["response"]["status"], "201 Created",
        "{body}"
    );
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn concurrent_duplicates_store_one_row() {
    let mesh = spawn_mesh().await.unwrap();
    let token = source_token(&mesh);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let http = mesh.http.clone();
            let url = mesh.url("/fhir/Observation");
            let token = token.clone();
            tokio::spawn(async move {
                http.post(url)
                    .bearer_auth(token)
                    .header("content-type", "application/fhir+json")
                    .json(&heart_rate("race", 72.0))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 200),
        "{statuses:?}"
    );
    assert_eq!(stored(&mesh).await, 1);
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn a_retried_batch_without_identifiers_is_recognised_by_full_url() {
    let mesh = spawn_mesh().await.unwrap();
    let token = source_token(&mesh);
    let mut no_id = heart_rate("x", 70.0);
    no_id.as_object_mut().unwrap().remove("identifier");
    let request = bundle("batch", vec![entry("urn:uuid:retry-1", no_id)]);
    let (_, first) = post(&mesh, "/fhir", &token, &request).await;
    let (_, second) = post(&mesh, "/fhir", &token, &request).await;
    assert_eq!(first["entry"][0]["response"]["status"], "201 Created");
    assert_eq!(second["entry"][0]["response"]["status"], "200 OK");
    assert_eq!(
        first["entry"][0]["response"]["location"],
        second["entry"][0]["response"]["location"]
    );
    assert_eq!(stored(&mesh).await, 1);
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn received_units_are_stored_canonical_with_the_original_kept() {
    let mesh = spawn_mesh_on(Backend::Sqlite).await.unwrap();
    let token = source_token(&mesh);
    let cases = [
        ("29463-7", 80000.0, "g", 80.0, "kg"),
        ("29463-7", 220.0, "[lb_av]", 99.790_321_4, "kg"),
        ("8310-5", 98.6, "[degF]", 37.0, "Cel"),
        ("8302-2", 70.0, "[in_i]", 177.8, "cm"),
        ("2339-0", 108.096, "mg/dL", 6.0, "mmol/L"),
        ("15074-8", 6.1, "mmol/l", 6.1, "mmol/L"),
    ];
    for (i, (code, value, unit, canonical, canonical_unit)) in cases.into_iter().enumerate() {
        let observation = json!({
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": format!("Patient/{}", patient())},
            "identifier": [{"system": "urn:test:units", "value": i.to_string()}],
            "effectiveDateTime": "2026-11-01T08:00:00Z",
            "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": unit}
        });
        let (status, body) = post(&mesh, "/fhir/Observation", &token, &observation).await;
        assert_eq!(status, 201, "{unit}: {body}");
        let quantity = &body["valueQuantity"];
        assert_eq!(quantity["code"], canonical_unit, "{unit}");
        let got = quantity["value"].as_f64().unwrap();
        assert!(
            (got - canonical).abs() < 1e-6,
            "{unit}: {got} != {canonical}"
        );
        let received = &quantity["extension"][0];
        assert!(
            received["url"]
                .as_str()
                .unwrap()
                .ends_with("/StructureDefinition/received-quantity")
        );
        assert_eq!(received["valueQuantity"]["code"], unit);
        assert_eq!(received["valueQuantity"]["value"].as_f64().unwrap(), value);
    }
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn only_a_source_token_may_write() {
    let mesh = spawn_mesh_on(Backend::Sqlite).await.unwrap();
    let request = bundle("batch", vec![entry("urn:uuid:1", heart_rate("w", 70.0))]);
    let response = mesh
        .http
        .post(mesh.url("/fhir"))
        .header("content-type", "application/fhir+json")
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    for token in [
        TokenRequest::citizen(patient()),
        TokenRequest::personnel("9144900", SOURCE),
        TokenRequest::statistics(),
    ] {
        let (status, body) = post(&mesh, "/fhir", &mesh.token(&token), &request).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["resourceType"], "OperationOutcome");
    }
    assert_eq!(stored(&mesh).await, 0);
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn envelope_errors_are_415_400_and_413() {
    let mesh = spawn_mesh_on(Backend::Sqlite).await.unwrap();
    let token = source_token(&mesh);
    let send = |content_type: &'static str, body: Vec<u8>| {
        mesh.http
            .post(mesh.url("/fhir"))
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let response = send("text/plain", b"{}".to_vec()).await.unwrap();
    assert_eq!(response.status(), 415);
    let response = send(
        "application/fhir+json",
        b"{\"resourceType\": \"Bundle\",\n \"type\": ".to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("line 2"),
        "{body}"
    );
    let response = send(
        "application/json",
        json!({"resourceType": "Bundle", "type": "collection"})
            .to_string()
            .into_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 400);
    let big = vec![b' '; 9 * 1024 * 1024];
    let response = send("application/fhir+json", big).await.unwrap();
    assert_eq!(response.status(), 413);
    let many: Vec<Value> = (0..1001)
        .map(|i| entry(&format!("urn:uuid:{i}"), heart_rate(&i.to_string(), 70.0)))
        .collect();
    let response = send(
        "application/fhir+json",
        bundle("batch", many).to_string().into_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["resourceType"], "OperationOutcome");
    assert_eq!(stored(&mesh).await, 0);
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn entries_without_full_url_or_with_other_methods_are_refused_by_name() {
    let mesh = spawn_mesh_on(Backend::Sqlite).await.unwrap();
    let request = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": heart_rate("n1", 70.0), "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": "urn:uuid:d", "resource": heart_rate("n2", 70.0), "request": {"method": "DELETE", "url": "Observation/1"}},
        {"fullUrl": "urn:uuid:p", "resource": heart_rate("n3", 70.0), "request": {"method": "PUT", "url": "Observation/123"}},
        {"fullUrl": "urn:uuid:e", "request": {"method": "POST", "url": "Observation"}}
    ]});
    let (status, body) = post(&mesh, "/fhir", &source_token(&mesh), &request).await;
    assert_eq!(status, 200, "{body}");
    let expressions: Vec<String> = body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["response"]["outcome"]["issue"][0]["expression"][0]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        expressions,
        [
            "Bundle.entry[0].fullUrl",
            "Bundle.entry[1].request.method",
            "Bundle.entry[2].request.url",
            "Bundle.entry[3].resource"
        ]
    );
    assert_eq!(stored(&mesh).await, 0);
    mesh.stop().await.unwrap();
}

/// One bad-input class per test: the status, the issue's code and FHIRPath, and nothing
/// stored.
macro_rules! refused {
    ($name:ident, $code:expr, $expression:expr, $mutate:expr) => {
        #[tokio::test]
        async fn $name() {
            let mesh = spawn_mesh_on(Backend::Sqlite).await.unwrap();
            let mut observation = heart_rate("bad", 70.0);
            let mutate: fn(&mut Value) = $mutate;
            mutate(&mut observation);
            let (status, body) = post(
                &mesh,
                "/fhir/Observation",
                &source_token(&mesh),
                &observation,
            )
            .await;
            assert_eq!(status, 400, "{body}");
            let issues = body["issue"].as_array().expect("an OperationOutcome");
            let issue = issues
                .iter()
                .find(|i| i["expression"][0] == $expression)
                .unwrap_or_else(|| panic!("no issue at {} in {body}", $expression));
            let code: Option<&str> = $code;
            if let Some(code) = code {
                assert_eq!(issue["code"], code, "{body}");
            }
            assert_eq!(issue["severity"], "error");
            assert!(!issue["diagnostics"].as_str().unwrap_or_default().is_empty());
            assert!(
                !body.to_string().contains(&patient()),
                "the national id leaked: {body}"
            );
            assert_eq!(stored(&mesh).await, 0);
            mesh.stop().await.unwrap();
        }
    };
}

refused!(
    refused_when_not_an_observation,
    Some("invalid"),
    "Observation.resourceType",
    |o| { o["resourceType"] = json!("Patient") }
);
refused!(
    refused_without_a_subject,
    Some("required"),
    "Observation.subject",
    |o| {
        o.as_object_mut().unwrap().remove("subject");
    }
);
refused!(
    refused_with_a_wrong_check_digit,
    Some("value"),
    "Observation.subject.identifier.value",
    |o| {
        let id = patient();
        let last = id.chars().last().unwrap().to_digit(10).unwrap();
        let wrong = format!("{}{}", &id[..10], (last + 1) % 10);
        o["subject"]["identifier"]["value"] = json!(wrong);
    }
);
refused!(
    refused_with_an_unknown_identifier_system,
    None,
    "Observation.subject.identifier.system",
    |o| {
        o["subject"]["identifier"]["system"] = json!("urn:oid:1.2.3");
    }
);
refused!(
    refused_with_an_unknown_code,
    Some("not-supported"),
    "Observation.code",
    |o| {
        o["code"]["coding"][0]["code"] = json!("12345-6");
    }
);
refused!(
    refused_for_a_panel_without_a_value,
    Some("not-supported"),
    "Observation.code",
    |o| {
        o["code"]["coding"][0]["code"] = json!("85353-1");
    }
);
refused!(
    refused_without_a_value,
    Some("required"),
    "Observation.valueQuantity",
    |o| {
        o.as_object_mut().unwrap().remove("valueQuantity");
    }
);
refused!(
    refused_with_an_inconvertible_unit,
    None,
    "Observation.valueQuantity.code",
    |o| {
        o["valueQuantity"]["code"] = json!("kg");
    }
);
refused!(
    refused_outside_the_plausible_range,
    Some("value"),
    "Observation.valueQuantity.value",
    |o| {
        o["valueQuantity"]["value"] = json!(400);
    }
);
refused!(
    refused_when_diastolic_is_not_below_systolic,
    Some("value"),
    "Observation.component",
    |o| {
        *o = blood_pressure(90.0, 95.0);
    }
);
refused!(
    refused_when_blood_pressure_lacks_a_component,
    Some("required"),
    "Observation.component",
    |o| {
        *o = blood_pressure(120.0, 80.0);
        o["component"].as_array_mut().unwrap().pop();
    }
);
refused!(
    refused_without_an_effective_time,
    Some("required"),
    "Observation.effective[x]",
    |o| {
        o.as_object_mut().unwrap().remove("effectiveDateTime");
    }
);
refused!(
    refused_when_effective_is_in_the_future,
    Some("value"),
    "Observation.effectiveDateTime",
    |o| {
        let future = chrono::Utc::now() + chrono::Duration::minutes(10);
        o["effectiveDateTime"] = json!(future.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
);
refused!(
    refused_with_an_unaccepted_status,
    Some("value"),
    "Observation.status",
    |o| {
        o["status"] = json!("cancelled");
    }
);
refused!(
    refused_without_a_status,
    Some("required"),
    "Observation.status",
    |o| {
        o.as_object_mut().unwrap().remove("status");
    }
);

#[tokio::test]
async fn grpc_submit_gives_internal_callers_the_same_results() {
    use pmd_proto::ingestion::v1::{Method, SubmitItem, SubmitRequest};
    use pmd_proto::storage::v1::{WriteMode, WriteOutcome};
    let mesh = spawn_mesh().await.unwrap();
    let token = source_token(&mesh);
    let item = |full_url: &str, resource: Value| SubmitItem {
        full_url: full_url.to_owned(),
        method: Method::Post as i32,
        resource_json: serde_json::to_vec(&resource).unwrap(),
        ..SubmitItem::default()
    };
    let request = SubmitRequest {
        mode: WriteMode::Batch as i32,
        items: vec![
            item("urn:uuid:1", heart_rate("g1", 70.0)),
            item("urn:uuid:2", heart_rate("g2", 500.0)),
        ],
        from_bundle: true,
        return_measurements: false,
    };
    let response = mesh
        .ingestion()
        .submit(pmd_testkit::with_token(request.clone(), &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.results[0].outcome, WriteOutcome::Created as i32);
    assert_eq!(response.results[1].outcome, WriteOutcome::Rejected as i32);
    let issue = &response.results[1].issues[0];
    assert_eq!(
        issue.expression,
        "Bundle.entry[1].resource.valueQuantity.value"
    );
    assert_eq!(issue.code, "value");
    let again = mesh
        .ingestion()
        .submit(pmd_testkit::with_token(request, &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.results[0].outcome, WriteOutcome::AlreadyStored as i32);
    assert_eq!(again.results[0].id, response.results[0].id);
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn every_write_batch_reaches_the_audit_log_one_event_per_patient_with_counts_per_code() {
    use pmd_proto::audit::v1::{Action, Outcome, QueryRequest};
    use pmd_proto::common::v1::{ActorKind, Identifier};
    let mesh = spawn_mesh().await.unwrap();
    let other_patient = pmd_domain::synthetic_fnr(8);
    let mut second = heart_rate("a2", 80.0);
    second["subject"]["identifier"]["value"] = json!(other_patient);
    let request = bundle(
        "batch",
        vec![
            entry("urn:uuid:1", heart_rate("a1", 70.0)),
            entry("urn:uuid:2", blood_pressure(130.0, 80.0)),
            entry("urn:uuid:3", second),
        ],
    );
    let (status, _) = post(&mesh, "/fhir", &source_token(&mesh), &request).await;
    assert_eq!(status, 200);
    let service = mesh.token(&TokenRequest::service("test"));
    for (who, expected) in [
        (patient(), vec![("85354-9", 1), ("8867-4", 1)]),
        (other_patient, vec![("8867-4", 1)]),
    ] {
        let query = QueryRequest {
            patient: Some(Identifier {
                system: "urn:oid:2.16.578.1.12.4.1.4.1".into(),
                value: who.clone(),
            }),
            ..QueryRequest::default()
        };
        let mut events = Vec::new();
        for _ in 0..100 {
            events = mesh
                .audit()
                .query(pmd_testkit::with_token(query.clone(), &service))
                .await
                .unwrap()
                .into_inner()
                .events;
            if !events.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(events.len(), 1, "one event per patient per batch");
        let event = &events[0];
        assert_eq!(event.action, Action::Create as i32);
        assert_eq!(event.outcome, Outcome::Success as i32);
        let actor = event.actor.as_ref().unwrap();
        assert_eq!(actor.kind, ActorKind::System as i32);
        assert_eq!(actor.org_parent, SOURCE);
        let mut counts: Vec<(String, i64)> = event
            .entities
            .iter()
            .map(|e| (e.code.clone(), e.count))
            .collect();
        counts.sort();
        let expected: Vec<(String, i64)> = expected
            .into_iter()
            .map(|(c, n)| (c.to_owned(), n))
            .collect();
        assert_eq!(counts, expected);
    }
    mesh.stop().await.unwrap();
}
