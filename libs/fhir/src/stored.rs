//! A stored measurement (the services' message) as the Observation readers get.

use chrono::DateTime;
use pmd_proto::common::v1 as common;
use pmd_proto::storage::v1::{self as storage, MeasurementStatus};
use serde_json::Value;

use crate::{Quantity, RenderComponent, RenderInput, render_observation_owned};

/// A stored measurement as the Observation the source sent, with the canonical quantity
/// (the received one in the `received-quantity` extension), `id` and `meta`.
pub fn observation(m: &storage::Measurement) -> Value {
    let original: Value = serde_json::from_slice(&m.resource_json).unwrap_or(Value::Null);
    let value = match (&m.value, &m.received_quantity) {
        (Some(storage::measurement::Value::Quantity(canonical)), Some(received)) => {
            Some((quantity(canonical), quantity(received)))
        }
        _ => None,
    };
    let components = m
        .components
        .iter()
        .filter_map(|c| {
            Some(RenderComponent {
                code: c.code.clone(),
                canonical: quantity(c.quantity.as_ref()?),
                received: quantity(c.received_quantity.as_ref()?),
            })
        })
        .collect();
    let status = MeasurementStatus::try_from(m.status)
        .ok()
        .and_then(|s| match s {
            MeasurementStatus::Amended => Some("amended"),
            MeasurementStatus::Corrected => Some("corrected"),
            _ => None,
        });
    let input = RenderInput {
        id: &m.id,
        version_id: m.version.max(1),
        last_updated: DateTime::from_timestamp_micros(m.last_updated_unix_micros)
            .unwrap_or_default(),
        status_override: status,
        value,
        components,
    };
    render_observation_owned(original, &input)
}

/// [`observation`] serialised: what storage keeps beside the measurement and serves.
pub fn observation_json(m: &storage::Measurement) -> Vec<u8> {
    serde_json::to_vec(&observation(m)).unwrap_or_default()
}

fn quantity(q: &common::Quantity) -> Quantity {
    Quantity::new(q.value, q.unit.clone())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn measurement() -> storage::Measurement {
        storage::Measurement {
            id: "0190f0e2-0000-7000-8000-000000000001".into(),
            version: 2,
            last_updated_unix_micros: 1_700_000_000_000_000,
            status: MeasurementStatus::Corrected as i32,
            value: Some(storage::measurement::Value::Quantity(common::Quantity {
                value: 37.0,
                unit: "Cel".into(),
            })),
            received_quantity: Some(common::Quantity {
                value: 98.6,
                unit: "[degF]".into(),
            }),
            resource_json: serde_json::to_vec(&json!({
                "resourceType": "Observation",
                "status": "final",
                "valueQuantity": {"value": 98.6, "unit": "°F", "system": "http://unitsofmeasure.org", "code": "[degF]"},
                "note": [{"text": "kept"}]
            }))
            .unwrap(),
            ..storage::Measurement::default()
        }
    }

    #[test]
    fn renders_the_canonical_quantity_id_meta_and_status_and_keeps_the_rest() {
        let json: Value = serde_json::from_slice(&observation_json(&measurement())).unwrap();
        assert_eq!(json["id"], "0190f0e2-0000-7000-8000-000000000001");
        assert_eq!(json["meta"]["versionId"], "2");
        assert_eq!(json["status"], "corrected");
        assert_eq!(json["valueQuantity"]["code"], "Cel");
        assert_eq!(json["valueQuantity"]["value"], 37);
        assert_eq!(
            json["valueQuantity"]["extension"][0]["valueQuantity"]["code"],
            "[degF]"
        );
        assert_eq!(json["note"][0]["text"], "kept");
    }

    #[test]
    fn unreadable_stored_json_still_renders_an_observation_with_its_id() {
        let mut m = measurement();
        m.resource_json = b"not json".to_vec();
        let json = observation(&m);
        assert_eq!(json["resourceType"], "Observation");
        assert_eq!(json["id"], "0190f0e2-0000-7000-8000-000000000001");
    }
}
