//! What one audit event contributes: counts, members of distinct sets, and the
//! de-identified row the export is made from. This is where a national id is turned into a
//! pseudonym and a name is dropped; nothing after this module sees either.
//!
//! Pure functions: no I/O.

use chrono::{DateTime, NaiveDate, Utc};
use pmd_orgs::Register;
use pmd_proto::audit::v1::{Action, AuditEvent, Outcome};
use pmd_proto::common::v1::ActorKind;

use crate::orgs::{OrgClass, classify};
use crate::pseudonym::{Pseudonym, Pseudonymizer};

/// The metrics, as named in the API. Counts add up over days; distinct metrics count
/// patients or citizens once per bucket.
pub mod metric {
    /// Measurements written (created or replaced), from the per-code counts of write events.
    pub const MEASUREMENTS_RECEIVED: &str = "measurements_received";
    /// Successful searches and `$lastn` by health personnel or systems.
    pub const SEARCHES: &str = "searches";
    /// Successful reads of one measurement by id by health personnel or systems.
    pub const READS: &str = "reads";
    /// Accesses by health personnel or systems refused (a block, or no right).
    pub const DENIED_ACCESSES: &str = "denied_accesses";
    /// Accesses refused because consent could not be decided.
    pub const UNDECIDED_ACCESSES: &str = "undecided_accesses";
    /// Times citizens opened their own data or their log of use.
    pub const CITIZEN_VIEWS: &str = "citizen_views";
    pub const BLOCKS_CREATED: &str = "blocks_created";
    pub const BLOCKS_REVOKED: &str = "blocks_revoked";
    /// Raw exports made.
    pub const EXPORTS: &str = "exports";
    /// Distinct patients for whom measurements were received.
    pub const PATIENTS_WITH_DATA: &str = "distinct_patients_with_data";
    /// Distinct citizens who opened their own data or their log of use.
    pub const CITIZENS_VIEWING: &str = "citizens_viewing";
}

/// The organisation columns of a fact; empty for facts about no organisation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct OrgDims {
    pub org: String,
    pub org_type: &'static str,
    pub municipality: String,
    pub region: &'static str,
}

impl From<OrgClass> for OrgDims {
    fn from(class: OrgClass) -> Self {
        Self {
            org: class.org,
            org_type: class.org_type.as_str(),
            municipality: class.municipality,
            region: class.region,
        }
    }
}

/// `n` more of `metric` for an organisation, code and purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountFact {
    pub metric: &'static str,
    pub dims: OrgDims,
    /// Catalogue code (`measurements_received`), else empty.
    pub code: String,
    /// Purpose of use (accesses): TREAT, ETREAT, COC, BTG or `none`; else empty.
    pub purpose: String,
    pub n: i64,
}

/// `subject` belongs to the distinct set of `metric` (for an organisation, or none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistinctFact {
    pub metric: &'static str,
    pub dims: OrgDims,
    pub subject: Pseudonym,
}

/// One event as the export shows it: time to the hour, organisations kept, patient as a
/// pseudonym, no person named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub seq: i64,
    /// Unix seconds of the start of the event's hour (UTC).
    pub hour: i64,
    pub action: &'static str,
    pub outcome: &'static str,
    pub actor_kind: &'static str,
    pub org_parent: String,
    pub org_child: String,
    pub org_type: &'static str,
    pub municipality: String,
    pub purpose: String,
    pub patient: Option<Pseudonym>,
    /// `code:count` pairs joined by `|` (write events).
    pub codes: String,
    pub count: i64,
}

/// Everything one event contributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The UTC calendar day of the event.
    pub day: NaiveDate,
    pub counts: Vec<CountFact>,
    pub distinct: Vec<DistinctFact>,
    pub row: EventRow,
}

fn action_name(action: i32) -> &'static str {
    match Action::try_from(action) {
        Ok(Action::Create) => "create",
        Ok(Action::Update) => "update",
        Ok(Action::Search) => "search",
        Ok(Action::Lastn) => "lastn",
        Ok(Action::Read) => "read",
        Ok(Action::Block) => "block",
        Ok(Action::Unblock) => "unblock",
        Ok(Action::Export) => "export",
        Ok(Action::AuditRead) => "audit_read",
        Ok(Action::ConsentRead) => "consent_read",
        Ok(Action::Unspecified) | Err(_) => "unknown",
    }
}

