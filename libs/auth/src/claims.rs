//! HelseID claims and NHN's trust-framework (`tillitsrammeverk`) attestation, as serde
//! types.
//!
//! Deserialisation is lenient where issuers differ in practice: identifiers may come as
//! strings or numbers, `scope` as a space-separated string or an array, `aud` as a
//! string or an array, `authorization_details` as an array or a single object, and
//! unknown fields are ignored. Serialisation writes the canonical HelseID form
//! (identifiers and security level as strings, `scope` space-separated).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Claim names as HelseID spells them.
pub mod names {
    pub const PID: &str = "helseid://claims/identity/pid";
    pub const HPR_NUMBER: &str = "helseid://claims/hpr/hpr_number";
    pub const SECURITY_LEVEL: &str = "helseid://claims/identity/security_level";
    pub const ORGNR_PARENT: &str = "helseid://claims/client/claims/orgnr_parent";
    pub const ORGNR_CHILD: &str = "helseid://claims/client/claims/orgnr_child";
    pub const NAME: &str = "name";
    pub const SCOPE: &str = "scope";
    pub const JTI: &str = "jti";
    pub const CLIENT_ID: &str = "client_id";
    pub const AUTHORIZATION_DETAILS: &str = "authorization_details";
}

/// `type` of the `authorization_details` element carrying NHN's trust-framework
/// attestation.
pub const TRUST_FRAMEWORK_TYPE: &str = "nhn:tillitsrammeverk:parameters";

/// Code systems used in the trust-framework attestation.
pub mod systems {
    /// HL7 v3 PurposeOfUse (TREAT, ETREAT, COC, BTG).
    pub const PURPOSE_OF_USE: &str = "urn:oid:2.16.840.1.113883.1.11.20448";
    /// Volven 9151, purpose of use details ("15" = Helsetjenester i hjemmet).
    pub const PURPOSE_OF_USE_DETAILS: &str = "urn:oid:2.16.578.1.12.4.1.1.9151";
    /// Volven 8655, healthcare services.
    pub const HEALTHCARE_SERVICE: &str = "urn:oid:2.16.578.1.12.4.1.1.8655";
    /// Volven 9060, health personnel authorisation categories.
    pub const AUTHORIZATION: &str = "urn:oid:2.16.578.1.12.4.1.1.9060";
    /// Norwegian organisation numbers (Enhetsregisteret).
    pub const ORGANIZATION_NUMBER: &str = "urn:oid:2.16.578.1.12.4.1.4.101";
}

/// The claims of an access token this service reads.
///
/// `Debug` leaves out the national id and the name.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::string_or_seq",
        serialize_with = "ser::one_or_many"
    )]
    pub aud: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::numeric_date"
    )]
    pub exp: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::numeric_date"
    )]
    pub nbf: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::numeric_date"
    )]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::scopes",
        serialize_with = "ser::space_separated"
    )]
    pub scope: Vec<String>,
    #[serde(
        rename = "helseid://claims/identity/pid",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_identifier"
    )]
    pub pid: Option<String>,
    #[serde(
        rename = "helseid://claims/hpr/hpr_number",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_identifier"
    )]
    pub hpr_number: Option<String>,
    #[serde(
        rename = "helseid://claims/identity/security_level",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_identifier"
    )]
    pub security_level: Option<String>,
    #[serde(
        rename = "helseid://claims/client/claims/orgnr_parent",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_identifier"
    )]
    pub orgnr_parent: Option<String>,
    #[serde(
        rename = "helseid://claims/client/claims/orgnr_child",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_identifier"
    )]
    pub orgnr_child: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Every element as sent; [`Claims::trust_framework`] picks and parses NHN's.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::object_or_seq"
    )]
    pub authorization_details: Vec<Value>,
}

impl Claims {
    /// The `nhn:tillitsrammeverk:parameters` element of `authorization_details`:
    /// `None` when absent, `Some(Err)` when present but not of the expected shape.
    pub fn trust_framework(&self) -> Option<Result<TrustFramework, serde_json::Error>> {
        self.authorization_details
            .iter()
            .find(|d| d.get("type").and_then(Value::as_str) == Some(TRUST_FRAMEWORK_TYPE))
            .map(|d| serde_json::from_value(d.clone()))
    }

    /// The security level as a number; `None` when absent, `Some(Err(()))` when it is
    /// not a small integer.
    pub fn security_level(&self) -> Option<Result<u8, ()>> {
        self.security_level
            .as_deref()
            .map(|s| s.trim().parse::<u8>().map_err(|_| ()))
    }
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("iss", &self.iss)
            .field("aud", &self.aud)
            .field("exp", &self.exp)
            .field("nbf", &self.nbf)
            .field("iat", &self.iat)
            .field("jti", &self.jti)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("pid", &self.pid.as_ref().map(|_| "[redacted]"))
            .field("hpr_number", &self.hpr_number)
            .field("security_level", &self.security_level)
            .field("orgnr_parent", &self.orgnr_parent)
            .field("orgnr_child", &self.orgnr_child)
            .field("name", &self.name.as_ref().map(|_| "[redacted]"))
            .field("authorization_details", &self.authorization_details.len())
            .finish_non_exhaustive()
    }
}

/// NHN's trust-framework attestation (`type = nhn:tillitsrammeverk:parameters`): the
/// basis for access the EHR vouches for.
///
/// `Debug` shows how many `patients` entries there are, not their content.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrustFramework {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub practitioner: Option<Practitioner>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub care_relationship: Option<CareRelationship>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patients: Option<Vec<Value>>,
}

