//! `Query`: one patient's events, cursor-paged, newest first unless asked otherwise.
//!
//! [`log_read_event`] is the `AUDIT_READ` event the service records when a citizen reads
//! their log (or someone is refused it).
//!
//! The cursor is opaque to callers: base64url of a version byte, the sort order and the last
//! seq returned. It holds no patient id, so it can travel in a URL; whoever presents it must
//! still be allowed to read the patient named in the request.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pmd_auth::{Principal, PrincipalKind};
use pmd_db::Database;
use pmd_db::sea_orm::ConnectionTrait;
use pmd_error::ServiceError;
use pmd_proto::audit::v1::{Action, AuditEvent, Entity, Outcome, QueryRequest, QueryResponse};
use pmd_proto::common::v1::{Identifier, SortOrder};

use crate::store::{self, Sql, time_value};

pub const DEFAULT_PAGE_SIZE: i32 = 50;
pub const MAX_PAGE_SIZE: i32 = 1000;
const CURSOR_VERSION: u8 = 1;

/// Which way a page runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    NewestFirst,
    OldestFirst,
}

impl Order {
    fn from_request(order: i32) -> Result<Self, ServiceError> {
        match SortOrder::try_from(order) {
            Ok(SortOrder::Unspecified | SortOrder::NewestFirst) => Ok(Self::NewestFirst),
            Ok(SortOrder::OldestFirst) => Ok(Self::OldestFirst),
            Err(_) => Err(ServiceError::bad_request("order is not a known sort order")),
        }
    }

    fn byte(self) -> u8 {
        match self {
            Self::NewestFirst => 1,
            Self::OldestFirst => 2,
        }
    }
}

/// Where the next page starts: after `seq`, in `order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub order: Order,
    pub seq: i64,
}

impl Cursor {
    pub fn encode(self) -> String {
        let mut bytes = Vec::with_capacity(10);
        bytes.push(CURSOR_VERSION);
        bytes.push(self.order.byte());
        bytes.extend_from_slice(&self.seq.to_be_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn decode(text: &str) -> Result<Self, ServiceError> {
        let invalid = || ServiceError::bad_request("cursor is not valid");
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let [version, order, seq @ ..] = bytes.as_slice() else {
            return Err(invalid());
        };
        let seq: [u8; 8] = seq.try_into().map_err(|_| invalid())?;
        let order = match order {
            1 => Order::NewestFirst,
            2 => Order::OldestFirst,
            _ => return Err(invalid()),
        };
        if *version != CURSOR_VERSION {
            return Err(invalid());
        }
        Ok(Self {
            order,
            seq: i64::from_be_bytes(seq),
        })
    }
}

/// A checked `Query` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub patient_id: String,
    pub start_micros: Option<i64>,
    pub end_micros: Option<i64>,
    pub size: i32,
    pub order: Order,
    /// Return events after this seq (in `order`).
    pub after: Option<i64>,
}

impl Page {
    pub fn from_request(request: &QueryRequest) -> Result<Self, ServiceError> {
        let patient_id = request
            .patient
            .as_ref()
            .map(|p| p.value.trim())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ServiceError::bad_request("patient.value is required"))?
            .to_owned();
        let (start_micros, end_micros) = match &request.time {
            Some(range) => (range.start_unix_micros, range.end_unix_micros),
            None => (None, None),
        };
        if let (Some(start), Some(end)) = (start_micros, end_micros)
            && start >= end
        {
            return Err(ServiceError::bad_request(
                "time.start_unix_micros must be before time.end_unix_micros",
            ));
        }
        let size = match request.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n < 0 => return Err(ServiceError::bad_request("page_size must not be negative")),
            n => n.min(MAX_PAGE_SIZE),
        };
        let order = Order::from_request(request.order)?;
        let after = if request.cursor.is_empty() {
            None
        } else {
            let cursor = Cursor::decode(&request.cursor)?;
            if cursor.order != order {
                return Err(ServiceError::bad_request(
                    "cursor belongs to a query with another order",
                ));
            }
            Some(cursor.seq)
        };
        Ok(Self {
            patient_id,
            start_micros,
            end_micros,
            size,
            order,
            after,
        })
    }
}

/// One page of the patient's events. Served by the `(patient_id, seq)` index: the rows
/// are read in index order and the scan stops after `size + 1`.
pub async fn page(db: &Database, page: &Page) -> Result<QueryResponse, ServiceError> {
    let backend = db.backend();
    let mut sql = Sql::new(
        backend,
        "SELECT seq, body FROM audit_events WHERE patient_id = ",
    );
    sql.push_param(page.patient_id.clone());
    if let Some(after) = page.after {
        sql.push(match page.order {
            Order::NewestFirst => " AND seq < ",
            Order::OldestFirst => " AND seq > ",
        })
        .push_param(after);
    }
    if let Some(start) = page.start_micros {
        sql.push(" AND recorded_at >= ")
            .push_param(time_value(backend, start));
    }
    if let Some(end) = page.end_micros {
        sql.push(" AND recorded_at < ")
            .push_param(time_value(backend, end));
    }
    sql.push(match page.order {
        Order::NewestFirst => " ORDER BY seq DESC LIMIT ",
        Order::OldestFirst => " ORDER BY seq ASC LIMIT ",
    })
    .push_param(i64::from(page.size) + 1);
    let rows = db
        .conn()
        .query_all_raw(sql.build())
        .await
        .map_err(store::unavailable)?;
    let mut events = store::decode_bodies(&rows)?;
    let size = usize::try_from(page.size).unwrap_or(0);
    let next_cursor = if events.len() > size {
        events.truncate(size);
        events
            .last()
            .map(|last| {
                Cursor {
                    order: page.order,
                    seq: last.seq,
                }
                .encode()
            })
            .unwrap_or_default()
    } else {
        String::new()
    };
    Ok(QueryResponse {
        events,
        next_cursor,
    })
}