fn outcome_name(outcome: i32) -> &'static str {
    match Outcome::try_from(outcome) {
        Ok(Outcome::Success) => "success",
        Ok(Outcome::Denied) => "denied",
        Ok(Outcome::Undecided) => "undecided",
        Ok(Outcome::Error) => "error",
        Ok(Outcome::Unspecified) | Err(_) => "unknown",
    }
}

fn actor_kind_name(kind: i32) -> &'static str {
    match ActorKind::try_from(kind) {
        Ok(ActorKind::Personnel) => "personnel",
        Ok(ActorKind::Citizen) => "citizen",
        Ok(ActorKind::System) => "system",
        Ok(ActorKind::Statistics) => "statistics",
        Ok(ActorKind::Service) => "service",
        Ok(ActorKind::Unspecified) | Err(_) => "unknown",
    }
}

/// The UTC day of a time in Unix microseconds.
pub fn day_of(time_unix_micros: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_micros(time_unix_micros)
        .unwrap_or_default()
        .date_naive()
}

/// The facts of one event.
pub fn facts(event: &AuditEvent, register: &Register, pseudonyms: &Pseudonymizer) -> Facts {
    let action = Action::try_from(event.action).unwrap_or(Action::Unspecified);
    let outcome = Outcome::try_from(event.outcome).unwrap_or(Outcome::Unspecified);
    let actor = event.actor.clone().unwrap_or_default();
    let kind = ActorKind::try_from(actor.kind).unwrap_or(ActorKind::Unspecified);
    let is_consumer = matches!(kind, ActorKind::Personnel | ActorKind::System);
    let has_org = matches!(
        kind,
        ActorKind::Personnel | ActorKind::System | ActorKind::Statistics
    ) && !(actor.org_parent.trim().is_empty() && actor.org_child.trim().is_empty());
    let dims: OrgDims = if has_org {
        classify(register, &actor.org_parent, &actor.org_child).into()
    } else {
        OrgDims::default()
    };
    let patient_value = event
        .patient
        .as_ref()
        .map(|p| p.value.trim())
        .filter(|v| !v.is_empty())
        .or_else(|| {
            (kind == ActorKind::Citizen)
                .then_some(actor.pid.trim())
                .filter(|v| !v.is_empty())
        });
    let patient = patient_value.map(|v| pseudonyms.patient(v));
    let purpose = event
        .purpose
        .as_ref()
        .map(|p| p.purpose_of_use.trim().to_ascii_uppercase())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "none".to_owned());

    let mut counts = Vec::new();
    let mut distinct = Vec::new();
    let count = |metric, dims: &OrgDims, code: &str, purpose: &str, n| CountFact {
        metric,
        dims: dims.clone(),
        code: code.to_owned(),
        purpose: purpose.to_owned(),
        n,
    };
    let success = outcome == Outcome::Success;
    match action {
        Action::Create | Action::Update if success => {
            for entity in &event.entities {
                if entity.count > 0 {
                    let code = entity.code.trim();
                    let code = if code.is_empty() { "unknown" } else { code };
                    counts.push(count(
                        metric::MEASUREMENTS_RECEIVED,
                        &dims,
                        code,
                        "",
                        entity.count,
                    ));
                }
            }
            if let Some(subject) = patient {
                distinct.push(DistinctFact {
                    metric: metric::PATIENTS_WITH_DATA,
                    dims: dims.clone(),
                    subject,
                });
            }
        }
        Action::Search | Action::Lastn | Action::Read | Action::AuditRead
            if success && kind == ActorKind::Citizen =>
        {
            counts.push(count(metric::CITIZEN_VIEWS, &OrgDims::default(), "", "", 1));
            if let Some(subject) = patient {
                distinct.push(DistinctFact {
                    metric: metric::CITIZENS_VIEWING,
                    dims: OrgDims::default(),
                    subject,
                });
            }
        }
        Action::Search | Action::Lastn | Action::Read if is_consumer => {
            let metric = match outcome {
                Outcome::Success if action == Action::Read => Some(metric::READS),
                Outcome::Success => Some(metric::SEARCHES),
                Outcome::Denied => Some(metric::DENIED_ACCESSES),
                Outcome::Undecided => Some(metric::UNDECIDED_ACCESSES),
                _ => None,
            };
            if let Some(metric) = metric {
                counts.push(count(metric, &dims, "", &purpose, 1));
            }
        }
        Action::Block if success => {
            counts.push(count(
                metric::BLOCKS_CREATED,
                &OrgDims::default(),
                "",
                "",
                1,
            ));
        }
        Action::Unblock if success => {
            counts.push(count(
                metric::BLOCKS_REVOKED,
                &OrgDims::default(),
                "",
                "",
                1,
            ));
        }
        Action::Export if success => {
            counts.push(count(metric::EXPORTS, &OrgDims::default(), "", "", 1));
        }
        _ => {}
    }

    let codes: Vec<String> = event
        .entities
        .iter()
        .filter(|e| !e.code.trim().is_empty())
        .map(|e| format!("{}:{}", e.code.trim(), e.count))
        .collect();
    let secs = event.time_unix_micros.div_euclid(1_000_000);
    let row = EventRow {
        seq: event.seq,
        hour: secs - secs.rem_euclid(3600),
        action: action_name(event.action),
        outcome: outcome_name(event.outcome),
        actor_kind: actor_kind_name(actor.kind),
        org_parent: if has_org {
            actor.org_parent.trim().to_owned()
        } else {
            String::new()
        },
        org_child: if has_org {
            actor.org_child.trim().to_owned()
        } else {
            String::new()
        },
        org_type: dims.org_type,
        municipality: dims.municipality.clone(),
        purpose: if is_consumer { purpose } else { String::new() },
        patient,
        codes: codes.join("|"),
        count: event.entities.iter().map(|e| e.count.max(0)).sum(),
    };
    Facts {
        day: day_of(event.time_unix_micros),
        counts,
        distinct,
        row,
    }
}

