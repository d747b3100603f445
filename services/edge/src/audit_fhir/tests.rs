use pmd_proto::common::v1::{Actor, Coding, Purpose};

use super::*;

fn policy() -> IdPolicy {
    IdPolicy::embedded()
}

fn patient() -> String {
    pmd_domain::synthetic_fnr(11)
}

fn other() -> String {
    pmd_domain::synthetic_fnr(12)
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn parse(list: &[(&str, &str)], own: Option<&str>) -> Result<AuditSearch, ServiceError> {
    parse_audit_search(&pairs(list), None, false, &policy(), own)
}

fn micros(text: &str) -> i64 {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp_micros()
}

#[test]
fn a_citizen_without_a_patient_parameter_reads_their_own_log() {
    let p = patient();
    let search = parse(&[], Some(&p)).unwrap();
    assert_eq!(search.patient.value, p);
    assert_eq!(search.patient.system, oid::FODSELSNUMMER);
    assert_eq!(search.count, DEFAULT_COUNT);
    assert_eq!(search.order, SortOrder::NewestFirst);
    assert_eq!(search.time, None);
}

#[test]
fn the_patient_comes_in_the_forms_of_an_observation_search() {
    let p = patient();
    let identifier = format!("{}|{p}", oid::FODSELSNUMMER);
    let reference = format!("Patient/{p}");
    for form in [
        ("patient", reference.as_str()),
        ("patient", p.as_str()),
        ("patient.identifier", identifier.as_str()),
        ("patient:identifier", p.as_str()),
    ] {
        let search = parse(&[form], None).unwrap();
        assert_eq!(search.patient.value, p, "{form:?}");
    }
    let header = parse_audit_search(&[], Some(&p), false, &policy(), None).unwrap();
    assert_eq!(header.patient.value, p);
    // Another patient named explicitly is passed on as asked: the audit service refuses.
    let o = other();
    let search = parse(&[("patient", &format!("Patient/{o}"))], Some(&p)).unwrap();
    assert_eq!(search.patient.value, o);
}

#[test]
fn patient_problems_are_reported_without_the_id() {
    let error = parse(&[], None).unwrap_err();
    assert_eq!(error.issues[0].expression.as_deref(), Some("patient"));
    assert_eq!(error.issues[0].code, "required");
    let error = parse(
        &[
            ("patient", &format!("Patient/{}", patient())),
            ("patient", &format!("Patient/{}", other())),
        ],
        None,
    )
    .unwrap_err();
    assert_eq!(error.issues[0].code, "invalid");
    let bad = "12345678901";
    let error = parse(&[("patient", bad)], None).unwrap_err();
    assert!(!error.to_operation_outcome().to_string().contains(bad));
}

#[test]
fn date_parameters_narrow_one_time_range() {
    let p = patient();
    let search = parse(&[("date", "2026-11-10")], Some(&p)).unwrap();
    let time = search.time.unwrap();
    assert_eq!(time.start_unix_micros, Some(micros("2026-11-10T00:00:00Z")));
    assert_eq!(time.end_unix_micros, Some(micros("2026-11-11T00:00:00Z")));

    let search = parse(
        &[("date", "ge2026-11-01"), ("date", "lt2026-11-08T12:00:00Z")],
        Some(&p),
    )
    .unwrap();
    let time = search.time.unwrap();
    assert_eq!(time.start_unix_micros, Some(micros("2026-11-01T00:00:00Z")));
    assert_eq!(time.end_unix_micros, Some(micros("2026-11-08T12:00:00Z")));
    assert_eq!(search.dates, ["ge2026-11-01", "lt2026-11-08T12:00:00Z"]);

    let gt = parse(&[("date", "gt2026-11-10")], Some(&p)).unwrap();
    assert_eq!(
        gt.time.unwrap().start_unix_micros,
        Some(micros("2026-11-11T00:00:00Z"))
    );
    let le = parse(&[("date", "le2026-11")], Some(&p)).unwrap();
    assert_eq!(
        le.time.unwrap().end_unix_micros,
        Some(micros("2026-12-01T00:00:00Z"))
    );
}

#[test]
fn dates_that_cannot_be_one_range_are_refused_naming_date() {
    let p = patient();
    for value in ["ne2026-11-10", "ap2026-11-10", "yesterday", "2026-13-01"] {
        let error = parse(&[("date", value)], Some(&p)).unwrap_err();
        assert_eq!(
            error.issues[0].expression.as_deref(),
            Some("date"),
            "{value}"
        );
    }
    let error = parse(
        &[("date", "ge2026-11-10"), ("date", "lt2026-11-01")],
        Some(&p),
    )
    .unwrap_err();
    assert!(error.message.contains("no time"), "{}", error.message);
}

#[test]
fn count_sort_and_unknown_parameters() {
    let p = patient();
    assert_eq!(parse(&[("_count", "5000")], Some(&p)).unwrap().count, 1000);
    assert_eq!(parse(&[("_count", "7")], Some(&p)).unwrap().count, 7);
    assert!(parse(&[("_count", "0")], Some(&p)).is_err());
    assert!(parse(&[("_count", "x")], Some(&p)).is_err());
    assert_eq!(
        parse(&[("_sort", "date")], Some(&p)).unwrap().order,
        SortOrder::OldestFirst
    );
    assert!(parse(&[("_sort", "agent")], Some(&p)).is_err());
    let error = parse(&[("action", "R")], Some(&p)).unwrap_err();
    assert_eq!(error.issues[0].expression.as_deref(), Some("action"));
    let lenient = parse_audit_search(&pairs(&[("action", "R")]), None, true, &policy(), Some(&p));
    assert!(lenient.is_ok());
    let error = parse(&[("_count", "1"), ("_count", "2")], Some(&p)).unwrap_err();
    assert_eq!(error.issues[0].code, "invalid");
}

#[test]
fn links_carry_the_filters_and_the_cursor_but_never_the_patient() {
    let p = patient();
    let search = parse(&[("date", "ge2026-11-01"), ("_count", "10")], Some(&p)).unwrap();
    let next = link("https://pmd.example", &search, Some("abc"));
    assert_eq!(
        next,
        "https://pmd.example/fhir/AuditEvent?date=ge2026-11-01&_sort=-date&_cursor=abc&_count=10"
    );
    assert!(!next.contains(&p));
    let request = to_query_request(&search);
    assert_eq!(request.page_size, 10);
    assert_eq!(request.patient.unwrap().value, p);
}

fn identifier(value: &str) -> Identifier {
    Identifier {
        system: oid::FODSELSNUMMER.to_owned(),
        value: value.to_owned(),
    }
}

fn personnel_search() -> AuditEvent {
    AuditEvent {
        seq: 7,
        event_id: "0190a6a0-0000-7000-8000-000000000001".into(),
        time_unix_micros: micros("2026-11-10T08:15:00Z"),
        action: Action::Search as i32,
        outcome: Outcome::Success as i32,
        actor: Some(Actor {
            kind: ActorKind::Personnel as i32,
            hpr_number: "9144900".into(),
            name: "Kari Lege".into(),
            org_parent: "974589095".into(),
            org_child: pmd_domain::valid_org_number(101),
            client_id: "epj-demo".into(),
            ..Actor::default()
        }),
        patient: Some(identifier(&patient())),
        purpose: Some(Purpose {
            purpose_of_use: "TREAT".into(),
            purpose_of_use_details: Some(Coding {
                system: "urn:oid:2.16.578.1.12.4.1.1.9151".into(),
                code: "15".into(),
                display: "Helsetjenester i hjemmet".into(),
            }),
            ..Purpose::default()
        }),
        entities: vec![Entity {
            resource_type: "Observation".into(),
            ids: vec!["a".into(), "b".into(), "c".into()],
            count: 3,
            code: String::new(),
        }],
        ..AuditEvent::default()
    }
}

fn agent_with<'a>(resource: &'a Value, system: &str, code: &str) -> Vec<&'a Value> {
    resource["agent"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| {
            a["type"]["coding"][0]["system"] == system && a["type"]["coding"][0]["code"] == code
        })
        .collect()
}

