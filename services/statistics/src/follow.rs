//! The follower: one task that reads the audit stream (`AuditService.Follow`) from the
//! checkpoint on and applies it in batches (up to `batch_events` events or `batch_wait`,
//! whichever comes first), each batch in one transaction with the checkpoint
//! ([`crate::store::apply`]). On any error (audit unreachable, stream cut, database down) it
//! waits with growing backoff and follows again from the checkpoint in the database, so
//! nothing is skipped and nothing is counted twice.
//!
//! Metrics (no labels, no personal data):
//! - `pmd_statistics_checkpoint_seq`: the last audit seq applied;
//! - `pmd_statistics_lag_seconds`: age of the newest event applied at the moment it was
//!   applied; 0 when the follower has nothing left to apply;
//! - `pmd_statistics_lag_events`: events received from the stream but not yet applied;
//! - `pmd_statistics_events_applied_total`, `pmd_statistics_batches_total`,
//!   `pmd_statistics_batch_seconds`, `pmd_statistics_follow_errors_total`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pmd_db::Database;
use pmd_orgs::Register;
use pmd_proto::audit::v1::audit_service_client::AuditServiceClient;
use pmd_proto::audit::v1::{AuditEvent, FollowRequest};
use pmd_server::{Channel, ServiceCredentials};
use tonic::Streaming;

use crate::pseudonym::Pseudonymizer;
use crate::store::{self, Applied};

/// Without an event for this long, the follower counts itself caught up (lag 0).
const IDLE: Duration = Duration::from_secs(1);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Everything the follower needs.
#[derive(Clone)]
pub struct Follower {
    pub db: Database,
    pub audit: AuditServiceClient<Channel>,
    pub credentials: ServiceCredentials,
    pub register: Register,
    pub pseudonyms: Arc<Pseudonymizer>,
    pub batch_events: usize,
    pub batch_wait: Duration,
}

#[derive(Debug, thiserror::Error)]
enum FollowError {
    #[error("database: {0}")]
    Db(#[from] pmd_db::sea_orm::DbErr),
    #[error("audit stream: {0}")]
    Stream(String),
}

impl Follower {
    /// Run until the task is aborted.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(self) {
        let mut backoff = BACKOFF_MIN;
        loop {
            let started = Instant::now();
            match self.follow_once().await {
                Ok(()) => {
                    backoff = BACKOFF_MIN;
                    tokio::time::sleep(BACKOFF_MIN).await;
                }
                Err(error) => {
                    metrics::counter!("pmd_statistics_follow_errors_total").increment(1);
                    tracing::warn!(%error, retry_in = ?backoff, "statistics follower interrupted");
                    if started.elapsed() > BACKOFF_MAX {
                        backoff = BACKOFF_MIN;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// Follow from the checkpoint until the stream ends, breaks, or a gap asks for a new one.
    async fn follow_once(&self) -> Result<(), FollowError> {
        let checkpoint = store::checkpoint(&self.db).await?;
        metrics::gauge!("pmd_statistics_checkpoint_seq").set(checkpoint.last_seq as f64);
        let request = self
            .credentials
            .request(FollowRequest {
                from_seq: checkpoint.last_seq + 1,
            })
            .map_err(|e| FollowError::Stream(e.to_string()))?;
        let mut stream = self
            .audit
            .clone()
            .follow(request)
            .await
            .map_err(|s| FollowError::Stream(format!("{:?}: {}", s.code(), s.message())))?
            .into_inner();
        tracing::info!(
            from_seq = checkpoint.last_seq + 1,
            "following the audit log"
        );
        loop {
            let (batch, end) = self.next_batch(&mut stream).await;
            if !batch.is_empty() {
                let received = batch.len();
                metrics::gauge!("pmd_statistics_lag_events").set(received as f64);
                let started = Instant::now();
                let applied =
                    store::apply(&self.db, &batch, &self.register, &self.pseudonyms).await?;
                metrics::histogram!("pmd_statistics_batch_seconds")
                    .record(started.elapsed().as_secs_f64());
                metrics::gauge!("pmd_statistics_lag_events").set(0.0);
                match applied {
                    Applied::New { events, to } => {
                        metrics::counter!("pmd_statistics_events_applied_total")
                            .increment(events as u64);
                        metrics::counter!("pmd_statistics_batches_total").increment(1);
                        metrics::gauge!("pmd_statistics_checkpoint_seq").set(to.last_seq as f64);
                        let age = chrono::Utc::now().timestamp_micros() - to.last_event_micros;
                        metrics::gauge!("pmd_statistics_lag_seconds")
                            .set((age.max(0) as f64) / 1e6);
                        tracing::debug!(events, last_seq = to.last_seq, "audit events applied");
                    }
                    Applied::Nothing { checkpoint } => {
                        metrics::gauge!("pmd_statistics_checkpoint_seq")
                            .set(checkpoint.last_seq as f64);
                    }
                    Applied::Gap {
                        checkpoint,
                        first_seq,
                    } => {
                        tracing::info!(
                            checkpoint = checkpoint.last_seq,
                            first_seq,
                            "the stream is not where the checkpoint is; following again"
                        );
                        tokio::time::sleep(BACKOFF_MIN).await;
                        return Ok(());
                    }
                }
            }
            match end {
                None => {}
                Some(Ok(())) => return Ok(()),
                Some(Err(error)) => return Err(error),
            }
        }
    }

    /// The next batch: wait (as long as it takes) for one event, then take more until the
    /// batch is full or `batch_wait` has passed. `Some(end)` when the stream ended or broke
    /// (after the events before it).
    async fn next_batch(
        &self,
        stream: &mut Streaming<AuditEvent>,
    ) -> (Vec<AuditEvent>, Option<Result<(), FollowError>>) {
        let stream_error =
            |s: tonic::Status| FollowError::Stream(format!("{:?}: {}", s.code(), s.message()));
        let first = match tokio::time::timeout(IDLE, stream.message()).await {
            Ok(first) => first,
            Err(_) => {
                metrics::gauge!("pmd_statistics_lag_seconds").set(0.0);
                stream.message().await
            }
        };
        let mut batch = match first {
            Ok(Some(event)) => vec![event],
            Ok(None) => return (Vec::new(), Some(Ok(()))),
            Err(status) => return (Vec::new(), Some(Err(stream_error(status)))),
        };
        let deadline = tokio::time::Instant::now() + self.batch_wait;
        while batch.len() < self.batch_events {
            match tokio::time::timeout_at(deadline, stream.message()).await {
                Ok(Ok(Some(event))) => batch.push(event),
                Ok(Ok(None)) => return (batch, Some(Ok(()))),
                Ok(Err(status)) => return (batch, Some(Err(stream_error(status)))),
                Err(_) => break,
            }
        }
        (batch, None)
    }
}
