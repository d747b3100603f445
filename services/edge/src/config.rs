//! Configuration of the REST edge.

use pmd_config::{Problems, check_http_url, check_socket_addr};
use pmd_server::CommonArgs;

/// `pmd-edge`: the REST (FHIR R4) front door for EHR vendors, citizens' apps and statistics.
#[derive(clap::Parser, Debug, Clone)]
#[command(name = "pmd-edge", version, about)]
pub struct EdgeConfig {
    /// HTTP listen address (REST API, /healthz, /readyz, /openapi.json, /docs, /metrics).
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub http_addr: String,
    /// gRPC URL of the ingestion service.
    #[arg(long)]
    pub ingestion_url: Option<String>,
    /// gRPC URL of the storage service.
    #[arg(long)]
    pub storage_url: Option<String>,
    /// gRPC URL of the consent service.
    #[arg(long)]
    pub consent_url: Option<String>,
    /// gRPC URL of the audit service.
    #[arg(long)]
    pub audit_url: Option<String>,
    /// gRPC URL of the statistics service.
    #[arg(long)]
    pub statistics_url: Option<String>,
    /// The base URL clients reach the edge at (e.g. `https://pmd.example.no`), for the
    /// `self` and `next` links of search results; default: from the `Host` header.
    #[arg(long)]
    pub public_base_url: Option<String>,
    /// Organisation register (CSV: orgnr,name,type,municipality_number) naming the
    /// organisations in the citizen's log of use; default: the sample register compiled in.
    #[arg(long, value_name = "PATH")]
    pub org_register: Option<std::path::PathBuf>,
    /// Largest accepted request body in bytes.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Most requests served at once; more are refused with 503 rather than queued.
    #[arg(long, default_value_t = 1024)]
    pub max_concurrent_requests: usize,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl EdgeConfig {
    /// Every problem at once.
    pub fn validate(&self, needs_issuer: bool) -> Result<(), pmd_config::ConfigError> {
        let mut problems = Problems::new();
        check_socket_addr(&mut problems, "http-addr", &self.http_addr);
        for (flag, url) in self.upstreams() {
            match url {
                Some(url) => check_http_url(&mut problems, flag, url),
                None => problems.push(format!("--{flag} is required")),
            }
        }
        problems.check(
            self.max_body_bytes == 0,
            "--max-body-bytes must be positive",
        );
        problems.check(
            self.max_concurrent_requests == 0,
            "--max-concurrent-requests must be positive",
        );
        self.common.validate(&mut problems, needs_issuer);
        problems.into_result()
    }

    fn upstreams(&self) -> [(&'static str, Option<&String>); 5] {
        [
            ("ingestion-url", self.ingestion_url.as_ref()),
            ("storage-url", self.storage_url.as_ref()),
            ("consent-url", self.consent_url.as_ref()),
            ("audit-url", self.audit_url.as_ref()),
            ("statistics-url", self.statistics_url.as_ref()),
        ]
    }
}
