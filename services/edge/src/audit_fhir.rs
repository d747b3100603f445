//! The citizen's log of use as FHIR: `GET /fhir/AuditEvent` parameters → an audit `Query`,
//! and audit events → `AuditEvent` resources in the shape of IHE's Basic Audit Log Patterns
//! (BALP). No I/O.
//!
//! Parameters:
//! - the patient as in an Observation search: `patient=Patient/<id>`, `patient=<id>`,
//!   `patient.identifier=<oid>|<id>` (or `patient:identifier`), or the `X-Pmd-Patient`
//!   header; none given and the caller is a citizen: the citizen's own log. Whose log a
//!   caller may read is the audit service's decision (the citizen's own; nobody else's);
//! - `date` (repeatable, AND) with the prefixes `eq`, `ge`, `gt`, `le`, `lt`, `sa`, `eb`:
//!   they narrow one time range (`ne` and `ap` cannot, and are `400 not-supported`);
//! - `_count` (default 50, at most 1000), `_sort` `-date` (default, newest first) or
//!   `date`; `_cursor` only from the `next` link, which repeats `date` and `_sort` but never
//!   the patient (a citizen's token names them; other callers send the header again).
//!
//! Each event becomes an AuditEvent answering who (practitioner's name and HPR number, or
//! the citizen, or the source organisation), for which organisation (legal entity and
//! point of care, named from the organisation register), on what basis (purpose of use and
//! its details, as readable text), what (the action as BALP's REST interaction, plus our
//! own code with a Norwegian display), when (`recorded`) and whether it was refused
//! (`outcome` 4 with `outcomeDesc`). The patient is the `entity` with role Patient.
//! Differences from BALP: no `client`/`server` network agents and no `query` entity (the
//! audit event keeps neither the network address nor the raw query), so `meta.profile` does
//! not claim the BALP profiles.

use chrono::DateTime;
use pmd_domain::ident::oid;
use pmd_domain::{DateParam, DatePrefix, IdPolicy, NationalId};
use pmd_error::{Issue, ServiceError};
use pmd_proto::audit::v1::{Action, AuditEvent, Entity, Outcome, QueryRequest};
use pmd_proto::common::v1::{self as common, ActorKind, Identifier, SortOrder, TimeRange};
use serde_json::{Map, Value, json};

use crate::search::{self, bad_request};

/// Page size when `_count` is absent.
pub const DEFAULT_COUNT: u32 = 50;
/// Largest page (the audit service's limit).
pub const MAX_COUNT: u32 = 1000;

/// BALP's event type: a RESTful operation.
pub const AUDIT_EVENT_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-event-type";
/// FHIR's RESTful interactions (BALP's `subtype`).
pub const RESTFUL_INTERACTION: &str = "http://hl7.org/fhir/restful-interaction";
/// Our own action codes, with Norwegian displays (a second `subtype` coding).
pub const PMD_ACTION: &str = "https://pmd.nhn.no/fhir/CodeSystem/audit-action";
/// How an organisation agent relates to the user (legal entity or point of care).
pub const PMD_ORG_ROLE: &str = "https://pmd.nhn.no/fhir/CodeSystem/organisation-role";
pub const PARTICIPATION_TYPE: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
pub const ROLE_CLASS: &str = "http://terminology.hl7.org/CodeSystem/v3-RoleClass";
pub const DICOM: &str = "http://dicom.nema.org/resources/ontology/DCM";
pub const ACT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
pub const ENTITY_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
pub const OBJECT_ROLE: &str = "http://terminology.hl7.org/CodeSystem/object-role";
pub const SOURCE_TYPE: &str = "http://terminology.hl7.org/CodeSystem/security-source-type";

/// The service's name as the observer of every event.
const OBSERVER: &str = "Pasientens måledata";

/// A parsed `GET /fhir/AuditEvent`.
#[derive(Clone, PartialEq)]
pub struct AuditSearch {
    /// Whose log (the OID of the id's kind and the digits).
    pub patient: Identifier,
    pub time: Option<TimeRange>,
    pub count: u32,
    pub order: SortOrder,
    pub cursor: Option<String>,
    /// The accepted `date` parameters as given, for the links.
    pub dates: Vec<String>,
}