#[test]
fn a_personnel_search_renders_in_balp_shape() {
    let orgs = pmd_orgs::Register::embedded();
    let event = personnel_search();
    let resource = render_audit_event(&event, &identifier(&patient()), &orgs);
    assert_eq!(resource["resourceType"], "AuditEvent");
    assert_eq!(resource["id"], "0190a6a0-0000-7000-8000-000000000001");
    assert_eq!(resource["type"]["system"], AUDIT_EVENT_TYPE);
    assert_eq!(resource["type"]["code"], "rest");
    assert_eq!(resource["subtype"][0]["system"], RESTFUL_INTERACTION);
    assert_eq!(resource["subtype"][0]["code"], "search-type");
    assert_eq!(resource["subtype"][1]["display"], "Søk i målinger");
    assert_eq!(resource["action"], "E");
    assert_eq!(resource["recorded"], "2026-11-10T08:15:00Z");
    assert_eq!(resource["outcome"], "0");
    assert!(resource.get("outcomeDesc").is_none());

    let user = agent_with(&resource, PARTICIPATION_TYPE, "IRCP");
    assert_eq!(user.len(), 1);
    let user = user[0];
    assert_eq!(user["requestor"], true);
    assert_eq!(user["who"]["identifier"]["system"], oid::HPR);
    assert_eq!(user["who"]["identifier"]["value"], "9144900");
    assert_eq!(user["who"]["display"], "Kari Lege");
    let purpose = &user["purposeOfUse"][0];
    assert_eq!(purpose["text"], "Helsetjenester i hjemmet (behandling)");
    assert_eq!(purpose["coding"][0]["code"], "TREAT");
    assert_eq!(purpose["coding"][1]["code"], "15");
    assert_eq!(resource["purposeOfEvent"][0], *purpose);

    let orgs_agents = agent_with(&resource, ROLE_CLASS, "PROV");
    assert_eq!(orgs_agents.len(), 2);
    assert_eq!(
        orgs_agents[0]["who"]["identifier"]["system"],
        oid::ORG_NUMBER
    );
    assert_eq!(orgs_agents[0]["who"]["identifier"]["value"], "974589095");
    assert_eq!(
        orgs_agents[0]["who"]["display"],
        "Oslo universitetssykehus HF"
    );
    assert_eq!(
        orgs_agents[0]["role"][0]["coding"][0]["code"],
        "legal-entity"
    );
    assert_eq!(orgs_agents[0]["requestor"], false);
    assert_eq!(
        orgs_agents[1]["role"][0]["coding"][0]["code"],
        "point-of-care"
    );
    let client = agent_with(&resource, DICOM, "110153");
    assert_eq!(client[0]["who"]["identifier"]["value"], "epj-demo");

    let entity = &resource["entity"][0];
    assert_eq!(
        entity["what"]["reference"],
        format!("Patient/{}", patient())
    );
    assert_eq!(entity["role"]["code"], "1");
    assert_eq!(entity["type"]["code"], "1");
    assert_eq!(resource["entity"][1]["description"], "3 målinger");
    assert_eq!(resource["entity"][1]["what"]["type"], "Observation");
}