impl fmt::Debug for TrustFramework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustFramework")
            .field("kind", &self.kind)
            .field("practitioner", &self.practitioner)
            .field("care_relationship", &self.care_relationship)
            .field("patients", &self.patients.as_ref().map(Vec::len))
            .finish()
    }
}

/// `practitioner`: who acts and for which organisation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Practitioner {
    /// Health personnel authorisation category (Volven 9060), e.g. `LE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Coding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_entity: Option<Party>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point_of_care: Option<Party>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<Party>,
}

/// An organisation (or department) by identifier, with its registry and name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    #[serde(deserialize_with = "de::identifier")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A code from a code system.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coding {
    #[serde(deserialize_with = "de::identifier")]
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl Coding {
    pub fn new(code: impl Into<String>, system: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            system: Some(system.into()),
            text: None,
        }
    }

    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }
}

/// `care_relationship`: why the practitioner needs the data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CareRelationship {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcare_service: Option<Coding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose_of_use: Option<Coding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose_of_use_details: Option<Coding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_ref: Option<DecisionRef>,
}

/// `decision_ref`: the EHR's reference to the access decision it made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRef {
    #[serde(deserialize_with = "de::identifier")]
    pub id: String,
    #[serde(default, deserialize_with = "de::lenient_bool")]
    pub user_selected: bool,
}

mod ser {
    use super::*;

    pub(super) fn one_or_many<S: Serializer>(v: &[String], s: S) -> Result<S::Ok, S::Error> {
        match v {
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }

    pub(super) fn space_separated<S: Serializer>(v: &[String], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.join(" "))
    }
}

mod de {
    use serde::de::Error;

    use super::*;

    fn value_to_identifier<E: Error>(v: Value) -> Result<Option<String>, E> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            Value::Number(n) if n.is_u64() || n.is_i64() => Ok(Some(n.to_string())),
            _ => Err(E::custom("expected a string or an integer")),
        }
    }

    /// A string, or an integer taken as its decimal string.
    pub(super) fn identifier<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        value_to_identifier(Value::deserialize(d)?)?
            .ok_or_else(|| D::Error::custom("expected a string or an integer"))
    }

    pub(super) fn opt_identifier<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<String>, D::Error> {
        value_to_identifier(Value::deserialize(d)?)
    }

    pub(super) fn string_or_seq<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(match Option::<OneOrMany>::deserialize(d)? {
            None => Vec::new(),
            Some(OneOrMany::One(s)) => vec![s],
            Some(OneOrMany::Many(v)) => v,
        })
    }

    /// `"a b c"` or `["a", "b c"]`, split on whitespace either way.
    pub(super) fn scopes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        Ok(string_or_seq(d)?
            .iter()
            .flat_map(|s| s.split_whitespace())
            .map(str::to_owned)
            .collect())
    }

    pub(super) fn object_or_seq<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Value>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Null => Vec::new(),
            Value::Array(items) => items,
            Value::Object(o) => vec![Value::Object(o)],
            _ => return Err(D::Error::custom("expected an array or an object")),
        })
    }

    /// A JSON NumericDate: integer or (rounded down) fractional seconds.
    pub(super) fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Ok(Some(i))
                } else {
                    n.as_f64()
                        .filter(|f| f.is_finite() && f.abs() < 1e15)
                        .map(|f| Some(f.floor() as i64))
                        .ok_or_else(|| D::Error::custom("expected seconds since the epoch"))
                }
            }
            _ => Err(D::Error::custom("expected seconds since the epoch")),
        }
    }

    pub(super) fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(false),
            Value::Bool(b) => Ok(b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
            _ => Err(D::Error::custom("expected a boolean")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn lenient_forms_are_accepted() {
        let claims: Claims = serde_json::from_value(json!({
            "aud": ["pmd", "other"],
            "scope": ["pmd:read openid", "profile"],
            "exp": 1_700_000_000.7,
            names::HPR_NUMBER: 9144900,
            names::SECURITY_LEVEL: 4,
            names::ORGNR_PARENT: "974589095",
            "authorization_details": {"type": TRUST_FRAMEWORK_TYPE, "unknown": 1},
            "something_else": true
        }))
        .unwrap();
        assert_eq!(claims.aud, ["pmd", "other"]);
        assert_eq!(claims.scope, ["pmd:read", "openid", "profile"]);
        assert_eq!(claims.exp, Some(1_700_000_000));
        assert_eq!(claims.hpr_number.as_deref(), Some("9144900"));
        assert_eq!(claims.security_level(), Some(Ok(4)));
        assert_eq!(claims.orgnr_parent.as_deref(), Some("974589095"));
        let tf = claims.trust_framework().unwrap().unwrap();
        assert_eq!(tf.kind, TRUST_FRAMEWORK_TYPE);
    }

    #[test]
    fn canonical_form_is_written() {
        let claims = Claims {
            aud: vec!["pmd".into()],
            scope: vec!["pmd:read".into(), "openid".into()],
            security_level: Some("4".into()),
            ..Claims::default()
        };
        let v = serde_json::to_value(&claims).unwrap();
        assert_eq!(v["aud"], json!("pmd"));
        assert_eq!(v["scope"], json!("pmd:read openid"));
        assert_eq!(v[names::SECURITY_LEVEL], json!("4"));
        assert!(v.get(names::PID).is_none());
    }

    #[test]
    fn debug_redacts_pid_and_name() {
        let claims = Claims {
            pid: Some("13116900216".into()),
            name: Some("Kari Nordmann".into()),
            ..Claims::default()
        };
        let text = format!("{claims:?}");
        assert!(!text.contains("13116900216"));
        assert!(!text.contains("Nordmann"));
    }
}
