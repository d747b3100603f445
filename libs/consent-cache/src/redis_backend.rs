//! The Redis cache: one multiplexed connection per process, re-established by us (never
//! silently by the driver) so that every new connection learns the server's `run_id`, and,
//! for consent (the owner), fences the keyspace with it before anything is written.
//!
//! Keys (see `keys.rs`):
//! - `pmd:c:epoch`: `run_id` of the server the keyspace was last flushed on;
//! - `pmd:c:fence`: a random value the owner sets after each flush; a write carries the value
//!   it saw before its database read and is refused when it changed;
//! - `pmd:c:r:<hmac>`: a patient's revision marker (monotonic within an epoch);
//! - `pmd:c:d:<hmac>`: one (patient, actor) decision.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Script};
use tokio::sync::Notify;

use crate::keys::KeyMaker;
use crate::{
    ActorKey, CacheError, CacheTimeouts, Decision, EPOCH_KEY, FENCE_KEY, KEY_PREFIX, MAX_PUT_AGE,
    now_unix_ms, value,
};

/// Consecutive timeouts after which a connection is presumed dead (a black-holed peer gives
/// no I/O error) and replaced.
const TIMEOUTS_BEFORE_RECONNECT: u32 = 3;
/// Pause between connection attempts: doubles from the first to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Keys deleted per flush step (one atomic script each).
const FLUSH_BATCH: usize = 500;
/// Longest a flush of the keyspace may take before the attempt is abandoned.
const FLUSH_BUDGET: Duration = Duration::from_secs(300);
/// A decision stamped this far in the reader's future is not trusted (a broken clock).
const MAX_CLOCK_AHEAD_MS: i64 = 60_000;

/// Write the decision only if the owner's fence still holds, the database read is recent,
/// and the patient's marker is absent or at the decision's revision (compare-and-set).
/// KEYS: decision, marker, epoch, fence. ARGV: revision, value, ttl ms, marker ttl ms,
/// run_id, fence value, fence time ms, max age ms.
/// Returns 1 written, 0 marker at another revision, -1 fence changed, -2 too old.
const PUT_SCRIPT: &str = r"
if redis.call('GET', KEYS[3]) ~= ARGV[5] or redis.call('GET', KEYS[4]) ~= ARGV[6] then
  return -1
end
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if now_ms - tonumber(ARGV[7]) > tonumber(ARGV[8]) then
  return -2
end
local marker = redis.call('GET', KEYS[2])
if marker and marker ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[4])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
";

/// Raise the patient's marker to at least the new revision (never lower it: invalidations
/// may arrive out of order). KEYS: marker, epoch. ARGV: revision, marker ttl ms, run_id.
/// Returns 1, or 0 when the epoch is not this server's (nothing is served until a flush).
const INVALIDATE_SCRIPT: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '')
if current and current > tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
if redis.call('GET', KEYS[2]) == ARGV[3] then
  return 1
end
return 0
";

/// The fence value when the keyspace is already fenced for this server, else nil.
/// KEYS: epoch, fence. ARGV: run_id.
const BEGIN_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('GET', KEYS[2])
end
return false
";

/// Delete one batch of old keys, unless another owner finished the flush meanwhile (then
/// nothing written since may be lost). KEYS: epoch, fence, keys... ARGV: run_id.
const FLUSH_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) then
  return -1
end
local deleted = 0
for i = 3, #KEYS do
  deleted = deleted + redis.call('DEL', KEYS[i])
end
return deleted
";

/// Close the flush: set a new fence value and the epoch, or adopt what another owner set.
/// KEYS: epoch, fence. ARGV: run_id, new fence value.
const FINISH_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  local fence = redis.call('GET', KEYS[2])
  if fence then
    return fence
  end
end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[2]
";

struct Scripts {
    put: Script,
    invalidate: Script,
    begin: Script,
    flush: Script,
    finish: Script,
}

/// One established connection and what was learnt when it was made.
pub(crate) struct Live {
    conn: MultiplexedConnection,
    /// `run_id` of the server at the other end.
    pub(crate) run_id: String,
    /// The owner's fence value (empty for readers).
    pub(crate) fence: String,
    pub(crate) generation: u64,
    timeouts_in_row: AtomicU32,
}

