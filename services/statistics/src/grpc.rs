//! The `StatisticsService` gRPC surface. Every call needs scope `pmd:statistics`; anyone
//! else is refused (PERMISSION_DENIED, 403 at the edge). Exports are recorded in the audit
//! log (action EXPORT) before the first byte leaves.

use std::pin::Pin;

use pmd_auth::{Principal, Scope, principal_from_request};
use pmd_error::{ErrorCode, Issue, ServiceError};
use pmd_proto::audit::v1 as audit;
use pmd_proto::statistics::v1::{self as pb, statistics_service_server::StatisticsService};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::State;
use crate::adoption::{self, Indicator};
use crate::export;
use crate::period::{DateRange, Granularity, RangeError, format_day};
use crate::store::Dim;
use crate::usage;

/// Longest range a usage or adoption request may span (about three years).
pub const MAX_RANGE_DAYS: i64 = 1096;
/// Longest range of a daily usage series, and of one export.
pub const MAX_DAILY_DAYS: i64 = 366;

pub struct Grpc {
    pub(crate) state: State,
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<pb::ExportChunk, Status>> + Send>>;

fn require_statistics(principal: &Principal) -> Result<(), Status> {
    if principal.has_scope(Scope::Statistics) {
        Ok(())
    } else {
        Err(ServiceError::forbidden("statistics need scope pmd:statistics").into())
    }
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

fn range_error(error: RangeError) -> Status {
    let field = match &error {
        RangeError::BadDate { field } => *field,
        RangeError::Reversed | RangeError::TooLong { .. } => "from",
        RangeError::BadPeriod => "period",
    };
    let message = error.to_string();
    ServiceError::with_issues(
        ErrorCode::BadRequest,
        message.clone(),
        vec![Issue::error("value", message).at(field)],
    )
    .into()
}

fn db_error(error: pmd_db::sea_orm::DbErr) -> Status {
    tracing::warn!(%error, "statistics database error");
    ServiceError::unavailable("the statistics database cannot be read right now").into()
}

fn granularity(value: i32) -> Result<Granularity, Status> {
    match pb::Granularity::try_from(value) {
        Ok(pb::Granularity::Unspecified | pb::Granularity::Day) => Ok(Granularity::Day),
        Ok(pb::Granularity::Week) => Ok(Granularity::Week),
        Ok(pb::Granularity::Month) => Ok(Granularity::Month),
        Err(_) => Err(ServiceError::bad_request("granularity must be day, week or month").into()),
    }
}

fn to_pb_granularity(granularity: Granularity) -> pb::Granularity {
    match granularity {
        Granularity::Day => pb::Granularity::Day,
        Granularity::Week => pb::Granularity::Week,
        Granularity::Month => pb::Granularity::Month,
    }
}

fn dims(values: &[i32]) -> Result<Vec<Dim>, Status> {
    let mut out = Vec::new();
    for value in values {
        let dim = match pb::GroupBy::try_from(*value) {
            Ok(pb::GroupBy::OrgType) => Dim::OrgType,
            Ok(pb::GroupBy::Municipality) => Dim::Municipality,
            Ok(pb::GroupBy::Region) => Dim::Region,
            Ok(pb::GroupBy::Code) => Dim::Code,
            Ok(pb::GroupBy::Purpose) => Dim::Purpose,
            Ok(pb::GroupBy::Unspecified) | Err(_) => {
                return Err(ServiceError::bad_request(
                    "group_by must be org_type, municipality, region, code or purpose",
                )
                .into());
            }
        };
        if !out.contains(&dim) {
            out.push(dim);
        }
    }
    Ok(out)
}

fn count(value: Option<i64>) -> pb::Count {
    pb::Count {
        value: Some(match value {
            Some(n) => pb::count::Value::Count(n),
            None => pb::count::Value::Suppressed(true),
        }),
    }
}

fn indicator(i: Indicator) -> pb::Indicator {
    pb::Indicator {
        id: i.id,
        org_type: i.org_type.to_owned(),
        role: i.role.to_owned(),
        numerator: Some(count(i.numerator)),
        denominator: Some(count(i.denominator)),
        share: i.share,
    }
}

#[tonic::async_trait]
impl StatisticsService for Grpc {
    async fn usage(
        &self,
        request: Request<pb::UsageRequest>,
    ) -> Result<Response<pb::UsageResponse>, Status> {
        require_statistics(principal_from_request(&request)?)?;
        let request = request.into_inner();
        let granularity = granularity(request.granularity)?;
        let max = if granularity == Granularity::Day {
            MAX_DAILY_DAYS
        } else {
            MAX_RANGE_DAYS
        };
        let range =
            DateRange::parse(&request.from, &request.to, today(), max).map_err(range_error)?;
        let group_by = dims(&request.group_by)?;
        let answer = usage::usage(&self.state.db, range, granularity, &group_by)
            .await
            .map_err(db_error)?;
        let rows = answer
            .rows
            .into_iter()
            .map(|row| pb::UsageRow {
                period: format_day(row.period),
                metric: row.metric.to_owned(),
                group: row
                    .group
                    .into_iter()
                    .map(|(dim, value)| (dim.column().to_owned(), value))
                    .collect(),
                value: Some(count(row.value)),
            })
            .collect();
        Ok(Response::new(pb::UsageResponse {
            from: format_day(answer.range.from),
            to: format_day(answer.range.to),
            granularity: to_pb_granularity(answer.granularity) as i32,
            rows,
        }))
    }

    async fn adoption(
        &self,
        request: Request<pb::AdoptionRequest>,
    ) -> Result<Response<pb::AdoptionResponse>, Status> {
        require_statistics(principal_from_request(&request)?)?;
        let request = request.into_inner();
        let range = if request.period.trim().is_empty() {
            DateRange::parse(&request.from, &request.to, today(), MAX_RANGE_DAYS)
        } else if request.from.trim().is_empty() && request.to.trim().is_empty() {
            DateRange::parse_period(&request.period)
        } else {
            return Err(
                ServiceError::bad_request("give either period or from/to, not both").into(),
            );
        }
        .map_err(range_error)?;
        let indicators = adoption::adoption(&self.state.db, &self.state.register, range)
            .await
            .map_err(db_error)?;
        Ok(Response::new(pb::AdoptionResponse {
            from: format_day(range.from),
            to: format_day(range.to),
            indicators: indicators.into_iter().map(indicator).collect(),
        }))
    }

    type ExportStream = ChunkStream;

    async fn export(
        &self,
        request: Request<pb::ExportRequest>,
    ) -> Result<Response<Self::ExportStream>, Status> {
        let principal = principal_from_request(&request)?.clone();
        require_statistics(&principal)?;
        let request = request.into_inner();
        let range = DateRange::parse(&request.from, &request.to, today(), MAX_DAILY_DAYS)
            .map_err(range_error)?;
        // Recorded before the first byte leaves; if the audit log cannot be written, nothing
        // is exported.
        let event = audit::AuditEvent {
            event_id: uuid::Uuid::new_v4().to_string(),
            time_unix_micros: chrono::Utc::now().timestamp_micros(),
            action: audit::Action::Export as i32,
            outcome: audit::Outcome::Success as i32,
            actor: Some(pmd_server::actor(&principal)),
            entities: vec![audit::Entity {
                resource_type: "StatisticsExport".into(),
                ..audit::Entity::default()
            }],
            trace_id: pmd_telemetry::current_trace_id().unwrap_or_default(),
            detail: format!(
                "de-identified export {}..{}",
                format_day(range.from),
                format_day(range.to)
            ),
            ..audit::AuditEvent::default()
        };
        let record = self.state.credentials.request(audit::RecordRequest {
            events: vec![event],
        })?;
        self.state
            .audit
            .clone()
            .record(record)
            .await
            .map_err(|status| {
                tracing::warn!(code = ?status.code(), "export could not be audited; nothing exported");
                Status::from(ServiceError::unavailable(
                    "the export could not be recorded in the audit log, so nothing is exported",
                ))
            })?;
        tracing::info!(
            from = %format_day(range.from),
            to = %format_day(range.to),
            "statistics export started"
        );
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(export::stream(
            self.state.db.clone(),
            (*self.state.pseudonyms).clone(),
            range,
            tx,
        ));
        let chunks = tokio_stream::StreamExt::map(ReceiverStream::new(rx), |chunk| {
            chunk
                .map(|csv| pb::ExportChunk { csv })
                .map_err(Status::from)
        });
        Ok(Response::new(Box::pin(chunks)))
    }
}
