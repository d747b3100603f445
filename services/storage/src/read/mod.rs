//! The read path: Query (search), Latest (`$lastn`) and Get, each consent-checked and audited
//! before a row leaves.

pub mod access;
pub mod cursor;
pub mod query;

use pmd_auth::Principal;
use pmd_db::Database;
use pmd_domain::Catalogue;
use pmd_error::ServiceError;
use pmd_proto::audit::v1::{Action, Outcome};
use pmd_proto::common::v1 as common;
use pmd_proto::storage::v1 as pb;

use access::Gate;
use cursor::{CursorKey, CursorState};

/// Default and largest page size.
pub const DEFAULT_PAGE: i32 = 50;
pub const MAX_PAGE: i32 = 1000;

/// Catalogue ids for the requested codings (`None` = all codes; unknown codes match
/// nothing).
fn catalogue_ids(codes: &[common::Coding]) -> Option<Vec<String>> {
    if codes.is_empty() {
        return None;
    }
    let catalogue = Catalogue::standard();
    let mut ids: Vec<String> = codes
        .iter()
        .filter_map(|c| {
            if c.system.is_empty() {
                catalogue.lookup_code(&c.code)
            } else {
                catalogue.lookup(&c.system, &c.code)
            }
        })
        .map(|entry| entry.id().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    Some(ids)
}

fn view(view: i32) -> pb::MeasurementView {
    pb::MeasurementView::try_from(view).unwrap_or(pb::MeasurementView::Unspecified)
}

fn require_patient(
    patient: Option<&common::Identifier>,
) -> Result<&common::Identifier, ServiceError> {
    patient
        .filter(|p| !p.value.is_empty())
        .ok_or_else(|| ServiceError::bad_request("exactly one patient is required"))
}

pub async fn query(
    db: &Database,
    gate: &Gate,
    key: &CursorKey,
    principal: &Principal,
    request: pb::QueryRequest,
) -> Result<pb::QueryResponse, ServiceError> {
    let now = chrono::Utc::now().timestamp_micros();
    let state = if request.cursor.is_empty() {
        let page_size = match request.page_size {
            0 => DEFAULT_PAGE,
            n if n < 0 => return Err(ServiceError::bad_request("page size must be positive")),
            n => n.min(MAX_PAGE),
        };
        CursorState {
            patient: request.patient.clone(),
            codes: request.codes.clone(),
            dates: request.dates.clone(),
            order: request.order,
            page_size,
            after_micros: 0,
            after_id: String::new(),
            issued_micros: now,
        }
    } else {
        let mut state = key.open(&request.cursor, now).ok_or_else(|| {
            ServiceError::bad_request("the paging cursor is invalid or has expired; search again")
        })?;
        if request.page_size > 0 {
            state.page_size = request.page_size.min(MAX_PAGE);
        }
        state
    };
    let patient = require_patient(state.patient.as_ref())?.clone();
    let codes = catalogue_ids(&state.codes);
    let search = query::Search {
        patient: &patient.value,
        codes: codes.as_deref(),
        dates: &state.dates,
        newest_first: query::newest_first(state.order),
        limit: state.page_size.max(1) as usize,
        after: (!state.after_id.is_empty())
            .then_some((state.after_micros, state.after_id.as_str())),
        view: view(request.view),
    };
    // The consent decision and the page are fetched side by side. A refusal answers at
    // once (the page is dropped unread, so its size cannot show in the timing); the page is
    // used only once the reader is admitted, and nothing is counted before that.
    let started = std::time::Instant::now();
    let page = {
        let admit = gate.admit(principal, &patient, Action::Search);
        let fetch = query::search(db, &search);
        tokio::pin!(admit, fetch);
        tokio::select! {
            biased;
            admitted = &mut admit => {
                admitted?;
                fetch.await?
            }
            page = &mut fetch => {
                admit.await?;
                page?
            }
        }
    };
    metrics::histogram!("pmd_storage_read_seconds", "phase" => "decide_and_query")
        .record(started.elapsed().as_secs_f64());
    let total = if request.include_total && request.cursor.is_empty() {
        Some(query::count(db, &search).await?)
    } else {
        None
    };
    let ids: Vec<String> = page.rows.iter().map(|m| m.id.clone()).collect();
    let started = std::time::Instant::now();
    gate.record(
        principal,
        Some(&patient),
        Action::Search,
        Outcome::Success,
        ids,
        "",
    )
    .await?;
    metrics::histogram!("pmd_storage_read_seconds", "phase" => "audit")
        .record(started.elapsed().as_secs_f64());
    let next_cursor = match (page.more, page.rows.last()) {
        (true, Some(last)) => key.seal(&CursorState {
            after_micros: last.effective_unix_micros,
            after_id: last.id.clone(),
            issued_micros: now,
            ..state
        }),
        _ => String::new(),
    };
    Ok(pb::QueryResponse {
        measurements: page.rows,
        next_cursor,
        total,
    })
}

pub async fn latest(
    db: &Database,
    gate: &Gate,
    principal: &Principal,
    request: pb::LatestRequest,
) -> Result<pb::LatestResponse, ServiceError> {
    let patient = require_patient(request.patient.as_ref())?.clone();
    let max = match request.max {
        0 => 1,
        n if n < 0 => return Err(ServiceError::bad_request("max must be positive")),
        n => n.min(MAX_PAGE),
    };
    gate.admit(principal, &patient, Action::Lastn).await?;
    let codes = catalogue_ids(&request.codes).unwrap_or_else(|| {
        Catalogue::standard()
            .entries()
            .iter()
            .map(|e| e.id().to_owned())
            .collect()
    });
    let rows = query::latest(db, &patient.value, &codes, max as usize, view(request.view)).await?;
    let ids: Vec<String> = rows.iter().map(|m| m.id.clone()).collect();
    gate.record(
        principal,
        Some(&patient),
        Action::Lastn,
        Outcome::Success,
        ids,
        "",
    )
    .await?;
    Ok(pb::LatestResponse { measurements: rows })
}

pub async fn get(
    db: &Database,
    gate: &Gate,
    principal: &Principal,
    request: pb::GetRequest,
) -> Result<pb::GetResponse, ServiceError> {
    let Some(measurement) = query::get(db, &request.id).await? else {
        return Err(ServiceError::not_found("no Observation with that id"));
    };
    let patient = measurement.patient.clone().unwrap_or_default();
    gate.admit(principal, &patient, Action::Read).await?;
    gate.record(
        principal,
        Some(&patient),
        Action::Read,
        Outcome::Success,
        vec![measurement.id.clone()],
        "",
    )
    .await?;
    Ok(pb::GetResponse {
        measurement: Some(measurement),
    })
}
