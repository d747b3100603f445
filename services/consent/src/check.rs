//! Check: the decision for (patient, actor), from the database, written into the cache.
//!
//! The cache write is fenced before the database read and compare-and-set on the revision
//! read, so a decision computed before a block is never written after that block's
//! invalidation (see `pmd-consent-cache`).

use std::collections::HashMap;
use std::sync::Mutex;

use pmd_auth::{Principal, Scope};
use pmd_consent_cache::Decision;
use pmd_error::ServiceError;
use pmd_proto::common::v1 as common;
use pmd_proto::consent::v1::{self as pb};

use crate::{State, db_error, now_micros, validate};

/// How many practitioners' names are remembered as already stored.
const NAMES_REMEMBERED: usize = 10_000;

pub(crate) async fn check(
    state: &State,
    principal: &Principal,
    request: pb::CheckRequest,
) -> Result<pb::CheckResponse, ServiceError> {
    if !principal.has_scope(Scope::Internal) {
        return Err(ServiceError::forbidden(
            "checking consent needs scope pmd:internal",
        ));
    }
    let patient = validate::patient(request.patient.as_ref(), &state.id_policy)?;
    let actor = validate::check_actor(request.actor.as_ref())?;
    let fence = state.cache.fence();
    let (revision, block_ids) = state
        .store
        .decide(
            patient.expose_secret(),
            &actor.hpr,
            &actor.org_parent,
            actor.org_child.as_deref().unwrap_or_default(),
            now_micros(),
        )
        .await
        .map_err(db_error)?;
    let decision = if block_ids.is_empty() {
        Decision::permit(revision)
    } else {
        Decision::deny(revision, block_ids)
    };
    match state
        .cache
        .put_if_current_fenced(&fence, patient.expose_secret(), &actor, &decision)
        .await
    {
        Ok(written) => tracing::debug!(written, revision, "consent decision"),
        // The answer stands without the cache.
        Err(error) => tracing::debug!(%error, "consent decision not cached"),
    }
    if let Some(actor) = request.actor.as_ref() {
        remember_name(state, actor);
    }
    Ok(pb::CheckResponse {
        decision: if decision.permit {
            pb::Decision::Permit
        } else {
            pb::Decision::Deny
        } as i32,
        revision: decision.revision,
        block_ids: decision.block_ids,
    })
}

/// Names already stored, so repeated checks by the same practitioner write nothing.
#[derive(Default)]
pub(crate) struct SeenNames(Mutex<HashMap<String, String>>);

impl SeenNames {
    /// True when `name` is new or changed for `hpr` (and remembers it).
    fn is_news(&self, hpr: &str, name: &str) -> bool {
        let Ok(mut seen) = self.0.lock() else {
            return false;
        };
        if seen.get(hpr).is_some_and(|n| n == name) {
            return false;
        }
        if seen.len() >= NAMES_REMEMBERED {
            seen.clear();
        }
        seen.insert(hpr.to_owned(), name.to_owned());
        true
    }

    fn forget(&self, hpr: &str) {
        if let Ok(mut seen) = self.0.lock() {
            seen.remove(hpr);
        }
    }
}

/// Keep the practitioner's display name for `Block.target_display` (in the background: the
/// decision does not wait for it).
fn remember_name(state: &State, actor: &common::Actor) {
    let name = actor.name.trim();
    if actor.hpr_number.is_empty() || name.is_empty() || name.chars().count() > 200 {
        return;
    }
    if !state.names.is_news(&actor.hpr_number, name) {
        return;
    }
    let state = state.clone();
    let hpr = actor.hpr_number.clone();
    let name = name.to_owned();
    tokio::spawn(async move {
        if let Err(error) = state
            .store
            .record_name("hpr", &hpr, &name, now_micros())
            .await
        {
            state.names.forget(&hpr);
            tracing::debug!(
                kind = crate::db_error_kind(&error),
                "practitioner name not stored"
            );
        }
    });
}
