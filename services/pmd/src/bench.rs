//! `pmd bench ingest`: drive the REST edge with batch Bundles of synthetic measurements from
//! concurrent clients and report throughput and batch latency, then check that the number of
//! stored rows equals the number acknowledged.
//!
//! Without `--url`, it starts the mesh in this process on `--database-url` (PostgreSQL), so
//! the load generator, the services and the database share the machine, as in CI.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use pmd_auth::{DevIssuer, TokenRequest};
use pmd_db::sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::mesh::{Mesh, MeshConfig};

#[derive(Args, Debug, Clone)]
pub struct IngestArgs {
    /// PostgreSQL URL: the mesh runs on it (without --url) and stored rows are counted in it.
    #[arg(long)]
    pub database_url: String,
    /// Drive an already running edge instead (its dev issuer must be the one in --data-dir).
    #[arg(long)]
    pub url: Option<String>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Bundles to send in all.
    #[arg(long, default_value_t = 200)]
    pub bundles: usize,
    /// Measurements per bundle.
    #[arg(long, default_value_t = 1000)]
    pub bundle_size: usize,
    /// Patients per bundle.
    #[arg(long, default_value_t = 100)]
    pub patients: usize,
    /// Bundles sent before timing starts (warm-up).
    #[arg(long, default_value_t = 8)]
    pub warmup: usize,
}

/// The source organisation the benchmark writes as (a valid test organisation number).
fn bench_org() -> String {
    pmd_domain::valid_org_number(4242)
}

pub async fn ingest(data_dir: &std::path::Path, args: IngestArgs) -> anyhow::Result<()> {
    if args.clients == 0 || args.bundles == 0 || args.bundle_size == 0 || args.patients == 0 {
        bail!("--clients, --bundles, --bundle-size and --patients must be positive");
    }
    let issuer = DevIssuer::load_or_create(data_dir)?;
    let mut mesh = None;
    let base = match &args.url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let verifier = pmd_auth::Verifier::new(pmd_auth::VerifierConfig::new(vec![
                issuer.trusted_issuer(),
            ]));
            let config = MeshConfig {
                data_dir: data_dir.to_path_buf(),
                database_url: Some(args.database_url.clone()),
                redis_url: None,
                http_addr: "127.0.0.1:0".into(),
                bind_host: "127.0.0.1".into(),
                allow_synthetic_ids: true,
                export_hmac_key: pmd_config::Secret::new(
                    "bench-export-key-0123456789abcdef01234567",
                ),
                cache_secret: pmd_config::Secret::new("bench-cache-secret-0123456789abcdef0123456"),
                storage_audit_url: None,
                org_register: None,
                request_timeout_secs: 60,
                drain_timeout_secs: 5,
                dev_issuer: Some(issuer.clone()),
            };
            let mut started = Mesh::start(config, verifier).await?;
            started.wait_serving(Duration::from_secs(60)).await?;
            let base = started.addrs.base_url();
            mesh = Some(started);
            base
        }
    };
    let org = bench_org();
    let token =
        issuer.mint(&TokenRequest::system(org.clone()).ttl(Duration::from_secs(6 * 3600)))?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let db = pmd_db::Database::connect(
        &args.database_url,
        "pmd_storage",
        pmd_db::PoolSize { max: 2, min: 1 },
    )
    .await?;
    let before = stored_rows(&db, &org).await?;

    eprintln!(
        "generating {} bundles of {} measurements ({} patients each)",
        args.bundles + args.warmup,
        args.bundle_size,
        args.patients
    );
    let bodies: Vec<Vec<u8>> = (0..args.bundles + args.warmup)
        .map(|b| serde_json::to_vec(&bundle(&run, b, args.bundle_size, args.patients)))
        .collect::<Result<_, _>>()?;
    let bodies = Arc::new(bodies);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .timeout(Duration::from_secs(120))
        .build()?;

    // Warm-up (not timed).
    let warm = run_clients(
        &client,
        &base,
        &token,
        bodies.clone(),
        0..args.warmup,
        args.clients,
    )
    .await?;
    eprintln!(
        "warm-up: {} bundles, {} measurements acknowledged",
        args.warmup, warm.acknowledged
    );

    let lag = StatisticsLag::start(&args.database_url).await?;
    let started = Instant::now();
    let timed = run_clients(
        &client,
        &base,
        &token,
        bodies.clone(),
        args.warmup..args.warmup + args.bundles,
        args.clients,
    )
    .await?;
    let elapsed = started.elapsed();
    let mut latencies = timed.latencies.clone();
    latencies.sort_unstable_by(f64::total_cmp);
    let acknowledged = warm.acknowledged + timed.acknowledged;
    let stored = stored_rows(&db, &org).await? - before;
    let rate = timed.acknowledged as f64 / elapsed.as_secs_f64();
    println!("ingest benchmark");
    println!(
        "  bundles: {} x {} measurements, {} clients",
        args.bundles, args.bundle_size, args.clients
    );
    println!("  elapsed: {:.2} s", elapsed.as_secs_f64());
    println!("  throughput: {rate:.0} measurements/s");
    println!(
        "  batch latency p50: {:.0} ms",
        percentile(&latencies, 0.50)
    );
    println!(
        "  batch latency p99: {:.0} ms",
        percentile(&latencies, 0.99)
    );
    println!(
        "  acknowledged: {acknowledged}, stored: {stored}, rejected entries: {}",
        warm.failed + timed.failed
    );
    let lag = lag.finish().await?;
    println!(
        "  statistics lag behind the audit head: max {} events, {:.1} s during the run; caught up {:.1} s after the last acknowledgement",
        lag.max_events, lag.max_seconds, lag.catch_up_seconds
    );
    if let Some(mesh) = mesh {
        mesh.stop().await?;
    }
    if stored != acknowledged as i64 {
        bail!("stored rows ({stored}) differ from acknowledged measurements ({acknowledged})");
    }
    println!("  check: stored rows equal acknowledged measurements");
    Ok(())
}

