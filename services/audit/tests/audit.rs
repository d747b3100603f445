//! The audit service end to end: the real service on port 0 against a fresh PostgreSQL
//! database or a SQLite file in a temporary directory, called over gRPC with dev tokens.
//!
//! Most behaviours run on both engines (`<behaviour>::sqlite`, `<behaviour>::postgres`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pmd_audit::AuditConfig;
use pmd_auth::{DevIssuer, TokenRequest, Verifier, VerifierConfig};
use pmd_db::sea_orm::ConnectionTrait;
use pmd_db::{Database, PoolSize};
use pmd_proto::audit::v1::audit_service_client::AuditServiceClient;
use pmd_proto::audit::v1::{
    Action, AuditEvent, Entity, FollowRequest, Outcome, ProblemKind, QueryRequest, QueryResponse,
    RecordRequest, RecordResponse, VerifyRequest, VerifyResponse,
};
use pmd_proto::common::v1::{Actor, ActorKind, Identifier, SortOrder};
use pmd_server::{Context, ServiceCredentials, ShutdownTrigger, StartError, shutdown_channel};
use pmd_testkit::{Backend, TestDatabase, fresh_database, with_token};
use tonic::transport::Channel;

const FNR: &str = "urn:oid:2.16.578.1.12.4.1.4.1";
const ALICE: &str = "13116900216";
const BOB: &str = "01017012345";

/// One running audit service and what a test needs around it.
struct Audit {
    backend: Backend,
    issuer: DevIssuer,
    db_url: String,
    dir: tempfile::TempDir,
    trigger: ShutdownTrigger,
    task: tokio::task::JoinHandle<Result<(), StartError>>,
    client: AuditServiceClient<Channel>,
    _database: Option<TestDatabase>,
}

impl Audit {
    async fn start(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (db_url, database) = match backend {
            Backend::Sqlite => (pmd_db::sqlite_url(dir.path(), "audit"), None),
            Backend::Postgres => {
                let database = fresh_database().await.unwrap();
                (database.url.clone(), Some(database))
            }
        };
        let issuer = DevIssuer::ephemeral().unwrap();
        let checkpoints = dir.path().join("checkpoints");
        let (trigger, task, client) = launch(&db_url, &checkpoints, &issuer).await;
        Self {
            backend,
            issuer,
            db_url,
            dir,
            trigger,
            task,
            client,
            _database: database,
        }
    }

    /// Another replica on the same database (its own checkpoint directory).
    async fn replica(&self, name: &str) -> Replica {
        let checkpoints = self.dir.path().join(name);
        let (trigger, task, client) = launch(&self.db_url, &checkpoints, &self.issuer).await;
        Replica {
            trigger,
            task,
            client,
        }
    }

    fn checkpoint_dir(&self) -> PathBuf {
        self.dir.path().join("checkpoints")
    }

    fn token(&self, request: &TokenRequest) -> String {
        self.issuer.mint(request).unwrap()
    }

    fn internal(&self) -> String {
        self.token(&TokenRequest::service("storage"))
    }

    fn client(&self) -> AuditServiceClient<Channel> {
        self.client.clone()
    }

    async fn record(&self, events: Vec<AuditEvent>) -> RecordResponse {
        self.client()
            .record(with_token(RecordRequest { events }, &self.internal()))
            .await
            .unwrap()
            .into_inner()
    }

    async fn query(&self, request: QueryRequest) -> QueryResponse {
        self.client()
            .query(with_token(request, &self.internal()))
            .await
            .unwrap()
            .into_inner()
    }

    async fn verify(&self) -> VerifyResponse {
        self.client()
            .verify(with_token(VerifyRequest::default(), &self.internal()))
            .await
            .unwrap()
            .into_inner()
    }

    /// Run SQL against the service's tables from a connection of the test's own.
    async fn sql(&self, statements: &[&str]) {
        let db = Database::connect(&self.db_url, pmd_audit::SCHEMA, PoolSize { max: 1, min: 1 })
            .await
            .unwrap();
        for statement in statements {
            db.conn().execute_unprepared(statement).await.unwrap();
        }
        db.close().await;
    }

