//! Sealed search cursors: everything a next page needs (patient, filters, position) encrypted
//! and authenticated with ChaCha20-Poly1305 under a key derived from the deployment secret,
//! so the `next` link holds no patient id in clear and cannot be altered. Any storage replica
//! with the same secret can continue a search.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use pmd_proto::common::v1 as common;
use pmd_proto::storage::v1 as pb;
use prost::Message;
use sha2::Sha256;

/// What a cursor carries.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CursorState {
    #[prost(message, optional, tag = "1")]
    pub patient: Option<common::Identifier>,
    #[prost(message, repeated, tag = "2")]
    pub codes: Vec<common::Coding>,
    #[prost(message, repeated, tag = "3")]
    pub dates: Vec<pb::DateFilter>,
    #[prost(enumeration = "common::SortOrder", tag = "4")]
    pub order: i32,
    #[prost(int32, tag = "5")]
    pub page_size: i32,
    /// Effective time (µs) and id of the last row of the previous page.
    #[prost(int64, tag = "6")]
    pub after_micros: i64,
    #[prost(string, tag = "7")]
    pub after_id: String,
    /// When the cursor was issued (µs); cursors expire after a day.
    #[prost(int64, tag = "8")]
    pub issued_micros: i64,
}

/// Seals and opens cursors.
#[derive(Clone)]
pub struct CursorKey(Key);

const MAX_AGE_MICROS: i64 = 24 * 3600 * 1_000_000;

impl CursorKey {
    /// Derive the cursor key from the deployment secret.
    pub fn derive(secret: &[u8]) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(b"pmd storage cursor v1");
        let bytes: [u8; 32] = mac.finalize().into_bytes().into();
        Self(Key::from(bytes))
    }

    pub fn seal(&self, state: &CursorState) -> String {
        let cipher = ChaCha20Poly1305::new(&self.0);
        let nonce_bytes: [u8; 12] = rand::random();
        let nonce = Nonce::from(nonce_bytes);
        let sealed = cipher
            .encrypt(&nonce, state.encode_to_vec().as_slice())
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + 12 + sealed.len());
        out.push(1u8);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// The state in `cursor`, or `None` when it was not made by this deployment, was
    /// altered, or is too old.
    pub fn open(&self, cursor: &str, now_micros: i64) -> Option<CursorState> {
        let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        if bytes.len() < 1 + 12 + 16 || bytes[0] != 1 {
            return None;
        }
        let cipher = ChaCha20Poly1305::new(&self.0);
        let nonce: [u8; 12] = bytes[1..13].try_into().ok()?;
        let plain = cipher.decrypt(&Nonce::from(nonce), &bytes[13..]).ok()?;
        let state = CursorState::decode(plain.as_slice()).ok()?;
        (now_micros - state.issued_micros <= MAX_AGE_MICROS).then_some(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> CursorState {
        CursorState {
            patient: Some(common::Identifier {
                system: "urn:oid:2.16.578.1.12.4.1.4.1".into(),
                value: "13116900216".into(),
            }),
            page_size: 50,
            after_micros: 42,
            after_id: "x".into(),
            issued_micros: 1_000,
            ..CursorState::default()
        }
    }

    #[test]
    fn a_sealed_cursor_opens_to_the_same_state_and_hides_the_patient() {
        let key = CursorKey::derive(b"0123456789abcdef0123456789abcdef");
        let sealed = key.seal(&state());
        assert!(!sealed.contains("13116900216"));
        assert_eq!(key.open(&sealed, 2_000), Some(state()));
    }

    #[test]
    fn an_altered_foreign_or_expired_cursor_does_not_open() {
        let key = CursorKey::derive(b"0123456789abcdef0123456789abcdef");
        let sealed = key.seal(&state());
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 2;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            key.open(&String::from_utf8(altered).unwrap_or_default(), 2_000),
            None
        );
        let other = CursorKey::derive(b"another secret of enough length!!");
        assert_eq!(other.open(&sealed, 2_000), None);
        assert_eq!(key.open(&sealed, 1_000 + MAX_AGE_MICROS + 1), None);
        assert_eq!(key.open("garbage", 0), None);
    }
}
