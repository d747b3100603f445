//! Calendar buckets: days, ISO weeks (Monday to Sunday) and months, all in UTC; the date
//! ranges requests name; and the fixed frames suppression is decided in.
//!
//! Pure functions: no I/O, no clock (today is passed in).

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};

/// The bucket size of a usage series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Granularity {
    Day,
    /// ISO 8601 week, Monday to Sunday.
    Week,
    Month,
}

impl Granularity {
    /// The column of the aggregate tables that holds this bucket's first day.
    pub fn column(self) -> &'static str {
        match self {
            Granularity::Day => "day",
            Granularity::Week => "week",
            Granularity::Month => "month",
        }
    }
}

/// A date range, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// Why a range or period in a request is unusable (the message names the parameter).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("{field} must be a date YYYY-MM-DD")]
    BadDate { field: &'static str },
    #[error("from must not be after to")]
    Reversed,
    #[error("the range may span at most {max} days")]
    TooLong { max: i64 },
    #[error("period must be YYYY-MM-DD, YYYY-Www (ISO week), YYYY-MM or YYYY")]
    BadPeriod,
}

/// How many days the default range covers (the last 30 days including today).
pub const DEFAULT_DAYS: u64 = 30;

pub fn format_day(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

pub fn parse_day(text: &str, field: &'static str) -> Result<NaiveDate, RangeError> {
    let text = text.trim();
    if text.len() != 10 {
        return Err(RangeError::BadDate { field });
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| RangeError::BadDate { field })
}

impl DateRange {
    /// The last 30 days including `today`.
    pub fn default_for(today: NaiveDate) -> Self {
        Self {
            from: today - Days::new(DEFAULT_DAYS - 1),
            to: today,
        }
    }

    /// The range a request's `from` and `to` name: both absent = the last 30 days including
    /// today; only `from` = from then to today; only `to` = the 30 days ending then.
    pub fn parse(
        from: &str,
        to: &str,
        today: NaiveDate,
        max_days: i64,
    ) -> Result<Self, RangeError> {
        let from = from.trim();
        let to = to.trim();
        let range = match (from.is_empty(), to.is_empty()) {
            (true, true) => Self::default_for(today),
            (false, true) => Self {
                from: parse_day(from, "from")?,
                to: today,
            },
            (true, false) => Self::default_for(parse_day(to, "to")?),
            (false, false) => Self {
                from: parse_day(from, "from")?,
                to: parse_day(to, "to")?,
            },
        };
        if range.from > range.to {
            return Err(RangeError::Reversed);
        }
        if range.days() > max_days {
            return Err(RangeError::TooLong { max: max_days });
        }
        Ok(range)
    }

    /// A fixed calendar bucket: `YYYY-MM-DD` (a day), `YYYY-Www` (an ISO week), `YYYY-MM`
    /// (a month) or `YYYY` (a year).
    pub fn parse_period(text: &str) -> Result<Self, RangeError> {
        let text = text.trim();
        let number = |s: &str| -> Result<u32, RangeError> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(RangeError::BadPeriod);
            }
            s.parse().map_err(|_| RangeError::BadPeriod)
        };
        let year = |s: &str| -> Result<i32, RangeError> {
            if s.len() != 4 {
                return Err(RangeError::BadPeriod);
            }
            i32::try_from(number(s)?).map_err(|_| RangeError::BadPeriod)
        };
        match text.len() {
            10 => {
                let day = parse_day(text, "period").map_err(|_| RangeError::BadPeriod)?;
                Ok(Self { from: day, to: day })
            }
            8 if text.as_bytes()[4] == b'-' && matches!(text.as_bytes()[5], b'W' | b'w') => {
                let y = year(&text[..4])?;
                let w = number(&text[6..])?;
                let monday =
                    NaiveDate::from_isoywd_opt(y, w, Weekday::Mon).ok_or(RangeError::BadPeriod)?;
                Ok(Self {
                    from: monday,
                    to: monday + Days::new(6),
                })
            }
            7 if text.as_bytes()[4] == b'-' => {
                let y = year(&text[..4])?;
                let m = number(&text[5..])?;
                let first = NaiveDate::from_ymd_opt(y, m, 1).ok_or(RangeError::BadPeriod)?;
                Ok(Self {
                    from: first,
                    to: last_of_month(first),
                })
            }
            4 => {
                let y = year(text)?;
                let first = NaiveDate::from_ymd_opt(y, 1, 1).ok_or(RangeError::BadPeriod)?;
                let last = NaiveDate::from_ymd_opt(y, 12, 31).ok_or(RangeError::BadPeriod)?;
                Ok(Self {
                    from: first,
                    to: last,
                })
            }
            _ => Err(RangeError::BadPeriod),
        }
    }

    /// Number of days in the range.
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// The range widened to whole buckets: from the first day of the bucket holding `from`
    /// to the last day of the bucket holding `to`.
    pub fn widen(&self, granularity: Granularity) -> Self {
        Self {
            from: bucket_start(self.from, granularity),
            to: bucket_end(self.to, granularity),
        }
    }

    /// The range widened to whole suppression frames (see [`frame_of`]).
    pub fn widen_to_frames(&self, granularity: Granularity) -> Self {
        Self {
            from: frame_of(self.from, granularity).from,
            to: frame_of(self.to, granularity).to,
        }
    }
}

