//! `Follow`: stored events from `from_seq` in order, then new ones as they are committed.
//!
//! One task per follower reads batches by seq and sends them into a bounded channel (the
//! gRPC stream); when caught up it waits for the writer's announcement of a new head, or
//! [`POLL`] at most (events committed by another replica announce nothing here), or the
//! client going away.
//!
//! Every event sent is the next seq after the one before: the chain's seqs are dense and
//! commits become visible in seq order (one writer at a time, under the chain lock), so a
//! gap that persists is a deleted record. The stream then ends with DATA_LOSS rather than
//! skip it.

use std::time::Duration;

use pmd_db::Database;
use pmd_proto::audit::v1::AuditEvent;
use tokio::sync::{mpsc, watch};
use tonic::Status;

use crate::chain::Head;
use crate::store;

/// Longest wait between two looks at the table when no commit was announced.
pub const POLL: Duration = Duration::from_secs(1);
/// Events read per query.
const BATCH: u64 = 500;
/// Events buffered per follower before the reader waits for the client.
const BUFFER: usize = 256;
/// How many consecutive looks may see the same gap before it counts as a missing record.
const GAP_PATIENCE: u32 = 3;

pub type Item = Result<AuditEvent, Status>;

/// Start following at `from_seq` (values below 1 mean 1).
pub fn spawn(db: Database, head: watch::Receiver<Head>, from_seq: i64) -> mpsc::Receiver<Item> {
    let (tx, rx) = mpsc::channel(BUFFER);
    tokio::spawn(follow(db, head, from_seq.max(1), tx));
    rx
}

async fn follow(
    db: Database,
    mut head: watch::Receiver<Head>,
    mut next: i64,
    tx: mpsc::Sender<Item>,
) {
    let mut gap_seen = 0;
    loop {
        // Mark the current head seen before reading, so a commit after the read wakes us.
        head.mark_unchanged();
        let events = match store::events_from(&db, next, BATCH).await {
            Ok(events) => events,
            Err(error) => {
                let _ = tx.send(Err(error.into())).await;
                return;
            }
        };
        let full = events.len() as u64 == BATCH;
        let mut gap = false;
        for event in events {
            if event.seq != next {
                gap = true;
                break;
            }
            if tx.send(Ok(event)).await.is_err() {
                return; // the client went away
            }
            next += 1;
            gap_seen = 0;
        }
        if gap {
            gap_seen += 1;
            if gap_seen >= GAP_PATIENCE {
                tracing::error!(seq = next, "audit follow stopped at a missing record");
                let _ = tx
                    .send(Err(Status::data_loss(format!(
                        "audit record {next} is missing; run verify"
                    ))))
                    .await;
                return;
            }
        } else if full {
            continue;
        }
        tokio::select! {
            changed = head.changed() => {
                if changed.is_err() {
                    // The writer stopped (service shutting down): keep polling until the
                    // client or the runtime goes.
                    tokio::select! {
                        () = tokio::time::sleep(POLL) => {}
                        () = tx.closed() => return,
                    }
                }
            }
            () = tokio::time::sleep(POLL) => {}
            () = tx.closed() => return,
        }
    }
}
