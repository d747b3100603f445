//! `Append`: store validated measurements idempotently, with their audit events in the same
//! transaction (the outbox).
//!
//! The idempotency key is (source organisation, source identifier or fullUrl). It is
//! enforced by the primary key of `measurement_keys` (insert … on conflict do nothing), not by
//! a check-then-insert, so concurrent duplicates and retries after a crash store one row.
//! The same key with the same content answers ALREADY_STORED with the stored id; with other
//! content, CONFLICT (create) or a replacement (conditional update), which is audited.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use pmd_auth::{Principal, Scope};
use pmd_db::sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, Statement, TransactionTrait, Value,
};
use pmd_db::{Backend, Database};
use pmd_error::{ErrorCode, Issue, ServiceError};
use pmd_proto::audit::v1 as audit;
use pmd_proto::common::v1 as common;
use pmd_proto::storage::v1::{self as pb, WriteMode, WriteOutcome};
use prost::Message;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// One item after the in-memory checks.
struct Item {
    key: String,
    replace: bool,
    if_none_exist: bool,
    hash: Vec<u8>,
    measurement: pb::Measurement,
    effective_at: DateTime<Utc>,
}

/// What the database already held for a key.
#[derive(Clone)]
struct Existing {
    id: Uuid,
    hash: Vec<u8>,
    effective_at: DateTime<Utc>,
    version: i64,
}

/// Store the request's items for `principal` (a source with `pmd:write`).
pub async fn append(
    db: &Database,
    principal: &Principal,
    request: pb::AppendRequest,
) -> Result<(pb::AppendResponse, bool), ServiceError> {
    principal
        .require_scope(Scope::Write)
        .map_err(|_| ServiceError::forbidden("storing measurements needs scope pmd:write"))?;
    let source_org = principal
        .source_org()
        .ok_or_else(|| ServiceError::forbidden("the token names no source organisation"))?
        .to_owned();
    let all_or_nothing = request.mode == WriteMode::AllOrNothing as i32;
    let now = Utc::now();
    let now_micros = now.timestamp_micros();

    let mut results: Vec<pb::AppendResult> = Vec::with_capacity(request.items.len());
    // Items to write, by index; the first occurrence of a key within the request owns it.
    let mut items: Vec<(usize, Item)> = Vec::new();
    let mut first_of_key: HashMap<String, usize> = HashMap::new();
    let mut repeats: Vec<(usize, usize)> = Vec::new(); // (index, index of the first)
    for (index, entry) in request.items.into_iter().enumerate() {
        results.push(pb::AppendResult::default());
        match prepare(entry, &source_org, principal, now_micros) {
            Err(issue) => {
                results[index] = rejected(issue);
            }
            Ok(item) => {
                if let Some(&first) = first_of_key.get(&item.key) {
                    repeats.push((index, first));
                    // A later PUT in the same request replaces the earlier one's content.
                    if item.replace
                        && let Some(slot) = items.iter_mut().find(|(i, _)| *i == first)
                    {
                        let id = slot.1.measurement.id.clone();
                        slot.1 = item;
                        slot.1.measurement.id = id;
                    }
                } else {
                    first_of_key.insert(item.key.clone(), index);
                    items.push((index, item));
                }
            }
        }
    }

    let txn = db.conn().begin().await.map_err(unavailable)?;
    let keys: Vec<&Item> = items.iter().map(|(_, item)| item).collect();
    let existing = claim_keys(&txn, db.backend(), &source_org, &keys).await?;

    let mut rows: Vec<&pb::Measurement> = Vec::new();
    let mut written: BTreeMap<String, (common::Identifier, BTreeMap<String, i64>, bool)> =
        BTreeMap::new();
    let mut conflicts = false;
    for (index, item) in &mut items {
        let outcome = match existing.get(&item.key) {
            None => {
                results[*index] = outcome(WriteOutcome::Created, &item.measurement, now_micros);
                WriteOutcome::Created
            }
            Some(old) if old.hash == item.hash || (item.if_none_exist && !item.replace) => {
                item.measurement.id = old.id.to_string();
                item.measurement.version = old.version;
                results[*index] = outcome(WriteOutcome::AlreadyStored, &item.measurement, 0);
                continue;
            }
            Some(old) if item.replace => {
                item.measurement.id = old.id.to_string();
                item.measurement.version = old.version + 1;
                if item.measurement.status == pb::MeasurementStatus::Final as i32
                    || item.measurement.status == pb::MeasurementStatus::Preliminary as i32
                    || item.measurement.status == pb::MeasurementStatus::Registered as i32
                {
                    item.measurement.status = pb::MeasurementStatus::Amended as i32;
                }
                replace_key(&txn, db.backend(), &source_org, item, old).await?;
                results[*index] = outcome(WriteOutcome::Replaced, &item.measurement, now_micros);
                WriteOutcome::Replaced
            }
            Some(old) => {
                conflicts = true;
                results[*index] = pb::AppendResult {
                    outcome: WriteOutcome::Conflict as i32,
                    id: old.id.to_string(),
                    version: old.version,
                    last_updated_unix_micros: 0,
                    issues: vec![to_pb_issue(&Issue::error(
                        "conflict",
                        "a measurement with this identifier from this source is already stored with other content; send it as a conditional update (PUT) to replace it",
                    ))],
                };
                continue;
            }
        };
        rows.push(&item.measurement);
        let patient = item.measurement.patient.clone().unwrap_or_default();
        let entry = written
            .entry(format!(
                "{}|{}",
                patient.value,
                matches!(outcome, WriteOutcome::Replaced)
            ))
            .or_insert_with(|| {
                (
                    patient,
                    BTreeMap::new(),
                    matches!(outcome, WriteOutcome::Replaced),
                )
            });
        *entry.1.entry(item.measurement.code.clone()).or_default() += 1;
    }
    let any_rejected = results
        .iter()
        .any(|r| r.outcome == WriteOutcome::Rejected as i32);
    if all_or_nothing && (conflicts || any_rejected) {
        txn.rollback().await.map_err(unavailable)?;
        for result in &mut results {
            if result.outcome != WriteOutcome::Conflict as i32
                && result.outcome != WriteOutcome::Rejected as i32
            {
                *result = pb::AppendResult {
                    outcome: WriteOutcome::NotAttempted as i32,
                    ..pb::AppendResult::default()
                };
            }
        }
        return Ok((pb::AppendResponse { results }, false));
    }

    insert_rows(&txn, db.backend(), &source_org, &rows, now).await?;
    let events = audit_events(principal, written, now_micros);
    let wrote_events = !events.is_empty();
    insert_outbox(&txn, db.backend(), &events, now).await?;
    txn.commit().await.map_err(unavailable)?;

    for (index, first) in repeats {
        let first_result = results[first].clone();
        results[index] = match WriteOutcome::try_from(first_result.outcome) {
            Ok(WriteOutcome::Created | WriteOutcome::Replaced | WriteOutcome::AlreadyStored) => {
                pb::AppendResult {
                    outcome: WriteOutcome::AlreadyStored as i32,
                    ..first_result
                }
            }
            _ => first_result,
        };
    }
    Ok((pb::AppendResponse { results }, wrote_events))
}

