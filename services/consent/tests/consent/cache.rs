//! The decision cache in Redis: the compare-and-set on the revision, expiry from the write,
//! and the epoch fence against restarts and failovers.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use pmd_consent::DecisionCache;
use pmd_consent_cache::{ActorKey, Decision, EPOCH_KEY};
use pmd_testkit::{OwnRedis, redis_url};
use tokio::process::{Child, Command};

use crate::harness::{
    Cache, DENY, Db, PERMIT, eventually, hpr_target, key, org, patient, personnel, start,
};

fn secret() -> Vec<u8> {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
    .into_bytes()
}

fn actor() -> ActorKey {
    ActorKey::new("9144900", org(80), None)
}

async fn raw(url: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    Ok(redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?)
}

async fn run_id(conn: &mut redis::aio::MultiplexedConnection) -> anyhow::Result<String> {
    let info: String = redis::cmd("INFO").arg("server").query_async(conn).await?;
    info.lines()
        .find_map(|l| l.trim().strip_prefix("run_id:"))
        .map(|s| s.trim().to_owned())
        .context("no run_id")
}

#[tokio::test]
async fn a_decision_computed_before_a_block_is_not_written_after_its_invalidation()
-> anyhow::Result<()> {
    let url = redis_url().await?;
    let secret = secret();
    let ttl = Duration::from_secs(60);
    let owner = DecisionCache::redis_owner(&url, &secret, ttl)?;
    let reader = DecisionCache::redis(&url, &secret, ttl)?;
    owner.connect().await?;
    let p = patient(301);

    // Check begins: fence, then the database says revision 0, no block: a permit.
    let fence = owner.fence();
    let stale = Decision::permit(0);
    // Meanwhile a block commits at revision 1 and is invalidated.
    owner.invalidate_patient(&p, 1).await?;
    // The slow Check now tries to write its permit: refused, with or without its fence.
    assert!(
        !owner
            .put_if_current_fenced(&fence, &p, &actor(), &stale)
            .await?
    );
    assert!(!owner.put_if_current(&p, &actor(), &stale).await?);
    assert_eq!(
        eventually(Duration::from_secs(2), "the reader connects", || async {
            reader.get(&p, &actor()).await.ok()
        })
        .await?,
        None
    );

    // A decision at the current revision is written and served.
    let fresh = Decision::deny(1, vec!["b1".into()]);
    assert!(owner.put_if_current(&p, &actor(), &fresh).await?);
    assert_eq!(reader.get(&p, &actor()).await?, Some(fresh));
    // An invalidation arriving late (a lower revision) does not reopen the door.
    owner.invalidate_patient(&p, 3).await?;
    owner.invalidate_patient(&p, 2).await?;
    assert!(
        !owner
            .put_if_current(&p, &actor(), &Decision::permit(2))
            .await?
    );
    assert_eq!(reader.get(&p, &actor()).await?, None);
    Ok(())
}

