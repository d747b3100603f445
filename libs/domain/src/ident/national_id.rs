//! [`NationalId`]: fødselsnummer, D-number, H-number and FH-number.

use std::fmt;

use chrono::NaiveDate;
use thiserror::Error;

use super::mod11::{K1_2032_WEIGHTS, K1_WEIGHTS, K2_WEIGHTS, check_digit, weighted_mod11};
use super::system::IdentifierSystem;
use super::{DigitsError, ascii_digits};

/// Which rules a [`NationalId`] is checked against.
///
/// `Default` is production: no synthetic ids, classic check digits only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IdPolicy {
    /// Accept synthetic test ids (month + 80, as Skatteetaten's Tenor issues them).
    pub allow_synthetic: bool,
    /// Accept Skatteetaten's relaxed first check digit that applies from 2032: the
    /// weighted sum of the first ten digits with weights 3,7,6,1,8,9,4,5,2,1 may be
    /// 0, 1, 2 or 3 modulo 11 instead of only 0. The second check digit is unchanged.
    pub rule_2032: bool,
}

impl IdPolicy {
    /// Production rules: real ids only, classic check digits. Same as `Default`.
    pub const fn production() -> Self {
        Self {
            allow_synthetic: false,
            rule_2032: false,
        }
    }

    /// The embedded (laptop and demo) mode: synthetic ids accepted, classic check digits.
    pub const fn embedded() -> Self {
        Self {
            allow_synthetic: true,
            rule_2032: false,
        }
    }
}

/// The kind of a national id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    /// Fødselsnummer: `DDMMYY` birth date, individual number, two check digits.
    Fodselsnummer,
    /// D-number: as a fødselsnummer with 4 added to the first digit (day 41–71).
    DNumber,
    /// H-number (hjelpenummer): as a fødselsnummer with 4 added to the third digit
    /// (month 41–52).
    HNumber,
    /// FH-number (felles hjelpenummer): first digit 8 or 9, no date inside.
    FhNumber,
}

impl IdKind {
    /// A short label for messages and logs (never the id itself).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fodselsnummer => "fødselsnummer",
            Self::DNumber => "d-number",
            Self::HNumber => "h-number",
            Self::FhNumber => "fh-number",
        }
    }

    /// The identifier system of this kind, or `None` for H-numbers, which have no OID
    /// of their own among the systems we accept.
    pub fn system(self) -> Option<IdentifierSystem> {
        match self {
            Self::Fodselsnummer => Some(IdentifierSystem::Fodselsnummer),
            Self::DNumber => Some(IdentifierSystem::DNumber),
            Self::FhNumber => Some(IdentifierSystem::FhNumber),
            Self::HNumber => None,
        }
    }
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not an acceptable national id. No variant carries the id's digits.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    /// Not exactly 11 characters.
    #[error("national id must be 11 digits")]
    WrongLength,
    /// 11 characters, but not all ASCII digits.
    #[error("national id must contain only digits")]
    NotDigits,
    /// The first check digit (digit 10) is wrong.
    #[error("national id has an invalid first check digit")]
    FirstCheckDigit,
    /// The second check digit (digit 11) is wrong.
    #[error("national id has an invalid second check digit")]
    SecondCheckDigit,
    /// The first six digits are not a possible date (after the D, H and synthetic
    /// offsets are removed).
    #[error("national id does not contain a valid birth date")]
    InvalidDate,
    /// The individual number (digits 7–9) gives no century for the two-digit year.
    #[error("national id individual number does not fit its birth year")]
    InvalidIndividualNumber,
    /// A synthetic test id where the policy allows only real ones.
    #[error("synthetic national ids are not allowed")]
    SyntheticNotAllowed,
    /// The id is valid, but of another kind than the identifier system names.
    #[error("national id is a {found} but the identifier system {system} is for a {expected}")]
    SystemMismatch {
        /// The kind the digits turned out to be.
        found: IdKind,
        /// The system URI the caller gave (canonical form).
        system: &'static str,
        /// What that system identifies.
        expected: &'static str,
    },
    /// The identifier system URI is not one we know. The URI is not echoed: callers
    /// sometimes swap system and value.
    #[error("unknown identifier system for a national id")]
    UnknownSystem,
}