#[test]
fn a_refusal_says_so_in_norwegian() {
    let mut event = personnel_search();
    event.outcome = Outcome::Denied as i32;
    event.detail = "blocked by the citizen".into();
    event.entities[0].ids.clear();
    event.entities[0].count = 0;
    let resource = render_audit_event(
        &event,
        &identifier(&patient()),
        &pmd_orgs::Register::embedded(),
    );
    assert_eq!(resource["outcome"], "4");
    assert_eq!(
        resource["outcomeDesc"],
        "Avvist: du har sperret denne tilgangen"
    );
    event.outcome = Outcome::Undecided as i32;
    let resource = render_audit_event(
        &event,
        &identifier(&patient()),
        &pmd_orgs::Register::embedded(),
    );
    assert_eq!(resource["outcome"], "8");
}

#[test]
fn an_unknown_organisation_is_shown_by_number_only() {
    let mut event = personnel_search();
    if let Some(actor) = event.actor.as_mut() {
        actor.org_parent = "999999999".into();
        actor.org_child.clear();
    }
    let resource = render_audit_event(
        &event,
        &identifier(&patient()),
        &pmd_orgs::Register::embedded(),
    );
    let orgs_agents = agent_with(&resource, ROLE_CLASS, "PROV");
    assert_eq!(orgs_agents.len(), 1);
    assert_eq!(orgs_agents[0]["who"]["identifier"]["value"], "999999999");
    assert!(orgs_agents[0]["who"].get("display").is_none());
}

