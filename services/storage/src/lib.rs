//! `storage`: owns the measurements. Appends idempotently with an audit outbox in the same
//! transaction; every read is consent-checked and audited here, where the data is held.

mod append;
mod config;
mod grpc;
mod migrations;
mod partitions;
mod read;
mod relay;

pub use config::StorageConfig;
pub use migrations::MIGRATIONS;

use pmd_consent_cache::DecisionCache;
use pmd_db::{Database, PoolSize};
use pmd_proto::audit::v1::audit_service_client::AuditServiceClient;
use pmd_proto::consent::v1::consent_service_client::ConsentServiceClient;
use pmd_proto::storage::v1::storage_service_server::StorageServiceServer;
use pmd_server::{GrpcApp, GrpcAppParts, Listeners, StartError, connect_lazy};
use tonic::service::Routes;

/// Fully qualified name reported by `grpc.health.v1`.
pub const SERVICE_NAME: &str = pmd_proto::storage::v1::storage_service_server::SERVICE_NAME;
/// PostgreSQL schema (and SQLite file name) this service owns.
pub const SCHEMA: &str = "pmd_storage";

/// What the RPCs share.
#[derive(Clone)]
pub(crate) struct State {
    db: Database,
    /// Wakes the outbox relay after a commit that wrote audit events.
    relay_wake: std::sync::Arc<tokio::sync::Notify>,
    /// Consent decisions and audit records for every read.
    gate: read::access::Gate,
    /// Seals the search cursors.
    cursor_key: read::cursor::CursorKey,
}

/// Validate the configuration, bind, connect, migrate: a service ready to serve. The
/// decision cache is Redis when `--redis-url` is given, else none (every read asks consent).
pub async fn build(
    config: StorageConfig,
    context: pmd_server::Context,
) -> Result<GrpcApp, StartError> {
    config.validate(false)?;
    let cache = match &config.redis_url {
        Some(url) => DecisionCache::redis(url, config.secret().as_bytes(), config.cache_ttl())
            .map_err(|e| StartError::Other(format!("consent cache: {e}")))?,
        None => DecisionCache::disabled(),
    };
    build_with_cache(config, context, cache).await
}

/// [`build`] with a given decision cache (the embedded mode shares one in-process cache
/// between consent and storage).
pub async fn build_with_cache(
    config: StorageConfig,
    context: pmd_server::Context,
    cache: DecisionCache,
) -> Result<GrpcApp, StartError> {
    config.validate(false)?;
    // Connect to the decision cache now rather than on the first read (which would miss).
    let warm = cache.clone();
    tokio::spawn(async move {
        if let Err(error) = warm.connect().await {
            tracing::warn!(%error, "consent cache not reachable yet; reads ask consent until it is");
        }
    });
    let listeners = Listeners::bind(&config.grpc_addr, &config.admin_addr).await?;
    let database_url = config.database_url.as_deref().unwrap_or_default();
    let db = Database::connect(database_url, SCHEMA, PoolSize::default()).await?;
    pmd_db::migrate(&db, MIGRATIONS).await?;
    partitions::ensure(&db).await;
    let timeout = config.common.request_timeout();
    let consent = ConsentServiceClient::new(connect_lazy(
        config.consent_url.as_deref().unwrap_or_default(),
        timeout,
    )?);
    let audit = AuditServiceClient::new(connect_lazy(
        config.audit_url.as_deref().unwrap_or_default(),
        timeout,
    )?);
    let relay_wake = std::sync::Arc::new(tokio::sync::Notify::new());
    let state = State {
        db: db.clone(),
        relay_wake: relay_wake.clone(),
        gate: read::access::Gate {
            cache,
            consent,
            audit: audit.clone(),
            credentials: context.credentials.clone(),
        },
        cursor_key: read::cursor::CursorKey::derive(config.secret().as_bytes()),
    };
    let routes = Routes::new(StorageServiceServer::new(grpc::Grpc { state }));
    let mut app = GrpcApp::new(GrpcAppParts {
        name: "storage",
        listeners,
        routes,
        health_names: vec![SERVICE_NAME],
        verifier: context.verifier.clone(),
        request_timeout: timeout,
        drain_timeout: config.common.drain_timeout(),
    })?;
    app.spawn_background(tokio::spawn(relay::run(
        db.clone(),
        audit,
        context.credentials.clone(),
        relay_wake,
    )));
    app.spawn_background(tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(24 * 3600)).await;
            partitions::ensure(&db).await;
        }
    }));
    Ok(app)
}
