//! `pmd`: see the library for the commands.

/// mimalloc: the services allocate many small JSON and protobuf values per request, and
/// glibc malloc was the top cost in the ingest profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;

use pmd::cli::{BenchCommand, Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli: Cli = pmd_config::parse_process().unwrap_or_else(|e| e.exit());
    match cli.command {
        Command::Up(args) => {
            let mut config = pmd_telemetry::TelemetryConfig::new("pmd");
            config.log_format = args.log_format.parse()?;
            config.log_filter = args.log_filter.clone();
            config.otlp_endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
                .ok()
                .filter(|v| !v.trim().is_empty());
            let telemetry = pmd_telemetry::init(config)?;
            let result = pmd::up::run(&cli.data_dir, args).await;
            telemetry.shutdown();
            result
        }
        Command::Token(args) => {
            let token = pmd::token::mint(&cli.data_dir, &args)?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{token}")?;
            Ok(())
        }
        Command::Bench(BenchCommand::Ingest(args)) => {
            let mut config = pmd_telemetry::TelemetryConfig::new("pmd-bench");
            config.log_filter = "warn".into();
            let telemetry = pmd_telemetry::init(config)?;
            let result = pmd::bench::ingest(&cli.data_dir, args).await;
            telemetry.shutdown();
            result
        }
        Command::Bench(BenchCommand::Read(args)) => {
            let mut config = pmd_telemetry::TelemetryConfig::new("pmd-bench");
            config.log_filter = "warn".into();
            let telemetry = pmd_telemetry::init(config)?;
            let result = pmd::bench_read::read(&cli.data_dir, args).await;
            telemetry.shutdown();
            result
        }
        Command::Jwks => {
            let jwks = pmd::token::jwks(&cli.data_dir)?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{jwks}")?;
            Ok(())
        }
    }
}
