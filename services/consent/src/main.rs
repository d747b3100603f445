//! `pmd-consent`: the consent service as its own process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: pmd_consent::ConsentConfig =
        pmd_config::parse_process().unwrap_or_else(|e| e.exit());
    config.validate(true)?;
    let common = config.common.clone();
    pmd_server::run_standalone("consent", &common, |context| {
        pmd_consent::build(config, context)
    })
    .await?;
    Ok(())
}
