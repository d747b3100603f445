//! [`OrgNumber`]: a Norwegian organisation number (Enhetsregisteret).

use std::fmt;

use thiserror::Error;

use super::mod11::{ORG_WEIGHTS, check_digit};
use super::{DigitsError, ascii_digits};

/// Why a string is not an organisation number. The value is never echoed: a caller may
/// have put a national id in the wrong field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum OrgNumberError {
    /// Not exactly 9 characters.
    #[error("organisation number must be 9 digits")]
    WrongLength,
    /// 9 characters, but not all ASCII digits.
    #[error("organisation number must contain only digits")]
    NotDigits,
    /// The mod-11 check digit is wrong (or would have to be 10).
    #[error("organisation number has an invalid check digit")]
    CheckDigit,
}

/// A validated 9-digit organisation number.
///
/// Validation is the mod-11 check digit over the first eight digits with weights
/// 3,2,7,6,5,4,3,2 (`11 - sum mod 11`, 11 → 0, 10 → invalid). There is no rule on the
/// first digit: real organisations start with 8 or 9, test organisations in Tenor start
/// with 1, and both are accepted.
///
/// Not personal data, so `Debug`, `Display` and serde print the digits.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct OrgNumber(String);

impl OrgNumber {
    /// Parses and validates an organisation number.
    pub fn parse(s: &str) -> Result<Self, OrgNumberError> {
        let digits: [u8; 9] = ascii_digits(s).map_err(|e| match e {
            DigitsError::WrongLength => OrgNumberError::WrongLength,
            DigitsError::NotDigits => OrgNumberError::NotDigits,
        })?;
        if check_digit(&digits[..8], &ORG_WEIGHTS) != Some(digits[8]) {
            return Err(OrgNumberError::CheckDigit);
        }
        Ok(Self(s.to_owned()))
    }

    /// The nine digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for OrgNumber {
    type Err = OrgNumberError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for OrgNumber {
    type Error = OrgNumberError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<OrgNumber> for String {
    fn from(value: OrgNumber) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn known_organisation_numbers_are_valid() {
        // 974589095: sum 193, 193 mod 11 = 6, check 5.
        // 100000008: sum 3, check 8. 110000006: sum 5, check 6. 999999999: sum 288,
        // 288 mod 11 = 2, check 9. 983044778: sum 135, 135 mod 11 = 3, check 8.
        for s in [
            "974589095",
            "100000008",
            "110000006",
            "999999999",
            "983044778",
        ] {
            assert_eq!(OrgNumber::parse(s).unwrap().as_str(), s, "{s}");
        }
    }

    #[test]
    fn check_digit_zero_when_remainder_is_zero() {
        // 1,1,0,0,0,0,0,3: 3 + 2 + 6 = 11, remainder 0, check digit 0.
        assert!(OrgNumber::parse("110000030").is_ok());
    }

    #[test]
    fn wrong_check_digit_is_rejected() {
        assert_eq!(
            OrgNumber::parse("974589096"),
            Err(OrgNumberError::CheckDigit)
        );
        assert_eq!(
            OrgNumber::parse("974589094"),
            Err(OrgNumberError::CheckDigit)
        );
    }

    #[test]
    fn check_digit_ten_is_never_valid() {
        // 0,0,0,0,0,0,0,6: sum 12, 12 mod 11 = 1, 11 - 1 = 10: no digit is valid.
        for last in 0..=9 {
            assert_eq!(
                OrgNumber::parse(&format!("00000006{last}")),
                Err(OrgNumberError::CheckDigit)
            );
        }
    }

    #[test]
    fn no_first_digit_rule() {
        assert!(OrgNumber::parse("100000008").is_ok());
        assert!(OrgNumber::parse("000000000").is_ok());
    }

    #[test]
    fn length_and_characters() {
        assert_eq!(OrgNumber::parse(""), Err(OrgNumberError::WrongLength));
        assert_eq!(
            OrgNumber::parse("97458909"),
            Err(OrgNumberError::WrongLength)
        );
        assert_eq!(
            OrgNumber::parse("9745890950"),
            Err(OrgNumberError::WrongLength)
        );
        assert_eq!(
            OrgNumber::parse("974 589 095"),
            Err(OrgNumberError::WrongLength)
        );
        assert_eq!(
            OrgNumber::parse("97458909a"),
            Err(OrgNumberError::NotDigits)
        );
        assert_eq!(
            OrgNumber::parse("NO9745890"),
            Err(OrgNumberError::NotDigits)
        );
    }

    #[test]
    fn display_and_serde_use_the_digits() {
        let org = OrgNumber::parse("974589095").unwrap();
        assert_eq!(org.to_string(), "974589095");
        assert_eq!(String::from(org.clone()), "974589095");
        assert_eq!("974589095".parse::<OrgNumber>().unwrap(), org);
        assert_eq!(
            OrgNumber::try_from("974589096".to_owned()),
            Err(OrgNumberError::CheckDigit)
        );
    }

    #[test]
    fn messages_do_not_echo_the_value() {
        let err = OrgNumber::parse("15058512343").unwrap_err();
        assert_eq!(err.to_string(), "organisation number must be 9 digits");
    }

    proptest! {
        #[test]
        fn exactly_one_check_digit_or_none_is_valid(prefix in "[0-9]{8}") {
            let valid = (0..=9)
                .filter(|d| OrgNumber::parse(&format!("{prefix}{d}")).is_ok())
                .count();
            prop_assert!(valid <= 1);
        }

        #[test]
        fn arbitrary_strings_never_panic(s in "\\PC{0,12}") {
            let _ = OrgNumber::parse(&s);
        }
    }
}