impl std::fmt::Debug for AuditSearch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSearch")
            .field("patient_system", &self.patient.system)
            .field("time", &self.time)
            .field("count", &self.count)
            .field("order", &self.order)
            .field("cursor", &self.cursor.as_ref().map(|_| "…"))
            .field("dates", &self.dates)
            .finish()
    }
}

/// Parameter names that name the patient.
const PATIENT_PARAMS: [&str; 4] = [
    "patient",
    "patient:Patient",
    "patient.identifier",
    "patient:identifier",
];

/// Parses the parameters of an AuditEvent search. `own_pid` is the caller's national id when
/// the caller is a citizen (their log is the default).
pub fn parse_audit_search(
    params: &[(String, String)],
    header_patient: Option<&str>,
    lenient: bool,
    ids: &IdPolicy,
    own_pid: Option<&str>,
) -> Result<AuditSearch, ServiceError> {
    let mut issues = Vec::new();
    let mut patient_params = Vec::new();
    let mut count = None;
    let mut sort = None;
    let mut cursor = None;
    let mut dates = Vec::new();
    let mut start: Option<i64> = None;
    let mut end: Option<i64> = None;
    for (name, value) in params {
        match name.as_str() {
            n if PATIENT_PARAMS.contains(&n) => patient_params.push((n.to_owned(), value.clone())),
            "date" => match date_bounds(value) {
                Ok((from, until)) => {
                    if let Some(from) = from {
                        start = Some(start.map_or(from, |s| s.max(from)));
                    }
                    if let Some(until) = until {
                        end = Some(end.map_or(until, |e| e.min(until)));
                    }
                    dates.push(value.clone());
                }
                Err(issue) => issues.push(issue),
            },
            "_count" => single(&mut count, "_count", value, &mut issues),
            "_sort" => single(&mut sort, "_sort", value, &mut issues),
            "_cursor" => single(&mut cursor, "_cursor", value, &mut issues),
            "_format" | "_pretty" => {}
            other => {
                if !lenient {
                    issues.push(unknown(other));
                }
            }
        }
    }
    let count = match count.as_deref() {
        None => DEFAULT_COUNT,
        Some(text) => match text.parse::<u64>() {
            Ok(0) => {
                issues.push(Issue::error("value", "_count must be at least 1").at("_count"));
                DEFAULT_COUNT
            }
            Ok(n) => u32::try_from(n.min(u64::from(MAX_COUNT))).unwrap_or(MAX_COUNT),
            Err(_) => {
                issues.push(
                    Issue::error(
                        "value",
                        format!("_count must be a whole number from 1 to {MAX_COUNT}"),
                    )
                    .at("_count"),
                );
                DEFAULT_COUNT
            }
        },
    };
    let order = match sort.as_deref() {
        None | Some("-date") => SortOrder::NewestFirst,
        Some("date") => SortOrder::OldestFirst,
        Some(_) => {
            issues.push(
                Issue::error(
                    "not-supported",
                    "_sort supports -date (newest first, the default) and date (oldest first)",
                )
                .at("_sort"),
            );
            SortOrder::NewestFirst
        }
    };
    if cursor.as_deref() == Some("") {
        issues.push(Issue::error("value", "_cursor is empty").at("_cursor"));
    }
    if let (Some(start), Some(end)) = (start, end)
        && start >= end
    {
        issues.push(
            Issue::error(
                "value",
                "the date parameters leave no time between them; nothing can match",
            )
            .at("date"),
        );
    }
    let patient = if patient_params.is_empty() && header_patient.is_none() {
        match own_pid {
            Some(pid) => Some(own_identifier(pid, ids)),
            None => {
                issues.push(
                    Issue::error(
                        "required",
                        "name the patient whose log to read: patient=Patient/<id>, \
                         patient.identifier=<system>|<id> or the X-Pmd-Patient header",
                    )
                    .at("patient"),
                );
                None
            }
        }
    } else {
        // The Observation search's patient rules (every form, one patient, ids checked),
        // through its `$lastn` parser fed only the patient parameters.
        match search::parse_lastn(&patient_params, header_patient, false, ids) {
            Ok(parsed) => Some(parsed.patient),
            Err(error) => {
                issues.extend(error.issues);
                None
            }
        }
    };
    if !issues.is_empty() {
        return Err(bad_request(issues));
    }
    let time = (start.is_some() || end.is_some()).then_some(TimeRange {
        start_unix_micros: start,
        end_unix_micros: end,
    });
    Ok(AuditSearch {
        patient: patient.unwrap_or_default(),
        time,
        count,
        order,
        cursor,
        dates,
    })
}

