#![allow(clippy::unwrap_used)]

use chrono::{DateTime, TimeZone, Utc};
use pmd_domain::catalogue::{LOINC, SNOMED_CT};
use pmd_domain::ident::oid;
use proptest::prelude::*;

use super::*;

// Valid ids (computed independently in pmd-domain's tests).
const FNR: &str = "15058512343";
const FNR_OTHER: &str = "29020050088";
const D_NUMBER: &str = "55058512337";
const H_NUMBER: &str = "15458512326";
const FH_NUMBER: &str = "81234567802";
const SYNTHETIC_FNR: &str = "15858512309";
/// `FNR` with a wrong second check digit.
const BAD_CHECKSUM: &str = "15058512344";

const PROD: IdPolicy = IdPolicy::production();

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn search(items: &[(&str, &str)]) -> Result<SearchParams, ServiceError> {
    parse_search(&pairs(items), None, false, &PROD)
}

fn ok(items: &[(&str, &str)]) -> SearchParams {
    match search(items) {
        Ok(params) => params,
        Err(error) => panic!("expected a valid search, got {:?}", error.issues),
    }
}

fn err(items: &[(&str, &str)]) -> ServiceError {
    search(items).expect_err("expected 400")
}

/// With a valid patient added first.
fn with_patient<'a>(items: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = vec![("patient", FNR)];
    all.extend_from_slice(items);
    all
}

fn ok_p(items: &[(&str, &str)]) -> SearchParams {
    ok(&with_patient(items))
}

fn err_p(items: &[(&str, &str)]) -> ServiceError {
    err(&with_patient(items))
}

/// The single issue of a 400, checked for code and expression.
fn single_issue(error: &ServiceError, code: &str, expression: &str) {
    assert_eq!(error.code, ErrorCode::BadRequest);
    assert_eq!(error.issues.len(), 1, "{:?}", error.issues);
    let issue = &error.issues[0];
    assert_eq!(issue.code, code, "{issue:?}");
    assert_eq!(issue.expression.as_deref(), Some(expression), "{issue:?}");
    assert!(!issue.diagnostics.is_empty());
}

/// No id (of these test ids) anywhere in the error: message, diagnostics, expressions.
fn echoes_no_id(error: &ServiceError) {
    let text = format!("{error:?} {}", error.to_operation_outcome());
    for id in [
        FNR,
        FNR_OTHER,
        D_NUMBER,
        H_NUMBER,
        FH_NUMBER,
        SYNTHETIC_FNR,
        BAD_CHECKSUM,
    ] {
        assert!(!text.contains(id), "error echoes an id: {text}");
    }
}

fn identifier(system: &str, value: &str) -> Identifier {
    Identifier {
        system: system.to_owned(),
        value: value.to_owned(),
    }
}

fn loinc(code: &str) -> Coding {
    coding(LOINC, code)
}

