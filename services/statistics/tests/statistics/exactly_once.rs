//! Exactly once: a restart mid-stream, replayed and overlapping ranges, and two replicas on
//! one database all end with the same aggregates as one follower that never stopped.

use std::time::Duration;

use pmd_auth::TokenRequest;
use pmd_db::{Database, PoolSize};
use pmd_orgs::Register;
use pmd_proto::audit::v1::{AuditEvent, FollowRequest, Outcome};
use pmd_statistics::{inspect, replay};
use pmd_testkit::{Backend, TestMesh, spawn_mesh, spawn_mesh_on, with_token};

use crate::common::*;

const ORGS: [&str; 5] = [
    OSLO_KOMMUNE,
    BERGEN_KOMMUNE,
    OUS,
    HELSE_BERGEN,
    TORSHOV_LEGESENTER,
];
const CODES: [&str; 4] = ["8867-4", "85354-9", "59408-5", "29463-7"];

/// `n` varied events (writes, searches, denials, citizen reads, blocks) over 40 patients and
/// the days of January 2026; `salt` varies the mix between calls.
fn many_events(n: usize, salt: usize) -> Vec<AuditEvent> {
    (0..n)
        .map(|i| {
            let k = i * 7 + salt;
            let patient = pmd_domain::synthetic_fnr((k % 40) as u32);
            let day = format!("2026-01-{:02}", k % 28 + 1);
            let time = at(&day, (k % 24) as u32);
            let org = ORGS[k % ORGS.len()];
            match k % 10 {
                0..=5 => write(
                    org,
                    &patient,
                    CODES[k % CODES.len()],
                    (k % 9 + 1) as i64,
                    time,
                ),
                6 => search(org, &patient, Outcome::Success, time),
                7 => search(org, &patient, Outcome::Denied, time),
                8 => citizen_read(&patient, time),
                _ => block(&patient, time),
            }
        })
        .collect()
}

/// Every event in the audit log, read back through `Follow` as the follower reads it.
async fn follow_all(mesh: &TestMesh, head: i64) -> anyhow::Result<Vec<AuditEvent>> {
    let token = mesh.token(&TokenRequest::service("statistics-test"));
    let mut stream = mesh
        .audit()
        .follow(with_token(FollowRequest { from_seq: 1 }, &token))
        .await?
        .into_inner();
    let mut events = Vec::new();
    while (events.len() as i64) < head {
        match tokio::time::timeout(Duration::from_secs(10), stream.message()).await?? {
            Some(event) => events.push(event),
            None => break,
        }
    }
    Ok(events)
}

async fn sqlite_db(url: &str) -> anyhow::Result<Database> {
    Ok(Database::connect(url, "pmd_statistics", PoolSize { max: 1, min: 1 }).await?)
}

