//! Every service in one process, on loopback ports, still talking gRPC to each other. Used by
//! `pmd up` and by the integration tests (`pmd-testkit`), so both run the same wiring.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pmd_config::Secret;
use pmd_consent_cache::DecisionCache;
use pmd_server::{
    Context, GrpcApp, ServiceCredentials, ShutdownSignal, ShutdownTrigger, StartError,
    shutdown_channel,
};
use tokio::task::JoinSet;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// How to run the mesh.
#[derive(Debug, Clone)]
pub struct MeshConfig {
    /// SQLite files, the audit checkpoints and keys live here.
    pub data_dir: PathBuf,
    /// PostgreSQL URL; `None` = SQLite files under `data_dir`.
    pub database_url: Option<String>,
    /// Redis URL for the consent decision cache; `None` = in-process cache.
    pub redis_url: Option<String>,
    /// Where the edge listens (`127.0.0.1:0` picks a port).
    pub http_addr: String,
    /// Bind address of the gRPC and admin ports (port 0 each).
    pub bind_host: String,
    pub allow_synthetic_ids: bool,
    pub export_hmac_key: Secret,
    /// Deployment secret for decision-cache keys and search cursors (≥ 32 characters).
    pub cache_secret: Secret,
    /// Where storage reaches audit, when not audit itself (a fault-injecting proxy in tests).
    pub storage_audit_url: Option<String>,
    /// Organisation register file for the edge and statistics (default: the shipped one).
    pub org_register: Option<PathBuf>,
    pub request_timeout_secs: u64,
    pub drain_timeout_secs: u64,
    /// Mints each service's own token (scope `pmd:internal`); `None` = no service
    /// credentials (the services then cannot act as themselves).
    pub dev_issuer: Option<pmd_auth::DevIssuer>,
}

/// Addresses of a running mesh.
#[derive(Debug, Clone, Copy)]
pub struct MeshAddrs {
    pub http: SocketAddr,
    pub ingestion: SocketAddr,
    pub storage: SocketAddr,
    pub consent: SocketAddr,
    pub audit: SocketAddr,
    pub statistics: SocketAddr,
}

impl MeshAddrs {
    /// `http://127.0.0.1:PORT` of the edge.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Each gRPC service with its `grpc.health.v1` name.
    pub fn grpc_services(&self) -> [(SocketAddr, &'static str); 5] {
        [
            (self.ingestion, pmd_ingestion::SERVICE_NAME),
            (self.storage, pmd_storage::SERVICE_NAME),
            (self.consent, pmd_consent::SERVICE_NAME),
            (self.audit, pmd_audit::SERVICE_NAME),
            (self.statistics, pmd_statistics::SERVICE_NAME),
        ]
    }
}

/// A running mesh. Dropping it does not stop it: call [`Mesh::stop`].
pub struct Mesh {
    pub addrs: MeshAddrs,
    trigger: ShutdownTrigger,
    tasks: JoinSet<Result<(), StartError>>,
    /// How storage was started, so tests can add replicas of it.
    storage_args: Vec<String>,
    storage_context: Context,
    cache: Option<DecisionCache>,
}

fn url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// Parse a service's configuration exactly as its binary would, from flags.
fn service_config<C: clap::CommandFactory + clap::FromArgMatches>(
    args: Vec<String>,
) -> Result<C, StartError> {
    pmd_config::parse(args, &HashMap::new())
        .map_err(|e| StartError::Other(format!("internal configuration error: {e}")))
}

impl Mesh {
    /// Build and start every service; returns once all are listening (not yet SERVING:
    /// see [`Mesh::wait_serving`]).
    pub async fn start(
        config: MeshConfig,
        verifier: pmd_auth::Verifier,
    ) -> Result<Self, StartError> {
        let context = |service: &'static str| Context {
            verifier: verifier.clone(),
            credentials: match &config.dev_issuer {
                Some(issuer) => {
                    let issuer = issuer.clone();
                    ServiceCredentials::minted(move || {
                        issuer
                            .mint(&pmd_auth::TokenRequest::service(service))
                            .map_err(|e| e.to_string())
                    })
                }
                None => ServiceCredentials::none(),
            },
        };
        tokio::fs::create_dir_all(&config.data_dir)
            .await
            .map_err(StartError::Io)?;
        let db_url = |service: &str| match &config.database_url {
            Some(url) => url.clone(),
            None => pmd_db::sqlite_url(&config.data_dir, service),
        };
        let host = &config.bind_host;
        let common = {
            let mut args = vec![
                format!("--request-timeout-secs={}", config.request_timeout_secs),
                format!("--drain-timeout-secs={}", config.drain_timeout_secs),
            ];
            if config.allow_synthetic_ids {
                args.push("--allow-synthetic-ids".into());
            }
            args
        };
        let listen = |name: &str| {
            let mut args = vec![
                format!("pmd-{name}"),
                format!("--grpc-addr={host}:0"),
                format!("--admin-addr={host}:0"),
            ];
            args.extend(common.iter().cloned());
            args
        };
        let redis = |args: &mut Vec<String>| {
            if let Some(redis) = &config.redis_url {
                args.push(format!("--redis-url={redis}"));
            }
            args.push(format!("--cache-secret={}", config.cache_secret.expose()));
        };
        // One in-process decision cache shared by consent and storage when there is no Redis.
        let shared_cache = match &config.redis_url {
            None => Some(DecisionCache::in_process(
                config.cache_secret.expose().as_bytes(),
                Duration::from_secs(300),
            )),
            Some(_) => None,
        };

