//! Checking the events a producer hands to `Record`, and the columns derived from an event.
//!
//! Pure functions: no I/O.

use pmd_error::{ErrorCode, Issue, ServiceError};
use pmd_proto::audit::v1::{Action, AuditEvent, Outcome};

/// Most events one `Record` call may carry.
pub const MAX_EVENTS_PER_REQUEST: usize = 4096;

/// Earliest accepted event time: 2000-01-01T00:00:00Z.
const MIN_TIME_MICROS: i64 = 946_684_800_000_000;
/// Latest accepted event time: 9999-12-31T23:59:59.999999Z.
const MAX_TIME_MICROS: i64 = 253_402_300_799_999_999;

/// Check every event and make it ready for the chain: the `event_id` in its canonical
/// (lowercase, hyphenated) form, the time set to `now_micros` when 0, and the fields only the
/// audit service assigns (`seq`, `prev_hash`, `hash`) cleared. Every problem is reported at
/// once, each naming the field and index.
pub fn prepare(events: Vec<AuditEvent>, now_micros: i64) -> Result<Vec<AuditEvent>, ServiceError> {
    if events.len() > MAX_EVENTS_PER_REQUEST {
        return Err(ServiceError::new(
            ErrorCode::PayloadTooLarge,
            format!("at most {MAX_EVENTS_PER_REQUEST} events per request"),
        ));
    }
    let mut issues = Vec::new();
    let mut prepared = Vec::with_capacity(events.len());
    for (index, mut event) in events.into_iter().enumerate() {
        let at = |field: &str| format!("events[{index}].{field}");
        match uuid::Uuid::parse_str(event.event_id.trim()) {
            Ok(id) => event.event_id = id.hyphenated().to_string(),
            Err(_) => issues.push(
                Issue::error("value", format!("{} must be a uuid", at("event_id")))
                    .at(at("event_id")),
            ),
        }
        match Action::try_from(event.action) {
            Ok(Action::Unspecified) => issues.push(
                Issue::error("required", format!("{} is required", at("action"))).at(at("action")),
            ),
            Ok(_) => {}
            Err(_) => issues.push(
                Issue::error("value", format!("{} is not a known action", at("action")))
                    .at(at("action")),
            ),
        }
        match Outcome::try_from(event.outcome) {
            Ok(Outcome::Unspecified) => issues.push(
                Issue::error("required", format!("{} is required", at("outcome")))
                    .at(at("outcome")),
            ),
            Ok(_) => {}
            Err(_) => issues.push(
                Issue::error("value", format!("{} is not a known outcome", at("outcome")))
                    .at(at("outcome")),
            ),
        }
        if event.time_unix_micros == 0 {
            event.time_unix_micros = now_micros;
        } else if !(MIN_TIME_MICROS..=MAX_TIME_MICROS).contains(&event.time_unix_micros) {
            issues.push(
                Issue::error(
                    "value",
                    format!(
                        "{} must be between the years 2000 and 9999",
                        at("time_unix_micros")
                    ),
                )
                .at(at("time_unix_micros")),
            );
        }
        event.seq = 0;
        event.prev_hash.clear();
        event.hash.clear();
        prepared.push(event);
    }
    match issues.len() {
        0 => Ok(prepared),
        1 => {
            let message = issues[0].diagnostics.clone();
            Err(ServiceError::with_issues(
                ErrorCode::BadRequest,
                message,
                issues,
            ))
        }
        n => Err(ServiceError::with_issues(
            ErrorCode::BadRequest,
            format!(
                "{n} problems with the events, the first: {}",
                issues[0].diagnostics
            ),
            issues,
        )),
    }
}

/// The indexed columns of a stored event, derived from the event itself (on insert, and
/// again by `Verify` to check that the columns still agree with the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    pub seq: i64,
    pub event_id: String,
    pub recorded_at_micros: i64,
    pub patient_id: Option<String>,
    pub action: i16,
    pub outcome: i16,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

impl Columns {
    pub fn of(event: &AuditEvent) -> Self {
        Self {
            seq: event.seq,
            event_id: event.event_id.clone(),
            recorded_at_micros: event.time_unix_micros,
            patient_id: patient_id(event),
            action: i16::try_from(event.action).unwrap_or(-1),
            outcome: i16::try_from(event.outcome).unwrap_or(-1),
            prev_hash: event.prev_hash.clone(),
            hash: event.hash.clone(),
        }
    }
}

/// The patient identifier's value, when the event is about a patient.
pub fn patient_id(event: &AuditEvent) -> Option<String> {
    event
        .patient
        .as_ref()
        .map(|p| p.value.trim())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use pmd_proto::common::v1::Identifier;

    use super::*;

    const NOW: i64 = 1_700_000_000_000_000;

    fn valid() -> AuditEvent {
        AuditEvent {
            event_id: "3F2504E0-4F89-11D3-9A0C-0305E82C3301".into(),
            action: Action::Read as i32,
            outcome: Outcome::Success as i32,
            ..Default::default()
        }
    }

    #[test]
    fn a_valid_event_is_normalised_and_timed() {
        let mut event = valid();
        event.seq = 99;
        event.hash = vec![1];
        let prepared = prepare(vec![event], NOW).unwrap();
        assert_eq!(prepared[0].event_id, "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
        assert_eq!(prepared[0].time_unix_micros, NOW);
        assert_eq!(prepared[0].seq, 0);
        assert!(prepared[0].hash.is_empty());
    }

    #[test]
    fn every_problem_names_its_field_and_index() {
        let mut bad_id = valid();
        bad_id.event_id = "not-a-uuid".into();
        let mut no_action = valid();
        no_action.action = 0;
        let mut unknown_outcome = valid();
        unknown_outcome.outcome = 42;
        let error = prepare(vec![valid(), bad_id, no_action, unknown_outcome], NOW).unwrap_err();
        assert_eq!(error.code, ErrorCode::BadRequest);
        let expressions: Vec<_> = error
            .issues
            .iter()
            .filter_map(|i| i.expression.clone())
            .collect();
        assert_eq!(
            expressions,
            [
                "events[1].event_id",
                "events[2].action",
                "events[3].outcome"
            ]
        );
        assert!(error.message.contains("events[1].event_id"));
    }

    #[test]
    fn an_absurd_time_is_refused() {
        let mut event = valid();
        event.time_unix_micros = i64::MAX;
        let error = prepare(vec![event], NOW).unwrap_err();
        assert_eq!(
            error.issues[0].expression.as_deref(),
            Some("events[0].time_unix_micros")
        );
    }

    #[test]
    fn too_many_events_are_refused() {
        let events = vec![valid(); MAX_EVENTS_PER_REQUEST + 1];
        assert_eq!(
            prepare(events, NOW).unwrap_err().code,
            ErrorCode::PayloadTooLarge
        );
    }

    #[test]
    fn the_patient_column_is_the_identifier_value() {
        let mut event = valid();
        assert_eq!(patient_id(&event), None);
        event.patient = Some(Identifier {
            system: "urn:oid:2.16.578.1.12.4.1.4.1".into(),
            value: "13116900216".into(),
        });
        assert_eq!(patient_id(&event).as_deref(), Some("13116900216"));
    }
}