    /// Lift the append-only protection, as an attacker with database rights could.
    async fn drop_protection(&self) {
        match self.backend {
            Backend::Postgres => {
                self.sql(&["DROP TRIGGER audit_events_append_only ON audit_events"])
                    .await
            }
            Backend::Sqlite => {
                self.sql(&[
                    "DROP TRIGGER audit_events_no_update",
                    "DROP TRIGGER audit_events_no_delete",
                ])
                .await
            }
        }
    }

    async fn stop(self) {
        self.trigger.trigger();
        self.task.await.unwrap().unwrap();
    }
}

struct Replica {
    trigger: ShutdownTrigger,
    task: tokio::task::JoinHandle<Result<(), StartError>>,
    client: AuditServiceClient<Channel>,
}

impl Replica {
    async fn stop(self) {
        self.trigger.trigger();
        self.task.await.unwrap().unwrap();
    }
}

async fn launch(
    db_url: &str,
    checkpoint_dir: &Path,
    issuer: &DevIssuer,
) -> (
    ShutdownTrigger,
    tokio::task::JoinHandle<Result<(), StartError>>,
    AuditServiceClient<Channel>,
) {
    let config: AuditConfig = pmd_config::parse(
        [
            "pmd-audit".to_owned(),
            "--grpc-addr=127.0.0.1:0".to_owned(),
            "--admin-addr=127.0.0.1:0".to_owned(),
            format!("--database-url={db_url}"),
            format!("--checkpoint-dir={}", checkpoint_dir.display()),
            "--drain-timeout-secs=1".to_owned(),
            "--request-timeout-secs=30".to_owned(),
        ],
        &HashMap::new(),
    )
    .unwrap();
    let context = Context {
        verifier: Verifier::new(VerifierConfig::new(vec![issuer.trusted_issuer()])),
        credentials: ServiceCredentials::none(),
    };
    let app = pmd_audit::build(config, context).await.unwrap();
    let addr = app.grpc_addr();
    let (trigger, signal) = shutdown_channel();
    let task = tokio::spawn(app.run_until_stopped(signal));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .timeout(Duration::from_secs(30))
        .connect_lazy();
    (trigger, task, AuditServiceClient::new(channel))
}

/// A read by health personnel of `patient`'s measurements.
fn event(patient: Option<&str>) -> AuditEvent {
    AuditEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        action: Action::Search as i32,
        outcome: Outcome::Success as i32,
        actor: Some(Actor {
            kind: ActorKind::Personnel as i32,
            hpr_number: "9144900".into(),
            name: "Kari Lege".into(),
            org_parent: "974589095".into(),
            client_id: "epj".into(),
            ..Default::default()
        }),
        patient: patient.map(|value| Identifier {
            system: FNR.into(),
            value: value.into(),
        }),
        entities: vec![Entity {
            resource_type: "Observation".into(),
            count: 3,
            ..Default::default()
        }],
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        ..Default::default()
    }
}

fn events(patient: &str, n: usize) -> Vec<AuditEvent> {
    (0..n).map(|_| event(Some(patient))).collect()
}

fn query_of(patient: &str) -> QueryRequest {
    QueryRequest {
        patient: Some(Identifier {
            system: FNR.into(),
            value: patient.into(),
        }),
        ..Default::default()
    }
}

fn seqs(events: &[AuditEvent]) -> Vec<i64> {
    events.iter().map(|e| e.seq).collect()
}

fn problem(response: &VerifyResponse) -> (i64, ProblemKind) {
    let problem = response
        .first_problem
        .as_ref()
        .unwrap_or_else(|| panic!("expected a problem, got {response:?}"));
    (problem.seq, problem.kind())
}

/// Wait until the checkpointer has signed a head of at least `seq`.
async fn wait_for_checkpoint(dir: &Path, seq: i64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let newest = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.strip_prefix("checkpoint-")?
                    .strip_suffix(".json")?
                    .parse::<i64>()
                    .ok()
            })
            .max();
        if newest.is_some_and(|n| n >= seq) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no checkpoint of seq {seq} written"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn next_event(stream: &mut tonic::Streaming<AuditEvent>) -> AuditEvent {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("an event within 10 s")
        .unwrap()
        .expect("the stream stays open")
}

macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(pmd_testkit::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(pmd_testkit::Backend::Postgres).await;
                }
            }
        )*
    };
}

on_both_engines!(
    record_then_query_pages_newest_first,
    duplicates_by_event_id_are_stored_once,
    concurrent_duplicates_from_many_tasks_are_stored_once,
    concurrent_records_form_a_dense_chain_that_verifies,
    an_altered_body_is_named_changed,
    an_altered_column_is_named_changed,
    a_deleted_row_is_named_missing,
    a_rewritten_row_breaks_the_link_and_is_named_reordered,
    a_truncated_tail_after_a_checkpoint_is_named_truncated,
    follow_from_one_streams_stored_events_then_new_ones,
    a_citizen_may_query_only_their_own_log,
    the_table_refuses_update_and_delete,
);

async fn record_then_query_pages_newest_first(backend: Backend) {
    let audit = Audit::start(backend).await;
    let recorded = audit.record(events(ALICE, 5)).await;
    assert_eq!(recorded.seqs, [1, 2, 3, 4, 5]);
    assert_eq!(recorded.duplicates, 0);
    audit.record(events(BOB, 2)).await;
    audit.record(events(ALICE, 2)).await;

    let mut request = query_of(ALICE);
    request.page_size = 3;
    let first = audit.query(request.clone()).await;
    assert_eq!(seqs(&first.events), [9, 8, 5]);
    assert!(!first.next_cursor.is_empty());
    assert!(!first.next_cursor.contains(ALICE));
    let event = &first.events[0];
    assert_eq!(event.patient.as_ref().unwrap().value, ALICE);
    assert_eq!(event.hash.len(), 32);
    assert!(event.time_unix_micros > 0, "time is set when absent");

    request.cursor = first.next_cursor;
    let second = audit.query(request.clone()).await;
    assert_eq!(seqs(&second.events), [4, 3, 2]);
    request.cursor = second.next_cursor;
    let last = audit.query(request.clone()).await;
    assert_eq!(seqs(&last.events), [1]);
    assert!(last.next_cursor.is_empty(), "the last page has no cursor");

    let mut oldest = query_of(ALICE);
    oldest.order = SortOrder::OldestFirst as i32;
    oldest.page_size = 4;
    let page = audit.query(oldest.clone()).await;
    assert_eq!(seqs(&page.events), [1, 2, 3, 4]);
    oldest.cursor = page.next_cursor;
    let page = audit.query(oldest).await;
    assert_eq!(seqs(&page.events), [5, 8, 9]);
    assert!(page.next_cursor.is_empty());

    let mut everything = query_of(ALICE);
    everything.time = Some(pmd_proto::common::v1::TimeRange {
        start_unix_micros: Some(i64::MIN),
        end_unix_micros: Some(i64::MAX),
    });
    assert_eq!(audit.query(everything).await.events.len(), 7);

    let bob = audit.query(query_of(BOB)).await;
    assert_eq!(seqs(&bob.events), [7, 6]);

    let mut later = query_of(ALICE);
    later.time = Some(pmd_proto::common::v1::TimeRange {
        start_unix_micros: Some(first.events[0].time_unix_micros + 1),
        end_unix_micros: None,
    });
    assert!(audit.query(later).await.events.is_empty());
    audit.stop().await;
}

async fn duplicates_by_event_id_are_stored_once(backend: Backend) {
    let audit = Audit::start(backend).await;
    let a = event(Some(ALICE));
    let b = event(Some(ALICE));
    let mut a_again = a.clone();
    // The same id in another spelling is the same event.
    a_again.event_id = a.event_id.to_uppercase();
    let first = audit.record(vec![a.clone(), b.clone(), a_again]).await;
    assert_eq!(first.seqs, [1, 2, 1]);
    assert_eq!(first.duplicates, 1);

    let c = event(Some(ALICE));
    let second = audit.record(vec![b, c, a]).await;
    assert_eq!(second.seqs, [2, 3, 1]);
    assert_eq!(second.duplicates, 2);

    let stored = audit.query(query_of(ALICE)).await;
    assert_eq!(seqs(&stored.events), [3, 2, 1]);
    let verified = audit.verify().await;
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.checked, 3);
    audit.stop().await;
}

