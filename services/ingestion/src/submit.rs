//! `Submit`: validate each item, turn it into a measurement, and hand the valid ones to
//! `storage.Append` as the caller (the source's token travels along). Results come back in
//! request order, each naming what went wrong by FHIRPath.

use chrono::Utc;
use pmd_auth::{Principal, Scope};
use pmd_domain::IdPolicy;
use pmd_error::{Issue, ServiceError};
use pmd_proto::common::v1 as common;
use pmd_proto::ingestion::v1::{self as pb, Method};
use pmd_proto::storage::v1::{
    self as storage, MeasurementStatus, WriteMode, WriteOutcome,
    storage_service_client::StorageServiceClient,
};
use pmd_server::Channel;

use crate::validate::{self, ObservationStatus, Validated, ValueOut};

/// Most items in one request (a Bundle of more is refused by the edge with 413).
pub const MAX_ITEMS: usize = 1000;

pub async fn submit(
    storage_client: &StorageServiceClient<Channel>,
    ids: &IdPolicy,
    principal: &Principal,
    request: pb::SubmitRequest,
) -> Result<pb::SubmitResponse, ServiceError> {
    principal
        .require_scope(Scope::Write)
        .map_err(|_| ServiceError::forbidden("submitting measurements needs scope pmd:write"))?;
    if request.items.len() > MAX_ITEMS {
        return Err(ServiceError::new(
            pmd_error::ErrorCode::PayloadTooLarge,
            format!("at most {MAX_ITEMS} items per request"),
        ));
    }
    let all_or_nothing = request.mode == WriteMode::AllOrNothing as i32;
    let now = Utc::now();
    let mut results: Vec<pb::ItemResult> = Vec::with_capacity(request.items.len());
    let mut append = Vec::with_capacity(request.items.len());
    let mut positions = Vec::with_capacity(request.items.len());
    for (index, item) in request.items.into_iter().enumerate() {
        let mut result = pb::ItemResult {
            index: index as i32,
            full_url: item.full_url.clone(),
            ..pb::ItemResult::default()
        };
        match prepare(index, item, request.from_bundle, ids, now) {
            Ok(prepared) => {
                positions.push(index);
                append.push(prepared);
            }
            Err(issues) => {
                result.outcome = WriteOutcome::Rejected as i32;
                result.issues = issues.iter().map(to_pb_issue).collect();
            }
        }
        results.push(result);
    }
    let any_rejected = positions.len() != results.len();
    if all_or_nothing && any_rejected {
        for index in positions {
            results[index].outcome = WriteOutcome::NotAttempted as i32;
        }
        return Ok(pb::SubmitResponse {
            results,
            committed: false,
        });
    }
    if append.is_empty() {
        return Ok(pb::SubmitResponse {
            results,
            committed: !all_or_nothing,
        });
    }
    let measurements: Vec<Option<storage::Measurement>> = if request.return_measurements {
        append.iter().map(|a| a.measurement.clone()).collect()
    } else {
        Vec::new()
    };
    let mut call = tonic::Request::new(storage::AppendRequest {
        mode: request.mode,
        items: append,
    });
    pmd_auth::authorize_outgoing(&mut call, principal);
    let stored = storage_client
        .clone()
        .append(call)
        .await
        .map_err(|status| ServiceError::from_status(&status))?
        .into_inner();
    let mut committed = true;
    for (n, (index, outcome)) in positions.into_iter().zip(stored.results).enumerate() {
        let result = &mut results[index];
        result.outcome = outcome.outcome;
        result.id = outcome.id.clone();
        result.version = outcome.version;
        result.last_updated_unix_micros = outcome.last_updated_unix_micros;
        result.issues = outcome.issues;
        if outcome.outcome == WriteOutcome::NotAttempted as i32
            || outcome.outcome == WriteOutcome::Conflict as i32
            || outcome.outcome == WriteOutcome::Rejected as i32
        {
            committed = !all_or_nothing && committed;
        }
        if let Some(Some(mut measurement)) = measurements.get(n).cloned() {
            measurement.id = outcome.id;
            measurement.version = outcome.version;
            measurement.last_updated_unix_micros = outcome.last_updated_unix_micros;
            result.measurement = Some(measurement);
        }
    }
    Ok(pb::SubmitResponse {
        results,
        committed: committed || !all_or_nothing,
    })
}

