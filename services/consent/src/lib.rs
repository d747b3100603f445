//! `consent`: citizens' blocks of health personnel and organisations, access decisions, and
//! the decision cache it alone writes and invalidates.
//!
//! Code map:
//! - `grpc`: the gRPC surface and who may call what;
//! - `check`: decisions from the database, written into the cache (compare-and-set);
//! - `blocks`: creating, revoking and listing blocks; a change is acknowledged only after
//!   the cache is invalidated and the change audited;
//! - `repair`: finishes changes whose invalidation or audit failed, until they succeed;
//! - `store`: the SQL for both engines; `validate`: request checks; `audit`: audit events.
//!
//! `docs/consent.md` explains why no stale permit can be served.

mod audit;
mod blocks;
mod check;
mod config;
mod grpc;
mod migrations;
mod repair;
mod store;
mod validate;

use std::sync::Arc;

pub use config::ConsentConfig;
pub use migrations::MIGRATIONS;
pub use pmd_consent_cache::DecisionCache;

use pmd_db::sea_orm::DbErr;
use pmd_db::{Database, PoolSize};
use pmd_domain::ident::IdPolicy;
use pmd_error::ServiceError;
use pmd_proto::audit::v1::audit_service_client::AuditServiceClient;
use pmd_proto::consent::v1::consent_service_server::ConsentServiceServer;
use pmd_server::{
    Channel, GrpcApp, GrpcAppParts, Listeners, ServiceCredentials, StartError, connect_lazy,
};
use tokio::sync::Notify;
use tonic::service::Routes;

/// Fully qualified name reported by `grpc.health.v1`.
pub const SERVICE_NAME: &str = pmd_proto::consent::v1::consent_service_server::SERVICE_NAME;
/// PostgreSQL schema (and SQLite file name) this service owns.
pub const SCHEMA: &str = "pmd_consent";

/// What the RPCs and the background task share.
#[derive(Clone)]
pub(crate) struct State {
    store: store::Store,
    cache: DecisionCache,
    audit: AuditServiceClient<Channel>,
    credentials: ServiceCredentials,
    id_policy: IdPolicy,
    /// Wakes the background task after a change could not be completed.
    repair_wake: Arc<Notify>,
    names: Arc<check::SeenNames>,
}

/// The decision cache the configuration asks for: the Redis cache (as its owner) with
/// `--redis-url`, else an in-process one.
pub fn cache_from_config(config: &ConsentConfig) -> Result<DecisionCache, StartError> {
    let ttl = config.cache_ttl();
    match &config.redis_url {
        Some(url) => {
            let secret = config
                .cache_secret
                .as_ref()
                .map(|s| s.expose().as_bytes().to_vec())
                .unwrap_or_default();
            DecisionCache::redis_owner(url, &secret, ttl)
                .map_err(|e| StartError::Other(format!("consent cache: {e}")))
        }
        None => {
            // In-process keys never leave the process: a random secret serves when none is
            // configured.
            let secret = match &config.cache_secret {
                Some(secret) => secret.expose().as_bytes().to_vec(),
                None => [
                    uuid::Uuid::new_v4().into_bytes(),
                    uuid::Uuid::new_v4().into_bytes(),
                ]
                .concat(),
            };
            Ok(DecisionCache::in_process(&secret, ttl))
        }
    }
}

/// Validate the configuration, bind, connect, migrate: a service ready to serve, with the
/// decision cache from the configuration ([`cache_from_config`]).
pub async fn build(
    config: ConsentConfig,
    context: pmd_server::Context,
) -> Result<GrpcApp, StartError> {
    config.validate(false)?;
    let cache = cache_from_config(&config)?;
    build_with_cache(config, context, cache).await
}

/// [`build`] with a given decision cache: the embedded mode hands consent and storage
/// clones of one in-process cache.
pub async fn build_with_cache(
    config: ConsentConfig,
    context: pmd_server::Context,
    cache: DecisionCache,
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
    tracing::info!(cache = cache.kind(), "consent decision cache");
    let state = State {
        store: store::Store::new(db),
        cache,
        audit,
        credentials: context.credentials.clone(),
        id_policy: IdPolicy {
            allow_synthetic: config.common.allow_synthetic_ids,
            rule_2032: false,
        },
        repair_wake: Arc::new(Notify::new()),
        names: Arc::new(check::SeenNames::default()),
    };
    let routes = Routes::new(ConsentServiceServer::new(grpc::Grpc {
        state: state.clone(),
    }));
    let mut app = GrpcApp::new(GrpcAppParts {
        name: "consent",
        listeners,
        routes,
        health_names: vec![SERVICE_NAME],
        verifier: context.verifier.clone(),
        request_timeout: timeout,
        drain_timeout: config.common.drain_timeout(),
    })?;
    app.spawn_background(tokio::spawn(repair::run(state)));
    Ok(app)
}

pub(crate) fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// A coarse, data-free description of a database error for logs (driver messages can
/// quote values, and values here are national ids).
pub(crate) fn db_error_kind(error: &DbErr) -> &'static str {
    match error {
        DbErr::ConnectionAcquire(_) => "connection pool exhausted or unreachable",
        DbErr::Conn(_) => "connection",
        DbErr::Exec(_) => "statement",
        DbErr::Query(_) => "query",
        DbErr::RecordNotFound(_) => "row missing",
        _ => "other",
    }
}

/// The database failed: the caller gets UNAVAILABLE (never a denial it could show).
pub(crate) fn db_error(error: DbErr) -> ServiceError {
    tracing::warn!(kind = db_error_kind(&error), "consent database error");
    ServiceError::unavailable("the consent database is unavailable")
}
