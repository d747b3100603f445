//! The hash chain.
//!
//! Every stored event carries `prev_hash` (the `hash` of the event before it; 32 zero bytes
//! for the first event, seq 1) and its own `hash`:
//!
//! ```text
//! hash = SHA-256(prev_hash ‖ canonical(event))
//! ```
//!
//! The **canonical encoding** of an event is its protobuf encoding as prost writes it
//! (fields in tag order, default values left out, unknown fields dropped) with `seq`,
//! `time_unix_micros` and `prev_hash` set to their stored values and `hash` empty. The
//! `AuditEvent` message has no maps, so this encoding is deterministic; a field added to the
//! message later is absent from older events and leaves their encoding unchanged.
//!
//! The stored `body` is the same encoding with `hash` filled in, so a verifier can recompute
//! the chain from the bodies alone.

use pmd_proto::audit::v1::AuditEvent;
use prost::Message;
use sha2::{Digest, Sha256};

/// Length of a chain hash (SHA-256).
pub const HASH_LEN: usize = 32;

/// `prev_hash` of the first event.
pub const GENESIS: [u8; HASH_LEN] = [0; HASH_LEN];

/// The head of the chain: the last stored seq (0 when empty) and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: Vec<u8>,
}

impl Head {
    /// The head of an empty chain.
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS.to_vec(),
        }
    }
}

/// The canonical encoding of `event`: its prost encoding with `hash` empty.
pub fn canonical_bytes(event: &AuditEvent) -> Vec<u8> {
    if event.hash.is_empty() {
        return event.encode_to_vec();
    }
    let mut unsealed = event.clone();
    unsealed.hash.clear();
    unsealed.encode_to_vec()
}

/// SHA-256(`event.prev_hash` ‖ canonical(`event`)).
pub fn compute_hash(event: &AuditEvent) -> Vec<u8> {
    let mut digest = Sha256::new();
    digest.update(&event.prev_hash);
    digest.update(canonical_bytes(event));
    digest.finalize().to_vec()
}

/// Give `event` its place in the chain: `seq`, `prev_hash` and the resulting `hash`.
/// `time_unix_micros` must already be final.
pub fn seal(event: &mut AuditEvent, seq: i64, prev_hash: &[u8]) {
    event.seq = seq;
    event.prev_hash = prev_hash.to_vec();
    event.hash.clear();
    event.hash = compute_hash(event);
}

/// Lowercase hex, for logs and checkpoint files.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// The bytes of a hex string (either case), or `None` when it is not hex.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use pmd_proto::audit::v1::{Action, Outcome};

    use super::*;

    fn event(id: &str) -> AuditEvent {
        AuditEvent {
            event_id: id.to_owned(),
            time_unix_micros: 1_700_000_000_000_000,
            action: Action::Read as i32,
            outcome: Outcome::Success as i32,
            ..Default::default()
        }
    }

    #[test]
    fn the_hash_covers_prev_hash_and_the_event_without_its_hash() {
        let mut e = event("a");
        seal(&mut e, 1, &GENESIS);
        let mut expected = Sha256::new();
        expected.update(GENESIS);
        let mut unsealed = e.clone();
        unsealed.hash.clear();
        expected.update(unsealed.encode_to_vec());
        assert_eq!(e.hash, expected.finalize().to_vec());
        assert_eq!(e.seq, 1);
        assert_eq!(e.prev_hash, GENESIS.to_vec());
    }

    #[test]
    fn resealing_a_sealed_event_gives_the_same_hash() {
        let mut e = event("a");
        seal(&mut e, 7, &[1; 32]);
        let first = e.hash.clone();
        assert_eq!(compute_hash(&e), first);
        seal(&mut e, 7, &[1; 32]);
        assert_eq!(e.hash, first);
    }

    #[test]
    fn any_changed_field_changes_the_hash() {
        let mut base = event("a");
        seal(&mut base, 3, &[9; 32]);
        let variants: [fn(&mut AuditEvent); 6] = [
            |e| e.seq = 4,
            |e| e.time_unix_micros += 1,
            |e| e.action = Action::Search as i32,
            |e| e.outcome = Outcome::Denied as i32,
            |e| e.detail = "x".into(),
            |e| e.prev_hash = vec![8; 32],
        ];
        for change in variants {
            let mut changed = base.clone();
            change(&mut changed);
            assert_ne!(compute_hash(&changed), base.hash);
        }
    }

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(to_hex(&bytes), "0001abff");
        assert_eq!(from_hex("0001ABff"), Some(bytes.to_vec()));
        assert_eq!(from_hex("0g"), None);
        assert_eq!(from_hex("abc"), None);
    }
}