fn last_of_month(first: NaiveDate) -> NaiveDate {
    let next = first
        .checked_add_months(Months::new(1))
        .unwrap_or(NaiveDate::MAX);
    next.pred_opt().unwrap_or(first)
}

/// First day of the bucket that holds `day`.
pub fn bucket_start(day: NaiveDate, granularity: Granularity) -> NaiveDate {
    match granularity {
        Granularity::Day => day,
        Granularity::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
        Granularity::Month => day.with_day(1).unwrap_or(day),
    }
}

/// Last day of the bucket that holds `day`.
pub fn bucket_end(day: NaiveDate, granularity: Granularity) -> NaiveDate {
    match granularity {
        Granularity::Day => day,
        Granularity::Week => bucket_start(day, granularity) + Days::new(6),
        Granularity::Month => last_of_month(bucket_start(day, granularity)),
    }
}

/// The first days of every bucket that overlaps `range`, in order.
pub fn buckets(range: DateRange, granularity: Granularity) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut start = bucket_start(range.from, granularity);
    while start <= range.to {
        out.push(start);
        match bucket_end(start, granularity).succ_opt() {
            Some(next) => start = next,
            None => break,
        }
    }
    out
}

/// The fixed frame a bucket's suppression is decided in, whatever range a request names, so
/// that the same cell is shown or hidden the same way in every answer:
/// - a day: its calendar month (whose total the month series publishes);
/// - an ISO week: its ISO week-numbering year (Monday of week 1 to Sunday of the last week);
/// - a month: its calendar year.
pub fn frame_of(day: NaiveDate, granularity: Granularity) -> DateRange {
    match granularity {
        Granularity::Day => {
            let first = bucket_start(day, Granularity::Month);
            DateRange {
                from: first,
                to: last_of_month(first),
            }
        }
        Granularity::Week => {
            let year = day.iso_week().year();
            let first = NaiveDate::from_isoywd_opt(year, 1, Weekday::Mon).unwrap_or(day);
            let last_week =
                NaiveDate::from_ymd_opt(year, 12, 28).map_or(52, |d| d.iso_week().week());
            let last = NaiveDate::from_isoywd_opt(year, last_week, Weekday::Sun).unwrap_or(day);
            DateRange {
                from: first,
                to: last,
            }
        }
        Granularity::Month => DateRange {
            from: NaiveDate::from_ymd_opt(day.year(), 1, 1).unwrap_or(day),
            to: NaiveDate::from_ymd_opt(day.year(), 12, 31).unwrap_or(day),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        parse_day(text, "test").unwrap_or(NaiveDate::MIN)
    }

    #[test]
    fn default_range_is_the_last_30_days_including_today() {
        let range = DateRange::parse("", "", d("2026-03-15"), 1096).ok();
        assert_eq!(
            range,
            Some(DateRange {
                from: d("2026-02-14"),
                to: d("2026-03-15")
            })
        );
        assert_eq!(range.map(|r| r.days()), Some(30));
    }

    #[test]
    fn only_from_runs_to_today_and_only_to_covers_30_days() {
        let today = d("2026-03-15");
        assert_eq!(
            DateRange::parse("2026-03-01", "", today, 1096).ok(),
            Some(DateRange {
                from: d("2026-03-01"),
                to: today
            })
        );
        assert_eq!(
            DateRange::parse("", "2026-01-30", today, 1096).ok(),
            Some(DateRange {
                from: d("2026-01-01"),
                to: d("2026-01-30")
            })
        );
    }

    #[test]
    fn bad_ranges_name_the_problem() {
        let today = d("2026-03-15");
        assert_eq!(
            DateRange::parse("2026-3-1", "", today, 1096),
            Err(RangeError::BadDate { field: "from" })
        );
        assert_eq!(
            DateRange::parse("2026-03-01", "tomorrow", today, 1096),
            Err(RangeError::BadDate { field: "to" })
        );
        assert_eq!(
            DateRange::parse("2026-03-02", "2026-03-01", today, 1096),
            Err(RangeError::Reversed)
        );
        assert_eq!(
            DateRange::parse("2020-01-01", "2026-03-01", today, 366),
            Err(RangeError::TooLong { max: 366 })
        );
    }

    #[test]
    fn iso_weeks_start_on_monday_and_cross_years() {
        // 2026-01-01 is a Thursday: its ISO week (2026-W01) starts Monday 2025-12-29.
        assert_eq!(
            bucket_start(d("2026-01-01"), Granularity::Week),
            d("2025-12-29")
        );
        assert_eq!(
            bucket_end(d("2026-01-01"), Granularity::Week),
            d("2026-01-04")
        );
        // Sunday belongs to the week that started the Monday before.
        assert_eq!(
            bucket_start(d("2026-01-04"), Granularity::Week),
            d("2025-12-29")
        );
        assert_eq!(
            bucket_start(d("2026-01-05"), Granularity::Week),
            d("2026-01-05")
        );
        // 2020 has 53 ISO weeks; 2021-01-03 (Sunday) is in 2020-W53.
        assert_eq!(
            bucket_start(d("2021-01-03"), Granularity::Week),
            d("2020-12-28")
        );
    }

    #[test]
    fn every_day_falls_in_exactly_one_bucket_of_each_size() {
        let mut day = d("2019-12-01");
        while day <= d("2027-02-01") {
            for g in [Granularity::Day, Granularity::Week, Granularity::Month] {
                let start = bucket_start(day, g);
                let end = bucket_end(day, g);
                assert!(start <= day && day <= end, "{day} {g:?}");
                assert_eq!(bucket_start(end, g), start);
                assert_eq!(bucket_end(start, g), end);
                if g == Granularity::Week {
                    assert_eq!(start.weekday(), Weekday::Mon);
                    assert_eq!((end - start).num_days(), 6);
                }
                let frame = frame_of(day, g);
                assert!(frame.from <= start && end <= frame.to, "{day} {g:?}");
                assert_eq!(bucket_start(frame.from, g), frame.from);
                assert_eq!(bucket_end(frame.to, g), frame.to);
            }
            day = day.succ_opt().unwrap_or(NaiveDate::MAX);
        }
    }

    #[test]
    fn buckets_cover_the_range_in_whole_buckets() {
        let range = DateRange {
            from: d("2026-01-01"),
            to: d("2026-01-12"),
        };
        assert_eq!(
            buckets(range, Granularity::Week),
            vec![d("2025-12-29"), d("2026-01-05"), d("2026-01-12")]
        );
        assert_eq!(buckets(range, Granularity::Month), vec![d("2026-01-01")]);
        assert_eq!(buckets(range, Granularity::Day).len(), 12);
        assert_eq!(
            range.widen(Granularity::Week),
            DateRange {
                from: d("2025-12-29"),
                to: d("2026-01-18")
            }
        );
    }

    #[test]
    fn frames_are_month_iso_year_and_year() {
        assert_eq!(
            frame_of(d("2024-02-10"), Granularity::Day),
            DateRange {
                from: d("2024-02-01"),
                to: d("2024-02-29")
            }
        );
        // ISO year 2026 runs from Monday 2025-12-29 to Sunday 2027-01-03 (53 weeks).
        assert_eq!(
            frame_of(d("2026-06-01"), Granularity::Week),
            DateRange {
                from: d("2025-12-29"),
                to: d("2027-01-03")
            }
        );
        assert_eq!(
            frame_of(d("2025-12-30"), Granularity::Week),
            frame_of(d("2026-06-01"), Granularity::Week)
        );
        assert_eq!(
            frame_of(d("2026-06-01"), Granularity::Month),
            DateRange {
                from: d("2026-01-01"),
                to: d("2026-12-31")
            }
        );
    }

    #[test]
    fn periods_are_fixed_buckets() {
        let p = |s| DateRange::parse_period(s);
        assert_eq!(
            p("2026-W01"),
            Ok(DateRange {
                from: d("2025-12-29"),
                to: d("2026-01-04")
            })
        );
        assert_eq!(
            p("2026-02"),
            Ok(DateRange {
                from: d("2026-02-01"),
                to: d("2026-02-28")
            })
        );
        assert_eq!(
            p("2026"),
            Ok(DateRange {
                from: d("2026-01-01"),
                to: d("2026-12-31")
            })
        );
        assert_eq!(
            p("2026-02-03"),
            Ok(DateRange {
                from: d("2026-02-03"),
                to: d("2026-02-03")
            })
        );
        for bad in [
            "",
            "2026-13",
            "2026-W54",
            "2025-W53",
            "26-01",
            "2026-1",
            "x026",
            "2026-02-30",
        ] {
            assert_eq!(p(bad), Err(RangeError::BadPeriod), "{bad}");
        }
        assert!(p("2020-W53").is_ok());
    }
}