        let (trigger, signal) = shutdown_channel();
        let mut tasks = JoinSet::new();
        let spawn = |tasks: &mut JoinSet<_>, app: GrpcApp, signal: ShutdownSignal| {
            let addr = app.grpc_addr();
            tasks.spawn(app.run_until_stopped(signal));
            addr
        };

        let mut args = listen("audit");
        args.push(format!("--database-url={}", db_url("audit")));
        args.push(format!(
            "--checkpoint-dir={}",
            config.data_dir.join("audit-checkpoints").display()
        ));
        let audit = pmd_audit::build(service_config(args)?, context("audit")).await?;
        let audit = spawn(&mut tasks, audit, signal.clone());

        let mut args = listen("consent");
        args.push(format!("--database-url={}", db_url("consent")));
        args.push(format!("--audit-url={}", url(audit)));
        redis(&mut args);
        let consent = match &shared_cache {
            Some(cache) => {
                pmd_consent::build_with_cache(
                    service_config(args)?,
                    context("consent"),
                    cache.clone(),
                )
                .await?
            }
            None => pmd_consent::build(service_config(args)?, context("consent")).await?,
        };
        let consent = spawn(&mut tasks, consent, signal.clone());

        let mut args = listen("storage");
        args.push(format!("--database-url={}", db_url("storage")));
        args.push(format!("--consent-url={}", url(consent)));
        args.push(format!(
            "--audit-url={}",
            config
                .storage_audit_url
                .clone()
                .unwrap_or_else(|| url(audit))
        ));
        redis(&mut args);
        let storage_args = args.clone();
        let storage_context = context("storage");
        let storage = match &shared_cache {
            Some(cache) => {
                pmd_storage::build_with_cache(
                    service_config(args)?,
                    storage_context.clone(),
                    cache.clone(),
                )
                .await?
            }
            None => pmd_storage::build(service_config(args)?, storage_context.clone()).await?,
        };
        let storage = spawn(&mut tasks, storage, signal.clone());

        let mut args = listen("ingestion");
        args.push(format!("--storage-url={}", url(storage)));
        let ingestion = pmd_ingestion::build(service_config(args)?, context("ingestion")).await?;
        let ingestion = spawn(&mut tasks, ingestion, signal.clone());

        let org_register: Vec<String> = config
            .org_register
            .iter()
            .map(|path| format!("--org-register={}", path.display()))
            .collect();
        let mut args = listen("statistics");
        args.extend(org_register.iter().cloned());
        args.push(format!("--database-url={}", db_url("statistics")));
        args.push(format!("--audit-url={}", url(audit)));
        args.push(format!(
            "--export-hmac-key={}",
            config.export_hmac_key.expose()
        ));
        let statistics =
            pmd_statistics::build(service_config(args)?, context("statistics")).await?;
        let statistics = spawn(&mut tasks, statistics, signal.clone());

