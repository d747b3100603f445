//! `spawn_mesh()`: the real services on port 0, in this process, against a fresh database,
//! with typed clients and a dev issuer to mint tokens.

use std::time::Duration;

use pmd::{Mesh, MeshAddrs, MeshConfig};
use pmd_auth::{DevIssuer, TokenRequest};
use pmd_proto::audit::v1::audit_service_client::AuditServiceClient;
use pmd_proto::consent::v1::consent_service_client::ConsentServiceClient;
use pmd_proto::ingestion::v1::ingestion_service_client::IngestionServiceClient;
use pmd_proto::statistics::v1::statistics_service_client::StatisticsServiceClient;
use pmd_proto::storage::v1::storage_service_client::StorageServiceClient;
use tonic::transport::Channel;

use crate::servers::{TestDatabase, fresh_database, redis_url};

/// Which database the mesh runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A fresh database in the test PostgreSQL server, plus the test Redis.
    Postgres,
    /// SQLite files in a temporary directory and the in-process cache (the embedded default).
    Sqlite,
}

/// A running mesh for one test. Call [`TestMesh::stop`] at the end for a clean shutdown.
pub struct TestMesh {
    pub addrs: MeshAddrs,
    pub issuer: DevIssuer,
    pub database: Option<TestDatabase>,
    pub data_dir: tempfile::TempDir,
    pub http: reqwest::Client,
    mesh: Mesh,
}

/// The mesh on PostgreSQL + Redis (the deployment shape).
pub async fn spawn_mesh() -> anyhow::Result<TestMesh> {
    spawn_mesh_on(Backend::Postgres).await
}

/// How a test wants its mesh.
#[derive(Debug, Clone, Default)]
pub struct MeshOptions {
    /// Redis for the decision cache instead of the shared test Redis (a test's own
    /// `OwnRedis`, or a `FaultProxy` in front of it). Only with `Backend::Postgres`.
    pub redis_url: Option<String>,
    /// Where storage reaches audit (a `FaultProxy` that the test can cut).
    pub storage_audit_url: Option<String>,
}

/// The mesh on the chosen backend.
pub async fn spawn_mesh_on(backend: Backend) -> anyhow::Result<TestMesh> {
    spawn_mesh_with(backend, MeshOptions::default()).await
}

/// The mesh on the chosen backend with test-specific wiring.
pub async fn spawn_mesh_with(backend: Backend, options: MeshOptions) -> anyhow::Result<TestMesh> {
    telemetry();
    let data_dir = tempfile::tempdir()?;
    let issuer = DevIssuer::load_or_create(data_dir.path())?;
    let verifier =
        pmd_auth::Verifier::new(pmd_auth::VerifierConfig::new(vec![issuer.trusted_issuer()]));
    let (database, redis) = match backend {
        Backend::Postgres => {
            let redis = match &options.redis_url {
                Some(url) => url.clone(),
                None => redis_url().await?,
            };
            (Some(fresh_database().await?), Some(redis))
        }
        Backend::Sqlite => (None, None),
    };
    let config = MeshConfig {
        data_dir: data_dir.path().to_path_buf(),
        database_url: database.as_ref().map(|d| d.url.clone()),
        redis_url: redis,
        http_addr: "127.0.0.1:0".into(),
        bind_host: "127.0.0.1".into(),
        allow_synthetic_ids: true,
        export_hmac_key: pmd_config::Secret::new("test-export-key-0123456789abcdef0123456789"),
        // A secret per mesh: tests share one Redis, and the secret keys the cache entries, so
        // no test can read another test's cached decisions.
        cache_secret: pmd_config::Secret::new(format!(
            "test-cache-secret-{}",
            uuid::Uuid::new_v4().simple()
        )),
        storage_audit_url: options.storage_audit_url.clone(),
        org_register: None,
        request_timeout_secs: 10,
        drain_timeout_secs: 2,
        dev_issuer: Some(issuer.clone()),
    };
    let mut mesh = Mesh::start(config, verifier).await?;
    mesh.wait_serving(Duration::from_secs(30)).await?;
    Ok(TestMesh {
        addrs: mesh.addrs,
        issuer,
        database,
        data_dir,
        http: reqwest::Client::new(),
        mesh,
    })
}