fn micros(at: DateTime<Utc>) -> Option<i64> {
    Some(at.timestamp_micros())
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

fn no_match() -> Vec<Coding> {
    vec![coding(NO_MATCH_SYSTEM, NO_MATCH)]
}

// ---------------------------------------------------------------- patient

#[test]
fn patient_reference_and_bare_id_give_the_fodselsnummer_identifier() {
    for value in [format!("Patient/{FNR}"), FNR.to_owned()] {
        let params = ok(&[("patient", &value)]);
        assert_eq!(params.patient, identifier(oid::FODSELSNUMMER, FNR));
    }
}

#[test]
fn patient_identifier_with_each_national_oid_keeps_the_kind() {
    for (system, id) in [
        (oid::FODSELSNUMMER, FNR),
        (oid::D_NUMBER, D_NUMBER),
        (oid::FH_NUMBER, FH_NUMBER),
    ] {
        let params = ok(&[("patient.identifier", &format!("{system}|{id}"))]);
        assert_eq!(params.patient, identifier(system, id));
    }
}

#[test]
fn patient_identifier_without_system_takes_the_oid_of_the_ids_kind() {
    for value in [D_NUMBER.to_owned(), format!("|{D_NUMBER}")] {
        let params = ok(&[("patient.identifier", &value)]);
        assert_eq!(params.patient, identifier(oid::D_NUMBER, D_NUMBER));
    }
    let params = ok(&[("patient", FH_NUMBER)]);
    assert_eq!(params.patient, identifier(oid::FH_NUMBER, FH_NUMBER));
}

#[test]
fn h_numbers_use_the_system_ingestion_stores_them_under() {
    let params = ok(&[("patient", H_NUMBER)]);
    assert_eq!(params.patient, identifier(H_NUMBER_SYSTEM, H_NUMBER));
}

#[test]
fn subject_and_modifier_forms_name_the_patient() {
    let reference = format!("Patient/{FNR}");
    let token = format!("{}|{FNR}", oid::FODSELSNUMMER);
    for (name, value) in [
        ("subject", reference.as_str()),
        ("subject", FNR),
        ("subject:Patient", FNR),
        ("subject:Patient", reference.as_str()),
        ("patient:Patient", FNR),
        ("subject.identifier", token.as_str()),
        ("subject:identifier", token.as_str()),
        ("patient:identifier", token.as_str()),
        ("patient:identifier", FNR),
    ] {
        let params = ok(&[(name, value)]);
        assert_eq!(
            params.patient,
            identifier(oid::FODSELSNUMMER, FNR),
            "{name}"
        );
    }
}

#[test]
fn the_header_counts_as_a_patient_parameter_in_every_form() {
    for header in [
        FNR.to_owned(),
        format!("Patient/{FNR}"),
        format!("{}|{FNR}", oid::FODSELSNUMMER),
    ] {
        let params = parse_search(&[], Some(&header), false, &PROD).unwrap();
        assert_eq!(params.patient, identifier(oid::FODSELSNUMMER, FNR));
    }
}

#[test]
fn the_same_patient_in_several_forms_is_one_patient() {
    let params = parse_search(
        &pairs(&[
            ("patient", &format!("Patient/{FNR}")),
            (
                "patient.identifier",
                &format!("{}|{FNR}", oid::FODSELSNUMMER),
            ),
            ("subject", FNR),
        ]),
        Some(FNR),
        false,
        &PROD,
    )
    .unwrap();
    assert_eq!(params.patient, identifier(oid::FODSELSNUMMER, FNR));
}

#[test]
fn different_patients_are_rejected_once_without_echoing_either() {
    let error = err(&[
        ("patient", FNR),
        ("subject", FNR_OTHER),
        ("patient.identifier", D_NUMBER),
    ]);
    single_issue(&error, "invalid", "subject");
    echoes_no_id(&error);
}

#[test]
fn a_header_patient_that_differs_from_the_parameters_is_rejected() {
    let error = parse_search(&pairs(&[("patient", FNR)]), Some(FNR_OTHER), false, &PROD)
        .expect_err("two patients");
    single_issue(&error, "invalid", "X-Pmd-Patient");
    echoes_no_id(&error);
}

#[test]
fn a_list_of_patients_is_rejected() {
    for (name, value) in [
        ("patient", format!("{FNR},{FNR_OTHER}")),
        ("patient", format!("Patient/{FNR},Patient/{FNR}")),
        (
            "patient.identifier",
            format!(
                "{}|{FNR},{}|{FNR_OTHER}",
                oid::FODSELSNUMMER,
                oid::FODSELSNUMMER
            ),
        ),
    ] {
        let error = err(&[(name, &value)]);
        single_issue(&error, "invalid", name);
        echoes_no_id(&error);
    }
}

#[test]
fn no_patient_is_required() {
    let error = err(&[("code", "8867-4")]);
    single_issue(&error, "required", "patient");
    let error = parse_lastn(&[], None, false, &PROD).expect_err("no patient");
    single_issue(&error, "required", "patient");
}

#[test]
fn a_bad_checksum_is_a_value_error_that_never_echoes_the_id() {
    let reference = format!("Patient/{BAD_CHECKSUM}");
    let token = format!("{}|{BAD_CHECKSUM}", oid::FODSELSNUMMER);
    for (name, value) in [
        ("patient", reference.as_str()),
        ("patient", BAD_CHECKSUM),
        ("patient.identifier", token.as_str()),
        ("subject:Patient", BAD_CHECKSUM),
    ] {
        let error = err(&[(name, value)]);
        single_issue(&error, "value", name);
        echoes_no_id(&error);
        assert!(error.issues[0].diagnostics.contains("check digit"));
    }
    let error = parse_search(&[], Some(BAD_CHECKSUM), false, &PROD).expect_err("bad header");
    single_issue(&error, "value", "X-Pmd-Patient");
    echoes_no_id(&error);
}

#[test]
fn identifier_systems_must_name_the_ids_kind() {
    let error = err(&[("patient.identifier", &format!("urn:oid:1.2.3|{FNR}"))]);
    single_issue(&error, "invalid", "patient.identifier");
    echoes_no_id(&error);

    let error = err(&[("patient.identifier", &format!("{}|{FNR}", oid::D_NUMBER))]);
    single_issue(&error, "value", "patient.identifier");
    echoes_no_id(&error);

    let error = err(&[("patient.identifier", &format!("{}|{FNR}", oid::HPR))]);
    single_issue(&error, "value", "patient.identifier");
}

#[test]
fn synthetic_ids_follow_the_policy() {
    let error = err(&[("patient", SYNTHETIC_FNR)]);
    single_issue(&error, "value", "patient");
    echoes_no_id(&error);
    let params = parse_search(
        &pairs(&[("patient", SYNTHETIC_FNR)]),
        None,
        false,
        &IdPolicy::embedded(),
    )
    .unwrap();
    assert_eq!(
        params.patient,
        identifier(oid::FODSELSNUMMER, SYNTHETIC_FNR)
    );
}

#[test]
fn references_to_other_resources_or_odd_shapes_are_invalid() {
    for value in [
        format!("Group/{FNR}"),
        format!("Patient/{FNR}/_history/1"),
        format!("https://example.org/fhir/Patient/{FNR}"),
    ] {
        let error = err(&[("subject", &value)]);
        single_issue(&error, "invalid", "subject");
        echoes_no_id(&error);
    }
}

#[test]
fn an_empty_patient_is_a_value_error_not_also_required() {
    let error = err(&[("patient", "")]);
    single_issue(&error, "value", "patient");
    let error = err(&[("patient", "Patient/")]);
    single_issue(&error, "value", "patient");
}

// ---------------------------------------------------------------- code

#[test]
fn without_code_every_code_is_searched() {
    let params = ok_p(&[]);
    assert!(params.codes.is_empty());
    assert!(!params.matches_nothing);
    assert!(to_query_request(&params).codes.is_empty());
}

#[test]
fn known_codes_are_normalised_to_the_primary_coding() {
    for value in [
        "8867-4",
        "|8867-4",
        "http://loinc.org|8867-4",
        "http://snomed.info/sct|364075005",
        "364075005",
    ] {
        let params = ok_p(&[("code", value)]);
        assert_eq!(params.codes, vec![loinc("8867-4")], "{value}");
        assert!(!params.matches_nothing);
        assert_eq!(to_query_request(&params).codes, vec![loinc("8867-4")]);
    }
}

#[test]
fn a_comma_list_is_or_and_duplicates_collapse() {
    let params = ok_p(&[("code", "8867-4,http://loinc.org|9279-1,364075005")]);
    assert_eq!(params.codes, vec![loinc("8867-4"), loinc("9279-1")]);
    let params = ok_p(&[("code", "2708-6,59408-5")]);
    assert_eq!(params.codes, vec![loinc("2708-6")]);
}

#[test]
fn an_unknown_code_is_no_error_and_finds_nothing() {
    for value in [
        "9843-4",
        "http://loinc.org|9843-4",
        "urn:local|HR",
        "8480-6",
    ] {
        let params = ok_p(&[("code", value)]);
        assert!(params.matches_nothing, "{value}");
        let (system, code) = value.split_once('|').unwrap_or(("", value));
        assert_eq!(params.codes, vec![coding(system, code)]);
        assert_eq!(to_query_request(&params).codes, no_match());
    }
}

#[test]
fn a_known_code_in_another_system_is_unknown() {
    let params = ok_p(&[("code", &format!("{SNOMED_CT}|8867-4"))]);
    assert!(params.matches_nothing);
}

#[test]
fn known_and_unknown_codes_together_search_the_known_ones() {
    let params = ok_p(&[("code", "9843-4,8867-4")]);
    assert!(!params.matches_nothing);
    assert_eq!(params.codes, vec![coding("", "9843-4"), loinc("8867-4")]);
    assert_eq!(to_query_request(&params).codes, params.codes);
}

#[test]
fn repeated_code_parameters_intersect() {
    let params = ok_p(&[
        ("code", "8867-4,9279-1,29463-7"),
        ("code", "9279-1,http://snomed.info/sct|27113001"),
    ]);
    assert_eq!(params.codes, vec![loinc("9279-1"), loinc("29463-7")]);
    assert!(!params.matches_nothing);

    // Two codings of the same measurement: one entry in common.
    let params = ok_p(&[
        ("code", "8867-4"),
        ("code", "http://snomed.info/sct|364075005"),
    ]);
    assert_eq!(params.codes, vec![loinc("8867-4")]);
}

#[test]
fn disjoint_code_parameters_match_nothing() {
    for second in ["9279-1", "9843-4"] {
        let params = ok_p(&[("code", "8867-4"), ("code", second)]);
        assert!(params.matches_nothing);
        assert!(params.codes.is_empty());
        assert_eq!(to_query_request(&params).codes, no_match());
    }
}

#[test]
fn empty_code_tokens_are_invalid() {
    for value in ["", ",", "8867-4,", ",8867-4", "http://loinc.org|", "|"] {
        let error = err_p(&[("code", value)]);
        single_issue(&error, "invalid", "code");
    }
}

// ---------------------------------------------------------------- category

#[test]
fn vital_signs_means_every_catalogue_code() {
    for value in [
        "vital-signs",
        "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs",
        "laboratory,vital-signs",
    ] {
        let params = ok_p(&[("category", value)]);
        assert!(params.codes.is_empty(), "{value}");
        assert!(!params.matches_nothing, "{value}");
    }
    let params = ok_p(&[("category", "vital-signs"), ("code", "8867-4")]);
    assert_eq!(params.codes, vec![loinc("8867-4")]);
}

#[test]
fn another_category_matches_nothing_even_with_codes() {
    for items in [
        vec![("category", "laboratory")],
        vec![("category", "http://example.org|vital-signs")],
        vec![("category", "laboratory"), ("code", "8867-4")],
        vec![("category", "vital-signs"), ("category", "survey")],
    ] {
        let params = ok_p(&items);
        assert!(params.matches_nothing, "{items:?}");
        assert!(params.codes.is_empty());
        assert_eq!(to_query_request(&params).codes, no_match());
        assert_eq!(to_latest_request(&lastn_of(&items)).codes, no_match());
    }
}

fn lastn_of(items: &[(&str, &str)]) -> LastnParams {
    parse_lastn(&pairs(&with_patient(items)), None, false, &PROD).unwrap()
}

#[test]
fn empty_category_tokens_are_invalid() {
    for value in [
        "",
        "vital-signs,",
        "http://terminology.hl7.org/CodeSystem/observation-category|",
    ] {
        let error = err_p(&[("category", value)]);
        single_issue(&error, "invalid", "category");
    }
}

// ---------------------------------------------------------------- date

fn one_date(value: &str) -> DateFilter {
    let params = ok_p(&[("date", value)]);
    assert_eq!(params.dates.len(), 1);
    params.dates[0]
}

fn range(filter: &DateFilter) -> (Option<i64>, Option<i64>) {
    let range = filter.range.unwrap();
    (range.start_unix_micros, range.end_unix_micros)
}

#[test]
fn every_prefix_maps_to_its_storage_prefix() {
    for (text, prefix) in [
        ("", DatePrefix::Eq),
        ("eq", DatePrefix::Eq),
        ("ne", DatePrefix::Ne),
        ("gt", DatePrefix::Gt),
        ("lt", DatePrefix::Lt),
        ("ge", DatePrefix::Ge),
        ("le", DatePrefix::Le),
        ("sa", DatePrefix::Sa),
        ("eb", DatePrefix::Eb),
        ("ap", DatePrefix::Ap),
    ] {
        let filter = one_date(&format!("{text}2024-03-05"));
        assert_eq!(filter.prefix, prefix as i32, "{text}");
        assert_eq!(
            range(&filter),
            (
                micros(utc(2024, 3, 5, 0, 0, 0)),
                micros(utc(2024, 3, 6, 0, 0, 0))
            ),
            "the range is the value's, whatever the prefix"
        );
    }
}

#[test]
fn a_year_covers_the_whole_year() {
    for prefix in ["", "ge", "lt"] {
        assert_eq!(
            range(&one_date(&format!("{prefix}2024"))),
            (
                micros(utc(2024, 1, 1, 0, 0, 0)),
                micros(utc(2025, 1, 1, 0, 0, 0))
            )
        );
    }
}

#[test]
fn a_month_covers_the_whole_month() {
    assert_eq!(
        range(&one_date("le2024-02")),
        (
            micros(utc(2024, 2, 1, 0, 0, 0)),
            micros(utc(2024, 3, 1, 0, 0, 0))
        )
    );
    assert_eq!(
        range(&one_date("sa2024-12")),
        (
            micros(utc(2024, 12, 1, 0, 0, 0)),
            micros(utc(2025, 1, 1, 0, 0, 0))
        )
    );
}

#[test]
fn a_day_covers_the_whole_utc_day() {
    assert_eq!(
        range(&one_date("eb2024-02-29")),
        (
            micros(utc(2024, 2, 29, 0, 0, 0)),
            micros(utc(2024, 3, 1, 0, 0, 0))
        )
    );
}

#[test]
fn a_time_with_zone_covers_its_second_in_utc() {
    assert_eq!(
        range(&one_date("gt2024-03-05T10:00:00+01:00")),
        (
            micros(utc(2024, 3, 5, 9, 0, 0)),
            micros(utc(2024, 3, 5, 9, 0, 1))
        )
    );
    assert_eq!(
        range(&one_date("ne2024-03-05T10:00:00Z")),
        (
            micros(utc(2024, 3, 5, 10, 0, 0)),
            micros(utc(2024, 3, 5, 10, 0, 1))
        )
    );
    let start = utc(2024, 3, 5, 10, 0, 0).timestamp_micros() + 123_000;
    assert_eq!(
        range(&one_date("ap2024-03-05T10:00:00.123Z")),
        (Some(start), Some(start + 1000))
    );
}

#[test]
fn repeated_dates_are_all_kept_in_order() {
    let params = ok_p(&[("date", "ge2024-01"), ("date", "lt2024-03-05T12:00:00Z")]);
    assert_eq!(params.dates.len(), 2);
    assert_eq!(params.dates[0].prefix, DatePrefix::Ge as i32);
    assert_eq!(params.dates[1].prefix, DatePrefix::Lt as i32);
    assert_eq!(to_query_request(&params).dates, params.dates);
}

#[test]
fn invalid_dates_are_value_errors_at_date() {
    for value in [
        "",
        "2024-13",
        "2024-02-30",
        "xx2024",
        "GE2024",
        "2024-03-05T10:00",
        "2024-03-05T10:00:00",
        "24",
        "ge2024,le2025",
        "today",
    ] {
        let error = err_p(&[("date", value)]);
        single_issue(&error, "value", "date");
    }
}

// ---------------------------------------------------------------- _count, _sort, _total

#[test]
fn count_defaults_to_50_and_is_clamped_to_1000() {
    assert_eq!(ok_p(&[]).count, DEFAULT_COUNT);
    for (value, expected) in [
        ("1", 1),
        ("50", 50),
        ("1000", 1000),
        ("1001", 1000),
        ("4294967296", 1000),
        ("99999999999999999999", 1000),
        ("007", 7),
    ] {
        assert_eq!(ok_p(&[("_count", value)]).count, expected, "{value}");
    }
    assert_eq!(to_query_request(&ok_p(&[("_count", "20")])).page_size, 20);
}

#[test]
fn count_below_one_or_not_a_number_is_a_value_error() {
    for value in ["0", "000", "-1", "", "abc", "1.5", "+5", " 5", "1e3"] {
        let error = err_p(&[("_count", value)]);
        single_issue(&error, "value", "_count");
    }
}

#[test]
fn sort_by_date_either_way_newest_first_by_default() {
    assert_eq!(ok_p(&[]).order, SortOrder::NewestFirst);
    assert_eq!(ok_p(&[("_sort", "-date")]).order, SortOrder::NewestFirst);
    assert_eq!(ok_p(&[("_sort", "date")]).order, SortOrder::OldestFirst);
    assert_eq!(
        to_query_request(&ok_p(&[("_sort", "date")])).order,
        SortOrder::OldestFirst as i32
    );
    for value in ["code", "-_lastUpdated", "date,code", ""] {
        let error = err_p(&[("_sort", value)]);
        single_issue(&error, "not-supported", "_sort");
    }
}

#[test]
fn total_is_asked_only_for_accurate() {
    assert!(!ok_p(&[]).total);
    assert!(ok_p(&[("_total", "accurate")]).total);
    assert!(to_query_request(&ok_p(&[("_total", "accurate")])).include_total);
    assert!(!ok_p(&[("_total", "none")]).total);
    assert!(!ok_p(&[("_total", "estimate")]).total);
    let error = err_p(&[("_total", "yes")]);
    single_issue(&error, "value", "_total");
}

#[test]
fn a_single_valued_parameter_twice_must_agree() {
    assert_eq!(ok_p(&[("_count", "10"), ("_count", "10")]).count, 10);
    for (name, first, second) in [
        ("_count", "10", "20"),
        ("_sort", "date", "-date"),
        ("_total", "none", "accurate"),
        ("_format", "json", "application/fhir+json"),
    ] {
        let error = err_p(&[(name, first), (name, second)]);
        single_issue(&error, "invalid", name);
    }
}

// ---------------------------------------------------------------- _cursor

#[test]
fn a_cursor_alone_continues_a_search_without_a_patient() {
    let params = ok(&[("_cursor", "c1"), ("_count", "10"), ("_format", "json")]);
    assert_eq!(params.cursor.as_deref(), Some("c1"));
    assert_eq!(params.count, 10);
    assert!(params.patient.value.is_empty());
    let request = to_query_request(&params);
    assert_eq!(request.cursor, "c1");
    assert_eq!(request.patient, None);
    assert_eq!(request.page_size, 10);
}

#[test]
fn a_cursor_ignores_the_header_patient() {
    let params = parse_search(&pairs(&[("_cursor", "c1")]), Some(FNR), false, &PROD).unwrap();
    assert!(params.patient.value.is_empty());
    let params = parse_search(
        &pairs(&[("_cursor", "c1")]),
        Some(BAD_CHECKSUM),
        false,
        &PROD,
    )
    .unwrap();
    assert_eq!(params.cursor.as_deref(), Some("c1"));
}

#[test]
fn a_cursor_excludes_every_filter() {
    for (name, value) in [
        ("patient", FNR),
        ("patient.identifier", FNR),
        ("subject", FNR),
        ("code", "8867-4"),
        ("category", "vital-signs"),
        ("date", "ge2024"),
        ("_sort", "date"),
        ("_total", "accurate"),
    ] {
        for lenient in [false, true] {
            let error = parse_search(
                &pairs(&[("_cursor", "c1"), (name, value)]),
                None,
                lenient,
                &PROD,
            )
            .expect_err("filter with cursor");
            single_issue(&error, "invalid", name);
            echoes_no_id(&error);
        }
    }
}

#[test]
fn a_cursor_with_unknown_parameters_follows_the_lenient_rule() {
    let items = pairs(&[("_cursor", "c1"), ("foo", "bar")]);
    let error = parse_search(&items, None, false, &PROD).expect_err("strict");
    single_issue(&error, "not-supported", "foo");
    assert!(parse_search(&items, None, true, &PROD).is_ok());
}

#[test]
fn an_empty_cursor_is_a_value_error() {
    let error = err(&[("_cursor", "")]);
    single_issue(&error, "value", "_cursor");
}

// ---------------------------------------------------------------- _format, _summary, unknown

#[test]
fn json_formats_are_accepted_others_only_when_lenient() {
    for value in [
        "json",
        "application/json",
        "application/fhir+json",
        "application/fhir json",
    ] {
        assert!(
            search(&with_patient(&[("_format", value)])).is_ok(),
            "{value}"
        );
    }
    assert!(search(&with_patient(&[("_pretty", "true")])).is_ok());
    let error = err_p(&[("_format", "xml")]);
    single_issue(&error, "not-supported", "_format");
    let lenient = parse_search(
        &pairs(&with_patient(&[("_format", "xml")])),
        None,
        true,
        &PROD,
    );
    assert!(lenient.is_ok());
}

#[test]
fn summary_and_elements_are_refused_unless_lenient() {
    for name in ["_summary", "_elements"] {
        let error = err_p(&[(name, "true")]);
        single_issue(&error, "not-supported", name);
        let items = pairs(&with_patient(&[(name, "true")]));
        assert!(parse_search(&items, None, true, &PROD).is_ok());
        assert!(parse_lastn(&items, None, true, &PROD).is_ok());
    }
}

#[test]
fn unknown_parameters_are_refused_by_name_unless_lenient() {
    for name in [
        "foo",
        "code:text",
        "identifier",
        "_include",
        "value-quantity",
        "Code",
    ] {
        let error = err_p(&[(name, "x")]);
        single_issue(&error, "not-supported", name);
        assert!(error.issues[0].diagnostics.contains(name));
        let items = pairs(&with_patient(&[(name, "x")]));
        let params = parse_search(&items, None, true, &PROD).unwrap();
        assert!(params.filters.is_empty());
    }
}

#[test]
fn an_unknown_parameter_name_holding_an_id_is_not_echoed() {
    for name in [FNR, &format!("x{FNR}"), "name with spaces", "<script>"] {
        let error = err_p(&[(name, "1")]);
        assert_eq!(error.issues.len(), 1);
        assert_eq!(error.issues[0].code, "not-supported");
        assert_eq!(error.issues[0].expression, None);
        assert!(!error.issues[0].diagnostics.contains(name));
        echoes_no_id(&error);
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let error = err(&[
        ("code", ""),
        ("date", "2024-13"),
        ("_count", "0"),
        ("_sort", "code"),
        ("foo", "1"),
    ]);
    let expressions: Vec<_> = error
        .issues
        .iter()
        .map(|i| i.expression.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        expressions,
        ["code", "date", "foo", "patient", "_count", "_sort"]
    );
    assert_eq!(error.message, "6 problems with the request");
}

// ---------------------------------------------------------------- requests

#[test]
fn the_query_request_carries_every_filter() {
    let params = ok_p(&[
        ("code", "8867-4"),
        ("date", "ge2024"),
        ("_count", "10"),
        ("_sort", "date"),
        ("_total", "accurate"),
    ]);
    let request = to_query_request(&params);
    assert_eq!(request.patient, Some(identifier(oid::FODSELSNUMMER, FNR)));
    assert_eq!(request.codes, vec![loinc("8867-4")]);
    assert_eq!(request.dates, params.dates);
    assert_eq!(request.order, SortOrder::OldestFirst as i32);
    assert_eq!(request.page_size, 10);
    assert_eq!(request.cursor, "");
    assert!(request.include_total);
}

#[test]
fn debug_output_masks_the_patient() {
    let params = ok_p(&[("code", "8867-4")]);
    let text = format!("{params:?}");
    assert!(!text.contains(FNR), "{text}");
    assert!(text.contains(oid::FODSELSNUMMER));
    let lastn = lastn_of(&[]);
    assert!(!format!("{lastn:?}").contains(FNR));
}

// ---------------------------------------------------------------- links

const BASE: &str = "https://pmd.example";

#[test]
fn the_self_link_describes_the_search_without_the_patient() {
    let token = format!("{}|{FNR}", oid::FODSELSNUMMER);
    for patient in [
        ("patient", FNR.to_owned()),
        ("patient", format!("Patient/{FNR}")),
        ("patient.identifier", token.clone()),
        ("subject", format!("Patient/{FNR}")),
    ] {
        let params = ok(&[
            (patient.0, &patient.1),
            ("code", "http://loinc.org|8867-4,9279-1"),
            ("date", "ge2024-01-01"),
            ("date", "lt2024-03-05T10:00:00+01:00"),
            ("_count", "20"),
        ]);
        let link = self_link(BASE, "/fhir/Observation", &params);
        assert_eq!(
            link,
            "https://pmd.example/fhir/Observation?code=http%3A%2F%2Floinc.org%7C8867-4%2C9279-1\
             &date=ge2024-01-01&date=lt2024-03-05T10%3A00%3A00%2B01%3A00&_sort=-date&_count=20"
        );
        assert!(!link.contains(FNR));
    }
    let params = parse_search(&[], Some(FNR), false, &PROD).unwrap();
    let link = self_link(BASE, "/fhir/Observation", &params);
    assert_eq!(
        link,
        "https://pmd.example/fhir/Observation?_sort=-date&_count=50"
    );
}

#[test]
fn the_self_link_keeps_category_sort_and_total_but_not_ignored_parameters() {
    let params = parse_search(
        &pairs(&[
            ("category", "vital-signs"),
            ("_sort", "date"),
            ("_total", "accurate"),
            ("foo", "bar"),
            ("_summary", "true"),
            ("patient", FNR),
        ]),
        None,
        true,
        &PROD,
    )
    .unwrap();
    assert_eq!(
        self_link(BASE, "/fhir/Observation", &params),
        "https://pmd.example/fhir/Observation?category=vital-signs&_sort=date&_total=accurate&_count=50"
    );
}

#[test]
fn the_self_link_of_a_later_page_is_its_cursor() {
    let params = ok(&[("_cursor", "abc-_x"), ("_count", "5")]);
    assert_eq!(
        self_link(BASE, "/fhir/Observation", &params),
        "https://pmd.example/fhir/Observation?_cursor=abc-_x&_count=5"
    );
}

#[test]
fn the_next_link_encodes_the_cursor() {
    assert_eq!(
        next_link(BASE, "abc", 50),
        "https://pmd.example/fhir/Observation?_cursor=abc&_count=50"
    );
    assert_eq!(
        next_link(BASE, "a+b/c=&d", 7),
        "https://pmd.example/fhir/Observation?_cursor=a%2Bb%2Fc%3D%26d&_count=7"
    );
}

// ---------------------------------------------------------------- $lastn

#[test]
fn lastn_defaults_to_one_per_code_over_every_code() {
    let params = lastn_of(&[]);
    assert_eq!(params.patient, identifier(oid::FODSELSNUMMER, FNR));
    assert_eq!(params.max, DEFAULT_MAX);
    assert!(params.codes.is_empty());
    let request = to_latest_request(&params);
    assert_eq!(request.max, 1);
    assert!(request.codes.is_empty());
    assert_eq!(request.patient, Some(identifier(oid::FODSELSNUMMER, FNR)));
}

#[test]
fn lastn_takes_codes_and_category() {
    let params = lastn_of(&[
        ("code", "8867-4,364075005,9279-1"),
        ("category", "vital-signs"),
    ]);
    assert_eq!(params.codes, vec![loinc("8867-4"), loinc("9279-1")]);
    assert_eq!(to_latest_request(&params).codes, params.codes);
    assert!(lastn_of(&[("code", "9843-4")]).matches_nothing);
}

#[test]
fn lastn_max_is_1_to_100() {
    for (value, expected) in [("1", 1), ("3", 3), ("100", 100)] {
        let params = lastn_of(&[("max", value)]);
        assert_eq!(params.max, expected);
        assert_eq!(to_latest_request(&params).max, expected as i32);
    }
    for value in ["0", "101", "-1", "", "abc", "1.5", "99999999999"] {
        let error = parse_lastn(&pairs(&with_patient(&[("max", value)])), None, false, &PROD)
            .expect_err("bad max");
        single_issue(&error, "value", "max");
    }
    let error = parse_lastn(
        &pairs(&with_patient(&[("max", "1"), ("max", "2")])),
        None,
        false,
        &PROD,
    )
    .expect_err("max twice");
    single_issue(&error, "invalid", "max");
}

#[test]
fn lastn_takes_every_patient_form() {
    let header = parse_lastn(&[], Some(&format!("Patient/{D_NUMBER}")), false, &PROD).unwrap();
    assert_eq!(header.patient, identifier(oid::D_NUMBER, D_NUMBER));
    let subject = lastn_of(&[("subject:Patient", FNR)]);
    assert_eq!(subject.patient, identifier(oid::FODSELSNUMMER, FNR));
    let error = parse_lastn(
        &pairs(&[("patient", FNR), ("patient", FNR_OTHER)]),
        None,
        false,
        &PROD,
    )
    .expect_err("two patients");
    single_issue(&error, "invalid", "patient");
    echoes_no_id(&error);
    let error =
        parse_lastn(&pairs(&[("patient", BAD_CHECKSUM)]), None, false, &PROD).expect_err("bad");
    single_issue(&error, "value", "patient");
    echoes_no_id(&error);
}

#[test]
fn lastn_refuses_search_only_and_unknown_parameters_unless_lenient() {
    for name in ["date", "_count", "_sort", "_cursor", "foo"] {
        let items = pairs(&with_patient(&[(name, "1")]));
        let error = parse_lastn(&items, None, false, &PROD).expect_err("strict");
        single_issue(&error, "not-supported", name);
        assert!(parse_lastn(&items, None, true, &PROD).is_ok());
    }
}

#[test]
fn the_lastn_self_link_holds_codes_and_max_only() {
    let params = lastn_of(&[("code", "8867-4"), ("max", "3")]);
    let link = lastn_self_link(BASE, &params);
    assert_eq!(
        link,
        "https://pmd.example/fhir/Observation/$lastn?code=8867-4&max=3"
    );
    assert!(!link.contains(FNR));
}

// ---------------------------------------------------------------- properties

fn name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("patient".to_owned()),
        Just("patient.identifier".to_owned()),
        Just("subject".to_owned()),
        Just("code".to_owned()),
        Just("category".to_owned()),
        Just("date".to_owned()),
        Just("_count".to_owned()),
        Just("_sort".to_owned()),
        Just("_total".to_owned()),
        Just("_cursor".to_owned()),
        Just("max".to_owned()),
        "\\PC{0,12}",
    ]
}

