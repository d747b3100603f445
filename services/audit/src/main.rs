//! `pmd-audit`: the audit service as its own process.

/// mimalloc: the services allocate many small JSON and protobuf values per request, and
/// glibc malloc was the top cost in the ingest profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: pmd_audit::AuditConfig = pmd_config::parse_process().unwrap_or_else(|e| e.exit());
    config.validate(true)?;
    let common = config.common.clone();
    pmd_server::run_standalone("audit", &common, |context| {
        pmd_audit::build(config, context)
    })
    .await?;
    Ok(())
}
