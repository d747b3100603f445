use std::collections::HashSet;

use super::*;

#[test]
fn the_embedded_register_parses_and_every_number_is_mod11_valid() {
    let register = Register::parse(EMBEDDED_CSV).expect("the embedded register is valid");
    assert!(register.len() >= 40, "{} organisations", register.len());
    for org in register.iter() {
        assert!(
            pmd_domain::OrgNumber::parse(&org.orgnr).is_ok(),
            "{} is not a valid organisation number",
            org.orgnr
        );
        assert!(!org.name.is_empty());
    }
    let unique: HashSet<&str> = register.iter().map(|o| o.orgnr.as_str()).collect();
    assert_eq!(unique.len(), register.len());
    assert_eq!(Register::embedded().len(), register.len());
}

#[test]
fn the_embedded_register_holds_the_numbers_the_project_uses() {
    let register = Register::embedded();
    assert_eq!(register.org_type("974589095"), OrgType::HospitalTrust);
    let hospital_source = pmd_domain::valid_org_number(101);
    assert_eq!(register.org_type(&hospital_source), OrgType::HospitalTrust);
    let municipality = pmd_domain::valid_org_number(202);
    assert_eq!(register.org_type(&municipality), OrgType::Municipality);
    assert_eq!(register.name(&municipality), Some("Trondheim kommune"));
    assert_eq!(register.municipality_number(&municipality), Some("5001"));
}

#[test]
fn the_embedded_register_has_enough_of_each_kind_for_denominators() {
    let register = Register::embedded();
    assert!(register.count(OrgType::Municipality) >= 15);
    assert!(register.count(OrgType::HospitalTrust) >= 8);
    assert!(register.count(OrgType::GpOffice) >= 8);
    assert!(register.count(OrgType::Other) >= 1);
    for org in register
        .iter()
        .filter(|o| o.org_type == OrgType::Municipality)
    {
        assert!(
            org.municipality_number.is_some(),
            "{} has no number",
            org.name
        );
    }
}

#[test]
fn unknown_numbers_have_no_name_and_count_as_other() {
    let register = Register::embedded();
    assert_eq!(register.name("999999999"), None);
    assert_eq!(register.org_type("999999999"), OrgType::Other);
    assert_eq!(register.municipality_number("999999999"), None);
}

#[test]
fn org_type_codes_round_trip() {
    for kind in OrgType::ALL {
        assert_eq!(kind.as_str().parse::<OrgType>(), Ok(kind));
        assert!(!kind.label_nb().is_empty());
    }
    assert!("hospital".parse::<OrgType>().is_err());
}

#[test]
fn a_register_file_replaces_the_embedded_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orgs.csv");
    std::fs::write(
        &path,
        "# our own\norgnr,name,type,municipality_number\n974589095,Testsykehuset HF,hospital_trust,4601\n\
         100020203,\"Kommune, med komma\",municipality,\n",
    )
    .unwrap();
    let register = Register::from_config(Some(&path)).unwrap();
    assert_eq!(register.len(), 2);
    assert_eq!(register.name("974589095"), Some("Testsykehuset HF"));
    assert_eq!(register.name(" 100020203 "), Some("Kommune, med komma"));
    assert_eq!(register.municipality_number("100020203"), None);
    assert_eq!(
        register.name(&pmd_domain::valid_org_number(101)),
        None,
        "the embedded sample is replaced, not merged"
    );
    let default = Register::from_config(None).unwrap();
    assert_eq!(default.len(), Register::embedded().len());
}

#[test]
fn a_missing_file_is_an_error_naming_the_path() {
    let error = Register::load(Path::new("/nonexistent/orgs.csv")).unwrap_err();
    assert!(
        error.to_string().contains("/nonexistent/orgs.csv"),
        "{error}"
    );
}

#[test]
fn every_problem_in_a_file_is_reported_with_its_line() {
    let text = "orgnr,name,type,municipality_number\n\
                974589095,Ok HF,hospital_trust,0301\n\
                974589096,Bad check digit,municipality,0301\n\
                974589095,Duplicate,hospital_trust,0301\n\
                100020203,,municipality,5001\n\
                100010100,Unknown type,hospital,5001\n\
                100007703,Bad municipality,other,50\n\
                too,few\n\
                \"open,quote,other,\n";
    let Err(RegisterError::Invalid { problems, .. }) = Register::parse(text) else {
        panic!("expected problems");
    };
    let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [3, 4, 5, 6, 7, 8, 9], "{problems:?}");
    assert!(problems[0].message.contains("974589096"));
    assert!(problems[1].message.contains("more than once"));
}

#[test]
fn a_wrong_header_or_an_empty_file_is_refused() {
    assert!(Register::parse("").is_err());
    assert!(Register::parse("# only a comment\n").is_err());
    assert!(Register::parse("orgnr,name,kind\n974589095,X,other\n").is_err());
    let header_only = Register::parse("orgnr,name,type,municipality_number\n").unwrap();
    assert!(header_only.is_empty());
}