/// Telemetry as in production (trace ids on every span, so audit events carry them), logging
/// only warnings; once per test process and kept for its lifetime.
fn telemetry() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let mut config = pmd_telemetry::TelemetryConfig::new("pmd-test");
        config.log_filter = "warn".into();
        if let Ok(guard) = pmd_telemetry::init(config) {
            std::mem::forget(guard);
        }
    });
}

fn channel(addr: std::net::SocketAddr) -> Channel {
    #[allow(clippy::expect_used)] // a loopback socket address is always a valid URI
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("loopback url")
        .timeout(Duration::from_secs(10))
        .connect_lazy()
}

impl TestMesh {
    /// `http://127.0.0.1:PORT` of the edge.
    pub fn base_url(&self) -> String {
        self.addrs.base_url()
    }

    /// The edge URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// Mint a token with the mesh's dev issuer.
    pub fn token(&self, request: &TokenRequest) -> String {
        #[allow(clippy::expect_used)] // minting with an in-memory key cannot fail in tests
        self.issuer.mint(request).expect("mint a dev token")
    }

    pub fn ingestion(&self) -> IngestionServiceClient<Channel> {
        IngestionServiceClient::new(channel(self.addrs.ingestion))
    }

    pub fn storage(&self) -> StorageServiceClient<Channel> {
        StorageServiceClient::new(channel(self.addrs.storage))
    }

    pub fn consent(&self) -> ConsentServiceClient<Channel> {
        ConsentServiceClient::new(channel(self.addrs.consent))
    }

    pub fn audit(&self) -> AuditServiceClient<Channel> {
        AuditServiceClient::new(channel(self.addrs.audit))
    }

    pub fn statistics(&self) -> StatisticsServiceClient<Channel> {
        StatisticsServiceClient::new(channel(self.addrs.statistics))
    }

    /// Rows in `table` of a service's schema (`service` = `storage`, `audit`, …), read
    /// directly from its database: what a test uses to prove that nothing was stored.
    pub async fn count_rows(&self, service: &str, table: &str) -> anyhow::Result<i64> {
        use pmd_db::sea_orm::{ConnectionTrait, Statement};
        let db = self.service_database(service).await?;
        let row = db
            .conn()
            .query_one_raw(Statement::from_string(
                db.db_backend(),
                format!("SELECT count(*) FROM {table}"),
            ))
            .await?
            .ok_or_else(|| anyhow::anyhow!("count returned no row"))?;
        let count = row.try_get_by_index::<i64>(0)?;
        db.close().await;
        Ok(count)
    }

    /// Run `sql` directly on a service's database (what a test uses to age or damage
    /// stored data); the number of rows it touched.
    pub async fn execute_sql(&self, service: &str, sql: &str) -> anyhow::Result<u64> {
        use pmd_db::sea_orm::{ConnectionTrait, Statement};
        let db = self.service_database(service).await?;
        let result = db
            .conn()
            .execute_raw(Statement::from_string(db.db_backend(), sql.to_owned()))
            .await?;
        db.close().await;
        Ok(result.rows_affected())
    }

    async fn service_database(&self, service: &str) -> anyhow::Result<pmd_db::Database> {
        let url = match &self.database {
            Some(db) => db.url.clone(),
            None => pmd_db::sqlite_url(self.data_dir.path(), service),
        };
        Ok(pmd_db::Database::connect(
            &url,
            &format!("pmd_{service}"),
            pmd_db::PoolSize { max: 1, min: 1 },
        )
        .await?)
    }

    /// Start one more storage replica on the same database and cache; its gRPC address.
    pub async fn spawn_storage_replica(&mut self) -> anyhow::Result<std::net::SocketAddr> {
        Ok(self.mesh.spawn_storage_replica().await?)
    }

    /// A storage client for a replica's address.
    pub fn storage_at(&self, addr: std::net::SocketAddr) -> StorageServiceClient<Channel> {
        StorageServiceClient::new(channel(addr))
    }

    /// Stop every service gracefully.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.mesh.stop().await?;
        Ok(())
    }
}

/// A gRPC request carrying `token` as its bearer token.
pub fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    #[allow(clippy::expect_used)] // a JWT is always valid ASCII metadata
    let value = format!("Bearer {token}").parse().expect("ascii token");
    request.metadata_mut().insert("authorization", value);
    request
}