fn prepare(
    entry: pb::AppendItem,
    source_org: &str,
    principal: &Principal,
    now_micros: i64,
) -> Result<Item, Issue> {
    let mut measurement = entry
        .measurement
        .ok_or_else(|| Issue::error("required", "measurement is required"))?;
    if entry.idempotency_key.is_empty() {
        return Err(Issue::error("required", "idempotency key is required"));
    }
    if measurement
        .patient
        .as_ref()
        .is_none_or(|p| p.value.is_empty())
    {
        return Err(Issue::error("required", "patient is required"));
    }
    if measurement.code.is_empty() {
        return Err(Issue::error("required", "code is required"));
    }
    let effective_at = DateTime::from_timestamp_micros(measurement.effective_unix_micros)
        .ok_or_else(|| Issue::error("invalid", "effective time is out of range"))?;
    measurement.source = Some(pb::Source {
        org_number: source_org.to_owned(),
        org_parent: match &principal.kind {
            pmd_auth::PrincipalKind::System { org_parent, .. } => org_parent.clone(),
            _ => source_org.to_owned(),
        },
        client_id: principal.client_id.clone().unwrap_or_default(),
    });
    let hash = content_hash(&measurement);
    measurement.id = Uuid::now_v7().to_string();
    // Storage renders the FHIR form itself, when it stores the row.
    measurement.fhir_json.clear();
    measurement.version = 1;
    measurement.received_unix_micros = now_micros;
    measurement.last_updated_unix_micros = now_micros;
    Ok(Item {
        key: entry.idempotency_key,
        replace: entry.replace,
        if_none_exist: entry.if_none_exist,
        hash,
        measurement,
        effective_at,
    })
}