#[tokio::test]
async fn expiry_counts_from_the_write_and_reads_do_not_extend_it() -> anyhow::Result<()> {
    let url = redis_url().await?;
    let secret = secret();
    let ttl = Duration::from_secs(2);
    let owner = DecisionCache::redis_owner(&url, &secret, ttl)?;
    let reader = DecisionCache::redis(&url, &secret, ttl)?;
    owner.connect().await?;
    reader.connect().await?;
    let p = patient(302);
    assert!(
        owner
            .put_if_current(&p, &actor(), &Decision::permit(0))
            .await?
    );
    let written = Instant::now();
    let mut last_hit = None;
    let mut first_miss = None;
    while written.elapsed() < ttl + Duration::from_secs(1) {
        match reader.get(&p, &actor()).await? {
            Some(_) => last_hit = Some(written.elapsed()),
            None => {
                first_miss.get_or_insert(written.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let last_hit = last_hit.context("never served")?;
    let first_miss = first_miss.context("never expired")?;
    assert!(
        last_hit >= ttl - Duration::from_millis(500),
        "served until {last_hit:?}"
    );
    assert!(
        first_miss <= ttl + Duration::from_millis(100),
        "expired at {first_miss:?}"
    );
    assert!(first_miss > last_hit);
    Ok(())
}

/// A `redis-server` of this test's own that keeps its snapshot in `dir`, so a restart loads
/// the old data (what a restart from an RDB file, or a failover to a lagging replica, does).
struct SnapshotRedis {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl SnapshotRedis {
    async fn start() -> anyhow::Result<Self> {
        let port = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await?
            .local_addr()?
            .port();
        let mut redis = Self {
            port,
            dir: tempfile::tempdir()?,
            child: None,
        };
        redis.launch().await?;
        Ok(redis)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn launch(&mut self) -> anyhow::Result<()> {
        let dir: &Path = self.dir.path();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir)
            .args([
                "--dbfilename",
                "dump.rdb",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting redis-server")?;
        self.child = Some(child);
        eventually(Duration::from_secs(5), "redis-server answers", || async {
            pmd_testkit::redis_ping(&self.url()).await.ok()
        })
        .await
    }

    /// Kill the process (no save at shutdown) and start it again on the same port and
    /// directory: it loads the last `SAVE`d snapshot and gets a new `run_id`.
    async fn crash_and_restart(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await?;
            child.wait().await?;
        }
        self.launch().await
    }
}

#[tokio::test]
async fn a_redis_restart_from_a_snapshot_serves_nothing_old_before_consent_flushes()
-> anyhow::Result<()> {
    let mut redis = SnapshotRedis::start().await?;
    let url = redis.url();
    let consent = start(Db::Postgres, Cache::Redis { url: url.clone() }).await?;
    let reader = consent.reader(&url).await;
    let p = patient(303);
    let doctor = personnel("9144900", &org(81), None);

    // A permit is cached, and the snapshot taken now holds it.
    assert_eq!(consent.check(&p, &doctor).await?.decision, PERMIT);
    assert_eq!(
        reader.get(&p, &key(&doctor)).await?,
        Some(Decision::permit(0))
    );
    let mut conn = raw(&url).await?;
    let () = redis::cmd("SAVE").query_async(&mut conn).await?;
    let old_run_id = run_id(&mut conn).await?;

    // The citizen blocks the practitioner; acknowledged after the invalidation.
    consent.block(&p, hpr_target("9144900")).await?;
    assert_eq!(reader.get(&p, &key(&doctor)).await?, None);

    // Redis restarts from the snapshot: the old permit and its old marker are back.
    redis.crash_and_restart().await?;
    let mut conn = raw(&url).await?;
    let new_run_id = run_id(&mut conn).await?;
    assert_ne!(new_run_id, old_run_id);
    let stale: Vec<String> = redis::cmd("KEYS")
        .arg("pmd:c:d:*")
        .query_async(&mut conn)
        .await?;
    assert_eq!(stale.len(), 1, "the snapshot holds the old permit");
    let epoch: Option<String> = redis::cmd("GET")
        .arg(EPOCH_KEY)
        .query_async(&mut conn)
        .await?;
    assert_eq!(epoch.as_deref(), Some(old_run_id.as_str()));

    // The reader reconnects to the new server: it serves nothing, although the old permit
    // is right there, because consent has not fenced this server yet.
    let until = Instant::now() + Duration::from_secs(2);
    let mut answered = 0;
    while Instant::now() < until {
        // (an error: reconnecting)
        if let Ok(hit) = reader.get(&p, &key(&doctor)).await {
            answered += 1;
            assert_eq!(hit, None, "a stale permit was served after the restart");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered > 0, "the reader never reconnected");
    let stale: Vec<String> = redis::cmd("KEYS")
        .arg("pmd:c:d:*")
        .query_async(&mut conn)
        .await?;
    assert_eq!(stale.len(), 1, "consent has not flushed yet");

    // Consent's next use of the cache notices the new server and flushes it; its decisions
    // come from the database meanwhile.
    eventually(
        Duration::from_secs(10),
        "consent fences the new server",
        || async {
            assert_eq!(consent.check(&p, &doctor).await.ok()?.decision, DENY);
            let epoch: Option<String> = redis::cmd("GET")
                .arg(EPOCH_KEY)
                .query_async(&mut conn.clone())
                .await
                .ok()?;
            (epoch.as_deref() == Some(new_run_id.as_str())).then_some(())
        },
    )
    .await?;
    let denied = eventually(Duration::from_secs(5), "the denial is cached", || async {
        consent.check(&p, &doctor).await.ok()?;
        reader.get(&p, &key(&doctor)).await.ok().flatten()
    })
    .await?;
    assert!(!denied.permit);
    assert_eq!(denied.revision, 1);
    consent.stop().await
}

#[tokio::test]
async fn a_changed_epoch_stops_every_hit_until_consent_flushes() -> anyhow::Result<()> {
    // A failover to a replica looks like this to the cache: the epoch key names another
    // server than the one the connections reach.
    let redis = OwnRedis::start().await?;
    let url = redis.url();
    let secret = secret();
    let ttl = Duration::from_secs(60);
    let owner = DecisionCache::redis_owner(&url, &secret, ttl)?;
    let reader = DecisionCache::redis(&url, &secret, ttl)?;
    owner.connect().await?;
    reader.connect().await?;
    let p = patient(304);
    assert!(
        owner
            .put_if_current(&p, &actor(), &Decision::permit(0))
            .await?
    );
    assert!(reader.get(&p, &actor()).await?.is_some());

    let mut conn = raw(&url).await?;
    let () = redis::cmd("SET")
        .arg(EPOCH_KEY)
        .arg("run-id-of-the-old-primary")
        .query_async(&mut conn)
        .await?;
    assert_eq!(reader.get(&p, &actor()).await?, None);

    // The owner's next write is refused and makes it re-fence (flush) the keyspace.
    assert!(
        !owner
            .put_if_current(&p, &actor(), &Decision::permit(0))
            .await?
    );
    let run_id = run_id(&mut conn).await?;
    eventually(Duration::from_secs(5), "the owner re-fences", || async {
        let epoch: Option<String> = redis::cmd("GET")
            .arg(EPOCH_KEY)
            .query_async(&mut conn.clone())
            .await
            .ok()?;
        (epoch.as_deref() == Some(run_id.as_str())).then_some(())
    })
    .await?;
    let left: Vec<String> = redis::cmd("KEYS")
        .arg("pmd:c:d:*")
        .query_async(&mut conn)
        .await?;
    assert!(left.is_empty(), "the flush deleted the old decisions");
    assert_eq!(reader.get(&p, &actor()).await?, None);
    // A decision taken now is cached again.
    let written = eventually(Duration::from_secs(5), "a fresh write", || async {
        owner
            .put_if_current(&p, &actor(), &Decision::permit(0))
            .await
            .ok()
            .filter(|w| *w)
    })
    .await?;
    assert!(written);
    assert!(reader.get(&p, &actor()).await?.is_some());
    Ok(())
}
