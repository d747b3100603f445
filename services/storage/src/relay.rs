//! The outbox relay: delivers audit events committed with the measurements to `audit`, at
//! least once (audit drops duplicates by event id), in commit order, and deletes them only
//! after audit acknowledged their commit. Woken at once after each append; also polls, so
//! events left by a crash or by another replica are delivered too. On PostgreSQL several
//! replicas share the work (`FOR UPDATE SKIP LOCKED`).

use std::sync::Arc;
use std::time::Duration;

use pmd_db::sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait, Value};
use pmd_db::{Backend, Database};
use pmd_proto::audit::v1::audit_service_client::AuditServiceClient;
use pmd_proto::audit::v1::{AuditEvent, RecordRequest};
use pmd_server::{Channel, ServiceCredentials};
use prost::Message;
use tokio::sync::Notify;

const BATCH: i64 = 500;
const POLL: Duration = Duration::from_secs(1);

/// Run the relay until the task is aborted.
pub async fn run(
    db: Database,
    audit: AuditServiceClient<Channel>,
    credentials: ServiceCredentials,
    wake: Arc<Notify>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match deliver_batch(&db, &audit, &credentials).await {
            Ok(n) if n as i64 == BATCH => continue,
            Ok(n) => {
                if n > 0 {
                    metrics::counter!("pmd_audit_outbox_delivered_total").increment(n as u64);
                }
                backoff = Duration::from_millis(100);
                tokio::select! {
                    () = wake.notified() => {},
                    () = tokio::time::sleep(POLL) => {},
                }
            }
            Err(error) => {
                tracing::warn!(%error, ?backoff, "audit outbox delivery failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn deliver_batch(
    db: &Database,
    audit: &AuditServiceClient<Channel>,
    credentials: &ServiceCredentials,
) -> Result<usize, String> {
    match db.backend() {
        Backend::Postgres => {
            let txn = db.conn().begin().await.map_err(|e| e.to_string())?;
            let rows = txn
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT id, body FROM audit_outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                    [BATCH.into()],
                ))
                .await
                .map_err(|e| e.to_string())?;
            let (ids, events) = decode(&rows)?;
            if ids.is_empty() {
                txn.commit().await.map_err(|e| e.to_string())?;
                return Ok(0);
            }
            send(audit, credentials, events).await?;
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "DELETE FROM audit_outbox WHERE id = ANY($1::bigint[])",
                [Value::from(ids.clone())],
            ))
            .await
            .map_err(|e| e.to_string())?;
            txn.commit().await.map_err(|e| e.to_string())?;
            Ok(ids.len())
        }
        Backend::Sqlite => {
            // One storage process per SQLite file: no other relay competes, and holding the
            // single connection across the call would stall every request.
            let rows = db
                .conn()
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    "SELECT id, body FROM audit_outbox ORDER BY id LIMIT ?",
                    [BATCH.into()],
                ))
                .await
                .map_err(|e| e.to_string())?;
            let (ids, events) = decode(&rows)?;
            if ids.is_empty() {
                return Ok(0);
            }
            send(audit, credentials, events).await?;
            let max = ids.iter().copied().max().unwrap_or_default();
            db.conn()
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    "DELETE FROM audit_outbox WHERE id <= ?",
                    [max.into()],
                ))
                .await
                .map_err(|e| e.to_string())?;
            Ok(ids.len())
        }
    }
}

fn decode(rows: &[pmd_db::sea_orm::QueryResult]) -> Result<(Vec<i64>, Vec<AuditEvent>), String> {
    let mut ids = Vec::with_capacity(rows.len());
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        let id: i64 = row.try_get_by_index(0).map_err(|e| e.to_string())?;
        let body: Vec<u8> = row.try_get_by_index(1).map_err(|e| e.to_string())?;
        let event = AuditEvent::decode(body.as_slice()).map_err(|e| e.to_string())?;
        ids.push(id);
        events.push(event);
    }
    Ok((ids, events))
}

async fn send(
    audit: &AuditServiceClient<Channel>,
    credentials: &ServiceCredentials,
    events: Vec<AuditEvent>,
) -> Result<(), String> {
    let request = credentials
        .request(RecordRequest { events })
        .map_err(|e| e.to_string())?;
    audit
        .clone()
        .record(request)
        .await
        .map_err(|status| format!("audit record: {}", status.code()))?;
    Ok(())
}
