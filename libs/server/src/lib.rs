//! The start/serve/stop lifecycle every PMD service shares, the flags they share, and the
//! typed gRPC clients they use to call each other (with deadlines, trace context and the
//! caller's token).

mod actor;
mod args;
mod client;
mod credentials;
mod grpc;
mod shutdown;
mod standalone;

pub use actor::{actor, purpose};
pub use args::CommonArgs;
pub use client::{Channel, connect_lazy};
pub use credentials::{Context, ServiceCredentials};
pub use grpc::{GrpcApp, GrpcAppParts, Listeners, bind};
pub use shutdown::{ShutdownSignal, ShutdownTrigger, os_signal, shutdown_channel};
pub use standalone::{run_standalone, telemetry_config, verifier_from_args};

/// Why a service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] pmd_config::ConfigError),
    #[error(transparent)]
    Database(#[from] pmd_db::DbError),
    #[error("i/o error: {0}")]
    Io(#[source] std::io::Error),
    #[error("{0}")]
    Other(String),
}
