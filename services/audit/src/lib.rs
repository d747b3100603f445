//! `audit`: the append-only, hash-chained event log. Every read, write, denial, block and
//! export is recorded here before data leaves.

mod config;
mod grpc;
mod migrations;

pub use config::AuditConfig;
pub use migrations::MIGRATIONS;

use pmd_db::{Database, PoolSize};
use pmd_proto::audit::v1::audit_service_server::AuditServiceServer;
use pmd_server::{GrpcApp, GrpcAppParts, Listeners, StartError};
use tonic::service::Routes;

/// Fully qualified name reported by `grpc.health.v1`.
pub const SERVICE_NAME: &str = pmd_proto::audit::v1::audit_service_server::SERVICE_NAME;
/// PostgreSQL schema (and SQLite file name) this service owns.
pub const SCHEMA: &str = "pmd_audit";

#[derive(Clone)]
pub(crate) struct State {
    #[allow(dead_code)]
    db: Database,
    #[allow(dead_code)]
    checkpoint_dir: std::path::PathBuf,
}

/// Validate the configuration, bind, connect, migrate: a service ready to serve.
pub async fn build(
    config: AuditConfig,
    context: pmd_server::Context,
) -> Result<GrpcApp, StartError> {
    config.validate(false)?;
    let listeners = Listeners::bind(&config.grpc_addr, &config.admin_addr).await?;
    let database_url = config.database_url.as_deref().unwrap_or_default();
    let db = Database::connect(database_url, SCHEMA, PoolSize::default()).await?;
    pmd_db::migrate(&db, MIGRATIONS).await?;
    tokio::fs::create_dir_all(&config.checkpoint_dir)
        .await
        .map_err(StartError::Io)?;
    let state = State {
        db,
        checkpoint_dir: config.checkpoint_dir.clone(),
    };
    let routes = Routes::new(AuditServiceServer::new(grpc::Grpc { state }));
    GrpcApp::new(GrpcAppParts {
        name: "audit",
        listeners,
        routes,
        health_names: vec![SERVICE_NAME],
        verifier: context.verifier.clone(),
        request_timeout: config.common.request_timeout(),
        drain_timeout: config.common.drain_timeout(),
    })
}
