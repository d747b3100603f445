//! The consent decision cache: `consent` writes and invalidates it, `storage` reads it.
//!
//! A cached decision is served only while it can no longer be stale:
//!
//! - every decision carries the patient's consent **revision** it was computed at (from
//!   consent's database), and the cache holds a per-patient **revision marker**; a decision is
//!   served only if the marker exists and equals the decision's revision;
//! - [`DecisionCache::invalidate_patient`] raises the marker (never lowers it), so every
//!   cached decision of that patient (any practitioner, any organisation) stops being served
//!   in the same instant;
//! - [`DecisionCache::put_if_current_fenced`] is a compare-and-set (one Lua script): it writes
//!   only if the marker is absent or equals the decision's revision, so a decision computed
//!   before a block is never written after that block's invalidation;
//! - expiry counts from the write (`SET … PX`, and the write time inside the value), never
//!   from reads;
//! - an **epoch fence** makes a Redis restart, snapshot restore or failover unable to
//!   resurrect old entries: the owner (consent) flushes the keyspace on every connection to a
//!   server whose `run_id` is not the one in `pmd:c:epoch`, and readers serve a hit only when
//!   `pmd:c:epoch` equals the `run_id` of their own connection;
//! - keys are `pmd:c:` + HMAC-SHA256 under the deployment secret: no national id in clear.
//!
//! Every Redis call has a timeout; a slow or absent Redis makes [`DecisionCache::get`] fail
//! fast, and the reader then asks `consent.Check`. `docs/consent.md` gives the whole argument.

mod keys;
mod local;
mod redis_backend;
mod value;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keys::KeyMaker;
use local::LocalCache;
use redis_backend::RedisCache;

/// Prefix of every key the cache uses.
pub const KEY_PREFIX: &str = "pmd:c:";
/// `run_id` of the Redis server the keyspace was last flushed on.
pub const EPOCH_KEY: &str = "pmd:c:epoch";
/// A random value the owner sets after each flush; writes carry the one they saw.
pub const FENCE_KEY: &str = "pmd:c:fence";
/// Counter `{result = hit | miss | error}` of [`DecisionCache::get`].
pub const REQUESTS_TOTAL: &str = "pmd_consent_cache_requests_total";
/// Histogram: latency of [`DecisionCache::get`], seconds.
pub const GET_SECONDS: &str = "pmd_consent_cache_get_seconds";
/// A decision whose database read began longer ago than this is not written: the revision
/// markers outlive it (they live at least [`MIN_MARKER_TTL`]), so a marker that expired
/// cannot let a stale decision in.
pub const MAX_PUT_AGE: Duration = Duration::from_secs(30);
/// Shortest life of a revision marker (refreshed by every write and invalidation); at least
/// twice the decision TTL.
pub const MIN_MARKER_TTL: Duration = Duration::from_secs(3600);

/// The party a decision is about: health personnel (HPR number) acting for an organisation
/// (legal entity and, when given, point of care).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActorKey {
    pub hpr: String,
    pub org_parent: String,
    pub org_child: Option<String>,
}

impl ActorKey {
    pub fn new(
        hpr: impl Into<String>,
        org_parent: impl Into<String>,
        org_child: Option<String>,
    ) -> Self {
        Self {
            hpr: hpr.into(),
            org_parent: org_parent.into(),
            org_child: org_child.filter(|c| !c.is_empty()),
        }
    }
}

/// A consent decision at a revision of the patient's blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub permit: bool,
    /// The patient's consent revision the decision was computed at.
    pub revision: i64,
    /// For a denial: the blocks that matched.
    pub block_ids: Vec<String>,
}

impl Decision {
    pub fn permit(revision: i64) -> Self {
        Self {
            permit: true,
            revision,
            block_ids: Vec::new(),
        }
    }

    pub fn deny(revision: i64, block_ids: Vec<String>) -> Self {
        Self {
            permit: false,
            revision,
            block_ids,
        }
    }
}

/// Timeouts of the Redis calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheTimeouts {
    /// A read ([`DecisionCache::get`]) and a decision write.
    pub read: Duration,
    /// An invalidation, including waiting for a connection.
    pub write: Duration,
    /// Establishing a connection (TCP and `INFO`).
    pub connect: Duration,
}

impl Default for CacheTimeouts {
    fn default() -> Self {
        Self {
            read: Duration::from_millis(250),
            write: Duration::from_secs(1),
            connect: Duration::from_secs(1),
        }
    }
}

