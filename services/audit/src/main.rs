//! `pmd-audit`: the audit service as its own process.

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