/// A validated Norwegian national id: fødselsnummer, D-number, H-number or FH-number.
///
/// The digits are personal data. They are reachable only through
/// [`expose_secret`](Self::expose_secret); `Debug` and `Display` print the kind and a
/// mask, e.g. `NationalId(fødselsnummer, ***********)`. The type implements no
/// `Serialize` on purpose, so it cannot end up in a log line or JSON body by accident.
///
/// # Kinds and synthetic ids
///
/// - first digit 8 or 9: FH-number (no date; both check digits still apply);
/// - first digit 4–7 (day 41–71): D-number;
/// - month 41–52: H-number. Always accepted. NAV's Dolly also uses month + 40 for
///   synthetic persons; such ids are valid H-numbers either way, so they are treated as
///   H-numbers and not as synthetic;
/// - month 81–92: synthetic (Skatteetaten's Tenor), a fødselsnummer or, combined with
///   day + 40, a D-number. Accepted only when [`IdPolicy::allow_synthetic`] is set;
/// - day + 40 together with month + 40 is no defined kind and is rejected as an
///   invalid date.
///
/// The century comes from the individual number (digits 7–9) and the two-digit year,
/// as Skatteetaten's table says: 000–499 → 1900–1999; 500–749 with year 54–99 →
/// 1854–1899; 500–999 with year 00–39 → 2000–2039; 900–999 with year 40–99 →
/// 1940–1999. Any other combination is [`IdError::InvalidIndividualNumber`]. The same
/// table is applied to D- and H-numbers.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NationalId {
    digits: String,
    kind: IdKind,
    synthetic: bool,
    birth_date: Option<NaiveDate>,
}

impl NationalId {
    /// Parses and validates a bare national id of any kind.
    ///
    /// Checks, in order: length, digits, first and second check digit, date and
    /// century, synthetic policy.
    pub fn parse(s: &str, policy: &IdPolicy) -> Result<Self, IdError> {
        let digits: [u8; 11] = ascii_digits(s).map_err(|e| match e {
            DigitsError::WrongLength => IdError::WrongLength,
            DigitsError::NotDigits => IdError::NotDigits,
        })?;
        check_k1(&digits, policy)?;
        if !k2_matches(&digits) {
            return Err(IdError::SecondCheckDigit);
        }
        let (kind, synthetic, birth_date) = classify(&digits)?;
        if synthetic && !policy.allow_synthetic {
            return Err(IdError::SyntheticNotAllowed);
        }
        Ok(Self {
            digits: s.to_owned(),
            kind,
            synthetic,
            birth_date,
        })
    }

    /// Parses a national id given as a FHIR identifier (`system` + `value`).
    ///
    /// The id's kind must match the system: the fødselsnummer OID takes fødselsnumre
    /// (synthetic ones included, when the policy allows them), the D-number OID takes
    /// D-numbers and the FH-number OID takes FH-numbers. H-numbers have no system here
    /// and are only accepted bare, through [`parse`](Self::parse). A known system that
    /// does not name persons (HPR, organisation number, RESH) is a mismatch.
    pub fn parse_with_system(
        system: &str,
        value: &str,
        policy: &IdPolicy,
    ) -> Result<Self, IdError> {
        let system = IdentifierSystem::from_uri(system).ok_or(IdError::UnknownSystem)?;
        let id = Self::parse(value, policy)?;
        if system.national_id_kind() == Some(id.kind) {
            Ok(id)
        } else {
            Err(IdError::SystemMismatch {
                found: id.kind,
                system: system.uri(),
                expected: system.label(),
            })
        }
    }

    /// The kind of id.
    pub fn kind(&self) -> IdKind {
        self.kind
    }

    /// Whether this is a synthetic test id (month + 80).
    pub fn is_synthetic(&self) -> bool {
        self.synthetic
    }

    /// The birth date inside the id, or `None` for FH-numbers. For D-, H- and synthetic
    /// ids the offsets are removed.
    pub fn birth_date(&self) -> Option<NaiveDate> {
        self.birth_date
    }

    /// The canonical identifier system of this id's kind, or `None` for H-numbers.
    pub fn system(&self) -> Option<IdentifierSystem> {
        self.kind.system()
    }

    /// The canonical OID URI of this id's kind, or `None` for H-numbers (they have no
    /// OID among the systems we accept; reference them as `Patient/<id>`).
    pub fn system_uri(&self) -> Option<&'static str> {
        self.system().map(IdentifierSystem::uri)
    }

    /// The 11 digits. This is personal data: keep it out of logs, metrics, traces and
    /// error messages.
    pub fn expose_secret(&self) -> &str {
        &self.digits
    }
}

impl fmt::Debug for NationalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let synthetic = if self.synthetic { "synthetic " } else { "" };
        write!(f, "NationalId({synthetic}{}, ***********)", self.kind)
    }
}

impl fmt::Display for NationalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ***********", self.kind)
    }
}