/// SHA-256 of what the measurement says (the normalised values, not the JSON's formatting,
/// and not server-assigned fields), so an identical retry matches however it is serialised.
fn content_hash(measurement: &pb::Measurement) -> Vec<u8> {
    let mut content = measurement.clone();
    content.id.clear();
    content.version = 0;
    content.received_unix_micros = 0;
    content.last_updated_unix_micros = 0;
    content.resource_json.clear();
    content.fhir_json.clear();
    content.source = None;
    Sha256::digest(content.encode_to_vec()).to_vec()
}

fn outcome(outcome: WriteOutcome, m: &pb::Measurement, last_updated: i64) -> pb::AppendResult {
    pb::AppendResult {
        outcome: outcome as i32,
        id: m.id.clone(),
        issues: Vec::new(),
        version: m.version,
        last_updated_unix_micros: last_updated,
    }
}

fn rejected(issue: Issue) -> pb::AppendResult {
    pb::AppendResult {
        outcome: WriteOutcome::Rejected as i32,
        issues: vec![to_pb_issue(&issue)],
        ..pb::AppendResult::default()
    }
}

pub(crate) fn to_pb_issue(issue: &Issue) -> common::Issue {
    common::Issue {
        severity: common::Severity::Error as i32,
        code: issue.code.clone(),
        diagnostics: issue.diagnostics.clone(),
        expression: issue.expression.clone().unwrap_or_default(),
    }
}

pub(crate) fn unavailable(error: pmd_db::sea_orm::DbErr) -> ServiceError {
    tracing::warn!(error = %error, "storage database error");
    ServiceError::new(
        ErrorCode::Unavailable,
        "the measurement store is unavailable",
    )
}

/// Insert the keys that are new; return what the database already held for the others.
async fn claim_keys(
    txn: &DatabaseTransaction,
    backend: Backend,
    source_org: &str,
    items: &[&Item],
) -> Result<HashMap<String, Existing>, ServiceError> {
    let mut existing = HashMap::new();
    if items.is_empty() {
        return Ok(existing);
    }
    let claimed: Vec<String> = match backend {
        Backend::Postgres => {
            let keys: Vec<String> = items.iter().map(|i| i.key.clone()).collect();
            let ids: Vec<Uuid> = items
                .iter()
                .map(|i| parse_uuid(&i.measurement.id))
                .collect();
            let times: Vec<DateTime<Utc>> = items.iter().map(|i| i.effective_at).collect();
            let hashes: Vec<Vec<u8>> = items.iter().map(|i| i.hash.clone()).collect();
            let rows = txn
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "INSERT INTO measurement_keys (source_org, idempotency_key, measurement_id, effective_at, content_hash, version)
                     SELECT $1, k, i, t, h, 1 FROM UNNEST($2::text[], $3::uuid[], $4::timestamptz[], $5::bytea[]) AS u(k, i, t, h)
                     ON CONFLICT (source_org, idempotency_key) DO NOTHING
                     RETURNING idempotency_key",
                    [
                        source_org.into(),
                        Value::from(keys),
                        Value::from(ids),
                        Value::from(times),
                        Value::from(hashes),
                    ],
                ))
                .await
                .map_err(unavailable)?;
            rows.iter()
                .filter_map(|r| r.try_get_by_index::<String>(0).ok())
                .collect()
        }
        Backend::Sqlite => {
            let mut claimed = Vec::new();
            for item in items {
                let result = txn
                    .execute_raw(Statement::from_sql_and_values(
                        DbBackend::Sqlite,
                        "INSERT INTO measurement_keys (source_org, idempotency_key, measurement_id, effective_at, content_hash, version)
                         VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT (source_org, idempotency_key) DO NOTHING",
                        [
                            source_org.into(),
                            item.key.clone().into(),
                            item.measurement.id.clone().into(),
                            item.effective_at.timestamp_micros().into(),
                            item.hash.clone().into(),
                        ],
                    ))
                    .await
                    .map_err(unavailable)?;
                if result.rows_affected() == 1 {
                    claimed.push(item.key.clone());
                }
            }
            claimed
        }
    };
    let claimed: std::collections::HashSet<String> = claimed.into_iter().collect();
    let others: Vec<String> = items
        .iter()
        .filter(|i| !claimed.contains(&i.key))
        .map(|i| i.key.clone())
        .collect();
    if others.is_empty() {
        return Ok(existing);
    }
    let rows = match backend {
        Backend::Postgres => {
            txn.query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT idempotency_key, measurement_id::text, effective_at, content_hash, version FROM measurement_keys
                 WHERE source_org = $1 AND idempotency_key = ANY($2::text[])",
                [source_org.into(), Value::from(others.clone())],
            ))
            .await
            .map_err(unavailable)?
        }
        Backend::Sqlite => {
            let mut rows = Vec::new();
            for key in &others {
                rows.extend(
                    txn.query_all_raw(Statement::from_sql_and_values(
                        DbBackend::Sqlite,
                        "SELECT idempotency_key, measurement_id, effective_at, content_hash, version FROM measurement_keys
                         WHERE source_org = ? AND idempotency_key = ?",
                        [source_org.into(), key.clone().into()],
                    ))
                    .await
                    .map_err(unavailable)?,
                );
            }
            rows
        }
    };
    for row in rows {
        let key: String = row.try_get_by_index(0).map_err(unavailable)?;
        let id: String = row.try_get_by_index(1).map_err(unavailable)?;
        let effective_at = match backend {
            Backend::Postgres => row
                .try_get_by_index::<DateTime<Utc>>(2)
                .map_err(unavailable)?,
            Backend::Sqlite => {
                let micros: i64 = row.try_get_by_index(2).map_err(unavailable)?;
                DateTime::from_timestamp_micros(micros).unwrap_or_default()
            }
        };
        existing.insert(
            key,
            Existing {
                id: parse_uuid(&id),
                hash: row.try_get_by_index(3).map_err(unavailable)?,
                effective_at,
                version: row.try_get_by_index(4).map_err(unavailable)?,
            },
        );
    }
    if existing.len() != others.len() {
        // A concurrent writer claimed a key and then rolled back: let the caller retry.
        return Err(ServiceError::new(
            ErrorCode::Unavailable,
            "a concurrent write of the same measurement did not finish; retry",
        ));
    }
    Ok(existing)
}

