//! Configuration of the statistics service.

use std::path::PathBuf;

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
    /// Secret key for the patient pseudonyms (stored, and keyed HMAC per export period).
    /// At least 32 characters. Never logged.
    #[arg(long, value_name = "SECRET")]
    pub export_hmac_key: Option<Secret>,
    /// Organisation register (CSV: orgnr,name,type,municipality_number); default: the
    /// sample register compiled in.
    #[arg(long, value_name = "PATH")]
    pub org_register: Option<PathBuf>,
    /// Most audit events applied per transaction.
    #[arg(long, default_value_t = 1000)]
    pub follow_batch_events: usize,
    /// Longest wait for more events before a batch is applied, in milliseconds.
    #[arg(long, default_value_t = 200)]
    pub follow_batch_millis: u64,
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
        problems.check(
            self.follow_batch_events == 0 || self.follow_batch_events > 4096,
            "--follow-batch-events must be between 1 and 4096",
        );
        problems.check(
            self.follow_batch_millis > 60_000,
            "--follow-batch-millis must be at most 60000",
        );
        self.common.validate(&mut problems, needs_issuer);
        problems.into_result()
    }
}
