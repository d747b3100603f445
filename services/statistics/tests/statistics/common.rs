//! Helpers: audit events with chosen times, the follower's position, own statistics
//! instances beside the mesh's.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context as _, bail};
use chrono::{NaiveDate, NaiveTime};
use pmd_auth::TokenRequest;
use pmd_db::{Database, PoolSize};
use pmd_proto::audit::v1::{Action, AuditEvent, Entity, Outcome, RecordRequest};
use pmd_proto::common::v1::{Actor, ActorKind, Identifier, Purpose};
use pmd_server::{ServiceCredentials, ShutdownTrigger, StartError};
use pmd_testkit::{TestMesh, with_token};

/// The mesh's export key (see `pmd-testkit`): the same secret gives the same pseudonyms.
pub const MESH_KEY: &str = "test-export-key-0123456789abcdef0123456789";
pub const FNR_OID: &str = "urn:oid:2.16.578.1.12.4.1.4.1";

/// Organisations of the embedded register.
pub const OSLO_KOMMUNE: &str = "100101009";
pub const BERGEN_KOMMUNE: &str = "100101106";
pub const OUS: &str = "974589095";
pub const HELSE_BERGEN: &str = "100100118";
pub const TORSHOV_LEGESENTER: &str = "100102900";

/// Microseconds at `hour`:30 UTC of `day` (`YYYY-MM-DD`).
pub fn at(day: &str, hour: u32) -> i64 {
    let date = NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap_or_default();
    date.and_time(NaiveTime::from_hms_opt(hour, 30, 0).unwrap_or_default())
        .and_utc()
        .timestamp_micros()
}

fn base(
    action: Action,
    outcome: Outcome,
    time: i64,
    actor: Actor,
    patient: Option<&str>,
) -> AuditEvent {
    AuditEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        time_unix_micros: time,
        action: action as i32,
        outcome: outcome as i32,
        actor: Some(actor),
        patient: patient.map(|p| Identifier {
            system: FNR_OID.into(),
            value: p.into(),
        }),
        ..AuditEvent::default()
    }
}

pub fn system(org: &str) -> Actor {
    Actor {
        kind: ActorKind::System as i32,
        org_parent: org.into(),
        client_id: "test-vendor".into(),
        ..Actor::default()
    }
}

pub fn personnel(org: &str) -> Actor {
    Actor {
        kind: ActorKind::Personnel as i32,
        hpr_number: "9144900".into(),
        name: "Kari Nordmann".into(),
        org_parent: org.into(),
        client_id: "test-epj".into(),
        ..Actor::default()
    }
}

pub fn citizen(pid: &str) -> Actor {
    Actor {
        kind: ActorKind::Citizen as i32,
        pid: pid.into(),
        ..Actor::default()
    }
}

/// A write event: `count` measurements of `code` for `patient` from `org`.
pub fn write(org: &str, patient: &str, code: &str, count: i64, time: i64) -> AuditEvent {
    let mut event = base(
        Action::Create,
        Outcome::Success,
        time,
        system(org),
        Some(patient),
    );
    event.entities = vec![Entity {
        resource_type: "Observation".into(),
        code: code.into(),
        count,
        ids: Vec::new(),
    }];
    event
}

/// A search by health personnel of `org` with purpose TREAT.
pub fn search(org: &str, patient: &str, outcome: Outcome, time: i64) -> AuditEvent {
    let mut event = base(Action::Search, outcome, time, personnel(org), Some(patient));
    event.purpose = Some(Purpose {
        purpose_of_use: "TREAT".into(),
        ..Purpose::default()
    });
    event
}

/// A citizen opening their own data.
pub fn citizen_read(pid: &str, time: i64) -> AuditEvent {
    base(
        Action::Search,
        Outcome::Success,
        time,
        citizen(pid),
        Some(pid),
    )
}

pub fn block(pid: &str, time: i64) -> AuditEvent {
    base(
        Action::Block,
        Outcome::Success,
        time,
        citizen(pid),
        Some(pid),
    )
}

/// Record events in the mesh's audit log as a PMD service would.
pub async fn record(mesh: &TestMesh, events: Vec<AuditEvent>) -> anyhow::Result<()> {
    let token = mesh.token(&TokenRequest::service("statistics-test"));
    for chunk in events.chunks(1000) {
        mesh.audit()
            .record(with_token(
                RecordRequest {
                    events: chunk.to_vec(),
                },
                &token,
            ))
            .await
            .context("recording audit events")?;
    }
    Ok(())
}

