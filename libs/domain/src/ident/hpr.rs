//! [`HprNumber`]: a number in Helsepersonellregisteret.

use std::fmt;

use thiserror::Error;

/// Why a string is not an HPR number. The value is never echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum HprError {
    /// Empty or longer than 9 characters.
    #[error("hpr number must be 1 to 9 digits")]
    WrongLength,
    /// Not all ASCII digits.
    #[error("hpr number must contain only digits")]
    NotDigits,
}

/// An HPR number: 1 to 9 digits, no check digit. Kept exactly as given (no
/// normalisation of leading zeros).
///
/// Not personal data in itself (the register is public), so it prints freely.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct HprNumber(String);

impl HprNumber {
    /// Parses an HPR number.
    pub fn parse(s: &str) -> Result<Self, HprError> {
        let length = s.chars().count();
        if length == 0 || length > 9 {
            return Err(HprError::WrongLength);
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HprError::NotDigits);
        }
        Ok(Self(s.to_owned()))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HprNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for HprNumber {
    type Err = HprError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for HprNumber {
    type Error = HprError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<HprNumber> for String {
    fn from(value: HprNumber) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn one_to_nine_digits_are_accepted() {
        for s in ["1", "9144900", "123456789", "0"] {
            assert_eq!(HprNumber::parse(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn empty_and_too_long_are_rejected() {
        assert_eq!(HprNumber::parse(""), Err(HprError::WrongLength));
        assert_eq!(HprNumber::parse("1234567890"), Err(HprError::WrongLength));
        assert_eq!(HprNumber::parse("15058512343"), Err(HprError::WrongLength));
    }

    #[test]
    fn non_digits_are_rejected() {
        assert_eq!(HprNumber::parse("914490a"), Err(HprError::NotDigits));
        assert_eq!(HprNumber::parse(" 9144900"), Err(HprError::NotDigits));
        assert_eq!(HprNumber::parse("-1"), Err(HprError::NotDigits));
        assert_eq!(HprNumber::parse("٣"), Err(HprError::NotDigits));
    }

    #[test]
    fn display_and_conversions() {
        let hpr = HprNumber::parse("9144900").unwrap();
        assert_eq!(hpr.to_string(), "9144900");
        assert_eq!("9144900".parse::<HprNumber>().unwrap(), hpr);
        assert_eq!(String::from(hpr), "9144900");
    }

    proptest! {
        #[test]
        fn every_short_digit_string_is_accepted(s in "[0-9]{1,9}") {
            let hpr = HprNumber::parse(&s).unwrap();
            prop_assert_eq!(hpr.as_str(), s.as_str());
        }

        #[test]
        fn arbitrary_strings_never_panic(s in "\\PC{0,12}") {
            let _ = HprNumber::parse(&s);
        }
    }
}