fn check_k1(digits: &[u8; 11], policy: &IdPolicy) -> Result<(), IdError> {
    // The classic rule K1 = 11 - (sum of digits 1-9 mod 11) is the same as "the sum of
    // digits 1-10 with K1 weighted 1 is 0 mod 11"; the 2032 rule widens 0 to 0..=3.
    let classic_ok = check_digit(&digits[..9], &K1_WEIGHTS) == Some(digits[9]);
    if classic_ok {
        return Ok(());
    }
    if policy.rule_2032 && weighted_mod11(&digits[..10], &K1_2032_WEIGHTS) <= 3 {
        return Ok(());
    }
    Err(IdError::FirstCheckDigit)
}

fn k2_matches(digits: &[u8; 11]) -> bool {
    check_digit(&digits[..10], &K2_WEIGHTS) == Some(digits[10])
}

/// Kind, synthetic flag and birth date of an id whose check digits are valid.
fn classify(d: &[u8; 11]) -> Result<(IdKind, bool, Option<NaiveDate>), IdError> {
    if d[0] >= 8 {
        return Ok((IdKind::FhNumber, false, None));
    }
    let day_field = u32::from(d[0]) * 10 + u32::from(d[1]);
    let month_field = u32::from(d[2]) * 10 + u32::from(d[3]);
    let year2 = i32::from(d[4]) * 10 + i32::from(d[5]);
    let individual = u32::from(d[6]) * 100 + u32::from(d[7]) * 10 + u32::from(d[8]);

    let (day, d_number) = if d[0] >= 4 {
        (day_field.saturating_sub(40), true)
    } else {
        (day_field, false)
    };
    let (month, h_number, synthetic) = match month_field {
        1..=12 => (month_field, false, false),
        41..=52 => (month_field - 40, true, false),
        81..=92 => (month_field - 80, false, true),
        _ => return Err(IdError::InvalidDate),
    };
    let kind = match (d_number, h_number) {
        (false, false) => IdKind::Fodselsnummer,
        (true, false) => IdKind::DNumber,
        (false, true) => IdKind::HNumber,
        (true, true) => return Err(IdError::InvalidDate),
    };
    let century = century(individual, year2).ok_or(IdError::InvalidIndividualNumber)?;
    let date = NaiveDate::from_ymd_opt(century + year2, month, day).ok_or(IdError::InvalidDate)?;
    Ok((kind, synthetic, Some(date)))
}

