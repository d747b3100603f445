//! The de-identified raw export: one CSV line per audit event of the period, streamed in
//! chunks. Time is truncated to the hour, organisation numbers are kept, the patient is a
//! pseudonym keyed for this export period (links within the export, not across), and no
//! national id, HPR number or name exists in the data it reads from.

use std::fmt::Write as _;

use chrono::{DateTime, Days, NaiveTime, Utc};
use pmd_db::Database;
use tokio::sync::mpsc;

use crate::period::DateRange;
use crate::pseudonym::{ExportKey, Pseudonymizer};
use crate::store::{self, StoredEvent};

/// The CSV header.
pub const HEADER: &str = "hour,action,outcome,actor_kind,org_parent,org_child,org_type,municipality,purpose_of_use,patient,codes,count\n";

/// Rows read and sent per chunk.
const PAGE: u64 = 2000;

/// A field as CSV: quoted when it holds a comma, a quote or a line break.
fn field(out: &mut String, value: &str) {
    if value.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

/// One event as a CSV line.
pub fn line(out: &mut String, event: &StoredEvent, key: &ExportKey) {
    let hour = DateTime::<Utc>::from_timestamp(event.hour, 0)
        .map(|t| t.format("%Y-%m-%dT%H:00:00Z").to_string())
        .unwrap_or_default();
    let patient = event
        .patient
        .as_deref()
        .map(|p| key.pseudonym(p))
        .unwrap_or_default();
    let fields = [
        hour.as_str(),
        &event.action,
        &event.outcome,
        &event.actor_kind,
        &event.org_parent,
        &event.org_child,
        &event.org_type,
        &event.municipality,
        &event.purpose,
        &patient,
    ];
    for value in fields {
        field(out, value);
        out.push(',');
    }
    field(out, &event.codes);
    let _ = writeln!(out, ",{}", event.count);
}

/// The hours `[start, end)` (Unix seconds) of the days of `range` (UTC).
pub fn hours_of(range: DateRange) -> (i64, i64) {
    let start = range.from.and_time(NaiveTime::MIN).and_utc().timestamp();
    let end = (range.to + Days::new(1))
        .and_time(NaiveTime::MIN)
        .and_utc()
        .timestamp();
    (start, end)
}

/// Stream the export of `range` into `tx`, chunk by chunk. Stops when the receiver goes.
pub async fn stream(
    db: Database,
    pseudonyms: Pseudonymizer,
    range: DateRange,
    tx: mpsc::Sender<Result<Vec<u8>, pmd_error::ServiceError>>,
) {
    let key = pseudonyms.export_key(range.from, range.to);
    let (start, end) = hours_of(range);
    if tx.send(Ok(HEADER.as_bytes().to_vec())).await.is_err() {
        return;
    }
    let mut after = None;
    let mut rows = 0u64;
    loop {
        let page = match store::events_page(&db, start, end, after, PAGE).await {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, "export page could not be read");
                let _ = tx
                    .send(Err(pmd_error::ServiceError::unavailable(
                        "the export could not be read to the end; run it again",
                    )))
                    .await;
                return;
            }
        };
        let Some(last) = page.last() else {
            break;
        };
        after = Some((last.hour, last.seq));
        let mut chunk = String::with_capacity(page.len() * 120);
        for event in &page {
            line(&mut chunk, event, &key);
        }
        rows += page.len() as u64;
        if tx.send(Ok(chunk.into_bytes())).await.is_err() {
            return;
        }
        if (page.len() as u64) < PAGE {
            break;
        }
    }
    tracing::info!(rows, "export streamed");
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    #[test]
    fn a_line_has_every_column_and_the_hour_only() {
        let p = Pseudonymizer::new(b"secret-0123456789abcdef0123456789");
        let key = p.export_key(
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default(),
            NaiveDate::from_ymd_opt(2026, 1, 31).unwrap_or_default(),
        );
        let stored = p.patient("13116900216");
        let event = StoredEvent {
            seq: 9,
            hour: 1_767_618_000,
            action: "create".into(),
            outcome: "success".into(),
            actor_kind: "system".into(),
            org_parent: "100101009".into(),
            org_child: String::new(),
            org_type: "municipality".into(),
            municipality: "0301".into(),
            purpose: String::new(),
            patient: Some(stored.to_vec()),
            codes: "8867-4:3|85354-9:2".into(),
            count: 5,
        };
        let mut out = String::new();
        line(&mut out, &event, &key);
        let expected = format!(
            "2026-01-05T13:00:00Z,create,success,system,100101009,,municipality,0301,,{},8867-4:3|85354-9:2,5\n",
            key.pseudonym(&stored)
        );
        assert_eq!(out, expected);
        assert_eq!(
            out.matches(',').count() + 1,
            HEADER.matches(',').count() + 1
        );
    }

    #[test]
    fn fields_with_separators_are_quoted() {
        let mut out = String::new();
        field(&mut out, "a,\"b\"");
        assert_eq!(out, "\"a,\"\"b\"\"\"");
    }

    #[test]
    fn the_export_covers_whole_utc_days() {
        let range = DateRange {
            from: NaiveDate::from_ymd_opt(2026, 1, 5).unwrap_or_default(),
            to: NaiveDate::from_ymd_opt(2026, 1, 5).unwrap_or_default(),
        };
        assert_eq!(hours_of(range), (1_767_571_200, 1_767_657_600));
    }
}