fn value_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(BAD_CHECKSUM.to_owned()),
        Just(format!("Patient/{BAD_CHECKSUM}")),
        Just(format!("{}|{BAD_CHECKSUM}", oid::D_NUMBER)),
        Just(FNR_OTHER.to_owned()),
        Just(FNR.to_owned()),
        "\\PC{0,20}",
    ]
}

proptest! {
    #[test]
    fn arbitrary_parameters_never_panic_or_echo_an_id(
        items in proptest::collection::vec((name_strategy(), value_strategy()), 0..8),
        header in proptest::option::of(value_strategy()),
        lenient in any::<bool>(),
    ) {
        let search = parse_search(&items, header.as_deref(), lenient, &PROD);
        let lastn = parse_lastn(&items, header.as_deref(), lenient, &PROD);
        for error in [search.err(), lastn.err()].into_iter().flatten() {
            prop_assert!(!error.issues.is_empty());
            echoes_no_id(&error);
        }
    }

    #[test]
    fn a_valid_search_is_bounded_and_its_self_link_never_holds_the_patient(
        items in proptest::collection::vec((name_strategy(), value_strategy()), 0..6),
    ) {
        let mut all = pairs(&[("patient", FNR)]);
        all.extend(items);
        if let Ok(params) = parse_search(&all, None, true, &PROD) {
            prop_assert!((1..=MAX_COUNT).contains(&params.count));
            prop_assert!(params.filters.iter().all(|(name, _)| !is_patient_param(name)));
            let link = self_link(BASE, "/fhir/Observation", &params);
            // The patient parameters themselves never reach the link.
            prop_assert!(!link.contains("patient") && !link.contains("subject"));
        }
    }
}
