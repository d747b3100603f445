//! Configuration and start-up: every problem reported at once, a production configuration
//! that does not trust the dev issuer, migrations that tolerate replicas starting together.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use pmd_auth::TokenRequest;
use pmd_proto::storage::v1::QueryRequest;
use pmd_proto::storage::v1::storage_service_client::StorageServiceClient;
use pmd_storage::StorageConfig;
use pmd_testkit::{fresh_database, with_token};

fn parse(args: &[&str], env: &[(&str, &str)]) -> StorageConfig {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut argv = vec!["pmd-storage"];
    argv.extend_from_slice(args);
    pmd_config::parse(argv, &env).unwrap()
}

#[test]
fn a_bad_configuration_reports_every_problem_at_once() {
    let config = parse(&["--grpc-addr", "nowhere", "--audit-url", "ftp://x"], &[]);
    let text = config.validate(true).unwrap_err().to_string();
    for expected in [
        "--grpc-addr",
        "--database-url is required",
        "--consent-url is required",
        "--audit-url",
        "--token-issuer is required",
        "--jwks-url or --jwks-file",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
}

#[test]
fn environment_configures_a_service_and_flags_override_it() {
    let config = parse(
        &["--audit-url", "http://audit:50054"],
        &[
            ("PMD_DATABASE_URL", "postgres://postgres@db/pmd"),
            ("PMD_CONSENT_URL", "http://consent:50053"),
            ("PMD_AUDIT_URL", "http://wrong:1"),
            ("PMD_TOKEN_ISSUER", "https://helseid-sts.nhn.no"),
            ("PMD_JWKS_URL", "http://jwks.internal/keys"),
            ("PMD_CACHE_SECRET", "a-test-deployment-secret-of-32-chars"),
        ],
    );
    config.validate(true).unwrap();
    assert_eq!(config.audit_url.as_deref(), Some("http://audit:50054"));
    assert_eq!(
        config.database_url.as_deref(),
        Some("postgres://postgres@db/pmd")
    );
}

/// A service configured as in production (trusting only its configured issuer) refuses a
/// token from the dev issuer, and accepts one from the issuer it trusts.
#[tokio::test]
async fn a_production_configuration_refuses_dev_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let dev = pmd_auth::DevIssuer::load_or_create(dir.path()).unwrap();
    // The "real" issuer: another key, published as a JWKS file under another issuer name.
    let real = pmd_auth::DevIssuer::ephemeral().unwrap();
    let jwks_path = dir.path().join("helseid-jwks.json");
    std::fs::write(&jwks_path, serde_json::to_vec(&real.jwks()).unwrap()).unwrap();

    let db = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("storage.db").display()
    );
    let jwks = jwks_path.display().to_string();
    let config = parse(
        &[
            "--grpc-addr=127.0.0.1:0",
            "--admin-addr=127.0.0.1:0",
            "--consent-url=http://127.0.0.1:9",
            "--audit-url=http://127.0.0.1:9",
            "--cache-secret=a-test-deployment-secret-of-32-chars",
            "--token-issuer",
            pmd_auth::DEV_ISSUER,
            "--jwks-file",
            &jwks,
        ],
        &[("PMD_DATABASE_URL", &db)],
    );
    config.validate(true).unwrap();
    let verifier = pmd_server::verifier_from_args(&config.common).unwrap();
    let context = pmd_server::Context {
        verifier,
        credentials: pmd_server::ServiceCredentials::none(),
    };
    let app = pmd_storage::build(config, context).await.unwrap();
    let addr = app.grpc_addr();
    let (trigger, signal) = pmd_server::shutdown_channel();
    let task = tokio::spawn(app.run_until_stopped(signal));
    let mut client = StorageServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();

    // Same issuer name, but signed by the dev key the service does not trust.
    let dev_token = dev
        .mint(&TokenRequest::personnel("9144900", "974589095"))
        .unwrap();
    let status = client
        .query(with_token(QueryRequest::default(), &dev_token))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");

    let real_token = real
        .mint(&TokenRequest::personnel("9144900", "974589095"))
        .unwrap();
    let status = client
        .query(with_token(QueryRequest::default(), &real_token))
        .await
        .unwrap_err();
    assert_ne!(status.code(), tonic::Code::Unauthenticated, "{status:?}");

    trigger.trigger();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn replicas_migrating_the_same_schema_at_once_all_start() {
    let db = fresh_database().await.unwrap();
    let connect = || async {
        let conn =
            pmd_db::Database::connect(&db.url, "pmd_storage", pmd_db::PoolSize { max: 2, min: 1 })
                .await
                .unwrap();
        pmd_db::migrate(&conn, pmd_storage::MIGRATIONS).await
    };
    let results = futures_join(connect(), connect(), connect()).await;
    let applied: usize = results.iter().map(|r| *r.as_ref().unwrap()).sum();
    assert_eq!(
        applied,
        pmd_storage::MIGRATIONS.len(),
        "each migration ran exactly once"
    );
    // And a later start finds nothing to do.
    assert_eq!(connect().await.unwrap(), 0);
}

async fn futures_join<A, B, C>(a: A, b: B, c: C) -> [A::Output; 3]
where
    A: std::future::Future,
    B: std::future::Future<Output = A::Output>,
    C: std::future::Future<Output = A::Output>,
{
    let (a, b, c) = tokio::join!(a, b, c);
    [a, b, c]
}
