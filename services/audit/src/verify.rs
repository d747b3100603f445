//! `Verify`: walk the chain in seq order, in batches, and name the first problem.
//!
//! For each row, in this order:
//! 1. its seq is the one expected next, else **MISSING** (the first absent seq);
//! 2. its body decodes, is in canonical form, its columns (seq, event_id, time, patient,
//!    action, outcome, hashes) agree with the body, and its hash is the recomputed one,
//!    else **CHANGED**;
//! 3. its `prev_hash` is the previous row's hash, else **REORDERED**;
//! 4. where a signed checkpoint sits, its hash is the checkpoint's, else **TRUNCATED** (the
//!    log was cut and written again, or rewritten wholesale with fresh hashes).
//!
//! After the walk: a chain that ends before the newest checkpoint's seq is **TRUNCATED** at
//! the first missing seq. A checkpoint file whose signature fails is reported last (kind
//! unspecified: the proto has no kind for it), so tampering with the checkpoint directory is
//! not silent either.
//!
//! `head_seq`/`head_hash` in the answer are those of the last row found good.

use pmd_db::Database;
use pmd_error::ServiceError;
use pmd_proto::audit::v1::{AuditEvent, Problem, ProblemKind, VerifyRequest, VerifyResponse};
use prost::Message;

use crate::chain::{self, GENESIS};
use std::collections::HashMap;

use crate::checkpoint::{Checkpoint, Trusted};
use crate::store::{self, StoredRow};
use crate::validate::Columns;

/// Rows read per query.
const BATCH: u64 = 1000;

/// Check the chain between the request's bounds against `checkpoints`.
pub async fn verify(
    db: &Database,
    request: &VerifyRequest,
    checkpoints: &Trusted,
) -> Result<VerifyResponse, ServiceError> {
    if request.from_seq < 0 || request.to_seq < 0 {
        return Err(ServiceError::bad_request(
            "from_seq and to_seq must not be negative",
        ));
    }
    let from = request.from_seq.max(1);
    let to = if request.to_seq == 0 {
        i64::MAX
    } else {
        request.to_seq
    };
    if to < from {
        return Err(ServiceError::bad_request(
            "to_seq must not be less than from_seq",
        ));
    }
    let backend = db.backend();
    let conn = db.conn();

    // The hash the first row must link to; unknown when the range starts after a gap.
    let mut expected_prev: Option<Vec<u8>> = if from == 1 {
        Some(GENESIS.to_vec())
    } else {
        store::hash_of(conn, backend, from - 1)
            .await
            .map_err(store::unavailable)?
    };
    // The signed checkpoints inside the range, by seq; the newest one also bounds the length.
    let in_range: HashMap<i64, &Checkpoint> = checkpoints
        .checkpoints
        .iter()
        .filter(|c| c.seq >= from && c.seq <= to)
        .map(|c| (c.seq, c))
        .collect();
    let newest = in_range.values().max_by_key(|c| c.seq).copied();

    let mut walk = Walk {
        response: VerifyResponse {
            ok: true,
            ..Default::default()
        },
        expected: from,
    };
    'walk: loop {
        let rows = store::rows_in_range(conn, backend, walk.expected, to, BATCH)
            .await
            .map_err(store::unavailable)?;
        let done = (rows.len() as u64) < BATCH;
        for row in rows {
            let seq = row.columns.seq;
            if seq != walk.expected {
                walk.fail(
                    walk.expected,
                    ProblemKind::Missing,
                    format!("seq {} is missing", walk.expected),
                );
                break 'walk;
            }
            if let Err(detail) = check_row(&row) {
                walk.fail(seq, ProblemKind::Changed, detail);
                break 'walk;
            }
            if let Some(prev) = &expected_prev
                && *prev != row.columns.prev_hash
            {
                walk.fail(
                    seq,
                    ProblemKind::Reordered,
                    format!("prev_hash of seq {seq} is not the hash of seq {}", seq - 1),
                );
                break 'walk;
            }
            if let Some(checkpoint) = in_range.get(&seq)
                && checkpoint.hash != row.columns.hash
            {
                walk.fail(
                    seq,
                    ProblemKind::Truncated,
                    format!(
                        "hash of seq {seq} differs from the signed checkpoint of {}: the log was cut and rewritten",
                        checkpoint.time
                    ),
                );
                break 'walk;
            }
            walk.good(&row);
            expected_prev = Some(row.columns.hash);
        }
        if done {
            break;
        }
    }
    if walk.response.ok {
        if let Some(Checkpoint { seq, time, .. }) = newest
            && walk.expected <= *seq
        {
            let missing = walk.expected;
            walk.fail(
                missing,
                ProblemKind::Truncated,
                format!(
                    "the log ends before seq {missing}, but a signed checkpoint of {time} covers seq {seq}"
                ),
            );
        } else if let Some(rejected) = &checkpoints.rejected {
            walk.fail(
                rejected.seq,
                ProblemKind::Unspecified,
                format!("checkpoint {} refused: {}", rejected.file, rejected.reason),
            );
        }
    }
    Ok(walk.response)
}