#[cfg(test)]
mod tests {
    use pmd_proto::audit::v1::Entity;
    use pmd_proto::common::v1::{Actor, Identifier, Purpose};

    use super::*;

    const FNR: &str = "13116900216";
    const OSLO: &str = "100101009";
    const OUS: &str = "974589095";

    fn event(action: Action, outcome: Outcome, actor: Actor) -> AuditEvent {
        AuditEvent {
            seq: 7,
            event_id: "0b0e5c4e-4a1d-4a70-9a51-4c2a3f1a0001".into(),
            // 2026-01-05T13:45:10Z
            time_unix_micros: 1_767_620_710_000_000,
            action: action as i32,
            outcome: outcome as i32,
            actor: Some(actor),
            patient: Some(Identifier {
                system: "urn:oid:2.16.578.1.12.4.1.4.1".into(),
                value: FNR.into(),
            }),
            ..AuditEvent::default()
        }
    }

    fn system(org: &str) -> Actor {
        Actor {
            kind: ActorKind::System as i32,
            org_parent: org.into(),
            client_id: "vendor".into(),
            ..Actor::default()
        }
    }

    fn personnel() -> Actor {
        Actor {
            kind: ActorKind::Personnel as i32,
            hpr_number: "9144900".into(),
            name: "Kari Nordmann".into(),
            org_parent: OUS.into(),
            org_child: "999999999".into(),
            pid: "01010112345".into(),
            ..Actor::default()
        }
    }

    fn citizen() -> Actor {
        Actor {
            kind: ActorKind::Citizen as i32,
            pid: FNR.into(),
            ..Actor::default()
        }
    }

    fn run(event: &AuditEvent) -> Facts {
        facts(
            event,
            &Register::embedded(),
            &Pseudonymizer::new(b"test-secret-0123456789abcdef0123"),
        )
    }

