//! How every gRPC service starts, serves and stops: bind (a pre-bound listener, port 0 in
//! tests), serve `grpc.health.v1` and reflection beside the service, wait for the signal,
//! mark not-serving, drain in-flight calls under a timeout.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::Routes;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::{ShutdownSignal, StartError};

/// The two listeners of a gRPC service: the gRPC port and the admin port (`/metrics`).
#[derive(Debug)]
pub struct Listeners {
    pub grpc: TcpListener,
    pub admin: TcpListener,
}

impl Listeners {
    /// Bind both addresses (`127.0.0.1:0` picks free ports).
    pub async fn bind(grpc_addr: &str, admin_addr: &str) -> Result<Self, StartError> {
        let grpc = bind(grpc_addr).await?;
        let admin = bind(admin_addr).await?;
        Ok(Self { grpc, admin })
    }
}

/// Bind one TCP address, naming it in the error.
pub async fn bind(addr: &str) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind {
            addr: addr.to_owned(),
            source,
        })
}

/// A built gRPC service, bound and ready to serve.
pub struct GrpcApp {
    name: &'static str,
    listeners: Listeners,
    grpc_addr: SocketAddr,
    admin_addr: SocketAddr,
    routes: Routes,
    /// Fully qualified gRPC service names reported by `grpc.health.v1`.
    health_names: Vec<&'static str>,
    health: HealthReporter,
    verifier: pmd_auth::Verifier,
    request_timeout: Duration,
    drain_timeout: Duration,
    background: Vec<tokio::task::JoinHandle<()>>,
}

/// What a service hands to [`GrpcApp::new`].
pub struct GrpcAppParts {
    /// Short name used in logs and metrics: `storage`, `audit`, ...
    pub name: &'static str,
    pub listeners: Listeners,
    /// The service's own gRPC services (health and reflection are added here).
    pub routes: Routes,
    pub health_names: Vec<&'static str>,
    pub verifier: pmd_auth::Verifier,
    pub request_timeout: Duration,
    pub drain_timeout: Duration,
}

impl GrpcApp {
    pub fn new(parts: GrpcAppParts) -> Result<Self, StartError> {
        let grpc_addr = parts.listeners.grpc.local_addr().map_err(StartError::Io)?;
        let admin_addr = parts.listeners.admin.local_addr().map_err(StartError::Io)?;
        let (health, health_service) = tonic_health::server::health_reporter();
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pmd_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| StartError::Other(format!("reflection: {e}")))?;
        let routes = parts
            .routes
            .add_service(health_service)
            .add_service(reflection);
        Ok(Self {
            name: parts.name,
            listeners: parts.listeners,
            grpc_addr,
            admin_addr,
            routes,
            health_names: parts.health_names,
            health,
            verifier: parts.verifier,
            request_timeout: parts.request_timeout,
            drain_timeout: parts.drain_timeout,
            background: Vec::new(),
        })
    }

    /// A task that lives as long as the service (an outbox relay, a follower); aborted at stop.
    pub fn spawn_background(&mut self, task: tokio::task::JoinHandle<()>) {
        self.background.push(task);
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Serve until `shutdown` fires, then report NOT_SERVING, stop accepting, and give
    /// in-flight calls up to the drain timeout.
    pub async fn run_until_stopped(self, shutdown: ShutdownSignal) -> Result<(), StartError> {
        let Self {
            name,
            listeners,
            grpc_addr,
            admin_addr,
            routes,
            health_names,
            health,
            verifier,
            request_timeout,
            drain_timeout,
            background,
        } = self;
        health.set_service_status("", ServingStatus::Serving).await;
        for service in &health_names {
            health
                .set_service_status(service, ServingStatus::Serving)
                .await;
        }
        tracing::info!(service = name, %grpc_addr, %admin_addr, "serving gRPC");

        let admin = tokio::spawn(pmd_telemetry::serve_admin(
            listeners.admin,
            axum::Router::new(),
            shutdown.clone().wait(),
        ));

        // The layers, outermost first:
        // 1. trace: every call gets a span (W3C parent from `traceparent`) and metrics, even
        //    ones refused below;
        // 2. timeout: a call without its own deadline gets the default one;
        // 3. load shed + concurrency limit: refuse quickly rather than queue without bound;
        // 4. auth: the bearer token is verified and the Principal put in the extensions
        //    (health and reflection stay open for probes).
        let layers = tower::ServiceBuilder::new()
            .layer(pmd_telemetry::grpc_trace_layer(name))
            .layer(pmd_auth::AuthLayer::grpc(verifier).allow_anonymous(pmd_auth::grpc_public_path));
        let health_for_stop = health.clone();
        let names_for_stop = health_names.clone();
        let stop = shutdown.clone();
        let on_shutdown = async move {
            stop.wait().await;
            tracing::info!(service = name, "shutting down: not serving, draining");
            health_for_stop
                .set_service_status("", ServingStatus::NotServing)
                .await;
            for service in &names_for_stop {
                health_for_stop
                    .set_service_status(service, ServingStatus::NotServing)
                    .await;
            }
        };
        let server = tonic::transport::Server::builder()
            .timeout(request_timeout)
            .concurrency_limit_per_connection(1024)
            .layer(layers)
            .add_routes(routes)
            .serve_with_incoming_shutdown(no_delay(listeners.grpc), on_shutdown);
        tokio::pin!(server);
        let result = tokio::select! {
            result = &mut server => result,
            () = async { shutdown.clone().wait().await; tokio::time::sleep(drain_timeout).await } => {
                tracing::warn!(service = name, ?drain_timeout, "drain timeout reached; closing remaining calls");
                Ok(())
            }
        };
        for task in &background {
            task.abort();
        }
        // Wait until the aborted tasks are gone, so nothing of this service still runs when
        // it reports stopped.
        for task in background {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        admin.abort();
        result.map_err(|e| StartError::Other(format!("grpc server: {e}")))?;
        tracing::info!(service = name, "stopped");
        Ok(())
    }
}

/// Accepted connections with TCP_NODELAY set (tonic sets it only on listeners it binds
/// itself): without it a response's small HTTP/2 frames wait for the caller's delayed ACK,
/// up to 40 ms per call on loopback.
fn no_delay(
    listener: tokio::net::TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt as _;
    TcpListenerStream::new(listener).map(|accepted| {
        let stream = accepted?;
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY could not be set on a connection");
        }
        Ok(stream)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokio_stream::StreamExt as _;

    #[tokio::test]
    async fn accepted_connections_have_nodelay_set() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut incoming = Box::pin(super::no_delay(listener));
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let accepted = incoming.next().await.unwrap().unwrap();
        assert!(accepted.nodelay().unwrap());
    }
}