/// What can go wrong with the cache. Messages hold no key, patient or actor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    #[error("consent cache unavailable: {0}")]
    Unavailable(String),
    #[error("consent cache call timed out after {0:?}")]
    Timeout(Duration),
    #[error("consent cache error: {0}")]
    Redis(String),
    #[error("consent cache configuration: {0}")]
    Config(String),
    #[error("this consent cache is read-only: only consent writes to it")]
    ReadOnly,
}

/// The decision cache: Redis, in-process, or none. Cloning shares the same cache.
#[derive(Clone)]
pub struct DecisionCache {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Disabled,
    Local(Arc<LocalCache>),
    Redis(Arc<RedisCache>),
}

impl fmt::Debug for DecisionCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DecisionCache({})", self.kind())
    }
}

/// Taken by the writer **before** it reads the database for a decision; the write made with
/// it is refused if the Redis keyspace was flushed (a new server) since, or if it is older
/// than [`MAX_PUT_AGE`] when it reaches Redis.
#[derive(Debug, Clone)]
pub struct WriteFence {
    inner: Fence,
}

#[derive(Debug, Clone)]
enum Fence {
    /// Nothing may be written (no connection yet, a reader, or no cache).
    None,
    Local {
        taken: Instant,
    },
    Redis {
        run_id: String,
        value: String,
        taken_ms: i64,
    },
}

fn marker_ttl(ttl: Duration) -> Duration {
    ttl.saturating_mul(2).max(MIN_MARKER_TTL)
}

pub(crate) fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn check_secret(secret: &[u8]) -> Result<(), CacheError> {
    if secret.is_empty() {
        Err(CacheError::Config(
            "the cache secret must not be empty".into(),
        ))
    } else {
        Ok(())
    }
}

impl DecisionCache {
    /// A reader of the Redis cache at `url` (storage). `secret` and `ttl` must be the same
    /// as consent's. Connects lazily; never writes.
    pub fn redis(url: &str, secret: &[u8], ttl: Duration) -> Result<Self, CacheError> {
        Self::redis_with(url, secret, ttl, false, CacheTimeouts::default())
    }

    /// The owner of the Redis cache at `url` (consent): reads, writes, invalidates, and
    /// fences the keyspace on every new connection.
    pub fn redis_owner(url: &str, secret: &[u8], ttl: Duration) -> Result<Self, CacheError> {
        Self::redis_with(url, secret, ttl, true, CacheTimeouts::default())
    }

    /// [`DecisionCache::redis`] or [`DecisionCache::redis_owner`] with chosen timeouts.
    pub fn redis_with(
        url: &str,
        secret: &[u8],
        ttl: Duration,
        owner: bool,
        timeouts: CacheTimeouts,
    ) -> Result<Self, CacheError> {
        check_secret(secret)?;
        if ttl.is_zero() {
            return Err(CacheError::Config("the cache ttl must be positive".into()));
        }
        let cache = RedisCache::new(
            url,
            KeyMaker::new(secret),
            ttl,
            marker_ttl(ttl),
            owner,
            timeouts,
        )?;
        Ok(Self {
            backend: Backend::Redis(Arc::new(cache)),
        })
    }

    /// An in-process cache (the embedded mode). Hand clones of the same instance to consent
    /// and storage; both must run in this process.
    pub fn in_process(secret: &[u8], ttl: Duration) -> Self {
        Self {
            backend: Backend::Local(Arc::new(LocalCache::new(
                KeyMaker::new(secret),
                ttl,
                marker_ttl(ttl),
            ))),
        }
    }

    /// No cache: every read misses, writes are dropped, invalidations succeed at once.
    pub fn disabled() -> Self {
        Self {
            backend: Backend::Disabled,
        }
    }

