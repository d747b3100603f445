//! `ingestion`: validates and normalises what sources push (FHIR Observations), then hands
//! the result to `storage`. It owns the validation rules and no tables.

mod config;
mod grpc;
mod submit;
pub mod validate;

pub use config::IngestionConfig;

use pmd_proto::ingestion::v1::ingestion_service_server::IngestionServiceServer;
use pmd_proto::storage::v1::storage_service_client::StorageServiceClient;
use pmd_server::{Channel, GrpcApp, GrpcAppParts, Listeners, StartError, connect_lazy};
use tonic::service::Routes;

/// Fully qualified name reported by `grpc.health.v1`.
pub const SERVICE_NAME: &str = pmd_proto::ingestion::v1::ingestion_service_server::SERVICE_NAME;

#[derive(Clone)]
pub(crate) struct State {
    storage: StorageServiceClient<Channel>,
    ids: pmd_domain::IdPolicy,
}

/// Validate the configuration and bind: a service ready to serve.
pub async fn build(
    config: IngestionConfig,
    context: pmd_server::Context,
) -> Result<GrpcApp, StartError> {
    config.validate(false)?;
    let listeners = Listeners::bind(&config.grpc_addr, &config.admin_addr).await?;
    let timeout = config.common.request_timeout();
    let storage = StorageServiceClient::new(connect_lazy(
        config.storage_url.as_deref().unwrap_or_default(),
        timeout,
    )?);
    let ids = pmd_domain::IdPolicy {
        allow_synthetic: config.common.allow_synthetic_ids,
        ..pmd_domain::IdPolicy::default()
    };
    let state = State { storage, ids };
    let routes = Routes::new(IngestionServiceServer::new(grpc::Grpc { state }));
    GrpcApp::new(GrpcAppParts {
        name: "ingestion",
        listeners,
        routes,
        health_names: vec![SERVICE_NAME],
        verifier: context.verifier.clone(),
        request_timeout: timeout,
        drain_timeout: config.common.drain_timeout(),
    })
}
