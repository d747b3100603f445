//! SQL over `audit_events`, for both engines. Every other module goes through here.
//!
//! The two engines differ in placeholders (`$1` / `?`) and in two column types: `event_id`
//! is a `UUID` and `recorded_at` a `TIMESTAMPTZ` on PostgreSQL, `TEXT` and integer
//! microseconds on SQLite.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use pmd_db::sea_orm::{ConnectionTrait, DbErr, QueryResult, Statement, Value};
use pmd_db::{Backend, Database};
use pmd_error::ServiceError;
use pmd_proto::audit::v1::AuditEvent;
use prost::Message;

use crate::chain::Head;
use crate::validate::Columns;

/// Rows per multi-row INSERT: 9 parameters each, well under both engines' limits.
const INSERT_CHUNK: usize = 200;
/// Parameters per `IN (...)` list.
const IN_CHUNK: usize = 500;

/// A statement under construction with numbered parameters for either engine.
pub(crate) struct Sql {
    backend: Backend,
    pub text: String,
    values: Vec<Value>,
}

impl Sql {
    pub fn new(backend: Backend, text: &str) -> Self {
        Self {
            backend,
            text: text.to_owned(),
            values: Vec::new(),
        }
    }

    /// Append `value` as the next parameter and return its placeholder.
    pub fn param(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        match self.backend {
            Backend::Postgres => format!("${}", self.values.len()),
            Backend::Sqlite => "?".to_owned(),
        }
    }

    /// Append text.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Append a parameter and its placeholder.
    pub fn push_param(&mut self, value: impl Into<Value>) -> &mut Self {
        let placeholder = self.param(value);
        self.text.push_str(&placeholder);
        self
    }

    pub fn build(self) -> Statement {
        let backend = match self.backend {
            Backend::Postgres => pmd_db::sea_orm::DbBackend::Postgres,
            Backend::Sqlite => pmd_db::sea_orm::DbBackend::Sqlite,
        };
        Statement::from_sql_and_values(backend, self.text, self.values)
    }
}

/// The value bound for an `event_id` (already in canonical form).
fn event_id_value(backend: Backend, event_id: &str) -> Value {
    match backend {
        Backend::Postgres => match uuid::Uuid::parse_str(event_id) {
            Ok(id) => id.into(),
            // Unreachable for validated events; bind text so PostgreSQL refuses it.
            Err(_) => event_id.to_owned().into(),
        },
        Backend::Sqlite => event_id.to_owned().into(),
    }
}

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z: query bounds outside are clamped
/// to these, which PostgreSQL's `timestamptz` and chrono both hold.
const EARLIEST_MICROS: i64 = -62_135_596_800_000_000;
const LATEST_MICROS: i64 = 253_402_300_799_999_999;

/// The value bound for a time in microseconds since the epoch.
pub(crate) fn time_value(backend: Backend, micros: i64) -> Value {
    match backend {
        Backend::Postgres => {
            let micros = micros.clamp(EARLIEST_MICROS, LATEST_MICROS);
            DateTime::<Utc>::from_timestamp_micros(micros)
                .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
                .into()
        }
        Backend::Sqlite => micros.into(),
    }
}

fn read_event_id(backend: Backend, row: &QueryResult, index: usize) -> Result<String, DbErr> {
    match backend {
        Backend::Postgres => Ok(row
            .try_get_by_index::<uuid::Uuid>(index)?
            .hyphenated()
            .to_string()),
        Backend::Sqlite => row.try_get_by_index::<String>(index),
    }
}

fn read_time(backend: Backend, row: &QueryResult, index: usize) -> Result<i64, DbErr> {
    match backend {
        Backend::Postgres => Ok(row
            .try_get_by_index::<DateTime<Utc>>(index)?
            .timestamp_micros()),
        Backend::Sqlite => row.try_get_by_index::<i64>(index),
    }
}

/// The newest stored event's seq and hash (the genesis head when empty).
pub(crate) async fn read_head(
    conn: &impl ConnectionTrait,
    backend: Backend,
) -> Result<Head, DbErr> {
    let sql = Sql::new(
        backend,
        "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1",
    );
    match conn.query_one_raw(sql.build()).await? {
        Some(row) => Ok(Head {
            seq: row.try_get_by_index(0)?,
            hash: row.try_get_by_index(1)?,
        }),
        None => Ok(Head::genesis()),
    }
}

/// The head ([`read_head`]) and the seqs of those of `event_ids` already stored, read in
/// one round trip for the first few hundred ids (the writer asks this once per batch, under
/// the chain lock, so every round trip saved shortens the one serial step of the log).
pub(crate) async fn head_and_existing(
    conn: &impl ConnectionTrait,
    backend: Backend,
    event_ids: &[&str],
) -> Result<(Head, HashMap<String, i64>), DbErr> {
    let (first, rest) = event_ids.split_at(event_ids.len().min(IN_CHUNK));
    let mut sql = Sql::new(
        backend,
        "SELECT seq, hash, NULL AS event_id FROM \
         (SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1) AS head",
    );
    if !first.is_empty() {
        sql.push(" UNION ALL SELECT seq, NULL, event_id FROM audit_events WHERE event_id IN (");
        for (i, id) in first.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push_param(event_id_value(backend, id));
        }
        sql.push(")");
    }
    let mut head = Head::genesis();
    let mut found = HashMap::new();
    for row in conn.query_all_raw(sql.build()).await? {
        let seq: i64 = row.try_get_by_index(0)?;
        let hash: Option<Vec<u8>> = row.try_get_by_index(1)?;
        match hash {
            Some(hash) => head = Head { seq, hash },
            None => {
                found.insert(read_event_id(backend, &row, 2)?, seq);
            }
        }
    }
    found.extend(existing_seqs(conn, backend, rest).await?);
    Ok((head, found))
}

