//! Monthly partitions of `measurements` on PostgreSQL. At start and then daily, storage makes
//! sure a partition exists for every month from three years back to three months ahead;
//! anything older lands in the default partition. Creating a month whose rows already sit in
//! the default partition is refused by PostgreSQL: that month is then left in the default
//! partition and logged.

use chrono::{Datelike, NaiveDate, Utc};
use pmd_db::sea_orm::ConnectionTrait;
use pmd_db::{Backend, Database};

const MONTHS_BACK: i32 = 36;
const MONTHS_AHEAD: i32 = 3;

/// Ensure the partitions around today exist. Returns how many were created.
pub async fn ensure(db: &Database) -> usize {
    if db.backend() != Backend::Postgres {
        return 0;
    }
    let today = Utc::now().date_naive();
    let mut created = 0;
    for offset in -MONTHS_BACK..=MONTHS_AHEAD {
        let Some(start) = month_start(today, offset) else {
            continue;
        };
        let Some(end) = month_start(today, offset + 1) else {
            continue;
        };
        let name = format!("measurements_{:04}_{:02}", start.year(), start.month());
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {name} PARTITION OF measurements FOR VALUES FROM ('{start}') TO ('{end}')"
        );
        let exists = db
            .conn()
            .query_one_raw(pmd_db::sea_orm::Statement::from_string(
                db.db_backend(),
                format!("SELECT 1 FROM pg_class WHERE relname = '{name}' AND relnamespace = '{}'::regnamespace", db.schema()),
            ))
            .await;
        if matches!(exists, Ok(Some(_))) {
            continue;
        }
        match db.conn().execute_unprepared(&sql).await {
            Ok(_) => created += 1,
            Err(e) => {
                tracing::warn!(partition = %name, error = %e, "partition not created; its rows stay in the default partition")
            }
        }
    }
    if created > 0 {
        tracing::info!(created, "measurement partitions created");
    }
    created
}

fn month_start(today: NaiveDate, offset: i32) -> Option<NaiveDate> {
    let months = today.year() * 12 + today.month0() as i32 + offset;
    NaiveDate::from_ymd_opt(months.div_euclid(12), (months.rem_euclid(12) + 1) as u32, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_arithmetic_crosses_years() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap_or_default();
        assert_eq!(month_start(d, 0), NaiveDate::from_ymd_opt(2026, 11, 1));
        assert_eq!(month_start(d, 2), NaiveDate::from_ymd_opt(2027, 1, 1));
        assert_eq!(month_start(d, -11), NaiveDate::from_ymd_opt(2025, 12, 1));
        assert_eq!(month_start(d, -36), NaiveDate::from_ymd_opt(2023, 11, 1));
    }
}