async fn concurrent_duplicates_from_many_tasks_are_stored_once(backend: Backend) {
    let audit = Audit::start(backend).await;
    let shared = events(ALICE, 20);
    let token = audit.internal();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let mut client = audit.client();
        let mut batch = shared.clone();
        batch.rotate_left(i);
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let answer = client
                .record(with_token(
                    RecordRequest {
                        events: batch.clone(),
                    },
                    &token,
                ))
                .await
                .unwrap()
                .into_inner();
            batch
                .into_iter()
                .map(|e| e.event_id)
                .zip(answer.seqs)
                .collect::<Vec<_>>()
        }));
    }
    let mut seq_of: HashMap<String, i64> = HashMap::new();
    for task in tasks {
        for (id, seq) in task.await.unwrap() {
            let known = *seq_of.entry(id).or_insert(seq);
            assert_eq!(known, seq, "one event, one seq, whoever asked");
        }
    }
    let all: BTreeSet<i64> = seq_of.values().copied().collect();
    assert_eq!(all, (1..=20).collect());
    let verified = audit.verify().await;
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.checked, 20);
    audit.stop().await;
}

async fn concurrent_records_form_a_dense_chain_that_verifies(backend: Backend) {
    let audit = Audit::start(backend).await;
    let token = audit.internal();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let mut client = audit.client();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for _ in 0..10 {
                let answer = client
                    .record(with_token(
                        RecordRequest {
                            events: events(ALICE, 5),
                        },
                        &token,
                    ))
                    .await
                    .unwrap()
                    .into_inner();
                assert_eq!(answer.duplicates, 0);
                seqs.extend(answer.seqs);
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=1000).collect::<Vec<i64>>(),
        "dense, each seq once"
    );
    let verified = audit.verify().await;
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.checked, 1000);
    assert_eq!(verified.head_seq, 1000);
    assert_eq!(verified.head_hash.len(), 32);
    audit.stop().await;
}

async fn an_altered_body_is_named_changed(backend: Backend) {
    let audit = Audit::start(backend).await;
    audit.record(events(ALICE, 6)).await;
    assert!(audit.verify().await.ok);
    audit.drop_protection().await;
    // Swap in another record's body: still a well-formed event, but not this one.
    audit
        .sql(&["UPDATE audit_events SET body = (SELECT body FROM audit_events WHERE seq = 5) WHERE seq = 3"])
        .await;
    let verified = audit.verify().await;
    assert!(!verified.ok);
    assert_eq!(problem(&verified), (3, ProblemKind::Changed));
    assert_eq!(verified.checked, 2);
    assert_eq!(verified.head_seq, 2);
    audit.stop().await;
}

async fn an_altered_column_is_named_changed(backend: Backend) {
    let audit = Audit::start(backend).await;
    audit.record(events(ALICE, 6)).await;
    audit.drop_protection().await;
    audit
        .sql(&["UPDATE audit_events SET outcome = 2 WHERE seq = 4"])
        .await;
    let verified = audit.verify().await;
    assert_eq!(problem(&verified), (4, ProblemKind::Changed));
    let detail = &verified.first_problem.as_ref().unwrap().detail;
    assert!(detail.contains("outcome"), "{detail}");
    assert!(!detail.contains(ALICE));
    audit.stop().await;
}

async fn a_deleted_row_is_named_missing(backend: Backend) {
    let audit = Audit::start(backend).await;
    audit.record(events(ALICE, 6)).await;
    audit.drop_protection().await;
    audit.sql(&["DELETE FROM audit_events WHERE seq = 4"]).await;
    let verified = audit.verify().await;
    assert_eq!(problem(&verified), (4, ProblemKind::Missing));
    assert_eq!(verified.checked, 3);
    audit.stop().await;
}

