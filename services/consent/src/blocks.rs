//! CreateBlock, RevokeBlock, ListBlocks.
//!
//! A block change is acknowledged only after, in this order:
//! 1. the block and the patient's bumped revision are committed (one transaction, together
//!    with a pending-invalidation record and the audit event in the outbox);
//! 2. the cache is invalidated to that revision (no cached permit for the patient can be
//!    served any more); on failure the caller gets UNAVAILABLE and the background task keeps
//!    retrying until it succeeds;
//! 3. the audit event is committed by `audit`.
//!
//! A retry of an unacknowledged create finds the same active block and completes steps 2
//! and 3 for it.

use pmd_auth::{Principal, PrincipalKind, Scope};
use pmd_domain::ident::{IdPolicy, NationalId, oid};
use pmd_error::ServiceError;
use pmd_proto::audit::v1::Action;
use pmd_proto::common::v1 as common;
use pmd_proto::consent::v1::{self as pb, block_target};
use prost::Message;

use crate::store::{BlockRow, Target};
use crate::{State, audit, db_error, now_micros, validate};

/// Who manages blocks: the citizen for themselves, or a PMD service (Helsenorge's back end)
/// acting for them.
enum Caller<'a> {
    Citizen(&'a str),
    Internal,
}

impl Caller<'_> {
    fn of<'a>(principal: &'a Principal, what: &str) -> Result<Caller<'a>, ServiceError> {
        if principal.has_scope(Scope::Internal) {
            return Ok(Caller::Internal);
        }
        match &principal.kind {
            PrincipalKind::Citizen { pid, .. } if principal.has_scope(Scope::Citizen) => {
                Ok(Caller::Citizen(pid))
            }
            _ => Err(ServiceError::forbidden(format!(
                "{what} needs a citizen token or scope pmd:internal"
            ))),
        }
    }

    fn acts_for(&self, patient: &str) -> bool {
        match self {
            Caller::Citizen(pid) => *pid == patient,
            Caller::Internal => true,
        }
    }
}

/// The identifier of a stored patient id, with its canonical system.
pub(crate) fn patient_identifier(patient_id: &str) -> common::Identifier {
    let lenient = IdPolicy {
        allow_synthetic: true,
        rule_2032: true,
    };
    let system = NationalId::parse(patient_id, &lenient)
        .ok()
        .and_then(|id| id.system_uri())
        .unwrap_or(oid::FODSELSNUMMER);
    common::Identifier {
        system: system.to_owned(),
        value: patient_id.to_owned(),
    }
}

pub(crate) fn to_proto(row: &BlockRow) -> pb::Block {
    let target = match &row.target {
        Target::Hpr(hpr) => block_target::Target::HprNumber(hpr.clone()),
        Target::Org(org) => block_target::Target::OrgNumber(org.clone()),
    };
    pb::Block {
        id: row.id.clone(),
        patient: Some(patient_identifier(&row.patient_id)),
        target: Some(pb::BlockTarget {
            target: Some(target),
        }),
        created_unix_micros: row.created_at,
        created_by: common::Actor::decode(row.created_by.as_slice()).ok(),
        revoked_unix_micros: row.revoked_at,
        revoked_by: row
            .revoked_by
            .as_deref()
            .and_then(|b| common::Actor::decode(b).ok()),
        valid_until_unix_micros: row.valid_until,
        target_display: row.target_display.clone(),
        policy_text: row.policy_text.clone(),
    }
}

pub(crate) async fn create(
    state: &State,
    principal: &Principal,
    request: pb::CreateBlockRequest,
) -> Result<pb::Block, ServiceError> {
    let caller = Caller::of(principal, "creating a block")?;
    let patient = validate::patient(request.patient.as_ref(), &state.id_policy)?;
    if !caller.acts_for(patient.expose_secret()) {
        return Err(ServiceError::forbidden(
            "a citizen can create blocks only for themselves",
        ));
    }
    let target = validate::target(request.target.as_ref())?;
    let now = now_micros();
    let valid_until = validate::valid_until(request.valid_until_unix_micros, now)?;
    let policy_text = validate::policy_text(&request.policy_text)?;
    let target_display = state
        .store
        .known_name(target.kind(), target.value())
        .await
        .map_err(db_error)?
        .unwrap_or_default();
    let actor = pmd_server::actor(principal);
    let block = BlockRow {
        id: uuid::Uuid::now_v7().to_string(),
        patient_id: patient.expose_secret().to_owned(),
        target,
        created_at: now,
        created_by: actor.encode_to_vec(),
        revoked_at: None,
        revoked_by: None,
        valid_until,
        policy_text,
        target_display,
    };
    let event = audit::event(
        Action::Block,
        actor,
        pmd_server::purpose(principal),
        patient_identifier(&block.patient_id),
        vec![block.id.clone()],
        now,
    );
    let (changed, existing) = state
        .store
        .create_block(&block, &audit::outbox(&event))
        .await
        .map_err(db_error)?;
    tracing::info!(
        block_id = %changed.block.id,
        target_kind = changed.block.target.kind(),
        existing,
        "block recorded"
    );
    complete(state, &changed.block, changed.revision).await?;
    Ok(to_proto(&changed.block))
}

