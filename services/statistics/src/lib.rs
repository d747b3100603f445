//! `statistics`: aggregates built from the audit stream (exactly once), adoption indicators
//! and a de-identified export. It never stores a national id or a name.
//!
//! Code map:
//! - `follow`: the one task that follows the audit stream and applies it in batches;
//! - `facts`: what one audit event contributes (pseudonyms are made here);
//! - `store`: the SQL for both engines, the exactly-once transaction;
//! - `usage`, `adoption`: the answers, with small-cell suppression;
//! - `suppress`: primary and secondary suppression (pure);
//! - `period`: calendar buckets and frames (pure);
//! - `pseudonym`: keyed HMAC pseudonyms (pure);
//! - `orgs`: organisation kind, municipality and region (pure);
//! - `export`: the CSV stream;
//! - `grpc`: the gRPC surface and who may call it.

mod adoption;
mod config;
mod export;
mod facts;
mod follow;
mod grpc;
mod migrations;
mod orgs;
mod period;
mod pseudonym;
mod store;
mod suppress;
mod usage;

use std::sync::Arc;
use std::time::Duration;

pub use config::StatisticsConfig;
pub use migrations::MIGRATIONS;

use pmd_db::{Database, PoolSize};
use pmd_orgs::Register;
use pmd_proto::audit::v1::audit_service_client::AuditServiceClient;
use pmd_proto::statistics::v1::statistics_service_server::StatisticsServiceServer;
use pmd_server::{
    Channel, GrpcApp, GrpcAppParts, Listeners, ServiceCredentials, StartError, connect_lazy,
};
use tonic::service::Routes;

use crate::pseudonym::Pseudonymizer;

/// Fully qualified name reported by `grpc.health.v1`.
pub const SERVICE_NAME: &str = pmd_proto::statistics::v1::statistics_service_server::SERVICE_NAME;
/// PostgreSQL schema (and SQLite file name) this service owns.
pub const SCHEMA: &str = "pmd_statistics";

#[derive(Clone)]
pub(crate) struct State {
    db: Database,
    audit: AuditServiceClient<Channel>,
    credentials: ServiceCredentials,
    register: Register,
    pseudonyms: Arc<Pseudonymizer>,
}

/// Validate the configuration, bind, connect, migrate, start the follower: a service ready
/// to serve.
pub async fn build(
    config: StatisticsConfig,
    context: pmd_server::Context,
) -> Result<GrpcApp, StartError> {
    config.validate(false)?;
    let register = Register::from_config(config.org_register.as_deref())
        .map_err(|e| StartError::Other(e.to_string()))?;
    let listeners = Listeners::bind(&config.grpc_addr, &config.admin_addr).await?;
    let database_url = config.database_url.as_deref().unwrap_or_default();
    let db = Database::connect(database_url, SCHEMA, PoolSize::default()).await?;
    pmd_db::migrate(&db, MIGRATIONS).await?;
    let timeout = config.common.request_timeout();
    let audit = AuditServiceClient::new(connect_lazy(
        config.audit_url.as_deref().unwrap_or_default(),
        timeout,
    )?);
    let secret = config
        .export_hmac_key
        .as_ref()
        .ok_or_else(|| StartError::Other("--export-hmac-key is required".into()))?;
    let pseudonyms = Arc::new(Pseudonymizer::new(secret.expose().as_bytes()));
    let state = State {
        db: db.clone(),
        audit: audit.clone(),
        credentials: context.credentials.clone(),
        register: register.clone(),
        pseudonyms: pseudonyms.clone(),
    };
    let follower = follow::Follower {
        db,
        audit,
        credentials: context.credentials.clone(),
        register,
        pseudonyms,
        batch_events: config.follow_batch_events,
        batch_wait: Duration::from_millis(config.follow_batch_millis),
    };
    let routes = Routes::new(StatisticsServiceServer::new(grpc::Grpc { state }));
    let mut app = GrpcApp::new(GrpcAppParts {
        name: "statistics",
        listeners,
        routes,
        health_names: vec![SERVICE_NAME],
        verifier: context.verifier.clone(),
        request_timeout: timeout,
        drain_timeout: config.common.drain_timeout(),
    })?;
    app.spawn_background(follower.spawn());
    Ok(app)
}

/// Read-only views of the service's database for tests and tools (the benchmark's lag
/// figure): no personal data passes through them.
pub mod inspect {
    use pmd_db::Database;
    use pmd_db::sea_orm::DbErr;

    /// The last audit seq the follower applied (0 = none).
    pub async fn checkpoint_seq(db: &Database) -> Result<i64, DbErr> {
        Ok(crate::store::checkpoint(db).await?.last_seq)
    }

    /// The last audit seq applied and that event's time (Unix microseconds).
    pub async fn checkpoint(db: &Database) -> Result<(i64, i64), DbErr> {
        let checkpoint = crate::store::checkpoint(db).await?;
        Ok((checkpoint.last_seq, checkpoint.last_event_micros))
    }

    /// Every count row, and the numbers of distinct members and event rows: equal
    /// fingerprints mean equal aggregates.
    pub async fn fingerprint(
        db: &Database,
    ) -> Result<(std::collections::BTreeSet<String>, i64, i64), DbErr> {
        crate::store::fingerprint(db).await
    }
}

/// Apply audit events directly, as the follower does (exactly once): for tests that replay
/// ranges, and tools.
pub mod replay {
    use pmd_db::Database;
    use pmd_db::sea_orm::DbErr;
    use pmd_orgs::Register;
    use pmd_proto::audit::v1::AuditEvent;

    /// Apply `events` (seq order); returns how many were new.
    pub async fn apply(
        db: &Database,
        events: &[AuditEvent],
        register: &Register,
        secret: &str,
    ) -> Result<usize, DbErr> {
        let pseudonyms = crate::pseudonym::Pseudonymizer::new(secret.as_bytes());
        match crate::store::apply(db, events, register, &pseudonyms).await? {
            crate::store::Applied::New { events, .. } => Ok(events),
            _ => Ok(0),
        }
    }
}