async fn a_rewritten_row_breaks_the_link_and_is_named_reordered(backend: Backend) {
    use pmd_db::sea_orm::Statement;
    use prost::Message;
    use sha2::Digest;

    let audit = Audit::start(backend).await;
    audit.record(events(ALICE, 5)).await;
    audit.drop_protection().await;
    // A careful forger rewrites seq 3 so that it is consistent in itself (columns, body and
    // hash agree); only the link from seq 4 gives it away.
    let db = Database::connect(
        &audit.db_url,
        pmd_audit::SCHEMA,
        PoolSize { max: 1, min: 1 },
    )
    .await
    .unwrap();
    let row = db
        .conn()
        .query_one_raw(Statement::from_string(
            db.db_backend(),
            "SELECT body FROM audit_events WHERE seq = 3",
        ))
        .await
        .unwrap()
        .unwrap();
    let body: Vec<u8> = row.try_get_by_index(0).unwrap();
    let mut forged = AuditEvent::decode(body.as_slice()).unwrap();
    forged.outcome = Outcome::Denied as i32;
    forged.hash.clear();
    let mut digest = sha2::Sha256::new();
    digest.update(&forged.prev_hash);
    digest.update(forged.encode_to_vec());
    forged.hash = digest.finalize().to_vec();
    let sql = match backend {
        Backend::Postgres => {
            "UPDATE audit_events SET body = $1, hash = $2, outcome = $3 WHERE seq = 3"
        }
        Backend::Sqlite => "UPDATE audit_events SET body = ?, hash = ?, outcome = ? WHERE seq = 3",
    };
    db.conn()
        .execute_raw(Statement::from_sql_and_values(
            db.db_backend(),
            sql,
            [
                forged.encode_to_vec().into(),
                forged.hash.clone().into(),
                (Outcome::Denied as i16).into(),
            ],
        ))
        .await
        .unwrap();
    db.close().await;
    let verified = audit.verify().await;
    assert_eq!(problem(&verified), (4, ProblemKind::Reordered));
    assert_eq!(verified.checked, 3);
    audit.stop().await;
}

async fn a_truncated_tail_after_a_checkpoint_is_named_truncated(backend: Backend) {
    let audit = Audit::start(backend).await;
    audit.record(events(ALICE, 10)).await;
    wait_for_checkpoint(&audit.checkpoint_dir(), 10).await;
    audit.drop_protection().await;
    audit
        .sql(&["DELETE FROM audit_events WHERE seq >= 8"])
        .await;
    let verified = audit.verify().await;
    assert_eq!(problem(&verified), (8, ProblemKind::Truncated));
    assert_eq!(verified.checked, 7);

    // Writing on after the cut re-grows the chain, but not into the signed one.
    audit.record(events(ALICE, 5)).await;
    let verified = audit.verify().await;
    assert_eq!(problem(&verified), (10, ProblemKind::Truncated));
    audit.stop().await;
}

async fn follow_from_one_streams_stored_events_then_new_ones(backend: Backend) {
    let audit = Audit::start(backend).await;
    audit.record(events(ALICE, 3)).await;
    audit.record(events(BOB, 2)).await;
    let mut stream = audit
        .client()
        .follow(with_token(FollowRequest { from_seq: 1 }, &audit.internal()))
        .await
        .unwrap()
        .into_inner();
    for expected in 1..=5 {
        assert_eq!(next_event(&mut stream).await.seq, expected);
    }
    audit.record(events(ALICE, 3)).await;
    let started = Instant::now();
    for expected in 6..=8 {
        let event = next_event(&mut stream).await;
        assert_eq!(event.seq, expected);
        assert_eq!(event.hash.len(), 32);
    }
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "new events arrive on the writer's notice, before the next poll"
    );

    let mut later = audit
        .client()
        .follow(with_token(FollowRequest { from_seq: 7 }, &audit.internal()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(later.message().await.unwrap().unwrap().seq, 7);
    assert_eq!(later.message().await.unwrap().unwrap().seq, 8);
    drop(later);
    drop(stream);
    audit.stop().await;
}

async fn a_citizen_may_query_only_their_own_log(backend: Backend) {
    let audit = Audit::start(backend).await;
    audit.record(events(ALICE, 2)).await;
    audit.record(events(BOB, 1)).await;
    let alice = audit.token(&TokenRequest::citizen(ALICE));
    let own = audit
        .client()
        .query(with_token(query_of(ALICE), &alice))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seqs(&own.events), [2, 1]);

    for patient in [BOB, "99999999999"] {
        let refused = audit
            .client()
            .query(with_token(query_of(patient), &alice))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
        assert!(!refused.message().contains(patient));
    }
    // Someone with events and someone without are refused alike.
    let refused = audit
        .client()
        .query(with_token(query_of(BOB), &alice))
        .await
        .unwrap_err();
    let refused_unknown = audit
        .client()
        .query(with_token(query_of("99999999999"), &alice))
        .await
        .unwrap_err();
    assert_eq!(refused.message(), refused_unknown.message());

    let personnel = audit.token(&TokenRequest::personnel("9144900", "974589095"));
    let refused = audit
        .client()
        .query(with_token(query_of(ALICE), &personnel))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);

    let refused = audit
        .client()
        .verify(with_token(VerifyRequest::default(), &alice))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let refused = audit
        .client()
        .follow(with_token(FollowRequest { from_seq: 1 }, &alice))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    audit.stop().await;
}