/// The seqs of those of `event_ids` already stored.
pub(crate) async fn existing_seqs(
    conn: &impl ConnectionTrait,
    backend: Backend,
    event_ids: &[&str],
) -> Result<HashMap<String, i64>, DbErr> {
    let mut found = HashMap::new();
    for chunk in event_ids.chunks(IN_CHUNK) {
        let mut sql = Sql::new(
            backend,
            "SELECT event_id, seq FROM audit_events WHERE event_id IN (",
        );
        for (i, id) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push_param(event_id_value(backend, id));
        }
        sql.push(")");
        for row in conn.query_all_raw(sql.build()).await? {
            found.insert(read_event_id(backend, &row, 0)?, row.try_get_by_index(1)?);
        }
    }
    Ok(found)
}

/// Insert sealed events (seq, hashes set).
pub(crate) async fn insert(
    conn: &impl ConnectionTrait,
    backend: Backend,
    events: &[AuditEvent],
) -> Result<(), DbErr> {
    for chunk in events.chunks(INSERT_CHUNK) {
        let mut sql = Sql::new(
            backend,
            "INSERT INTO audit_events (seq, event_id, recorded_at, patient_id, action, outcome, body, prev_hash, hash) VALUES ",
        );
        for (i, event) in chunk.iter().enumerate() {
            let columns = Columns::of(event);
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(")
                .push_param(columns.seq)
                .push(", ")
                .push_param(event_id_value(backend, &columns.event_id))
                .push(", ")
                .push_param(time_value(backend, columns.recorded_at_micros))
                .push(", ")
                .push_param(columns.patient_id)
                .push(", ")
                .push_param(columns.action)
                .push(", ")
                .push_param(columns.outcome)
                .push(", ")
                .push_param(event.encode_to_vec())
                .push(", ")
                .push_param(columns.prev_hash)
                .push(", ")
                .push_param(columns.hash)
                .push(")");
        }
        conn.execute_raw(sql.build()).await?;
    }
    Ok(())
}

/// One stored row, every column.
#[derive(Debug, Clone)]
pub(crate) struct StoredRow {
    pub columns: Columns,
    pub body: Vec<u8>,
}

/// Up to `limit` rows with `from <= seq <= to`, in seq order.
pub(crate) async fn rows_in_range(
    conn: &impl ConnectionTrait,
    backend: Backend,
    from: i64,
    to: i64,
    limit: u64,
) -> Result<Vec<StoredRow>, DbErr> {
    let mut sql = Sql::new(
        backend,
        "SELECT seq, event_id, recorded_at, patient_id, action, outcome, body, prev_hash, hash FROM audit_events WHERE seq >= ",
    );
    sql.push_param(from)
        .push(" AND seq <= ")
        .push_param(to)
        .push(" ORDER BY seq LIMIT ")
        .push_param(i64::try_from(limit).unwrap_or(i64::MAX));
    conn.query_all_raw(sql.build())
        .await?
        .iter()
        .map(|row| {
            Ok(StoredRow {
                columns: Columns {
                    seq: row.try_get_by_index(0)?,
                    event_id: read_event_id(backend, row, 1)?,
                    recorded_at_micros: read_time(backend, row, 2)?,
                    patient_id: row.try_get_by_index(3)?,
                    action: row.try_get_by_index(4)?,
                    outcome: row.try_get_by_index(5)?,
                    prev_hash: row.try_get_by_index(7)?,
                    hash: row.try_get_by_index(8)?,
                },
                body: row.try_get_by_index(6)?,
            })
        })
        .collect()
}

/// The stored hash of `seq`, when that row exists.
pub(crate) async fn hash_of(
    conn: &impl ConnectionTrait,
    backend: Backend,
    seq: i64,
) -> Result<Option<Vec<u8>>, DbErr> {
    let mut sql = Sql::new(backend, "SELECT hash FROM audit_events WHERE seq = ");
    sql.push_param(seq);
    match conn.query_one_raw(sql.build()).await? {
        Some(row) => Ok(Some(row.try_get_by_index(0)?)),
        None => Ok(None),
    }
}

/// Decode the `(seq, body)` rows a query selected into events.
pub(crate) fn decode_bodies(rows: &[QueryResult]) -> Result<Vec<AuditEvent>, ServiceError> {
    rows.iter()
        .map(|row| {
            let seq: i64 = row.try_get_by_index(0).map_err(unavailable)?;
            let body: Vec<u8> = row.try_get_by_index(1).map_err(unavailable)?;
            AuditEvent::decode(body.as_slice()).map_err(|_| {
                tracing::error!(seq, "stored audit event cannot be decoded");
                ServiceError::internal(format!("audit record {seq} cannot be decoded; run verify"))
            })
        })
        .collect()
}

/// Events with `seq >= from`, in order, at most `limit`.
pub(crate) async fn events_from(
    db: &Database,
    from: i64,
    limit: u64,
) -> Result<Vec<AuditEvent>, ServiceError> {
    let mut sql = Sql::new(
        db.backend(),
        "SELECT seq, body FROM audit_events WHERE seq >= ",
    );
    sql.push_param(from)
        .push(" ORDER BY seq LIMIT ")
        .push_param(i64::try_from(limit).unwrap_or(i64::MAX));
    let rows = db
        .conn()
        .query_all_raw(sql.build())
        .await
        .map_err(unavailable)?;
    decode_bodies(&rows)
}

/// A database failure as the caller sees it: UNAVAILABLE, with the cause only in the log.
pub(crate) fn unavailable(error: DbErr) -> ServiceError {
    tracing::warn!(error = %error, "audit database error");
    ServiceError::unavailable("the audit log is unavailable")
}
