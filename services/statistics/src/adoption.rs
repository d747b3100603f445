//! Adoption indicators, after the ambition table of the 2025 mandate: how many
//! municipalities, hospital trusts and GP offices act as sources and as consumers in a
//! period, against how many there are (the organisation register); and the share of
//! patients with data whose citizen has looked at them.
//!
//! The deciding functions are pure; [`adoption`] reads the aggregates and calls them.

use std::collections::BTreeMap;

use pmd_db::Database;
use pmd_db::sea_orm::DbErr;
use pmd_orgs::{OrgType, Register};

use crate::facts::metric;
use crate::period::DateRange;
use crate::store;
use crate::suppress::{Margin, is_small, suppress};

/// One indicator; `None` = hidden.
#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    pub id: String,
    /// `municipality`, `hospital_trust`, `gp_office`, `other`, or empty.
    pub org_type: &'static str,
    /// `source`, `consumer`, or empty for patient indicators.
    pub role: &'static str,
    pub numerator: Option<i64>,
    pub denominator: Option<i64>,
    /// numerator / denominator, when both are shown and the denominator is not 0.
    pub share: Option<f64>,
}

fn plural(org_type: OrgType) -> &'static str {
    match org_type {
        OrgType::Municipality => "municipalities",
        OrgType::HospitalTrust => "hospital_trusts",
        OrgType::GpOffice => "gp_offices",
        OrgType::Other => "other_organisations",
    }
}

fn share(numerator: Option<i64>, denominator: Option<i64>) -> Option<f64> {
    match (numerator, denominator) {
        (Some(n), Some(d)) if d > 0 => Some(n as f64 / d as f64),
        _ => None,
    }
}

/// The organisation indicators of one role from the number of active organisations per kind.
/// Each numerator is hidden when small; no total over the kinds is published, so nothing ties
/// them together. The denominators are the register's counts: public facts about
/// organisations, shown as they are.
pub fn org_indicators(
    active: &BTreeMap<String, i64>,
    register: &Register,
    role: &'static str,
) -> Vec<Indicator> {
    let numerators: Vec<i64> = OrgType::ALL
        .iter()
        .map(|t| active.get(t.as_str()).copied().unwrap_or(0))
        .collect();
    OrgType::ALL
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let numerator = (!is_small(numerators[i])).then_some(numerators[i]);
            let denominator = Some(register.count(*t) as i64);
            Indicator {
                id: format!("{}_as_{role}s", plural(*t)),
                org_type: t.as_str(),
                role,
                numerator,
                denominator,
                share: share(numerator, denominator),
            }
        })
        .collect()
}

/// The share of patients with data whose citizen looked. The row is (looked, did not look)
/// with the patients with data as its total: a small "did not look" hides "looked" too.
pub fn patient_indicator(with_data: i64, viewed: i64) -> Indicator {
    let viewed = viewed.min(with_data);
    let hidden = suppress(
        &[vec![viewed, with_data - viewed]],
        &[Margin::of_total(with_data)],
        &[],
    );
    let numerator = (!hidden[0][0]).then_some(viewed);
    let denominator = (!is_small(with_data)).then_some(with_data);
    Indicator {
        id: "patients_with_data_viewed_by_citizen".into(),
        org_type: "",
        role: "",
        numerator,
        denominator,
        share: share(numerator, denominator),
    }
}

/// Every indicator over `range`.
pub async fn adoption(
    db: &Database,
    register: &Register,
    range: DateRange,
) -> Result<Vec<Indicator>, DbErr> {
    let sources = store::active_orgs(db, &[metric::MEASUREMENTS_RECEIVED], range).await?;
    let consumers = store::active_orgs(db, &[metric::SEARCHES, metric::READS], range).await?;
    let with_data = store::distinct_total(db, metric::PATIENTS_WITH_DATA, range).await?;
    let viewed = store::patients_viewed(db, range).await?;
    let mut out = org_indicators(&sources, register, "source");
    out.extend(org_indicators(&consumers, register, "consumer"));
    out.push(patient_indicator(with_data, viewed));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organisation_numerators_are_hidden_when_small() {
        let active: BTreeMap<String, i64> = [
            ("municipality".to_owned(), 12),
            ("hospital_trust".to_owned(), 3),
            ("other".to_owned(), 6),
        ]
        .into_iter()
        .collect();
        let register = Register::embedded();
        let indicators = org_indicators(&active, &register, "source");
        let by_type = |t: &str| indicators.iter().find(|i| i.org_type == t).cloned();
        let m = by_type("municipality");
        assert_eq!(m.as_ref().map(|i| i.numerator), Some(Some(12)));
        assert_eq!(
            m.as_ref().and_then(|i| i.denominator),
            Some(register.count(OrgType::Municipality) as i64)
        );
        assert_eq!(
            m.as_ref().map(|i| i.id.as_str()),
            Some("municipalities_as_sources")
        );
        assert!(m.and_then(|i| i.share).is_some());
        let h = by_type("hospital_trust");
        assert_eq!(h.as_ref().map(|i| i.numerator), Some(None));
        assert_eq!(
            h.and_then(|i| i.share),
            None,
            "a share would give the count away"
        );
        // No total over the kinds is published: the others stay.
        assert_eq!(by_type("other").map(|i| i.numerator), Some(Some(6)));
        assert_eq!(by_type("gp_office").map(|i| i.numerator), Some(Some(0)));
    }

    #[test]
    fn the_patient_share_hides_small_numerators_denominators_and_complements() {
        let shown = patient_indicator(40, 10);
        assert_eq!(shown.numerator, Some(10));
        assert_eq!(shown.denominator, Some(40));
        assert_eq!(shown.share, Some(0.25));
        // 3 looked.
        let small = patient_indicator(40, 3);
        assert_eq!(
            (small.numerator, small.denominator, small.share),
            (None, Some(40), None)
        );
        // 38 of 40 looked: 2 did not, so the 38 would give that away.
        let complement = patient_indicator(40, 38);
        assert_eq!(complement.numerator, None);
        assert_eq!(complement.share, None);
        // 4 patients with data at all.
        let tiny = patient_indicator(4, 0);
        assert_eq!((tiny.numerator, tiny.denominator), (Some(0), None));
        assert_eq!(patient_indicator(0, 0).share, None);
    }
}
