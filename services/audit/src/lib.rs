//! `audit`: the append-only, hash-chained event log. Every read, write, denial, block and
//! export is recorded here before data leaves.
//!
//! Code map:
//! - `grpc`: the gRPC surface and who may call what;
//! - `validate`: checking producers' events; the columns derived from an event;
//! - `chain`: the hash chain and its canonical encoding;
//! - `writer`: group commit, the only writer of the chain;
//! - `store`: the SQL for both engines;
//! - `query`: the citizen's log, cursor-paged;
//! - `verify`: recomputing the chain and naming the first problem;
//! - `checkpoint`: signed checkpoints of the head, outside the database;
//! - `follow`: the event stream for followers (statistics).

mod chain;
mod checkpoint;
mod config;
mod follow;
mod grpc;
mod migrations;
mod query;
mod store;
mod validate;
mod verify;
mod writer;

use std::sync::Arc;

pub use config::AuditConfig;
pub use migrations::MIGRATIONS;

use pmd_db::{Database, DbError, PoolSize};
use pmd_proto::audit::v1::audit_service_server::AuditServiceServer;
use pmd_server::{GrpcApp, GrpcAppParts, Listeners, StartError};
use tokio::sync::watch;
use tonic::service::Routes;

use crate::chain::Head;
use crate::checkpoint::Checkpoints;
use crate::writer::Writer;

/// Fully qualified name reported by `grpc.health.v1`.
pub const SERVICE_NAME: &str = pmd_proto::audit::v1::audit_service_server::SERVICE_NAME;
/// PostgreSQL schema (and SQLite file name) this service owns.
pub const SCHEMA: &str = "pmd_audit";

#[derive(Clone)]
pub(crate) struct State {
    db: Database,
    writer: Writer,
    /// The head the writer last committed; changes wake followers.
    head: watch::Receiver<Head>,
    checkpoints: Arc<Checkpoints>,
}

/// Validate the configuration, bind, connect, migrate, start the writer and the
/// checkpointer: a service ready to serve.
pub async fn build(
    config: AuditConfig,
    context: pmd_server::Context,
) -> Result<GrpcApp, StartError> {
    config.validate(false)?;
    let listeners = Listeners::bind(&config.grpc_addr, &config.admin_addr).await?;
    let database_url = config.database_url.as_deref().unwrap_or_default();
    let db = Database::connect(database_url, SCHEMA, PoolSize::default()).await?;
    pmd_db::migrate(&db, MIGRATIONS).await?;
    let dir = config.checkpoint_dir.clone();
    let checkpoints = tokio::task::spawn_blocking(move || Checkpoints::open(&dir))
        .await
        .map_err(|e| StartError::Other(format!("opening the checkpoint directory: {e}")))?
        .map_err(|e| {
            StartError::Other(format!(
                "checkpoint directory {}: {e}",
                config.checkpoint_dir.display()
            ))
        })?;
    let checkpoints = Arc::new(checkpoints);
    let head = store::read_head(db.conn(), db.backend())
        .await
        .map_err(DbError::Query)?;
    tracing::info!(head_seq = head.seq, "audit chain head");
    let (head_tx, head_rx) = watch::channel(head);
    let (writer, writer_task) = Writer::spawn(db.clone(), head_tx);
    let checkpointer = checkpoint::spawn_checkpointer(checkpoints.clone(), head_rx.clone());
    let state = State {
        db,
        writer,
        head: head_rx,
        checkpoints,
    };
    let routes = Routes::new(AuditServiceServer::new(grpc::Grpc { state }));
    let app = GrpcApp::new(GrpcAppParts {
        name: "audit",
        listeners,
        routes,
        health_names: vec![SERVICE_NAME],
        verifier: context.verifier.clone(),
        request_timeout: config.common.request_timeout(),
        drain_timeout: config.common.drain_timeout(),
    });
    match app {
        Ok(mut app) => {
            app.spawn_background(writer_task);
            app.spawn_background(checkpointer);
            Ok(app)
        }
        Err(error) => {
            writer_task.abort();
            checkpointer.abort();
            Err(error)
        }
    }
}
