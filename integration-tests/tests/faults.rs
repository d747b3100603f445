//! The promises under stress: three storage replicas and concurrent readers hammer one
//! patient while the citizen blocks the reader: every read that starts after the block's
//! acknowledgement is refused, also with Redis stopped and started again, and with Redis
//! slowed by 200 ms per call. And with audit unreachable: 503, no data.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use pmd_auth::TokenRequest;
use pmd_proto::common::v1::Identifier;
use pmd_proto::storage::v1::QueryRequest;
use pmd_testkit::{
    Backend, FaultProxy, MeshOptions, OwnRedis, TestMesh, spawn_mesh_with, with_token,
};
use serde_json::{Value, json};
use tokio::sync::Mutex;

const HPR: &str = "9144900";
const ORG: &str = "974589095";

fn patient() -> String {
    pmd_domain::synthetic_fnr(41)
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

fn consent() -> Value {
    json!({"resourceType": "Consent", "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": patient()}},
        "provision": {"type": "deny",
            "actor": [{"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]},
                       "reference": {"identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.4", "value": HPR}}}]}})
}

/// Block the reader through the edge, retrying while the block cannot be confirmed (503);
/// returns the moment the acknowledgement arrived.
async fn block_until_acknowledged(mesh: &TestMesh) -> Instant {
    let citizen = mesh.token(&TokenRequest::citizen(patient()));
    for _ in 0..200 {
        let response = mesh
            .http
            .post(mesh.url("/fhir/Consent"))
            .bearer_auth(&citizen)
            .header("content-type", "application/fhir+json")
            .json(&consent())
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            200 | 201 => return Instant::now(),
            503 => tokio::time::sleep(Duration::from_millis(100)).await,
            other => panic!("block answered {other}: {}", response.text().await.unwrap()),
        }
    }
    panic!("the block was never acknowledged");
}

struct Read {
    started: Instant,
    permitted: bool,
}

/// Readers on every replica until `stop`; then every read that started after `ack` must have
/// been refused, and some before it must have succeeded.
async fn hammer_while_blocking(
    mesh: &mut TestMesh,
    during: impl AsyncFnOnce(&TestMesh) -> Instant,
) {
    seed(mesh).await;
    let mut replicas = vec![mesh.addrs.storage];
    replicas.push(mesh.spawn_storage_replica().await.unwrap());
    replicas.push(mesh.spawn_storage_replica().await.unwrap());
    let reader = mesh.token(&TokenRequest::personnel(HPR, ORG));
    let log = Arc::new(Mutex::new(Vec::<Read>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for n in 0..6 {
        let client = mesh.storage_at(replicas[n % replicas.len()]);
        let (reader, log, stop) = (reader.clone(), log.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let request = QueryRequest {
                    patient: Some(Identifier {
                        system: "urn:oid:2.16.578.1.12.4.1.4.1".into(),
                        value: patient(),
                    }),
                    page_size: 10,
                    ..QueryRequest::default()
                };
                let started = Instant::now();
                let result = client.clone().query(with_token(request, &reader)).await;
                let permitted = match &result {
                    Ok(_) => true,
                    Err(status) if status.code() == tonic::Code::PermissionDenied => false,
                    // Undecided or unavailable: refused, not a permit.
                    Err(_) => false,
                };
                log.lock().await.push(Read { started, permitted });
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ack = during(mesh).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    let log = log.lock().await;
    let before_ok = log
        .iter()
        .filter(|r| r.started < ack && r.permitted)
        .count();
    let after: Vec<&Read> = log.iter().filter(|r| r.started > ack).collect();
    let leaked = after.iter().filter(|r| r.permitted).count();
    assert!(
        before_ok > 0,
        "no read succeeded before the block: the test proved nothing"
    );
    assert!(
        after.len() > 20,
        "too few reads after the block ({})",
        after.len()
    );
    assert_eq!(
        leaked,
        0,
        "{leaked} of {} reads that started after the acknowledgement were permitted",
        after.len()
    );
}

#[tokio::test]
async fn a_block_holds_on_every_replica_the_moment_it_is_acknowledged() {
    let redis = OwnRedis::start().await.unwrap();
    let mut mesh = spawn_mesh_with(
        Backend::Postgres,
        MeshOptions {
            redis_url: Some(redis.url()),
            ..MeshOptions::default()
        },
    )
    .await
    .unwrap();
    hammer_while_blocking(&mut mesh, async |mesh| block_until_acknowledged(mesh).await).await;
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn a_block_holds_when_redis_is_stopped_mid_test_and_started_again() {
    let redis = Arc::new(Mutex::new(OwnRedis::start().await.unwrap()));
    let url = redis.lock().await.url();
    let mut mesh = spawn_mesh_with(
        Backend::Postgres,
        MeshOptions {
            redis_url: Some(url),
            ..MeshOptions::default()
        },
    )
    .await
    .unwrap();
    let handle = redis.clone();
    hammer_while_blocking(&mut mesh, async move |mesh| {
        handle.lock().await.stop().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let restarter = handle.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(700)).await;
            restarter.lock().await.restart().await.unwrap();
        });
        block_until_acknowledged(mesh).await
    })
    .await;
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn a_block_holds_when_redis_answers_200_ms_late() {
    let redis = OwnRedis::start().await.unwrap();
    let target: std::net::SocketAddr = redis.url().trim_start_matches("redis://").parse().unwrap();
    let proxy = FaultProxy::start(target).await.unwrap();
    let mut mesh = spawn_mesh_with(
        Backend::Postgres,
        MeshOptions {
            redis_url: Some(format!("redis://{}", proxy.addr())),
            ..MeshOptions::default()
        },
    )
    .await
    .unwrap();
    let slow = proxy.clone();
    hammer_while_blocking(&mut mesh, async move |mesh| {
        slow.set_delay(Duration::from_millis(200));
        block_until_acknowledged(mesh).await
    })
    .await;
    mesh.stop().await.unwrap();
    drop(redis);
}

#[tokio::test]
async fn with_audit_unreachable_a_search_is_503_and_returns_no_data() {
    let proxy = FaultProxy::start_deferred().await.unwrap();
    let mesh = spawn_mesh_with(
        Backend::Postgres,
        MeshOptions {
            storage_audit_url: Some(proxy.url()),
            ..MeshOptions::default()
        },
    )
    .await
    .unwrap();
    proxy.set_target(mesh.addrs.audit);
    seed(&mesh).await;
    let reader = mesh.token(&TokenRequest::personnel(HPR, ORG));
    let search = || async {
        let response = mesh
            .http
            .post(mesh.url("/fhir/Observation/_search"))
            .bearer_auth(&reader)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("patient=Patient/{}", patient()))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.unwrap())
    };
    let (status, found) = search().await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["entry"].as_array().unwrap().len(), 1);
    proxy.down();
    let (status, refused) = search().await;
    assert_eq!(status, 503, "{refused}");
    assert_eq!(refused["resourceType"], "OperationOutcome");
    assert!(refused.get("entry").is_none());
    proxy.up();
    let (status, _) = search().await;
    assert_eq!(status, 200, "back once audit is reachable");
    mesh.stop().await.unwrap();
}
