//! The SQL of statistics for both engines: applying a batch of audit events exactly once,
//! and reading the aggregates and the de-identified events back.
//!
//! Exactly once: a batch is applied in one transaction that (1) on PostgreSQL takes a
//! transaction-scoped advisory lock, so replicas apply one at a time, (2) reads the
//! checkpoint and drops every event at or below it, (3) refuses a batch that does not start
//! right after the checkpoint, (4) writes the aggregates, the event rows (keyed by seq) and
//! the new checkpoint, the latter only if the checkpoint is still what it read
//! (compare-and-set). A restart, a replayed range or a second replica therefore never counts
//! an event twice, and a crash mid-batch leaves nothing behind.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use pmd_db::sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, QueryResult, Statement,
    TransactionTrait, Value,
};
use pmd_db::{Backend, Database};
use pmd_orgs::Register;
use pmd_proto::audit::v1::AuditEvent;

use crate::facts::{EventRow, Facts, OrgDims, facts};
use crate::period::{DateRange, Granularity, bucket_start, format_day};
use crate::pseudonym::Pseudonymizer;

/// The follower's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checkpoint {
    /// The last audit seq applied (0 = none yet).
    pub last_seq: i64,
    /// The time of that event.
    pub last_event_micros: i64,
}

/// What applying a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Events after the checkpoint were applied; the checkpoint is now `to`.
    New { events: usize, to: Checkpoint },
    /// Every event was at or below the checkpoint (already counted).
    Nothing { checkpoint: Checkpoint },
    /// The first new event is not the one after the checkpoint: follow again from there.
    Gap {
        checkpoint: Checkpoint,
        first_seq: i64,
    },
}

