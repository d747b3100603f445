//! `pmd-edge`: the REST edge as its own process.

/// mimalloc: the services allocate many small JSON and protobuf values per request, and
/// glibc malloc was the top cost in the ingest profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use pmd_server::{os_signal, shutdown_channel};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: pmd_edge::EdgeConfig = pmd_config::parse_process().unwrap_or_else(|e| e.exit());
    config.validate(true)?;
    let telemetry = pmd_telemetry::init(pmd_server::telemetry_config("edge", &config.common))?;
    let verifier = pmd_server::verifier_from_args(&config.common)?;
    let app = pmd_edge::build(config, verifier).await?;
    let (trigger, signal) = shutdown_channel();
    tokio::spawn(async move {
        os_signal().await;
        trigger.trigger();
    });
    let result = app.run_until_stopped(signal).await;
    telemetry.shutdown();
    Ok(result?)
}
