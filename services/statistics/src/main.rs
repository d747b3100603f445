//! `pmd-statistics`: the statistics service as its own process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: pmd_statistics::StatisticsConfig =
        pmd_config::parse_process().unwrap_or_else(|e| e.exit());
    config.validate(true)?;
    let common = config.common.clone();
    pmd_server::run_standalone("statistics", &common, |context| {
        pmd_statistics::build(config, context)
    })
    .await?;
    Ok(())
}