/// Transaction-scoped advisory lock key of the follower (FNV-1a of a fixed name).
fn lock_key() -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in b"pmd_statistics/follower" {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

fn statement(backend: Backend, sql: &str, values: Vec<Value>) -> Statement {
    let (db, sql) = match backend {
        Backend::Postgres => (DbBackend::Postgres, sql.to_owned()),
        Backend::Sqlite => (DbBackend::Sqlite, to_sqlite_params(sql)),
    };
    Statement::from_sql_and_values(db, sql, values)
}

/// `$1`, `$2`, … → `?`, `?`, … (every statement here uses each parameter once, in order).
fn to_sqlite_params(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

pub async fn checkpoint(db: &Database) -> Result<Checkpoint, DbErr> {
    read_checkpoint(db.conn(), db.backend()).await
}

async fn read_checkpoint(
    conn: &impl ConnectionTrait,
    backend: Backend,
) -> Result<Checkpoint, DbErr> {
    let row = conn
        .query_one_raw(statement(
            backend,
            "SELECT last_seq, last_event_micros FROM follow_checkpoint WHERE id = 1",
            vec![],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("follow_checkpoint".into()))?;
    Ok(Checkpoint {
        last_seq: row.try_get_by_index(0)?,
        last_event_micros: row.try_get_by_index(1)?,
    })
}

/// The key of a `daily_counts` row: (metric, day, org, code, purpose).
pub type CountKey = (&'static str, NaiveDate, String, String, String);
/// The key of a `daily_distinct` row: (metric, day, org, subject).
pub type DistinctKey = (&'static str, NaiveDate, String, Vec<u8>);

/// The rows one batch writes, aggregated in memory first (a statement may not touch the same
/// row twice).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Prepared {
    /// Count row → (its organisation columns, the count to add).
    pub counts: BTreeMap<CountKey, (OrgDims, i64)>,
    /// Distinct member → its organisation columns.
    pub distinct: BTreeMap<DistinctKey, OrgDims>,
    pub events: Vec<EventRow>,
}

impl Prepared {
    pub fn of(all: Vec<Facts>) -> Self {
        let mut prepared = Self::default();
        for f in all {
            for c in f.counts {
                let key = (c.metric, f.day, c.dims.org.clone(), c.code, c.purpose);
                prepared
                    .counts
                    .entry(key)
                    .and_modify(|(_, n)| *n += c.n)
                    .or_insert((c.dims, c.n));
            }
            for d in f.distinct {
                let key = (d.metric, f.day, d.dims.org.clone(), d.subject.to_vec());
                prepared.distinct.entry(key).or_insert(d.dims);
            }
            prepared.events.push(f.row);
        }
        prepared
    }
}

/// Apply `events` (in seq order) exactly once. See the module docs.
pub async fn apply(
    db: &Database,
    events: &[AuditEvent],
    register: &Register,
    pseudonyms: &Pseudonymizer,
) -> Result<Applied, DbErr> {
    let backend = db.backend();
    let txn = db.conn().begin().await?;
    if backend == Backend::Postgres {
        txn.execute_raw(statement(
            backend,
            "SELECT pg_advisory_xact_lock($1)",
            vec![lock_key().into()],
        ))
        .await?;
    }
    let checkpoint = read_checkpoint(&txn, backend).await?;
    let fresh: Vec<&AuditEvent> = events
        .iter()
        .filter(|e| e.seq > checkpoint.last_seq)
        .collect();
    let Some(first) = fresh.first() else {
        txn.rollback().await?;
        return Ok(Applied::Nothing { checkpoint });
    };
    if first.seq != checkpoint.last_seq + 1 {
        let first_seq = first.seq;
        txn.rollback().await?;
        return Ok(Applied::Gap {
            checkpoint,
            first_seq,
        });
    }
    // Only the dense run after the checkpoint; anything after a hole waits for a new follow.
    let run: Vec<&AuditEvent> = (checkpoint.last_seq + 1..)
        .zip(fresh)
        .take_while(|(next, event)| event.seq == *next)
        .map(|(_, event)| event)
        .collect();
    let Some(last) = run.last() else {
        txn.rollback().await?;
        return Ok(Applied::Nothing { checkpoint });
    };
    let to = Checkpoint {
        last_seq: last.seq,
        last_event_micros: last.time_unix_micros,
    };
    let count = run.len();
    let prepared = Prepared::of(
        run.into_iter()
            .map(|e| facts(e, register, pseudonyms))
            .collect(),
    );
    write_counts(&txn, backend, &prepared).await?;
    write_distinct(&txn, backend, &prepared).await?;
    write_events(&txn, backend, &prepared.events).await?;
    let updated = txn
        .execute_raw(statement(
            backend,
            "UPDATE follow_checkpoint SET last_seq = $1, last_event_micros = $2, updated_micros = $3 WHERE id = 1 AND last_seq = $4",
            vec![
                to.last_seq.into(),
                to.last_event_micros.into(),
                chrono::Utc::now().timestamp_micros().into(),
                checkpoint.last_seq.into(),
            ],
        ))
        .await?;
    if updated.rows_affected() != 1 {
        // Another writer moved the checkpoint under us (only possible without the lock, e.g.
        // two processes on one SQLite file): count nothing, follow again.
        txn.rollback().await?;
        let now = read_checkpoint(db.conn(), backend).await?;
        return Ok(Applied::Nothing { checkpoint: now });
    }
    txn.commit().await?;
    Ok(Applied::New { events: count, to })
}

fn day_columns(day: NaiveDate) -> [String; 3] {
    [
        format_day(day),
        format_day(bucket_start(day, Granularity::Week)),
        format_day(bucket_start(day, Granularity::Month)),
    ]
}

/// Rows per multi-row statement on SQLite (13 columns × 400 < its 32,766 parameters).
const SQLITE_ROWS: usize = 400;

/// Insert `rows` (each `columns.len()` values) with `suffix` (ON CONFLICT …). PostgreSQL:
/// one statement over UNNEST of typed arrays; SQLite: multi-row VALUES in chunks.
async fn insert_many(
    txn: &DatabaseTransaction,
    backend: Backend,
    table: &str,
    columns: &[(&str, &str)],
    rows: Vec<Vec<Value>>,
    suffix: &str,
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    match backend {
        Backend::Postgres => {
            let mut arrays: Vec<Vec<Value>> = vec![Vec::with_capacity(rows.len()); columns.len()];
            for row in rows {
                for (i, value) in row.into_iter().enumerate() {
                    arrays[i].push(value);
                }
            }
            let values: Vec<Value> = arrays
                .into_iter()
                .zip(columns)
                .map(|(values, (_, ty))| pg_array(ty, values))
                .collect();
            let unnest: Vec<String> = columns
                .iter()
                .enumerate()
                .map(|(i, (_, ty))| format!("${}::{ty}[]", i + 1))
                .collect();
            let sql = format!(
                "INSERT INTO {table} ({}) SELECT * FROM UNNEST({}) {suffix}",
                names.join(", "),
                unnest.join(", ")
            );
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                values,
            ))
            .await?;
        }
        Backend::Sqlite => {
            let mut rows = rows.into_iter().peekable();
            while rows.peek().is_some() {
                let chunk: Vec<Vec<Value>> = rows.by_ref().take(SQLITE_ROWS).collect();
                let one = format!("({})", vec!["?"; columns.len()].join(", "));
                let sql = format!(
                    "INSERT INTO {table} ({}) VALUES {} {suffix}",
                    names.join(", "),
                    vec![one.as_str(); chunk.len()].join(", ")
                );
                let values: Vec<Value> = chunk.into_iter().flatten().collect();
                txn.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    sql,
                    values,
                ))
                .await?;
            }
        }
    }
    Ok(())
}