/// The citizen's own identifier, with the OID of its kind when it parses.
fn own_identifier(pid: &str, ids: &IdPolicy) -> Identifier {
    match NationalId::parse(pid, ids) {
        Ok(id) => search::patient_identifier(&id),
        Err(_) => Identifier {
            system: oid::FODSELSNUMMER.to_owned(),
            value: pid.to_owned(),
        },
    }
}

fn single(slot: &mut Option<String>, name: &str, value: &str, issues: &mut Vec<Issue>) {
    match slot {
        None => *slot = Some(value.to_owned()),
        Some(previous) if previous == value => {}
        Some(_) => issues.push(
            Issue::error(
                "invalid",
                format!("{name} is given more than once with different values"),
            )
            .at(name),
        ),
    }
}

fn unknown(name: &str) -> Issue {
    let printable = name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || matches!(b, b'_' | b'.' | b':' | b'-'));
    let issue = Issue::error(
        "not-supported",
        if printable {
            format!(
                "unknown or unsupported AuditEvent search parameter {name}; supported: patient, \
                 patient.identifier, date, _count, _sort"
            )
        } else {
            "unknown or unsupported AuditEvent search parameter; supported: patient, \
             patient.identifier, date, _count, _sort"
                .to_owned()
        },
    );
    if printable { issue.at(name) } else { issue }
}

/// The `[from, until)` bounds (µs) one `date` parameter puts on an event's time.
fn date_bounds(value: &str) -> Result<(Option<i64>, Option<i64>), Issue> {
    let param = DateParam::parse(value).map_err(|error| {
        Issue::error(
            "value",
            format!(
                "date: {error}; a date is [prefix]YYYY, YYYY-MM, YYYY-MM-DD or \
                 YYYY-MM-DDThh:mm:ss with Z or ±hh:mm"
            ),
        )
        .at("date")
    })?;
    let start = param.value.start_utc().timestamp_micros();
    let end = param.value.end_utc().timestamp_micros();
    Ok(match param.prefix {
        DatePrefix::Eq => (Some(start), Some(end)),
        DatePrefix::Ge => (Some(start), None),
        DatePrefix::Gt | DatePrefix::Sa => (Some(end), None),
        DatePrefix::Lt | DatePrefix::Eb => (None, Some(start)),
        DatePrefix::Le => (None, Some(end)),
        DatePrefix::Ne | DatePrefix::Ap => {
            return Err(Issue::error(
                "not-supported",
                "date: the access log supports the prefixes eq, ge, gt, le, lt, sa and eb",
            )
            .at("date"));
        }
    })
}

/// The audit `Query` for a parsed search.
pub fn to_query_request(search: &AuditSearch) -> QueryRequest {
    QueryRequest {
        patient: Some(search.patient.clone()),
        time: search.time,
        page_size: i32::try_from(search.count).unwrap_or(i32::MAX),
        cursor: search.cursor.clone().unwrap_or_default(),
        order: search.order as i32,
    }
}

