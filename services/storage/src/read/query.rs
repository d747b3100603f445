//! The SQL behind Query, Latest and Get, for both engines. Search is keyset-paged on
//! (effective time, id), so a page boundary never moves when new rows arrive, and it is
//! served by the index on (patient, code, effective time).

use chrono::{DateTime, Utc};
use pmd_db::sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};
use pmd_db::{Backend, Database};
use pmd_error::ServiceError;
use pmd_proto::common::v1::SortOrder;
use pmd_proto::storage::v1::{self as pb, DatePrefix, MeasurementView};
use prost::Message;

use crate::append::unavailable;

/// One page of a search.
pub struct Page {
    pub rows: Vec<pb::Measurement>,
    /// More rows follow.
    pub more: bool,
}

/// A search, already resolved to catalogue ids.
pub struct Search<'a> {
    pub patient: &'a str,
    /// Catalogue ids; `None` = every code.
    pub codes: Option<&'a [String]>,
    pub dates: &'a [pb::DateFilter],
    pub newest_first: bool,
    pub limit: usize,
    /// Continue after this (effective µs, id).
    pub after: Option<(i64, &'a str)>,
    pub view: MeasurementView,
}

struct Sql {
    backend: Backend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    fn new(backend: Backend) -> Self {
        Self {
            backend,
            text: String::new(),
            values: Vec::new(),
        }
    }

    /// Append a placeholder for `value`.
    fn bind(&mut self, value: Value) -> String {
        self.values.push(value);
        match self.backend {
            Backend::Postgres => format!("${}", self.values.len()),
            Backend::Sqlite => "?".to_owned(),
        }
    }

    fn time(&mut self, micros: i64) -> String {
        match self.backend {
            Backend::Postgres => {
                let t = DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or_default();
                self.bind(t.into())
            }
            Backend::Sqlite => self.bind(micros.into()),
        }
    }

    fn statement(self) -> Statement {
        let backend = match self.backend {
            Backend::Postgres => DbBackend::Postgres,
            Backend::Sqlite => DbBackend::Sqlite,
        };
        Statement::from_sql_and_values(backend, self.text, self.values)
    }
}

/// The WHERE clause shared by search and count.
fn filters(sql: &mut Sql, search: &Search) -> String {
    let mut clauses = Vec::new();
    let patient = sql.bind(search.patient.into());
    clauses.push(format!("patient_id = {patient}"));
    if let Some(codes) = search.codes {
        if codes.is_empty() {
            clauses.push("1 = 0".to_owned());
        } else {
            let marks: Vec<String> = codes.iter().map(|c| sql.bind(c.clone().into())).collect();
            clauses.push(format!("code IN ({})", marks.join(", ")));
        }
    }
    for filter in search.dates {
        let range = filter.range.unwrap_or_default();
        let start = range.start_unix_micros.unwrap_or(i64::MIN / 2);
        let end = range.end_unix_micros.unwrap_or(i64::MAX / 2);
        let prefix = DatePrefix::try_from(filter.prefix).unwrap_or(DatePrefix::Eq);
        let clause = match prefix {
            DatePrefix::Gt | DatePrefix::Sa => format!("effective_at >= {}", sql.time(end)),
            DatePrefix::Lt | DatePrefix::Eb => format!("effective_at < {}", sql.time(start)),
            DatePrefix::Ge => format!("effective_at >= {}", sql.time(start)),
            DatePrefix::Le => format!("effective_at < {}", sql.time(end)),
            DatePrefix::Ne => {
                let s = sql.time(start);
                let e = sql.time(end);
                format!("(effective_at < {s} OR effective_at >= {e})")
            }
            DatePrefix::Eq | DatePrefix::Ap | DatePrefix::Unspecified => {
                let s = sql.time(start);
                let e = sql.time(end);
                format!("effective_at >= {s} AND effective_at < {e}")
            }
        };
        clauses.push(clause);
    }
    clauses.join(" AND ")
}

