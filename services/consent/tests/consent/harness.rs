//! Starting `audit` and `consent` on port 0 for one test, with tokens from a dev issuer, and
//! the helpers the tests share.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use pmd_auth::{DevIssuer, TokenRequest, Verifier, VerifierConfig};
use pmd_consent::DecisionCache;
use pmd_consent_cache::ActorKey;
use pmd_db::sea_orm::{ConnectionTrait, Statement};
use pmd_domain::ident::{oid, synthetic_fnr, valid_org_number};
use pmd_proto::audit::v1::audit_service_client::AuditServiceClient;
use pmd_proto::common::v1::{self as common, ActorKind};
use pmd_proto::consent::v1::consent_service_client::ConsentServiceClient;
use pmd_proto::consent::v1::{self as pb, block_target};
use pmd_server::{Context, ServiceCredentials, ShutdownTrigger, StartError, shutdown_channel};
use pmd_testkit::{TestDatabase, fresh_database, with_token};
use tokio::task::JoinSet;
use tonic::transport::Channel;

/// Which database the services run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Postgres,
    Sqlite,
}

/// Which decision cache consent gets.
pub enum Cache {
    /// `build`: the cache from the flags (`--redis-url` + `--cache-secret`, or in-process).
    Flags { redis_url: Option<String> },
    /// `build_with_cache` with an owner of the Redis cache at this URL (connected first).
    Redis { url: String },
    /// `build_with_cache` with this cache.
    Given(DecisionCache),
}

/// A running consent (and audit) for one test. Call [`Consent::stop`] at the end.
pub struct Consent {
    pub issuer: DevIssuer,
    pub verifier: Verifier,
    pub client: ConsentServiceClient<Channel>,
    pub audit: AuditServiceClient<Channel>,
    pub database: Option<TestDatabase>,
    pub data_dir: tempfile::TempDir,
    /// The deployment secret of the cache keys.
    pub secret: String,
    pub ttl: Duration,
    trigger: ShutdownTrigger,
    tasks: JoinSet<Result<(), StartError>>,
}

fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn channel(addr: std::net::SocketAddr) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("loopback url")
        .timeout(Duration::from_secs(20))
        .connect_lazy()
}

fn parse<C: clap::CommandFactory + clap::FromArgMatches>(args: Vec<String>) -> anyhow::Result<C> {
    Ok(pmd_config::parse(args, &HashMap::new())?)
}

pub async fn start(db: Db, cache: Cache) -> anyhow::Result<Consent> {
    start_with_ttl(db, cache, Duration::from_secs(300)).await
}

pub async fn start_with_ttl(db: Db, cache: Cache, ttl: Duration) -> anyhow::Result<Consent> {
    let data_dir = tempfile::tempdir()?;
    let issuer = DevIssuer::load_or_create(data_dir.path())?;
    let verifier = Verifier::new(VerifierConfig::new(vec![issuer.trusted_issuer()]));
    let context = |service: &'static str| Context {
        verifier: verifier.clone(),
        credentials: {
            let issuer = issuer.clone();
            ServiceCredentials::minted(move || {
                issuer
                    .mint(&TokenRequest::service(service))
                    .map_err(|e| e.to_string())
            })
        },
    };
    let database = match db {
        Db::Postgres => Some(fresh_database().await?),
        Db::Sqlite => None,
    };
    let db_url = |service: &str| match &database {
        Some(d) => d.url.clone(),
        None => pmd_db::sqlite_url(data_dir.path(), service),
    };
    let secret = random_secret();
    let (trigger, signal) = shutdown_channel();
    let mut tasks = JoinSet::new();

    let audit_config: pmd_audit::AuditConfig = parse(vec![
        "pmd-audit".into(),
        "--grpc-addr=127.0.0.1:0".into(),
        "--admin-addr=127.0.0.1:0".into(),
        format!("--database-url={}", db_url("audit")),
        format!(
            "--checkpoint-dir={}",
            data_dir.path().join("checkpoints").display()
        ),
        "--drain-timeout-secs=1".into(),
    ])?;
    let audit = pmd_audit::build(audit_config, context("audit")).await?;
    let audit_addr = audit.grpc_addr();
    tasks.spawn(audit.run_until_stopped(signal.clone()));

    let mut args = vec![
        "pmd-consent".to_owned(),
        "--grpc-addr=127.0.0.1:0".into(),
        "--admin-addr=127.0.0.1:0".into(),
        format!("--database-url={}", db_url("consent")),
        format!("--audit-url=http://{audit_addr}"),
        format!("--cache-secret={secret}"),
        format!("--cache-ttl-secs={}", ttl.as_secs().max(1)),
        "--allow-synthetic-ids".into(),
        "--drain-timeout-secs=1".into(),
    ];
    let consent = match cache {
        Cache::Flags { redis_url } => {
            if let Some(url) = redis_url {
                args.push(format!("--redis-url={url}"));
            }
            pmd_consent::build(parse(args)?, context("consent")).await?
        }
        Cache::Redis { url } => {
            let owner = DecisionCache::redis_owner(&url, secret.as_bytes(), ttl)?;
            owner
                .connect()
                .await
                .context("connecting the cache owner")?;
            pmd_consent::build_with_cache(parse(args)?, context("consent"), owner).await?
        }
        Cache::Given(cache) => {
            pmd_consent::build_with_cache(parse(args)?, context("consent"), cache).await?
        }
    };
    let consent_addr = consent.grpc_addr();
    tasks.spawn(consent.run_until_stopped(signal));
    Ok(Consent {
        issuer,
        verifier,
        client: ConsentServiceClient::new(channel(consent_addr)),
        audit: AuditServiceClient::new(channel(audit_addr)),
        database,
        data_dir,
        secret,
        ttl,
        trigger,
        tasks,
    })
}