async fn the_table_refuses_update_and_delete(backend: Backend) {
    let audit = Audit::start(backend).await;
    audit.record(events(ALICE, 2)).await;
    let db = Database::connect(
        &audit.db_url,
        pmd_audit::SCHEMA,
        PoolSize { max: 1, min: 1 },
    )
    .await
    .unwrap();
    for statement in [
        "UPDATE audit_events SET outcome = 2 WHERE seq = 1",
        "DELETE FROM audit_events WHERE seq = 2",
    ] {
        let error = db.conn().execute_unprepared(statement).await.unwrap_err();
        assert!(error.to_string().contains("append-only"), "{error}");
    }
    db.close().await;
    assert!(audit.verify().await.ok);
    audit.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_head_is_checkpointed_when_the_service_stops() {
    let audit = Audit::start(Backend::Sqlite).await;
    audit.record(events(ALICE, 1)).await;
    wait_for_checkpoint(&audit.checkpoint_dir(), 1).await;
    // Within the 5 s pause after that checkpoint: only the stop writes this head.
    audit.record(events(ALICE, 2)).await;
    assert!(!audit.checkpoint_dir().join("checkpoint-3.json").exists());
    let Audit {
        dir, trigger, task, ..
    } = audit;
    trigger.trigger();
    task.await.unwrap().unwrap();
    wait_for_checkpoint(&dir.path().join("checkpoints"), 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personnel_may_not_record() {
    let audit = Audit::start(Backend::Sqlite).await;
    let personnel = audit.token(&TokenRequest::personnel("9144900", "974589095"));
    let refused = audit
        .client()
        .record(with_token(
            RecordRequest {
                events: events(ALICE, 1),
            },
            &personnel,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    assert_eq!(audit.verify().await.checked, 0, "nothing was stored");
    audit.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_a_token_is_unauthenticated() {
    let audit = Audit::start(Backend::Sqlite).await;
    let refused = audit
        .client()
        .record(RecordRequest {
            events: events(ALICE, 1),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let refused = audit.client().query(query_of(ALICE)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    audit.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_event_is_refused_naming_field_and_index() {
    let audit = Audit::start(Backend::Sqlite).await;
    let mut bad = event(Some(ALICE));
    bad.event_id = "not-a-uuid".into();
    let mut no_outcome = event(Some(ALICE));
    no_outcome.outcome = 0;
    let refused = audit
        .client()
        .record(with_token(
            RecordRequest {
                events: vec![event(Some(ALICE)), bad, no_outcome],
            },
            &audit.internal(),
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused.message().contains("events[1].event_id"),
        "{}",
        refused.message()
    );
    let error = pmd_error::ServiceError::from_status(&refused);
    let fields: Vec<_> = error
        .issues
        .iter()
        .filter_map(|i| i.expression.clone())
        .collect();
    assert_eq!(fields, ["events[1].event_id", "events[2].outcome"]);
    assert_eq!(
        audit.verify().await.checked,
        0,
        "nothing of the request was stored"
    );
    audit.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reports_a_checkpoint_with_a_bad_signature() {
    let audit = Audit::start(Backend::Sqlite).await;
    audit.record(events(ALICE, 3)).await;
    wait_for_checkpoint(&audit.checkpoint_dir(), 3).await;
    let genuine =
        std::fs::read_to_string(audit.checkpoint_dir().join("checkpoint-3.json")).unwrap();
    let forged = genuine.replace("\"seq\": 3", "\"seq\": 50");
    std::fs::write(audit.checkpoint_dir().join("checkpoint-50.json"), forged).unwrap();
    let verified = audit.verify().await;
    assert!(!verified.ok);
    let problem = verified.first_problem.unwrap();
    assert_eq!(problem.seq, 50);
    assert!(problem.detail.contains("signature"), "{}", problem.detail);
    audit.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_of_a_patient_with_ten_thousand_events_pages_quickly() {
    let audit = Audit::start(Backend::Postgres).await;
    for _ in 0..10 {
        audit.record(events(ALICE, 1000)).await;
    }
    audit.record(events(BOB, 10)).await;
    let mut request = query_of(ALICE);
    request.page_size = 1000;
    let mut pages = 0;
    let mut total = 0;
    let mut slowest = Duration::ZERO;
    loop {
        let started = Instant::now();
        let page = audit.query(request.clone()).await;
        slowest = slowest.max(started.elapsed());
        pages += 1;
        total += page.events.len();
        if page.next_cursor.is_empty() {
            break;
        }
        request.cursor = page.next_cursor;
    }
    assert_eq!(total, 10_000);
    assert_eq!(pages, 10);
    // A page comes from the (patient_id, seq) index; generous for a debug build.
    assert!(
        slowest < Duration::from_secs(2),
        "slowest page took {slowest:?}"
    );
    let first = audit.query(query_of(ALICE)).await;
    assert_eq!(first.events.len(), 50);
    assert_eq!(first.events[0].seq, 10_000);
    audit.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_database_keep_one_chain() {
    let audit = Audit::start(Backend::Postgres).await;
    let other = audit.replica("replica-checkpoints").await;
    let token = audit.internal();
    let mut stream = audit
        .client()
        .follow(with_token(FollowRequest { from_seq: 1 }, &token))
        .await
        .unwrap()
        .into_inner();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let mut client = if i % 2 == 0 {
            audit.client()
        } else {
            other.client.clone()
        };
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                client
                    .record(with_token(
                        RecordRequest {
                            events: events(ALICE, 4),
                        },
                        &token,
                    ))
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let verified = audit.verify().await;
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.checked, 200);
    // The follower on the first replica sees the other's events too (by polling).
    for expected in 1..=200 {
        assert_eq!(next_event(&mut stream).await.seq, expected);
    }
    drop(stream);
    other.stop().await;
    audit.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_is_unavailable_while_the_database_refuses_connections() {
    let audit = Audit::start(Backend::Postgres).await;
    audit.record(events(ALICE, 2)).await;
    let name = audit._database.as_ref().unwrap().name.clone();
    let admin =
        pmd_db::sea_orm::Database::connect(pmd_testkit::postgres_admin_url().await.unwrap())
            .await
            .unwrap();
    admin
        .execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .await
        .unwrap();
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .await
        .unwrap();
    let refused = audit
        .client()
        .record(with_token(
            RecordRequest {
                events: events(ALICE, 1),
            },
            &audit.internal(),
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    admin
        .execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    admin.close().await.unwrap();
    let recorded = audit.record(events(ALICE, 1)).await;
    assert_eq!(recorded.seqs, [3], "the refused event was not stored");
    assert!(audit.verify().await.ok);
    audit.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mesh_serves_audit_with_its_checkpoints() {
    let mesh = pmd_testkit::spawn_mesh_on(Backend::Sqlite).await.unwrap();
    let token = mesh.token(&TokenRequest::service("storage"));
    let recorded = mesh
        .audit()
        .record(with_token(
            RecordRequest {
                events: events(ALICE, 2),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(recorded.seqs.len(), 2);
    let verified = mesh
        .audit()
        .verify(with_token(VerifyRequest::default(), &token))
        .await
        .unwrap()
        .into_inner();
    assert!(verified.ok, "{verified:?}");
    wait_for_checkpoint(
        &mesh.data_dir.path().join("audit-checkpoints"),
        recorded.seqs[1],
    )
    .await;
    mesh.stop().await.unwrap();
}
