//! `pmd bench read`: 1,000,000 measurements over 10,000 synthetic patients (100 each over 30
//! days) in PostgreSQL, loaded through the normal write path; then concurrent clients search
//! a random patient's last 30 days, all vital codes, `_count=100`, through the REST edge with
//! consent (cold: first access per patient; warm: repeated) and audit. Reports searches/s,
//! p50/p99 per phase and the cached consent decision p99 from storage's own histogram.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use pmd_auth::{DevIssuer, TokenRequest};
use pmd_db::sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::mesh::{Mesh, MeshConfig};

#[derive(Args, Debug, Clone)]
pub struct ReadArgs {
    /// PostgreSQL URL (loaded once; later runs reuse the data).
    #[arg(long)]
    pub database_url: String,
    /// Redis URL for the consent decision cache.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    #[arg(long, default_value_t = 10_000)]
    pub patients: usize,
    /// Measurements per patient (spread over the last 30 days).
    #[arg(long, default_value_t = 100)]
    pub per_patient: usize,
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Searches per phase.
    #[arg(long, default_value_t = 20_000)]
    pub searches: usize,
    /// Print the mesh's own latency metrics (gRPC calls, consent decisions, audit batches)
    /// after the run, to see where a search's time goes.
    #[arg(long)]
    pub metrics: bool,
}

const SOURCE_SEED: u32 = 5151;

pub async fn read(data_dir: &std::path::Path, args: ReadArgs) -> anyhow::Result<()> {
    if args.patients == 0 || args.per_patient == 0 || args.clients == 0 || args.searches == 0 {
        bail!("--patients, --per-patient, --clients and --searches must be positive");
    }
    let issuer = DevIssuer::load_or_create(data_dir)?;
    let verifier =
        pmd_auth::Verifier::new(pmd_auth::VerifierConfig::new(vec![issuer.trusted_issuer()]));
    let config = MeshConfig {
        data_dir: data_dir.to_path_buf(),
        database_url: Some(args.database_url.clone()),
        redis_url: Some(args.redis_url.clone()),
        http_addr: "127.0.0.1:0".into(),
        bind_host: "127.0.0.1".into(),
        allow_synthetic_ids: true,
        export_hmac_key: pmd_config::Secret::new("bench-export-key-0123456789abcdef01234567"),
        cache_secret: pmd_config::Secret::new("bench-cache-secret-0123456789abcdef0123456"),
        storage_audit_url: None,
        org_register: None,
        request_timeout_secs: 60,
        drain_timeout_secs: 5,
        dev_issuer: Some(issuer.clone()),
    };
    let mut mesh = Mesh::start(config, verifier).await?;
    mesh.wait_serving(Duration::from_secs(60)).await?;
    let base = mesh.addrs.base_url();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients.max(8))
        .timeout(Duration::from_secs(120))
        .build()?;

    load(&client, &base, &issuer, &args).await?;

    let personnel = issuer.mint(
        &TokenRequest::personnel("9144900", "974589095").ttl(Duration::from_secs(6 * 3600)),
    )?;
    let since = (chrono::Utc::now() - chrono::Duration::days(30))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let patients: Arc<Vec<String>> = Arc::new(
        (0..args.patients)
            .map(|p| pmd_domain::synthetic_fnr(p as u32))
            .collect(),
    );
    // Cold: each search's patient is new to this reader (no cached decision). Warm: the
    // same patients again.
    let cold_set: Vec<usize> = (0..args.searches).map(|i| i % args.patients).collect();
    println!(
        "read benchmark ({} patients x {} measurements, {} clients)",
        args.patients, args.per_patient, args.clients
    );
    for (phase, order) in [("cold cache", cold_set.clone()), ("warm cache", cold_set)] {
        let started = Instant::now();
        let latencies = run(
            &client,
            &base,
            &personnel,
            &since,
            patients.clone(),
            Arc::new(order),
            args.clients,
        )
        .await?;
        let elapsed = started.elapsed();
        let mut sorted = latencies;
        sorted.sort_unstable_by(f64::total_cmp);
        println!(
            "  {phase}: {:.0} searches/s, p50 {:.1} ms, p99 {:.1} ms ({} searches)",
            sorted.len() as f64 / elapsed.as_secs_f64(),
            percentile(&sorted, 0.5),
            percentile(&sorted, 0.99),
            sorted.len()
        );
    }
    let metrics = pmd_telemetry::metrics_handle().render();
    match cached_decision_quantile(&metrics, 0.99) {
        Some(p99) => println!("  cached consent decision p99: {:.3} ms", p99 * 1000.0),
        None => println!("  cached consent decision p99: no cache hits recorded"),
    }
    if args.metrics {
        println!("{}", crate::bench::latency_lines(&metrics));
    }
    mesh.stop().await?;
    Ok(())
}