impl Consent {
    pub fn token(&self, request: &TokenRequest) -> String {
        self.issuer.mint(request).expect("mint a dev token")
    }

    /// What storage uses: `pmd:internal`.
    pub fn internal(&self) -> String {
        self.token(&TokenRequest::service("storage"))
    }

    pub fn citizen(&self, pid: &str) -> String {
        self.token(&TokenRequest::citizen(pid))
    }

    /// A reader of the Redis cache at `url`, as storage builds it, connected.
    pub async fn reader(&self, url: &str) -> DecisionCache {
        let reader = DecisionCache::redis(url, self.secret.as_bytes(), self.ttl).expect("reader");
        reader.connect().await.expect("the reader connects");
        reader
    }

    pub async fn check(
        &self,
        patient: &str,
        actor: &common::Actor,
    ) -> Result<pb::CheckResponse, tonic::Status> {
        self.client
            .clone()
            .check(with_token(
                pb::CheckRequest {
                    patient: Some(identifier(patient)),
                    actor: Some(actor.clone()),
                },
                &self.internal(),
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    /// The citizen `patient` blocks `target`.
    pub async fn block(
        &self,
        patient: &str,
        target: block_target::Target,
    ) -> Result<pb::Block, tonic::Status> {
        self.client
            .clone()
            .create_block(with_token(
                pb::CreateBlockRequest {
                    patient: Some(identifier(patient)),
                    target: Some(pb::BlockTarget {
                        target: Some(target),
                    }),
                    valid_until_unix_micros: None,
                    policy_text: "pasient- og brukerrettighetsloven § 5-3".into(),
                },
                &self.citizen(patient),
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    /// The citizen `patient` revokes `block_id`.
    pub async fn revoke(&self, patient: &str, block_id: &str) -> Result<pb::Block, tonic::Status> {
        self.client
            .clone()
            .revoke_block(with_token(
                pb::RevokeBlockRequest {
                    block_id: block_id.into(),
                },
                &self.citizen(patient),
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    /// Rows in a table of consent's schema, read directly.
    pub async fn count(&self, table: &str) -> anyhow::Result<i64> {
        let url = match &self.database {
            Some(db) => db.url.clone(),
            None => pmd_db::sqlite_url(self.data_dir.path(), "consent"),
        };
        let db = pmd_db::Database::connect(
            &url,
            pmd_consent::SCHEMA,
            pmd_db::PoolSize { max: 1, min: 1 },
        )
        .await?;
        let row = db
            .conn()
            .query_one_raw(Statement::from_string(
                db.db_backend(),
                format!("SELECT count(*) FROM {table}"),
            ))
            .await?
            .context("count returned no row")?;
        let count = row.try_get_by_index::<i64>(0)?;
        db.close().await;
        Ok(count)
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.trigger.trigger();
        while let Some(joined) = self.tasks.join_next().await {
            joined??;
        }
        Ok(())
    }
}

/// A synthetic fødselsnummer (the services run with `--allow-synthetic-ids`).
pub fn patient(seed: u32) -> String {
    synthetic_fnr(seed)
}

pub fn org(seed: u32) -> String {
    valid_org_number(seed)
}

pub fn identifier(patient: &str) -> common::Identifier {
    common::Identifier {
        system: oid::FODSELSNUMMER.into(),
        value: patient.into(),
    }
}

/// Health personnel as storage passes them to `Check`.
pub fn personnel(hpr: &str, org_parent: &str, org_child: Option<&str>) -> common::Actor {
    common::Actor {
        kind: ActorKind::Personnel as i32,
        hpr_number: hpr.into(),
        name: format!("Lege {hpr}"),
        org_parent: org_parent.into(),
        org_child: org_child.unwrap_or_default().into(),
        ..common::Actor::default()
    }
}

/// The cache key of an actor, as storage computes it from the same token.
pub fn key(actor: &common::Actor) -> ActorKey {
    ActorKey::new(
        actor.hpr_number.clone(),
        actor.org_parent.clone(),
        Some(actor.org_child.clone()),
    )
}

pub fn hpr_target(hpr: &str) -> block_target::Target {
    block_target::Target::HprNumber(hpr.into())
}

pub fn org_target(org: &str) -> block_target::Target {
    block_target::Target::OrgNumber(org.into())
}

pub const PERMIT: i32 = pb::Decision::Permit as i32;
pub const DENY: i32 = pb::Decision::Deny as i32;

/// Poll `probe` until it answers `Some`, or fail after `limit` naming `what`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return Ok(value);
        }
        if started.elapsed() > limit {
            anyhow::bail!("{what}: not reached within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
