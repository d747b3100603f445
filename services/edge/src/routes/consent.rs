//! Blocks, as FHIR `Consent` resources: the citizen blocks a practitioner (HPR number) or an
//! organisation, lists their blocks and revokes them. `consent` decides who may; the edge
//! translates.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pmd_auth::{Principal, PrincipalKind};
use pmd_error::ServiceError;
use pmd_proto::common::v1::Identifier;
use pmd_proto::consent::v1::consent_service_client::ConsentServiceClient;
use pmd_proto::consent::v1::{ListBlocksRequest, RevokeBlockRequest};

use crate::AppState;
use crate::consent_fhir;
use crate::error::ApiError;
use crate::routes::read::base_url;
use crate::routes::write::{FhirBody, fhir_response, parse_json, require_json};

fn consent(state: &AppState) -> ConsentServiceClient<pmd_server::Channel> {
    ConsentServiceClient::new(state.upstreams.consent.channel.clone())
}

/// Block a practitioner or an organisation.
#[utoipa::path(post, path = "/fhir/Consent", tag = "citizen",
    request_body(content = serde_json::Value, content_type = "application/fhir+json",
        description = "A Consent with provision.type deny and one actor identified by HPR number or organisation number"),
    responses(
        (status = 201, description = "Created; the block holds from this answer on, on every replica. Location and the stored Consent"),
        (status = 400, description = "The Consent is not a valid block (OperationOutcome naming the field)"),
        (status = 403, description = "Not the patient's own token"),
        (status = 503, description = "The block could not be confirmed yet; retry (it is never lost)"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    FhirBody(body): FhirBody,
) -> Result<Response, ApiError> {
    require_json(&headers)?;
    let resource = parse_json(&body)?;
    let request = consent_fhir::parse_consent(&resource, &state.ids).map_err(ApiError)?;
    let mut call = tonic::Request::new(request);
    pmd_auth::authorize_outgoing(&mut call, &principal);
    let block = consent(&state).create_block(call).await?.into_inner();
    let location = format!("{}/fhir/Consent/{}", base_url(&state, &headers), block.id);
    Ok(fhir_response(
        StatusCode::CREATED,
        &consent_fhir::render_consent(&block),
        Some(&location),
    ))
}

/// The caller's own blocks (a citizen token's `pid`), newest first.
#[utoipa::path(get, path = "/fhir/Consent", tag = "citizen",
    responses((status = 200, description = "searchset Bundle of Consent (active and revoked)")))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let PrincipalKind::Citizen { pid, .. } = &principal.kind else {
        return Err(ApiError(ServiceError::forbidden(
            "blocks are listed for the citizen's own token",
        )));
    };
    let patient = Identifier {
        system: pmd_domain::NationalId::parse(pid, &state.ids)
            .ok()
            .and_then(|id| id.system_uri())
            .unwrap_or(pmd_domain::ident::oid::FODSELSNUMMER)
            .to_owned(),
        value: pid.clone(),
    };
    let mut call = tonic::Request::new(ListBlocksRequest {
        patient: Some(patient),
        include_revoked: true,
    });
    pmd_auth::authorize_outgoing(&mut call, &principal);
    let blocks = consent(&state).list_blocks(call).await?.into_inner().blocks;
    let bundle = consent_fhir::consent_bundle(&base_url(&state, &headers), &blocks);
    Ok(fhir_response(StatusCode::OK, &bundle, None))
}

/// Revoke a block.
#[utoipa::path(delete, path = "/fhir/Consent/{id}", tag = "citizen",
    params(("id" = String, Path, description = "Consent id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such block of yours"),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut call = tonic::Request::new(RevokeBlockRequest { block_id: id });
    pmd_auth::authorize_outgoing(&mut call, &principal);
    consent(&state).revoke_block(call).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
