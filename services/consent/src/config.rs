//! Configuration of the consent service.

use pmd_config::{Problems, check_http_url, check_socket_addr};
use pmd_server::CommonArgs;

/// `pmd-consent`: citizens' blocks and access decisions, with the decision cache.
#[derive(clap::Parser, Debug, Clone)]
#[command(name = "pmd-consent", version, about)]
pub struct ConsentConfig {
    /// gRPC listen address.
    #[arg(long, default_value = "0.0.0.0:50053")]
    pub grpc_addr: String,
    /// Admin listen address (`/metrics`).
    #[arg(long, default_value = "0.0.0.0:9103")]
    pub admin_addr: String,
    /// PostgreSQL (`postgres://…`) or SQLite (`sqlite://…`) URL.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Redis URL of the decision cache (consent owns every write to it); without it an
    /// in-process cache is used (single-process embedded mode only).
    #[arg(long)]
    pub redis_url: Option<String>,
    /// gRPC URL of the audit service.
    #[arg(long)]
    pub audit_url: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl ConsentConfig {
    /// Every problem at once.
    pub fn validate(&self, needs_issuer: bool) -> Result<(), pmd_config::ConfigError> {
        let mut problems = Problems::new();
        check_socket_addr(&mut problems, "grpc-addr", &self.grpc_addr);
        check_socket_addr(&mut problems, "admin-addr", &self.admin_addr);
        problems.check(self.database_url.is_none(), "--database-url is required");
        if let Some(url) = &self.redis_url {
            problems.check(
                !(url.starts_with("redis://") || url.starts_with("rediss://")),
                format!("--redis-url must start with redis://, got {url:?}"),
            );
        }
        match &self.audit_url {
            Some(url) => check_http_url(&mut problems, "audit-url", url),
            None => problems.push("--audit-url is required"),
        }
        self.common.validate(&mut problems, needs_issuer);
        problems.into_result()
    }
}
