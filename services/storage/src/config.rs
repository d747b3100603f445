//! Configuration of the storage service.

use pmd_config::{Problems, check_http_url, check_socket_addr};
use pmd_server::CommonArgs;

/// `pmd-storage`: measurements, consent-checked and audited where they are held.
#[derive(clap::Parser, Debug, Clone)]
#[command(name = "pmd-storage", version, about)]
pub struct StorageConfig {
    /// gRPC listen address.
    #[arg(long, default_value = "0.0.0.0:50052")]
    pub grpc_addr: String,
    /// Admin listen address (`/metrics`).
    #[arg(long, default_value = "0.0.0.0:9102")]
    pub admin_addr: String,
    /// PostgreSQL (`postgres://…`) or SQLite (`sqlite://…`) URL.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Redis URL of the consent decision cache; without it every read asks `consent`.
    #[arg(long)]
    pub redis_url: Option<String>,
    /// gRPC URL of the consent service.
    #[arg(long)]
    pub consent_url: Option<String>,
    /// gRPC URL of the audit service.
    #[arg(long)]
    pub audit_url: Option<String>,
    /// Deployment secret (at least 32 characters) for the decision-cache keys and sealed
    /// search cursors; the same value on consent and every storage replica.
    #[arg(long, value_name = "SECRET")]
    pub cache_secret: Option<pmd_config::Secret>,
    /// How long a cached consent decision may be served, counted from its write.
    #[arg(long, default_value_t = 300)]
    pub cache_ttl_secs: u64,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl StorageConfig {
    /// Every problem at once. `needs_issuer` is false when the embedded mode supplies the
    /// token verifier.
    pub fn validate(&self, needs_issuer: bool) -> Result<(), pmd_config::ConfigError> {
        let mut problems = Problems::new();
        check_socket_addr(&mut problems, "grpc-addr", &self.grpc_addr);
        check_socket_addr(&mut problems, "admin-addr", &self.admin_addr);
        problems.check(self.database_url.is_none(), "--database-url is required");
        match &self.consent_url {
            Some(url) => check_http_url(&mut problems, "consent-url", url),
            None => problems.push("--consent-url is required"),
        }
        match &self.audit_url {
            Some(url) => check_http_url(&mut problems, "audit-url", url),
            None => problems.push("--audit-url is required"),
        }
        match &self.cache_secret {
            None => problems.push("--cache-secret is required (the same value as consent's)"),
            Some(secret) => problems.check(
                secret.expose().len() < 32,
                "--cache-secret must be at least 32 characters",
            ),
        }
        problems.check(
            self.cache_ttl_secs == 0,
            "--cache-ttl-secs must be positive",
        );
        self.common.validate(&mut problems, needs_issuer);
        problems.into_result()
    }
}

impl StorageConfig {
    /// The deployment secret (validated to be present).
    pub fn secret(&self) -> &str {
        self.cache_secret
            .as_ref()
            .map(|s| s.expose())
            .unwrap_or_default()
    }

    pub fn cache_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.cache_ttl_secs)
    }
}
