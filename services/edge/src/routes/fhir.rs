//! The citizen's access log (*logg over bruk*): `GET /fhir/AuditEvent`.
//!
//! The edge parses the parameters and renders the page; the audit service decides whose log
//! a caller may read (a citizen their own; health personnel and other citizens nobody's:
//! 403) and records the citizen's reading as an `AUDIT_READ` event before it answers.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use pmd_auth::{Principal, PrincipalKind};
use pmd_proto::audit::v1::audit_service_client::AuditServiceClient;

use crate::AppState;
use crate::audit_fhir;
use crate::error::ApiError;
use crate::routes::read::{base_url, header_patient, lenient, pairs};
use crate::routes::write::fhir_response;

fn audit(state: &AppState) -> AuditServiceClient<pmd_server::Channel> {
    AuditServiceClient::new(state.upstreams.audit.channel.clone())
        .max_decoding_message_size(64 * 1024 * 1024)
}

/// The citizen's access log.
#[utoipa::path(get, path = "/fhir/AuditEvent", tag = "citizen",
    params(
        ("patient" = Option<String>, Query, description = "Patient/<id> or the bare id (also patient.identifier=<system>|<id>, or the X-Pmd-Patient header); default for a citizen: their own log"),
        ("date" = Option<String>, Query, description = "When the access happened: a FHIR date with prefix eq, ge, gt, le, lt, sa or eb; repeatable (AND)"),
        ("_count" = Option<u32>, Query, description = "Page size, default 50, at most 1000"),
        ("_sort" = Option<String>, Query, description = "-date (default: newest first) or date"),
        ("_cursor" = Option<String>, Query, description = "Opaque; only in the next link"),
    ),
    responses(
        (status = 200, description = "searchset Bundle of AuditEvent (IHE BALP shape: who, organisation, basis, what, when, outcome), newest first, with a next link when there is more"),
        (status = 400, description = "Bad parameters (OperationOutcome naming each)"),
        (status = 403, description = "Not the citizen's own log: another citizen's, or health personnel (who never read access logs)"),
        (status = 503, description = "The log, or the record of reading it, could not be reached: nothing returned"),
    ))]
pub async fn audit_events(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = pairs(query.as_deref())?;
    let own_pid = match &principal.kind {
        PrincipalKind::Citizen { pid, .. } => Some(pid.as_str()),
        _ => None,
    };
    let search = audit_fhir::parse_audit_search(
        &params,
        header_patient(&headers),
        lenient(&headers),
        &state.ids,
        own_pid,
    )
    .map_err(ApiError)?;
    let mut call = tonic::Request::new(audit_fhir::to_query_request(&search));
    pmd_auth::authorize_outgoing(&mut call, &principal);
    let page = audit(&state).query(call).await?.into_inner();
    let entries = page
        .events
        .iter()
        .map(|event| audit_fhir::render_audit_event(event, &search.patient, &state.orgs))
        .collect();
    let base = base_url(&state, &headers);
    let self_link = audit_fhir::link(&base, &search, search.cursor.as_deref());
    let next = (!page.next_cursor.is_empty())
        .then(|| audit_fhir::link(&base, &search, Some(&page.next_cursor)));
    let bundle = pmd_fhir::searchset(&self_link, next.as_deref(), entries, None);
    Ok(fhir_response(StatusCode::OK, &bundle, None))
}