/// The century (1800, 1900 or 2000) from Skatteetaten's table.
fn century(individual: u32, year2: i32) -> Option<i32> {
    match (individual, year2) {
        (0..=499, _) => Some(1900),
        (500..=749, 54..=99) => Some(1800),
        (500..=999, 0..=39) => Some(2000),
        (900..=999, 40..=99) => Some(1900),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::super::mod11::national_id_check_digits;
    use super::super::oid;
    use super::*;

    const PROD: IdPolicy = IdPolicy::production();
    const EMBEDDED: IdPolicy = IdPolicy::embedded();
    const WITH_2032: IdPolicy = IdPolicy {
        allow_synthetic: false,
        rule_2032: true,
    };

    // Examples computed independently (a separate script implementing the mod-11 rules).
    const FNR_1985: &str = "15058512343";
    const FNR_2000_LEAP_DAY: &str = "29020050088";
    const FNR_1899: &str = "31129950016";
    const FNR_1940_HIGH_INDIVIDUAL: &str = "01014090017";
    const FNR_2039: &str = "31123950057";
    const D_NUMBER_1985: &str = "55058512337";
    const H_NUMBER_1985: &str = "15458512326";
    const SYNTHETIC_FNR_1985: &str = "15858512309";
    const SYNTHETIC_D_NUMBER_1985: &str = "55858512483";
    const FH_NUMBER: &str = "81234567802";
    const FH_NUMBER_9: &str = "91234567883";
    /// Classic K1 invalid; the 2032 sum is 1 mod 11; K2 valid.
    const K1_2032_ONLY: &str = "15058512351";

    fn parse(s: &str) -> Result<NationalId, IdError> {
        NationalId::parse(s, &PROD)
    }

    /// Completes nine digits with both check digits (None when either would be 10).
    fn complete(first9: &str) -> Option<String> {
        let digits: [u8; 9] = ascii_digits(first9).unwrap();
        let (k1, k2) = national_id_check_digits(&digits)?;
        Some(format!("{first9}{k1}{k2}"))
    }

    /// The first individual number in `range` for which `date6` gets valid check digits.
    fn valid_with(date6: &str, range: std::ops::RangeInclusive<u32>) -> String {
        range
            .filter_map(|i| complete(&format!("{date6}{i:03}")))
            .next()
            .unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn fodselsnummer_is_parsed_with_kind_and_birth_date() {
        let id = parse(FNR_1985).unwrap();
        assert_eq!(id.kind(), IdKind::Fodselsnummer);
        assert!(!id.is_synthetic());
        assert_eq!(id.birth_date(), Some(date(1985, 5, 15)));
        assert_eq!(id.expose_secret(), FNR_1985);
    }

    #[test]
    fn century_follows_the_individual_number_table() {
        assert_eq!(
            parse(FNR_1899).unwrap().birth_date(),
            Some(date(1899, 12, 31))
        );
        assert_eq!(
            parse(FNR_1940_HIGH_INDIVIDUAL).unwrap().birth_date(),
            Some(date(1940, 1, 1))
        );
        assert_eq!(
            parse(FNR_2039).unwrap().birth_date(),
            Some(date(2039, 12, 31))
        );
        assert_eq!(
            parse(FNR_2000_LEAP_DAY).unwrap().birth_date(),
            Some(date(2000, 2, 29))
        );
    }

    #[test]
    fn century_table_boundaries() {
        assert_eq!(century(0, 0), Some(1900));
        assert_eq!(century(499, 99), Some(1900));
        assert_eq!(century(500, 54), Some(1800));
        assert_eq!(century(749, 99), Some(1800));
        assert_eq!(century(500, 0), Some(2000));
        assert_eq!(century(999, 39), Some(2000));
        assert_eq!(century(900, 40), Some(1900));
        assert_eq!(century(999, 99), Some(1900));
        assert_eq!(century(500, 40), None);
        assert_eq!(century(749, 53), None);
        assert_eq!(century(750, 40), None);
        assert_eq!(century(899, 99), None);
    }

    #[test]
    fn individual_number_without_a_century_is_rejected() {
        // 750-899 with year 40-99 and 500-749 with year 40-53 have no century.
        assert_eq!(parse("01015075097"), Err(IdError::InvalidIndividualNumber));
        assert_eq!(parse("01014550050"), Err(IdError::InvalidIndividualNumber));
    }

    #[test]
    fn leap_years_follow_the_gregorian_rules() {
        // 29.02.1900 (individual 0xx: 1900, not leap) is rejected.
        assert_eq!(parse("29020000064"), Err(IdError::InvalidDate));
        // 28.02.1900 is fine.
        assert_eq!(
            parse("28020000025").unwrap().birth_date(),
            Some(date(1900, 2, 28))
        );
        // 29.02.2000 (individual 5xx: 2000, leap) is fine.
        assert!(parse(FNR_2000_LEAP_DAY).is_ok());
        // 29.02.2001 is rejected.
        assert_eq!(parse("29020150260"), Err(IdError::InvalidDate));
        // 29.02.1996 is fine.
        let leap_1996 = valid_with("290296", 0..=499);
        assert_eq!(
            parse(&leap_1996).unwrap().birth_date(),
            Some(date(1996, 2, 29))
        );
    }

    #[test]
    fn impossible_dates_are_rejected() {
        assert_eq!(parse("31048500032"), Err(IdError::InvalidDate)); // 31.04
        assert_eq!(parse("00018500000"), Err(IdError::InvalidDate)); // day 00
        assert_eq!(parse("01138500078"), Err(IdError::InvalidDate)); // month 13
        assert_eq!(parse("01008500130"), Err(IdError::InvalidDate)); // month 00
        assert_eq!(parse("72018500095"), Err(IdError::InvalidDate)); // D-number day 32
        assert_eq!(parse("01538500050"), Err(IdError::InvalidDate)); // month 53
        assert_eq!(parse("01938500033"), Err(IdError::InvalidDate)); // month 93
        assert_eq!(parse("01608500029"), Err(IdError::InvalidDate)); // month 60
        let feb_31 = valid_with("310285", 0..=499);
        assert_eq!(parse(&feb_31), Err(IdError::InvalidDate));
        let d_number_day_zero = valid_with("400185", 0..=499);
        assert_eq!(parse(&d_number_day_zero), Err(IdError::InvalidDate));
    }

    #[test]
    fn d_number_has_day_plus_forty() {
        let id = parse(D_NUMBER_1985).unwrap();
        assert_eq!(id.kind(), IdKind::DNumber);
        assert_eq!(id.birth_date(), Some(date(1985, 5, 15)));
        assert!(!id.is_synthetic());
    }

    #[test]
    fn d_number_day_range_is_41_to_71() {
        let day_41 = valid_with("410185", 0..=499);
        assert_eq!(parse(&day_41).unwrap().birth_date(), Some(date(1985, 1, 1)));
        let day_71 = valid_with("710185", 0..=499);
        assert_eq!(
            parse(&day_71).unwrap().birth_date(),
            Some(date(1985, 1, 31))
        );
    }

    #[test]
    fn h_number_has_month_plus_forty_and_is_always_accepted() {
        for policy in [PROD, EMBEDDED, WITH_2032] {
            let id = NationalId::parse(H_NUMBER_1985, &policy).unwrap();
            assert_eq!(id.kind(), IdKind::HNumber);
            assert!(!id.is_synthetic());
            assert_eq!(id.birth_date(), Some(date(1985, 5, 15)));
            assert_eq!(id.system_uri(), None);
        }
    }

    #[test]
    fn d_and_h_offsets_together_are_rejected() {
        assert_eq!(parse("55458500184"), Err(IdError::InvalidDate));
    }

    #[test]
    fn fh_number_starts_with_8_or_9_and_has_no_date() {
        for fh in [FH_NUMBER, FH_NUMBER_9, "80000000098", "80000000179"] {
            let id = parse(fh).unwrap();
            assert_eq!(id.kind(), IdKind::FhNumber, "{fh}");
            assert_eq!(id.birth_date(), None);
            assert!(!id.is_synthetic());
        }
    }

    #[test]
    fn fh_number_still_needs_both_check_digits() {
        assert_eq!(parse("81234567812"), Err(IdError::FirstCheckDigit));
        assert_eq!(parse("81234567803"), Err(IdError::SecondCheckDigit));
    }

    #[test]
    fn synthetic_ids_need_the_policy() {
        assert_eq!(parse(SYNTHETIC_FNR_1985), Err(IdError::SyntheticNotAllowed));
        assert_eq!(
            parse(SYNTHETIC_D_NUMBER_1985),
            Err(IdError::SyntheticNotAllowed)
        );

        let fnr = NationalId::parse(SYNTHETIC_FNR_1985, &EMBEDDED).unwrap();
        assert_eq!(fnr.kind(), IdKind::Fodselsnummer);
        assert!(fnr.is_synthetic());
        assert_eq!(fnr.birth_date(), Some(date(1985, 5, 15)));

        let d = NationalId::parse(SYNTHETIC_D_NUMBER_1985, &EMBEDDED).unwrap();
        assert_eq!(d.kind(), IdKind::DNumber);
        assert!(d.is_synthetic());
        assert_eq!(d.birth_date(), Some(date(1985, 5, 15)));
    }

    #[test]
    fn synthetic_months_81_and_92_are_the_bounds() {
        let jan = valid_with("018185", 0..=499);
        let dec = valid_with("019285", 0..=499);
        assert_eq!(
            NationalId::parse(&jan, &EMBEDDED).unwrap().birth_date(),
            Some(date(1985, 1, 1))
        );
        assert_eq!(
            NationalId::parse(&dec, &EMBEDDED).unwrap().birth_date(),
            Some(date(1985, 12, 1))
        );
    }

    #[test]
    fn invalid_synthetic_date_is_a_date_error_even_in_production() {
        let feb_30 = valid_with("308285", 0..=499);
        assert_eq!(parse(&feb_30), Err(IdError::InvalidDate));
        assert_eq!(
            NationalId::parse(&feb_30, &EMBEDDED),
            Err(IdError::InvalidDate)
        );
    }

    #[test]
    fn length_and_characters_are_checked_first() {
        assert_eq!(parse(""), Err(IdError::WrongLength));
        assert_eq!(parse("1505851234"), Err(IdError::WrongLength));
        assert_eq!(parse("150585123430"), Err(IdError::WrongLength));
        assert_eq!(parse(" 15058512343"), Err(IdError::WrongLength));
        assert_eq!(parse("150585 2343"), Err(IdError::NotDigits));
        assert_eq!(parse("1505851234a"), Err(IdError::NotDigits));
        assert_eq!(parse("15058512-43"), Err(IdError::NotDigits));
        assert_eq!(parse("1505851234٣"), Err(IdError::NotDigits));
    }

    #[test]
    fn wrong_check_digits_are_reported_separately() {
        assert_eq!(parse("15058512353"), Err(IdError::FirstCheckDigit));
        assert_eq!(parse("15058512344"), Err(IdError::SecondCheckDigit));
    }

    #[test]
    fn rule_2032_switch_accepts_relaxed_first_check_digit() {
        assert_eq!(parse(K1_2032_ONLY), Err(IdError::FirstCheckDigit));
        let id = NationalId::parse(K1_2032_ONLY, &WITH_2032).unwrap();
        assert_eq!(id.kind(), IdKind::Fodselsnummer);
        assert_eq!(id.birth_date(), Some(date(1985, 5, 15)));
    }

    #[test]
    fn rule_2032_accepts_remainders_zero_to_three_and_no_more() {
        let first9 = [1, 5, 0, 5, 8, 5, 1, 2, 3];
        for k1 in 0..=9u8 {
            let mut first10 = [0u8; 10];
            first10[..9].copy_from_slice(&first9);
            first10[9] = k1;
            let remainder = weighted_mod11(&first10, &K1_2032_WEIGHTS);
            let Some(k2) = check_digit(&first10, &K2_WEIGHTS) else {
                continue;
            };
            let s: String = first10
                .iter()
                .chain(std::iter::once(&k2))
                .map(|d| char::from(b'0' + d))
                .collect();
            let relaxed = NationalId::parse(&s, &WITH_2032);
            let classic = NationalId::parse(&s, &PROD);
            assert_eq!(
                relaxed.is_ok(),
                remainder <= 3,
                "k1 {k1} remainder {remainder}"
            );
            assert_eq!(
                classic.is_ok(),
                remainder == 0,
                "k1 {k1} remainder {remainder}"
            );
        }
    }

    #[test]
    fn rule_2032_does_not_relax_the_second_check_digit() {
        assert_eq!(
            NationalId::parse("15058512352", &WITH_2032),
            Err(IdError::SecondCheckDigit)
        );
        assert_eq!(
            NationalId::parse("15058512344", &WITH_2032),
            Err(IdError::SecondCheckDigit)
        );
    }

    #[test]
    fn classic_ids_stay_valid_under_rule_2032() {
        for s in [FNR_1985, D_NUMBER_1985, H_NUMBER_1985, FH_NUMBER] {
            assert!(NationalId::parse(s, &WITH_2032).is_ok(), "{s}");
        }
    }

    #[test]
    fn policy_default_is_production() {
        assert_eq!(IdPolicy::default(), IdPolicy::production());
        assert!(!IdPolicy::default().allow_synthetic);
        assert!(!IdPolicy::default().rule_2032);
        assert!(IdPolicy::embedded().allow_synthetic);
        assert!(!IdPolicy::embedded().rule_2032);
    }

    #[test]
    fn debug_and_display_never_show_the_digits() {
        let id = parse(FNR_1985).unwrap();
        assert_eq!(format!("{id:?}"), "NationalId(fødselsnummer, ***********)");
        assert_eq!(id.to_string(), "fødselsnummer ***********");
        let synthetic = NationalId::parse(SYNTHETIC_FNR_1985, &EMBEDDED).unwrap();
        assert_eq!(
            format!("{synthetic:?}"),
            "NationalId(synthetic fødselsnummer, ***********)"
        );
        let wrapped = format!("{:?}", Some(vec![id.clone()]));
        assert!(!wrapped.contains("1505"));
        assert!(!format!("{:#?}", id).contains("1505"));
    }

    #[test]
    fn errors_never_contain_the_digits() {
        let inputs = [
            "15058512353",
            "15058512344",
            "31048500032",
            "01015075097",
            SYNTHETIC_FNR_1985,
        ];
        for input in inputs {
            let err = parse(input).unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(!text.contains(&input[..6]), "{text}");
        }
        let err =
            NationalId::parse_with_system(oid::FODSELSNUMMER, D_NUMBER_1985, &PROD).unwrap_err();
        assert!(!format!("{err} {err:?}").contains("5505"));
    }

    #[test]
    fn error_messages_are_lowercase_without_period() {
        let errors = [
            IdError::WrongLength,
            IdError::NotDigits,
            IdError::FirstCheckDigit,
            IdError::SecondCheckDigit,
            IdError::InvalidDate,
            IdError::InvalidIndividualNumber,
            IdError::SyntheticNotAllowed,
            IdError::UnknownSystem,
            IdError::SystemMismatch {
                found: IdKind::DNumber,
                system: oid::FODSELSNUMMER,
                expected: "fødselsnummer",
            },
        ];
        for err in errors {
            let text = err.to_string();
            assert_eq!(text, text.to_lowercase(), "{text}");
            assert!(!text.ends_with('.'), "{text}");
        }
        assert_eq!(
            IdError::WrongLength.to_string(),
            "national id must be 11 digits"
        );
    }

    #[test]
    fn parse_with_system_accepts_matching_kinds() {
        let fnr = NationalId::parse_with_system(oid::FODSELSNUMMER, FNR_1985, &PROD).unwrap();
        assert_eq!(fnr.kind(), IdKind::Fodselsnummer);
        let d = NationalId::parse_with_system(oid::D_NUMBER, D_NUMBER_1985, &PROD).unwrap();
        assert_eq!(d.kind(), IdKind::DNumber);
        let fh = NationalId::parse_with_system(oid::FH_NUMBER, FH_NUMBER, &PROD).unwrap();
        assert_eq!(fh.kind(), IdKind::FhNumber);
        let synthetic =
            NationalId::parse_with_system(oid::FODSELSNUMMER, SYNTHETIC_FNR_1985, &EMBEDDED)
                .unwrap();
        assert!(synthetic.is_synthetic());
        let synthetic_d =
            NationalId::parse_with_system(oid::D_NUMBER, SYNTHETIC_D_NUMBER_1985, &EMBEDDED)
                .unwrap();
        assert!(synthetic_d.is_synthetic());
    }

    #[test]
    fn parse_with_system_rejects_mismatched_kinds() {
        assert_eq!(
            NationalId::parse_with_system(oid::FODSELSNUMMER, D_NUMBER_1985, &PROD),
            Err(IdError::SystemMismatch {
                found: IdKind::DNumber,
                system: oid::FODSELSNUMMER,
                expected: "fødselsnummer",
            })
        );
        assert!(matches!(
            NationalId::parse_with_system(oid::D_NUMBER, FNR_1985, &PROD),
            Err(IdError::SystemMismatch {
                found: IdKind::Fodselsnummer,
                ..
            })
        ));
        assert!(matches!(
            NationalId::parse_with_system(oid::FH_NUMBER, FNR_1985, &PROD),
            Err(IdError::SystemMismatch { .. })
        ));
        assert!(matches!(
            NationalId::parse_with_system(oid::FODSELSNUMMER, FH_NUMBER, &PROD),
            Err(IdError::SystemMismatch {
                found: IdKind::FhNumber,
                ..
            })
        ));
        for system in [oid::FODSELSNUMMER, oid::D_NUMBER, oid::FH_NUMBER] {
            assert!(matches!(
                NationalId::parse_with_system(system, H_NUMBER_1985, &PROD),
                Err(IdError::SystemMismatch {
                    found: IdKind::HNumber,
                    ..
                })
            ));
        }
        for system in [
            oid::HPR,
            oid::ORG_NUMBER,
            oid::ORG_NUMBER_HELSEID,
            oid::RESH,
        ] {
            assert!(matches!(
                NationalId::parse_with_system(system, FNR_1985, &PROD),
                Err(IdError::SystemMismatch { .. })
            ));
        }
    }

    #[test]
    fn parse_with_system_mismatch_message_names_kind_and_system() {
        let err = NationalId::parse_with_system(oid::D_NUMBER, FNR_1985, &PROD).unwrap_err();
        assert_eq!(
            err.to_string(),
            "national id is a fødselsnummer but the identifier system \
             urn:oid:2.16.578.1.12.4.1.4.2 is for a d-number"
        );
    }

    #[test]
    fn parse_with_system_rejects_unknown_systems_before_parsing() {
        assert_eq!(
            NationalId::parse_with_system("urn:oid:1.2.3", FNR_1985, &PROD),
            Err(IdError::UnknownSystem)
        );
        assert_eq!(
            NationalId::parse_with_system("", "garbage", &PROD),
            Err(IdError::UnknownSystem)
        );
    }

    #[test]
    fn parse_with_system_applies_the_policy() {
        assert_eq!(
            NationalId::parse_with_system(oid::FODSELSNUMMER, SYNTHETIC_FNR_1985, &PROD),
            Err(IdError::SyntheticNotAllowed)
        );
    }

    #[test]
    fn system_uri_is_the_canonical_oid_of_the_kind() {
        assert_eq!(
            parse(FNR_1985).unwrap().system_uri(),
            Some(oid::FODSELSNUMMER)
        );
        assert_eq!(
            parse(D_NUMBER_1985).unwrap().system_uri(),
            Some(oid::D_NUMBER)
        );
        assert_eq!(parse(FH_NUMBER).unwrap().system_uri(), Some(oid::FH_NUMBER));
        assert_eq!(parse(H_NUMBER_1985).unwrap().system_uri(), None);
        let synthetic = NationalId::parse(SYNTHETIC_FNR_1985, &EMBEDDED).unwrap();
        assert_eq!(synthetic.system_uri(), Some(oid::FODSELSNUMMER));
    }

    #[test]
    fn equal_digits_are_equal_ids_and_hash_alike() {
        use std::collections::HashSet;
        let a = parse(FNR_1985).unwrap();
        let b = NationalId::parse(FNR_1985, &WITH_2032).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, parse(D_NUMBER_1985).unwrap());
        let set: HashSet<NationalId> = [a.clone(), b, a].into_iter().collect();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn kind_labels_and_serde_names() {
        assert_eq!(IdKind::Fodselsnummer.to_string(), "fødselsnummer");
        assert_eq!(IdKind::DNumber.as_str(), "d-number");
        assert_eq!(IdKind::HNumber.as_str(), "h-number");
        assert_eq!(IdKind::FhNumber.as_str(), "fh-number");
        assert_eq!(IdKind::HNumber.system(), None);
    }

    fn date_strategy() -> impl Strategy<Value = NaiveDate> {
        (1854i32..=2039, 1u32..=12, 1u32..=31)
            .prop_filter_map("valid date", |(y, m, d)| NaiveDate::from_ymd_opt(y, m, d))
    }

    /// An individual number that gives `year` its century.
    fn individual_for(year: i32, pick: u32) -> u32 {
        match year {
            1854..=1899 => 500 + pick % 250,
            1900..=1939 => pick % 500,
            1940..=1999 => {
                if pick.is_multiple_of(2) {
                    pick % 500
                } else {
                    900 + pick % 100
                }
            }
            _ => 500 + pick % 500,
        }
    }

    fn build(
        date: NaiveDate,
        individual: u32,
        d_number: bool,
        month_offset: u32,
    ) -> Option<String> {
        use chrono::Datelike;
        let day = date.day() + if d_number { 40 } else { 0 };
        let month = date.month() + month_offset;
        let year2 = date.year().rem_euclid(100);
        complete(&format!("{day:02}{month:02}{year2:02}{individual:03}"))
    }

    proptest! {
        #[test]
        fn generated_valid_ids_parse_with_their_birth_date(
            date in date_strategy(),
            pick in 0u32..1000,
            d_number in any::<bool>(),
            offset in prop::sample::select(vec![0u32, 40, 80]),
        ) {
            let individual = individual_for(chrono::Datelike::year(&date), pick);
            if d_number && offset == 40 {
                return Ok(());
            }
            if let Some(s) = build(date, individual, d_number, offset) {
                let id = NationalId::parse(&s, &EMBEDDED).unwrap();
                prop_assert_eq!(id.birth_date(), Some(date));
                prop_assert_eq!(id.is_synthetic(), offset == 80);
                let expected_kind = match (d_number, offset) {
                    (true, _) => IdKind::DNumber,
                    (false, 40) => IdKind::HNumber,
                    _ => IdKind::Fodselsnummer,
                };
                prop_assert_eq!(id.kind(), expected_kind);
                prop_assert_eq!(id.expose_secret(), s.as_str());
            }
        }

        #[test]
        fn any_single_digit_change_is_rejected(
            date in date_strategy(),
            pick in 0u32..1000,
            position in 0usize..11,
            delta in 1u8..10,
        ) {
            let individual = individual_for(chrono::Datelike::year(&date), pick);
            if let Some(s) = build(date, individual, false, 0) {
                let mut bytes = s.into_bytes();
                bytes[position] = b'0' + (bytes[position] - b'0' + delta) % 10;
                let mutated = String::from_utf8(bytes).unwrap();
                prop_assert!(NationalId::parse(&mutated, &EMBEDDED).is_err());
            }
        }

        #[test]
        fn arbitrary_strings_never_panic_and_never_leak(s in "\\PC{0,16}") {
            if let Err(err) = NationalId::parse(&s, &EMBEDDED) {
                let text = err.to_string();
                prop_assert!(s.len() < 3 || !text.contains(&s));
            }
        }

        #[test]
        fn arbitrary_eleven_digit_strings_never_panic(s in "[0-9]{11}") {
            for policy in [PROD, EMBEDDED, WITH_2032] {
                if let Ok(id) = NationalId::parse(&s, &policy) {
                    prop_assert_eq!(id.expose_secret(), s.as_str());
                    prop_assert_eq!(id.birth_date().is_none(), id.kind() == IdKind::FhNumber);
                }
            }
        }
    }
}
