//! The modulus-11 check digits used by national ids and organisation numbers.

/// Weights of the first national id check digit (K1) over digits 1–9.
pub(crate) const K1_WEIGHTS: [u32; 9] = [3, 7, 6, 1, 8, 9, 4, 5, 2];
/// Weights of the second national id check digit (K2) over digits 1–10.
pub(crate) const K2_WEIGHTS: [u32; 10] = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
/// Weights of Skatteetaten's K1 rule from 2032 over digits 1–10 (K1 itself has weight 1).
pub(crate) const K1_2032_WEIGHTS: [u32; 10] = [3, 7, 6, 1, 8, 9, 4, 5, 2, 1];
/// Weights of the organisation number check digit over digits 1–8.
pub(crate) const ORG_WEIGHTS: [u32; 8] = [3, 2, 7, 6, 5, 4, 3, 2];

/// Weighted digit sum modulo 11.
pub(crate) fn weighted_mod11(digits: &[u8], weights: &[u32]) -> u32 {
    let sum: u32 = digits
        .iter()
        .zip(weights)
        .map(|(digit, weight)| u32::from(*digit) * weight)
        .sum();
    sum % 11
}

/// The classic mod-11 check digit: `11 - (sum mod 11)`, where 11 becomes 0 and 10 means
/// no valid check digit exists (`None`).
pub(crate) fn check_digit(digits: &[u8], weights: &[u32]) -> Option<u8> {
    match 11 - weighted_mod11(digits, weights) {
        11 => Some(0),
        10 => None,
        digit => u8::try_from(digit).ok(),
    }
}

/// Both classic check digits (K1, K2) for the first nine digits of a national id, or
/// `None` when either would be 10.
pub(crate) fn national_id_check_digits(first9: &[u8; 9]) -> Option<(u8, u8)> {
    let k1 = check_digit(first9, &K1_WEIGHTS)?;
    let mut first10 = [0u8; 10];
    first10[..9].copy_from_slice(first9);
    first10[9] = k1;
    let k2 = check_digit(&first10, &K2_WEIGHTS)?;
    Some((k1, k2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digit_maps_remainder_zero_to_zero() {
        // 1*3 + 1*2 + 3*2 = 11, a multiple of 11, so the check digit is 0
        assert_eq!(
            check_digit(&[1, 1, 0, 0, 0, 0, 0, 3], &ORG_WEIGHTS),
            Some(0)
        );
    }

    #[test]
    fn check_digit_is_none_when_it_would_be_ten() {
        // sum 1 -> 11 - 1 = 10
        assert_eq!(weighted_mod11(&[0, 0, 0, 1], &[3, 7, 6, 1]), 1);
        assert_eq!(check_digit(&[0, 0, 0, 1], &[3, 7, 6, 1]), None);
    }

    #[test]
    fn check_digit_of_known_organisation_number() {
        // 974589095: 9*3 + 7*2 + 4*7 + 5*6 + 8*5 + 9*4 + 0*3 + 9*2 = 193, 193 mod 11 = 6, 11 - 6 = 5
        assert_eq!(
            check_digit(&[9, 7, 4, 5, 8, 9, 0, 9], &ORG_WEIGHTS),
            Some(5)
        );
    }

    #[test]
    fn classic_k1_is_equivalent_to_2032_sum_being_zero() {
        for n in 0..100_000u32 {
            let mut first9 = [0u8; 9];
            let mut rest = n * 7919;
            for slot in first9.iter_mut().rev() {
                *slot = u8::try_from(rest % 10).unwrap_or(0);
                rest /= 10;
            }
            if let Some(k1) = check_digit(&first9, &K1_WEIGHTS) {
                let mut first10 = [0u8; 10];
                first10[..9].copy_from_slice(&first9);
                first10[9] = k1;
                assert_eq!(weighted_mod11(&first10, &K1_2032_WEIGHTS), 0);
            }
        }
    }
}
