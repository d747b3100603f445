//! The in-process cache of the embedded mode: the same rules as Redis (revision marker,
//! compare-and-set, expiry from the write) under one mutex, shared by consent and storage
//! because they run in one process and are handed the same instance.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::keys::{Digest, KeyMaker};
use crate::{ActorKey, CacheError, Decision, MAX_PUT_AGE};

/// Most markers, and most decisions, held at once; beyond that new entries are not cached
/// (markers set by an invalidation are always kept).
const MAX_ENTRIES: usize = 200_000;

pub(crate) struct LocalCache {
    keys: KeyMaker,
    ttl: Duration,
    marker_ttl: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Patient → (revision, expires).
    markers: HashMap<Digest, (i64, Instant)>,
    /// (Patient, actor) → (decision, written).
    decisions: HashMap<Digest, (Decision, Instant)>,
}

impl LocalCache {
    pub(crate) fn new(keys: KeyMaker, ttl: Duration, marker_ttl: Duration) -> Self {
        Self {
            keys,
            ttl,
            marker_ttl,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, CacheError> {
        self.state
            .lock()
            .map_err(|_| CacheError::Unavailable("in-process cache lock poisoned".into()))
    }

    pub(crate) fn get(
        &self,
        patient: &str,
        actor: &ActorKey,
    ) -> Result<Option<Decision>, CacheError> {
        let decision_key = self.keys.decision_digest(patient, actor);
        let marker_key = self.keys.marker_digest(patient);
        let now = Instant::now();
        let state = self.lock()?;
        let Some((decision, written)) = state.decisions.get(&decision_key) else {
            return Ok(None);
        };
        // Expiry counts from the write; reading never extends it.
        if now.saturating_duration_since(*written) >= self.ttl {
            return Ok(None);
        }
        match state.markers.get(&marker_key) {
            Some((revision, expires)) if *expires > now && *revision == decision.revision => {
                Ok(Some(decision.clone()))
            }
            _ => Ok(None),
        }
    }

    pub(crate) fn put(
        &self,
        fence_taken: Instant,
        patient: &str,
        actor: &ActorKey,
        decision: &Decision,
    ) -> Result<bool, CacheError> {
        if fence_taken.elapsed() > MAX_PUT_AGE {
            return Ok(false);
        }
        let decision_key = self.keys.decision_digest(patient, actor);
        let marker_key = self.keys.marker_digest(patient);
        let now = Instant::now();
        let mut state = self.lock()?;
        match state.markers.get(&marker_key) {
            Some((revision, expires)) if *expires > now && *revision != decision.revision => {
                return Ok(false);
            }
            Some(_) => {}
            None => {
                if state.markers.len() >= MAX_ENTRIES {
                    state.markers.retain(|_, (_, expires)| *expires > now);
                    if state.markers.len() >= MAX_ENTRIES {
                        return Ok(false);
                    }
                }
            }
        }
        if state.decisions.len() >= MAX_ENTRIES && !state.decisions.contains_key(&decision_key) {
            let ttl = self.ttl;
            state
                .decisions
                .retain(|_, (_, written)| now.saturating_duration_since(*written) < ttl);
            if state.decisions.len() >= MAX_ENTRIES {
                return Ok(false);
            }
        }
        state
            .markers
            .insert(marker_key, (decision.revision, now + self.marker_ttl));
        state
            .decisions
            .insert(decision_key, (decision.clone(), now));
        Ok(true)
    }

    pub(crate) fn invalidate(&self, patient: &str, new_revision: i64) -> Result<(), CacheError> {
        let marker_key = self.keys.marker_digest(patient);
        let now = Instant::now();
        let mut state = self.lock()?;
        let revision = match state.markers.get(&marker_key) {
            Some((current, expires)) if *expires > now => (*current).max(new_revision),
            _ => new_revision,
        };
        state
            .markers
            .insert(marker_key, (revision, now + self.marker_ttl));
        Ok(())
    }
}
