//! The background task that finishes block changes that were committed but not completed:
//! cache invalidations still owed (`pending_invalidations`) and audit events not yet
//! delivered (`audit_outbox`). Runs at start, whenever a request failed to complete, and
//! every second; it retries until each succeeds.

use std::time::Duration;

use crate::{State, audit};

const BATCH: i64 = 100;
const POLL: Duration = Duration::from_secs(1);
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Run until the task is aborted.
pub(crate) async fn run(state: State) {
    if let Err(error) = state.cache.connect().await {
        tracing::warn!(%error, "decision cache not reachable at start; reads fall back to the database");
    }
    let mut backoff = BACKOFF_FIRST;
    loop {
        match once(&state).await {
            Ok(true) => continue,
            Ok(false) => {
                backoff = BACKOFF_FIRST;
                tokio::select! {
                    () = state.repair_wake.notified() => {},
                    () = tokio::time::sleep(POLL) => {},
                }
            }
            Err(error) => {
                tracing::warn!(%error, ?backoff, "completing block changes failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// One pass; `Ok(true)` when a full batch was handled (more may wait).
async fn once(state: &State) -> Result<bool, String> {
    let pending = state
        .store
        .pending_invalidations(BATCH)
        .await
        .map_err(|e| {
            format!(
                "reading pending invalidations: {}",
                crate::db_error_kind(&e)
            )
        })?;
    for (patient, revision) in &pending {
        state
            .cache
            .invalidate_patient(patient, *revision)
            .await
            .map_err(|e| format!("invalidating the decision cache: {e}"))?;
        state
            .store
            .invalidated(patient, *revision)
            .await
            .map_err(|e| {
                format!(
                    "clearing a pending invalidation: {}",
                    crate::db_error_kind(&e)
                )
            })?;
        tracing::info!(revision, "pending cache invalidation completed");
    }
    let events = state
        .store
        .outbox(BATCH)
        .await
        .map_err(|e| format!("reading the audit outbox: {}", crate::db_error_kind(&e)))?;
    let delivered = events.len();
    if delivered > 0 {
        audit::deliver(state, events)
            .await
            .map_err(|e| format!("delivering audit events: {e}"))?;
    }
    Ok(pending.len() as i64 == BATCH || delivered as i64 == BATCH)
}
