//! Flags every service binary shares: token trust, logging, timeouts.

use std::path::PathBuf;
use std::time::Duration;

use pmd_config::{Problems, check_http_url};

/// Flags shared by every service (each also settable as `PMD_<FLAG>`).
#[derive(clap::Args, Debug, Clone)]
pub struct CommonArgs {
    /// Trusted token issuer (`iss`), e.g. HelseID's issuer URL.
    #[arg(long, value_name = "ISSUER")]
    pub token_issuer: Option<String>,
    /// Audience (`aud`) every token must carry.
    #[arg(long, default_value = "pmd")]
    pub token_audience: String,
    /// JWKS URL of the trusted issuer (plain http; keys refreshed on an unknown `kid`).
    #[arg(long, value_name = "URL")]
    pub jwks_url: Option<String>,
    /// JWKS file of the trusted issuer.
    #[arg(long, value_name = "PATH")]
    pub jwks_file: Option<PathBuf>,
    /// Log format: auto (JSON when stderr is not a terminal), json or pretty.
    #[arg(long, default_value = "auto", value_parser = ["auto", "json", "pretty"])]
    pub log_format: String,
    /// Log filter (tracing `EnvFilter` syntax).
    #[arg(long, default_value = "info")]
    pub log_filter: String,
    /// How long in-flight requests may finish after a shutdown signal.
    #[arg(long, default_value_t = 20)]
    pub drain_timeout_secs: u64,
    /// Deadline for one request when the caller sets none, and for calls to other services.
    #[arg(long, default_value_t = 10)]
    pub request_timeout_secs: u64,
    /// File holding this service's own bearer token (scope `pmd:internal`), kept fresh by
    /// the platform; re-read every minute.
    #[arg(long, value_name = "PATH")]
    pub service_token_file: Option<PathBuf>,
    /// Accept synthetic test national ids (month +80). Off in production.
    #[arg(long)]
    pub allow_synthetic_ids: bool,
}

impl CommonArgs {
    /// Record every problem with these flags. `needs_issuer` is false when the embedded mode
    /// supplies its own verifier.
    pub fn validate(&self, problems: &mut Problems, needs_issuer: bool) {
        if needs_issuer {
            problems.check(
                self.token_issuer.is_none(),
                "--token-issuer is required (the issuer whose tokens this service accepts)",
            );
            problems.check(
                self.jwks_url.is_none() && self.jwks_file.is_none(),
                "one of --jwks-url or --jwks-file is required",
            );
        }
        problems.check(
            self.jwks_url.is_some() && self.jwks_file.is_some(),
            "give either --jwks-url or --jwks-file, not both",
        );
        if let Some(url) = &self.jwks_url {
            check_http_url(problems, "jwks-url", url);
        }
        problems.check(
            self.token_audience.is_empty(),
            "--token-audience must not be empty",
        );
        problems.check(
            self.request_timeout_secs == 0,
            "--request-timeout-secs must be at least 1",
        );
    }

    pub fn drain_timeout(&self) -> Duration {
        Duration::from_secs(self.drain_timeout_secs)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }
}