pub(crate) struct RedisCache {
    client: redis::Client,
    owner: bool,
    keys: KeyMaker,
    ttl: Duration,
    marker_ttl: Duration,
    timeouts: CacheTimeouts,
    scripts: Scripts,
    live: RwLock<Option<Arc<Live>>>,
    connecting: AtomicBool,
    failures: Mutex<(u32, Option<Instant>)>,
    changed: Notify,
    generations: AtomicU64,
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn redis_error(error: &redis::RedisError) -> CacheError {
    CacheError::Redis(format!("{:?}", error.kind()).to_lowercase())
}

impl RedisCache {
    pub(crate) fn new(
        url: &str,
        keys: KeyMaker,
        ttl: Duration,
        marker_ttl: Duration,
        owner: bool,
        timeouts: CacheTimeouts,
    ) -> Result<Self, CacheError> {
        let client = redis::Client::open(url)
            .map_err(|_| CacheError::Config("the redis url cannot be parsed".into()))?;
        Ok(Self {
            client,
            owner,
            keys,
            ttl,
            marker_ttl,
            timeouts,
            scripts: Scripts {
                put: Script::new(PUT_SCRIPT),
                invalidate: Script::new(INVALIDATE_SCRIPT),
                begin: Script::new(BEGIN_SCRIPT),
                flush: Script::new(FLUSH_SCRIPT),
                finish: Script::new(FINISH_SCRIPT),
            },
            live: RwLock::new(None),
            connecting: AtomicBool::new(false),
            failures: Mutex::new((0, None)),
            changed: Notify::new(),
            generations: AtomicU64::new(0),
        })
    }

    pub(crate) fn is_owner(&self) -> bool {
        self.owner
    }

    pub(crate) fn timeouts(&self) -> CacheTimeouts {
        self.timeouts
    }

    /// The current connection, if one is established.
    pub(crate) fn current(&self) -> Option<Arc<Live>> {
        self.live.read().ok().and_then(|live| live.clone())
    }

    /// The current connection; without one, start connecting and fail at once.
    fn live_now(self: &Arc<Self>) -> Result<Arc<Live>, CacheError> {
        match self.current() {
            Some(live) => Ok(live),
            None => {
                self.spawn_connect();
                Err(CacheError::Unavailable("not connected to redis".into()))
            }
        }
    }

