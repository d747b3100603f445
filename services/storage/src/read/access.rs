//! Who may read a patient's measurements, and the two promises every read keeps here, where
//! the data is held: the consent decision (cache, else `consent.Check`; unknown → refuse) and
//! the audit record committed before any row leaves (audit unreachable → no data).

use pmd_auth::{Principal, PrincipalKind, Scope};
use pmd_consent_cache::{ActorKey, DecisionCache};
use pmd_error::{ErrorCode, ServiceError};
use pmd_proto::audit::v1::audit_service_client::AuditServiceClient;
use pmd_proto::audit::v1::{self as audit, Action, Outcome};
use pmd_proto::common::v1 as common;
use pmd_proto::consent::v1::consent_service_client::ConsentServiceClient;
use pmd_proto::consent::v1::{CheckRequest, Decision};
use pmd_server::{Channel, ServiceCredentials};

/// Everything a read needs besides the database.
#[derive(Clone)]
pub struct Gate {
    pub cache: DecisionCache,
    pub consent: ConsentServiceClient<Channel>,
    pub audit: AuditServiceClient<Channel>,
    pub credentials: ServiceCredentials,
}

/// Why a reader is let in.
pub enum Reader {
    /// Health personnel with a valid attestation: subject to the citizen's blocks.
    Personnel(ActorKey),
    /// The citizen reading their own data.
    Citizen,
}

/// The same refusal whatever exists, so a denied caller learns nothing.
pub fn denied() -> ServiceError {
    ServiceError::forbidden("access to this patient's measurements is denied")
}

/// May `principal` read `patient`'s measurements at all (before consent)?
pub fn reader(principal: &Principal, patient: &common::Identifier) -> Result<Reader, ServiceError> {
    match &principal.kind {
        PrincipalKind::Personnel {
            hpr,
            org_parent,
            org_child,
            security_level,
            attestation,
            ..
        } => {
            if !principal.has_scope(Scope::Read) {
                return Err(ServiceError::forbidden(
                    "reading measurements needs scope pmd:read",
                ));
            }
            if *security_level < 4 {
                return Err(ServiceError::forbidden(
                    "reading patient data needs security level 4",
                ));
            }
            let Some(attestation) = attestation else {
                return Err(ServiceError::forbidden(
                    "reading patient data needs the trust-framework attestation (authorization_details of type nhn:tillitsrammeverk:parameters)",
                ));
            };
            if attestation
                .decision_ref
                .as_ref()
                .is_none_or(|d| d.id.trim().is_empty())
            {
                return Err(ServiceError::forbidden(
                    "the attestation must carry care_relationship.decision_ref.id",
                ));
            }
            Ok(Reader::Personnel(ActorKey {
                hpr: hpr.clone(),
                org_parent: org_parent.clone(),
                org_child: org_child.clone(),
            }))
        }
        PrincipalKind::Citizen { pid, .. } => {
            if principal.has_scope(Scope::Citizen) && *pid == patient.value {
                Ok(Reader::Citizen)
            } else {
                Err(denied())
            }
        }
        PrincipalKind::System { .. } => Err(ServiceError::forbidden(
            "a source system writes measurements; it does not read them",
        )),
        PrincipalKind::Statistics { .. } => Err(ServiceError::forbidden(
            "statistics clients get aggregates, never individual measurements",
        )),
        PrincipalKind::Service => Err(ServiceError::forbidden(
            "a service identity cannot read individual measurements; forward the user's token",
        )),
    }
}

/// The consent decision for a personnel reader.
pub enum Verdict {
    Permit,
    Deny,
    /// Neither the cache nor consent could decide (fail closed, but not a denial).
    Undecided,
}