/// A PostgreSQL array parameter of SQL type `ty` from single values.
fn pg_array(ty: &str, values: Vec<Value>) -> Value {
    match ty {
        "bigint" => Value::from(
            values
                .into_iter()
                .map(|v| match v {
                    Value::BigInt(n) => n.unwrap_or_default(),
                    _ => 0,
                })
                .collect::<Vec<i64>>(),
        ),
        "bytea" => Value::from(
            values
                .into_iter()
                .map(|v| match v {
                    Value::Bytes(b) => b.unwrap_or_default(),
                    _ => Vec::new(),
                })
                .collect::<Vec<Vec<u8>>>(),
        ),
        _ => Value::from(
            values
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => s.unwrap_or_default(),
                    _ => String::new(),
                })
                .collect::<Vec<String>>(),
        ),
    }
}

async fn write_counts(
    txn: &DatabaseTransaction,
    backend: Backend,
    prepared: &Prepared,
) -> Result<(), DbErr> {
    let rows: Vec<Vec<Value>> = prepared
        .counts
        .iter()
        .map(|((metric, day, org, code, purpose), (dims, n))| {
            let [day, week, month] = day_columns(*day);
            vec![
                (*metric).into(),
                day.into(),
                org.clone().into(),
                code.clone().into(),
                purpose.clone().into(),
                week.into(),
                month.into(),
                dims.org_type.into(),
                dims.municipality.clone().into(),
                dims.region.into(),
                (*n).into(),
            ]
        })
        .collect();
    insert_many(
        txn,
        backend,
        "daily_counts",
        &[
            ("metric", "text"),
            ("day", "text"),
            ("org", "text"),
            ("code", "text"),
            ("purpose", "text"),
            ("week", "text"),
            ("month", "text"),
            ("org_type", "text"),
            ("municipality", "text"),
            ("region", "text"),
            ("count", "bigint"),
        ],
        rows,
        "ON CONFLICT (metric, day, org, code, purpose) DO UPDATE SET count = daily_counts.count + excluded.count",
    )
    .await
}

async fn write_distinct(
    txn: &DatabaseTransaction,
    backend: Backend,
    prepared: &Prepared,
) -> Result<(), DbErr> {
    let rows: Vec<Vec<Value>> = prepared
        .distinct
        .iter()
        .map(|((metric, day, org, subject), dims)| {
            let [day, week, month] = day_columns(*day);
            vec![
                (*metric).into(),
                day.into(),
                org.clone().into(),
                subject.clone().into(),
                week.into(),
                month.into(),
                dims.org_type.into(),
                dims.municipality.clone().into(),
                dims.region.into(),
            ]
        })
        .collect();
    insert_many(
        txn,
        backend,
        "daily_distinct",
        &[
            ("metric", "text"),
            ("day", "text"),
            ("org", "text"),
            ("subject", "bytea"),
            ("week", "text"),
            ("month", "text"),
            ("org_type", "text"),
            ("municipality", "text"),
            ("region", "text"),
        ],
        rows,
        "ON CONFLICT (metric, day, org, subject) DO NOTHING",
    )
    .await
}