/// How far the statistics follower trails the audit log: sampled every 250 ms during the
/// timed run (audit head seq minus the statistics checkpoint, and the age of the last event
/// applied while behind), then the time until it has applied everything once the load stops
/// (the storage outbox drained and the checkpoint at the audit head).
struct StatisticsLag {
    audit: pmd_db::Database,
    statistics: pmd_db::Database,
    storage: pmd_db::Database,
    stop: tokio::sync::watch::Sender<bool>,
    sampler: tokio::task::JoinHandle<anyhow::Result<(i64, f64)>>,
}

struct LagFigures {
    max_events: i64,
    max_seconds: f64,
    catch_up_seconds: f64,
}

impl StatisticsLag {
    async fn start(database_url: &str) -> anyhow::Result<Self> {
        let pool = pmd_db::PoolSize { max: 1, min: 1 };
        let audit = pmd_db::Database::connect(database_url, "pmd_audit", pool).await?;
        let statistics = pmd_db::Database::connect(database_url, "pmd_statistics", pool).await?;
        let storage = pmd_db::Database::connect(database_url, "pmd_storage", pool).await?;
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let (a, s) = (audit.clone(), statistics.clone());
        let sampler = tokio::spawn(async move {
            let (mut max_events, mut max_seconds) = (0i64, 0f64);
            while !*stopped.borrow() {
                let (behind, age) = Self::sample(&a, &s).await?;
                max_events = max_events.max(behind);
                max_seconds = max_seconds.max(age);
                tokio::select! {
                    _ = stopped.changed() => {}
                    () = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
            }
            Ok((max_events, max_seconds))
        });
        Ok(Self {
            audit,
            statistics,
            storage,
            stop,
            sampler,
        })
    }

    /// Events behind the audit head, and seconds since the last applied event (0 when none
    /// is behind).
    async fn sample(
        audit: &pmd_db::Database,
        statistics: &pmd_db::Database,
    ) -> anyhow::Result<(i64, f64)> {
        let head = count(audit, "SELECT COALESCE(MAX(seq), 0) FROM audit_events").await?;
        let (seq, micros) = pmd_statistics::inspect::checkpoint(statistics).await?;
        let behind = (head - seq).max(0);
        let age = if behind > 0 && micros > 0 {
            (chrono::Utc::now().timestamp_micros() - micros).max(0) as f64 / 1e6
        } else {
            0.0
        };
        Ok((behind, age))
    }

    async fn finish(self) -> anyhow::Result<LagFigures> {
        let load_stopped = Instant::now();
        let _ = self.stop.send(true);
        let (max_events, max_seconds) = self.sampler.await??;
        let deadline = load_stopped + Duration::from_secs(600);
        loop {
            let outbox = count(&self.storage, "SELECT count(*) FROM audit_outbox").await?;
            let (behind, _) = Self::sample(&self.audit, &self.statistics).await?;
            if outbox == 0 && behind == 0 {
                break;
            }
            if Instant::now() > deadline {
                bail!("statistics did not catch up with the audit log within 10 minutes");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(LagFigures {
            max_events,
            max_seconds,
            catch_up_seconds: load_stopped.elapsed().as_secs_f64(),
        })
    }
}

async fn count(db: &pmd_db::Database, sql: &str) -> anyhow::Result<i64> {
    let row = db
        .conn()
        .query_one_raw(Statement::from_string(db.db_backend(), sql.to_owned()))
        .await?
        .context("no row")?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

struct Outcome {
    acknowledged: u64,
    failed: u64,
    latencies: Vec<f64>,
}

async fn run_clients(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    bodies: Arc<Vec<Vec<u8>>>,
    range: std::ops::Range<usize>,
    clients: usize,
) -> anyhow::Result<Outcome> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(range.start));
    let end = range.end;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let client = client.clone();
        let url = format!("{base}/fhir");
        let token = token.to_owned();
        let bodies = bodies.clone();
        let next = next.clone();
        tasks.spawn(async move {
            let mut out = Outcome {
                acknowledged: 0,
                failed: 0,
                latencies: Vec::new(),
            };
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= end {
                    return Ok::<_, anyhow::Error>(out);
                }
                let started = Instant::now();
                let response = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/fhir+json")
                    .body(bodies[i].clone())
                    .send()
                    .await
                    .context("sending a bundle")?;
                let status = response.status();
                let body: Value = response
                    .json()
                    .await
                    .context("reading the batch-response")?;
                out.latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                if !status.is_success() {
                    bail!("bundle {i} answered {status}: {body}");
                }
                for entry in body["entry"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                {
                    let status = entry["response"]["status"].as_str().unwrap_or_default();
                    if status.starts_with("201") || status.starts_with("200") {
                        out.acknowledged += 1;
                    } else {
                        out.failed += 1;
                    }
                }
            }
        });
    }
    let mut total = Outcome {
        acknowledged: 0,
        failed: 0,
        latencies: Vec::new(),
    };
    while let Some(joined) = tasks.join_next().await {
        let out = joined??;
        total.acknowledged += out.acknowledged;
        total.failed += out.failed;
        total.latencies.extend(out.latencies);
    }
    Ok(total)
}

async fn stored_rows(db: &pmd_db::Database, org: &str) -> anyhow::Result<i64> {
    let row = db
        .conn()
        .query_one_raw(Statement::from_sql_and_values(
            db.db_backend(),
            "SELECT count(*) FROM measurement_keys WHERE source_org = $1",
            [org.into()],
        ))
        .await?
        .context("count returned no row")?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// A batch Bundle of `size` synthetic measurements over `patients` patients: heart rate,
/// blood pressure, SpO2, temperature and weight mixed, each with a unique identifier.
pub fn bundle(run: &str, bundle: usize, size: usize, patients: usize) -> Value {
    let now = chrono::Utc::now();
    let entries: Vec<Value> = (0..size)
        .map(|i| {
            let patient =
                pmd_domain::synthetic_fnr(((bundle * patients + i % patients) % 30_000) as u32);
            let when = now - chrono::Duration::minutes((i as i64) * 7 + (bundle as i64) * 3);
            let id = format!("{run}-{bundle}-{i}");
            let observation = observation(
                i % 5,
                &patient,
                &when.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                &id,
                i,
            );
            json!({
                "fullUrl": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
                "resource": observation,
                "request": {"method": "POST", "url": "Observation"},
            })
        })
        .collect();
    json!({"resourceType": "Bundle", "type": "batch", "entry": entries})
}

/// One synthetic vital-sign Observation of kind `kind` (0..5).
pub fn observation(
    kind: usize,
    patient: &str,
    effective: &str,
    identifier: &str,
    n: usize,
) -> Value {
    let jitter = (n % 10) as f64;
    let (code, display, value) = match kind {
        0 => ("8867-4", "Heart rate", Some((60.0 + jitter * 3.0, "/min"))),
        1 => ("85354-9", "Blood pressure panel", None),
        2 => (
            "59408-5",
            "Oxygen saturation",
            Some((93.0 + (n % 7) as f64, "%")),
        ),
        3 => (
            "8310-5",
            "Body temperature",
            Some((36.5 + jitter / 10.0, "Cel")),
        ),
        _ => ("29463-7", "Body weight", Some((70.0 + jitter, "kg"))),
    };
    let mut observation = json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}]},
        "subject": {"identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": patient}},
        "identifier": [{"system": "urn:pmd:synthetic", "value": identifier}],
        "effectiveDateTime": effective,
    });
    match value {
        Some((v, unit)) => {
            observation["valueQuantity"] = json!({"value": v, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit});
        }
        None => {
            observation["component"] = json!([
                {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                 "valueQuantity": {"value": 120.0 + jitter * 2.0, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
                {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                 "valueQuantity": {"value": 75.0 + jitter, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
            ]);
        }
    }
    observation
}

/// The latency lines of a Prometheus rendering: every `*_seconds` quantile, and each
/// histogram's mean (sum / count), one line each.
pub fn latency_lines(metrics: &str) -> String {
    let mut sums = std::collections::BTreeMap::new();
    let mut counts = std::collections::BTreeMap::new();
    let mut lines = Vec::new();
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let name = series.split('{').next().unwrap_or_default();
        let labels = series.strip_prefix(name).unwrap_or_default().to_owned();
        if let Some(base) = name.strip_suffix("_seconds_sum") {
            sums.insert((base.to_owned(), labels), value);
        } else if let Some(base) = name.strip_suffix("_seconds_count") {
            counts.insert((base.to_owned(), labels), value);
        } else if name.ends_with("_seconds") && series.contains("quantile=") {
            lines.push(format!("  {series}: {:.3} ms", value * 1000.0));
        }
    }
    for ((base, labels), count) in counts {
        if let Some(sum) = sums.get(&(base.clone(), labels.clone()))
            && count > 0.0
        {
            lines.push(format!(
                "  {base}{labels}: mean {:.3} ms over {count}",
                sum / count * 1000.0
            ));
        }
    }
    lines.join("\n")
}
