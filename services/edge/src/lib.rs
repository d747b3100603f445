//! `edge`: REST (FHIR R4) ↔ gRPC translation, authentication, limits, OpenAPI. It holds
//! nothing durable.

pub mod audit_fhir;
mod config;
pub mod consent_fhir;
mod error;
mod openapi;
mod render;
pub mod routes;
pub mod search;
mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use config::EdgeConfig;
pub use error::{ApiError, FHIR_JSON};
pub use openapi::ApiDoc;
use pmd_server::{ShutdownSignal, StartError};
use tokio::net::TcpListener;
pub use upstream::{Upstream, Upstreams};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub verifier: pmd_auth::Verifier,
    pub upstreams: Upstreams,
    /// Which national ids are accepted in search parameters and Consents.
    pub ids: pmd_domain::IdPolicy,
    /// The external base URL for links, when configured (else taken from `Host`).
    pub public_base_url: Option<String>,
    /// Organisation numbers → names, for the citizen's log of use.
    pub orgs: pmd_orgs::Register,
    /// The citizen portal's demo sign-in: only in the embedded mode (`pmd up`), never in
    /// `pmd-edge` on its own.
    pub dev_sign_in: Option<Arc<DevSignIn>>,
}

/// The embedded mode's development sign-in for the citizen portal: the dev token issuer and
/// the synthetic citizens one may sign in as. `Debug` prints neither key nor ids.
#[derive(Clone)]
pub struct DevSignIn {
    pub issuer: pmd_auth::DevIssuer,
    pub citizens: Vec<DemoCitizen>,
}

impl std::fmt::Debug for DevSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevSignIn")
            .field("citizens", &self.citizens.len())
            .finish_non_exhaustive()
    }
}

/// A synthetic demo citizen of the embedded mode.
#[derive(Clone)]
pub struct DemoCitizen {
    /// Synthetic national id.
    pub pid: String,
    /// What the citizen is followed up for (Norwegian), shown at sign-in.
    pub follow_up: String,
}

/// What only the embedded mode gives the edge.
#[derive(Debug, Clone, Default)]
pub struct EdgeOptions {
    pub dev_sign_in: Option<DevSignIn>,
}

/// The edge, bound and ready to serve.
pub struct EdgeApp {
    listener: TcpListener,
    addr: SocketAddr,
    router: axum::Router,
    drain_timeout: Duration,
}

/// Validate the configuration, bind, prepare channels to the services.
pub async fn build(
    config: EdgeConfig,
    verifier: pmd_auth::Verifier,
) -> Result<EdgeApp, StartError> {
    build_with(config, verifier, EdgeOptions::default()).await
}

/// [`build`] with what only the embedded mode supplies (the portal's demo sign-in).
pub async fn build_with(
    config: EdgeConfig,
    verifier: pmd_auth::Verifier,
    options: EdgeOptions,
) -> Result<EdgeApp, StartError> {
    config.validate(false)?;
    let orgs = pmd_orgs::Register::from_config(config.org_register.as_deref())
        .map_err(|e| StartError::Other(e.to_string()))?;
    let listener = pmd_server::bind(&config.http_addr).await?;
    let addr = listener.local_addr().map_err(StartError::Io)?;
    let upstreams = Upstreams::connect(&config)?;
    let state = AppState {
        verifier,
        upstreams,
        ids: pmd_domain::IdPolicy {
            allow_synthetic: config.common.allow_synthetic_ids,
            ..pmd_domain::IdPolicy::default()
        },
        public_base_url: config.public_base_url.clone(),
        orgs,
        dev_sign_in: options.dev_sign_in.map(Arc::new),
    };
    let router = routes::router(
        state,
        config.common.request_timeout(),
        config.max_body_bytes,
        config.max_concurrent_requests,
    );
    Ok(EdgeApp {
        listener,
        addr,
        router,
        drain_timeout: config.common.drain_timeout(),
    })
}

impl EdgeApp {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serve until `shutdown`, then stop accepting and let in-flight requests finish within
    /// the drain timeout.
    pub async fn run_until_stopped(self, shutdown: ShutdownSignal) -> Result<(), StartError> {
        tracing::info!(addr = %self.addr, "serving HTTP");
        let drain = self.drain_timeout;
        // TCP_NODELAY: a response's small frames must not wait for the peer's delayed ACK
        // (Nagle), which costs up to 40 ms per request on an otherwise idle connection.
        let listener = axum::serve::ListenerExt::tap_io(self.listener, |stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "TCP_NODELAY could not be set on a connection");
            }
        });
        let server =
            axum::serve(listener, self.router).with_graceful_shutdown(shutdown.clone().wait());
        tokio::select! {
            result = server => result.map_err(StartError::Io)?,
            () = async { shutdown.wait().await; tokio::time::sleep(drain).await } => {
                tracing::warn!(?drain, "drain timeout reached; closing remaining requests");
            }
        }
        tracing::info!("edge stopped");
        Ok(())
    }
}
