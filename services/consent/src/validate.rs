//! Checking requests: every problem names its field; no message echoes a national id.

use pmd_consent_cache::ActorKey;
use pmd_domain::ident::{HprNumber, IdError, IdPolicy, NationalId, OrgNumber};
use pmd_error::{ErrorCode, Issue, ServiceError};
use pmd_proto::common::v1 as common;
use pmd_proto::consent::v1::{self as pb, block_target};

use crate::store::Target;

/// Longest accepted `policy_text`.
const MAX_POLICY_TEXT: usize = 1000;
/// Longest accepted identifier in a `Check` actor.
const MAX_ACTOR_FIELD: usize = 64;

fn invalid(code: &str, field: &str, message: String) -> ServiceError {
    ServiceError::with_issues(
        ErrorCode::BadRequest,
        message.clone(),
        vec![Issue::error(code, message).at(field)],
    )
}

/// The patient's national id (`system` may be empty: a bare id of any kind).
pub(crate) fn patient(
    patient: Option<&common::Identifier>,
    policy: &IdPolicy,
) -> Result<NationalId, ServiceError> {
    let Some(patient) = patient.filter(|p| !p.value.trim().is_empty()) else {
        return Err(invalid(
            "required",
            "patient.value",
            "patient.value is required".into(),
        ));
    };
    let parsed = if patient.system.trim().is_empty() {
        NationalId::parse(patient.value.trim(), policy)
    } else {
        NationalId::parse_with_system(patient.system.trim(), patient.value.trim(), policy)
    };
    parsed.map_err(|error| {
        let field = match error {
            IdError::UnknownSystem | IdError::SystemMismatch { .. } => "patient.system",
            _ => "patient.value",
        };
        invalid("value", field, format!("{field}: {error}"))
    })
}

/// The target of a new block.
pub(crate) fn target(target: Option<&pb::BlockTarget>) -> Result<Target, ServiceError> {
    match target.and_then(|t| t.target.as_ref()) {
        None => Err(invalid(
            "required",
            "target",
            "target is required: an hpr_number or an org_number".into(),
        )),
        Some(block_target::Target::HprNumber(hpr)) => HprNumber::parse(hpr.trim())
            .map(|hpr| Target::Hpr(hpr.as_str().to_owned()))
            .map_err(|e| {
                invalid(
                    "value",
                    "target.hpr_number",
                    format!("target.hpr_number: {e}"),
                )
            }),
        Some(block_target::Target::OrgNumber(org)) => OrgNumber::parse(org.trim())
            .map(|org| Target::Org(org.as_str().to_owned()))
            .map_err(|e| {
                invalid(
                    "value",
                    "target.org_number",
                    format!("target.org_number: {e}"),
                )
            }),
    }
}

/// An optional end of a block, which must lie in the future.
pub(crate) fn valid_until(valid_until: Option<i64>, now: i64) -> Result<Option<i64>, ServiceError> {
    match valid_until {
        Some(until) if until <= now => Err(invalid(
            "value",
            "valid_until_unix_micros",
            "valid_until_unix_micros must be in the future".into(),
        )),
        other => Ok(other),
    }
}

pub(crate) fn policy_text(text: &str) -> Result<String, ServiceError> {
    let text = text.trim();
    if text.chars().count() > MAX_POLICY_TEXT {
        return Err(invalid(
            "value",
            "policy_text",
            format!("policy_text must be at most {MAX_POLICY_TEXT} characters"),
        ));
    }
    Ok(text.to_owned())
}

/// The party a `Check` decides for. The fields are taken as the verified token gave them
/// (the cache key must be the one storage computes from the same token).
pub(crate) fn check_actor(actor: Option<&common::Actor>) -> Result<ActorKey, ServiceError> {
    let Some(actor) = actor else {
        return Err(invalid("required", "actor", "actor is required".into()));
    };
    for (field, value) in [
        ("actor.hpr_number", &actor.hpr_number),
        ("actor.org_parent", &actor.org_parent),
        ("actor.org_child", &actor.org_child),
    ] {
        if value.chars().count() > MAX_ACTOR_FIELD {
            return Err(invalid(
                "value",
                field,
                format!("{field} must be at most {MAX_ACTOR_FIELD} characters"),
            ));
        }
    }
    if actor.hpr_number.is_empty() && actor.org_parent.is_empty() {
        return Err(invalid(
            "required",
            "actor.hpr_number",
            "actor.hpr_number or actor.org_parent is required".into(),
        ));
    }
    Ok(ActorKey::new(
        actor.hpr_number.clone(),
        actor.org_parent.clone(),
        Some(actor.org_child.clone()),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const FNR: &str = "13116900216";

    fn id(system: &str, value: &str) -> common::Identifier {
        common::Identifier {
            system: system.into(),
            value: value.into(),
        }
    }

    #[test]
    fn a_bad_patient_is_named_without_echoing_it() {
        let policy = IdPolicy::production();
        let error = patient(Some(&id("", "13116900217")), &policy).unwrap_err();
        assert_eq!(error.issues[0].expression.as_deref(), Some("patient.value"));
        assert!(!error.message.contains("1311690021"), "{}", error.message);
        let error = patient(Some(&id("urn:oid:9.9", FNR)), &policy).unwrap_err();
        assert_eq!(
            error.issues[0].expression.as_deref(),
            Some("patient.system")
        );
        let error = patient(None, &policy).unwrap_err();
        assert_eq!(error.issues[0].code, "required");
        assert!(patient(Some(&id("urn:oid:2.16.578.1.12.4.1.4.1", FNR)), &policy).is_ok());
    }

    #[test]
    fn targets_are_validated_by_kind() {
        let hpr = |s: &str| pb::BlockTarget {
            target: Some(block_target::Target::HprNumber(s.into())),
        };
        let org = |s: &str| pb::BlockTarget {
            target: Some(block_target::Target::OrgNumber(s.into())),
        };
        assert_eq!(
            target(Some(&hpr("9144900"))).unwrap(),
            Target::Hpr("9144900".into())
        );
        let error = target(Some(&hpr("1234567890"))).unwrap_err();
        assert_eq!(
            error.issues[0].expression.as_deref(),
            Some("target.hpr_number")
        );
        assert!(
            error.message.starts_with("target.hpr_number: hpr number"),
            "{}",
            error.message
        );
        assert_eq!(
            target(Some(&org("974589095"))).unwrap(),
            Target::Org("974589095".into())
        );
        let error = target(Some(&org("974589096"))).unwrap_err();
        assert_eq!(
            error.issues[0].expression.as_deref(),
            Some("target.org_number")
        );
        assert_eq!(
            target(None).unwrap_err().issues[0].expression.as_deref(),
            Some("target")
        );
    }

    #[test]
    fn a_check_needs_an_hpr_number_or_an_organisation() {
        assert!(check_actor(Some(&common::Actor::default())).is_err());
        let key = check_actor(Some(&common::Actor {
            hpr_number: "9144900".into(),
            org_parent: "974589095".into(),
            ..common::Actor::default()
        }))
        .unwrap();
        assert_eq!(key.org_child, None);
    }
}
