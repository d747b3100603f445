//! Configuration of the statistics service.

use pmd_config::{Problems, Secret, check_http_url, check_socket_addr};
use pmd_server::CommonArgs;

/// `pmd-statistics`: usage statistics, adoption indicators and de-identified export.
#[derive(clap::Parser, Debug, Clone)]
#[command(name = "pmd-statistics", version, about)]
pub struct StatisticsConfig {
    /// gRPC listen address.
    #[arg(long, default_value = "0.0.0.0:50055")]
    pub grpc_addr: String,
    /// Admin listen address (`/metrics`).
    #[arg(long, default_value = "0.0.0.0:9105")]
    pub admin_addr: String,
    /// PostgreSQL (`postgres://…`) or SQLite (`sqlite://…`) URL.
    #[arg(long)]
    pub database_url: Option<String>,
    /// gRPC URL of the audit service (the stream statistics are built from).
    #[arg(long)]
    pub audit_url: Option<String>,
    /// Secret key for the export's patient pseudonyms (keyed HMAC per export period).
    /// At least 32 characters. Never logged.
    #[arg(long, value_name = "SECRET")]
    pub export_hmac_key: Option<Secret>,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl StatisticsConfig {
    /// Every problem at once.
    pub fn validate(&self, needs_issuer: bool) -> Result<(), pmd_config::ConfigError> {
        let mut problems = Problems::new();
        check_socket_addr(&mut problems, "grpc-addr", &self.grpc_addr);
        check_socket_addr(&mut problems, "admin-addr", &self.admin_addr);
        problems.check(self.database_url.is_none(), "--database-url is required");
        match &self.audit_url {
            Some(url) => check_http_url(&mut problems, "audit-url", url),
            None => problems.push("--audit-url is required"),
        }
        match &self.export_hmac_key {
            None => problems.push("--export-hmac-key is required"),
            Some(key) => problems.check(
                key.expose().len() < 32,
                "--export-hmac-key must be at least 32 characters",
            ),
        }
        self.common.validate(&mut problems, needs_issuer);
        problems.into_result()
    }
}