async fn replace_key(
    txn: &DatabaseTransaction,
    backend: Backend,
    source_org: &str,
    item: &Item,
    old: &Existing,
) -> Result<(), ServiceError> {
    let (update, delete) = match backend {
        Backend::Postgres => (
            "UPDATE measurement_keys SET effective_at = $1, content_hash = $2, version = $3 WHERE source_org = $4 AND idempotency_key = $5",
            "DELETE FROM measurements WHERE id = $1::uuid AND effective_at = $2",
        ),
        Backend::Sqlite => (
            "UPDATE measurement_keys SET effective_at = ?, content_hash = ?, version = ? WHERE source_org = ? AND idempotency_key = ?",
            "DELETE FROM measurements WHERE id = ?",
        ),
    };
    let time = |t: DateTime<Utc>| -> Value {
        match backend {
            Backend::Postgres => t.into(),
            Backend::Sqlite => t.timestamp_micros().into(),
        }
    };
    txn.execute_raw(Statement::from_sql_and_values(
        db_backend(backend),
        update,
        [
            time(item.effective_at),
            item.hash.clone().into(),
            item.measurement.version.into(),
            source_org.into(),
            item.key.clone().into(),
        ],
    ))
    .await
    .map_err(unavailable)?;
    let mut values = vec![Value::from(old.id.to_string())];
    if backend == Backend::Postgres {
        values.push(time(old.effective_at));
    }
    txn.execute_raw(Statement::from_sql_and_values(
        db_backend(backend),
        delete,
        values,
    ))
    .await
    .map_err(unavailable)?;
    Ok(())
}