        let mut args = vec![
            "pmd-edge".to_owned(),
            format!("--http-addr={}", config.http_addr),
            format!("--ingestion-url={}", url(ingestion)),
            format!("--storage-url={}", url(storage)),
            format!("--consent-url={}", url(consent)),
            format!("--audit-url={}", url(audit)),
            format!("--statistics-url={}", url(statistics)),
        ];
        args.extend(org_register.iter().cloned());
        args.extend(common.iter().cloned());
        // The portal's demo sign-in comes with the dev issuer (the embedded mode only).
        let edge_options = pmd_edge::EdgeOptions {
            dev_sign_in: config.dev_issuer.clone().map(|issuer| pmd_edge::DevSignIn {
                issuer,
                citizens: crate::seed::demo_patients()
                    .into_iter()
                    .map(|p| pmd_edge::DemoCitizen {
                        pid: p.id,
                        follow_up: p.follow_up.to_owned(),
                    })
                    .collect(),
            }),
        };
        let edge = pmd_edge::build_with(service_config(args)?, verifier, edge_options).await?;
        let http = edge.addr();
        tasks.spawn(edge.run_until_stopped(signal));

        Ok(Self {
            addrs: MeshAddrs {
                http,
                ingestion,
                storage,
                consent,
                audit,
                statistics,
            },
            trigger,
            tasks,
            storage_args,
            storage_context,
            cache: shared_cache,
        })
    }

    /// Start one more storage replica (same database, cache and peers, new ports); returns
    /// its gRPC address. It stops with the mesh.
    pub async fn spawn_storage_replica(&mut self) -> Result<SocketAddr, StartError> {
        let config: pmd_storage::StorageConfig = service_config(self.storage_args.clone())?;
        let app = match &self.cache {
            Some(cache) => {
                pmd_storage::build_with_cache(config, self.storage_context.clone(), cache.clone())
                    .await?
            }
            None => pmd_storage::build(config, self.storage_context.clone()).await?,
        };
        let addr = app.grpc_addr();
        self.tasks
            .spawn(app.run_until_stopped(self.trigger.signal()));
        Ok(addr)
    }

    /// Wait until every gRPC service reports SERVING over `grpc.health.v1`, or fail after
    /// `timeout` naming the ones that do not.
    pub async fn wait_serving(&mut self, timeout: Duration) -> Result<(), StartError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut waiting = Vec::new();
            for (addr, name) in self.addrs.grpc_services() {
                if !is_serving(addr, name).await {
                    waiting.push(name);
                }
            }
            if waiting.is_empty() {
                return Ok(());
            }
            if let Some(Ok(Err(e))) = self.tasks.try_join_next() {
                return Err(e);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StartError::Other(format!(
                    "services not SERVING after {timeout:?}: {}",
                    waiting.join(", ")
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A signal that fires when the mesh is asked to stop.
    pub fn shutdown_trigger(&self) -> &ShutdownTrigger {
        &self.trigger
    }

    /// Wait until a service stops by itself (an error) or the mesh is stopped.
    pub async fn wait(&mut self) -> Result<(), StartError> {
        while let Some(joined) = self.tasks.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    self.trigger.trigger();
                    return Err(e);
                }
                Err(e) => {
                    self.trigger.trigger();
                    return Err(StartError::Other(format!("a service task failed: {e}")));
                }
            }
        }
        Ok(())
    }

    /// Stop every service gracefully and wait for them.
    pub async fn stop(mut self) -> Result<(), StartError> {
        self.trigger.trigger();
        self.wait().await
    }
}

/// Does the gRPC server at `addr` report `service` as SERVING?
pub async fn is_serving(addr: SocketAddr, service: &str) -> bool {
    let Ok(endpoint) = tonic::transport::Endpoint::from_shared(url(addr)) else {
        return false;
    };
    let Ok(channel) = endpoint
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(2))
        .connect()
        .await
    else {
        return false;
    };
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32)
}