    /// `redis`, `in-process` or `disabled` (for logs).
    pub fn kind(&self) -> &'static str {
        match &self.backend {
            Backend::Disabled => "disabled",
            Backend::Local(_) => "in-process",
            Backend::Redis(_) => "redis",
        }
    }

    /// Connect now (Redis), waiting up to the connect timeout plus the time a flush takes
    /// (consent fences the keyspace here). Other kinds are always ready.
    pub async fn connect(&self) -> Result<(), CacheError> {
        match &self.backend {
            Backend::Redis(redis) => {
                let wait = redis.timeouts().connect.saturating_mul(3);
                redis.live_within(wait).await.map(|_| ())
            }
            _ => Ok(()),
        }
    }

    /// The cached decision for `patient` (the national id as the reader has it) and `actor`,
    /// if one may be served. One round trip; fails fast when Redis is slow or absent.
    pub async fn get(
        &self,
        patient: &str,
        actor: &ActorKey,
    ) -> Result<Option<Decision>, CacheError> {
        let started = Instant::now();
        let result = match &self.backend {
            Backend::Disabled => return Ok(None),
            Backend::Local(local) => local.get(patient, actor),
            Backend::Redis(redis) => redis.get(patient, actor).await,
        };
        let label = match &result {
            Ok(Some(_)) => "hit",
            Ok(None) => "miss",
            Err(_) => "error",
        };
        metrics::counter!(REQUESTS_TOTAL, "result" => label).increment(1);
        metrics::histogram!(GET_SECONDS).record(started.elapsed().as_secs_f64());
        result
    }

    /// A fence to take before reading the database for a decision (see [`WriteFence`]).
    pub fn fence(&self) -> WriteFence {
        let inner = match &self.backend {
            Backend::Disabled => Fence::None,
            Backend::Local(_) => Fence::Local {
                taken: Instant::now(),
            },
            Backend::Redis(redis) if !redis.is_owner() => Fence::None,
            Backend::Redis(redis) => match redis.current() {
                Some(live) => Fence::Redis {
                    run_id: live.run_id.clone(),
                    value: live.fence.clone(),
                    taken_ms: now_unix_ms(),
                },
                None => {
                    redis.spawn_connect();
                    Fence::None
                }
            },
        };
        WriteFence { inner }
    }

    /// Write `decision` for (`patient`, `actor`) if it is still current: the patient's
    /// revision marker is absent or equals `decision.revision`, and `fence` still holds.
    /// `Ok(false)` when refused. Consent only.
    pub async fn put_if_current_fenced(
        &self,
        fence: &WriteFence,
        patient: &str,
        actor: &ActorKey,
        decision: &Decision,
    ) -> Result<bool, CacheError> {
        match (&self.backend, &fence.inner) {
            (Backend::Disabled, _) => Ok(false),
            (Backend::Redis(redis), _) if !redis.is_owner() => Err(CacheError::ReadOnly),
            (Backend::Local(local), Fence::Local { taken }) => {
                local.put(*taken, patient, actor, decision)
            }
            (
                Backend::Redis(redis),
                Fence::Redis {
                    run_id,
                    value,
                    taken_ms,
                },
            ) => {
                redis
                    .put(run_id, value, *taken_ms, patient, actor, decision)
                    .await
            }
            _ => Ok(false),
        }
    }

    /// [`DecisionCache::put_if_current_fenced`] with a fence taken now (waiting for a Redis
    /// connection up to the write timeout). The compare-and-set on the revision holds as
    /// ever; only use it when the decision's database read cannot predate a flush.
    pub async fn put_if_current(
        &self,
        patient: &str,
        actor: &ActorKey,
        decision: &Decision,
    ) -> Result<bool, CacheError> {
        if let Backend::Redis(redis) = &self.backend {
            if !redis.is_owner() {
                return Err(CacheError::ReadOnly);
            }
            redis.live_within(redis.timeouts().write).await?;
        }
        let fence = self.fence();
        self.put_if_current_fenced(&fence, patient, actor, decision)
            .await
    }

    /// Make every cached decision for `patient` unservable at once, by raising its revision
    /// marker to `new_revision` (never lowering it). `Ok` means no reader can be served a
    /// decision older than `new_revision` any more. Consent only.
    pub async fn invalidate_patient(
        &self,
        patient: &str,
        new_revision: i64,
    ) -> Result<(), CacheError> {
        match &self.backend {
            Backend::Disabled => Ok(()),
            Backend::Local(local) => local.invalidate(patient, new_revision),
            Backend::Redis(redis) if !redis.is_owner() => Err(CacheError::ReadOnly),
            Backend::Redis(redis) => redis.invalidate(patient, new_revision).await,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const SECRET: &[u8] = b"unit-test-secret-0123456789abcdef";
    const PATIENT: &str = "13116900216";

    fn actor() -> ActorKey {
        ActorKey::new("9144900", "974589095", Some("974589096".into()))
    }

    #[tokio::test]
    async fn a_decision_is_served_at_the_current_revision_only() {
        let cache = DecisionCache::in_process(SECRET, Duration::from_secs(60));
        assert_eq!(cache.get(PATIENT, &actor()).await.unwrap(), None);
        assert!(
            cache
                .put_if_current(PATIENT, &actor(), &Decision::permit(0))
                .await
                .unwrap()
        );
        assert_eq!(
            cache.get(PATIENT, &actor()).await.unwrap(),
            Some(Decision::permit(0))
        );
        cache.invalidate_patient(PATIENT, 1).await.unwrap();
        assert_eq!(cache.get(PATIENT, &actor()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_decision_from_before_an_invalidation_is_refused() {
        let cache = DecisionCache::in_process(SECRET, Duration::from_secs(60));
        let fence = cache.fence();
        cache.invalidate_patient(PATIENT, 1).await.unwrap();
        let stale = Decision::permit(0);
        assert!(
            !cache
                .put_if_current_fenced(&fence, PATIENT, &actor(), &stale)
                .await
                .unwrap()
        );
        assert_eq!(cache.get(PATIENT, &actor()).await.unwrap(), None);
        let fresh = Decision::deny(1, vec!["b1".into()]);
        assert!(
            cache
                .put_if_current(PATIENT, &actor(), &fresh)
                .await
                .unwrap()
        );
        assert_eq!(cache.get(PATIENT, &actor()).await.unwrap(), Some(fresh));
    }

    #[tokio::test]
    async fn invalidations_never_lower_the_marker() {
        let cache = DecisionCache::in_process(SECRET, Duration::from_secs(60));
        cache.invalidate_patient(PATIENT, 5).await.unwrap();
        cache.invalidate_patient(PATIENT, 4).await.unwrap();
        assert!(
            !cache
                .put_if_current(PATIENT, &actor(), &Decision::permit(4))
                .await
                .unwrap()
        );
        assert!(
            cache
                .put_if_current(PATIENT, &actor(), &Decision::permit(5))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn an_invalidation_covers_every_actor_of_the_patient() {
        let cache = DecisionCache::in_process(SECRET, Duration::from_secs(60));
        let other = ActorKey::new("1234567", "974589095", None);
        for a in [actor(), other.clone()] {
            assert!(
                cache
                    .put_if_current(PATIENT, &a, &Decision::permit(2))
                    .await
                    .unwrap()
            );
        }
        cache.invalidate_patient(PATIENT, 3).await.unwrap();
        assert_eq!(cache.get(PATIENT, &actor()).await.unwrap(), None);
        assert_eq!(cache.get(PATIENT, &other).await.unwrap(), None);
    }

    #[tokio::test]
    async fn expiry_counts_from_the_write_not_from_reads() {
        let ttl = Duration::from_millis(300);
        let cache = DecisionCache::in_process(SECRET, ttl);
        assert!(
            cache
                .put_if_current(PATIENT, &actor(), &Decision::permit(0))
                .await
                .unwrap()
        );
        let written = Instant::now();
        while written.elapsed() < ttl.saturating_sub(Duration::from_millis(100)) {
            assert!(cache.get(PATIENT, &actor()).await.unwrap().is_some());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(ttl.saturating_sub(written.elapsed()) + Duration::from_millis(20)).await;
        assert_eq!(cache.get(PATIENT, &actor()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_old_fence_writes_nothing() {
        let cache = DecisionCache::in_process(SECRET, Duration::from_secs(60));
        let fence = WriteFence {
            inner: Fence::Local {
                taken: Instant::now()
                    .checked_sub(MAX_PUT_AGE + Duration::from_secs(1))
                    .unwrap(),
            },
        };
        assert!(
            !cache
                .put_if_current_fenced(&fence, PATIENT, &actor(), &Decision::permit(0))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_disabled_cache_misses_and_accepts_invalidations() {
        let cache = DecisionCache::disabled();
        assert!(
            !cache
                .put_if_current(PATIENT, &actor(), &Decision::permit(0))
                .await
                .unwrap()
        );
        assert_eq!(cache.get(PATIENT, &actor()).await.unwrap(), None);
        cache.invalidate_patient(PATIENT, 1).await.unwrap();
    }

    #[tokio::test]
    async fn a_redis_reader_refuses_to_write() {
        let cache =
            DecisionCache::redis("redis://127.0.0.1:1", SECRET, Duration::from_secs(1)).unwrap();
        assert_eq!(
            cache
                .put_if_current(PATIENT, &actor(), &Decision::permit(0))
                .await,
            Err(CacheError::ReadOnly)
        );
        assert_eq!(
            cache.invalidate_patient(PATIENT, 1).await,
            Err(CacheError::ReadOnly)
        );
    }
}