/// The audit log's head seq (seqs are dense from 1).
pub async fn audit_head(mesh: &TestMesh) -> anyhow::Result<i64> {
    mesh.count_rows("audit", "audit_events").await
}

/// The statistics database of the mesh.
pub async fn mesh_statistics_db(mesh: &TestMesh) -> anyhow::Result<Database> {
    let url = match &mesh.database {
        Some(db) => db.url.clone(),
        None => pmd_db::sqlite_url(mesh.data_dir.path(), "statistics"),
    };
    Ok(Database::connect(&url, "pmd_statistics", PoolSize { max: 2, min: 1 }).await?)
}

/// Wait until the follower of `db` has applied everything up to `head`.
pub async fn wait_caught_up(db: &Database, head: i64) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let seq = pmd_statistics::inspect::checkpoint_seq(db).await?;
        if seq >= head {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("statistics checkpoint {seq} did not reach the audit head {head}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Wait until the mesh's statistics have every audit event, including those still in the
/// storage and consent outboxes.
pub async fn settle(mesh: &TestMesh) -> anyhow::Result<Database> {
    let db = mesh_statistics_db(mesh).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let pending = mesh.count_rows("storage", "audit_outbox").await?
            + mesh.count_rows("consent", "audit_outbox").await?;
        let head = audit_head(mesh).await?;
        if pending == 0 {
            wait_caught_up(&db, head).await?;
            if audit_head(mesh).await? == head
                && mesh.count_rows("storage", "audit_outbox").await? == 0
                && mesh.count_rows("consent", "audit_outbox").await? == 0
            {
                return Ok(db);
            }
        }
        if tokio::time::Instant::now() > deadline {
            bail!("audit outboxes did not drain");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A statistics instance of the test's own, following the mesh's audit log.
pub struct OwnStatistics {
    pub grpc: std::net::SocketAddr,
    trigger: ShutdownTrigger,
    task: tokio::task::JoinHandle<Result<(), StartError>>,
}

impl OwnStatistics {
    /// Start one on `database_url`, applying at most `batch` events per transaction.
    pub async fn start(mesh: &TestMesh, database_url: &str, batch: usize) -> anyhow::Result<Self> {
        Self::start_with(
            mesh,
            database_url,
            batch,
            &format!("http://{}", mesh.addrs.audit),
        )
        .await
    }

    /// The same, reaching audit at `audit_url` (a fault proxy).
    pub async fn start_with(
        mesh: &TestMesh,
        database_url: &str,
        batch: usize,
        audit_url: &str,
    ) -> anyhow::Result<Self> {
        let args = vec![
            "pmd-statistics".to_owned(),
            "--grpc-addr=127.0.0.1:0".into(),
            "--admin-addr=127.0.0.1:0".into(),
            format!("--database-url={database_url}"),
            format!("--audit-url={audit_url}"),
            format!("--export-hmac-key={MESH_KEY}"),
            format!("--follow-batch-events={batch}"),
            "--follow-batch-millis=20".into(),
            "--drain-timeout-secs=1".into(),
        ];
        let config: pmd_statistics::StatisticsConfig = pmd_config::parse(args, &HashMap::new())?;
        let issuer = mesh.issuer.clone();
        let context = pmd_server::Context {
            verifier: pmd_auth::Verifier::new(pmd_auth::VerifierConfig::new(vec![
                mesh.issuer.trusted_issuer(),
            ])),
            credentials: ServiceCredentials::minted(move || {
                issuer
                    .mint(&TokenRequest::service("statistics"))
                    .map_err(|e| e.to_string())
            }),
        };
        let app = pmd_statistics::build(config, context).await?;
        let grpc = app.grpc_addr();
        let (trigger, signal) = pmd_server::shutdown_channel();
        let task = tokio::spawn(app.run_until_stopped(signal));
        Ok(Self {
            grpc,
            trigger,
            task,
        })
    }

    /// Stop it (the follower is aborted wherever it is).
    pub async fn stop(self) -> anyhow::Result<()> {
        self.trigger.trigger();
        self.task.await??;
        Ok(())
    }
}