pub(crate) async fn revoke(
    state: &State,
    principal: &Principal,
    request: pb::RevokeBlockRequest,
) -> Result<pb::Block, ServiceError> {
    let caller = Caller::of(principal, "revoking a block")?;
    // The same answer whether the block is unknown or another patient's.
    let not_found = || ServiceError::not_found("block not found");
    let id = uuid::Uuid::parse_str(request.block_id.trim()).map_err(|_| not_found())?;
    let block = state
        .store
        .find_block(&id.hyphenated().to_string())
        .await
        .map_err(db_error)?
        .ok_or_else(not_found)?;
    if !caller.acts_for(&block.patient_id) {
        return Err(not_found());
    }
    let now = now_micros();
    let actor = pmd_server::actor(principal);
    let event = audit::event(
        Action::Unblock,
        actor.clone(),
        pmd_server::purpose(principal),
        patient_identifier(&block.patient_id),
        vec![block.id.clone()],
        now,
    );
    let (changed, already) = state
        .store
        .revoke_block(&block, now, actor.encode_to_vec(), &audit::outbox(&event))
        .await
        .map_err(db_error)?;
    tracing::info!(block_id = %changed.block.id, already, "block revoked");
    complete(state, &changed.block, changed.revision).await?;
    Ok(to_proto(&changed.block))
}

pub(crate) async fn list(
    state: &State,
    principal: &Principal,
    request: pb::ListBlocksRequest,
) -> Result<pb::ListBlocksResponse, ServiceError> {
    let caller = Caller::of(principal, "listing blocks")?;
    let patient = validate::patient(request.patient.as_ref(), &state.id_policy)?;
    if !caller.acts_for(patient.expose_secret()) {
        return Err(ServiceError::forbidden(
            "a citizen can list only their own blocks",
        ));
    }
    let rows = state
        .store
        .list_blocks(patient.expose_secret(), request.include_revoked)
        .await
        .map_err(db_error)?;
    let blocks: Vec<pb::Block> = rows.iter().map(to_proto).collect();
    // Reading the blocks is itself recorded before they leave.
    let event = audit::event(
        Action::ConsentRead,
        pmd_server::actor(principal),
        pmd_server::purpose(principal),
        patient_identifier(patient.expose_secret()),
        blocks.iter().map(|b| b.id.clone()).collect(),
        now_micros(),
    );
    audit::record(state, vec![event]).await?;
    Ok(pb::ListBlocksResponse { blocks })
}

/// Steps 2 and 3 of a block change (see the module docs).
async fn complete(state: &State, block: &BlockRow, revision: i64) -> Result<(), ServiceError> {
    if let Err(error) = state
        .cache
        .invalidate_patient(&block.patient_id, revision)
        .await
    {
        tracing::warn!(
            block_id = %block.id,
            %error,
            "block committed but the decision cache is not invalidated yet; retrying in the background"
        );
        state.repair_wake.notify_one();
        return Err(ServiceError::unavailable(
            "the block change is recorded but not yet in effect everywhere; it will be shortly, retry to confirm",
        ));
    }
    if let Err(error) = state.store.invalidated(&block.patient_id, revision).await {
        // The background task invalidates again (harmless) and then forgets the record.
        tracing::warn!(
            kind = crate::db_error_kind(&error),
            "pending invalidation not cleared"
        );
    }
    let events = state
        .store
        .outbox_of_block(&block.id)
        .await
        .map_err(db_error)?;
    audit::deliver(state, events)
        .await
        .inspect_err(|_| state.repair_wake.notify_one())?;
    Ok(())
}