    #[test]
    fn a_write_counts_per_code_and_its_patient_once() {
        let mut e = event(Action::Create, Outcome::Success, system(OSLO));
        e.entities = vec![
            Entity {
                resource_type: "Observation".into(),
                code: "8867-4".into(),
                count: 3,
                ids: vec![],
            },
            Entity {
                resource_type: "Observation".into(),
                code: "85354-9".into(),
                count: 2,
                ids: vec![],
            },
        ];
        let f = run(&e);
        assert_eq!(
            f.day,
            NaiveDate::from_ymd_opt(2026, 1, 5).unwrap_or_default()
        );
        assert_eq!(f.counts.len(), 2);
        assert!(
            f.counts
                .iter()
                .all(|c| c.metric == metric::MEASUREMENTS_RECEIVED
                    && c.dims.org_type == "municipality"
                    && c.dims.municipality == "0301")
        );
        assert_eq!(f.counts.iter().map(|c| c.n).sum::<i64>(), 5);
        assert_eq!(f.distinct.len(), 1);
        assert_eq!(f.distinct[0].metric, metric::PATIENTS_WITH_DATA);
        assert_eq!(f.row.codes, "8867-4:3|85354-9:2");
        assert_eq!(f.row.count, 5);
        assert_eq!(f.row.hour, 1_767_618_000);
        assert_eq!(f.row.action, "create");
    }

    #[test]
    fn accesses_count_by_consumer_and_purpose() {
        let mut e = event(Action::Search, Outcome::Success, personnel());
        e.purpose = Some(Purpose {
            purpose_of_use: "TREAT".into(),
            ..Purpose::default()
        });
        let f = run(&e);
        assert_eq!(f.counts.len(), 1);
        assert_eq!(f.counts[0].metric, metric::SEARCHES);
        assert_eq!(f.counts[0].purpose, "TREAT");
        assert_eq!(f.counts[0].dims.org_type, "hospital_trust");
        assert!(f.distinct.is_empty());

        let read = run(&event(Action::Read, Outcome::Success, personnel()));
        assert_eq!(read.counts[0].metric, metric::READS);
        assert_eq!(read.counts[0].purpose, "none");
        let denied = run(&event(Action::Lastn, Outcome::Denied, personnel()));
        assert_eq!(denied.counts[0].metric, metric::DENIED_ACCESSES);
        let undecided = run(&event(Action::Search, Outcome::Undecided, personnel()));
        assert_eq!(undecided.counts[0].metric, metric::UNDECIDED_ACCESSES);
    }

    #[test]
    fn citizens_opening_their_data_or_log_are_distinct_viewers() {
        for action in [
            Action::Search,
            Action::Lastn,
            Action::Read,
            Action::AuditRead,
        ] {
            let f = run(&event(action, Outcome::Success, citizen()));
            assert_eq!(f.counts[0].metric, metric::CITIZEN_VIEWS, "{action:?}");
            assert_eq!(f.distinct[0].metric, metric::CITIZENS_VIEWING);
        }
        let mut log = event(Action::AuditRead, Outcome::Success, citizen());
        log.patient = None;
        let f = run(&log);
        assert_eq!(
            f.distinct.len(),
            1,
            "the citizen's own id stands for the patient"
        );
        assert_eq!(
            f.distinct[0].subject,
            run(&event(Action::Read, Outcome::Success, citizen())).distinct[0].subject
        );
    }

    #[test]
    fn blocks_and_exports_are_counted() {
        let block = run(&event(Action::Block, Outcome::Success, citizen()));
        assert_eq!(block.counts[0].metric, metric::BLOCKS_CREATED);
        let unblock = run(&event(Action::Unblock, Outcome::Success, citizen()));
        assert_eq!(unblock.counts[0].metric, metric::BLOCKS_REVOKED);
        let mut export = event(
            Action::Export,
            Outcome::Success,
            Actor {
                kind: ActorKind::Statistics as i32,
                ..Actor::default()
            },
        );
        export.patient = None;
        let f = run(&export);
        assert_eq!(f.counts[0].metric, metric::EXPORTS);
        assert_eq!(f.row.patient, None);
    }

    #[test]
    fn no_national_id_hpr_number_or_name_survives() {
        let mut e = event(Action::Search, Outcome::Success, personnel());
        e.detail = "blocked by the citizen".into();
        e.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736".into();
        for f in [
            run(&e),
            run(&event(Action::Read, Outcome::Success, citizen())),
        ] {
            let text = format!("{f:?}");
            for secret in [
                FNR,
                "01010112345",
                "Kari",
                "Nordmann",
                "9144900",
                "4bf92f35",
            ] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
            assert!(f.row.patient.is_some());
        }
    }
}
