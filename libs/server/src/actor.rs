//! The audit-log view of a caller: who, for which organisation, on what basis.

use pmd_auth::{Principal, PrincipalKind};
use pmd_proto::common::v1::{self as pb, ActorKind};

/// The caller as an audit `Actor` (identifiers from the verified token only).
pub fn actor(principal: &Principal) -> pb::Actor {
    let mut actor = pb::Actor {
        client_id: principal.client_id.clone().unwrap_or_default(),
        token_id: principal.jti.clone().unwrap_or_default(),
        ..pb::Actor::default()
    };
    match &principal.kind {
        PrincipalKind::Personnel {
            hpr,
            name,
            org_parent,
            org_child,
            ..
        } => {
            actor.kind = ActorKind::Personnel as i32;
            actor.hpr_number = hpr.clone();
            actor.name = name.clone().unwrap_or_default();
            actor.org_parent = org_parent.clone();
            actor.org_child = org_child.clone().unwrap_or_default();
        }
        PrincipalKind::Citizen { pid, .. } => {
            actor.kind = ActorKind::Citizen as i32;
            actor.pid = pid.clone();
        }
        PrincipalKind::System {
            org_parent,
            org_child,
        } => {
            actor.kind = ActorKind::System as i32;
            actor.org_parent = org_parent.clone();
            actor.org_child = org_child.clone().unwrap_or_default();
        }
        PrincipalKind::Statistics {
            org_parent,
            org_child,
        } => {
            actor.kind = ActorKind::Statistics as i32;
            actor.org_parent = org_parent.clone().unwrap_or_default();
            actor.org_child = org_child.clone().unwrap_or_default();
        }
        PrincipalKind::Service => actor.kind = ActorKind::Service as i32,
    }
    actor
}

/// The basis for access the token carries (health personnel), for the audit log.
pub fn purpose(principal: &Principal) -> Option<pb::Purpose> {
    let attestation = principal.attestation()?;
    Some(pb::Purpose {
        purpose_of_use: attestation.purpose.code().to_owned(),
        purpose_of_use_details: attestation
            .purpose_of_use_details
            .as_ref()
            .map(|c| pb::Coding {
                system: c.system.clone().unwrap_or_default(),
                code: c.code.clone(),
                display: c.text.clone().unwrap_or_default(),
            }),
        decision_ref_id: attestation
            .decision_ref
            .as_ref()
            .map(|d| d.id.clone())
            .unwrap_or_default(),
        decision_ref_user_selected: attestation
            .decision_ref
            .as_ref()
            .is_some_and(|d| d.user_selected),
        healthcare_service: attestation
            .healthcare_service
            .as_ref()
            .map(|c| c.code.clone())
            .unwrap_or_default(),
    })
}
