//! Configuration of the consent service.

use std::time::Duration;

use pmd_config::{Problems, Secret, check_http_url, check_socket_addr};
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
    /// Deployment secret (at least 32 characters) keying the decision-cache keys (HMAC); the
    /// same value on consent and every storage replica. Required with `--redis-url`.
    #[arg(long, value_name = "SECRET")]
    pub cache_secret: Option<Secret>,
    /// How long a cached decision may be served, counted from its write (never sliding).
    #[arg(long, default_value_t = 300)]
    pub cache_ttl_secs: u64,
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
        match &self.cache_secret {
            Some(secret) => problems.check(
                secret.expose().chars().count() < MIN_SECRET_CHARS,
                format!("--cache-secret must be at least {MIN_SECRET_CHARS} characters"),
            ),
            None => problems.check(
                self.redis_url.is_some(),
                "--cache-secret is required with --redis-url (the same value as storage's)",
            ),
        }
        problems.check(
            !(1..=MAX_TTL_SECS).contains(&self.cache_ttl_secs),
            format!("--cache-ttl-secs must be between 1 and {MAX_TTL_SECS}"),
        );
        self.common.validate(&mut problems, needs_issuer);
        problems.into_result()
    }

    /// How long a cached decision may be served.
    pub fn cache_ttl(&self) -> Duration {
        Duration::from_secs(self.cache_ttl_secs.max(1))
    }
}

/// Shortest accepted `--cache-secret`.
const MIN_SECRET_CHARS: usize = 32;
/// Longest accepted `--cache-ttl-secs` (a day): a cached decision must not outlive the
/// revision markers that guard it (see `pmd-consent-cache`).
const MAX_TTL_SECS: u64 = 86_400;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;

    use super::*;

    fn parse(extra: &[&str]) -> ConsentConfig {
        let mut args = vec![
            "pmd-consent",
            "--database-url=sqlite://x.db",
            "--audit-url=http://127.0.0.1:1",
        ];
        args.extend_from_slice(extra);
        pmd_config::parse(args, &HashMap::new()).unwrap()
    }

    fn problems(config: &ConsentConfig) -> String {
        config
            .validate(false)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn redis_needs_a_cache_secret_of_32_characters() {
        let text = problems(&parse(&["--redis-url=redis://127.0.0.1:6379"]));
        assert!(text.contains("--cache-secret is required"), "{text}");
        let text = problems(&parse(&[
            "--redis-url=redis://127.0.0.1:6379",
            "--cache-secret=short",
        ]));
        assert!(text.contains("at least 32 characters"), "{text}");
        assert!(
            !text.contains("short"),
            "the secret is never echoed: {text}"
        );
        let config = parse(&[
            "--redis-url=redis://127.0.0.1:6379",
            "--cache-secret=0123456789abcdef0123456789abcdef",
        ]);
        assert_eq!(problems(&config), "");
        assert_eq!(config.cache_ttl(), Duration::from_secs(300));
    }

    #[test]
    fn the_embedded_mode_needs_no_secret() {
        assert_eq!(problems(&parse(&[])), "");
        let text = problems(&parse(&["--cache-ttl-secs=0"]));
        assert!(text.contains("--cache-ttl-secs"), "{text}");
    }
}