/// `<base>/fhir/AuditEvent?date=…&_sort=…[&_cursor=…]&_count=…`: never the patient.
pub fn link(base: &str, search: &AuditSearch, cursor: Option<&str>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for date in &search.dates {
        query.append_pair("date", date);
    }
    let sort = match search.order {
        SortOrder::OldestFirst => "date",
        SortOrder::NewestFirst | SortOrder::Unspecified => "-date",
    };
    query.append_pair("_sort", sort);
    if let Some(cursor) = cursor {
        query.append_pair("_cursor", cursor);
    }
    query.append_pair("_count", &search.count.to_string());
    format!("{base}/fhir/AuditEvent?{}", query.finish())
}

/// What an action is, for BALP and for people.
struct ActionText {
    /// FHIR RESTful interaction (BALP `subtype`).
    interaction: &'static str,
    /// FHIR `AuditEvent.action`: C, R, U, D, E.
    code: &'static str,
    /// Our own code.
    pmd: &'static str,
    /// Norwegian, for the citizen.
    display: &'static str,
}

fn action_text(action: i32) -> ActionText {
    let (interaction, code, pmd, display) = match Action::try_from(action) {
        Ok(Action::Create) => ("create", "C", "create", "Nye målinger registrert"),
        Ok(Action::Update) => ("update", "U", "update", "Måling endret"),
        Ok(Action::Search) => ("search-type", "E", "search", "Søk i målinger"),
        Ok(Action::Lastn) => ("operation", "E", "lastn", "Siste verdier"),
        Ok(Action::Read) => ("read", "R", "read", "Lest én måling"),
        Ok(Action::Block) => ("create", "C", "block", "Sperring opprettet"),
        Ok(Action::Unblock) => ("delete", "D", "unblock", "Sperring opphevet"),
        Ok(Action::Export) => ("operation", "E", "export", "Uttrekk til statistikk"),
        Ok(Action::AuditRead) => ("search-type", "E", "audit-read", "Logg over bruk lest"),
        Ok(Action::ConsentRead) => ("search-type", "E", "consent-read", "Sperringer vist"),
        _ => ("operation", "E", "other", "Annen bruk"),
    };
    ActionText {
        interaction,
        code,
        pmd,
        display,
    }
}

/// FHIR outcome code (0 success, 4 minor failure: refused, 8 serious failure) and the
/// Norwegian description (none for success).
fn outcome_text(outcome: i32, detail: &str) -> (&'static str, Option<&'static str>) {
    match Outcome::try_from(outcome) {
        Ok(Outcome::Success) => ("0", None),
        Ok(Outcome::Denied) => (
            "4",
            Some(match detail {
                "blocked by the citizen" => "Avvist: du har sperret denne tilgangen",
                "the access log belongs to another patient" => {
                    "Avvist: loggen over bruk er bare for deg"
                }
                _ => "Avvist: mangler tilgang",
            }),
        ),
        Ok(Outcome::Undecided) => (
            "8",
            Some("Avvist: tilgangen kunne ikke avgjøres, ingen data ble utlevert"),
        ),
        _ => ("8", Some("Feil: forespørselen ble ikke fullført")),
    }
}

/// The Norwegian name of a purpose of use.
fn purpose_label(code: &str) -> Option<&'static str> {
    Some(match code {
        "TREAT" => "Behandling",
        "ETREAT" => "Akuttbehandling",
        "COC" => "Koordinering av helsehjelp",
        "BTG" => "Nødtilgang",
        _ => return None,
    })
}

/// The purpose as a CodeableConcept with readable text ("Helsetjenester i hjemmet
/// (behandling)"), or `None` when the event carries none.
fn purpose_concept(purpose: Option<&common::Purpose>) -> Option<Value> {
    let purpose = purpose?;
    let mut codings = Vec::new();
    let code = purpose.purpose_of_use.trim();
    if !code.is_empty() {
        codings.push(json!({"system": ACT_REASON, "code": code}));
    }
    let details = purpose
        .purpose_of_use_details
        .as_ref()
        .filter(|d| !d.code.is_empty());
    if let Some(details) = details {
        let mut coding = Map::new();
        if !details.system.is_empty() {
            coding.insert("system".into(), json!(details.system));
        }
        coding.insert("code".into(), json!(details.code));
        if !details.display.is_empty() {
            coding.insert("display".into(), json!(details.display));
        }
        codings.push(Value::Object(coding));
    }
    if codings.is_empty() {
        return None;
    }
    let label = purpose_label(code);
    let detail_text = details.map(|d| d.display.trim()).filter(|d| !d.is_empty());
    let text = match (detail_text, label) {
        (Some(detail), Some(label)) => format!("{detail} ({})", label.to_lowercase()),
        (Some(detail), None) => detail.to_owned(),
        (None, Some(label)) => label.to_owned(),
        (None, None) => code.to_owned(),
    };
    Some(json!({"coding": codings, "text": text}))
}

