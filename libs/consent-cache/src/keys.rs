//! Cache keys: an HMAC-SHA256 of the patient (and the actor) under the deployment secret, so
//! no key holds a national id in clear and nobody without the secret can compute the key of
//! a given patient.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{ActorKey, KEY_PREFIX};

type HmacSha256 = Hmac<Sha256>;

/// A 32-byte key digest.
pub(crate) type Digest = [u8; 32];

/// Derives every key from one pre-keyed HMAC (cloning it skips re-hashing the secret).
#[derive(Clone)]
pub(crate) struct KeyMaker {
    mac: HmacSha256,
}

impl KeyMaker {
    pub(crate) fn new(secret: &[u8]) -> Self {
        // HMAC accepts keys of any length, so this cannot fail; the fallback keeps the
        // function total without a panic path.
        let mac = HmacSha256::new_from_slice(secret)
            .unwrap_or_else(|_| HmacSha256::new(&Default::default()));
        Self { mac }
    }

    /// HMAC over length-prefixed parts (no two part lists give the same input).
    fn digest(&self, parts: &[&[u8]]) -> Digest {
        let mut mac = self.mac.clone();
        for part in parts {
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            mac.update(&len.to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The digest behind the patient's revision marker.
    pub(crate) fn marker_digest(&self, patient: &str) -> Digest {
        self.digest(&[b"pmd-consent-cache/v1/marker", patient.as_bytes()])
    }

    /// The digest behind one (patient, actor) decision.
    pub(crate) fn decision_digest(&self, patient: &str, actor: &ActorKey) -> Digest {
        self.digest(&[
            b"pmd-consent-cache/v1/decision",
            patient.as_bytes(),
            actor.hpr.as_bytes(),
            actor.org_parent.as_bytes(),
            actor.org_child.as_deref().unwrap_or_default().as_bytes(),
        ])
    }

    /// `pmd:c:r:<hex>`: the patient's revision marker.
    pub(crate) fn marker_key(&self, patient: &str) -> String {
        key("r", &self.marker_digest(patient))
    }

    /// `pmd:c:d:<hex>`: one cached decision.
    pub(crate) fn decision_key(&self, patient: &str, actor: &ActorKey) -> String {
        key("d", &self.decision_digest(patient, actor))
    }
}

fn key(kind: &str, digest: &Digest) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(KEY_PREFIX.len() + kind.len() + 1 + 64);
    out.push_str(KEY_PREFIX);
    out.push_str(kind);
    out.push(':');
    for byte in digest {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(hpr: &str, parent: &str, child: Option<&str>) -> ActorKey {
        ActorKey {
            hpr: hpr.into(),
            org_parent: parent.into(),
            org_child: child.map(str::to_owned),
        }
    }

    #[test]
    fn keys_hold_no_national_id_and_depend_on_the_secret() {
        let patient = "13116900216";
        let a = KeyMaker::new(b"secret one, at least thirty-two bytes");
        let b = KeyMaker::new(b"secret two, at least thirty-two bytes");
        let key = a.marker_key(patient);
        assert!(key.starts_with("pmd:c:r:"), "{key}");
        assert!(!key.contains(patient));
        assert_eq!(key.len(), "pmd:c:r:".len() + 64);
        assert_ne!(key, b.marker_key(patient));
        assert_eq!(key, a.marker_key(patient));
        let decision = a.decision_key(patient, &actor("123", "974589095", None));
        assert!(decision.starts_with("pmd:c:d:") && !decision.contains(patient));
    }

    #[test]
    fn every_actor_field_changes_the_decision_key() {
        let keys = KeyMaker::new(b"0123456789abcdef0123456789abcdef");
        let base = keys.decision_key("p", &actor("1", "2", Some("3")));
        assert_ne!(base, keys.decision_key("q", &actor("1", "2", Some("3"))));
        assert_ne!(base, keys.decision_key("p", &actor("9", "2", Some("3"))));
        assert_ne!(base, keys.decision_key("p", &actor("1", "9", Some("3"))));
        assert_ne!(base, keys.decision_key("p", &actor("1", "2", None)));
        // Length prefixes: moving a character between fields gives another key.
        assert_ne!(
            keys.decision_key("p", &actor("12", "3", None)),
            keys.decision_key("p", &actor("1", "23", None))
        );
    }
}