/// Check one item and build what storage needs, or every problem found.
fn prepare(
    index: usize,
    item: pb::SubmitItem,
    from_bundle: bool,
    ids: &IdPolicy,
    now: chrono::DateTime<Utc>,
) -> Result<storage::AppendItem, Vec<Issue>> {
    let entry = format!("Bundle.entry[{index}]");
    let path = if from_bundle {
        format!("{entry}.resource")
    } else {
        "Observation".to_owned()
    };
    let mut issues = Vec::new();
    let method = Method::try_from(item.method).unwrap_or(Method::Unspecified);
    let mut put_key = None;
    if from_bundle {
        if item.full_url.trim().is_empty() {
            issues.push(
                Issue::error(
                    "required",
                    "every entry needs a fullUrl (HL7 Norway PmdBundleObservation)",
                )
                .at(format!("{entry}.fullUrl")),
            );
        }
        match method {
            Method::Post => {}
            Method::Put => match pmd_fhir::parse_identifier_query(&item.request_url) {
                Some(identifier) => put_key = Some(identifier),
                None => issues.push(
                    Issue::error(
                        "invalid",
                        "a PUT entry's request.url must be Observation?identifier=<system>|<value>",
                    )
                    .at(format!("{entry}.request.url")),
                ),
            },
            Method::Unspecified => issues.push(
                Issue::error("not-supported", "request.method must be POST or PUT")
                    .at(format!("{entry}.request.method")),
            ),
        }
    } else if method == Method::Put {
        match pmd_fhir::parse_identifier_query(&item.request_url) {
            Some(identifier) => put_key = Some(identifier),
            None => issues.push(Issue::error(
                "invalid",
                "a conditional update needs identifier=<system>|<value>",
            )),
        }
    }
    if item.resource_json.is_empty() {
        let at = if from_bundle {
            format!("{entry}.resource")
        } else {
            path.clone()
        };
        issues.push(Issue::error("required", "the entry holds no resource").at(at));
        return Err(issues);
    }
    let resource: serde_json::Value = match serde_json::from_slice(&item.resource_json) {
        Ok(value) => value,
        Err(e) => {
            issues.push(
                Issue::error(
                    "invalid",
                    format!(
                        "the resource is not valid JSON (line {}, column {})",
                        e.line(),
                        e.column()
                    ),
                )
                .at(path.clone()),
            );
            return Err(issues);
        }
    };
    let ctx = validate::Context {
        ids,
        now,
        path: &path,
    };
    let validated = match validate::validate_observation(&resource, &ctx) {
        Ok(validated) => validated,
        Err(mut problems) => {
            issues.append(&mut problems);
            return Err(issues);
        }
    };
    if !issues.is_empty() {
        return Err(issues);
    }
    let if_none_exist = if item.if_none_exist.trim().is_empty() {
        None
    } else {
        match pmd_fhir::parse_identifier_query(&item.if_none_exist) {
            Some(identifier) => Some(identifier),
            None => {
                return Err(vec![Issue::error(
                    "invalid",
                    "If-None-Exist must be identifier=<system>|<value>",
                )]);
            }
        }
    };
    let key = match (&put_key, &if_none_exist, &validated.identifier) {
        (Some((system, value)), _, _)
        | (None, Some((system, value)), _)
        | (None, None, Some((system, value))) => {
            format!("identifier:{system}|{value}")
        }
        (None, None, None) if !item.full_url.trim().is_empty() => {
            format!("fullurl:{}", item.full_url.trim())
        }
        (None, None, None) => format!("random:{}", uuid::Uuid::new_v4()),
    };
    Ok(storage::AppendItem {
        measurement: Some(measurement(validated, item.resource_json)),
        idempotency_key: key,
        replace: put_key.is_some(),
        if_none_exist: if_none_exist.is_some(),
    })
}

fn measurement(v: Validated, resource_json: Vec<u8>) -> storage::Measurement {
    let patient = common::Identifier {
        system: v
            .patient
            .system_uri()
            .unwrap_or("urn:pmd:h-number")
            .to_owned(),
        value: v.patient.expose_secret().to_owned(),
    };
    let (value, received) = match v.value {
        ValueOut::Quantity {
            canonical,
            received,
        } => (
            Some(storage::measurement::Value::Quantity(quantity(&canonical))),
            Some(quantity(&received)),
        ),
        ValueOut::Integer(n) => (Some(storage::measurement::Value::Integer(n)), None),
        ValueOut::Coded(coding) => (
            Some(storage::measurement::Value::Coded(pb_coding(&coding))),
            None,
        ),
        ValueOut::Panel => (None, None),
    };
    let effective_unix_micros = v.effective.start_utc().timestamp_micros();
    storage::Measurement {
        patient: Some(patient),
        code: v.code.to_owned(),
        codings: v.codings.iter().map(pb_coding).collect(),
        value,
        received_quantity: received,
        components: v
            .components
            .iter()
            .map(|c| storage::Component {
                code: c.code.to_owned(),
                codings: c.codings.iter().map(pb_coding).collect(),
                quantity: Some(quantity(&c.canonical)),
                received_quantity: Some(quantity(&c.received)),
            })
            .collect(),
        effective: v.effective.original().to_owned(),
        effective_unix_micros,
        status: status(v.status) as i32,
        source_identifier: v
            .identifier
            .map(|(system, value)| common::Identifier { system, value }),
        device: v.device.unwrap_or_default(),
        method: v.method.iter().map(pb_coding).collect(),
        body_position: v.body_position.iter().map(pb_coding).collect(),
        resource_json,
        ..storage::Measurement::default()
    }
}

fn quantity(q: &pmd_fhir::Quantity) -> common::Quantity {
    common::Quantity {
        value: q.value,
        unit: q.unit.clone(),
    }
}

fn pb_coding(c: &pmd_fhir::Coding) -> common::Coding {
    common::Coding {
        system: c.system.clone().unwrap_or_default(),
        code: c.code.clone().unwrap_or_default(),
        display: c.display.clone().unwrap_or_default(),
    }
}

fn status(status: ObservationStatus) -> MeasurementStatus {
    match status {
        ObservationStatus::Registered => MeasurementStatus::Registered,
        ObservationStatus::Preliminary => MeasurementStatus::Preliminary,
        ObservationStatus::Final => MeasurementStatus::Final,
        ObservationStatus::Amended => MeasurementStatus::Amended,
        ObservationStatus::Corrected => MeasurementStatus::Corrected,
    }
}

fn to_pb_issue(issue: &Issue) -> common::Issue {
    common::Issue {
        severity: common::Severity::Error as i32,
        code: issue.code.clone(),
        diagnostics: issue.diagnostics.clone(),
        expression: issue.expression.clone().unwrap_or_default(),
    }
}
