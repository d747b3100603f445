//! Deterministic, valid test identifiers for demo data and tests.
//!
//! These are ordinary functions (not behind `cfg(test)`) so the embedded mode's demo
//! patients and other crates' tests can use them.

use super::mod11::{ORG_WEIGHTS, check_digit, national_id_check_digits};

/// Number of distinct birth dates [`synthetic_fnr`] cycles through (28 days × 12
/// months × 100 years).
const SYNTHETIC_DATES: u32 = 28 * 12 * 100;

/// A valid synthetic fødselsnummer (month + 80, as Skatteetaten's Tenor issues them),
/// chosen deterministically from `seed`.
///
/// The birth date is day 1–28, any month, 1900–1999 (individual numbers 000–499); the
/// individual number is the first from a seed-derived start whose check digits are both
/// valid under the classic rule. Seeds below 33 600 all give different numbers (each has
/// its own birth date). The result parses with [`IdPolicy::embedded`] and is rejected by
/// the production policy.
///
/// [`IdPolicy::embedded`]: super::IdPolicy::embedded
pub fn synthetic_fnr(seed: u32) -> String {
    let mut date_index = seed % SYNTHETIC_DATES;
    let start = (seed / SYNTHETIC_DATES) % 500;
    // Every date has valid individual numbers (a test checks all 33 600), so the outer
    // loop runs once; it only exists so that no input can make this function panic.
    loop {
        let day = date_index % 28 + 1;
        let month = (date_index / 28) % 12 + 1 + 80;
        let year2 = (date_index / (28 * 12)) % 100;
        for step in 0..500 {
            let individual = (start + step) % 500;
            let first9 = digits9(day, month, year2, individual);
            if let Some((k1, k2)) = national_id_check_digits(&first9) {
                return format!("{day:02}{month:02}{year2:02}{individual:03}{k1}{k2}");
            }
        }
        date_index = (date_index + 1) % SYNTHETIC_DATES;
    }
}

/// A valid organisation number starting with 1 (the range Tenor uses for test
/// organisations), chosen deterministically from `seed`. Seeds below 1 000 000 all give
/// different numbers.
pub fn valid_org_number(seed: u32) -> String {
    let middle = seed % 1_000_000;
    let mut eighth = (seed / 1_000_000) % 10;
    let mut digits = [0u8; 8];
    digits[0] = 1;
    let mut rest = middle;
    for slot in digits[1..7].iter_mut().rev() {
        *slot = digit(rest % 10);
        rest /= 10;
    }
    // The eighth digit has weight 2, which is invertible mod 11, so at most one of the ten
    // choices makes the check digit 10: this loop runs at most twice.
    loop {
        digits[7] = digit(eighth);
        if let Some(check) = check_digit(&digits, &ORG_WEIGHTS) {
            let body: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            return format!("{body}{check}");
        }
        eighth = (eighth + 1) % 10;
    }
}

fn digits9(day: u32, month: u32, year2: u32, individual: u32) -> [u8; 9] {
    [
        digit(day / 10),
        digit(day % 10),
        digit(month / 10),
        digit(month % 10),
        digit(year2 / 10),
        digit(year2 % 10),
        digit(individual / 100),
        digit(individual / 10 % 10),
        digit(individual % 10),
    ]
}

/// The last decimal digit of `n` as a `u8`.
fn digit(n: u32) -> u8 {
    // n % 10 < 10 always fits; the fallback is unreachable.
    u8::try_from(n % 10).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::super::{IdError, IdKind, IdPolicy, NationalId, OrgNumber};
    use super::*;

    #[test]
    fn synthetic_fnr_is_valid_synthetic_and_refused_in_production() {
        for seed in [0, 1, 27, 28, 335, 336, 33_599, 33_600, u32::MAX] {
            let s = synthetic_fnr(seed);
            let id = NationalId::parse(&s, &IdPolicy::embedded()).unwrap();
            assert!(id.is_synthetic());
            assert_eq!(id.kind(), IdKind::Fodselsnummer);
            assert_eq!(
                NationalId::parse(&s, &IdPolicy::production()),
                Err(IdError::SyntheticNotAllowed)
            );
        }
    }

    #[test]
    fn synthetic_fnr_is_deterministic() {
        assert_eq!(synthetic_fnr(42), synthetic_fnr(42));
        assert_eq!(synthetic_fnr(0), synthetic_fnr(0));
    }

    #[test]
    fn synthetic_fnr_is_valid_and_distinct_for_every_date_seed() {
        let mut seen = HashSet::new();
        for seed in 0..SYNTHETIC_DATES {
            let s = synthetic_fnr(seed);
            assert!(
                NationalId::parse(&s, &IdPolicy::embedded()).is_ok(),
                "seed {seed}"
            );
            assert!(seen.insert(s), "seed {seed} repeats");
        }
    }

    #[test]
    fn valid_org_number_starts_with_one_and_validates() {
        for seed in [0, 1, 9, 999_999, 1_000_000, u32::MAX] {
            let s = valid_org_number(seed);
            assert!(s.starts_with('1'), "{s}");
            assert_eq!(s.len(), 9);
            assert!(OrgNumber::parse(&s).is_ok(), "{s}");
        }
    }

    #[test]
    fn valid_org_number_is_distinct_for_small_seeds() {
        let all: HashSet<String> = (0..20_000).map(valid_org_number).collect();
        assert_eq!(all.len(), 20_000);
    }

    proptest! {
        #[test]
        fn any_seed_gives_valid_identifiers(seed in any::<u32>()) {
            prop_assert!(NationalId::parse(&synthetic_fnr(seed), &IdPolicy::embedded()).is_ok());
            prop_assert!(OrgNumber::parse(&valid_org_number(seed)).is_ok());
        }
    }
}
