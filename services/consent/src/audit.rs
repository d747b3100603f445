//! Audit events of block changes and block listings, and delivering them to `audit` with the
//! service's own credentials.

use pmd_error::{ErrorCode, ServiceError};
use pmd_proto::audit::v1::{self as pb, Action, Outcome};
use pmd_proto::common::v1 as common;
use prost::Message;

use crate::State;
use crate::store::OutboxEvent;

/// An event about blocks (`ids`) of `patient`, by `actor`.
pub(crate) fn event(
    action: Action,
    actor: common::Actor,
    purpose: Option<common::Purpose>,
    patient: common::Identifier,
    ids: Vec<String>,
    at_micros: i64,
) -> pb::AuditEvent {
    pb::AuditEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        time_unix_micros: at_micros,
        action: action as i32,
        outcome: Outcome::Success as i32,
        actor: Some(actor),
        patient: Some(patient),
        purpose,
        entities: vec![pb::Entity {
            resource_type: "Consent".into(),
            count: i64::try_from(ids.len()).unwrap_or(i64::MAX),
            ids,
            code: String::new(),
        }],
        trace_id: pmd_telemetry::current_trace_id().unwrap_or_default(),
        ..pb::AuditEvent::default()
    }
}

/// The event as it is kept in the outbox.
pub(crate) fn outbox(event: &pb::AuditEvent) -> OutboxEvent {
    OutboxEvent {
        event_id: event.event_id.clone(),
        created_at: event.time_unix_micros,
        body: event.encode_to_vec(),
    }
}

/// Commit `events` in the audit log (answers after audit's commit).
pub(crate) async fn record(state: &State, events: Vec<pb::AuditEvent>) -> Result<(), ServiceError> {
    if events.is_empty() {
        return Ok(());
    }
    let request = state.credentials.request(pb::RecordRequest { events })?;
    state
        .audit
        .clone()
        .record(request)
        .await
        .map_err(|status| {
            tracing::warn!(code = ?status.code(), "audit record failed");
            ServiceError::new(
                ErrorCode::Unavailable,
                "the audit log cannot be written right now",
            )
        })?;
    Ok(())
}

/// Deliver outbox rows (`(event_id, body)`), then delete them. A failed delete is left to the
/// background delivery (audit drops the duplicate).
pub(crate) async fn deliver(
    state: &State,
    rows: Vec<(String, Vec<u8>)>,
) -> Result<usize, ServiceError> {
    let mut ids = Vec::with_capacity(rows.len());
    let mut events = Vec::with_capacity(rows.len());
    for (id, body) in rows {
        match pb::AuditEvent::decode(body.as_slice()) {
            Ok(event) => events.push(event),
            Err(_) => {
                tracing::error!("an undecodable audit event in the consent outbox is dropped")
            }
        }
        ids.push(id);
    }
    let count = events.len();
    record(state, events).await?;
    if let Err(error) = state.store.delivered(&ids).await {
        tracing::warn!(
            kind = crate::db_error_kind(&error),
            "delivered audit events not yet deleted from the outbox"
        );
    }
    Ok(count)
}
