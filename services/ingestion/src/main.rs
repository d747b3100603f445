//! `pmd-ingestion`: the ingestion service as its own process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: pmd_ingestion::IngestionConfig =
        pmd_config::parse_process().unwrap_or_else(|e| e.exit());
    config.validate(true)?;
    let common = config.common.clone();
    pmd_server::run_standalone("ingestion", &common, |context| {
        pmd_ingestion::build(config, context)
    })
    .await?;
    Ok(())
}
