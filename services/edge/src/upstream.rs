//! Channels to the gRPC services behind the edge.

use std::time::Duration;

use pmd_server::{Channel, StartError, connect_lazy};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::EdgeConfig;

/// One downstream service: its name for people, its gRPC service name, its channel.
#[derive(Clone)]
pub struct Upstream {
    pub name: &'static str,
    pub grpc_service: &'static str,
    pub channel: Channel,
}

/// Every service the edge talks to.
#[derive(Clone)]
pub struct Upstreams {
    pub ingestion: Upstream,
    pub storage: Upstream,
    pub consent: Upstream,
    pub audit: Upstream,
    pub statistics: Upstream,
}

impl Upstreams {
    pub fn connect(config: &EdgeConfig) -> Result<Self, StartError> {
        let timeout = config.common.request_timeout();
        let make = |name, grpc_service, url: &Option<String>| -> Result<Upstream, StartError> {
            Ok(Upstream {
                name,
                grpc_service,
                channel: connect_lazy(url.as_deref().unwrap_or_default(), timeout)?,
            })
        };
        use pmd_proto::{audit, consent, ingestion, statistics, storage};
        Ok(Self {
            ingestion: make(
                "ingestion",
                ingestion::v1::ingestion_service_server::SERVICE_NAME,
                &config.ingestion_url,
            )?,
            storage: make(
                "storage",
                storage::v1::storage_service_server::SERVICE_NAME,
                &config.storage_url,
            )?,
            consent: make(
                "consent",
                consent::v1::consent_service_server::SERVICE_NAME,
                &config.consent_url,
            )?,
            audit: make(
                "audit",
                audit::v1::audit_service_server::SERVICE_NAME,
                &config.audit_url,
            )?,
            statistics: make(
                "statistics",
                statistics::v1::statistics_service_server::SERVICE_NAME,
                &config.statistics_url,
            )?,
        })
    }

    pub fn all(&self) -> [&Upstream; 5] {
        [
            &self.ingestion,
            &self.storage,
            &self.consent,
            &self.audit,
            &self.statistics,
        ]
    }
}

impl Upstream {
    /// Does the service answer SERVING for its own gRPC service name (within `timeout`)?
    pub async fn is_serving(&self, timeout: Duration) -> bool {
        let mut client = HealthClient::new(self.channel.clone());
        let mut request = tonic::Request::new(HealthCheckRequest {
            service: self.grpc_service.to_owned(),
        });
        request.set_timeout(timeout);
        match tokio::time::timeout(timeout, client.check(request)).await {
            Ok(Ok(response)) => response.into_inner().status == ServingStatus::Serving as i32,
            _ => false,
        }
    }
}
