//! Patient pseudonyms. Statistics never stores a national id: the follower turns each
//! patient identifier into a keyed HMAC the moment it arrives, and only that is stored.
//!
//! - **Stored pseudonym**: HMAC-SHA256 under a key derived from the configured secret
//!   (`--export-hmac-key`), over the identifier's value, truncated to 16 bytes. Stable, so
//!   distinct counts work across days; useless without the secret.
//! - **Export pseudonym**: HMAC-SHA256 under a key derived from the secret *and the export
//!   period* (`from`, `to`), over the stored pseudonym, 16 bytes as hex. The same patient
//!   links within one export and never across two exports of different periods.
//!
//! Pure functions: no I/O. `Debug` never prints a key.

use chrono::NaiveDate;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Bytes kept of a pseudonym (128 bits: collisions are negligible at national scale).
pub const PSEUDONYM_LEN: usize = 16;

/// A stored patient pseudonym.
pub type Pseudonym = [u8; PSEUDONYM_LEN];

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        unreachable!("HMAC accepts keys of any length")
    };
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Turns identifiers into pseudonyms and derives per-export keys.
#[derive(Clone)]
pub struct Pseudonymizer {
    stored_key: [u8; 32],
    export_root: [u8; 32],
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymizer([keys redacted])")
    }
}

impl Pseudonymizer {
    /// Keys derived from the configured secret (domain-separated, so the stored key and the
    /// export keys never coincide).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            stored_key: mac(secret, &[b"pmd-statistics/stored-pseudonym/v1"]),
            export_root: mac(secret, &[b"pmd-statistics/export/v1"]),
        }
    }

    /// The stored pseudonym of a patient identifier value (a national id never leaves this
    /// function).
    pub fn patient(&self, identifier_value: &str) -> Pseudonym {
        let full = mac(&self.stored_key, &[identifier_value.trim().as_bytes()]);
        let mut out = [0u8; PSEUDONYM_LEN];
        out.copy_from_slice(&full[..PSEUDONYM_LEN]);
        out
    }

    /// The key of the export of `from`..=`to`.
    pub fn export_key(&self, from: NaiveDate, to: NaiveDate) -> ExportKey {
        let period = format!("{}..{}", from.format("%Y-%m-%d"), to.format("%Y-%m-%d"));
        ExportKey(mac(&self.export_root, &[period.as_bytes()]))
    }
}

/// The key of one export period.
#[derive(Clone)]
pub struct ExportKey([u8; 32]);

impl std::fmt::Debug for ExportKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExportKey([redacted])")
    }
}

impl ExportKey {
    /// The export pseudonym (32 hex digits) of a stored pseudonym.
    pub fn pseudonym(&self, stored: &[u8]) -> String {
        let full = mac(&self.0, &[stored]);
        hex(&full[..PSEUDONYM_LEN])
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or(NaiveDate::MIN)
    }

    #[test]
    fn the_same_patient_has_the_same_stored_pseudonym_and_others_differ() {
        let p = Pseudonymizer::new(b"secret-0123456789abcdef0123456789");
        assert_eq!(p.patient("13116900216"), p.patient(" 13116900216 "));
        assert_ne!(p.patient("13116900216"), p.patient("13116900217"));
        let other = Pseudonymizer::new(b"another-secret-0123456789abcdef01");
        assert_ne!(p.patient("13116900216"), other.patient("13116900216"));
    }

    #[test]
    fn export_pseudonyms_link_within_a_period_and_not_across() {
        let p = Pseudonymizer::new(b"secret-0123456789abcdef0123456789");
        let stored = p.patient("13116900216");
        let january = p.export_key(day("2026-01-01"), day("2026-01-31"));
        let again = p.export_key(day("2026-01-01"), day("2026-01-31"));
        let february = p.export_key(day("2026-02-01"), day("2026-02-28"));
        let overlapping = p.export_key(day("2026-01-01"), day("2026-02-28"));
        let a = january.pseudonym(&stored);
        assert_eq!(a.len(), 32);
        assert_eq!(a, again.pseudonym(&stored));
        assert_ne!(a, february.pseudonym(&stored));
        assert_ne!(a, overlapping.pseudonym(&stored));
        assert_ne!(
            a,
            hex(&stored),
            "the export never shows the stored pseudonym"
        );
        assert!(!a.contains("13116900216"));
    }

    #[test]
    fn keys_never_print() {
        let p = Pseudonymizer::new(b"secret-0123456789abcdef0123456789");
        assert_eq!(format!("{p:?}"), "Pseudonymizer([keys redacted])");
        let key = p.export_key(day("2026-01-01"), day("2026-01-31"));
        assert_eq!(format!("{key:?}"), "ExportKey([redacted])");
    }
}