/// One page of measurements.
pub async fn search(db: &Database, search: &Search<'_>) -> Result<Page, ServiceError> {
    let mut sql = Sql::new(db.backend());
    let mut clause = filters(&mut sql, search);
    let (cmp, order) = if search.newest_first {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some((micros, id)) = search.after {
        let t = sql.time(micros);
        let i = sql.bind(id.into());
        let id_cast = if db.backend() == Backend::Postgres {
            format!("{i}::uuid")
        } else {
            i
        };
        clause.push_str(&format!(" AND (effective_at, id) {cmp} ({t}, {id_cast})"));
    }
    let limit = sql.bind(((search.limit + 1) as i64).into());
    let columns = columns(db.backend(), search.view);
    sql.text = format!(
        "SELECT {columns} FROM measurements WHERE {clause} ORDER BY effective_at {order}, id {order} LIMIT {limit}"
    );
    let rows = db
        .conn()
        .query_all_raw(sql.statement())
        .await
        .map_err(unavailable)?;
    let mut measurements = decode(db.backend(), &rows)?;
    let more = measurements.len() > search.limit;
    measurements.truncate(search.limit);
    Ok(Page {
        rows: measurements,
        more,
    })
}

/// How many measurements the search matches in all.
pub async fn count(db: &Database, search: &Search<'_>) -> Result<i64, ServiceError> {
    let mut sql = Sql::new(db.backend());
    let clause = filters(&mut sql, search);
    sql.text = format!("SELECT count(*) FROM measurements WHERE {clause}");
    let row = db
        .conn()
        .query_one_raw(sql.statement())
        .await
        .map_err(unavailable)?;
    Ok(row
        .and_then(|r| r.try_get_by_index::<i64>(0).ok())
        .unwrap_or_default())
}

/// The latest `max` measurements per code, newest first within each code.
pub async fn latest(
    db: &Database,
    patient: &str,
    codes: &[String],
    max: usize,
    view: MeasurementView,
) -> Result<Vec<pb::Measurement>, ServiceError> {
    if codes.is_empty() {
        return Ok(Vec::new());
    }
    let columns = columns(db.backend(), view);
    let rows = match db.backend() {
        Backend::Postgres => db
            .conn()
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!(
                    "SELECT m.* FROM UNNEST($2::text[]) AS c(code)
                     CROSS JOIN LATERAL (
                         SELECT {columns} FROM measurements
                         WHERE patient_id = $1 AND code = c.code
                         ORDER BY effective_at DESC, id DESC LIMIT $3
                     ) AS m"
                ),
                [
                    patient.into(),
                    Value::from(codes.to_vec()),
                    (max as i64).into(),
                ],
            ))
            .await
            .map_err(unavailable)?,
        Backend::Sqlite => {
            let mut rows = Vec::new();
            for code in codes {
                rows.extend(
                    db.conn()
                        .query_all_raw(Statement::from_sql_and_values(
                            DbBackend::Sqlite,
                            format!(
                                "SELECT {columns} FROM measurements WHERE patient_id = ? AND code = ?
                                 ORDER BY effective_at DESC, id DESC LIMIT ?"
                            ),
                            [patient.into(), code.clone().into(), (max as i64).into()],
                        ))
                        .await
                        .map_err(unavailable)?,
                );
            }
            rows
        }
    };
    decode(db.backend(), &rows)
}

/// One measurement by id, every field.
pub async fn get(db: &Database, id: &str) -> Result<Option<pb::Measurement>, ServiceError> {
    let columns = columns(db.backend(), MeasurementView::Unspecified);
    let statement = match db.backend() {
        Backend::Postgres => {
            let Ok(uuid) = uuid::Uuid::parse_str(id) else {
                return Ok(None);
            };
            Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!("SELECT {columns} FROM measurements WHERE id = $1"),
                [uuid.into()],
            )
        }
        Backend::Sqlite => Statement::from_sql_and_values(
            DbBackend::Sqlite,
            format!("SELECT {columns} FROM measurements WHERE id = ?"),
            [id.into()],
        ),
    };
    let rows = db
        .conn()
        .query_all_raw(statement)
        .await
        .map_err(unavailable)?;
    Ok(decode(db.backend(), &rows)?.into_iter().next())
}

/// The columns [`decode`] reads: id, effective time, the stored rendering, and the stored
/// message (always for the full view; for the FHIR view only where no rendering is stored,
/// i.e. rows written before renderings were kept). PostgreSQL's text id is named apart
/// from `id` so that `ORDER BY id` still means the indexed uuid column.
fn columns(backend: Backend, view: MeasurementView) -> &'static str {
    match (backend, view) {
        (Backend::Postgres, MeasurementView::Fhir) => {
            "id::text AS measurement_id, effective_at, fhir, CASE WHEN fhir IS NULL THEN body END AS body"
        }
        (Backend::Postgres, _) => "id::text AS measurement_id, effective_at, fhir, body",
        (Backend::Sqlite, MeasurementView::Fhir) => {
            "id, effective_at, fhir, CASE WHEN fhir IS NULL THEN body END AS body"
        }
        (Backend::Sqlite, _) => "id, effective_at, fhir, body",
    }
}

/// Rows of [`columns`] as measurements: the full message when the body was read, with
/// `fhir_json` always set (rendered here for a row stored without it).
fn decode(backend: Backend, rows: &[QueryResult]) -> Result<Vec<pb::Measurement>, ServiceError> {
    rows.iter()
        .map(|row| {
            let fhir: Option<Vec<u8>> = row.try_get_by_index(2).map_err(unavailable)?;
            let body: Option<Vec<u8>> = row.try_get_by_index(3).map_err(unavailable)?;
            let mut measurement = match body {
                Some(body) => pb::Measurement::decode(body.as_slice()).map_err(|_| {
                    ServiceError::internal("a stored measurement could not be decoded")
                })?,
                None => pb::Measurement {
                    id: row.try_get_by_index(0).map_err(unavailable)?,
                    effective_unix_micros: match backend {
                        Backend::Postgres => row
                            .try_get_by_index::<DateTime<Utc>>(1)
                            .map_err(unavailable)?
                            .timestamp_micros(),
                        Backend::Sqlite => row.try_get_by_index(1).map_err(unavailable)?,
                    },
                    ..pb::Measurement::default()
                },
            };
            measurement.fhir_json = match fhir {
                Some(fhir) => fhir,
                None => pmd_fhir::observation_json(&measurement),
            };
            Ok(measurement)
        })
        .collect()
}

/// Whether `order` asks for newest first (the default).
pub fn newest_first(order: i32) -> bool {
    SortOrder::try_from(order).unwrap_or(SortOrder::Unspecified) != SortOrder::OldestFirst
}