impl Gate {
    /// Decide from the cache, else ask consent (which decides from its database).
    pub async fn decide(
        &self,
        principal: &Principal,
        patient: &common::Identifier,
        actor: &ActorKey,
    ) -> Verdict {
        let started = std::time::Instant::now();
        match self.cache.get(&patient.value, actor).await {
            Ok(Some(decision)) => {
                metrics::histogram!("pmd_storage_consent_decision_seconds", "source" => "cache")
                    .record(started.elapsed().as_secs_f64());
                return if decision.permit {
                    Verdict::Permit
                } else {
                    Verdict::Deny
                };
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "consent cache unavailable; asking consent"),
        }
        let mut actor_pb = pmd_server::actor(principal);
        actor_pb.pid.clear();
        let request = match self.credentials.request(CheckRequest {
            patient: Some(patient.clone()),
            actor: Some(actor_pb),
        }) {
            Ok(request) => request,
            Err(error) => {
                tracing::error!(%error, "no service credentials to ask consent");
                return Verdict::Undecided;
            }
        };
        let verdict = match self.consent.clone().check(request).await {
            Ok(response) => {
                if response.into_inner().decision == Decision::Permit as i32 {
                    Verdict::Permit
                } else {
                    Verdict::Deny
                }
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), "consent could not decide");
                Verdict::Undecided
            }
        };
        metrics::histogram!("pmd_storage_consent_decision_seconds", "source" => "consent")
            .record(started.elapsed().as_secs_f64());
        verdict
    }

    /// Commit the audit record of this access; only then may data leave.
    pub async fn record(
        &self,
        principal: &Principal,
        patient: Option<&common::Identifier>,
        action: Action,
        outcome: Outcome,
        ids: Vec<String>,
        detail: &str,
    ) -> Result<(), ServiceError> {
        let event = audit::AuditEvent {
            event_id: uuid::Uuid::new_v4().to_string(),
            time_unix_micros: chrono::Utc::now().timestamp_micros(),
            action: action as i32,
            outcome: outcome as i32,
            actor: Some(pmd_server::actor(principal)),
            patient: patient.cloned(),
            purpose: pmd_server::purpose(principal),
            entities: vec![audit::Entity {
                resource_type: "Observation".into(),
                count: ids.len() as i64,
                ids,
                code: String::new(),
            }],
            trace_id: pmd_telemetry::current_trace_id().unwrap_or_default(),
            detail: detail.to_owned(),
            ..audit::AuditEvent::default()
        };
        let request = self.credentials.request(audit::RecordRequest {
            events: vec![event],
        })?;
        self.audit.clone().record(request).await.map_err(|status| {
            tracing::warn!(code = ?status.code(), "audit record failed; no data leaves");
            ServiceError::new(
                ErrorCode::Unavailable,
                "the audit log cannot be written right now, so no data is returned",
            )
        })?;
        Ok(())
    }

    /// Let `principal` read `patient`'s data for `action`, or say why not (the refusal is
    /// audited too). On success the caller must still audit the rows it returns.
    pub async fn admit(
        &self,
        principal: &Principal,
        patient: &common::Identifier,
        action: Action,
    ) -> Result<(), ServiceError> {
        let reader = match reader(principal, patient) {
            Ok(reader) => reader,
            Err(error) => {
                let _ = self
                    .record(
                        principal,
                        Some(patient),
                        action,
                        Outcome::Denied,
                        Vec::new(),
                        "not a reader of this patient",
                    )
                    .await;
                return Err(error);
            }
        };
        let Reader::Personnel(actor) = reader else {
            return Ok(());
        };
        match self.decide(principal, patient, &actor).await {
            Verdict::Permit => Ok(()),
            Verdict::Deny => {
                if let Err(error) = self
                    .record(
                        principal,
                        Some(patient),
                        action,
                        Outcome::Denied,
                        Vec::new(),
                        "blocked by the citizen",
                    )
                    .await
                {
                    tracing::warn!(%error, "a denial could not be audited");
                }
                Err(denied())
            }
            Verdict::Undecided => {
                let _ = self
                    .record(
                        principal,
                        Some(patient),
                        action,
                        Outcome::Undecided,
                        Vec::new(),
                        "consent could not be decided",
                    )
                    .await;
                Err(ServiceError::new(
                    ErrorCode::Unavailable,
                    "access could not be decided right now; retry shortly",
                ))
            }
        }
    }
}