    /// The current connection, waiting up to `wait` for one to be established.
    pub(crate) async fn live_within(
        self: &Arc<Self>,
        wait: Duration,
    ) -> Result<Arc<Live>, CacheError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(live) = self.current() {
                return Ok(live);
            }
            self.spawn_connect();
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self
                    .current()
                    .ok_or_else(|| CacheError::Unavailable("not connected to redis".into()));
            }
        }
    }

    /// Start one connection attempt in the background unless one is running.
    pub(crate) fn spawn_connect(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.connecting.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = Arc::clone(self);
        runtime.spawn(async move {
            let pause = this.backoff();
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            let outcome = this.establish().await;
            match outcome {
                Ok(live) => {
                    if let Ok(mut failures) = this.failures.lock() {
                        *failures = (0, None);
                    }
                    tracing::info!(
                        owner = this.owner,
                        generation = live.generation,
                        "connected to the consent cache"
                    );
                    if let Ok(mut slot) = this.live.write() {
                        *slot = Some(Arc::new(live));
                    }
                }
                Err(error) => {
                    if let Ok(mut failures) = this.failures.lock() {
                        *failures = (failures.0.saturating_add(1), Some(Instant::now()));
                    }
                    tracing::warn!(%error, "cannot connect to the consent cache");
                }
            }
            this.connecting.store(false, Ordering::Release);
            this.changed.notify_waiters();
        });
    }

    /// How long to wait before the next attempt, after consecutive failures.
    fn backoff(&self) -> Duration {
        let Ok(failures) = self.failures.lock() else {
            return BACKOFF_MAX;
        };
        let (count, last) = *failures;
        let Some(last) = last else {
            return Duration::ZERO;
        };
        let wanted = BACKOFF_FIRST
            .saturating_mul(1 << count.saturating_sub(1).min(5))
            .min(BACKOFF_MAX);
        wanted.saturating_sub(last.elapsed())
    }

    /// Forget `live` (if still current) so the next call connects again.
    fn drop_live(self: &Arc<Self>, live: &Live, why: &str) {
        let mut dropped = false;
        if let Ok(mut slot) = self.live.write()
            && slot
                .as_ref()
                .is_some_and(|l| l.generation == live.generation)
        {
            *slot = None;
            dropped = true;
        }
        if dropped {
            tracing::warn!(
                generation = live.generation,
                why,
                "consent cache connection dropped"
            );
            self.spawn_connect();
        }
    }

    /// Judge the outcome of one call on `live`: keep or drop the connection.
    fn settle<T>(
        self: &Arc<Self>,
        live: &Live,
        limit: Duration,
        outcome: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, CacheError> {
        match outcome {
            Ok(Ok(value)) => {
                live.timeouts_in_row.store(0, Ordering::Relaxed);
                Ok(value)
            }
            Ok(Err(error)) => {
                if error.is_io_error()
                    || error.is_connection_dropped()
                    || error.is_connection_refusal()
                    || error.is_unrecoverable_error()
                {
                    self.drop_live(live, "connection error");
                }
                Err(redis_error(&error))
            }
            Err(_) => {
                let count = live.timeouts_in_row.fetch_add(1, Ordering::Relaxed) + 1;
                if count >= TIMEOUTS_BEFORE_RECONNECT {
                    self.drop_live(live, "repeated timeouts");
                }
                Err(CacheError::Timeout(limit))
            }
        }
    }

    /// Connect, learn the server's `run_id`, and (owner) fence the keyspace.
    async fn establish(&self) -> Result<Live, CacheError> {
        let limit = self.timeouts.connect;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(limit))
            .set_response_timeout(None);
        let mut conn = bounded(
            limit,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await?;
        let info: String = bounded(
            limit,
            redis::cmd("INFO").arg("server").query_async(&mut conn),
        )
        .await?;
        let run_id = parse_run_id(&info)
            .ok_or_else(|| CacheError::Redis("INFO server gave no run_id".into()))?;
        let fence = if self.owner {
            tokio::time::timeout(FLUSH_BUDGET, self.fence_keyspace(&mut conn, &run_id))
                .await
                .map_err(|_| CacheError::Timeout(FLUSH_BUDGET))??
        } else {
            String::new()
        };
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(Live {
            conn,
            run_id,
            fence,
            generation,
            timeouts_in_row: AtomicU32::new(0),
        })
    }

    /// The owner's step on every new connection: if the keyspace was not fenced for this
    /// server (`pmd:c:epoch` ≠ `run_id`: a restart, a failover, a snapshot restore), delete
    /// every `pmd:c:*` key, then set a new fence value and the epoch.
    async fn fence_keyspace(
        &self,
        conn: &mut MultiplexedConnection,
        run_id: &str,
    ) -> Result<String, CacheError> {
        // Each step of the flush has its own timeout, so a server that hangs midway is given
        // up on (and reconnected to) rather than waited for.
        let step = self.timeouts.connect.saturating_mul(5);
        let fenced: Option<String> = bounded(
            step,
            self.scripts
                .begin
                .key(EPOCH_KEY)
                .key(FENCE_KEY)
                .arg(run_id)
                .invoke_async(conn),
        )
        .await?;
        if let Some(fence) = fenced {
            return Ok(fence);
        }
        tracing::warn!(
            "consent cache epoch changed (new redis server): flushing every cached decision"
        );
        let pattern = format!("{KEY_PREFIX}*");
        let mut cursor: u64 = 0;
        let mut deleted: i64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = bounded(
                step,
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(FLUSH_BATCH)
                    .query_async(conn),
            )
            .await?;
            let keys: Vec<String> = keys
                .into_iter()
                .filter(|k| k != EPOCH_KEY && k != FENCE_KEY)
                .collect();
            if !keys.is_empty() {
                let mut invocation = self.scripts.flush.key(EPOCH_KEY);
                invocation.key(FENCE_KEY);
                for key in &keys {
                    invocation.key(key);
                }
                invocation.arg(run_id);
                let n: i64 = bounded(step, invocation.invoke_async(conn)).await?;
                if n < 0 {
                    // Another consent replica finished the flush: adopt its fence.
                    break;
                }
                deleted += n;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        let fence: String = bounded(
            step,
            self.scripts
                .finish
                .key(EPOCH_KEY)
                .key(FENCE_KEY)
                .arg(run_id)
                .arg(uuid::Uuid::new_v4().simple().to_string())
                .invoke_async(conn),
        )
        .await?;
        tracing::info!(deleted, "consent cache flushed and fenced");
        Ok(fence)
    }

    pub(crate) async fn get(
        self: &Arc<Self>,
        patient: &str,
        actor: &ActorKey,
    ) -> Result<Option<Decision>, CacheError> {
        let live = self.live_now()?;
        let decision_key = self.keys.decision_key(patient, actor);
        let marker_key = self.keys.marker_key(patient);
        let mut conn = live.conn.clone();
        let limit = self.timeouts.read;
        let outcome = tokio::time::timeout(
            limit,
            redis::cmd("MGET")
                .arg(&decision_key)
                .arg(&marker_key)
                .arg(EPOCH_KEY)
                .query_async::<Vec<Option<String>>>(&mut conn),
        )
        .await;
        let values = self.settle(&live, limit, outcome)?;
        let [decision, marker, epoch] = values.as_slice() else {
            return Err(CacheError::Redis(
                "MGET answered the wrong number of values".into(),
            ));
        };
        // Served only from a keyspace fenced for the server this connection reaches.
        if epoch.as_deref() != Some(live.run_id.as_str()) {
            return Ok(None);
        }
        let Some((decision, written_ms)) = decision.as_deref().and_then(value::decode) else {
            return Ok(None);
        };
        let marker = marker.as_deref().and_then(|m| m.parse::<i64>().ok());
        if marker != Some(decision.revision) {
            return Ok(None);
        }
        let now = now_unix_ms();
        let ttl_ms = i64::try_from(millis(self.ttl)).unwrap_or(i64::MAX);
        if now.saturating_sub(written_ms) >= ttl_ms || written_ms > now + MAX_CLOCK_AHEAD_MS {
            return Ok(None);
        }
        Ok(Some(decision))
    }

    pub(crate) async fn put(
        self: &Arc<Self>,
        fence_run_id: &str,
        fence_value: &str,
        fence_ms: i64,
        patient: &str,
        actor: &ActorKey,
        decision: &Decision,
    ) -> Result<bool, CacheError> {
        let live = self.live_now()?;
        let mut conn = live.conn.clone();
        let limit = self.timeouts.read;
        let mut invocation = self.scripts.put.key(self.keys.decision_key(patient, actor));
        invocation
            .key(self.keys.marker_key(patient))
            .key(EPOCH_KEY)
            .key(FENCE_KEY)
            .arg(decision.revision)
            .arg(value::encode(decision, now_unix_ms()))
            .arg(millis(self.ttl))
            .arg(millis(self.marker_ttl))
            .arg(fence_run_id)
            .arg(fence_value)
            .arg(fence_ms)
            .arg(millis(MAX_PUT_AGE));
        let outcome = tokio::time::timeout(limit, invocation.invoke_async::<i64>(&mut conn)).await;
        match self.settle(&live, limit, outcome)? {
            1 => Ok(true),
            -1 => {
                if fence_value == live.fence && fence_run_id == live.run_id {
                    // Our view of the fence is current, yet the server's differs: the
                    // epoch was changed under us. Reconnect, which flushes and re-fences.
                    self.drop_live(&live, "epoch changed on the server");
                }
                Ok(false)
            }
            _ => Ok(false),
        }
    }

    /// Raise the patient's marker, within the write timeout. A connection found dead is
    /// replaced and the call tried once more (a restarted Redis should not fail the first
    /// block after it).
    pub(crate) async fn invalidate(
        self: &Arc<Self>,
        patient: &str,
        new_revision: i64,
    ) -> Result<(), CacheError> {
        let limit = self.timeouts.write;
        let deadline = tokio::time::Instant::now() + limit;
        let mut last_error = CacheError::Timeout(limit);
        for _ in 0..2 {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            if remaining.is_zero() {
                break;
            }
            let live = self.live_within(remaining).await?;
            match self
                .invalidate_on(&live, patient, new_revision, deadline)
                .await
            {
                Ok(()) => return Ok(()),
                Err(error) => {
                    last_error = error;
                    let replaced = self
                        .current()
                        .is_none_or(|current| current.generation != live.generation);
                    if !replaced {
                        break;
                    }
                }
            }
        }
        Err(last_error)
    }

    async fn invalidate_on(
        self: &Arc<Self>,
        live: &Live,
        patient: &str,
        new_revision: i64,
        deadline: tokio::time::Instant,
    ) -> Result<(), CacheError> {
        let mut conn = live.conn.clone();
        let remaining = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .max(Duration::from_millis(1));
        let mut invocation = self.scripts.invalidate.key(self.keys.marker_key(patient));
        invocation
            .key(EPOCH_KEY)
            .arg(new_revision)
            .arg(millis(self.marker_ttl))
            .arg(&live.run_id);
        let outcome =
            tokio::time::timeout(remaining, invocation.invoke_async::<i64>(&mut conn)).await;
        if self.settle(live, remaining, outcome)? == 0 {
            // The epoch is not this server's: readers serve nothing until the flush that
            // reconnecting triggers; the marker is set all the same.
            self.drop_live(live, "epoch changed on the server");
        }
        Ok(())
    }
}

/// One Redis call under a timeout.
async fn bounded<T>(
    limit: Duration,
    call: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, CacheError> {
    tokio::time::timeout(limit, call)
        .await
        .map_err(|_| CacheError::Timeout(limit))?
        .map_err(|e| redis_error(&e))
}

fn parse_run_id(info: &str) -> Option<String> {
    info.lines()
        .find_map(|line| line.trim().strip_prefix("run_id:"))
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_id_is_read_from_info_server() {
        let info = "# Server\r\nredis_version:7.0.15\r\nrun_id:4f6b0c5b2a\r\ntcp_port:6379\r\n";
        assert_eq!(parse_run_id(info).as_deref(), Some("4f6b0c5b2a"));
        assert_eq!(parse_run_id("# Server\r\n"), None);
    }
}
