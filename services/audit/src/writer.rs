//! Group commit: one writer task owns every write to the chain.
//!
//! `Record` calls hand their (validated) events to the writer over a channel and wait. The
//! writer takes every request that is waiting, up to [`MAX_BATCH_EVENTS`] events, and
//! commits them in ONE transaction:
//!
//! 1. on PostgreSQL, `pg_advisory_xact_lock(CHAIN_LOCK)`: writers of every replica take
//!    turns, so the chain never forks;
//! 2. read the chain head (highest seq and its hash) from the table, not from memory, since
//!    another replica may have appended since;
//! 3. drop events whose `event_id` is stored already or came earlier in this batch (their
//!    caller gets the existing seq);
//! 4. give the others the next seqs, chain and insert them;
//! 5. commit, and only then answer each caller and announce the new head (followers and
//!    the checkpointer listen).
//!
//! Any database failure fails the whole batch: every caller gets UNAVAILABLE and nothing is
//! acknowledged. Producers retry; `event_id` makes the retry harmless even when the commit
//! did land.

use pmd_db::sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, TransactionTrait};
use pmd_db::{Backend, Database};
use pmd_error::ServiceError;
use pmd_proto::audit::v1::AuditEvent;
use tokio::sync::{mpsc, oneshot, watch};

use crate::chain::{self, Head};
use crate::store;

/// Most events committed in one transaction (one request larger than this is committed
/// alone).
pub const MAX_BATCH_EVENTS: usize = 4096;
/// Requests that may wait for the writer before `Record` callers queue on the channel.
const QUEUE: usize = 1024;
/// Key of the PostgreSQL advisory lock that serialises chain writers across replicas
/// ("pmdaudit" in ASCII).
const CHAIN_LOCK: i64 = 0x706d_6461_7564_6974;

/// What `Record` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// One per request event, same order.
    pub seqs: Vec<i64>,
    pub duplicates: i32,
}

struct Job {
    events: Vec<AuditEvent>,
    reply: oneshot::Sender<Result<Recorded, ServiceError>>,
}

/// The handle `Record` uses to reach the writer task.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Start the writer task. `head` is announced after every commit.
    pub fn spawn(db: Database, head: watch::Sender<Head>) -> (Self, tokio::task::JoinHandle<()>) {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(db, queue, head));
        (Self { jobs }, task)
    }

    /// Commit `events` (validated) and return their seqs, once committed.
    pub async fn record(&self, events: Vec<AuditEvent>) -> Result<Recorded, ServiceError> {
        if events.is_empty() {
            return Ok(Recorded {
                seqs: Vec::new(),
                duplicates: 0,
            });
        }
        let stopped = || ServiceError::unavailable("the audit writer is not running");
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { events, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(db: Database, mut queue: mpsc::Receiver<Job>, head: watch::Sender<Head>) {
    let mut carried: Option<Job> = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match queue.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let mut count = first.events.len();
        let mut jobs = vec![first];
        while count < MAX_BATCH_EVENTS {
            match queue.try_recv() {
                Ok(job) if count + job.events.len() > MAX_BATCH_EVENTS => {
                    carried = Some(job);
                    break;
                }
                Ok(job) => {
                    count += job.events.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        // A caller that gave up (deadline, disconnect) is not committed for: it was never
        // acknowledged, and its producer retries.
        jobs.retain(|job| !job.reply.is_closed());
        if jobs.is_empty() {
            continue;
        }
        let started = std::time::Instant::now();
        let committed = commit(&db, &jobs).await;
        metrics::histogram!("pmd_audit_batch_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("pmd_audit_batch_events").record(count as f64);
        match committed {
            Ok((answers, new_head)) => {
                tracing::debug!(
                    requests = jobs.len(),
                    events = count,
                    head_seq = new_head.seq,
                    "audit batch committed"
                );
                head.send_if_modified(|current| {
                    if new_head.seq > current.seq {
                        *current = new_head;
                        true
                    } else {
                        false
                    }
                });
                for (job, answer) in jobs.into_iter().zip(answers) {
                    let _ = job.reply.send(Ok(answer));
                }
            }
            Err(error) => {
                let error = store::unavailable(error);
                for job in jobs {
                    let _ = job.reply.send(Err(error.clone()));
                }
            }
        }
    }
}

/// Chain and insert every job's new events in one transaction.
async fn commit(db: &Database, jobs: &[Job]) -> Result<(Vec<Recorded>, Head), DbErr> {
    let backend = db.backend();
    let txn = db.conn().begin().await?;
    if backend == Backend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [CHAIN_LOCK.into()],
        ))
        .await?;
    }
    let mut ids: Vec<&str> = jobs
        .iter()
        .flat_map(|job| job.events.iter().map(|e| e.event_id.as_str()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    // The head, and the events already stored (event_id → seq; newly assigned ones join).
    let (mut head, mut seqs) = store::head_and_existing(&txn, backend, &ids).await?;

    let mut fresh = Vec::new();
    let mut answers = Vec::with_capacity(jobs.len());
    for job in jobs {
        let mut answer = Recorded {
            seqs: Vec::with_capacity(job.events.len()),
            duplicates: 0,
        };
        for event in &job.events {
            if let Some(seq) = seqs.get(&event.event_id) {
                answer.seqs.push(*seq);
                answer.duplicates += 1;
                continue;
            }
            let mut event = event.clone();
            chain::seal(&mut event, head.seq + 1, &head.hash);
            head = Head {
                seq: event.seq,
                hash: event.hash.clone(),
            };
            seqs.insert(event.event_id.clone(), event.seq);
            answer.seqs.push(event.seq);
            fresh.push(event);
        }
        answers.push(answer);
    }
    store::insert(&txn, backend, &fresh).await?;
    txn.commit().await?;
    Ok((answers, head))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_key_spells_pmdaudit() {
        assert_eq!(&CHAIN_LOCK.to_be_bytes(), b"pmdaudit");
    }
}
