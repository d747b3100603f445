//! Configuration of the ingestion service.

use pmd_config::{Problems, check_http_url, check_socket_addr};
use pmd_server::CommonArgs;

/// `pmd-ingestion`: validation and normalisation of what sources push.
#[derive(clap::Parser, Debug, Clone)]
#[command(name = "pmd-ingestion", version, about)]
pub struct IngestionConfig {
    /// gRPC listen address.
    #[arg(long, default_value = "0.0.0.0:50051")]
    pub grpc_addr: String,
    /// Admin listen address (`/metrics`).
    #[arg(long, default_value = "0.0.0.0:9101")]
    pub admin_addr: String,
    /// gRPC URL of the storage service.
    #[arg(long)]
    pub storage_url: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl IngestionConfig {
    /// Every problem at once.
    pub fn validate(&self, needs_issuer: bool) -> Result<(), pmd_config::ConfigError> {
        let mut problems = Problems::new();
        check_socket_addr(&mut problems, "grpc-addr", &self.grpc_addr);
        check_socket_addr(&mut problems, "admin-addr", &self.admin_addr);
        match &self.storage_url {
            Some(url) => check_http_url(&mut problems, "storage-url", url),
            None => problems.push("--storage-url is required"),
        }
        self.common.validate(&mut problems, needs_issuer);
        problems.into_result()
    }
}
