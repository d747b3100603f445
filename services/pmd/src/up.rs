//! `pmd up`: the embedded default.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use pmd_config::Secret;
use pmd_server::{StartError, os_signal};

use crate::cli::UpArgs;
use crate::mesh::{Mesh, MeshConfig};

/// Run the mesh until Ctrl-C / SIGTERM. Prints the ready line on stdout once every service
/// is SERVING; everything else goes to the log on stderr.
pub async fn run(data_dir: &Path, args: UpArgs) -> anyhow::Result<()> {
    let mut problems = pmd_config::Problems::new();
    problems.check(
        args.no_dev_issuer && args.token_issuer.is_none(),
        "--no-dev-issuer needs --token-issuer (and --jwks-url or --jwks-file)",
    );
    problems.check(
        args.token_issuer.is_some() && args.jwks_url.is_none() && args.jwks_file.is_none(),
        "--token-issuer needs --jwks-url or --jwks-file",
    );
    if let Some(url) = &args.database_url {
        problems.check(
            !matches!(pmd_db::Backend::of_url(url), Ok(pmd_db::Backend::Postgres)),
            "--database-url must be a postgres:// URL (the default is SQLite in the data dir)",
        );
    }
    problems.into_result()?;

    std::fs::create_dir_all(data_dir)?;
    let mut issuers = Vec::new();
    let dev_issuer = if args.no_dev_issuer {
        None
    } else {
        let dev = pmd_auth::DevIssuer::load_or_create(data_dir)?;
        issuers.push(dev.trusted_issuer());
        Some(dev)
    };
    if let Some(issuer) = &args.token_issuer {
        let jwks = match (&args.jwks_url, &args.jwks_file) {
            (Some(url), _) => pmd_auth::JwksSource::Url(url.clone()),
            (None, Some(path)) => pmd_auth::JwksSource::File(path.clone()),
            (None, None) => unreachable!("validated above"),
        };
        issuers.push(pmd_auth::TrustedIssuer {
            issuer: issuer.clone(),
            audience: args.token_audience.clone(),
            jwks,
        });
    }
    let verifier = pmd_auth::Verifier::new(pmd_auth::VerifierConfig::new(issuers));

    let config = MeshConfig {
        data_dir: data_dir.to_path_buf(),
        database_url: args.database_url.clone(),
        redis_url: args.redis_url.clone(),
        http_addr: format!("{}:{}", args.http_host, args.http_port),
        bind_host: "127.0.0.1".into(),
        allow_synthetic_ids: true,
        export_hmac_key: secret_file(data_dir, "statistics-export.key")?,
        cache_secret: secret_file(data_dir, "cache-secret.key")?,
        storage_audit_url: None,
        org_register: args.org_register.clone(),
        request_timeout_secs: 10,
        drain_timeout_secs: 5,
        dev_issuer: dev_issuer.clone(),
    };
    let mut mesh = Mesh::start(config, verifier).await?;
    mesh.wait_serving(Duration::from_secs(60)).await?;
    match (&dev_issuer, args.no_seed) {
        (Some(issuer), false) => {
            let count = crate::seed::seed(&mesh.addrs.base_url(), issuer).await?;
            tracing::info!(measurements = count, "demo data in place");
        }
        (None, false) => tracing::info!("no demo data: the dev issuer is off"),
        (_, true) => {}
    }
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "pmd ready {}", mesh.addrs.base_url())?;
        out.flush()?;
    }
    tracing::info!(url = %mesh.addrs.base_url(), "pmd ready");

    let trigger = mesh.shutdown_trigger().signal();
    tokio::select! {
        () = os_signal() => {
            tracing::info!("signal received; stopping");
            mesh.stop().await?;
        }
        result = mesh.wait() => {
            result?;
            if !trigger.is_triggered() {
                return Err(StartError::Other("a service stopped unexpectedly".into()).into());
            }
        }
    }
    Ok(())
}

/// A secret kept in the data dir, generated on first start (mode 0600).
fn secret_file(data_dir: &Path, name: &str) -> anyhow::Result<Secret> {
    let path = data_dir.join(name);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let key = existing.trim().to_owned();
        if key.len() >= 32 {
            return Ok(Secret::new(key));
        }
    }
    let bytes: [u8; 32] = rand::random();
    let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, key.as_bytes())?;
    Ok(Secret::new(key))
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)
}