async fn insert_rows(
    txn: &DatabaseTransaction,
    backend: Backend,
    source_org: &str,
    rows: &[&pb::Measurement],
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    if rows.is_empty() {
        return Ok(());
    }
    match backend {
        Backend::Postgres => {
            let n = rows.len();
            let ids: Vec<Uuid> = rows.iter().map(|m| parse_uuid(&m.id)).collect();
            let patients: Vec<String> = rows
                .iter()
                .map(|m| {
                    m.patient
                        .as_ref()
                        .map(|p| p.value.clone())
                        .unwrap_or_default()
                })
                .collect();
            let codes: Vec<String> = rows.iter().map(|m| m.code.clone()).collect();
            let effective: Vec<DateTime<Utc>> = rows
                .iter()
                .map(|m| {
                    DateTime::from_timestamp_micros(m.effective_unix_micros).unwrap_or_default()
                })
                .collect();
            let versions: Vec<i64> = rows.iter().map(|m| m.version).collect();
            let statuses: Vec<i16> = rows
                .iter()
                .map(|m| i16::try_from(m.status).unwrap_or_default())
                .collect();
            let bodies: Vec<Vec<u8>> = rows.iter().map(|m| m.encode_to_vec()).collect();
            let renderings: Vec<Vec<u8>> =
                rows.iter().map(|m| pmd_fhir::observation_json(m)).collect();
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO measurements (id, patient_id, code, effective_at, received_at, last_updated, version, status, source_org, body, fhir)
                 SELECT i, p, c, t, $5, $5, v, s, $6, b, f
                 FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $7::bigint[], $8::smallint[], $9::bytea[], $10::bytea[]) AS u(i, p, c, t, v, s, b, f)",
                [
                    Value::from(ids),
                    Value::from(patients),
                    Value::from(codes),
                    Value::from(effective),
                    now.into(),
                    source_org.into(),
                    Value::from(versions),
                    Value::from(statuses),
                    Value::from(bodies),
                    Value::from(renderings),
                ],
            ))
            .await
            .map_err(unavailable)?;
            tracing::debug!(rows = n, "measurements inserted");
        }
        Backend::Sqlite => {
            for m in rows {
                txn.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    "INSERT INTO measurements (id, patient_id, code, effective_at, received_at, last_updated, version, status, source_org, body, fhir)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        m.id.clone().into(),
                        m.patient.as_ref().map(|p| p.value.clone()).unwrap_or_default().into(),
                        m.code.clone().into(),
                        m.effective_unix_micros.into(),
                        now.timestamp_micros().into(),
                        now.timestamp_micros().into(),
                        m.version.into(),
                        m.status.into(),
                        source_org.into(),
                        m.encode_to_vec().into(),
                        pmd_fhir::observation_json(m).into(),
                    ],
                ))
                .await
                .map_err(unavailable)?;
            }
        }
    }
    Ok(())
}

/// One event per patient per batch (and per kind of write), with the count per code.
fn audit_events(
    principal: &Principal,
    written: BTreeMap<String, (common::Identifier, BTreeMap<String, i64>, bool)>,
    now_micros: i64,
) -> Vec<audit::AuditEvent> {
    let actor = pmd_server::actor(principal);
    let trace_id = pmd_telemetry::current_trace_id().unwrap_or_default();
    written
        .into_values()
        .map(|(patient, counts, replaced)| audit::AuditEvent {
            event_id: Uuid::new_v4().to_string(),
            time_unix_micros: now_micros,
            action: if replaced {
                audit::Action::Update as i32
            } else {
                audit::Action::Create as i32
            },
            outcome: audit::Outcome::Success as i32,
            actor: Some(actor.clone()),
            patient: Some(patient),
            entities: counts
                .into_iter()
                .map(|(code, count)| audit::Entity {
                    resource_type: "Observation".into(),
                    code,
                    count,
                    ids: Vec::new(),
                })
                .collect(),
            trace_id: trace_id.clone(),
            ..audit::AuditEvent::default()
        })
        .collect()
}

pub(crate) async fn insert_outbox(
    txn: &DatabaseTransaction,
    backend: Backend,
    events: &[audit::AuditEvent],
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    if events.is_empty() {
        return Ok(());
    }
    match backend {
        Backend::Postgres => {
            let ids: Vec<Uuid> = events.iter().map(|e| parse_uuid(&e.event_id)).collect();
            let bodies: Vec<Vec<u8>> = events.iter().map(Message::encode_to_vec).collect();
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO audit_outbox (event_id, body) SELECT * FROM UNNEST($1::uuid[], $2::bytea[])",
                [Value::from(ids), Value::from(bodies)],
            ))
            .await
            .map_err(unavailable)?;
        }
        Backend::Sqlite => {
            for event in events {
                txn.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    "INSERT INTO audit_outbox (event_id, body, created_at) VALUES (?, ?, ?)",
                    [
                        event.event_id.clone().into(),
                        event.encode_to_vec().into(),
                        now.timestamp_micros().into(),
                    ],
                ))
                .await
                .map_err(unavailable)?;
            }
        }
    }
    Ok(())
}

fn parse_uuid(text: &str) -> Uuid {
    Uuid::parse_str(text).unwrap_or_default()
}

fn db_backend(backend: Backend) -> DbBackend {
    match backend {
        Backend::Postgres => DbBackend::Postgres,
        Backend::Sqlite => DbBackend::Sqlite,
    }
}
