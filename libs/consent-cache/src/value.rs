//! The stored form of a decision: a compact JSON array
//! `[permit (0|1), revision, written_at_unix_ms, [block ids]]`, e.g. `[1,4,1767225600000,[]]`.

use crate::Decision;

pub(crate) fn encode(decision: &Decision, written_ms: i64) -> String {
    serde_json::json!([
        u8::from(decision.permit),
        decision.revision,
        written_ms,
        decision.block_ids,
    ])
    .to_string()
}

/// The decision and its write time, or `None` for anything malformed (treated as a miss).
pub(crate) fn decode(raw: &str) -> Option<(Decision, i64)> {
    let value: serde_json::Value = serde_json::from_str(raw).ok()?;
    let [permit, revision, written, ids] = value.as_array()?.as_slice() else {
        return None;
    };
    let permit = match permit.as_u64()? {
        0 => false,
        1 => true,
        _ => return None,
    };
    let block_ids = ids
        .as_array()?
        .iter()
        .map(|id| id.as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()?;
    Some((
        Decision {
            permit,
            revision: revision.as_i64()?,
            block_ids,
        },
        written.as_i64()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_round_trips_compactly() {
        let deny = Decision {
            permit: false,
            revision: 7,
            block_ids: vec!["0195e3b2-aaaa-7bbb-8ccc-000000000001".into()],
        };
        let raw = encode(&deny, 1_767_225_600_000);
        assert_eq!(
            raw,
            r#"[0,7,1767225600000,["0195e3b2-aaaa-7bbb-8ccc-000000000001"]]"#
        );
        assert_eq!(decode(&raw), Some((deny, 1_767_225_600_000)));
        assert_eq!(
            encode(&Decision::permit(3), 5),
            "[1,3,5,[]]",
            "a permit is a dozen bytes"
        );
    }

    #[test]
    fn anything_malformed_is_no_decision() {
        for raw in [
            "",
            "[]",
            "[2,1,1,[]]",
            "[1,\"1\",1,[]]",
            "[1,1,1,[1]]",
            "{\"permit\":true}",
        ] {
            assert_eq!(decode(raw), None, "{raw}");
        }
    }
}
