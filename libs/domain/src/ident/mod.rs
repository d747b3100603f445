//! Norwegian identifiers and the OIDs that name them.
//!
//! - [`NationalId`]: fødselsnummer, D-number, H-number and FH-number, validated with both
//!   mod-11 check digits, the birth date and the century rules. Its digits are personal
//!   data: they are only reachable through [`NationalId::expose_secret`], and neither
//!   `Debug`, `Display` nor any error message ever prints them.
//! - [`OrgNumber`] (Enhetsregisteret) and [`HprNumber`] (Helsepersonellregisteret): not
//!   personal data, printed freely.
//! - [`IdentifierSystem`] and the [`oid`] constants: the `system` URIs of FHIR identifiers.
//! - [`synthetic_fnr`] and [`valid_org_number`]: deterministic test data.

mod hpr;
mod mod11;
mod national_id;
pub mod oid;
mod org;
mod system;
mod testdata;

pub use hpr::{HprError, HprNumber};
pub use national_id::{IdError, IdKind, IdPolicy, NationalId};
pub use org::{OrgNumber, OrgNumberError};
pub use system::IdentifierSystem;
pub use testdata::{synthetic_fnr, valid_org_number};

/// Why a string is not exactly `N` ASCII digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DigitsError {
    WrongLength,
    NotDigits,
}

/// Splits `s` into exactly `N` decimal digits.
///
/// The length is counted in characters, so a string of the right length with a non-ASCII
/// character is reported as "not digits" rather than "wrong length".
pub(crate) fn ascii_digits<const N: usize>(s: &str) -> Result<[u8; N], DigitsError> {
    if s.chars().count() != N {
        return Err(DigitsError::WrongLength);
    }
    let mut out = [0u8; N];
    for (slot, byte) in out.iter_mut().zip(s.bytes()) {
        if !byte.is_ascii_digit() {
            return Err(DigitsError::NotDigits);
        }
        *slot = byte - b'0';
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_digits_accepts_exact_length() {
        assert_eq!(ascii_digits::<3>("042"), Ok([0, 4, 2]));
    }

    #[test]
    fn ascii_digits_reports_length_before_content() {
        assert_eq!(ascii_digits::<3>("ab"), Err(DigitsError::WrongLength));
        assert_eq!(ascii_digits::<3>("1234"), Err(DigitsError::WrongLength));
        assert_eq!(ascii_digits::<3>(""), Err(DigitsError::WrongLength));
    }

    #[test]
    fn ascii_digits_rejects_non_ascii_of_right_char_count() {
        assert_eq!(ascii_digits::<3>("1٢3"), Err(DigitsError::NotDigits));
        assert_eq!(ascii_digits::<3>("1 3"), Err(DigitsError::NotDigits));
        assert_eq!(ascii_digits::<3>("-12"), Err(DigitsError::NotDigits));
    }
}
