//! Organisations as statistics group them: kind (from the organisation register),
//! municipality number, and health region (from the municipality's county).
//!
//! Pure functions: no I/O.

use pmd_orgs::{OrgType, Register};

/// What a group's value is when the register does not know.
pub const UNKNOWN: &str = "unknown";

/// How an acting organisation is counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgClass {
    /// The organisation number counted (the register entry found, else the legal entity).
    pub org: String,
    pub org_type: OrgType,
    /// Four digits, or [`UNKNOWN`].
    pub municipality: String,
    /// A health region code (see [`region_of`]), or [`UNKNOWN`].
    pub region: &'static str,
}

/// Classify the organisation an actor acts for. The legal entity (`org_parent`) is looked up
/// first, since the register and its denominators count legal entities (a municipality, a
/// hospital trust, a GP practice); then the point of care (`org_child`). An organisation the
/// register does not know is counted under its legal entity as `other`.
pub fn classify(register: &Register, org_parent: &str, org_child: &str) -> OrgClass {
    let parent = org_parent.trim();
    let child = org_child.trim();
    let found = [parent, child]
        .into_iter()
        .filter(|n| !n.is_empty())
        .find_map(|n| register.get(n));
    match found {
        Some(organisation) => {
            let municipality = organisation
                .municipality_number
                .clone()
                .unwrap_or_else(|| UNKNOWN.to_owned());
            OrgClass {
                org: organisation.orgnr.clone(),
                org_type: organisation.org_type,
                region: region_of(&municipality),
                municipality,
            }
        }
        None => OrgClass {
            org: if parent.is_empty() { child } else { parent }.to_owned(),
            org_type: OrgType::Other,
            municipality: UNKNOWN.to_owned(),
            region: UNKNOWN,
        },
    }
}

/// The regional health authority (*regionalt helseforetak*) whose area holds the
/// municipality, from its county (the first two digits), for the county numbers of 2024 and
/// the earlier ones still found in registers: `helse_sor_ost`, `helse_vest`, `helse_midt`,
/// `helse_nord`, or [`UNKNOWN`].
pub fn region_of(municipality: &str) -> &'static str {
    if municipality.len() != 4 || !municipality.bytes().all(|b| b.is_ascii_digit()) {
        return UNKNOWN;
    }
    match &municipality[..2] {
        // Oslo, Viken, Østfold, Akershus, Buskerud, Innlandet, Vestfold og Telemark,
        // Vestfold, Telemark, Agder; before 2020 Østfold to Vest-Agder (01–10).
        "01" | "02" | "03" | "04" | "05" | "06" | "07" | "08" | "09" | "10" | "30" | "31"
        | "32" | "33" | "34" | "38" | "39" | "40" | "42" => "helse_sor_ost",
        // Rogaland, Vestland; before 2020 Hordaland, Sogn og Fjordane.
        "11" | "12" | "14" | "46" => "helse_vest",
        // Møre og Romsdal, Trøndelag; before 2018 Sør- and Nord-Trøndelag.
        "15" | "16" | "17" | "50" => "helse_midt",
        // Nordland, Svalbard, Troms og Finnmark, Troms, Finnmark; before 2020 Troms, Finnmark.
        "18" | "19" | "20" | "21" | "54" | "55" | "56" => "helse_nord",
        _ => UNKNOWN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legal_entity_first_then_point_of_care_then_other() {
        let register = Register::embedded();
        // Oslo kommune as legal entity, any child.
        let oslo = classify(&register, "100101009", "999999999");
        assert_eq!(oslo.org, "100101009");
        assert_eq!(oslo.org_type, OrgType::Municipality);
        assert_eq!(oslo.municipality, "0301");
        assert_eq!(oslo.region, "helse_sor_ost");
        // Unknown parent, known child.
        let child = classify(&register, "999999999", "100100118");
        assert_eq!(child.org, "100100118");
        assert_eq!(child.org_type, OrgType::HospitalTrust);
        assert_eq!(child.region, "helse_vest");
        // Unknown altogether: counted under the legal entity as other.
        let unknown = classify(&register, "999999999", "");
        assert_eq!(unknown.org, "999999999");
        assert_eq!(unknown.org_type, OrgType::Other);
        assert_eq!(unknown.municipality, UNKNOWN);
        assert_eq!(unknown.region, UNKNOWN);
    }

    #[test]
    fn regions_follow_the_county() {
        assert_eq!(region_of("0301"), "helse_sor_ost");
        assert_eq!(region_of("4601"), "helse_vest");
        assert_eq!(region_of("1103"), "helse_vest");
        assert_eq!(region_of("5001"), "helse_midt");
        assert_eq!(region_of("1506"), "helse_midt");
        assert_eq!(region_of("5501"), "helse_nord");
        assert_eq!(region_of("1804"), "helse_nord");
        assert_eq!(region_of("9999"), UNKNOWN);
        assert_eq!(region_of("301"), UNKNOWN);
        assert_eq!(region_of(UNKNOWN), UNKNOWN);
    }

    #[test]
    fn every_municipality_in_the_embedded_register_has_a_region() {
        for organisation in Register::embedded().iter() {
            if let Some(m) = &organisation.municipality_number {
                assert_ne!(region_of(m), UNKNOWN, "{m}");
            }
        }
    }
}