async fn load(
    client: &reqwest::Client,
    base: &str,
    issuer: &DevIssuer,
    args: &ReadArgs,
) -> anyhow::Result<()> {
    let org = pmd_domain::valid_org_number(SOURCE_SEED);
    let want = (args.patients * args.per_patient) as i64;
    let db = pmd_db::Database::connect(
        &args.database_url,
        "pmd_storage",
        pmd_db::PoolSize { max: 1, min: 1 },
    )
    .await?;
    let have = db
        .conn()
        .query_one_raw(Statement::from_sql_and_values(
            db.db_backend(),
            "SELECT count(*) FROM measurement_keys WHERE source_org = $1",
            [org.clone().into()],
        ))
        .await?
        .and_then(|r| r.try_get_by_index::<i64>(0).ok())
        .unwrap_or_default();
    if have >= want {
        eprintln!("data already loaded ({have} measurements)");
        return Ok(());
    }
    let token = issuer.mint(&TokenRequest::system(org).ttl(Duration::from_secs(6 * 3600)))?;
    let started = Instant::now();
    let now = chrono::Utc::now();
    let per_bundle_patients = 100.min(args.patients);
    let groups = args.patients.div_ceil(per_bundle_patients);
    let rounds = args.per_patient.div_ceil(10);
    let jobs: Vec<(usize, usize)> = (0..rounds)
        .flat_map(|r| (0..groups).map(move |g| (g, r)))
        .collect();
    let jobs = Arc::new(jobs);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (client, jobs, next, token) =
            (client.clone(), jobs.clone(), next.clone(), token.clone());
        let url = format!("{base}/fhir");
        let patients = args.patients;
        let per_patient = args.per_patient;
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(&(group, round)) = jobs.get(i) else {
                    return Ok::<_, anyhow::Error>(());
                };
                let mut entries = Vec::with_capacity(per_bundle_patients * 10);
                for p in 0..per_bundle_patients {
                    let patient_index = group * per_bundle_patients + p;
                    if patient_index >= patients {
                        break;
                    }
                    let patient = pmd_domain::synthetic_fnr(patient_index as u32);
                    for k in 0..10 {
                        let n = round * 10 + k;
                        if n >= per_patient {
                            break;
                        }
                        // Spread over the last 30 days (minus a margin), newest last.
                        let minutes = (29 * 24 * 60) as i64 * (n as i64 + 1) / (per_patient as i64 + 1);
                        let when = now - chrono::Duration::minutes(29 * 24 * 60 - minutes + (p as i64 % 60));
                        let identifier = format!("read-{patient_index}-{n}");
                        let observation = crate::bench::observation(n % 5, &patient, &when.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), &identifier, n);
                        entries.push(json!({"fullUrl": format!("urn:pmd:read:{identifier}"), "resource": observation, "request": {"method": "POST", "url": "Observation"}}));
                    }
                }
                let body = json!({"resourceType": "Bundle", "type": "batch", "entry": entries});
                let response = client.post(&url).bearer_auth(&token).json(&body).send().await.context("loading")?;
                if !response.status().is_success() {
                    bail!("load bundle refused: {}", response.status());
                }
                let _: Value = response.json().await?;
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    eprintln!(
        "loaded {want} measurements in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn run(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    since: &str,
    patients: Arc<Vec<String>>,
    order: Arc<Vec<usize>>,
    clients: usize,
) -> anyhow::Result<Vec<f64>> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (client, token, since) = (client.clone(), token.to_owned(), since.to_owned());
        let (patients, order, next) = (patients.clone(), order.clone(), next.clone());
        let url = format!("{base}/fhir/Observation/_search");
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(&p) = order.get(i) else {
                    return Ok::<_, anyhow::Error>(latencies);
                };
                let form = format!(
                    "patient.identifier=urn:oid:2.16.578.1.12.4.1.4.1|{}&date=ge{}&_count=100",
                    patients[p], since
                );
                let started = Instant::now();
                let response = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form)
                    .send()
                    .await?;
                let status = response.status();
                let body = response.bytes().await?;
                latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                if !status.is_success() {
                    bail!(
                        "search answered {status}: {}",
                        String::from_utf8_lossy(&body)
                    );
                }
            }
        });
    }
    let mut all = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        all.extend(joined??);
    }
    Ok(all)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The `q` quantile (seconds) of the cached consent decisions, from storage's summary
/// metric (rendered with quantiles over a rolling window).
fn cached_decision_quantile(metrics: &str, q: f64) -> Option<f64> {
    let wanted = format!("quantile=\"{q}\"");
    metrics
        .lines()
        .filter(|line| line.starts_with("pmd_storage_consent_decision_seconds{"))
        .filter(|line| line.contains("source=\"cache\"") && line.contains(&wanted))
        .find_map(|line| line.rsplit(' ').next()?.parse().ok())
}