/// The `AUDIT_READ` event of someone reading `request`'s patient's log: the caller as actor,
/// the patient, and how many events the page held. `None` for internal callers (their
/// reads are the platform's own) and for requests that name no patient.
pub fn log_read_event(
    principal: &Principal,
    request: &QueryRequest,
    outcome: Outcome,
    count: i64,
) -> Option<AuditEvent> {
    if matches!(principal.kind, PrincipalKind::Service) {
        return None;
    }
    let patient = request
        .patient
        .as_ref()
        .filter(|p| !p.value.trim().is_empty())?;
    let detail = match outcome {
        Outcome::Denied => "the access log belongs to another patient",
        _ => "",
    };
    Some(AuditEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        action: Action::AuditRead as i32,
        outcome: outcome as i32,
        actor: Some(pmd_server::actor(principal)),
        patient: Some(Identifier {
            system: patient.system.clone(),
            value: patient.value.trim().to_owned(),
        }),
        purpose: pmd_server::purpose(principal),
        entities: vec![Entity {
            resource_type: "AuditEvent".into(),
            ids: Vec::new(),
            count,
            code: String::new(),
        }],
        trace_id: pmd_telemetry::current_trace_id().unwrap_or_default(),
        detail: detail.to_owned(),
        ..AuditEvent::default()
    })
}

#[cfg(test)]
mod tests {
    use pmd_proto::common::v1::TimeRange;

    use super::*;

    fn request() -> QueryRequest {
        QueryRequest {
            patient: Some(Identifier {
                system: "urn:oid:2.16.578.1.12.4.1.4.1".into(),
                value: "13116900216".into(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_cursor_round_trips_and_holds_no_patient() {
        let cursor = Cursor {
            order: Order::OldestFirst,
            seq: 12_345,
        };
        let text = cursor.encode();
        assert!(!text.contains("13116900216"));
        assert_eq!(Cursor::decode(&text).unwrap(), cursor);
        assert!(Cursor::decode("garbage!").is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode([1u8, 1, 2])).is_err());
    }

    #[test]
    fn defaults_are_newest_first_fifty_per_page() {
        let page = Page::from_request(&request()).unwrap();
        assert_eq!(page.order, Order::NewestFirst);
        assert_eq!(page.size, DEFAULT_PAGE_SIZE);
        assert_eq!(page.after, None);
    }

    #[test]
    fn page_size_is_capped() {
        let mut req = request();
        req.page_size = 5000;
        assert_eq!(Page::from_request(&req).unwrap().size, MAX_PAGE_SIZE);
        req.page_size = -1;
        assert!(Page::from_request(&req).is_err());
    }

    #[test]
    fn a_cursor_of_the_other_order_is_refused() {
        let mut req = request();
        req.cursor = Cursor {
            order: Order::NewestFirst,
            seq: 10,
        }
        .encode();
        req.order = SortOrder::OldestFirst as i32;
        assert!(Page::from_request(&req).is_err());
    }

    fn principal(kind: PrincipalKind, scope: pmd_auth::Scope) -> Principal {
        Principal {
            kind,
            scopes: vec![scope],
            client_id: None,
            jti: None,
            issuer: "test".into(),
            expires_at: chrono::Utc::now(),
            token: pmd_auth::BearerToken::new("t"),
        }
    }

    #[test]
    fn a_citizen_reading_the_log_is_an_audit_read_event_of_that_log() {
        let citizen = principal(
            PrincipalKind::Citizen {
                pid: "13116900216".into(),
                security_level: Some(4),
            },
            pmd_auth::Scope::Citizen,
        );
        let event = log_read_event(&citizen, &request(), Outcome::Success, 7).unwrap();
        assert_eq!(event.action, Action::AuditRead as i32);
        assert_eq!(event.outcome, Outcome::Success as i32);
        assert_eq!(event.patient.unwrap().value, "13116900216");
        let actor = event.actor.unwrap();
        assert_eq!(actor.pid, "13116900216");
        assert_eq!(event.entities[0].resource_type, "AuditEvent");
        assert_eq!(event.entities[0].count, 7);
        assert!(uuid::Uuid::parse_str(&event.event_id).is_ok());
        let mut no_patient = request();
        no_patient.patient = None;
        assert!(log_read_event(&citizen, &no_patient, Outcome::Success, 0).is_none());
    }

    #[test]
    fn internal_reads_of_the_log_are_not_recorded() {
        let service = principal(PrincipalKind::Service, pmd_auth::Scope::Internal);
        assert!(log_read_event(&service, &request(), Outcome::Success, 1).is_none());
    }

    #[test]
    fn patient_is_required_and_time_must_be_a_range() {
        let mut req = request();
        req.patient = None;
        assert!(Page::from_request(&req).is_err());
        let mut req = request();
        req.time = Some(TimeRange {
            start_unix_micros: Some(10),
            end_unix_micros: Some(10),
        });
        assert!(Page::from_request(&req).is_err());
    }
}