fn measurements_in(fingerprint: &(std::collections::BTreeSet<String>, i64, i64)) -> i64 {
    fingerprint
        .0
        .iter()
        .filter(|row| row.starts_with("measurements_received|"))
        .filter_map(|row| row.rsplit('=').next()?.parse::<i64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_mid_stream_counts_every_event_exactly_once() {
    let mesh = spawn_mesh().await.unwrap();
    let first_round = many_events(3000, 0);
    let expected_first: i64 = first_round
        .iter()
        .filter(|e| e.action == pmd_proto::audit::v1::Action::Create as i32)
        .map(|e| e.entities.iter().map(|x| x.count).sum::<i64>())
        .sum();
    record(&mesh, first_round).await.unwrap();

    // Our own follower on its own SQLite file, applying 25 events per transaction.
    let dir = tempfile::tempdir().unwrap();
    let url = pmd_db::sqlite_url(dir.path(), "own-statistics");
    let first = OwnStatistics::start(&mesh, &url, 25).await.unwrap();
    let db = sqlite_db(&url).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while inspect::checkpoint_seq(&db).await.unwrap() < 300 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the follower did not start"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Stopped wherever it is: mid-batch, mid-stream. A commit already handed to SQLite's
    // worker thread may still land just after the stop, so read once the file is still.
    first.stop().await.unwrap();
    let mut stopped_at = inspect::checkpoint_seq(&db).await.unwrap();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = inspect::checkpoint_seq(&db).await.unwrap();
        if now == stopped_at {
            break;
        }
        stopped_at = now;
    }
    assert!(stopped_at < 3000, "stopped at {stopped_at}: not mid-stream");
    let after_stop = inspect::fingerprint(&db).await.unwrap();
    assert_eq!(after_stop.2, stopped_at, "event rows match the checkpoint");

    // More events while it is down, then a new instance on the same file.
    let second_round = many_events(1000, 3);
    record(&mesh, second_round).await.unwrap();
    let head = audit_head(&mesh).await.unwrap();
    let second = OwnStatistics::start(&mesh, &url, 25).await.unwrap();
    wait_caught_up(&db, head).await.unwrap();

    // The mesh's own statistics (never stopped) are the reference.
    let reference = settle(&mesh).await.unwrap();
    let ours = inspect::fingerprint(&db).await.unwrap();
    let theirs = inspect::fingerprint(&reference).await.unwrap();
    assert_eq!(ours, theirs);
    assert_eq!(ours.2, head, "one event row per audit event");
    assert!(measurements_in(&ours) > expected_first);

    // Replaying ranges it already has changes nothing.
    second.stop().await.unwrap();
    let all = follow_all(&mesh, head).await.unwrap();
    assert_eq!(all.len() as i64, head);
    let register = Register::embedded();
    for (from, to) in [(0, 500), (250, 1200), (0, all.len()), (3500, all.len())] {
        let applied = replay::apply(&db, &all[from..to], &register, MESH_KEY)
            .await
            .unwrap();
        assert_eq!(applied, 0, "replay {from}..{to}");
    }
    assert_eq!(inspect::fingerprint(&db).await.unwrap(), theirs);
    mesh.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_and_out_of_order_ranges_apply_each_event_once() {
    let mesh = spawn_mesh_on(Backend::Sqlite).await.unwrap();
    record(&mesh, many_events(1200, 1)).await.unwrap();
    let head = audit_head(&mesh).await.unwrap();
    let reference = settle(&mesh).await.unwrap();
    let all = follow_all(&mesh, head).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let url = pmd_db::sqlite_url(dir.path(), "replayed");
    let db = sqlite_db(&url).await.unwrap();
    pmd_db::migrate(&db, pmd_statistics::MIGRATIONS)
        .await
        .unwrap();
    let register = Register::embedded();
    let apply = |from: usize, to: usize| {
        let db = db.clone();
        let events = all[from..to].to_vec();
        let register = register.clone();
        async move {
            replay::apply(&db, &events, &register, MESH_KEY)
                .await
                .unwrap()
        }
    };
    // A range that starts after the checkpoint is a gap: nothing is applied.
    assert_eq!(apply(100, 200).await, 0);
    assert_eq!(apply(0, 400).await, 400);
    assert_eq!(
        apply(200, 700).await,
        300,
        "only the part after the checkpoint"
    );
    assert_eq!(apply(0, 700).await, 0, "a replay of everything applied");
    assert_eq!(apply(650, all.len()).await, all.len() - 700);
    assert_eq!(apply(0, all.len()).await, 0);
    assert_eq!(
        inspect::fingerprint(&db).await.unwrap(),
        inspect::fingerprint(&reference).await.unwrap()
    );
    mesh.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_one_database_count_each_event_once() {
    let mesh = spawn_mesh().await.unwrap();
    let shared = pmd_testkit::fresh_database().await.unwrap();
    let a = OwnStatistics::start(&mesh, &shared.url, 40).await.unwrap();
    let b = OwnStatistics::start(&mesh, &shared.url, 40).await.unwrap();
    // Events arrive while both follow.
    for round in 0..4 {
        record(&mesh, many_events(600, round)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let head = audit_head(&mesh).await.unwrap();
    let db = Database::connect(&shared.url, "pmd_statistics", PoolSize { max: 2, min: 1 })
        .await
        .unwrap();
    wait_caught_up(&db, head).await.unwrap();
    // Let both drain whatever they still hold in flight, then compare.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reference = settle(&mesh).await.unwrap();
    let ours = inspect::fingerprint(&db).await.unwrap();
    assert_eq!(ours, inspect::fingerprint(&reference).await.unwrap());
    assert_eq!(ours.2, head);
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    mesh.stop().await.unwrap();
}
