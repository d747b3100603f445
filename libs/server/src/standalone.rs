//! What every service binary's `main` does: telemetry first, then the trusted issuer, then
//! build and serve until SIGTERM or Ctrl-C.

use std::future::Future;

use crate::{CommonArgs, GrpcApp, StartError, os_signal, shutdown_channel};

/// The token verifier the flags describe (one trusted issuer with its JWKS).
pub fn verifier_from_args(args: &CommonArgs) -> Result<pmd_auth::Verifier, StartError> {
    let issuer = args
        .token_issuer
        .clone()
        .ok_or_else(|| StartError::Other("--token-issuer is required".into()))?;
    let jwks = match (&args.jwks_url, &args.jwks_file) {
        (Some(url), None) => pmd_auth::JwksSource::Url(url.clone()),
        (None, Some(path)) => pmd_auth::JwksSource::File(path.clone()),
        _ => {
            return Err(StartError::Other(
                "exactly one of --jwks-url or --jwks-file is required".into(),
            ));
        }
    };
    Ok(pmd_auth::Verifier::new(pmd_auth::VerifierConfig::new(
        vec![pmd_auth::TrustedIssuer {
            issuer,
            audience: args.token_audience.clone(),
            jwks,
        }],
    )))
}

/// Telemetry configuration from the flags and the process environment (OTLP endpoint).
pub fn telemetry_config(service: &str, args: &CommonArgs) -> pmd_telemetry::TelemetryConfig {
    let mut config = pmd_telemetry::TelemetryConfig::new(service);
    config.log_filter = args.log_filter.clone();
    config.log_format = args
        .log_format
        .parse()
        .unwrap_or(pmd_telemetry::LogFormat::Auto);
    config.otlp_endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|v| !v.trim().is_empty());
    config
}

/// Run one service as its own process until a signal.
pub async fn run_standalone<F, Fut>(
    service: &'static str,
    common: &CommonArgs,
    build: F,
) -> Result<(), StartError>
where
    F: FnOnce(crate::Context) -> Fut,
    Fut: Future<Output = Result<GrpcApp, StartError>>,
{
    let telemetry = pmd_telemetry::init(telemetry_config(service, common))
        .map_err(|e| StartError::Other(format!("telemetry: {e}")))?;
    let verifier = verifier_from_args(common)?;
    let credentials = match &common.service_token_file {
        Some(path) => crate::ServiceCredentials::file(path.clone()),
        None => crate::ServiceCredentials::none(),
    };
    let app = build(crate::Context {
        verifier,
        credentials,
    })
    .await?;
    let (trigger, signal) = shutdown_channel();
    tokio::spawn(async move {
        os_signal().await;
        trigger.trigger();
    });
    let result = app.run_until_stopped(signal).await;
    telemetry.shutdown();
    result
}