struct Walk {
    response: VerifyResponse,
    /// The next seq the walk expects.
    expected: i64,
}

impl Walk {
    fn good(&mut self, row: &StoredRow) {
        self.response.checked += 1;
        self.response.head_seq = row.columns.seq;
        self.response.head_hash = row.columns.hash.clone();
        self.expected = row.columns.seq + 1;
    }

    fn fail(&mut self, seq: i64, kind: ProblemKind, detail: String) {
        tracing::warn!(seq, kind = kind.as_str_name(), "audit chain problem");
        self.response.ok = false;
        self.response.first_problem = Some(Problem {
            seq,
            kind: kind as i32,
            detail,
        });
    }
}

/// A row agrees with itself: its body is a canonical encoding of an event whose fields are
/// the row's columns and whose hash is the recomputed one.
fn check_row(row: &StoredRow) -> Result<(), String> {
    let seq = row.columns.seq;
    let event = AuditEvent::decode(row.body.as_slice())
        .map_err(|_| format!("body of seq {seq} does not decode"))?;
    if event.encode_to_vec() != row.body {
        return Err(format!("body of seq {seq} is not in canonical form"));
    }
    let from_body = Columns::of(&event);
    if from_body != row.columns {
        return Err(format!(
            "columns of seq {seq} disagree with its body ({})",
            differing(&from_body, &row.columns).join(", ")
        ));
    }
    if chain::compute_hash(&event) != row.columns.hash {
        return Err(format!("hash of seq {seq} does not match its content"));
    }
    Ok(())
}

/// Names (not values: they may be personal data) of the columns that differ.
fn differing(a: &Columns, b: &Columns) -> Vec<&'static str> {
    let mut names = Vec::new();
    let mut check = |differs: bool, name| {
        if differs {
            names.push(name);
        }
    };
    check(a.seq != b.seq, "seq");
    check(a.event_id != b.event_id, "event_id");
    check(a.recorded_at_micros != b.recorded_at_micros, "recorded_at");
    check(a.patient_id != b.patient_id, "patient_id");
    check(a.action != b.action, "action");
    check(a.outcome != b.outcome, "outcome");
    check(a.prev_hash != b.prev_hash, "prev_hash");
    check(a.hash != b.hash, "hash");
    names
}

#[cfg(test)]
mod tests {
    use pmd_proto::audit::v1::{Action, Outcome};

    use super::*;

    fn sealed() -> AuditEvent {
        let mut event = AuditEvent {
            event_id: uuid::Uuid::new_v4().to_string(),
            time_unix_micros: 1_700_000_000_000_000,
            action: Action::Search as i32,
            outcome: Outcome::Success as i32,
            ..Default::default()
        };
        chain::seal(&mut event, 1, &GENESIS);
        event
    }

    fn row(event: &AuditEvent) -> StoredRow {
        StoredRow {
            columns: Columns::of(event),
            body: event.encode_to_vec(),
        }
    }

    #[test]
    fn a_sealed_row_is_consistent() {
        assert_eq!(check_row(&row(&sealed())), Ok(()));
    }

    #[test]
    fn a_changed_body_or_column_is_caught_and_named() {
        let event = sealed();
        let mut changed_body = event.clone();
        changed_body.detail = "edited".into();
        let mut r = row(&changed_body);
        r.columns = Columns::of(&event);
        let detail = check_row(&r).unwrap_err();
        assert!(detail.contains("hash"), "{detail}");

        let mut r = row(&event);
        r.columns.outcome = Outcome::Denied as i32 as i16;
        let detail = check_row(&r).unwrap_err();
        assert!(detail.contains("outcome"), "{detail}");

        let mut r = row(&event);
        r.body.extend_from_slice(&[0x98, 0x06, 0x01]); // unknown field 99
        assert!(check_row(&r).unwrap_err().contains("canonical"));
    }
}