fn organisation_agent(
    orgs: &pmd_orgs::Register,
    orgnr: &str,
    role: (&str, &str),
    requestor: bool,
) -> Value {
    let mut who = Map::new();
    who.insert(
        "identifier".into(),
        json!({"system": oid::ORG_NUMBER, "value": orgnr}),
    );
    if let Some(name) = orgs.name(orgnr) {
        who.insert("display".into(), json!(name));
    }
    json!({
        "type": {"coding": [{"system": ROLE_CLASS, "code": "PROV", "display": "healthcare provider"}]},
        "role": [{"coding": [{"system": PMD_ORG_ROLE, "code": role.0, "display": role.1}]}],
        "who": Value::Object(who),
        "requestor": requestor,
    })
}

fn agents(event: &AuditEvent, patient: &str, orgs: &pmd_orgs::Register) -> Vec<Value> {
    let mut agents = Vec::new();
    let default_actor = common::Actor::default();
    let actor = event.actor.as_ref().unwrap_or(&default_actor);
    let purpose = purpose_concept(event.purpose.as_ref());
    let kind = ActorKind::try_from(actor.kind).unwrap_or(ActorKind::Unspecified);
    let orgs_of = |agents: &mut Vec<Value>, requestor: bool| {
        if !actor.org_parent.is_empty() {
            agents.push(organisation_agent(
                orgs,
                &actor.org_parent,
                ("legal-entity", "Virksomhet"),
                requestor,
            ));
        }
        if !actor.org_child.is_empty() && actor.org_child != actor.org_parent {
            agents.push(organisation_agent(
                orgs,
                &actor.org_child,
                ("point-of-care", "Behandlingssted"),
                false,
            ));
        }
    };
    match kind {
        ActorKind::Personnel => {
            let mut who = Map::new();
            who.insert(
                "identifier".into(),
                json!({"system": oid::HPR, "value": actor.hpr_number}),
            );
            let name = actor.name.trim();
            if !name.is_empty() {
                who.insert("display".into(), json!(name));
            }
            let mut user = Map::new();
            user.insert(
                "type".into(),
                json!({"coding": [{"system": PARTICIPATION_TYPE, "code": "IRCP", "display": "information recipient"}]}),
            );
            user.insert("who".into(), Value::Object(who));
            if !name.is_empty() {
                user.insert("name".into(), json!(name));
            }
            user.insert("requestor".into(), json!(true));
            if let Some(purpose) = &purpose {
                user.insert("purposeOfUse".into(), json!([purpose]));
            }
            agents.push(Value::Object(user));
            orgs_of(&mut agents, false);
        }
        ActorKind::Citizen => {
            let own = !actor.pid.is_empty() && actor.pid == patient;
            let who = if own {
                json!({"reference": format!("Patient/{patient}"), "display": "Du (innbyggeren selv)"})
            } else {
                // Another citizen's id is theirs, not this patient's to see.
                json!({"display": "En annen innbygger"})
            };
            agents.push(json!({
                "type": {"coding": [{"system": ROLE_CLASS, "code": "PAT", "display": "patient"}]},
                "who": who,
                "requestor": true,
            }));
        }
        ActorKind::System | ActorKind::Statistics => {
            orgs_of(&mut agents, true);
        }
        ActorKind::Service | ActorKind::Unspecified => {
            agents.push(json!({
                "type": {"coding": [{"system": DICOM, "code": "110150", "display": "Application"}]},
                "who": {"display": OBSERVER},
                "requestor": true,
            }));
        }
    }
    if !actor.client_id.is_empty() {
        agents.push(json!({
            "type": {"coding": [{"system": DICOM, "code": "110153", "display": "Source Role ID"}]},
            "who": {"identifier": {"value": actor.client_id}},
            "requestor": false,
        }));
    }
    agents
}