#[test]
fn the_citizen_is_shown_as_themselves_and_another_citizen_without_their_id() {
    let p = patient();
    let o = other();
    let mut event = AuditEvent {
        event_id: "0190a6a0-0000-7000-8000-000000000002".into(),
        time_unix_micros: micros("2026-11-10T09:00:00Z"),
        action: Action::AuditRead as i32,
        outcome: Outcome::Success as i32,
        actor: Some(Actor {
            kind: ActorKind::Citizen as i32,
            pid: p.clone(),
            ..Actor::default()
        }),
        patient: Some(identifier(&p)),
        ..AuditEvent::default()
    };
    let orgs = pmd_orgs::Register::embedded();
    let own = render_audit_event(&event, &identifier(&p), &orgs);
    let agent = &agent_with(&own, ROLE_CLASS, "PAT")[0];
    assert_eq!(agent["who"]["reference"], format!("Patient/{p}"));
    assert_eq!(own["subtype"][1]["code"], "audit-read");
    assert!(own.get("purposeOfEvent").is_none());

    if let Some(actor) = event.actor.as_mut() {
        actor.pid = o.clone();
    }
    event.outcome = Outcome::Denied as i32;
    event.detail = "the access log belongs to another patient".into();
    let foreign = render_audit_event(&event, &identifier(&p), &orgs);
    assert!(!foreign.to_string().contains(&o), "{foreign}");
    assert_eq!(
        foreign["outcomeDesc"],
        "Avvist: loggen over bruk er bare for deg"
    );
}

#[test]
fn a_source_writing_is_its_organisation() {
    let municipality = pmd_domain::valid_org_number(202);
    let event = AuditEvent {
        event_id: "0190a6a0-0000-7000-8000-000000000003".into(),
        time_unix_micros: micros("2026-11-10T07:45:00Z"),
        action: Action::Create as i32,
        outcome: Outcome::Success as i32,
        actor: Some(Actor {
            kind: ActorKind::System as i32,
            org_parent: municipality.clone(),
            ..Actor::default()
        }),
        entities: vec![Entity {
            resource_type: "Observation".into(),
            ids: vec!["x".into()],
            count: 1,
            code: "8867-4".into(),
        }],
        ..AuditEvent::default()
    };
    let resource = render_audit_event(
        &event,
        &identifier(&patient()),
        &pmd_orgs::Register::embedded(),
    );
    assert_eq!(resource["action"], "C");
    let org = &agent_with(&resource, ROLE_CLASS, "PROV")[0];
    assert_eq!(org["requestor"], true);
    assert_eq!(org["who"]["display"], "Trondheim kommune");
    assert_eq!(resource["entity"][1]["what"]["reference"], "Observation/x");
    assert_eq!(resource["entity"][1]["description"], "1 måling (8867-4)");
}
