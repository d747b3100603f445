//! `consent`: citizens' blocks of health personnel and organisations, access decisions, and
//! the decision cache it alone writes and invalidates.

mod config;
mod grpc;
mod migrations;

pub use config::ConsentConfig;
pub use migrations::MIGRATIONS;

use pmd_db::{Database, PoolSize};
use pmd_proto::audit::v1::audit_service_client::AuditServiceClient;
use pmd_proto::consent::v1::consent_service_server::ConsentServiceServer;
use pmd_server::{Channel, GrpcApp, GrpcAppParts, Listeners, StartError, connect_lazy};
use tonic::service::Routes;

/// Fully qualified name reported by `grpc.health.v1`.
pub const SERVICE_NAME: &str = pmd_proto::consent::v1::consent_service_server::SERVICE_NAME;
/// PostgreSQL schema (and SQLite file name) this service owns.
pub const SCHEMA: &str = "pmd_consent";

#[derive(Clone)]
pub(crate) struct State {
    #[allow(dead_code)]
    db: Database,
    #[allow(dead_code)]
    audit: AuditServiceClient<Channel>,
}

/// Validate the configuration, bind, connect, migrate: a service ready to serve.
pub async fn build(
    config: ConsentConfig,
    context: pmd_server::Context,
) -> Result<GrpcApp, StartError> {
    config.validate(false)?;
    let listeners = Listeners::bind(&config.grpc_addr, &config.admin_addr).await?;
    let database_url = config.database_url.as_deref().unwrap_or_default();
    let db = Database::connect(database_url, SCHEMA, PoolSize::default()).await?;
    pmd_db::migrate(&db, MIGRATIONS).await?;
    let timeout = config.common.request_timeout();
    let audit = AuditServiceClient::new(connect_lazy(
        config.audit_url.as_deref().unwrap_or_default(),
        timeout,
    )?);
    let state = State { db, audit };
    let routes = Routes::new(ConsentServiceServer::new(grpc::Grpc { state }));
    GrpcApp::new(GrpcAppParts {
        name: "consent",
        listeners,
        routes,
        health_names: vec![SERVICE_NAME],
        verifier: context.verifier.clone(),
        request_timeout: timeout,
        drain_timeout: config.common.drain_timeout(),
    })
}
