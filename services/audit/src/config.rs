//! Configuration of the audit service.

use std::path::PathBuf;

use pmd_config::{Problems, check_socket_addr};
use pmd_server::CommonArgs;

/// `pmd-audit`: the append-only, hash-chained audit log.
#[derive(clap::Parser, Debug, Clone)]
#[command(name = "pmd-audit", version, about)]
pub struct AuditConfig {
    /// gRPC listen address.
    #[arg(long, default_value = "0.0.0.0:50054")]
    pub grpc_addr: String,
    /// Admin listen address (`/metrics`).
    #[arg(long, default_value = "0.0.0.0:9104")]
    pub admin_addr: String,
    /// PostgreSQL (`postgres://…`) or SQLite (`sqlite://…`) URL.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Directory for signed checkpoints of the chain head, kept outside the database so a
    /// truncation or wholesale rewrite of the log is detected.
    #[arg(long, default_value = "/var/lib/pmd/audit-checkpoints")]
    pub checkpoint_dir: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl AuditConfig {
    /// Every problem at once.
    pub fn validate(&self, needs_issuer: bool) -> Result<(), pmd_config::ConfigError> {
        let mut problems = Problems::new();
        check_socket_addr(&mut problems, "grpc-addr", &self.grpc_addr);
        check_socket_addr(&mut problems, "admin-addr", &self.admin_addr);
        problems.check(self.database_url.is_none(), "--database-url is required");
        problems.check(
            self.checkpoint_dir.as_os_str().is_empty(),
            "--checkpoint-dir must not be empty",
        );
        self.common.validate(&mut problems, needs_issuer);
        problems.into_result()
    }
}