async fn write_events(
    txn: &DatabaseTransaction,
    backend: Backend,
    events: &[EventRow],
) -> Result<(), DbErr> {
    let rows: Vec<Vec<Value>> = events
        .iter()
        .map(|e| {
            vec![
                e.seq.into(),
                e.hour.into(),
                e.action.into(),
                e.outcome.into(),
                e.actor_kind.into(),
                e.org_parent.clone().into(),
                e.org_child.clone().into(),
                e.org_type.into(),
                e.municipality.clone().into(),
                e.purpose.clone().into(),
                e.patient.map(|p| p.to_vec()).unwrap_or_default().into(),
                e.codes.clone().into(),
                e.count.into(),
            ]
        })
        .collect();
    insert_many(
        txn,
        backend,
        "events",
        &[
            ("seq", "bigint"),
            ("hour", "bigint"),
            ("action", "text"),
            ("outcome", "text"),
            ("actor_kind", "text"),
            ("org_parent", "text"),
            ("org_child", "text"),
            ("org_type", "text"),
            ("municipality", "text"),
            ("purpose", "text"),
            ("patient", "bytea"),
            ("codes", "text"),
            ("count", "bigint"),
        ],
        rows,
        // The checkpoint already excludes applied seqs; this only makes a bug loud-free.
        "ON CONFLICT (seq) DO NOTHING",
    )
    .await
}

/// A dimension a usage answer can be grouped by (a column of the aggregate tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    OrgType,
    Municipality,
    Region,
    Code,
    Purpose,
}

impl Dim {
    /// The column, and the key in the answer's `group` map.
    pub fn column(self) -> &'static str {
        match self {
            Dim::OrgType => "org_type",
            Dim::Municipality => "municipality",
            Dim::Region => "region",
            Dim::Code => "code",
            Dim::Purpose => "purpose",
        }
    }
}

/// One aggregated cell read back: bucket start, group values (in the order asked), value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub metric: String,
    pub bucket: NaiveDate,
    pub group: Vec<String>,
    pub value: i64,
}

fn parse_bucket(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or_default()
}

fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn read_cell(row: &QueryResult, dims: usize, with_metric: bool) -> Result<Cell, DbErr> {
    let offset = usize::from(with_metric);
    let metric: String = if with_metric {
        row.try_get_by_index(0)?
    } else {
        String::new()
    };
    let bucket: String = row.try_get_by_index(offset)?;
    let mut group = Vec::with_capacity(dims);
    for i in 0..dims {
        group.push(row.try_get_by_index::<String>(offset + 1 + i)?);
    }
    Ok(Cell {
        metric,
        bucket: parse_bucket(&bucket),
        group,
        value: row.try_get_by_index(offset + 1 + dims)?,
    })
}

/// Sums of the count `metrics` per bucket and group over `range`.
pub async fn count_cells(
    db: &Database,
    metrics: &[&str],
    range: DateRange,
    granularity: Granularity,
    dims: &[Dim],
) -> Result<Vec<Cell>, DbErr> {
    if metrics.is_empty() {
        return Ok(Vec::new());
    }
    let bucket = granularity.column();
    let dim_cols: Vec<&str> = dims.iter().map(|d| d.column()).collect();
    let select_dims: String = dim_cols.iter().map(|c| format!(", {c}")).collect();
    let sql = format!(
        "SELECT metric, {bucket}{select_dims}, CAST(SUM(count) AS BIGINT) FROM daily_counts
         WHERE metric IN ({}) AND day >= ${} AND day <= ${}
         GROUP BY metric, {bucket}{select_dims}",
        placeholders(1, metrics.len()),
        metrics.len() + 1,
        metrics.len() + 2,
    );
    let mut values: Vec<Value> = metrics.iter().map(|m| (*m).into()).collect();
    values.push(format_day(range.from).into());
    values.push(format_day(range.to).into());
    let rows = db
        .conn()
        .query_all_raw(statement(db.backend(), &sql, values))
        .await?;
    rows.iter()
        .map(|row| read_cell(row, dims.len(), true))
        .collect()
}

/// Distinct members of `metric` per bucket and group over `range`.
pub async fn distinct_cells(
    db: &Database,
    metric: &str,
    range: DateRange,
    granularity: Granularity,
    dims: &[Dim],
) -> Result<Vec<Cell>, DbErr> {
    let bucket = granularity.column();
    let select_dims: String = dims.iter().map(|d| format!(", {}", d.column())).collect();
    let sql = format!(
        "SELECT {bucket}{select_dims}, COUNT(DISTINCT subject) FROM daily_distinct
         WHERE metric = $1 AND day >= $2 AND day <= $3
         GROUP BY {bucket}{select_dims}"
    );
    let rows = db
        .conn()
        .query_all_raw(statement(
            db.backend(),
            &sql,
            vec![
                metric.into(),
                format_day(range.from).into(),
                format_day(range.to).into(),
            ],
        ))
        .await?;
    rows.iter()
        .map(|row| {
            read_cell(row, dims.len(), false).map(|mut c| {
                c.metric = metric.to_owned();
                c
            })
        })
        .collect()
}

