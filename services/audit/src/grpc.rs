//! The `AuditService` gRPC surface: who may call what, then hand over to the modules that
//! do the work.
//!
//! | call | who |
//! | --- | --- |
//! | `Record`, `Verify`, `Follow` | `pmd:internal` (PMD services acting as themselves) |
//! | `Query` | `pmd:internal`, or the citizen whose national id is the patient asked for |
//!
//! A citizen's `Query` is recorded as an `AUDIT_READ` event of their own log before the page
//! is returned; a refused `Query` naming a patient (another citizen, health personnel) is
//! recorded there as a denied `AUDIT_READ`. Internal callers' queries are not recorded.

use std::pin::Pin;

use pmd_auth::{Principal, PrincipalKind, Scope, principal_from_request};
use pmd_error::ServiceError;
use pmd_proto::audit::v1::{self as pb, Outcome, audit_service_server::AuditService};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::query::Page;
use crate::{State, follow, query, validate, verify};

pub struct Grpc {
    pub(crate) state: State,
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::AuditEvent, Status>> + Send>>;

fn require_internal(principal: &Principal, what: &str) -> Result<(), Status> {
    if principal.has_scope(Scope::Internal) {
        Ok(())
    } else {
        Err(ServiceError::forbidden(format!("{what} needs scope pmd:internal")).into())
    }
}

/// May `principal` read the audit log of the patient whose identifier value is `patient`?
/// The refusal is the same whether or not the patient has events.
fn may_read_log_of(principal: &Principal, patient: Option<&str>) -> bool {
    if principal.has_scope(Scope::Internal) {
        return true;
    }
    match (&principal.kind, patient) {
        (PrincipalKind::Citizen { pid, .. }, Some(patient)) => pid == patient,
        // A citizen without a patient gets the validation error, not a refusal.
        (PrincipalKind::Citizen { .. }, None) => true,
        _ => false,
    }
}

impl Grpc {
    /// Commit an event the audit service writes about its own use (the citizen reading the
    /// log), through the same writer as `Record`.
    async fn record_own(&self, event: pb::AuditEvent) -> Result<(), ServiceError> {
        let events = validate::prepare(vec![event], chrono::Utc::now().timestamp_micros())?;
        self.state.writer.record(events).await?;
        Ok(())
    }
}

#[tonic::async_trait]
impl AuditService for Grpc {
    async fn record(
        &self,
        request: Request<pb::RecordRequest>,
    ) -> Result<Response<pb::RecordResponse>, Status> {
        require_internal(principal_from_request(&request)?, "recording audit events")?;
        let events = request.into_inner().events;
        let count = events.len();
        let events = validate::prepare(events, chrono::Utc::now().timestamp_micros())?;
        let recorded = self.state.writer.record(events).await?;
        tracing::debug!(
            events = count,
            duplicates = recorded.duplicates,
            "audit events recorded"
        );
        Ok(Response::new(pb::RecordResponse {
            seqs: recorded.seqs,
            duplicates: recorded.duplicates,
        }))
    }

    async fn query(
        &self,
        request: Request<pb::QueryRequest>,
    ) -> Result<Response<pb::QueryResponse>, Status> {
        let principal = principal_from_request(&request)?;
        let patient = request
            .get_ref()
            .patient
            .as_ref()
            .map(|p| p.value.trim())
            .filter(|v| !v.is_empty());
        if !may_read_log_of(principal, patient) {
            // The attempt goes into the log it aimed at (the patient sees it); the refusal
            // stands whether or not that record could be written.
            if let Some(event) =
                query::log_read_event(principal, request.get_ref(), Outcome::Denied, 0)
                && let Err(error) = self.record_own(event).await
            {
                tracing::warn!(code = ?error.code, "denied audit-log read not recorded");
            }
            return Err(ServiceError::forbidden("not allowed to read this audit log").into());
        }
        let page = Page::from_request(request.get_ref())?;
        let response = query::page(&self.state.db, &page).await?;
        // A citizen reading their log is itself an event of that log (AUDIT_READ), committed
        // before the page leaves: no record, no page.
        if matches!(principal.kind, PrincipalKind::Citizen { .. }) {
            let count = i64::try_from(response.events.len()).unwrap_or(i64::MAX);
            if let Some(event) =
                query::log_read_event(principal, request.get_ref(), Outcome::Success, count)
            {
                self.record_own(event).await?;
            }
        }
        Ok(Response::new(response))
    }

    async fn verify(
        &self,
        request: Request<pb::VerifyRequest>,
    ) -> Result<Response<pb::VerifyResponse>, Status> {
        require_internal(principal_from_request(&request)?, "verifying the audit log")?;
        let checkpoints = self.state.checkpoints.clone();
        let trusted = tokio::task::spawn_blocking(move || checkpoints.trusted())
            .await
            .map_err(|_| ServiceError::internal("reading the audit checkpoints failed"))?
            .map_err(|error| {
                tracing::warn!(error = %error, "audit checkpoint directory unreadable");
                ServiceError::unavailable("the audit checkpoints cannot be read")
            })?;
        let response = verify::verify(&self.state.db, request.get_ref(), &trusted).await?;
        tracing::info!(
            ok = response.ok,
            checked = response.checked,
            head_seq = response.head_seq,
            "audit chain verified"
        );
        Ok(Response::new(response))
    }

    type FollowStream = EventStream;

    async fn follow(
        &self,
        request: Request<pb::FollowRequest>,
    ) -> Result<Response<Self::FollowStream>, Status> {
        require_internal(principal_from_request(&request)?, "following the audit log")?;
        let events = follow::spawn(
            self.state.db.clone(),
            self.state.head.clone(),
            request.get_ref().from_seq,
        );
        Ok(Response::new(Box::pin(ReceiverStream::new(events))))
    }
}
