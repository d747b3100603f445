//! Small FHIR datatypes and JSON conversions shared by the other modules.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::UCUM;

/// A FHIR `Coding` as sent: every field optional, only string fields kept.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Coding {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl Coding {
    /// The coding a JSON element holds; `None` when the element is not an object. Fields
    /// that are not strings are dropped.
    pub fn from_json(value: &Value) -> Option<Self> {
        let object = value.as_object()?;
        let field = |name: &str| object.get(name).and_then(Value::as_str).map(str::to_owned);
        Some(Self {
            system: field("system"),
            code: field("code"),
            display: field("display"),
        })
    }

    /// The coding as a FHIR JSON element (absent fields left out).
    pub fn to_json(&self) -> Value {
        let mut object = serde_json::Map::new();
        for (name, field) in [
            ("system", &self.system),
            ("code", &self.code),
            ("display", &self.display),
        ] {
            if let Some(text) = field {
                object.insert(name.to_owned(), Value::String(text.clone()));
            }
        }
        Value::Object(object)
    }
}

/// Every coding of a `CodeableConcept` (`concept.coding[]`), in order; elements that are
/// not objects are skipped. Anything that is not a concept with a coding array gives none.
pub fn codings(concept: &Value) -> Vec<Coding> {
    concept
        .get("coding")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Coding::from_json).collect())
        .unwrap_or_default()
}

/// A value with its UCUM unit code: canonical (`72 /min`) or as received (`98.6 [degF]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantity {
    pub value: f64,
    /// The UCUM code (for a received quantity, exactly as sent).
    pub unit: String,
}

impl Quantity {
    pub fn new(value: f64, unit: impl Into<String>) -> Self {
        Self {
            value,
            unit: unit.into(),
        }
    }

    /// As a FHIR `Quantity` element: `value`, `unit` (the UCUM code as display), UCUM
    /// `system` and `code`.
    pub fn to_json(&self) -> Value {
        json!({
            "value": decimal(self.value),
            "unit": self.unit,
            "system": UCUM,
            "code": self.unit,
        })
    }
}

impl From<pmd_domain::Quantity> for Quantity {
    fn from(quantity: pmd_domain::Quantity) -> Self {
        Self::new(quantity.value, quantity.unit)
    }
}

/// A FHIR `decimal` as a JSON number: whole values as integers (`72`, not `72.0`),
/// others as they are. A value JSON cannot hold (NaN, infinity) becomes `null`.
pub fn decimal(value: f64) -> Value {
    // Whole numbers below 2^53 convert to i64 exactly.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if value.is_finite() && value.fract() == 0.0 && value.abs() < EXACT {
        return Value::from(value as i64);
    }
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}

/// A FHIR `instant` in UTC with `Z`, fractional seconds only when there are any
/// (`2024-03-05T08:15:00Z`, `2024-03-05T08:15:00.123456Z`).
pub fn instant(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;

    use super::*;

    #[test]
    fn codings_keep_string_fields_and_skip_odd_elements() {
        let concept = json!({"coding": [
            {"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"},
            "not an object",
            {"code": 42, "system": "http://snomed.info/sct"},
        ]});
        let found = codings(&concept);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].code.as_deref(), Some("8867-4"));
        assert_eq!(found[0].display.as_deref(), Some("Heart rate"));
        assert_eq!(found[1].code, None);
        assert_eq!(found[1].system.as_deref(), Some("http://snomed.info/sct"));
        assert!(codings(&json!({"coding": {}})).is_empty());
        assert!(codings(&json!("text")).is_empty());
    }

    #[test]
    fn coding_round_trips_to_json_without_absent_fields() {
        let coding = Coding {
            system: Some("http://loinc.org".into()),
            code: Some("8867-4".into()),
            display: None,
        };
        assert_eq!(
            coding.to_json(),
            json!({"system": "http://loinc.org", "code": "8867-4"})
        );
        assert_eq!(Coding::from_json(&coding.to_json()), Some(coding));
    }

    #[test]
    fn decimals_print_whole_values_as_integers() {
        assert_eq!(decimal(72.0).to_string(), "72");
        assert_eq!(decimal(-40.0).to_string(), "-40");
        assert_eq!(decimal(36.8).to_string(), "36.8");
        assert_eq!(decimal(68.0388555).to_string(), "68.0388555");
        assert_eq!(decimal(1e300).as_f64(), Some(1e300));
        assert_eq!(decimal(f64::NAN), Value::Null);
    }

    #[test]
    fn quantity_renders_as_a_ucum_quantity() {
        assert_eq!(
            Quantity::new(37.0, "Cel").to_json(),
            json!({"value": 37, "unit": "Cel", "system": UCUM, "code": "Cel"})
        );
        let domain = pmd_domain::Quantity {
            value: 3.5,
            unit: "kg",
        };
        assert_eq!(Quantity::from(domain), Quantity::new(3.5, "kg"));
    }

    #[test]
    fn instants_are_utc_with_z_and_fractions_only_when_present() {
        let whole = Utc.with_ymd_and_hms(2024, 3, 5, 8, 15, 0).unwrap();
        assert_eq!(instant(&whole), "2024-03-05T08:15:00Z");
        let micros = whole + chrono::TimeDelta::microseconds(123_456);
        assert_eq!(instant(&micros), "2024-03-05T08:15:00.123456Z");
    }
}