/// Distinct organisations per kind that have any of `metrics` in `range`.
pub async fn active_orgs(
    db: &Database,
    metrics: &[&str],
    range: DateRange,
) -> Result<BTreeMap<String, i64>, DbErr> {
    let sql = format!(
        "SELECT org_type, COUNT(DISTINCT org) FROM daily_counts
         WHERE metric IN ({}) AND day >= ${} AND day <= ${} AND org <> '' AND count > 0
         GROUP BY org_type",
        placeholders(1, metrics.len()),
        metrics.len() + 1,
        metrics.len() + 2,
    );
    let mut values: Vec<Value> = metrics.iter().map(|m| (*m).into()).collect();
    values.push(format_day(range.from).into());
    values.push(format_day(range.to).into());
    let rows = db
        .conn()
        .query_all_raw(statement(db.backend(), &sql, values))
        .await?;
    let mut out = BTreeMap::new();
    for row in rows {
        out.insert(row.try_get_by_index(0)?, row.try_get_by_index(1)?);
    }
    Ok(out)
}

/// Distinct members of `metric` over all of `range`.
pub async fn distinct_total(db: &Database, metric: &str, range: DateRange) -> Result<i64, DbErr> {
    let row = db
        .conn()
        .query_one_raw(statement(
            db.backend(),
            "SELECT COUNT(DISTINCT subject) FROM daily_distinct WHERE metric = $1 AND day >= $2 AND day <= $3",
            vec![
                metric.into(),
                format_day(range.from).into(),
                format_day(range.to).into(),
            ],
        ))
        .await?;
    Ok(row.map(|r| r.try_get_by_index(0)).transpose()?.unwrap_or(0))
}

/// Distinct patients with data in `range` whose citizen opened their data or log in `range`.
pub async fn patients_viewed(db: &Database, range: DateRange) -> Result<i64, DbErr> {
    let from = format_day(range.from);
    let to = format_day(range.to);
    let row = db
        .conn()
        .query_one_raw(statement(
            db.backend(),
            "SELECT COUNT(DISTINCT d.subject) FROM daily_distinct d
             WHERE d.metric = $1 AND d.day >= $2 AND d.day <= $3
               AND EXISTS (SELECT 1 FROM daily_distinct v
                           WHERE v.metric = 'citizens_viewing' AND v.subject = d.subject
                             AND v.day >= $4 AND v.day <= $5)",
            vec![
                crate::facts::metric::PATIENTS_WITH_DATA.into(),
                from.clone().into(),
                to.clone().into(),
                from.into(),
                to.into(),
            ],
        ))
        .await?;
    Ok(row.map(|r| r.try_get_by_index(0)).transpose()?.unwrap_or(0))
}

/// One de-identified event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: i64,
    pub hour: i64,
    pub action: String,
    pub outcome: String,
    pub actor_kind: String,
    pub org_parent: String,
    pub org_child: String,
    pub org_type: String,
    pub municipality: String,
    pub purpose: String,
    pub patient: Option<Vec<u8>>,
    pub codes: String,
    pub count: i64,
}

