//! The de-identified export, and the promise that no national id, HPR number or name ever
//! leaves statistics (or is stored there).

use pmd_auth::TokenRequest;
use pmd_db::sea_orm::{ConnectionTrait, Statement};
use pmd_proto::audit::v1::Outcome;
use pmd_proto::statistics::v1::ExportRequest;
use pmd_testkit::{Backend, FaultProxy, TestMesh, spawn_mesh, spawn_mesh_on, with_token};
use serde_json::{Value, json};

use crate::common::*;

const HEADER: &str = "hour,action,outcome,actor_kind,org_parent,org_child,org_type,municipality,purpose_of_use,patient,codes,count";

async fn export(mesh: &TestMesh, query: &str) -> String {
    let response = mesh
        .http
        .get(mesh.url(&format!("/api/statistics/export?{query}")))
        .bearer_auth(mesh.token(&TokenRequest::statistics()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    response.text().await.unwrap()
}

/// Rows as column → value maps.
fn rows(csv: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(HEADER));
    let names: Vec<&str> = HEADER.split(',').collect();
    lines
        .map(|line| {
            let values: Vec<&str> = line.split(',').collect();
            assert_eq!(values.len(), names.len(), "{line}");
            names
                .iter()
                .zip(values)
                .map(|(n, v)| ((*n).to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

fn patient_of<'a>(rows: &'a [std::collections::HashMap<String, String>], codes: &str) -> &'a str {
    rows.iter()
        .find(|r| r["codes"] == codes)
        .map(|r| r["patient"].as_str())
        .unwrap_or_else(|| panic!("no row with codes {codes}"))
}

async fn audit_exports(mesh: &TestMesh) -> i64 {
    let url = match &mesh.database {
        Some(db) => db.url.clone(),
        None => pmd_db::sqlite_url(mesh.data_dir.path(), "audit"),
    };
    let db = pmd_db::Database::connect(&url, "pmd_audit", pmd_db::PoolSize { max: 1, min: 1 })
        .await
        .unwrap();
    let row = db
        .conn()
        .query_one_raw(Statement::from_string(
            db.db_backend(),
            "SELECT count(*) FROM audit_events WHERE action = 8",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn export_pseudonyms_link_within_one_export_and_differ_across_periods() {
    let mesh = spawn_mesh().await.unwrap();
    let p = pmd_domain::synthetic_fnr(31);
    let q = pmd_domain::synthetic_fnr(32);
    record(
        &mesh,
        vec![
            write(OSLO_KOMMUNE, &p, "8867-4", 3, at("2026-01-05", 13)),
            write(OSLO_KOMMUNE, &p, "8867-4", 4, at("2026-01-20", 8)),
            write(BERGEN_KOMMUNE, &q, "85354-9", 2, at("2026-01-06", 9)),
            write(OSLO_KOMMUNE, &p, "8867-4", 6, at("2026-02-03", 10)),
            search(OUS, &p, Outcome::Success, at("2026-01-07", 11)),
        ],
    )
    .await
    .unwrap();
    settle(&mesh).await.unwrap();
    assert_eq!(audit_exports(&mesh).await, 0);

    let january = export(&mesh, "from=2026-01-01&to=2026-01-31").await;
    assert_eq!(
        audit_exports(&mesh).await,
        1,
        "the export is in the audit log"
    );
    let jan = rows(&january);
    assert_eq!(jan.len(), 4, "{january}");
    let p_jan = patient_of(&jan, "8867-4:3");
    assert_eq!(p_jan.len(), 32);
    assert_eq!(
        p_jan,
        patient_of(&jan, "8867-4:4"),
        "the same patient links within an export"
    );
    assert_ne!(
        p_jan,
        patient_of(&jan, "85354-9:2"),
        "other patients do not"
    );
    let search_row = jan.iter().find(|r| r["action"] == "search").unwrap();
    assert_eq!(search_row["patient"], p_jan);
    assert_eq!(search_row["org_parent"], OUS);
    assert_eq!(search_row["org_type"], "hospital_trust");
    assert_eq!(search_row["purpose_of_use"], "TREAT");
    assert_eq!(search_row["actor_kind"], "personnel");
    let first = jan.iter().find(|r| r["codes"] == "8867-4:3").unwrap();
    assert_eq!(
        first["hour"], "2026-01-05T13:00:00Z",
        "time to the hour only"
    );
    assert_eq!(first["org_parent"], OSLO_KOMMUNE);
    assert_eq!(first["municipality"], "0301");
    assert_eq!(first["count"], "3");

    // Another period: another key.
    let both = rows(&export(&mesh, "from=2026-01-01&to=2026-02-28").await);
    assert_eq!(both.len(), 5);
    let p_both = patient_of(&both, "8867-4:3");
    assert_eq!(p_both, patient_of(&both, "8867-4:6"));
    assert_ne!(
        p_both, p_jan,
        "pseudonyms do not link across exports of different periods"
    );
    // The same period again: the same key (an export period is a fixed thing).
    let again = rows(&export(&mesh, "from=2026-01-01&to=2026-01-31").await);
    assert_eq!(patient_of(&again, "8867-4:3"), p_jan);
    assert_eq!(audit_exports(&mesh).await, 3);
    assert!(!january.contains(&p) && !january.contains(&q));
    mesh.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_export_that_cannot_be_audited_sends_nothing() {
    let mesh = spawn_mesh_on(Backend::Sqlite).await.unwrap();
    let proxy = FaultProxy::start(mesh.addrs.audit).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = pmd_db::sqlite_url(dir.path(), "cut-off");
    let own = OwnStatistics::start_with(&mesh, &url, 100, &proxy.url())
        .await
        .unwrap();
    proxy.down();
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", own.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client =
        pmd_proto::statistics::v1::statistics_service_client::StatisticsServiceClient::new(channel);
    let token = mesh.token(&TokenRequest::statistics());
    let error = client
        .export(with_token(ExportRequest::default(), &token))
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(error, Some(tonic::Code::Unavailable));
    proxy.up();
    let mut stream = client
        .export(with_token(ExportRequest::default(), &token))
        .await
        .unwrap()
        .into_inner();
    let header = stream.message().await.unwrap().unwrap();
    assert!(
        String::from_utf8(header.csv)
            .unwrap()
            .starts_with("hour,action")
    );
    own.stop().await.unwrap();
    mesh.stop().await.unwrap();
}

/// Every text the statistics API hands out, for the check below.
async fn every_answer(mesh: &TestMesh) -> String {
    let token = mesh.token(&TokenRequest::statistics());
    let mut all = String::new();
    for path in [
        "/api/statistics/usage",
        "/api/statistics/usage?group_by=org_type,purpose",
        "/api/statistics/usage?group_by=code,municipality,region",
        "/api/statistics/usage?granularity=month&group_by=org_type",
        "/api/statistics/adoption",
        "/api/statistics/export",
    ] {
        let response = mesh
            .http
            .get(mesh.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        all.push_str(&response.text().await.unwrap());
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_national_id_hpr_number_or_name_leaves_statistics_or_is_stored_there() {
    let mesh = spawn_mesh_on(Backend::Sqlite).await.unwrap();
    let patients: Vec<String> = (0..6).map(pmd_domain::synthetic_fnr).collect();
    // A source writes 60 measurements for 6 patients through the edge.
    let source = mesh.token(&TokenRequest::system(OSLO_KOMMUNE));
    let response = mesh
        .http
        .post(mesh.url("/fhir"))
        .bearer_auth(&source)
        .header("content-type", "application/fhir+json")
        .json(&pmd::bench::bundle("stats", 0, 60, 6))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // A named practitioner (with her own national id in the token) searches each patient.
    let practitioner_pid = pmd_domain::synthetic_fnr(500);
    let ehr = mesh.token(
        &TokenRequest::personnel("9144900", OUS)
            .name("Kari Nordmann")
            .pid(practitioner_pid.clone()),
    );
    for patient in &patients {
        let response = mesh
            .http
            .post(mesh.url("/fhir/Observation/_search"))
            .bearer_auth(&ehr)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("patient=Patient/{patient}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    // Each citizen opens their own data; the first blocks the practitioner.
    for patient in &patients {
        let citizen = mesh.token(&TokenRequest::citizen(patient.clone()));
        let response = mesh
            .http
            .get(mesh.url(&format!("/fhir/Observation?patient=Patient/{patient}")))
            .bearer_auth(&citizen)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let citizen = mesh.token(&TokenRequest::citizen(patients[0].clone()));
    let consent = json!({
        "resourceType": "Consent", "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"identifier": {"system": FNR_OID, "value": patients[0]}},
        "policyRule": {"text": "pasient- og brukerrettighetsloven § 5-3"},
        "provision": {"type": "deny",
            "actor": [{"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]},
                       "reference": {"identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.4", "value": "9144900"}}}]}
    });
    let blocked = mesh
        .http
        .post(mesh.url("/fhir/Consent"))
        .bearer_auth(&citizen)
        .header("content-type", "application/fhir+json")
        .json(&consent)
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status(), 201);
    let denied = mesh
        .http
        .post(mesh.url("/fhir/Observation/_search"))
        .bearer_auth(&ehr)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("patient=Patient/{}", patients[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    let db = settle(&mesh).await.unwrap();

    let everything = every_answer(&mesh).await;
    let export_rows = rows(
        everything
            .split_once(HEADER)
            .map(|(_, rest)| rest)
            .map(|r| format!("{HEADER}{r}"))
            .unwrap()
            .as_str(),
    );
    assert!(
        export_rows
            .iter()
            .any(|r| r["action"] == "create" && r["org_parent"] == OSLO_KOMMUNE)
    );
    assert!(
        export_rows
            .iter()
            .any(|r| r["action"] == "search" && r["actor_kind"] == "personnel")
    );
    assert!(
        export_rows
            .iter()
            .any(|r| r["action"] == "search" && r["actor_kind"] == "citizen")
    );
    assert!(
        export_rows
            .iter()
            .any(|r| r["action"] == "search" && r["outcome"] == "denied")
    );
    assert!(export_rows.iter().any(|r| r["action"] == "block"));
    let secrets: Vec<&str> = patients
        .iter()
        .map(String::as_str)
        .chain([practitioner_pid.as_str(), "9144900", "Kari", "Nordmann"])
        .collect();
    for secret in &secrets {
        assert!(!everything.contains(secret), "{secret} left statistics");
    }
    // Nor is any of it stored: not in the database file, not in its write-ahead log.
    drop(db);
    for file in ["statistics.db", "statistics.db-wal"] {
        let path = mesh.data_dir.path().join(file);
        if let Ok(bytes) = std::fs::read(&path) {
            let text = String::from_utf8_lossy(&bytes);
            for secret in &secrets {
                assert!(!text.contains(secret), "{secret} stored in {file}");
            }
        }
    }
    // The citizens viewing are counted (6 distinct: shown), by pseudonym.
    let answer: Value = serde_json::from_str(
        &mesh
            .http
            .get(mesh.url("/api/statistics/usage?granularity=month"))
            .bearer_auth(mesh.token(&TokenRequest::statistics()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let viewing: i64 = answer["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["metric"] == "citizens_viewing")
        .filter_map(|r| r["count"].as_i64())
        .sum();
    assert_eq!(viewing, 6);
    mesh.stop().await.unwrap();
}