/// The Norwegian noun for what an entity counts.
fn entity_description(entity: &Entity) -> String {
    let (one, many) = match entity.resource_type.as_str() {
        "Observation" => ("måling", "målinger"),
        "Consent" => ("sperring", "sperringer"),
        "AuditEvent" => ("logghendelse", "logghendelser"),
        _ => ("oppføring", "oppføringer"),
    };
    let noun = if entity.count == 1 { one } else { many };
    if entity.code.is_empty() {
        format!("{} {noun}", entity.count)
    } else {
        format!("{} {noun} ({})", entity.count, entity.code)
    }
}

fn entities(event: &AuditEvent, patient: &Identifier) -> Vec<Value> {
    let mut entities = vec![json!({
        "what": {
            "reference": format!("Patient/{}", patient.value),
            "identifier": {"system": patient.system, "value": patient.value},
        },
        "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
        "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
    })];
    for entity in &event.entities {
        let mut what = Map::new();
        match entity.ids.as_slice() {
            [only] => {
                what.insert(
                    "reference".into(),
                    json!(format!("{}/{only}", entity.resource_type)),
                );
            }
            _ => {
                what.insert("type".into(), json!(entity.resource_type));
            }
        }
        let mut detail = vec![json!({"type": "count", "valueString": entity.count.to_string()})];
        if !entity.code.is_empty() {
            detail.push(json!({"type": "code", "valueString": entity.code}));
        }
        entities.push(json!({
            "what": Value::Object(what),
            "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
            "role": {"system": OBJECT_ROLE, "code": "4", "display": "Domain Resource"},
            "description": entity_description(entity),
            "detail": detail,
        }));
    }
    entities
}

/// One audit event as a FHIR AuditEvent (see the module docs). `patient` is the log's
/// patient (every event of the page is about them).
pub fn render_audit_event(
    event: &AuditEvent,
    patient: &Identifier,
    orgs: &pmd_orgs::Register,
) -> Value {
    let action = action_text(event.action);
    let (outcome, outcome_desc) = outcome_text(event.outcome, &event.detail);
    let mut resource = Map::new();
    resource.insert("resourceType".into(), json!("AuditEvent"));
    resource.insert("id".into(), json!(event.event_id));
    resource.insert(
        "type".into(),
        json!({"system": AUDIT_EVENT_TYPE, "code": "rest", "display": "Restful Operation"}),
    );
    resource.insert(
        "subtype".into(),
        json!([
            {"system": RESTFUL_INTERACTION, "code": action.interaction},
            {"system": PMD_ACTION, "code": action.pmd, "display": action.display},
        ]),
    );
    resource.insert("action".into(), json!(action.code));
    if let Some(at) = DateTime::from_timestamp_micros(event.time_unix_micros) {
        resource.insert("recorded".into(), json!(pmd_fhir::instant(&at)));
    }
    resource.insert("outcome".into(), json!(outcome));
    if let Some(desc) = outcome_desc {
        resource.insert("outcomeDesc".into(), json!(desc));
    }
    if let Some(purpose) = purpose_concept(event.purpose.as_ref()) {
        resource.insert("purposeOfEvent".into(), json!([purpose]));
    }
    resource.insert(
        "agent".into(),
        Value::Array(agents(event, &patient.value, orgs)),
    );
    resource.insert(
        "source".into(),
        json!({
            "observer": {"display": OBSERVER},
            "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}],
        }),
    );
    resource.insert("entity".into(), Value::Array(entities(event, patient)));
    Value::Object(resource)
}

#[cfg(test)]
mod tests;
