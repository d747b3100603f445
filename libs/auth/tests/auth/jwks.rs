use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use pmd_auth::{
    AuthError, DEV_ISSUER, DevIssuer, JwksSource, TokenRequest, TrustedIssuer, Verifier,
    VerifierConfig,
};

use crate::common::*;

fn issuer(jwks: JwksSource) -> TrustedIssuer {
    TrustedIssuer {
        issuer: DEV_ISSUER.to_owned(),
        audience: "pmd".to_owned(),
        jwks,
    }
}

fn write_jwks(path: &std::path::Path, keys: &[&DevIssuer]) {
    let set = JwkSet {
        keys: keys.iter().flat_map(|d| d.jwks().keys).collect(),
    };
    std::fs::write(path, serde_json::to_vec(&set).unwrap()).unwrap();
}

#[tokio::test]
async fn jwks_from_a_file_verifies_and_picks_up_a_rotated_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    let old = dev();
    let new = dev();
    write_jwks(&path, &[&old]);
    let verifier = Verifier::try_new(
        VerifierConfig::new(vec![issuer(JwksSource::File(path.clone()))])
            .with_refresh_interval(Duration::ZERO),
    )
    .unwrap();

    verifier
        .verify(&mint(&old, &TokenRequest::system(ORG)))
        .await
        .unwrap();
    assert_eq!(verifier.jwks_fetch_count(DEV_ISSUER), Some(1));
    // Known kid: no further read.
    verifier
        .verify(&mint(&old, &TokenRequest::system(ORG)))
        .await
        .unwrap();
    assert_eq!(verifier.jwks_fetch_count(DEV_ISSUER), Some(1));

    // Rotation: the new key replaces the old one in the file.
    write_jwks(&path, &[&new]);
    verifier
        .verify(&mint(&new, &TokenRequest::system(ORG)))
        .await
        .unwrap();
    assert_eq!(verifier.jwks_fetch_count(DEV_ISSUER), Some(2));
    // The old key was withdrawn with the refresh.
    assert_eq!(
        verifier
            .verify(&mint(&old, &TokenRequest::system(ORG)))
            .await,
        Err(AuthError::UnknownKey)
    );
}

#[tokio::test]
async fn preload_reports_a_missing_jwks_file() {
    let dir = tempfile::tempdir().unwrap();
    let verifier = Verifier::try_new(VerifierConfig::new(vec![issuer(JwksSource::File(
        dir.path().join("absent.json"),
    ))]))
    .unwrap();
    let err = verifier.preload().await.unwrap_err();
    assert!(err.to_string().contains("absent.json"), "{err}");
}

#[test]
fn https_jwks_url_is_refused_at_configuration() {
    let result = Verifier::try_new(VerifierConfig::new(vec![issuer(JwksSource::Url(
        "https://helseid-sts.nhn.no/jwks".to_owned(),
    ))]));
    assert!(result.is_err());
}

struct JwksServer {
    url: String,
    fetches: Arc<AtomicUsize>,
    keys: Arc<Mutex<JwkSet>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn jwks_server(initial: JwkSet) -> JwksServer {
    let fetches = Arc::new(AtomicUsize::new(0));
    let keys = Arc::new(Mutex::new(initial));
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get({
            let fetches = fetches.clone();
            let keys = keys.clone();
            move || {
                let fetches = fetches.clone();
                let keys = keys.clone();
                async move {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    let body = keys.lock().unwrap().clone();
                    axum::Json(body)
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    JwksServer {
        url: format!("http://{addr}/jwks"),
        fetches,
        keys,
        task,
    }
}

#[tokio::test]
async fn unknown_kid_refreshes_the_jwks_url_at_most_once_per_interval() {
    let old = dev();
    let new = dev();
    let server = jwks_server(old.jwks()).await;
    let interval = Duration::from_millis(500);
    let verifier = Verifier::try_new(
        VerifierConfig::new(vec![issuer(JwksSource::Url(server.url.clone()))])
            .with_refresh_interval(interval),
    )
    .unwrap();

    // First use loads the set.
    verifier
        .verify(&mint(&old, &TokenRequest::system(ORG)))
        .await
        .unwrap();
    assert_eq!(server.fetches.load(Ordering::SeqCst), 1);

    // A burst of unknown kids, sequential and concurrent, inside the interval: no fetch.
    let stranger = mint(&new, &TokenRequest::system(ORG));
    for _ in 0..5 {
        assert_eq!(verifier.verify(&stranger).await, Err(AuthError::UnknownKey));
    }
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let verifier = verifier.clone();
            let token = stranger.clone();
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), Err(AuthError::UnknownKey));
    }
    assert_eq!(server.fetches.load(Ordering::SeqCst), 1);

    // The issuer rotates; after the interval one unknown kid triggers one fetch.
    *server.keys.lock().unwrap() = JwkSet {
        keys: old.jwks().keys.into_iter().chain(new.jwks().keys).collect(),
    };
    tokio::time::sleep(interval + Duration::from_millis(100)).await;
    verifier.verify(&stranger).await.unwrap();
    assert_eq!(server.fetches.load(Ordering::SeqCst), 2);
    assert_eq!(verifier.jwks_fetch_count(DEV_ISSUER), Some(2));

    // Known kids do not fetch; a new unknown kid right away is rate limited again.
    verifier
        .verify(&mint(&old, &TokenRequest::system(ORG)))
        .await
        .unwrap();
    let third = mint(&dev(), &TokenRequest::system(ORG));
    assert_eq!(verifier.verify(&third).await, Err(AuthError::UnknownKey));
    assert_eq!(server.fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn default_refresh_interval_is_one_minute() {
    let config = VerifierConfig::default();
    assert_eq!(config.refresh_interval, Duration::from_secs(60));
    assert_eq!(config.leeway, Duration::from_secs(30));
}

#[tokio::test]
async fn misconfigured_verifier_fails_closed() {
    let dev = dev();
    let token = mint(&dev, &TokenRequest::system(ORG));

    assert!(matches!(
        Verifier::try_new(VerifierConfig::new(Vec::new())),
        Err(pmd_auth::ConfigError::NoIssuers)
    ));
    let none_trusted = Verifier::new(VerifierConfig::new(Vec::new()));
    assert_eq!(
        none_trusted.verify(&token).await,
        Err(AuthError::UntrustedIssuer)
    );

    let empty_keys = issuer(JwksSource::Static(JwkSet { keys: Vec::new() }));
    let mut duplicate = dev.trusted_issuer();
    duplicate.audience = String::new();
    let config = VerifierConfig::new(vec![empty_keys, duplicate]);
    assert_eq!(config.problems().len(), 3, "{:?}", config.problems());
    let verifier = Verifier::new(config);
    assert_eq!(verifier.verify(&token).await, Err(AuthError::UnknownKey));
}
