//! Telemetry configuration, built by the caller.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::str::FromStr;

use crate::TelemetryError;

/// Default log filter when none is configured.
pub(crate) const DEFAULT_LOG_FILTER: &str = "info";

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// JSON when stderr is not a terminal (containers), pretty otherwise.
    #[default]
    Auto,
    /// One JSON object per line.
    Json,
    /// Human-readable, coloured.
    Pretty,
}

impl LogFormat {
    /// Resolves [`LogFormat::Auto`] against stderr: JSON unless stderr is a terminal.
    #[must_use]
    pub fn resolve(self) -> LogFormat {
        match self {
            LogFormat::Auto if std::io::stderr().is_terminal() => LogFormat::Pretty,
            LogFormat::Auto => LogFormat::Json,
            other => other,
        }
    }
}

impl FromStr for LogFormat {
    type Err = TelemetryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(LogFormat::Auto),
            "json" => Ok(LogFormat::Json),
            "pretty" | "text" => Ok(LogFormat::Pretty),
            _ => Err(TelemetryError::InvalidLogFormat(s.to_owned())),
        }
    }
}

/// Telemetry settings for one process.
///
/// Built by the caller; nothing here reads the environment except the explicit
/// [`TelemetryConfig::from_env_map`] convenience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// `service.name` of the OpenTelemetry resource (e.g. `storage`, or `pmd` in embedded mode).
    pub service_name: String,
    /// Log line format.
    pub log_format: LogFormat,
    /// `tracing_subscriber::EnvFilter` directives, e.g. `info` or `info,pmd_storage=debug`.
    pub log_filter: String,
    /// OTLP/gRPC collector endpoint (e.g. `http://otel-collector:4317`); `None` = no export
    /// (trace ids are still generated and propagated).
    pub otlp_endpoint: Option<String>,
}

impl TelemetryConfig {
    /// Defaults for `service_name`: auto format, filter `info`, no OTLP export.
    #[must_use]
    pub fn new(service_name: impl Into<String>) -> Self {
        Self {
            service_name: service_name.into(),
            log_format: LogFormat::Auto,
            log_filter: DEFAULT_LOG_FILTER.to_owned(),
            otlp_endpoint: None,
        }
    }

    /// Builds the configuration from an environment snapshot:
    ///
    /// * `OTEL_EXPORTER_OTLP_ENDPOINT` → [`TelemetryConfig::otlp_endpoint`]
    /// * `PMD_LOG_FORMAT` (`auto` | `json` | `pretty`) → [`TelemetryConfig::log_format`]
    /// * `PMD_LOG`, else `RUST_LOG`, else `info` → [`TelemetryConfig::log_filter`]
    ///
    /// Empty values count as unset.
    ///
    /// # Errors
    ///
    /// [`TelemetryError::InvalidLogFormat`] when `PMD_LOG_FORMAT` is not recognised.
    pub fn from_env_map(
        service_name: impl Into<String>,
        env: &HashMap<String, String>,
    ) -> Result<Self, TelemetryError> {
        let get = |key: &str| {
            env.get(key)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let log_format = match get("PMD_LOG_FORMAT") {
            Some(v) => v.parse()?,
            None => LogFormat::Auto,
        };
        Ok(Self {
            service_name: service_name.into(),
            log_format,
            log_filter: get("PMD_LOG")
                .or_else(|| get("RUST_LOG"))
                .unwrap_or_else(|| DEFAULT_LOG_FILTER.to_owned()),
            otlp_endpoint: get("OTEL_EXPORTER_OTLP_ENDPOINT"),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_from_empty_env() {
        let cfg = TelemetryConfig::from_env_map("storage", &HashMap::new()).unwrap();
        assert_eq!(cfg, TelemetryConfig::new("storage"));
        assert_eq!(cfg.log_filter, "info");
        assert_eq!(cfg.otlp_endpoint, None);
    }

    #[test]
    fn reads_known_variables() {
        let cfg = TelemetryConfig::from_env_map(
            "edge",
            &env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
                ("PMD_LOG_FORMAT", "JSON"),
                ("RUST_LOG", "debug"),
                ("PMD_LOG", "warn,pmd_edge=debug"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.otlp_endpoint.as_deref(), Some("http://collector:4317"));
        assert_eq!(cfg.log_format, LogFormat::Json);
        assert_eq!(cfg.log_filter, "warn,pmd_edge=debug");

        let cfg = TelemetryConfig::from_env_map(
            "edge",
            &env(&[("RUST_LOG", "debug"), ("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]),
        )
        .unwrap();
        assert_eq!(cfg.log_filter, "debug");
        assert_eq!(cfg.otlp_endpoint, None);
    }

    #[test]
    fn rejects_unknown_format_naming_it() {
        let err =
            TelemetryConfig::from_env_map("edge", &env(&[("PMD_LOG_FORMAT", "xml")])).unwrap_err();
        assert!(err.to_string().contains("\"xml\""), "{err}");
    }

    #[test]
    fn explicit_formats_resolve_to_themselves() {
        assert_eq!(LogFormat::Json.resolve(), LogFormat::Json);
        assert_eq!(LogFormat::Pretty.resolve(), LogFormat::Pretty);
        assert_ne!(LogFormat::Auto.resolve(), LogFormat::Auto);
    }
}