/// Up to `limit` events with `from_hour <= hour < to_hour`, after `(hour, seq)` `after`, in
/// (hour, seq) order.
pub async fn events_page(
    db: &Database,
    from_hour: i64,
    to_hour: i64,
    after: Option<(i64, i64)>,
    limit: u64,
) -> Result<Vec<StoredEvent>, DbErr> {
    let (after_hour, after_seq) = after.unwrap_or((from_hour, i64::MIN));
    let rows = db
        .conn()
        .query_all_raw(statement(
            db.backend(),
            "SELECT seq, hour, action, outcome, actor_kind, org_parent, org_child, org_type,
                    municipality, purpose, patient, codes, count
             FROM events
             WHERE hour >= $1 AND hour < $2 AND (hour > $3 OR (hour = $4 AND seq > $5))
             ORDER BY hour, seq
             LIMIT $6",
            vec![
                from_hour.into(),
                to_hour.into(),
                after_hour.into(),
                after_hour.into(),
                after_seq.into(),
                i64::try_from(limit).unwrap_or(i64::MAX).into(),
            ],
        ))
        .await?;
    rows.iter()
        .map(|row| {
            Ok(StoredEvent {
                seq: row.try_get_by_index(0)?,
                hour: row.try_get_by_index(1)?,
                action: row.try_get_by_index(2)?,
                outcome: row.try_get_by_index(3)?,
                actor_kind: row.try_get_by_index(4)?,
                org_parent: row.try_get_by_index(5)?,
                org_child: row.try_get_by_index(6)?,
                org_type: row.try_get_by_index(7)?,
                municipality: row.try_get_by_index(8)?,
                purpose: row.try_get_by_index(9)?,
                patient: Some(row.try_get_by_index::<Vec<u8>>(10)?).filter(|p| !p.is_empty()),
                codes: row.try_get_by_index(11)?,
                count: row.try_get_by_index(12)?,
            })
        })
        .collect()
}

/// Every distinct (metric, day, org, subject) and summed count, for tests comparing two
/// databases: `(counts, distinct members, events)`.
pub async fn fingerprint(db: &Database) -> Result<(BTreeSet<String>, i64, i64), DbErr> {
    let rows = db
        .conn()
        .query_all_raw(statement(
            db.backend(),
            "SELECT metric, day, org, code, purpose, count FROM daily_counts",
            vec![],
        ))
        .await?;
    let mut counts = BTreeSet::new();
    for row in rows {
        let metric: String = row.try_get_by_index(0)?;
        let day: String = row.try_get_by_index(1)?;
        let org: String = row.try_get_by_index(2)?;
        let code: String = row.try_get_by_index(3)?;
        let purpose: String = row.try_get_by_index(4)?;
        let n: i64 = row.try_get_by_index(5)?;
        counts.insert(format!("{metric}|{day}|{org}|{code}|{purpose}={n}"));
    }
    let count = |table: &str| {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        async move {
            let row = db
                .conn()
                .query_one_raw(statement(db.backend(), &sql, vec![]))
                .await?;
            Ok::<i64, DbErr>(row.map(|r| r.try_get_by_index(0)).transpose()?.unwrap_or(0))
        }
    };
    Ok((
        counts,
        count("daily_distinct").await?,
        count("events").await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_placeholders_become_question_marks_for_sqlite() {
        assert_eq!(
            to_sqlite_params("a = $1 AND b IN ($2, $10) AND c = '$x'"),
            "a = ? AND b IN (?, ?) AND c = '$x'"
        );
    }

    #[test]
    fn a_batch_adds_counts_and_keeps_each_member_once() {
        use crate::facts::{CountFact, DistinctFact, metric};
        let day = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap_or_default();
        let dims = OrgDims {
            org: "100101009".into(),
            org_type: "municipality",
            municipality: "0301".into(),
            region: "helse_sor_ost",
        };
        let fact = |seq: i64, n: i64| Facts {
            day,
            counts: vec![CountFact {
                metric: metric::MEASUREMENTS_RECEIVED,
                dims: dims.clone(),
                code: "8867-4".into(),
                purpose: String::new(),
                n,
            }],
            distinct: vec![DistinctFact {
                metric: metric::PATIENTS_WITH_DATA,
                dims: dims.clone(),
                subject: [7u8; 16],
            }],
            row: EventRow {
                seq,
                hour: 0,
                action: "create",
                outcome: "success",
                actor_kind: "system",
                org_parent: dims.org.clone(),
                org_child: String::new(),
                org_type: "municipality",
                municipality: "0301".into(),
                purpose: String::new(),
                patient: Some([7u8; 16]),
                codes: format!("8867-4:{n}"),
                count: n,
            },
        };
        let prepared = Prepared::of(vec![fact(1, 3), fact(2, 4)]);
        assert_eq!(prepared.counts.len(), 1);
        assert_eq!(prepared.counts.values().next().map(|(_, n)| *n), Some(7));
        assert_eq!(prepared.distinct.len(), 1);
        assert_eq!(prepared.events.len(), 2);
    }

    #[test]
    fn the_lock_key_is_stable() {
        assert_eq!(lock_key(), lock_key());
        assert_ne!(lock_key(), 0);
    }
}
